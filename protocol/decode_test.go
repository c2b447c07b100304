package protocol

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"
)

const validToken = "eyJhbGciOiJIUzI1NiJ9.eyJhcHAiOiJkZW1vIn0.c2ln"

func TestDecodeValid(t *testing.T) {
	lim := DefaultLimits()
	tru, fls := true, false
	tests := []struct {
		name string
		in   string
		want Frame
	}{
		{"auth minimal", `{"t":"auth","rid":1,"token":"` + validToken + `","app_id":"demo","device_sn":1,"platform":5}`,
			Frame{T: TypeAuth, Rid: 1, Token: validToken, AppID: "demo", DeviceSN: 1, Platform: PlatformLinux}},
		{"auth full", `{"t":"auth","rid":4294967295,"token":"x","app_id":"A_b-9","device_sn":2147483647,"platform":1,"push_token":"apns","notifier":"prod"}`,
			Frame{T: TypeAuth, Rid: 4294967295, Token: "x", AppID: "A_b-9", DeviceSN: 2147483647, Platform: PlatformIOS, PushToken: "apns", Notifier: "prod"}},
		{"auth web", `{"t":"auth","token":"x","app_id":"demo","device_sn":3,"platform":6}`,
			Frame{T: TypeAuth, Token: "x", AppID: "demo", DeviceSN: 3, Platform: PlatformWeb}},
		{"send to user", `{"t":"send","rid":7,"cmid":"c-1","to_user":42,"type":"text","content":"hi"}`,
			Frame{T: TypeSend, Rid: 7, CMID: "c-1", ToUser: 42, Type: "text", Content: "hi"}},
		{"send to group with ext and from", `{"t":"send","rid":8,"cmid":"c-2","from":7,"to_group":500,"type":"image","content":"{\"u\":1}","ext":"e"}`,
			Frame{T: TypeSend, Rid: 8, CMID: "c-2", From: 7, ToGroup: 500, Type: "image", Content: `{"u":1}`, Ext: "e"}},
		{"send command without content", `{"t":"send","cmid":"c","to_user":1,"type":"command"}`,
			Frame{T: TypeSend, CMID: "c", ToUser: 1, Type: "command"}},
		{"send max int64 recipient", `{"t":"send","cmid":"c","to_user":9223372036854775807,"type":"text","content":"x"}`,
			Frame{T: TypeSend, CMID: "c", ToUser: 9223372036854775807, Type: "text", Content: "x"}},
		{"send unicode content", `{"t":"send","cmid":"日本","to_user":1,"type":"custom","content":"h\u00e9llo 👋","ext":""}`,
			Frame{T: TypeSend, CMID: "日本", ToUser: 1, Type: "custom", Content: "héllo 👋"}},
		{"send max cmid", `{"t":"send","cmid":"` + strings.Repeat("c", 64) + `","to_user":1,"type":"text","content":"x"}`,
			Frame{T: TypeSend, CMID: strings.Repeat("c", 64), ToUser: 1, Type: "text", Content: "x"}},
		{"send null ext", `{"t":"send","cmid":"c","to_user":1,"type":"text","content":"x","ext":null}`,
			Frame{T: TypeSend, CMID: "c", ToUser: 1, Type: "text", Content: "x"}},
		{"dack id string", `{"t":"dack","id":"265191234567340032"}`,
			Frame{T: TypeDAck, ID: 265191234567340032}},
		{"dack id number", `{"t":"dack","id":265191234567340032}`,
			Frame{T: TypeDAck, ID: 265191234567340032}},
		{"dack max id", `{"t":"dack","id":"9223372036854775807"}`,
			Frame{T: TypeDAck, ID: 9223372036854775807}},
		{"sync empty", `{"t":"sync","rid":9}`, Frame{T: TypeSync, Rid: 9}},
		{"sync after zero string", `{"t":"sync","rid":9,"after":"0","limit":200}`, Frame{T: TypeSync, Rid: 9, Limit: 200}},
		{"sync after empty string", `{"t":"sync","after":""}`, Frame{T: TypeSync}},
		{"sync after null", `{"t":"sync","after":null,"limit":1}`, Frame{T: TypeSync, Limit: 1}},
		{"sync after number", `{"t":"sync","after":12,"limit":0}`, Frame{T: TypeSync, After: 12}},
		{"state bg", `{"t":"state","bg":true}`, Frame{T: TypeState, BG: &tru}},
		{"state fg", `{"t":"state","bg":false}`, Frame{T: TypeState, BG: &fls}},
		{"ping", `{"t":"ping","rid":12}`, Frame{T: TypePing, Rid: 12}},
		{"ping no rid", `{"t":"ping"}`, Frame{T: TypePing}},
		{"ping rid null", `{"t":"ping","rid":null}`, Frame{T: TypePing}},
		{"surrounding whitespace", " \r\n\t{\"t\":\"ping\",\"rid\":1}\n ", Frame{T: TypePing, Rid: 1}},
		{"unknown members ignored", `{"t":"ping","rid":2,"future":{"a":[1,2]},"x":null}`, Frame{T: TypePing, Rid: 2}},
		{"member order free", `{"rid":3,"bg":false,"t":"state"}`, Frame{T: TypeState, Rid: 3, BG: &fls}},
		{"state without bg is foreground", `{"t":"state","rid":7}`, Frame{T: TypeState, Rid: 7}},
		{"state null bg", `{"t":"state","bg":null}`, Frame{T: TypeState}},
		{"case variant of a member is ignored", `{"T":"sync","t":"ping","rid":15,"Rid":"q"}`, Frame{T: TypePing, Rid: 15}},
		{"RID is not rid", `{"t":"ping","RID":19}`, Frame{T: TypePing}},
		{"long-s variant ignored", "{\"t\":\"ping\",\"m\u017fgs\":1,\"rid\":2}", Frame{T: TypePing, Rid: 2}},
		{"case variants are distinct members", `{"t":"ping","Rid":1,"RID":2}`, Frame{T: TypePing}},
		{"escaped member name", `{"\u0074":"ping","rid":4}`, Frame{T: TypePing, Rid: 4}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := Decode([]byte(tt.in), lim)
			if err != nil {
				t.Fatalf("Decode(%s) = %v, want success", tt.in, err)
			}
			if !sameClientFields(f, &tt.want) {
				t.Fatalf("Decode(%s)\n got %+v\nwant %+v", tt.in, *f, tt.want)
			}
			if err := f.Validate(lim); err != nil {
				t.Fatalf("Validate after Decode = %v", err)
			}
		})
	}
}

