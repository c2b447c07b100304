package loadtest

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chatgate/chatgate/internal/config"
	"github.com/chatgate/chatgate/internal/fakepush"
	"github.com/chatgate/chatgate/internal/redistest"
	"github.com/chatgate/chatgate/internal/server"
)

// startPushServer runs one chatgate process with every role whose app
// sends to fake, and returns its addresses.
func startPushServer(t *testing.T, fake *fakepush.Server) server.Info {
	t.Helper()
	push, err := fake.WriteCredentials(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	cfg := config.Default()
	cfg.Node = "lt-push"
	cfg.Roles = []string{config.RoleGateway, config.RoleRouter, config.RoleAdmin, config.RolePushWorker}
	cfg.Redis.Addr = redistest.Start(t)
	cfg.Gateway.Listen, cfg.Metrics.Listen, cfg.Admin.Listen = "127.0.0.1:0", "127.0.0.1:0", "127.0.0.1:0"
	// bcrypt at its cheapest: registering users is setup, not the subject.
	cfg.Admin.PasswordCost = 4
	cfg.Apps = []config.App{{ID: e2eApp, Secret: e2eSecret, Name: "loadtest push", Users: "any", Push: push}}
	return runServer(t, cfg)
}

func TestPushScenario(t *testing.T) {
	if testing.Short() {
		t.Skip("starts redis-server, chatgate and a fake APNs/FCM")
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	fake, err := fakepush.Start(ctx, fakepush.Options{})
	if err != nil {
		t.Fatal(err)
	}
	info := startPushServer(t, fake)

	c := DefaultConfig()
	c.Scenario, c.AppID, c.AppSecret = ScenarioPush, e2eApp, e2eSecret
	c.Targets = []Target{{Name: "pw1", Role: RolePushWorker, Metrics: "http://" + info.MetricsAddr}}
	c.API, c.FakePush = "http://"+info.AdminAddr, fake
	c.Connections, c.DevicesPerUser = 200, 2
	c.Duration, c.Drain, c.APIWait = 15*time.Second, 2*time.Second, 10*time.Second
	dir := t.TempDir()
	c.JSONPath, c.HTMLPath = filepath.Join(dir, "push.json"), filepath.Join(dir, "push.html")

	var out bytes.Buffer
	res, err := Run(context.Background(), c, &out)
	if err != nil {
		t.Fatal(err)
	}
	t.Log(out.String())
	if !res.OK {
		t.Fatalf("push failed: %v", res.Failures)
	}
	p := res.Push
	if p == nil || p.Devices != 200 || p.APNs != 100 || p.FCM != 100 {
		t.Fatalf("push report %+v", p)
	}
	if p.Reached != 200 || p.Lost != 0 || p.Unexpected != 0 || p.PushRate <= 0 || p.APNsRate <= 0 || p.FCMRate <= 0 {
		t.Fatalf("reached %d lost %d unexpected %d rate %.0f (%.0f, %.0f)", p.Reached, p.Lost, p.Unexpected, p.PushRate, p.APNsRate, p.FCMRate)
	}
	if p.Fake[fakepush.APNs].Tokens != 100 || p.Fake[fakepush.FCM].Tokens != 100 {
		t.Fatalf("fake counts %+v", p.Fake)
	}
	if p.Reach.Count != 200 || p.Reach.MaxMs <= 0 {
		t.Fatalf("reach latency %+v", p.Reach)
	}
	if l := res.Ledger; l == nil || l.Expected != 200 || l.Delivered != 200 || l.Lost != 0 {
		t.Fatalf("ledger %v", res.Ledger)
	}
	if v, _ := p.Task["apns_received"].(float64); v != 100 {
		t.Fatalf("task detail %v", p.Task)
	}
	if len(res.Servers) != 1 || res.Servers[0].Error != "" || res.Servers[0].RSSAfterBytes <= 0 ||
		res.Servers[0].Counters["chatgate_push_sends_total"] <= 0 && len(res.Servers[0].Counters) == 0 {
		t.Fatalf("push worker scrape %+v", res.Servers)
	}
	for _, want := range []string{"chatgate loadtest push: PASS", "push/s (APNs", "lost 0", "ledger: acked=1 expected=200 delivered=200 lost=0", "pw1"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("summary lacks %q", want)
		}
	}
	b, err := os.ReadFile(c.JSONPath)
	if err != nil {
		t.Fatal(err)
	}
	var js struct {
		OK   bool `json:"ok"`
		Push struct {
			Reached  int     `json:"reached"`
			Lost     int     `json:"lost"`
			PushRate float64 `json:"push_rate"`
		} `json:"push"`
	}
	if err := json.Unmarshal(b, &js); err != nil || !js.OK || js.Push.Reached != 200 || js.Push.Lost != 0 || js.Push.PushRate <= 0 {
		t.Fatalf("JSON result %s (%v)", b, err)
	}
	if h, err := os.ReadFile(c.HTMLPath); err != nil || !bytes.Contains(h, []byte("push/notify -&gt; device")) {
		t.Fatalf("HTML report lacks the push latency (%v)", err)
	}

	// A second campaign where the fake refuses every FCM token for good:
	// the ledger must name the loss and the run fail.
	t.Run("lost", func(t *testing.T) {
		fake.FailNext(fakepush.FCM, fakepush.Fault{Status: 400, Reason: "INVALID_ARGUMENT"})
		defer fake.ClearFaults()
		lc := c
		lc.Connections, lc.DevicesPerUser, lc.Duration = 20, 1, 5*time.Second
		lc.JSONPath, lc.HTMLPath = "", ""
		var out bytes.Buffer
		res, err := Run(context.Background(), lc, &out)
		if err != nil {
			t.Fatal(err)
		}
		if res.OK || res.Push.Lost != 10 || res.Ledger.Lost != 10 || len(res.Push.LostExamples) == 0 {
			t.Fatalf("want a failed run with 10 lost FCM devices: ok=%v push=%+v\n%s", res.OK, res.Push, out.String())
		}
		if !strings.Contains(out.String(), "10 of 20 devices received no push") {
			t.Errorf("summary does not name the loss:\n%s", out.String())
		}
	})
}

func TestPushConfig(t *testing.T) {
	base := DefaultConfig()
	base.Scenario, base.AppSecret, base.API, base.FakePushDir = ScenarioPush, "0123456789abcdef", "http://127.0.0.1:8081", t.TempDir()
	if err := base.Validate(); err != nil {
		t.Fatalf("valid push config refused: %v", err)
	}
	for _, tc := range []struct {
		name string
		edit func(*Config)
		want string
	}{
		{"no api", func(c *Config) { c.API = "" }, "REST API"},
		{"no fake", func(c *Config) { c.FakePushDir = "" }, "fakepush-dir"},
		{"audience", func(c *Config) { c.PushAudience = "everyone" }, "audience"},
		{"token file", func(c *Config) { c.Tokens = map[int64]string{1: "x"} }, "app secret"},
		{"workers", func(c *Config) { c.Workers = 2 }, "one process"},
		{"duration", func(c *Config) { c.Duration = 0 }, "duration"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := base
			tc.edit(&c)
			err := c.Validate()
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want an error about %q", err, tc.want)
			}
		})
	}
	remote := base
	remote.API = "http://10.1.2.3:8081"
	if err := CheckTargets(remote); err == nil {
		t.Fatal("a remote REST API was accepted without -allow-remote")
	}
}
