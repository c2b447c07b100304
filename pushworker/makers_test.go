package pushworker

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/chatgate/chatgate/internal/bus"
	"github.com/chatgate/chatgate/internal/config"
	"github.com/chatgate/chatgate/internal/fakepush"
	"github.com/chatgate/chatgate/store"
	"github.com/redis/go-redis/v9"
)

const badCredApp = "pwbad"

// badCreds is an app whose makers' secrets are wrong.
func badCreds(p config.AppPush) config.App {
	var certs []config.PushCertificate
	for _, c := range p.Certificates {
		c.AppSecret, c.MasterSecret, c.ClientSecret = "wrong", "wrong", "wrong"
		certs = append(certs, c)
	}
	return config.App{ID: badCredApp, Secret: "0123456789abcdef0123", Push: config.AppPush{Certificates: certs}}
}

// bind binds a device with a notifier name, as /user/token/bind does.
func (r *rig) bind(app string, uid int64, sn int32, platform int, tok, notifier string) {
	r.t.Helper()
	ctx := context.Background()
	if err := r.st.UpdateDevice(ctx, app, uid, sn, func(d *store.Device) { d.Platform = platform }); err != nil {
		r.t.Fatal(err)
	}
	if err := r.st.SetPushToken(ctx, app, uid, sn, tok, notifier, time.UnixMilli(r.now.Load()).Add(-time.Hour)); err != nil {
		r.t.Fatal(err)
	}
	if err := r.rdb.ZAdd(ctx, store.AppUsersKey(app), redis.Z{Score: 1, Member: uid}).Err(); err != nil {
		r.t.Fatal(err)
	}
}

// chatTo queues a chat-message push job to a bound device, as the router
// does (the job carries the device's notifier).
func (r *rig) chatTo(app string, uid int64, sn int32, tok, notifier, content string) {
	r.t.Helper()
	j := bus.PushJob{
		PushDevice:  bus.PushDevice{App: app, User: uid, Device: sn, Platform: 2, PushToken: tok, Notifier: notifier, Lead: true},
		PushMessage: bus.PushMessage{MsgID: time.Now().UnixNano(), Conv: "u:1:2", From: 2, Type: "text", Content: content, TS: r.now.Load()},
	}
	v, _ := bus.Encode(&j)
	if err := r.rdb.XAdd(context.Background(), &redis.XAddArgs{Stream: bus.PushStream(bus.PushPartition(app, uid, 4)), Values: v}).Err(); err != nil {
		r.t.Fatal(err)
	}
}

// TestMakerPushes: every phone maker through the worker and its real
// client against the fake: a chat message arrives with the sender and
// text in the maker's IM class; a dead token is removed; throttling is
// retried after the pause and counted; a server error is retried; refused
// credentials fail without a retry storm.
func TestMakerPushes(t *testing.T) {
	r := newRig(t, badCreds)
	ctx := context.Background()
	r.settings(2, map[string]any{"push_nick_name": "Alice"})
	for i, p := range fakepush.Makers {
		t.Run(p, func(t *testing.T) {
			uid := int64(200 + 10*i)
			// The certificate is named after its provider; bind it in
			// another case, as a Lanying client may.
			name := strings.ToUpper(p)
			tok := p + "-tok"
			r.bind(testApp, uid, 1, 2, tok, name)
			r.chatTo(testApp, uid, 1, tok, name, "hello "+p)
			r.settle()
			ns := r.fake.Received(p, tok)
			if len(ns) != 1 || !strings.Contains(string(ns[0].Payload), "Alice") || !strings.Contains(string(ns[0].Payload), "hello "+p) {
				t.Fatalf("fake got %d pushes: %s", len(ns), ns)
			}

			throttledBefore := counterValue(t, r.w.m.throttled.WithLabelValues(p, throttleReason(p)))
			r.fake.FailNext(p, fakepush.Fault{Status: http.StatusTooManyRequests, Times: 1})
			r.chatTo(testApp, uid, 1, tok, name, "throttled")
			waitFor(t, "throttled push delivered", func() bool { r.settle(); return r.fake.Count(p, tok) == 2 })
			r.fake.FailNext(p, fakepush.Fault{Status: http.StatusInternalServerError, Times: 1})
			r.chatTo(testApp, uid, 1, tok, name, "server error")
			waitFor(t, "throttled and failed pushes delivered", func() bool { r.settle(); return r.fake.Count(p, tok) == 3 })
			if n := counterValue(t, r.w.m.throttled.WithLabelValues(p, throttleReason(p))) - throttledBefore; n < 1 {
				t.Fatalf("throttled counter +%v", n)
			}

			dead := p + "-dead"
			r.bind(testApp, uid+1, 1, 2, dead, name)
			r.fake.FailToken(p, dead, fakepush.Fault{Status: http.StatusGone})
			r.chatTo(testApp, uid+1, 1, dead, name, "to a dead token")
			// The token is removed just after the job is acknowledged.
			waitFor(t, "dead token removed", func() bool {
				devs, _ := r.st.Devices(ctx, testApp, uid+1)
				return len(devs) == 1 && devs[0].PushToken == ""
			})
			if n := counterValue(t, r.w.m.tokensRemoved.WithLabelValues(p)); n < 1 {
				t.Fatalf("tokens_removed_total{%s} = %v", p, n)
			}

			authBefore := r.fake.AuthRequests(p)
			for k := range 4 {
				r.bind(badCredApp, uid+int64(k), 1, 2, tok+"-bad", p)
				r.chatTo(badCredApp, uid+int64(k), 1, tok+"-bad", p, "bad credentials")
			}
			r.settle()
			if n := counterValue(t, r.w.m.authFailures.WithLabelValues(p)); n < 4 {
				t.Fatalf("auth_failures_total{%s} = %v, want 4", p, n)
			}
			if n := r.fake.AuthRequests(p) - authBefore; n > 1 {
				t.Fatalf("%d token requests for 4 pushes with refused credentials", n)
			}
		})
	}
}