func TestDecodeRejects(t *testing.T) {
	lim := DefaultLimits()
	send := func(extra string) string {
		return `{"t":"send","rid":5,"cmid":"c-1","type":"text","content":"hi"` + extra + `}`
	}
	tests := []struct {
		name    string
		in      string
		code    Code
		rid     uint32 // the rid the error must carry (frame returned)
		noFrame bool   // Decode returns no frame at all
	}{
		// 4000: not one JSON object.
		{"empty", ``, CodeBadFrame, 0, true},
		{"whitespace", "  \n", CodeBadFrame, 0, true},
		{"malformed JSON", `{"t":"ping",`, CodeBadFrame, 0, true},
		{"unquoted key", `{t:"ping"}`, CodeBadFrame, 0, true},
		{"single quotes", `{'t':'ping'}`, CodeBadFrame, 0, true},
		{"trailing comma", `{"t":"ping",}`, CodeBadFrame, 0, true},
		{"array", `[{"t":"ping"}]`, CodeBadFrame, 0, true},
		{"string", `"ping"`, CodeBadFrame, 0, true},
		{"number", `42`, CodeBadFrame, 0, true},
		{"null", `null`, CodeBadFrame, 0, true},
		{"true", `true`, CodeBadFrame, 0, true},
		{"trailing object", `{"t":"ping"}{"t":"ping"}`, CodeBadFrame, 0, true},
		{"trailing garbage", `{"t":"ping"} x`, CodeBadFrame, 0, true},
		{"trailing bracket", `{"t":"ping"}]`, CodeBadFrame, 0, true},
		{"trailing brace", `{"t":"ping"}}`, CodeBadFrame, 0, true},
		{"trailing comma after object", `{"t":"ping"},`, CodeBadFrame, 0, true},
		{"repeated member", `{"t":"ping","rid":1,"rid":2}`, CodeBadFrame, 0, true},
		{"repeated t", `{"t":"ping","t":"sync"}`, CodeBadFrame, 0, true},
		{"repeated unknown member", `{"t":"ping","x":1,"x":1}`, CodeBadFrame, 0, true},
		{"repeated through an escape", `{"t":"ping","rid":1,"r\u0069d":2}`, CodeBadFrame, 0, true},
		{"invalid UTF-8 in content", "{\"t\":\"send\",\"rid\":5,\"cmid\":\"c\",\"to_user\":1,\"type\":\"text\",\"content\":\"\xff\xfe\"}", CodeBadFrame, 0, true},
		{"invalid UTF-8 in key", "{\"t\xc3\":\"ping\"}", CodeBadFrame, 0, true},
		{"overlong UTF-8", "{\"t\":\"ping\",\"x\":\"\xc0\xaf\"}", CodeBadFrame, 0, true},
		{"UTF-16 surrogate bytes", "{\"t\":\"ping\",\"x\":\"\xed\xa0\x80\"}", CodeBadFrame, 0, true},
		{"NUL byte outside string", "{\"t\":\"ping\"}\x00", CodeBadFrame, 0, true},

		// 4001: unknown type.
		{"unknown type", `{"t":"hack","rid":3}`, CodeUnknownType, 3, false},
		{"server type hello", `{"t":"hello","rid":3}`, CodeUnknownType, 3, false},
		{"server type ack", `{"t":"ack","rid":3}`, CodeUnknownType, 3, false},
		{"type case matters", `{"t":"PING","rid":3}`, CodeUnknownType, 3, false},
		{"long unknown type", `{"t":"` + strings.Repeat("z", 1000) + `","rid":3}`, CodeUnknownType, 3, false},

		// 4002: missing fields.
		{"no t", `{"rid":3}`, CodeMissingField, 3, false},
		{"empty t", `{"t":"","rid":3}`, CodeMissingField, 3, false},
		{"empty object", `{}`, CodeMissingField, 0, false},
		{"auth no token", `{"t":"auth","rid":1,"app_id":"demo","device_sn":1,"platform":5}`, CodeMissingField, 1, false},
		{"auth no app", `{"t":"auth","rid":1,"token":"x","device_sn":1,"platform":5}`, CodeMissingField, 1, false},
		{"auth no device", `{"t":"auth","rid":1,"token":"x","app_id":"demo","platform":5}`, CodeMissingField, 1, false},
		{"auth zero device", `{"t":"auth","rid":1,"token":"x","app_id":"demo","device_sn":0,"platform":5}`, CodeMissingField, 1, false},
		{"auth no platform", `{"t":"auth","rid":1,"token":"x","app_id":"demo","device_sn":1}`, CodeMissingField, 1, false},
		{"send no cmid", `{"t":"send","rid":5,"to_user":1,"type":"text","content":"x"}`, CodeMissingField, 5, false},
		{"send no recipient", send(``), CodeMissingField, 5, false},
		{"send zero recipients", send(`,"to_user":0,"to_group":0`), CodeMissingField, 5, false},
		{"send no type", `{"t":"send","rid":5,"cmid":"c","to_user":1,"content":"x"}`, CodeMissingField, 5, false},
		{"send no content", `{"t":"send","rid":5,"cmid":"c","to_user":1,"type":"text"}`, CodeMissingField, 5, false},
		{"send empty content", `{"t":"send","rid":5,"cmid":"c","to_user":1,"type":"file","content":""}`, CodeMissingField, 5, false},
		{"dack no id", `{"t":"dack","rid":6}`, CodeMissingField, 6, false},
		{"dack zero id", `{"t":"dack","rid":6,"id":"0"}`, CodeMissingField, 6, false},
		{"dack null id", `{"t":"dack","rid":6,"id":null}`, CodeMissingField, 6, false},
		{"member names are exact: T is not t", `{"T":"ping","rid":3}`, CodeMissingField, 3, false},
		{"member names are exact: RID ignored", `{"t":"dack","RID":19}`, CodeMissingField, 0, false},

		// 4003: wrong types, with the rid recovered.
		{"t not a string", `{"t":5,"rid":3}`, CodeBadValue, 3, false},
		{"rid string", `{"t":"ping","rid":"3"}`, CodeBadValue, 0, false},
		{"rid negative", `{"t":"ping","rid":-1}`, CodeBadValue, 0, false},
		{"rid over uint32", `{"t":"ping","rid":4294967296}`, CodeBadValue, 0, false},
		{"rid fraction", `{"t":"ping","rid":1.5}`, CodeBadValue, 0, false},
		{"token number", `{"t":"auth","rid":1,"token":5,"app_id":"demo","device_sn":1,"platform":5}`, CodeBadValue, 1, false},
		{"device_sn over int32", `{"t":"auth","rid":1,"token":"x","app_id":"demo","device_sn":2147483648,"platform":5}`, CodeBadValue, 1, false},
		{"device_sn string", `{"t":"auth","rid":1,"token":"x","app_id":"demo","device_sn":"1","platform":5}`, CodeBadValue, 1, false},
		{"platform string", `{"t":"auth","rid":1,"token":"x","app_id":"demo","device_sn":1,"platform":"ios"}`, CodeBadValue, 1, false},
		{"to_user string", send(`,"to_user":"42"`), CodeBadValue, 5, false},
		{"to_user fraction", send(`,"to_user":4.2`), CodeBadValue, 5, false},
		{"to_user exponent", send(`,"to_user":1e3`), CodeBadValue, 5, false},
		{"to_user over int64", send(`,"to_user":9223372036854775808`), CodeBadValue, 5, false},
		{"to_group object", send(`,"to_group":{}`), CodeBadValue, 5, false},
		{"content number", `{"t":"send","rid":5,"cmid":"c","to_user":1,"type":"text","content":1}`, CodeBadValue, 5, false},
		{"ext object", send(`,"to_user":1,"ext":{"a":1}`), CodeBadValue, 5, false},
		{"cmid array", `{"t":"send","rid":5,"cmid":["c"],"to_user":1,"type":"text","content":"x"}`, CodeBadValue, 5, false},
		{"from string", send(`,"to_user":1,"from":"7"`), CodeBadValue, 5, false},
		{"bg string", `{"t":"state","rid":7,"bg":"true"}`, CodeBadValue, 7, false},
		{"bg number", `{"t":"state","rid":7,"bg":1}`, CodeBadValue, 7, false},
		{"limit string", `{"t":"sync","rid":9,"limit":"10"}`, CodeBadValue, 9, false},
		{"limit fraction", `{"t":"sync","rid":9,"limit":1.5}`, CodeBadValue, 9, false},

		// 4003: message ids.
		{"id leading zero", `{"t":"dack","rid":6,"id":"007"}`, CodeBadValue, 6, false},
		{"id leading zero number", `{"t":"dack","rid":6,"id":07}`, CodeBadFrame, 0, true},
		{"rid leading zero", `{"t":"ping","rid":01}`, CodeBadFrame, 0, true},
		{"to_user minus zero", send(`,"to_user":-0`), CodeMissingField, 5, false},
		{"rid exponent", `{"t":"ping","rid":1e2}`, CodeBadValue, 0, false},
		{"limit negative", `{"t":"sync","rid":9,"limit":-1}`, CodeBadValue, 9, false},
		{"bg null string", `{"t":"state","rid":7,"bg":"false"}`, CodeBadValue, 7, false},
		{"id negative string", `{"t":"dack","rid":6,"id":"-5"}`, CodeBadValue, 6, false},
		{"id negative number", `{"t":"dack","rid":6,"id":-5}`, CodeBadValue, 6, false},
		{"id plus sign", `{"t":"dack","rid":6,"id":"+5"}`, CodeBadValue, 6, false},
		{"id minus zero", `{"t":"dack","rid":6,"id":"-0"}`, CodeBadValue, 6, false},
		{"id hex", `{"t":"dack","rid":6,"id":"0x10"}`, CodeBadValue, 6, false},
		{"id spaces", `{"t":"dack","rid":6,"id":" 5"}`, CodeBadValue, 6, false},
		{"id fraction", `{"t":"dack","rid":6,"id":5.5}`, CodeBadValue, 6, false},
		{"id exponent", `{"t":"dack","rid":6,"id":5e3}`, CodeBadValue, 6, false},
		{"id over int64", `{"t":"dack","rid":6,"id":"9223372036854775808"}`, CodeBadValue, 6, false},
		{"id bool", `{"t":"dack","rid":6,"id":true}`, CodeBadValue, 6, false},
		{"id object", `{"t":"dack","rid":6,"id":{}}`, CodeBadValue, 6, false},
		{"id array", `{"t":"dack","rid":6,"id":["1"]}`, CodeBadValue, 6, false},
		{"id letters", `{"t":"dack","rid":6,"id":"abc"}`, CodeBadValue, 6, false},
		{"id escaped digit", `{"t":"dack","rid":6,"id":"\u0035"}`, CodeBadValue, 6, false},
		{"after negative", `{"t":"sync","rid":9,"after":"-1"}`, CodeBadValue, 9, false},
		{"after garbage", `{"t":"sync","rid":9,"after":"1a"}`, CodeBadValue, 9, false},

		// 4003: out of range.
		{"token too long", `{"t":"auth","rid":1,"token":"` + strings.Repeat("a", 2049) + `","app_id":"demo","device_sn":1,"platform":5}`, CodeBadValue, 1, false},
		{"app_id bad char", `{"t":"auth","rid":1,"token":"x","app_id":"de mo","device_sn":1,"platform":5}`, CodeBadValue, 1, false},
		{"app_id colon", `{"t":"auth","rid":1,"token":"x","app_id":"a:b","device_sn":1,"platform":5}`, CodeBadValue, 1, false},
		{"app_id braces", `{"t":"auth","rid":1,"token":"x","app_id":"{a}","device_sn":1,"platform":5}`, CodeBadValue, 1, false},
		{"app_id too long", `{"t":"auth","rid":1,"token":"x","app_id":"` + strings.Repeat("a", 65) + `","device_sn":1,"platform":5}`, CodeBadValue, 1, false},
		{"device_sn negative", `{"t":"auth","rid":1,"token":"x","app_id":"demo","device_sn":-1,"platform":5}`, CodeBadValue, 1, false},
		{"platform zero is missing", `{"t":"auth","rid":1,"token":"x","app_id":"demo","device_sn":1,"platform":0}`, CodeMissingField, 1, false},
		{"platform 7", `{"t":"auth","rid":1,"token":"x","app_id":"demo","device_sn":1,"platform":7}`, CodeBadValue, 1, false},
		{"platform negative", `{"t":"auth","rid":1,"token":"x","app_id":"demo","device_sn":1,"platform":-1}`, CodeBadValue, 1, false},
		{"push_token too long", `{"t":"auth","rid":1,"token":"x","app_id":"demo","device_sn":1,"platform":1,"push_token":"` + strings.Repeat("p", 513) + `"}`, CodeBadValue, 1, false},
		{"notifier too long", `{"t":"auth","rid":1,"token":"x","app_id":"demo","device_sn":1,"platform":1,"notifier":"` + strings.Repeat("n", 65) + `"}`, CodeBadValue, 1, false},
		{"cmid too long", `{"t":"send","rid":5,"cmid":"` + strings.Repeat("c", 65) + `","to_user":1,"type":"text","content":"x"}`, CodeBadValue, 5, false},
		{"cmid multibyte too long", `{"t":"send","rid":5,"cmid":"` + strings.Repeat("é", 33) + `","to_user":1,"type":"text","content":"x"}`, CodeBadValue, 5, false},
		{"cmid colon", `{"t":"send","rid":5,"cmid":"a:b","to_user":1,"type":"text","content":"x"}`, CodeBadValue, 5, false},
		{"cmid NUL", `{"t":"send","rid":5,"cmid":"a\u0000b","to_user":1,"type":"text","content":"x"}`, CodeBadValue, 5, false},
		{"both recipients", send(`,"to_user":1,"to_group":2`), CodeBadValue, 5, false},
		{"negative user", send(`,"to_user":-1`), CodeBadValue, 5, false},
		{"negative group", send(`,"to_group":-1`), CodeBadValue, 5, false},
		{"both recipients one negative", send(`,"to_user":-1,"to_group":2`), CodeBadValue, 5, false},
		{"unknown message type", `{"t":"send","rid":5,"cmid":"c","to_user":1,"type":"sticker","content":"x"}`, CodeBadValue, 5, false},
		{"message type case", `{"t":"send","rid":5,"cmid":"c","to_user":1,"type":"Text","content":"x"}`, CodeBadValue, 5, false},
		{"content too long", `{"t":"send","rid":5,"cmid":"c","to_user":1,"type":"text","content":"` + strings.Repeat("x", 32769) + `"}`, CodeBadValue, 5, false},
		{"ext too long", send(`,"to_user":1,"ext":"` + strings.Repeat("e", 4097) + `"`), CodeBadValue, 5, false},
		{"sync limit negative", `{"t":"sync","rid":9,"limit":-1}`, CodeBadValue, 9, false},
		{"sync limit over max", `{"t":"sync","rid":9,"limit":201}`, CodeBadValue, 9, false},

		// 4004: oversize.
		{"oversize", `{"t":"send","rid":5,"cmid":"c","to_user":1,"type":"text","content":"` + strings.Repeat("x", 64<<10) + `"}`, CodeFrameTooLarge, 0, true},
		{"oversize garbage", strings.Repeat("\xff", 64<<10+1), CodeFrameTooLarge, 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := Decode([]byte(tt.in), lim)
			if err == nil {
				t.Fatalf("Decode(%.200s) succeeded with %+v, want code %d", tt.in, f, tt.code)
			}
			if err.Code != tt.code {
				t.Fatalf("Decode(%.200s) = %d %v, want code %d", tt.in, err.Code, err, tt.code)
			}
			if err.Detail == "" {
				t.Errorf("error %d has no detail", err.Code)
			}
			if tt.noFrame {
				if f != nil {
					t.Fatalf("Decode returned frame %+v with code %d, want none", f, err.Code)
				}
				return
			}
			if f == nil {
				t.Fatalf("Decode returned no frame with code %d, want one carrying rid %d", err.Code, tt.rid)
			}
			if f.Rid != tt.rid {
				t.Fatalf("rid = %d, want %d", f.Rid, tt.rid)
			}
		})
	}
}

