package pushworker

import (
	"encoding/json"
	"testing"

	"github.com/chatgate/chatgate/internal/pushcert"
)

// FuzzCampaign checks push campaign and payload building on arbitrary
// input: a /push/notify audience and campaign body, a message push's
// texts and a badge. Nothing panics; a campaign that validates yields
// APNs and FCM payloads within MaxPayload, for any badge; a message push
// (title, body, ext from a client) always encodes.
//
// Seeds: testdata/fuzz/FuzzCampaign. Run: go test -run=^$ -fuzz=FuzzCampaign ./pushworker/
func FuzzCampaign(f *testing.F) {
	f.Add([]byte(`{"tag":["a","b"]}`), []byte(`{"message":{"title":"t","body":"b","badge":"+1","ext":"{\"k\":1}"}}`), "nick", "hello", `{"x":1}`, "+3")
	f.Add([]byte(`"all"`), []byte(`{"message":{"type":"cmd"},"setting":{"distribution_strategy":"mxpush_only"}}`), "", "", "", "12")
	f.Fuzz(func(t *testing.T, audience, body []byte, title, text, ext, badge string) {
		if a, _, err := ParseAudience(audience); err == nil && !a.All && len(a.Tags)+len(a.Aliases)+len(a.Users)+len(a.PushToken) == 0 {
			t.Fatalf("audience %q parsed as empty", audience)
		}
		var c Campaign
		if json.Unmarshal(body, &c) == nil {
			if _, err := c.Validate(); err == nil {
				n := &notification{Campaign: &c, Task: 1 << 53, Badge: 9_999_999_999, HasBadge: true}
				for _, p := range []string{pushcert.APNs, pushcert.FCM} {
					size, err := n.size(p)
					if err != nil || size > MaxPayload {
						t.Fatalf("valid campaign: %s payload %d bytes, %v", p, size, err)
					}
				}
				if _, _, err := n.apns(); err != nil {
					t.Fatalf("valid campaign: apns: %v", err)
				}
				_ = n.fcm("token")
			}
		}
		b, add, err := ParseBadge(badge)
		if err == nil && (b < 0 || b > 99_999) {
			t.Fatalf("badge %q parsed as %d (add %v)", badge, b, add)
		}
		m := &notification{Title: title, Body: text, Ext: ext, MsgID: 1, Conv: "u:1:2", From: 1, Badge: b, HasBadge: err == nil}
		if _, _, err := m.apns(); err != nil {
			t.Fatalf("message push: apns: %v", err)
		}
		_ = m.fcm("token")
		m.Generic = true
		if _, _, err := m.apns(); err != nil {
			t.Fatalf("generic message push: apns: %v", err)
		}
	})
}
