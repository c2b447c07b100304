package bus

import (
	"hash/fnv"
	"strconv"
	"testing"
)

func TestPushPartition(t *testing.T) {
	for _, tc := range []struct {
		app  string
		user int64
		n    int
	}{{"a", 1, 8}, {"demo", 123456789, 8}, {"x_y-z", -5, 1}, {"app", 0, 1024}} {
		h := fnv.New32a()
		h.Write([]byte(tc.app))
		h.Write([]byte{0})
		h.Write([]byte(strconv.FormatInt(tc.user, 10)))
		want := int(h.Sum32() % uint32(tc.n))
		if got := PushPartition(tc.app, tc.user, tc.n); got != want {
			t.Errorf("PushPartition(%q, %d, %d) = %d, want %d", tc.app, tc.user, tc.n, got, want)
		}
	}
}
