package router

import (
	"encoding/json"
	"maps"
	"slices"
	"testing"

	"github.com/chatgate/chatgate/internal/bus"
	"github.com/chatgate/chatgate/store"
)

// TestPushJobEncoding keeps the spliced encoding in step with bus.PushJob.
func TestPushJobEncoding(t *testing.T) {
	for _, tc := range []struct {
		name string
		send bus.Send
		dev  store.Device
	}{
		{"full", bus.Send{App: "a", From: 1, FromDev: 2, ToGroup: 9, Type: "text", Content: "hé \"quoted\" <b>", Ext: `{"x":1}`},
			store.Device{SN: 3, Platform: 2, PushToken: "tok", Notifier: "fcm", TokenAt: 42}},
		{"minimal", bus.Send{App: "a", From: 1, ToUser: 5, Type: "command"},
			store.Device{SN: 1, Platform: 1, PushToken: "t"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := &entry{send: tc.send, id: 123456789}
			var pj pushJob
			b, err := pj.encode(e, "g:9", 99, 7, &tc.dev)
			if err != nil {
				t.Fatal(err)
			}
			var got bus.PushJob
			if err := json.Unmarshal(b, &got); err != nil {
				t.Fatalf("%s: %v", b, err)
			}
			want := bus.PushJob{
				PushDevice: bus.PushDevice{App: "a", User: 7, Device: tc.dev.SN, Platform: tc.dev.Platform, PushToken: tc.dev.PushToken,
					Notifier: tc.dev.Notifier, TokenAt: tc.dev.TokenAt, Lead: true},
				PushMessage: bus.PushMessage{MsgID: 123456789, Conv: "g:9", From: 1,
					ToGroup: tc.send.ToGroup, Type: tc.send.Type, Content: tc.send.Content, Ext: tc.send.Ext, TS: 99},
			}
			if got != want {
				t.Errorf("got  %+v\nwant %+v", got, want)
			}
			// Same second device from the cached message half.
			b2, _ := pj.encode(e, "g:9", 99, 8, &tc.dev)
			var got2 bus.PushJob
			if err := json.Unmarshal(b2, &got2); err != nil || got2.User != 8 || got2.MsgID != want.MsgID || !got2.Lead {
				t.Errorf("second job %s: %v", b2, err)
			}
		})
	}
	// Every field bus.PushJob has, except the retry bookkeeping the push
	// worker owns, must be written.
	full, _ := json.Marshal(bus.PushJob{
		PushDevice:  bus.PushDevice{App: "a", User: 1, Device: 1, Platform: 1, PushToken: "t", Notifier: "n", TokenAt: 1, Lead: true},
		PushMessage: bus.PushMessage{MsgID: 1, Conv: "c", From: 1, ToGroup: 1, Type: "t", Content: "c", Ext: "e", TS: 1},
		Attempt:     1, NotBefore: 1})
	var fullKeys map[string]any
	_ = json.Unmarshal(full, &fullKeys)
	delete(fullKeys, "attempt")
	delete(fullKeys, "not_before")
	var pj pushJob
	b, _ := pj.encode(&entry{send: bus.Send{App: "a", From: 1, ToGroup: 1, Type: "t", Content: "c", Ext: "e"}, id: 1}, "c", 1, 1,
		&store.Device{SN: 1, Platform: 1, PushToken: "t", Notifier: "n", TokenAt: 1})
	var keys map[string]any
	_ = json.Unmarshal(b, &keys)
	if a, w := slices.Sorted(maps.Keys(keys)), slices.Sorted(maps.Keys(fullKeys)); !slices.Equal(a, w) {
		t.Errorf("push job fields %v, bus.PushJob has %v", a, w)
	}
}
