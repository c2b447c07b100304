package pushworker

import (
	"context"
	"encoding/json"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/chatgate/chatgate/internal/bus"
	"github.com/chatgate/chatgate/internal/config"
	"github.com/chatgate/chatgate/internal/fakepush"
	"github.com/chatgate/chatgate/internal/redistest"
	"github.com/chatgate/chatgate/store"
)

func TestInWindowAndDecide(t *testing.T) {
	ny, err := time.LoadLocation("America/New_York")
	if err != nil {
		t.Skip("no tzdata:", err)
	}
	for _, tc := range []struct {
		name       string
		start, end int
		loc        *time.Location
		at         time.Time
		want       string
	}{
		{"off", 0, 0, time.UTC, time.Date(2025, 1, 1, 3, 0, 0, 0, time.UTC), outSend},
		{"inside", 9, 17, time.UTC, time.Date(2025, 1, 1, 12, 0, 0, 0, time.UTC), outQuietHours},
		{"end excluded", 9, 17, time.UTC, time.Date(2025, 1, 1, 17, 0, 0, 0, time.UTC), outSend},
		{"wraps: before midnight", 22, 7, time.UTC, time.Date(2025, 1, 1, 23, 30, 0, 0, time.UTC), outQuietHours},
		{"wraps: after midnight", 22, 7, time.UTC, time.Date(2025, 1, 1, 6, 59, 0, 0, time.UTC), outQuietHours},
		{"wraps: daytime", 22, 7, time.UTC, time.Date(2025, 1, 1, 12, 0, 0, 0, time.UTC), outSend},
		// 07:30 UTC on the day New York springs forward is 03:30 EDT
		// (a fixed UTC-5 would say 02:30).
		{"dst: after the change", 3, 4, ny, time.Date(2025, 3, 9, 7, 30, 0, 0, time.UTC), outQuietHours},
		{"dst: before the change", 3, 4, ny, time.Date(2025, 3, 9, 6, 30, 0, 0, time.UTC), outSend},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st := store.DefaultSettings()
			st.NoPushStartHour, st.NoPushEndHour = tc.start, tc.end
			if got, _ := decide(st, tc.loc, tc.at, false); got != tc.want {
				t.Errorf("decide = %s, want %s", got, tc.want)
			}
			if got, _ := decide(st, tc.loc, tc.at, true); got != outSend {
				t.Errorf("silent push: %s, want send", got)
			}
		})
	}
	st := store.DefaultSettings()
	st.NoPush = true
	if got, _ := decide(st, time.UTC, time.Now(), false); got != outNoPush {
		t.Errorf("no_push: %s", got)
	}
}

func TestCampaignValidation(t *testing.T) {
	long := make([]string, 501)
	for i := range long {
		long[i] = "t"
	}
	lb, _ := json.Marshal(map[string]any{"tag": long})
	for _, tc := range []struct {
		aud     string
		tooLong bool
		ok      bool
	}{
		{`"all"`, false, true}, {`{"user_id":[1,2]}`, false, true}, {`""`, false, false}, {`{}`, false, false},
		{`{"tag":[]}`, false, false}, {`{"color":["x"]}`, false, false}, {string(lb), true, false}, {`{"user_id":[-1]}`, false, false},
	} {
		_, tooLong, err := ParseAudience(json.RawMessage(tc.aud))
		if (err == nil) != tc.ok || tooLong != tc.tooLong {
			t.Errorf("audience %.40s: err %v tooLong %v", tc.aud, err, tooLong)
		}
	}
	for _, tc := range []struct {
		m     CampaignMessage
		field string
	}{
		{CampaignMessage{Type: "video", Body: "x"}, "message.type"},
		{CampaignMessage{Body: "x", Badge: "+x"}, "message.badge"},
		{CampaignMessage{Body: strings.Repeat("é", 3000)}, "message"},
		{CampaignMessage{}, "message"},
		{CampaignMessage{Type: "cmd"}, ""},
		{CampaignMessage{Body: "hi", Badge: "5"}, ""},
	} {
		c := Campaign{Audience: Audience{All: true}, Message: tc.m}
		if field, _ := c.Validate(); field != tc.field {
			t.Errorf("%+v: field %q, want %q", tc.m, field, tc.field)
		}
	}
}