func TestDecodeExactLimits(t *testing.T) {
	lim := DefaultLimits()
	// A frame of exactly max_frame_bytes is accepted; one byte more is not.
	prefix := `{"t":"ping","rid":1,"pad":"`
	suffix := `"}`
	exact := prefix + strings.Repeat("p", lim.MaxFrameBytes-len(prefix)-len(suffix)) + suffix
	if len(exact) != lim.MaxFrameBytes {
		t.Fatalf("test frame is %d bytes", len(exact))
	}
	if _, err := Decode([]byte(exact), lim); err != nil {
		t.Fatalf("frame of exactly max_frame_bytes: %v", err)
	}
	over := prefix + "p" + exact[len(prefix):]
	if _, err := Decode([]byte(over), lim); err == nil || err.Code != CodeFrameTooLarge {
		t.Fatalf("frame one byte over: %v, want 4004", err)
	}

	// content and ext at exactly their limits.
	content := strings.Repeat("c", lim.MaxContentBytes)
	ext := strings.Repeat("e", lim.MaxExtBytes)
	in := `{"t":"send","rid":1,"cmid":"c","to_user":1,"type":"text","content":"` + content + `","ext":"` + ext + `"}`
	if _, err := Decode([]byte(in), lim); err != nil {
		t.Fatalf("content and ext at their limits: %v", err)
	}
	token := strings.Repeat("t", lim.MaxTokenBytes)
	in = `{"t":"auth","token":"` + token + `","app_id":"` + strings.Repeat("a", MaxAppIDBytes) + `","device_sn":1,"platform":1,"push_token":"` + strings.Repeat("p", 512) + `","notifier":"` + strings.Repeat("n", 64) + `"}`
	if _, err := Decode([]byte(in), lim); err != nil {
		t.Fatalf("auth at its limits: %v", err)
	}
	in = `{"t":"sync","limit":200}`
	if _, err := Decode([]byte(in), lim); err != nil {
		t.Fatalf("sync at max limit: %v", err)
	}
}

