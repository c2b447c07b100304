package admin

import (
	"strings"
	"testing"
)

func TestCheckUTF8(t *testing.T) {
	bad := "\xff\xfe"
	tests := []struct {
		body  string
		field string // "" = accepted
	}{
		{`{"nick_name": "ok é"}`, ""},
		{`{"nick_name": "` + bad + `"}`, "nick_name"},
		{`{"a": 1, "b": [1, {"c": "x"}], "d": "` + bad + `"}`, "d"},
		{`{"list": [{"username": "a"}, {"username": "` + bad + `"}]}`, "list.1.username"},
		{`{"` + bad + `": "x"}`, "body"},
		{`["x", "` + bad + `"]`, "1"},
		{`{"a": "x"}` + bad, "body"},
		{`{"a": ` + bad + `}`, "body"},
	}
	for _, tt := range tests {
		err := checkUTF8([]byte(tt.body))
		if tt.field == "" {
			if err != nil {
				t.Errorf("%q refused: %v", tt.body, err)
			}
			continue
		}
		e, ok := asError(err)
		if !ok || e.Code != CodeBadParam || !strings.Contains(e.Msg, tt.field) {
			t.Errorf("%q: %v, want 10002 naming %s", tt.body, err, tt.field)
		}
	}
}