// rig is a worker on a real redis-server against the fake APNs/FCM.
type rig struct {
	t    *testing.T
	fake *fakepush.Server
	st   *store.Store
	rdb  *redis.Client
	w    *Worker
	now  atomic.Int64
	app  string
}

const (
	testApp   = "pw"
	noCredApp = "pwnone"
)

// newRig starts the rig; extra builds more apps from the fake's
// credentials.
func newRig(t *testing.T, extra ...func(config.AppPush) config.App) *rig {
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	fake, err := fakepush.Start(ctx, fakepush.Options{KeepPayloads: true})
	if err != nil {
		t.Fatal(err)
	}
	pushCfg, err := fake.WriteCredentials(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	apps := []config.App{{ID: testApp, Secret: "0123456789abcdef0123", Push: pushCfg}}
	for _, e := range extra {
		apps = append(apps, e(pushCfg))
	}
	cfg := config.Default().Push
	cfg.RetryBase, cfg.RetryMax, cfg.MaxAttempts, cfg.ClaimIdle = 20*time.Millisecond, 80*time.Millisecond, 3, time.Second
	cfg.SendTimeout = 2 * time.Second
	rdb := redistest.Client(t)
	st := store.New(rdb, store.Options{})
	r := &rig{t: t, fake: fake, st: st, rdb: rdb, app: testApp}
	r.now.Store(time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC).UnixMilli())
	w, err := New(ctx, cfg, apps, 4, Deps{Store: st, Node: "pw-test", Now: func() time.Time { return time.UnixMilli(r.now.Load()) }})
	if err != nil {
		t.Fatal(err)
	}
	r.w = w
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("worker: %v", err)
		}
	})
	for !w.Ready() {
		time.Sleep(5 * time.Millisecond)
	}
	return r
}

// apnsToken makes a valid 64-hex-digit token.
func apnsToken(n int) string {
	return strings.Repeat("ab", 30) + strings.Repeat("0", 4-len(itoa(n))) + itoa(n)
}

func itoa(n int) string { b, _ := json.Marshal(n); return string(b) }

func (r *rig) device(app string, uid int64, sn int32, platform int, tok string) {
	r.t.Helper()
	ctx := context.Background()
	if err := r.st.UpdateDevice(ctx, app, uid, sn, func(d *store.Device) { d.Platform = platform }); err != nil {
		r.t.Fatal(err)
	}
	if err := r.st.SetPushToken(ctx, app, uid, sn, tok, "", time.UnixMilli(r.now.Load()).Add(-time.Hour)); err != nil {
		r.t.Fatal(err)
	}
	if err := r.rdb.ZAdd(ctx, store.AppUsersKey(app), redis.Z{Score: 1, Member: uid}).Err(); err != nil {
		r.t.Fatal(err)
	}
}

// message queues a push job as the router does.
func (r *rig) message(app string, uid int64, sn int32, platform int, tok string, from int64, content string) {
	r.t.Helper()
	j := bus.PushJob{
		PushDevice:  bus.PushDevice{App: app, User: uid, Device: sn, Platform: platform, PushToken: tok, Lead: true},
		PushMessage: bus.PushMessage{MsgID: time.Now().UnixNano(), Conv: "u:1:2", From: from, Type: "text", Content: content, TS: r.now.Load()},
	}
	v, _ := bus.Encode(&j)
	if err := r.rdb.XAdd(context.Background(), &redis.XAddArgs{Stream: bus.PushStream(bus.PushPartition(app, uid, 4)), Values: v}).Err(); err != nil {
		r.t.Fatal(err)
	}
}