// TestDecodeCustomLimits checks that Decode uses the limits it is given, not
// the defaults: a deployment can tighten or loosen them.
func TestDecodeCustomLimits(t *testing.T) {
	lim := DefaultLimits()
	lim.MaxContentBytes = 4
	lim.MaxCMIDBytes = 2
	lim.MaxSyncLimit = 10
	lim.MaxFrameBytes = 128
	tests := []struct {
		in   string
		code Code // 0: valid
	}{
		{`{"t":"send","cmid":"ab","to_user":1,"type":"text","content":"1234"}`, 0},
		{`{"t":"send","cmid":"ab","to_user":1,"type":"text","content":"12345"}`, CodeBadValue},
		{`{"t":"send","cmid":"abc","to_user":1,"type":"text","content":"1"}`, CodeBadValue},
		// Lengths count decoded UTF-8 bytes, not escapes.
		{`{"t":"send","cmid":"ab","to_user":1,"type":"text","content":"\u0041\u0042\u0043\u0044"}`, 0},
		{`{"t":"send","cmid":"ab","to_user":1,"type":"text","content":"\u00e9\u00e9"}`, 0},
		{`{"t":"send","cmid":"ab","to_user":1,"type":"text","content":"\u00e9\u00e9\u00e9"}`, CodeBadValue},
		{`{"t":"sync","limit":10}`, 0},
		{`{"t":"sync","limit":11}`, CodeBadValue},
		{`{"t":"ping","pad":"` + strings.Repeat("x", 128) + `"}`, CodeFrameTooLarge},
	}
	for _, tt := range tests {
		_, err := Decode([]byte(tt.in), lim)
		switch {
		case tt.code == 0 && err != nil:
			t.Errorf("Decode(%.60s) = %v, want success", tt.in, err)
		case tt.code != 0 && (err == nil || err.Code != tt.code):
			t.Errorf("Decode(%.60s) = %v, want code %d", tt.in, err, tt.code)
		}
	}
}

