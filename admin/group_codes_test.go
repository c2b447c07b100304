package admin

import (
	"testing"

	"github.com/chatgate/chatgate/domain/group"
)

// TestGroupCodesComplete: every refusal of the domain has a Lanying code.
func TestGroupCodesComplete(t *testing.T) {
	for k := group.ErrBadInput; k <= group.ErrQRCodeExpired; k++ {
		if _, ok := groupCodes[k]; !ok {
			t.Errorf("group.Kind %d has no code", k)
		}
	}
}