// settings stores settings of a user of testApp.
func (r *rig) settings(uid int64, kv map[string]any) {
	r.t.Helper()
	if err := r.st.SetSettings(context.Background(), testApp, uid, kv); err != nil {
		r.t.Fatal(err)
	}
}

// settle waits until every push stream and retry set is empty.
func (r *rig) settle() {
	r.t.Helper()
	ctx := context.Background()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		n := int64(0)
		for q := 0; q < 4; q++ {
			// One transaction: a due job moves from the delay set to the
			// stream between two separate reads, and would be missed.
			var xl *redis.IntCmd
			var zc *redis.IntCmd
			if _, err := r.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
				xl = p.XLen(ctx, bus.PushStream(q))
				zc = p.ZCard(ctx, DelayKey(q))
				return nil
			}); err != nil {
				r.t.Fatalf("read push backlog: %v", err)
			}
			n += xl.Val() + zc.Val()
		}
		if n == 0 {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	r.t.Fatal("push streams did not drain")
}

func lastAPS(t *testing.T, ns []fakepush.Notification) map[string]any {
	t.Helper()
	if len(ns) == 0 {
		t.Fatal("no push received")
	}
	var p struct {
		APS map[string]any `json:"aps"`
	}
	if err := json.Unmarshal(ns[len(ns)-1].Payload, &p); err != nil {
		t.Fatal(err)
	}
	return p.APS
}

