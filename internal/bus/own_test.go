package bus

import "testing"

func TestNextStreamID(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"5-0", "5-1"}, {"5-18446744073709551615", "6-0"}, {"x", "x"}, {"5-x", "5-x"},
	} {
		if got := NextStreamID(tc.in); got != tc.want {
			t.Errorf("NextStreamID(%s) = %s, want %s", tc.in, got, tc.want)
		}
	}
}