// throttleReason is the reason a maker's fake throttling answer is counted
// under.
func throttleReason(p string) string {
	switch p {
	case fakepush.Huawei:
		return "http_503"
	case fakepush.OPPO:
		return "oppo_-2"
	case fakepush.Vivo:
		return "vivo_10071"
	case fakepush.Meizu:
		return "meizu_518"
	}
	return "http_429"
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting: %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestMixedCampaign: a campaign to APNs, FCM and all six makers counts
// target, sent and received per channel, and each maker's options block
// reaches its maker.
func TestMixedCampaign(t *testing.T) {
	r := newRig(t)
	ctx := context.Background()
	const per = 7
	providers := append([]string{fakepush.APNs, fakepush.FCM}, fakepush.Makers...)
	uid := int64(1000)
	for _, p := range providers {
		for k := range per {
			switch p {
			case fakepush.APNs:
				// Bound without a name or platform (/user/register/push):
				// an APNs-shaped token goes to the APNs default.
				r.bind(testApp, uid, 1, 0, apnsToken(1000+int(uid)), "")
			case fakepush.FCM:
				// Without a name on Android: the app's Android default.
				r.bind(testApp, uid, 1, 2, fmt.Sprintf("fcm-m-%d", k), "")
			default:
				r.bind(testApp, uid, 1, 2, fmt.Sprintf("%s-m-%d", p, k), p)
			}
			if err := r.st.AddTags(ctx, testApp, uid, "mixed"); err != nil {
				t.Fatal(err)
			}
			uid++
		}
	}
	one := 1
	spec, _ := json.Marshal(Campaign{Audience: Audience{Tags: []string{"mixed"}}, Setting: CampaignSetting{DistributionStrategy: OspushOnly},
		Message: CampaignMessage{Type: "text", Title: "Sale", Body: "50% off",
			Huawei: &VendorOptions{ChannelID: "hw-promo", BadgeClass: "com.example.Main"},
			Xiaomi: &VendorOptions{ChannelID: "mi-promo"}, OPPO: &VendorOptions{ChannelID: "op-promo"},
			Vivo: &VendorOptions{Classification: &one}, Flyme: &VendorOptions{ClickAction: "intent", Intent: "intent:#Intent;end"},
			Honor: &VendorOptions{BadgeClass: "com.example.Main"}}})
	id, _, err := r.st.CreatePushTask(ctx, testApp, spec, "", time.Hour, time.Hour, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	var c map[string]int64
	waitFor(t, "campaign counters", func() bool {
		task, err := r.st.PushTask(ctx, testApp, id)
		if err != nil {
			t.Fatal(err)
		}
		c = task.Counters
		for _, ch := range []string{"apns", "fcm", "huawei", "honor", "xiaomi", "oppo", "vivo", "flyme"} {
			if c[ch+"_received"] != per {
				return false
			}
		}
		return task.State == store.TaskExpanded
	})
	for _, ch := range []string{"apns", "fcm", "huawei", "honor", "xiaomi", "oppo", "vivo", "flyme"} {
		if c[ch+"_target"] != per || c[ch+"_sent"] != per {
			t.Errorf("%s: target %d sent %d, want %d", ch, c[ch+"_target"], c[ch+"_sent"], per)
		}
	}
	for p, want := range map[string]string{fakepush.Huawei: `"channel_id":"hw-promo"`, fakepush.Xiaomi: `"extra.channel_id":"mi-promo"`,
		fakepush.OPPO: `"channel_id":"op-promo"`, fakepush.Vivo: `"classification":1`, fakepush.Meizu: `"clickType":1`,
		fakepush.Honor: `"badgeClass":"com.example.Main"`} {
		ns := r.fake.Received(p, p+"-m-0")
		if len(ns) != 1 || !strings.Contains(string(ns[0].Payload), want) {
			t.Errorf("%s: payload lacks %s: %s", p, want, ns)
		}
	}
}

func counterValue(t *testing.T, c prometheus.Counter) float64 {
	t.Helper()
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		t.Fatal(err)
	}
	return m.GetCounter().GetValue()
}
