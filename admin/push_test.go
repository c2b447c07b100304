package admin_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/chatgate/chatgate/client"
	"github.com/chatgate/chatgate/internal/auth"
	"github.com/chatgate/chatgate/internal/config"
	"github.com/chatgate/chatgate/internal/fakepush"
	"github.com/chatgate/chatgate/internal/redistest"
	"github.com/chatgate/chatgate/internal/server"
	"github.com/chatgate/chatgate/pushworker"
	"github.com/chatgate/chatgate/store"
)

// TestPushNotifyBadInput runs on the shared server: nothing here reaches a
// provider, so its push worker's missing credentials do not matter.
func TestPushNotifyBadInput(t *testing.T) {
	e := newEnv(t)
	msg := map[string]any{"title": "t", "body": "b"}
	list := func(n int) []string {
		out := make([]string, n)
		for i := range out {
			out[i] = fmt.Sprintf("tag%d", i)
		}
		return out
	}
	users := make([]int64, 501)
	for i := range users {
		users[i] = int64(i + 1)
	}
	for _, tc := range []struct {
		name string
		body any
		code int
	}{
		{"no body", "", 10002},
		{"not json", "{", 10002},
		{"no audience", map[string]any{"message": msg}, 10002},
		{"empty audience", map[string]any{"audience": map[string]any{}, "message": msg}, 10002},
		{"empty tag list", map[string]any{"audience": map[string]any{"tag": []string{}}, "message": msg}, 10002},
		{"two lists", map[string]any{"audience": map[string]any{"tag": []string{"a"}, "alias": []string{"b"}}, "message": msg}, 10002},
		{"unknown audience", map[string]any{"audience": map[string]any{"color": []string{"red"}}, "message": msg}, 10002},
		{"audience string not all", map[string]any{"audience": "everyone", "message": msg}, 10002},
		{"bad user id", map[string]any{"audience": map[string]any{"user_id": []any{-3}}, "message": msg}, 10002},
		{"user id not a number", map[string]any{"audience": map[string]any{"user_id": []any{"x"}}, "message": msg}, 10002},
		{"blank tag", map[string]any{"audience": map[string]any{"tag": []string{" "}}, "message": msg}, 10002},
		{"tag list over 500", map[string]any{"audience": map[string]any{"tag": list(501)}, "message": msg}, 12005},
		{"user list over 500", map[string]any{"audience": map[string]any{"user_id": users}, "message": msg}, 12005},
		{"token list over 500", map[string]any{"audience": map[string]any{"push_token": list(501)}, "message": msg}, 12005},
		{"no message", map[string]any{"audience": "all"}, 10002},
		{"empty message", map[string]any{"audience": "all", "message": map[string]any{}}, 10002},
		{"unknown type", map[string]any{"audience": "all", "message": map[string]any{"type": "video", "body": "x"}}, 10002},
		{"image without url", map[string]any{"audience": "all", "message": map[string]any{"type": "image", "body": "x"}}, 10002},
		{"attachment not http", map[string]any{"audience": "all", "message": map[string]any{"body": "x", "attachment_url": "ftp://x"}}, 10002},
		{"badge not a number", map[string]any{"audience": "all", "message": map[string]any{"body": "x", "badge": "+x"}}, 10002},
		{"badge negative", map[string]any{"audience": "all", "message": map[string]any{"body": "x", "badge": "-1"}}, 10002},
		{"badge too big", map[string]any{"audience": "all", "message": map[string]any{"body": "x", "badge": "100000"}}, 10002},
		{"ext not an object", map[string]any{"audience": "all", "message": map[string]any{"body": "x", "ext": []int{1}}}, 10002},
		{"oversize payload", map[string]any{"audience": "all", "message": map[string]any{"body": strings.Repeat("é", 2100)}}, 10002},
		{"unknown strategy", map[string]any{"audience": "all", "message": msg, "setting": map[string]any{"distribution_strategy": "pigeon"}}, 10002},
		{"long request_id", map[string]any{"audience": "all", "message": msg, "setting": map[string]any{"request_id": strings.Repeat("r", 129)}}, 10002},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e.t = t
			e.wantCode(tc.code, "POST", "/push/notify", nil, tc.body)
		})
	}
	e.t = t
	// Nothing half-written: no task was created by any of the above, and
	// the first accepted campaign is task 1.
	if n, _ := e.rdb.Exists(context.Background(), seqKey(e.app)).Result(); n != 0 {
		t.Fatal("a refused campaign allocated a task id")
	}
	var ok struct {
		TaskID int64 `json:"task_id"`
	}
	e.ok("POST", "/push/notify", nil, map[string]any{"audience": map[string]any{"user_id": []int64{1}}, "message": msg}).into(t, &ok)
	if ok.TaskID != 1 {
		t.Fatalf("first task id %d, want 1", ok.TaskID)
	}
	if n, _ := e.rdb.Exists(context.Background(), seqKey(e.app), store.PushTaskKey(e.app, 1)).Result(); n != 2 {
		t.Fatalf("%d of the task keys exist, want 2", n)
	}

	t.Run("task detail input", func(t *testing.T) {
		e.t = t
		e.wantCode(10002, "POST", "/push/task/detail", nil, map[string]any{"list": []int64{}})
		e.wantCode(10002, "POST", "/push/task/detail", nil, map[string]any{"list": "1"})
		long := make([]int64, 501)
		e.wantCode(12005, "POST", "/push/task/detail", nil, map[string]any{"list": long})
		var got []map[string]any
		e.ok("POST", "/push/task/detail", nil, map[string]any{"list": []int64{987654}}).into(t, &got)
		if len(got) != 0 {
			t.Fatalf("unknown task: %v", got)
		}
	})
	t.Run("certificate", func(t *testing.T) {
		e.t = t
		e.wantCode(10002, "GET", "/push/certificate", nil, nil)
		e.wantCode(10002, "GET", "/push/certificate?provider=9", nil, nil)
		e.wantCode(10002, "GET", "/push/certificate?provider=x", nil, nil)
		e.wantCode(10002, "GET", "/push/certificate?provider=1&environment=2", nil, nil)
		e.wantCode(12006, "GET", "/push/certificate?provider=3", nil, nil)
		// The shared server's apps have no credentials.
		e.wantCode(12006, "GET", "/push/certificate?provider=1", nil, nil)
		e.wantCode(12006, "GET", "/push/certificate?provider=7", nil, nil)
	})
}

