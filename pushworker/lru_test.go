package pushworker

import (
	"strconv"
	"testing"
)

func TestLRUBounded(t *testing.T) {
	c := newLRU[int](3)
	for i := range 10 {
		c.put(strconv.Itoa(i), i)
		if i == 7 {
			// Touching 6 keeps it through the next eviction.
			if v, ok := c.get("6"); !ok || v != 6 {
				t.Fatalf("get 6 = %d %v", v, ok)
			}
		}
	}
	if c.len() != 3 {
		t.Fatalf("len %d, want 3", c.len())
	}
	for _, tc := range []struct {
		key string
		ok  bool
	}{{"9", true}, {"8", true}, {"6", true}, {"7", false}, {"0", false}} {
		if _, ok := c.get(tc.key); ok != tc.ok {
			t.Errorf("get %s: %v, want %v", tc.key, ok, tc.ok)
		}
	}
	c.put("9", 90) // an update, not a new entry
	if v, _ := c.get("9"); v != 90 || c.len() != 3 {
		t.Fatalf("update: %d, len %d", v, c.len())
	}
}