// TestValidateFrames checks Validate on frames built in Go, as the bundled
// client does before it sends.
func TestValidateFrames(t *testing.T) {
	lim := DefaultLimits()
	bg := true
	tests := []struct {
		name string
		f    Frame
		code Code
	}{
		{"auth", Frame{T: TypeAuth, Token: "x", AppID: "a", DeviceSN: 1, Platform: 2}, 0},
		{"send", Frame{T: TypeSend, CMID: "c", ToUser: 1, Type: "text", Content: "x"}, 0},
		{"dack", Frame{T: TypeDAck, ID: 1}, 0},
		{"sync", Frame{T: TypeSync}, 0},
		{"state", Frame{T: TypeState, BG: &bg}, 0},
		{"ping", Frame{T: TypePing}, 0},
		{"no type", Frame{}, CodeMissingField},
		{"server type", Frame{T: TypePong}, CodeUnknownType},
		{"negative dack", Frame{T: TypeDAck, ID: -1}, CodeMissingField},
		{"negative after", Frame{T: TypeSync, After: -1}, CodeBadValue},
		{"invalid UTF-8 content", Frame{T: TypeSend, CMID: "c", ToUser: 1, Type: "text", Content: "\xff"}, CodeBadValue},
		{"invalid UTF-8 ext", Frame{T: TypeSend, CMID: "c", ToUser: 1, Type: "text", Content: "x", Ext: "\xc3"}, CodeBadValue},
		{"device negative", Frame{T: TypeAuth, Token: "x", AppID: "a", DeviceSN: -3, Platform: 2}, CodeBadValue},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.f.Validate(lim)
			switch {
			case tt.code == 0 && err != nil:
				t.Fatalf("Validate = %v, want nil", err)
			case tt.code != 0 && (err == nil || err.Code != tt.code):
				t.Fatalf("Validate = %v, want code %d", err, tt.code)
			}
		})
	}
}

