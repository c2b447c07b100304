package protocol

import (
	"encoding/json"
	"testing"
)

// Zero members are omitted (PROTOCOL.md section 3): the system sender has no
// "from", REST sends no "from_dev", events no "content".
func TestMessageEventsRoundTrip(t *testing.T) {
	tests := []struct {
		name  string
		m     Message
		json  string
		event bool
	}{
		{"rest image", Message{ID: 5, Conv: "u:0:7", ToUser: 7, Type: "image", Attachment: `{"url":"u"}`, Config: "c", TS: 1},
			`{"id":"5","conv":"u:0:7","to_user":7,"type":"image","attachment":"{\"url\":\"u\"}","config":"c","ts":1}`, false},
		{"recall", Message{ID: 9, Conv: "u:1:2", From: 1, ToUser: 2, Type: EventRecall, TS: 2, Ref: 5},
			`{"id":"9","conv":"u:1:2","from":1,"to_user":2,"type":"recall","ts":2,"ref":"5"}`, true},
		{"read", Message{ID: 10, Conv: "g:3", From: 2, ToGroup: 3, Type: EventRead, TS: 3, Ref: 8},
			`{"id":"10","conv":"g:3","from":2,"to_group":3,"type":"read","ts":3,"ref":"8"}`, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := json.Marshal(&tt.m)
			if err != nil || string(b) != tt.json {
				t.Fatalf("marshal = %s, %v\nwant %s", b, err, tt.json)
			}
			var back Message
			if err := json.Unmarshal(b, &back); err != nil || back != tt.m {
				t.Fatalf("round trip = %+v, %v", back, err)
			}
			if back.IsEvent() != tt.event {
				t.Errorf("IsEvent = %v", back.IsEvent())
			}
		})
	}
	for _, c := range []Code{CodeBlocked, CodeMessageNotFound} {
		if c.String() == "unknown" {
			t.Errorf("code %d has no name", c)
		}
	}
}