func TestPushPermission(t *testing.T) {
	e := newEnv(t)
	other := newEnv(t)
	body := map[string]any{"audience": "all", "message": map[string]any{"body": "x"}}
	for _, rt := range []struct{ method, path string }{{"POST", "/push/notify"}, {"POST", "/push/task/detail"}, {"GET", "/push/certificate?provider=1"}} {
		var b any
		switch rt.path {
		case "/push/notify":
			b = body
		case "/push/task/detail":
			b = map[string]any{"list": []int64{1}}
		}
		e.wantCode(10010, rt.method, rt.path, map[string]string{"access-token": e.userToken(7)}, b)
		// An admin token of another app never acts on this one.
		e.wantCode(10008, rt.method, rt.path, map[string]string{"access-token": other.admin}, b)
		e.wantCode(10003, rt.method, rt.path, map[string]string{"access-token": ""}, b)
	}
	if n, _ := e.rdb.Exists(context.Background(), seqKey(e.app), seqKey(other.app)).Result(); n != 0 {
		t.Fatal("a refused campaign allocated a task id")
	}
}

// seqKey is the task id counter of app (store's pushTaskSeqKey).
func seqKey(app string) string { return "cg:a:{" + app + "}:pt:seq" }

// pushEnv is an env on a server of its own, on its own Redis, whose app
// has push credentials pointing at a fake APNs/FCM. It has its own Redis
// because the shared server's push worker (without credentials) would
// otherwise take a share of the jobs.
type pushEnv struct {
	*env
	fake *fakepush.Server
}

