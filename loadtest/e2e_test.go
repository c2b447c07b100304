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
	"github.com/chatgate/chatgate/internal/redistest"
	"github.com/chatgate/chatgate/internal/server"
	"github.com/chatgate/chatgate/internal/servertest"
)

const (
	e2eApp    = "lt"
	e2eSecret = "loadtest-e2e-secret-0123456789"
)

// startServer runs one chatgate process in this test binary against redis
// and returns its addresses once every listener is bound.
func startServer(t *testing.T, redisAddr, node string, roles ...string) server.Info {
	t.Helper()
	cfg := config.Default()
	cfg.Node, cfg.Roles = node, roles
	cfg.Redis.Addr = redisAddr
	cfg.Gateway.Listen, cfg.Metrics.Listen = "127.0.0.1:0", "127.0.0.1:0"
	cfg.Apps = []config.App{{ID: e2eApp, Secret: e2eSecret, Name: "loadtest e2e", Users: "any"}}
	return runServer(t, cfg)
}

// runServer runs cfg in this test binary until the test ends and returns
// its addresses once every listener is bound.
func runServer(t *testing.T, cfg config.Config) server.Info {
	t.Helper()
	return servertest.Run(t, cfg)
}

// cluster starts two gateways (the first also routes) on one real Redis
// and returns the harness targets.
func cluster(t *testing.T) ([]Target, string) {
	t.Helper()
	redisAddr := redistest.Start(t)
	a := startServer(t, redisAddr, "lt-a", config.RoleGateway, config.RoleRouter)
	b := startServer(t, redisAddr, "lt-b", config.RoleGateway)
	return []Target{
		{Name: "gw1", Role: RoleGateway, WS: "ws://" + a.GatewayAddr + "/ws", Metrics: "http://" + a.MetricsAddr},
		{Name: "gw2", Role: RoleGateway, WS: "ws://" + b.GatewayAddr + "/ws", Metrics: "http://" + b.MetricsAddr},
	}, redisAddr
}

func e2eConfig(targets []Target, redisAddr string) Config {
	c := DefaultConfig()
	c.Targets, c.Redis = targets, redisAddr
	c.AppID, c.AppSecret = e2eApp, e2eSecret
	c.Connections, c.ConnectRate, c.Hold = 40, 400, 200*time.Millisecond
	// The drain is a deadline, over as soon as everything arrived: generous,
	// so that a busy machine is not reported as losing messages.
	c.Rate, c.Duration, c.Drain = 200, 2*time.Second, 2*time.Minute
	return c
}

func TestEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("starts redis-server and two chatgate servers")
	}
	targets, redisAddr := cluster(t)

	t.Run("chat", func(t *testing.T) {
		c := e2eConfig(targets, redisAddr)
		c.Scenario, c.DevicesPerUser = ScenarioChat, 2
		c.JSONPath = filepath.Join(t.TempDir(), "chat.json")
		var out bytes.Buffer
		res, err := Run(context.Background(), c, &out)
		if err != nil {
			t.Fatal(err)
		}
		t.Log(out.String())
		if !res.OK {
			t.Fatalf("chat failed: %v", res.Failures)
		}
		tr := res.Traffic
		if tr.Acked != 400 || tr.Planned != 400 {
			t.Fatalf("acked %d of %d planned, want 400", tr.Acked, tr.Planned)
		}
		// Two devices per user: each message reaches both devices of the
		// partner and the sender's other device.
		if res.Ledger.Expected != 3*400 || res.Ledger.Lost != 0 {
			t.Fatalf("ledger %v", res.Ledger)
		}
		if tr.AckLatency.Count != 400 || tr.DeliveryLatency.Count != 1200 || tr.DeliveryLatency.P99Ms <= 0 {
			t.Fatalf("latencies ack %v delivery %v", tr.AckLatency, tr.DeliveryLatency)
		}
		var delivered float64
		for _, g := range res.Gateways {
			delivered += g.Deliveries
			if g.CPUSeconds <= 0 || g.DeliveriesPerCPUSecond <= 0 {
				t.Errorf("gateway %s: no cost measured: %+v", g.Name, g)
			}
		}
		if delivered != 1200 {
			t.Errorf("gateways count %v deliveries, want 1200", delivered)
		}
		if res.Redis == nil || res.Redis.Commands <= 0 {
			t.Errorf("redis not observed: %+v", res.Redis)
		}
		b, err := os.ReadFile(c.JSONPath)
		if err != nil {
			t.Fatal(err)
		}
		var back Result
		if err := json.Unmarshal(b, &back); err != nil || back.Traffic.Acked != 400 {
			t.Fatalf("JSON result: %v, acked %v", err, back.Traffic)
		}
		for _, want := range []string{"PASS", "send->delivery", "deliveries per CPU-second"} {
			if !strings.Contains(out.String(), want) {
				t.Errorf("summary lacks %q", want)
			}
		}
	})

	t.Run("group", func(t *testing.T) {
		c := e2eConfig(targets, redisAddr)
		c.Scenario, c.UserBase = ScenarioGroup, 2_000_000
		c.GroupSize, c.Groups, c.Rate = 10, 4, 100
		res, err := Run(context.Background(), c, &bytes.Buffer{})
		if err != nil {
			t.Fatal(err)
		}
		if !res.OK {
			t.Fatalf("group failed: %v", res.Failures)
		}
		if res.Ledger.Expected != 9*200 || res.Traffic.Received != 9*200 {
			t.Fatalf("ledger %v, received %d", res.Ledger, res.Traffic.Received)
		}
	})

	t.Run("connect", func(t *testing.T) {
		c := e2eConfig(targets, redisAddr)
		c.Scenario, c.Connections, c.Hold = ScenarioIdle, 60, 500*time.Millisecond
		var out bytes.Buffer
		res, err := Run(context.Background(), c, &out)
		if err != nil {
			t.Fatal(err)
		}
		if !res.OK || res.Connect.Established != 60 {
			t.Fatalf("connect: %v %+v", res.Failures, res.Connect)
		}
		for _, g := range res.Gateways {
			if g.Connections != 30 || g.GoroutinesPerConn <= 0 || g.RSSPerConnKiB == 0 {
				t.Errorf("gateway %s: %+v", g.Name, g)
			}
		}
		if !strings.Contains(out.String(), "KiB RSS/conn") {
			t.Errorf("summary lacks the per-connection cost:\n%s", out.String())
		}
	})
}