func TestIDJSON(t *testing.T) {
	for _, id := range []ID{0, 1, 265191234567340032, 9223372036854775807} {
		b, err := json.Marshal(id)
		if err != nil {
			t.Fatal(err)
		}
		if want := `"` + id.String() + `"`; string(b) != want {
			t.Fatalf("Marshal(%d) = %s, want %s", id, b, want)
		}
		var back ID
		if err := json.Unmarshal(b, &back); err != nil || back != id {
			t.Fatalf("Unmarshal(%s) = %d, %v", b, back, err)
		}
	}
	// Server frames carry ids as strings inside messages too.
	b, err := Encode(&Frame{T: TypeAck, Rid: 3, CMID: "c", ID: 42, TS: 1000})
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"t":"ack","rid":3,"cmid":"c","id":"42","ts":1000}`; string(b) != want {
		t.Fatalf("Encode(ack) = %s, want %s", b, want)
	}
}

func TestEncodeServerFrames(t *testing.T) {
	msg := &Message{ID: 7, Conv: ConvID(42, 7, 0), From: 42, FromDev: 3, ToUser: 7, Type: "text", Content: "hi", TS: 5}
	tests := []struct {
		f    Frame
		want string
	}{
		{Frame{T: TypeErr, Rid: 5, Code: int(CodeNotGroupMember), Msg: "no"}, `{"t":"err","rid":5,"code":4021,"msg":"no"}`},
		{Frame{T: TypeMsg, Message: msg}, `{"t":"msg","message":{"id":"7","conv":"u:7:42","from":42,"from_dev":3,"to_user":7,"type":"text","content":"hi","ts":5}}`},
		{Frame{T: TypeSyncRes, Rid: 9, Msgs: []*Message{msg}, HasMore: true, Next: 7}, `{"t":"sync_res","rid":9,"msgs":[{"id":"7","conv":"u:7:42","from":42,"from_dev":3,"to_user":7,"type":"text","content":"hi","ts":5}],"has_more":true,"next":"7"}`},
		{Frame{T: TypeSyncRes, Rid: 9}, `{"t":"sync_res","rid":9}`},
		{Frame{T: TypeKick, Code: int(CodeKickReplaced), Reason: CodeKickReplaced.String()}, `{"t":"kick","code":4101,"reason":"replaced"}`},
		{Frame{T: TypePong, Rid: 1, TS: 9}, `{"t":"pong","rid":1,"ts":9}`},
	}
	for _, tt := range tests {
		b, err := Encode(&tt.f)
		if err != nil {
			t.Fatal(err)
		}
		if string(b) != tt.want {
			t.Errorf("Encode(%s)\n got %s\nwant %s", tt.f.T, b, tt.want)
		}
	}
}

func TestConvID(t *testing.T) {
	if got := ConvID(42, 7, 0); got != "u:7:42" {
		t.Errorf("ConvID(42->7) = %s", got)
	}
	if got := ConvID(7, 42, 0); got != "u:7:42" {
		t.Errorf("ConvID(7->42) = %s", got)
	}
	if got := ConvID(7, 0, 500); got != "g:500" {
		t.Errorf("ConvID(group) = %s", got)
	}
}

func TestCodeNames(t *testing.T) {
	for c, name := range codeNames {
		if c.String() != name || name == "" {
			t.Errorf("code %d name %q", c, c.String())
		}
	}
	if Code(1).String() != "unknown" {
		t.Errorf("unknown code name = %q", Code(1).String())
	}
	e := Errorf(CodeRateLimited, "slow down")
	if e.Error() != "rate_limited: slow down" {
		t.Errorf("Error() = %q", e.Error())
	}
}

// sameClientFields compares the members a client frame can carry.
func sameClientFields(a, b *Frame) bool {
	if (a.BG == nil) != (b.BG == nil) || (a.BG != nil && *a.BG != *b.BG) {
		return false
	}
	if (a.Mentions == nil) != (b.Mentions == nil) || (a.Mentions != nil &&
		(a.Mentions.All != b.Mentions.All || !slices.Equal(a.Mentions.Users, b.Mentions.Users))) {
		return false
	}
	return a.T == b.T && a.Rid == b.Rid &&
		a.Token == b.Token && a.AppID == b.AppID && a.DeviceSN == b.DeviceSN && a.Platform == b.Platform &&
		a.PushToken == b.PushToken && a.Notifier == b.Notifier &&
		a.CMID == b.CMID && a.From == b.From && a.ToUser == b.ToUser && a.ToGroup == b.ToGroup &&
		a.Type == b.Type && a.Content == b.Content && a.Ext == b.Ext &&
		a.ID == b.ID && a.After == b.After && a.Limit == b.Limit
}

// TestDecodeMentions checks the mentions of a send: group messages only,
// positive ids, at most MaxMentions.
func TestDecodeMentions(t *testing.T) {
	lim := DefaultLimits()
	many := make([]string, MaxMentions+1)
	for i := range many {
		many[i] = "1"
	}
	for _, tc := range []struct {
		name, frame string
		code        Code
	}{
		{"users", `{"t":"send","rid":1,"cmid":"c","to_group":5,"type":"text","content":"x","mentions":{"users":[7,8]}}`, 0},
		{"all", `{"t":"send","rid":1,"cmid":"c","to_group":5,"type":"text","content":"x","mentions":{"all":true}}`, 0},
		{"one-to-one", `{"t":"send","rid":1,"cmid":"c","to_user":5,"type":"text","content":"x","mentions":{"all":true}}`, CodeBadValue},
		{"negative", `{"t":"send","rid":1,"cmid":"c","to_group":5,"type":"text","content":"x","mentions":{"users":[-1]}}`, CodeBadValue},
		{"too many", `{"t":"send","rid":1,"cmid":"c","to_group":5,"type":"text","content":"x","mentions":{"users":[` + strings.Join(many, ",") + `]}}`, CodeBadValue},
		{"wrong type", `{"t":"send","rid":1,"cmid":"c","to_group":5,"type":"text","content":"x","mentions":[7]}`, CodeBadValue},
		{"string all", `{"t":"send","rid":1,"cmid":"c","to_group":5,"type":"text","content":"x","mentions":{"all":"yes"}}`, CodeBadValue},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f, err := Decode([]byte(tc.frame), lim)
			switch {
			case tc.code == 0 && err != nil:
				t.Fatalf("refused: %v", err)
			case tc.code != 0 && (err == nil || err.Code != tc.code):
				t.Fatalf("got %v, want code %d", err, tc.code)
			case tc.code == 0 && f.Mentions == nil:
				t.Fatal("mentions lost")
			}
		})
	}
}