// newPushEnv runs a server whose app sends to the fake; with changes the
// app's push configuration is edited first.
func newPushEnv(t *testing.T, changes ...func(*config.AppPush)) *pushEnv {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	fake, err := fakepush.Start(ctx, fakepush.Options{KeepPayloads: true})
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	rs, err := redistest.StartServer()
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	pushCfg, err := fake.WriteCredentials(t.TempDir())
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	for _, c := range changes {
		c(&pushCfg)
	}
	app, secret := "pushapp", "test-secret-of-at-least-16-bytes"
	cfg := config.Default()
	cfg.Redis.Addr = rs.Addr
	cfg.Node = fmt.Sprintf("pushtest-%d", time.Now().UnixNano()%1e9)
	cfg.Gateway.Listen, cfg.Admin.Listen, cfg.Metrics.Listen = "127.0.0.1:0", "127.0.0.1:0", ""
	cfg.Router.Partitions = 2
	cfg.Admin.RateLimit = 0
	cfg.Admin.PasswordCost = 4
	cfg.Apps = []config.App{{ID: app, Secret: secret, Name: "push test", Users: "any", Push: pushCfg}}
	logs := &lockedWriter{}
	log := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelInfo}))
	started := make(chan server.Info, 1)
	done := make(chan error, 1)
	go func() {
		done <- server.RunWith(ctx, cfg, log, server.Options{Stdout: io.Discard, OnStart: func(i server.Info) { started <- i }})
	}()
	var info server.Info
	select {
	case info = <-started:
	case err := <-done:
		cancel()
		rs.Stop()
		t.Fatalf("push server did not start: %v\n%s", err, logs)
	case <-time.After(30 * time.Second):
		t.Fatalf("push server did not start in 30s\n%s", logs)
	}
	rdb := redis.NewClient(&redis.Options{Addr: rs.Addr})
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("push server: %v", err)
		}
		if t.Failed() {
			t.Logf("push server logs:\n%s", logs)
		}
		rdb.Close()
		rs.Stop()
	})
	e := &env{t: t, base: "http://" + info.AdminAddr, gw: "ws://" + info.GatewayAddr + "/ws", app: app, secret: secret,
		st: store.New(rdb, store.Options{}), rdb: rdb, hc: &http.Client{Timeout: 15 * time.Second}}
	e.admin = e.token(auth.RoleAdmin, 0)
	return &pushEnv{env: e, fake: fake}
}

// device registers a device with a push token, as /user/token/bind does.
func (p *pushEnv) device(uid int64, sn int32, notifier, tok string) {
	p.t.Helper()
	ctx := context.Background()
	if err := p.st.SetPushToken(ctx, p.app, uid, sn, tok, notifier, time.Now().Add(-time.Hour)); err != nil {
		p.t.Fatal(err)
	}
	if err := p.rdb.ZAdd(ctx, store.AppUsersKey(p.app), redis.Z{Score: float64(time.Now().UnixMilli()), Member: uid}).Err(); err != nil {
		p.t.Fatal(err)
	}
}

// notify starts a campaign and returns its task id.
func (p *pushEnv) notify(body any) int64 {
	p.t.Helper()
	var r struct {
		TaskID int64 `json:"task_id"`
	}
	p.ok("POST", "/push/notify", nil, body).into(p.t, &r)
	if r.TaskID <= 0 {
		p.t.Fatalf("task_id %d", r.TaskID)
	}
	return r.TaskID
}

