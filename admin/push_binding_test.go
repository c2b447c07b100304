package admin_test

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chatgate/chatgate/admin"
	"github.com/chatgate/chatgate/client"
	"github.com/chatgate/chatgate/internal/config"
	"github.com/chatgate/chatgate/internal/fakepush"
	"github.com/chatgate/chatgate/internal/pushcert"
	"github.com/chatgate/chatgate/protocol"
)

// TestPushBinding binds devices the ways Lanying clients do —
// /user/token/bind with a notifier_name, /user/register/push, the socket
// auth frame with a push token — over certificate names in any case,
// empty names on each platform, and unknown names. Each device is then
// reached by a chat message and by a campaign through the expected
// provider, or the binding was refused.
func TestPushBinding(t *testing.T) {
	// A second APNs certificate, the app's iOS default, besides the
	// fake's "apns" and one per provider named after it.
	p := newPushEnv(t, func(ap *config.AppPush) {
		a := ap.APNs
		ap.Certificates = append(ap.Certificates, config.PushCertificate{Name: "Prod-APNs", Provider: pushcert.APNs, Default: true,
			KeyFile: a.KeyFile, KeyID: a.KeyID, TeamID: a.TeamID, Topic: a.Topic, Endpoint: a.Host, CAFile: a.CAFile})
	})
	sender := usrRegister(t, p.env, "bsender")
	tests := []struct {
		name     string
		via      string // bind, register, auth
		notifier string
		platform int
		apns     bool   // an APNs-shaped token
		want     string // provider; "" refused
	}{
		{"name", "bind", "huawei", 0, false, fakepush.Huawei},
		{"name other case", "bind", "HuaWei", 0, false, fakepush.Huawei},
		{"second APNs certificate", "bind", "prod-apns", 0, true, fakepush.APNs},
		{"FCM upper case", "bind", "FCM", 0, false, fakepush.FCM},
		{"vivo", "bind", "Vivo", 0, false, fakepush.Vivo},
		{"empty, APNs token", "bind", "", 0, true, fakepush.APNs},
		{"empty, other token", "bind", "", 0, false, fakepush.FCM},
		{"unknown", "bind", "nope", 0, false, ""},
		{"register APNs token", "register", "", 0, true, fakepush.APNs},
		{"register other token", "register", "", 0, false, fakepush.FCM},
		{"auth empty ios", "auth", "", protocol.PlatformIOS, true, fakepush.APNs},
		{"auth empty android", "auth", "", protocol.PlatformAndroid, false, fakepush.FCM},
		{"auth oppo", "auth", "OPPO", protocol.PlatformAndroid, false, fakepush.OPPO},
		{"auth honor", "auth", "honor", protocol.PlatformAndroid, false, fakepush.Honor},
		{"auth xiaomi", "auth", "Xiaomi", protocol.PlatformAndroid, false, fakepush.Xiaomi},
		{"auth meizu", "auth", "meizu", protocol.PlatformAndroid, false, fakepush.Meizu},
		{"auth unknown", "auth", "nope", protocol.PlatformAndroid, false, ""},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p.t = t
			tok := "tok-bind-" + itoaAdmin(i)
			if tc.apns {
				tok = strings.Repeat("be", 31) + strings.Repeat("0", 4-len(itoaAdmin(i))) + itoaAdmin(i)
			}
			var uid int64
			switch tc.via {
			case "bind":
				uid = usrRegister(t, p.env, "bind"+itoaAdmin(i))
				body := map[string]any{"device_sn": 1, "device_token": tok, "notifier_name": tc.notifier}
				if tc.want == "" {
					p.wantCode(admin.CodePushDisabled, "POST", "/user/token/bind", usrAs(p.env, uid), body)
					if d, _ := p.st.Device(context.Background(), p.app, uid, 1); d != nil && d.PushToken != "" {
						t.Fatalf("refused binding stored: %+v", d)
					}
					return
				}
				p.ok("POST", "/user/token/bind", usrAs(p.env, uid), body)
			case "register":
				var s struct {
					ID int64 `json:"id"`
				}
				p.ok("POST", "/user/register/push", nil, map[string]any{"username": "reg" + itoaAdmin(i), "password": "pw123456", "push_token": tok}).into(t, &s)
				uid = s.ID
			case "auth":
				uid = usrRegister(t, p.env, "auth"+itoaAdmin(i))
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				defer cancel()
				c, err := client.Dial(ctx, client.Config{URL: p.gw, AppID: p.app, Token: p.userToken(uid), DeviceSN: 1,
					Platform: tc.platform, PushToken: tok, Notifier: tc.notifier})
				if tc.want == "" {
					if err == nil || !strings.Contains(err.Error(), `"notifier" names no push certificate`) {
						t.Fatalf("auth with an unknown notifier: %v", err)
					}
					return
				}
				if err != nil {
					t.Fatal(err)
				}
				c.Close()
				// Offline: the chat message is pushed.
				waitAdmin(t, "route gone", func() bool {
					rs, err := p.st.Routes(context.Background(), p.app, uid, time.Now())
					return err == nil && len(rs) == 0
				})
			}
			p.ok("POST", "/message/send", nil, map[string]any{"from_user_id": sender, "targets": []int64{uid}, "type": 1, "content_type": 0, "content": "hi " + tc.name})
			waitAdmin(t, "chat push to "+tc.want, func() bool { return p.fake.Count(tc.want, tok) == 1 })
			task := p.notify(map[string]any{"audience": map[string]any{"user_id": []int64{uid}},
				"setting": map[string]any{"distribution_strategy": "ospush_only"}, "message": map[string]any{"title": "T", "body": "B"}})
			d := p.detail(task)
			if ch := pushcert.Channel(tc.want); d[ch+"_target"] != 1 || d[ch+"_received"] != 1 {
				t.Fatalf("campaign detail %v, want %s_target and _received 1", d, ch)
			}
			if p.fake.Count(tc.want, tok) != 2 {
				t.Fatalf("fake %s got %d pushes, want 2", tc.want, p.fake.Count(tc.want, tok))
			}
		})
	}
}

func itoaAdmin(i int) string { return strconv.Itoa(i) }

func waitAdmin(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting: %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
