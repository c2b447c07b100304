package admin

import (
	"encoding/json"
	"reflect"
	"testing"
)

type idBody struct {
	User    int64    `json:"user_id"`
	Conv    *int64   `json:"conversation_id"`
	Targets []int64  `json:"targets"`
	Dev     int32    `json:"device_sn"`
	Name    string   `json:"name"`
	Inner   *idInner `json:"inner"`
}

type idInner struct {
	Msgs [2]int64 `json:"msg_ids"`
}

func TestIDStringsToNumbers(t *testing.T) {
	typ := reflect.TypeOf(idBody{})
	tests := []struct {
		name, in, want string
		ok             bool
	}{
		{"id fields", `{"user_id":"42","conversation_id":"9223372036854775807","name":"7"}`,
			`{"conversation_id":9223372036854775807,"name":"7","user_id":42}`, true},
		{"list and nested", `{"targets":["1",2,"3"],"inner":{"msg_ids":["265191234567340032","0"]}}`,
			`{"inner":{"msg_ids":[265191234567340032,0]},"targets":[1,2,3]}`, true},
		{"case-insensitive member like encoding/json", `{"USER_ID":"5"}`, `{"USER_ID":5}`, true},
		{"negative", `{"user_id":"-3"}`, `{"user_id":-3}`, true},
		{"int32 stays a string", `{"device_sn":"1"}`, ``, false},
		{"leading zero", `{"user_id":"007"}`, ``, false},
		{"sign", `{"user_id":"+7"}`, ``, false},
		{"exponent", `{"user_id":"1e3"}`, ``, false},
		{"empty", `{"user_id":""}`, ``, false},
		{"too many digits", `{"user_id":"12345678901234567890"}`, ``, false},
		{"not an object", `["1"]`, ``, false},
		{"not JSON", `{"user_id":`, ``, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, ok := idStringsToNumbers([]byte(tt.in), typ)
			if ok != tt.ok || (ok && string(out) != tt.want) {
				t.Fatalf("idStringsToNumbers(%s) = %s, %v; want %s, %v", tt.in, out, ok, tt.want, tt.ok)
			}
			if ok {
				var b idBody
				if err := json.Unmarshal(out, &b); err != nil {
					t.Fatalf("rewritten body does not decode: %v", err)
				}
			}
		})
	}
}

// FuzzIDStringsToNumbers: the rewrite never panics, and whatever it
// returns is JSON that still decodes (or fails only on range) into the
// body type.
func FuzzIDStringsToNumbers(f *testing.F) {
	for _, s := range []string{`{"user_id":"42"}`, `{"targets":["1","x",3]}`, `{"inner":{"msg_ids":["1","2","3"]}}`,
		`{"conversation_id":null}`, `{"user_id":"99999999999999999999"}`, `[]`, `"1"`, `{"inner":[]}`} {
		f.Add([]byte(s))
	}
	typ := reflect.TypeOf(idBody{})
	f.Fuzz(func(t *testing.T, data []byte) {
		out, ok := idStringsToNumbers(data, typ)
		if ok && !json.Valid(out) {
			t.Fatalf("rewrite of %q is not JSON: %q", data, out)
		}
	})
}
