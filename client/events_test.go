package client

import (
	"testing"

	"github.com/chatgate/chatgate/protocol"
)

func TestEventHelpers(t *testing.T) {
	tests := []struct {
		m            *protocol.Message
		recall, read protocol.ID
	}{
		{&protocol.Message{Type: "text"}, 0, 0},
		{&protocol.Message{Type: protocol.EventRecall, Ref: 5}, 5, 0},
		{&protocol.Message{Type: protocol.EventRead, Ref: 7}, 0, 7},
		{nil, 0, 0},
	}
	for _, tt := range tests {
		r, isRecall := Recall(tt.m)
		d, isRead := ReadReceipt(tt.m)
		if r != tt.recall || isRecall != (tt.recall != 0) || d != tt.read || isRead != (tt.read != 0) {
			t.Errorf("%+v: recall %v %v, read %v %v", tt.m, r, isRecall, d, isRead)
		}
	}
}