func TestWorker(t *testing.T) {
	r := newRig(t)
	ctx := context.Background()
	r.settings(2, map[string]any{"push_nick_name": "Alice"})

	t.Run("apns title body badge", func(t *testing.T) {
		tok := apnsToken(1)
		r.device(testApp, 10, 1, 1, tok)
		r.message(testApp, 10, 1, 1, tok, 2, "hello")
		r.settle()
		aps := lastAPS(t, r.fake.Received(fakepush.APNs, tok))
		alert := aps["alert"].(map[string]any)
		if alert["title"] != "Alice" || alert["body"] != "hello" || aps["badge"] != 1.0 {
			t.Fatalf("aps %v", aps)
		}
		r.message(testApp, 10, 1, 1, tok, 2, "again")
		r.settle()
		if b := lastAPS(t, r.fake.Received(fakepush.APNs, tok))["badge"]; b != 2.0 {
			t.Fatalf("badge %v, want 2", b)
		}
		_ = r.st.SetBadge(ctx, testApp, 10, 0)
		r.message(testApp, 10, 1, 1, tok, 2, "reset")
		r.settle()
		if b := lastAPS(t, r.fake.Received(fakepush.APNs, tok))["badge"]; b != 1.0 {
			t.Fatalf("badge after reset %v, want 1", b)
		}
	})

	t.Run("fcm", func(t *testing.T) {
		r.device(testApp, 11, 1, 2, "fcm-tok-11")
		r.message(testApp, 11, 1, 2, "fcm-tok-11", 2, "hola")
		r.settle()
		ns := r.fake.Received(fakepush.FCM, "fcm-tok-11")
		if len(ns) != 1 || !strings.Contains(string(ns[0].Payload), `"title":"Alice"`) || !strings.Contains(string(ns[0].Payload), `"body":"hola"`) {
			t.Fatalf("fcm got %d: %s", len(ns), ns)
		}
	})

	t.Run("policy", func(t *testing.T) {
		tok := apnsToken(3)
		r.device(testApp, 12, 1, 1, tok)
		r.settings(12, map[string]any{"no_push": true})
		r.message(testApp, 12, 1, 1, tok, 2, "muted")
		r.settle()
		if n := r.fake.Count(fakepush.APNs, tok); n != 0 {
			t.Fatalf("no_push: %d pushes", n)
		}
		r.settings(12, map[string]any{"no_push": false, "no_push_detail": true})
		r.message(testApp, 12, 1, 1, tok, 2, "secret")
		r.settle()
		if alert := lastAPS(t, r.fake.Received(fakepush.APNs, tok))["alert"].(map[string]any); alert["body"] != genericBody || alert["title"] != nil {
			t.Fatalf("no_push_detail: %v", alert)
		}
		// 12:00 UTC is 20:00 in Shanghai: inside 19-07, outside in UTC.
		r.settings(12, map[string]any{"no_push_detail": false, "no_push_start_hour": 19, "no_push_end_hour": 7, "time_zone": "Asia/Shanghai"})
		r.message(testApp, 12, 1, 1, tok, 2, "night")
		r.settle()
		if n := r.fake.Count(fakepush.APNs, tok); n != 1 {
			t.Fatalf("quiet hours: %d pushes, want 1 (dropped)", n)
		}
		r.settings(12, map[string]any{"time_zone": "UTC"})
		r.message(testApp, 12, 1, 1, tok, 2, "day")
		r.settle()
		if n := r.fake.Count(fakepush.APNs, tok); n != 2 {
			t.Fatalf("outside quiet hours: %d pushes, want 2", n)
		}
	})

	t.Run("muted friend", func(t *testing.T) {
		tok := apnsToken(5)
		r.device(testApp, 15, 1, 1, tok)
		if err := r.st.MakeFriends(ctx, testApp, 15, 2, "", "", time.Now()); err != nil {
			t.Fatal(err)
		}
		if err := r.st.UpdateFriend(ctx, testApp, 15, 2, func(f *store.Friend) { f.Mute = true }); err != nil {
			t.Fatal(err)
		}
		r.message(testApp, 15, 1, 1, tok, 2, "from the muted friend")
		r.message(testApp, 15, 1, 1, tok, 3, "from someone else")
		r.settle()
		ns := r.fake.Received(fakepush.APNs, tok)
		if len(ns) != 1 || !strings.Contains(string(ns[0].Payload), "someone else") {
			t.Fatalf("muted friend: got %d pushes: %s", len(ns), ns)
		}
	})

	t.Run("invalid tokens removed", func(t *testing.T) {
		tok := apnsToken(4)
		r.device(testApp, 13, 1, 1, tok)
		r.fake.FailToken(fakepush.APNs, tok, fakepush.Fault{Status: 410})
		r.message(testApp, 13, 1, 1, tok, 2, "x")
		r.device(testApp, 14, 1, 2, "fcm-dead")
		r.fake.FailToken(fakepush.FCM, "fcm-dead", fakepush.Fault{Status: 404})
		r.message(testApp, 14, 1, 2, "fcm-dead", 2, "x")
		r.settle()
		// The removal follows the provider's answer: wait for it with a
		// generous deadline, a busy machine may be slow to get there.
		for _, u := range []int64{13, 14} {
			deadline := time.Now().Add(30 * time.Second)
			for {
				devs, _ := r.st.Devices(ctx, testApp, u)
				if len(devs) == 1 && devs[0].PushToken == "" {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("user %d devices %+v: token not removed", u, devs)
				}
				time.Sleep(20 * time.Millisecond)
			}
		}
		// A token registered again after Apple's 410 timestamp stays.
		tok2 := apnsToken(5)
		r.device(testApp, 15, 1, 1, tok2)
		r.fake.FailToken(fakepush.APNs, tok2, fakepush.Fault{Status: 410, Timestamp: time.UnixMilli(r.now.Load()).Add(-2 * time.Hour)})
		r.message(testApp, 15, 1, 1, tok2, 2, "x")
		r.settle()
		if devs, _ := r.st.Devices(ctx, testApp, 15); devs[0].PushToken != tok2 {
			t.Fatal("token re-registered after the 410 timestamp was removed")
		}
	})

	t.Run("retries then success", func(t *testing.T) {
		for i, st := range []int{429, 500, 503} {
			tok := apnsToken(10 + i)
			r.device(testApp, int64(20+i), 1, 1, tok)
			r.fake.FailToken(fakepush.APNs, tok, fakepush.Fault{Status: st, Times: 2})
			r.message(testApp, int64(20+i), 1, 1, tok, 2, "retry")
		}
		r.device(testApp, 30, 1, 2, "fcm-retry")
		r.fake.FailToken(fakepush.FCM, "fcm-retry", fakepush.Fault{Status: 500, Times: 2})
		r.message(testApp, 30, 1, 2, "fcm-retry", 2, "retry")
		r.settle()
		for i := range 3 {
			if n := r.fake.Count(fakepush.APNs, apnsToken(10+i)); n != 1 {
				t.Errorf("apns retry %d: %d accepted", i, n)
			}
		}
		if n := r.fake.Count(fakepush.FCM, "fcm-retry"); n != 1 {
			t.Errorf("fcm retry: %d accepted", n)
		}
	})

	t.Run("dead letter and permanent errors", func(t *testing.T) {
		before := r.rdb.XLen(ctx, DeadLetterStream()).Val()
		tok := apnsToken(40)
		r.device(testApp, 40, 1, 1, tok)
		r.fake.FailToken(fakepush.APNs, tok, fakepush.Fault{Status: 500})
		r.message(testApp, 40, 1, 1, tok, 2, "doomed")
		tok413 := apnsToken(41)
		r.device(testApp, 41, 1, 1, tok413)
		r.fake.FailToken(fakepush.APNs, tok413, fakepush.Fault{Status: 413, Times: 1})
		r.message(testApp, 41, 1, 1, tok413, 2, "big")
		r.settle()
		if n := r.rdb.XLen(ctx, DeadLetterStream()).Val() - before; n != 1 {
			t.Fatalf("dead letters: %d, want 1", n)
		}
		if n := r.fake.Stats(fakepush.APNs).ByStatus[413]; n != 1 {
			t.Fatalf("413 answered %d times, want 1 (not retried)", n)
		}
	})

	t.Run("no credentials", func(t *testing.T) {
		r.message(noCredApp, 50, 1, 1, apnsToken(50), 2, "x")
		r.settle()
	})

	t.Run("campaign", func(t *testing.T) {
		for i := range 30 {
			if i%2 == 0 {
				r.device(testApp, int64(100+i), 1, 1, apnsToken(100+i))
			} else {
				r.device(testApp, int64(100+i), 1, 2, "fcm-c-"+itoa(i))
			}
			_ = r.st.AddTags(ctx, testApp, int64(100+i), "vip")
		}
		spec, _ := json.Marshal(Campaign{Audience: Audience{Tags: []string{"vip"}}, Setting: CampaignSetting{DistributionStrategy: Combined},
			Message: CampaignMessage{Type: "text", Title: "Sale", Body: "50% off", Badge: "+1"}})
		id, created, err := r.st.CreatePushTask(ctx, testApp, spec, "req-1", time.Hour, time.Hour, time.Now())
		if err != nil || !created {
			t.Fatal(err, created)
		}
		if again, created, _ := r.st.CreatePushTask(ctx, testApp, spec, "req-1", time.Hour, time.Hour, time.Now()); created || again != id {
			t.Fatalf("request_id not deduplicated: %d %v", again, created)
		}
		deadline := time.Now().Add(10 * time.Second)
		for {
			task, err := r.st.PushTask(ctx, testApp, id)
			if err != nil {
				t.Fatal(err)
			}
			c := task.Counters
			if task.State == store.TaskExpanded && c["apns_received"] == 15 && c["fcm_received"] == 15 {
				if c["apns_target"] != 15 || c["fcm_target"] != 15 || c["apns_sent"] != 15 {
					t.Fatalf("counters %v", c)
				}
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("campaign did not complete: %s %v", task.State, c)
			}
			time.Sleep(20 * time.Millisecond)
		}
		if aps := lastAPS(t, r.fake.Received(fakepush.APNs, apnsToken(100))); aps["alert"].(map[string]any)["title"] != "Sale" {
			t.Fatalf("campaign aps %v", aps)
		}
	})
}