// detail waits until task is expanded and every vendor push it targeted
// has an outcome, and returns its statistics.
func (p *pushEnv) detail(task int64) map[string]int64 {
	p.t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		var got []map[string]any
		p.ok("POST", "/push/task/detail", nil, map[string]any{"list": []int64{task}}).into(p.t, &got)
		if len(got) != 1 {
			p.t.Fatalf("detail of %d: %v", task, got)
		}
		d := map[string]int64{}
		for k, v := range got[0] {
			if f, ok := v.(float64); ok {
				d[k] = int64(f)
			}
		}
		var received, target int64
		for _, ch := range store.PushChannels {
			if ch != "mxpush" {
				received, target = received+d[ch+"_received"], target+d[ch+"_target"]
			}
		}
		done := got[0]["state"] == "expanded" && received+d["errors"]+d["dropped"]+d["invalid"]+d["dead"] >= target
		if done {
			return d
		}
		if time.Now().After(deadline) {
			p.t.Fatalf("task %d not finished: %v", task, got[0])
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func wantCounts(t *testing.T, d map[string]int64, want map[string]int64) {
	t.Helper()
	for k, v := range want {
		if d[k] != v {
			t.Errorf("%s = %d, want %d (detail %v)", k, d[k], v, d)
		}
	}
}

// pushMsg waits for a campaign's socket message on c.
func pushMsg(t *testing.T, c *client.Conn, task int64) {
	t.Helper()
	m := msgNext(t, c)
	if m.Type != pushworker.PushMessageType || int64(m.ID) != task || m.Conv != fmt.Sprintf("push:%d", task) {
		t.Fatalf("socket message %+v, want the push of task %d", m, task)
	}
}

func TestPushNotify(t *testing.T) {
	p := newPushEnv(t)
	apns1, apns3 := strings.Repeat("a1", 32), strings.Repeat("a3", 32)
	p.device(1, 1, "apns", apns1)        // offline iPhone
	p.device(2, 1, "fcm", "fcm-token-2") // offline Android
	p.device(3, 1, "apns", apns3)        // online below, with a token too
	online := msgDial(t, p.env, 3, 1)
	p.device(4, 1, "", "") // no token, offline: unreachable
	audience := map[string]any{"user_id": []int64{1, 2, 3, 4}}
	msg := map[string]any{"title": "Sale", "body": "50% off", "ext": map[string]any{"k": "v"}}

	t.Run("certificate", func(t *testing.T) {
		p.t = t
		var c map[string]string
		// The fake is a sandbox (development) APNs.
		p.ok("GET", "/push/certificate?provider=1&environment=0", nil, nil).into(t, &c)
		// name is the certificate name devices bind with.
		if c["app_key"] != p.fake.KeyID() || c["name"] != "apns" || c["app_secret"] != "" {
			t.Fatalf("apns certificate %v", c)
		}
		p.ok("GET", "/push/certificate?provider=7", nil, nil).into(t, &c)
		if c["app_key"] != p.fake.Project() {
			t.Fatalf("fcm certificate %v", c)
		}
		p.wantCode(12006, "GET", "/push/certificate?provider=1", nil, nil)
	})

	t.Run("combined", func(t *testing.T) {
		p.t = t
		task := p.notify(map[string]any{"audience": audience, "message": msg})
		d := p.detail(task)
		wantCounts(t, d, map[string]int64{"apns_target": 1, "apns_sent": 1, "apns_received": 1, "fcm_target": 1, "fcm_sent": 1, "fcm_received": 1,
			"mxpush_target": 1, "mxpush_sent": 1, "mxpush_received": 1, "errors": 0, "duplicates": 0})
		if n1, n2, n3 := p.fake.Count(fakepush.APNs, apns1), p.fake.Count(fakepush.FCM, "fcm-token-2"), p.fake.Count(fakepush.APNs, apns3); n1 != 1 || n2 != 1 || n3 != 0 {
			t.Fatalf("fake received apns1 %d fcm2 %d apns3 (online) %d, want 1 1 0", n1, n2, n3)
		}
		ns := p.fake.Received(fakepush.APNs, apns1)
		if s := string(ns[0].Payload); !strings.Contains(s, `"Sale"`) || !strings.Contains(s, `"50% off"`) {
			t.Fatalf("apns payload %s", s)
		}
		pushMsg(t, online, task)
	})

	t.Run("ospush_only", func(t *testing.T) {
		p.t = t
		task := p.notify(map[string]any{"audience": audience, "message": msg, "setting": map[string]any{"distribution_strategy": "ospush_only"}})
		d := p.detail(task)
		wantCounts(t, d, map[string]int64{"apns_target": 2, "apns_received": 2, "fcm_target": 1, "fcm_received": 1, "mxpush_target": 0})
		if n := p.fake.Count(fakepush.APNs, apns3); n != 1 {
			t.Fatalf("online device's token got %d pushes, want 1", n)
		}
		msgNone(t, online)
	})

	t.Run("mxpush_only", func(t *testing.T) {
		p.t = t
		before := p.fake.Stats(fakepush.APNs).Accepted + p.fake.Stats(fakepush.FCM).Accepted
		task := p.notify(map[string]any{"audience": audience, "message": msg, "setting": map[string]any{"distribution_strategy": "mxpush_only"}})
		d := p.detail(task)
		wantCounts(t, d, map[string]int64{"apns_target": 0, "fcm_target": 0, "mxpush_target": 1, "mxpush_received": 1})
		pushMsg(t, online, task)
		if after := p.fake.Stats(fakepush.APNs).Accepted + p.fake.Stats(fakepush.FCM).Accepted; after != before {
			t.Fatalf("mxpush_only reached the vendors: %d -> %d", before, after)
		}
	})

	t.Run("request_id", func(t *testing.T) {
		p.t = t
		body := map[string]any{"audience": map[string]any{"push_token": []string{apns1}}, "message": msg, "setting": map[string]any{"request_id": "req-1"}}
		task := p.notify(body)
		wantCounts(t, p.detail(task), map[string]int64{"apns_target": 1, "apns_received": 1, "fcm_target": 0})
		before := p.fake.Count(fakepush.APNs, apns1)
		if again := p.notify(body); again != task {
			t.Fatalf("same request_id: task %d, want %d", again, task)
		}
		time.Sleep(300 * time.Millisecond)
		wantCounts(t, p.detail(task), map[string]int64{"apns_target": 1, "apns_received": 1})
		if n := p.fake.Count(fakepush.APNs, apns1); n != before {
			t.Fatalf("a repeated request_id pushed again: %d -> %d", before, n)
		}
		body["setting"] = map[string]any{"request_id": "req-2"}
		if other := p.notify(body); other == task {
			t.Fatal("another request_id got the same task")
		}
	})

	t.Run("all with badge", func(t *testing.T) {
		p.t = t
		task := p.notify(map[string]any{"audience": "all", "message": map[string]any{"body": "hi", "badge": "7"}})
		wantCounts(t, p.detail(task), map[string]int64{"apns_target": 1, "fcm_target": 1, "mxpush_target": 1, "apns_received": 1, "fcm_received": 1})
		ns := p.fake.Received(fakepush.APNs, apns1)
		if s := string(ns[len(ns)-1].Payload); !strings.Contains(s, `"badge":7`) {
			t.Fatalf("badge \"7\" did not set the badge: %s", s)
		}
		pushMsg(t, online, task)
	})

	t.Run("provider failures counted", func(t *testing.T) {
		p.t = t
		apns5 := strings.Repeat("a5", 32)
		p.device(5, 1, "apns", apns5)
		p.device(6, 1, "fcm", "fcm-token-6")
		p.device(7, 1, "fcm", "fcm-token-7")
		p.fake.FailToken(fakepush.APNs, apns5, fakepush.Fault{Status: 413})
		p.fake.FailToken(fakepush.FCM, "fcm-token-6", fakepush.Fault{Status: 400})
		p.fake.FailToken(fakepush.FCM, "fcm-token-7", fakepush.Fault{Status: 403})
		defer p.fake.ClearFaults()
		task := p.notify(map[string]any{"audience": map[string]any{"user_id": []int64{5, 6, 7}}, "message": msg})
		wantCounts(t, p.detail(task), map[string]int64{"apns_target": 1, "fcm_target": 2, "apns_received": 0, "fcm_received": 0, "errors": 2, "invalid": 1})
		// SENDER_ID_MISMATCH removes the token.
		devs, err := p.st.Devices(context.Background(), p.app, 7)
		if err != nil || len(devs) != 1 || devs[0].PushToken != "" {
			t.Fatalf("devices of 7: %+v %v: token not removed", devs, err)
		}
	})
}
