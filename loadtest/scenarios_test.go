package loadtest

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/chatgate/chatgate/gateway"
	"github.com/chatgate/chatgate/internal/config"
	"github.com/chatgate/chatgate/internal/ids"
	"github.com/chatgate/chatgate/internal/redistest"
	"github.com/chatgate/chatgate/internal/server"
	"github.com/chatgate/chatgate/router"
	"github.com/chatgate/chatgate/store"
)

// envTestWorker makes the test binary act as a harness worker process, so
// that the multi-process mode is tested without building chatgate.
const envTestWorker = "CHATGATE_LOADTEST_TEST_WORKER"

func TestMain(m *testing.M) {
	if os.Getenv(envTestWorker) == "1" {
		os.Exit(MainWith(context.Background(), []string{"-worker"}, os.Stdout, os.Stderr, os.Getenv))
	}
	os.Exit(m.Run())
}

// startEmbedded runs one chatgate process in embedded mode (in-process
// Redis, every role) inside the test, as `chatgate serve` does by default.
func startEmbedded(t *testing.T) server.Info {
	t.Helper()
	cfg := config.Default()
	cfg.Node = "lt-embedded"
	cfg.Redis.Addr, cfg.Redis.Addrs = "", nil
	// Free ports only: a fixed one (the admin default, 8081) may be taken.
	cfg.Gateway.Listen, cfg.Metrics.Listen, cfg.Admin.Listen = "127.0.0.1:0", "127.0.0.1:0", "127.0.0.1:0"
	cfg.Apps = []config.App{{ID: e2eApp, Secret: e2eSecret, Name: "loadtest embedded", Users: "any"}}
	ctx, cancel := context.WithCancel(context.Background())
	started := make(chan server.Info, 1)
	done := make(chan error, 1)
	go func() {
		done <- server.RunWith(ctx, cfg, slog.New(slog.DiscardHandler), server.Options{
			Stdout: &bytes.Buffer{}, OnStart: func(i server.Info) { started <- i },
		})
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			t.Errorf("embedded server did not stop")
		}
	})
	select {
	case info := <-started:
		return info
	case err := <-done:
		t.Fatalf("embedded server: %v", err)
	case <-time.After(30 * time.Second):
		t.Fatal("embedded server did not start")
	}
	return server.Info{}
}

// TestEmbeddedScenarios runs small scenarios against the embedded server
// and checks every output: summary, JSON, HTML, exit status.
func TestEmbeddedScenarios(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a chatgate server")
	}
	info := startEmbedded(t)
	targets := []Target{{Name: "gw1", Role: RoleGateway, WS: "ws://" + info.GatewayAddr + "/ws", Metrics: "http://" + info.MetricsAddr}}
	tests := []struct {
		name   string
		mutate func(*Config)
		check  func(*testing.T, *Result)
	}{
		// Sized small: the embedded mode's in-process Redis is slow under
		// the race detector on a busy machine (issue 15).
		{"chat", func(c *Config) { c.Scenario, c.UserBase, c.Rate = ScenarioChat, 3_000_000, 15 }, func(t *testing.T, r *Result) {
			if r.Traffic.Acked != r.Traffic.Planned || r.Ledger.Lost != 0 || r.Ledger.Expected != int(r.Traffic.Planned) {
				t.Fatalf("traffic %+v ledger %v", r.Traffic, r.Ledger)
			}
			if r.Traffic.DeliveryLatency.P999Ms <= 0 {
				t.Errorf("no p99.9: %+v", r.Traffic.DeliveryLatency)
			}
		}},
		{"mixed", func(c *Config) {
			// Light: the embedded server runs on an in-process Redis,
			// under the race detector.
			c.Scenario, c.UserBase, c.Redis, c.Rate = ScenarioMixed, 4_000_000, info.RedisAddr, 10
			c.GroupSize, c.Groups, c.GroupShare = 5, 2, 0.3
			c.ChurnInterval, c.ChurnDown, c.ChurnFraction = time.Second, 200*time.Millisecond, 0.25
		}, func(t *testing.T, r *Result) {
			if r.Churn == nil || r.Churn.Waves < 1 || r.Churn.Recovered != r.Churn.DevicesCut || r.Churn.Reconnect.Count == 0 {
				t.Fatalf("churn %+v", r.Churn)
			}
			if r.Ledger.OutOfOrder != 0 || r.Ledger.Delivered+r.Ledger.Lost != r.Ledger.Expected {
				t.Fatalf("ledger %v", r.Ledger)
			}
			// Group sends reach 4 other members, chat sends 1.
			if r.Ledger.Expected <= int(r.Traffic.Acked) {
				t.Fatalf("no group fan-out: %v", r.Ledger)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			c := e2eConfig(targets, "")
			// The embedded server runs on an in-process Redis under the
			// race detector, on a CI machine shared with other suites:
			// low rates and a long drain (a deadline: the drain ends as
			// soon as everything arrived) keep this about the harness.
			c.Connections, c.Duration, c.Drain = 20, 2*time.Second, 3*time.Minute
			c.JSONPath, c.HTMLPath = filepath.Join(dir, "r.json"), filepath.Join(dir, "r.html")
			tt.mutate(&c)
			var out bytes.Buffer
			res, err := Run(context.Background(), c, &out)
			if err != nil {
				t.Fatal(err)
			}
			// Churn included: a device that reconnects while its message is
			// routed gets it live or by its catch-up sync (the router reads
			// routes after the inbox write; router/reconnect_test.go).
			if !res.OK {
				t.Fatalf("failed: %v\n%s", res.Failures, out.String())
			}
			tt.check(t, res)
			if len(res.Timeline) == 0 || len(res.ServerTimeline) == 0 {
				t.Errorf("timelines: %d samples, %d scrapes", len(res.Timeline), len(res.ServerTimeline))
			}
			html, err := os.ReadFile(c.HTMLPath)
			if err != nil {
				t.Fatal(err)
			}
			for _, want := range []string{"<svg", "Latency over time", "Throughput", "chatgate loadtest"} {
				if !bytes.Contains(html, []byte(want)) {
					t.Errorf("HTML report lacks %q", want)
				}
			}
			// Self-contained: nothing is fetched from elsewhere.
			for _, bad := range []string{"<script", "<link", "src=\"http", "@import"} {
				if bytes.Contains(html, []byte(bad)) {
					t.Errorf("HTML report contains %q", bad)
				}
			}
			var back Result
			if b, err := os.ReadFile(c.JSONPath); err != nil || json.Unmarshal(b, &back) != nil || back.OK != res.OK {
				t.Fatalf("JSON result unreadable or different: %v", err)
			}
		})
	}
}

// faultStack runs a gateway and a router on a real Redis with the
// gateway's fault-injection hook, which drops the first live delivery.
func faultStack(t *testing.T) (ws string, dropped *atomic.Int64) {
	t.Helper()
	addr := redistest.Start(t)
	rdb := redis.NewClient(&redis.Options{Addr: addr})
	t.Cleanup(func() { rdb.Close() })
	ctx, cancel := context.WithCancel(context.Background())
	st := store.New(rdb, store.Options{})
	if err := st.PutApp(ctx, store.App{ID: e2eApp, Secret: e2eSecret, Name: "fault", Users: store.AppUsersAny}); err != nil {
		t.Fatal(err)
	}
	cfg := config.Default()
	dropped = new(atomic.Int64)
	gw, err := gateway.New(cfg.Gateway, "lt-fault-gw", cfg.Router.Partitions, gateway.Deps{
		Store: st,
		DropDelivery: func(string, int64, int32, []byte) bool {
			return dropped.CompareAndSwap(0, 1)
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	gen, err := ids.New(7)
	if err != nil {
		t.Fatal(err)
	}
	rt, err := router.New(cfg.Router, "lt-fault-rt", router.Deps{Store: st, IDs: gen})
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	wg.Go(func() { _ = gw.Run(ctx) })
	wg.Go(func() { _ = rt.Run(ctx) })
	mux := http.NewServeMux()
	mux.Handle(cfg.Gateway.Path, gw.Handler())
	srv := httptest.NewServer(mux)
	t.Cleanup(func() {
		dctx, dcancel := context.WithTimeout(context.Background(), 10*time.Second)
		_ = gw.Drain(dctx)
		dcancel()
		srv.Close()
		cancel()
		wg.Wait()
	})
	deadline := time.Now().Add(20 * time.Second)
	for !gw.Ready() || !rt.Ready() {
		if time.Now().After(deadline) {
			t.Fatal("gateway or router not ready")
		}
		time.Sleep(20 * time.Millisecond)
	}
	return "ws" + strings.TrimPrefix(srv.URL, "http") + cfg.Gateway.Path, dropped
}

// TestLedgerCatchesInjectedLoss proves the ledger against the real server:
// the gateway drops exactly one delivery, and the harness must report
// lost=1 and exit non-zero.
func TestLedgerCatchesInjectedLoss(t *testing.T) {
	if testing.Short() {
		t.Skip("starts redis-server, a gateway and a router")
	}
	ws, dropped := faultStack(t)
	jsonPath := filepath.Join(t.TempDir(), "fault.json")
	var out, errb bytes.Buffer
	code := MainWith(context.Background(), []string{
		"-scenario", "chat", "-ws", ws, "-app", e2eApp, "-connections", "10", "-connect-rate", "200",
		"-hold", "100ms", "-rate", "50", "-duration", "1s", "-drain", "2s", "-quiet", "-json", jsonPath,
	}, &out, &errb, func(k string) string {
		if k == EnvSecret {
			return e2eSecret
		}
		return ""
	})
	if dropped.Load() != 1 {
		t.Fatalf("the hook dropped %d deliveries, want 1", dropped.Load())
	}
	if code != 1 {
		t.Fatalf("exit %d, want 1\n%s\n%s", code, out.String(), errb.String())
	}
	var res Result
	b, err := os.ReadFile(jsonPath)
	if err != nil || json.Unmarshal(b, &res) != nil {
		t.Fatalf("JSON result: %v", err)
	}
	// The drain cannot finish without the dropped delivery, so the ledger
	// calls it "not delivered yet" (it cannot tell late from lost); either
	// way the run fails.
	if res.OK || res.Ledger == nil || res.Ledger.Lost+res.Ledger.NotDeliveredYet != 1 || res.Ledger.Delivered != res.Ledger.Expected-1 {
		t.Fatalf("ledger %+v ok %v", res.Ledger, res.OK)
	}
	if !(strings.Contains(out.String(), "lost=1") || strings.Contains(out.String(), "not_delivered_yet=1")) || !strings.Contains(out.String(), "FAIL") {
		t.Errorf("summary does not report the loss:\n%s", out.String())
	}
}

// TestWorkers runs connect and chat over two worker processes (this test
// binary re-executed) and checks that the aggregate adds up.
func TestWorkers(t *testing.T) {
	if testing.Short() {
		t.Skip("starts redis-server, two chatgate servers and worker processes")
	}
	targets, redisAddr := cluster(t)
	base := func() Config {
		c := e2eConfig(targets, redisAddr)
		c.Workers, c.WorkerCommand, c.WorkerEnv = 2, []string{os.Args[0]}, []string{envTestWorker + "=1"}
		return c
	}
	t.Run("connect", func(t *testing.T) {
		c := base()
		c.Scenario, c.Connections, c.UserBase, c.Hold = ScenarioConnect, 60, 5_000_000, 500*time.Millisecond
		res, err := Run(context.Background(), c, &bytes.Buffer{})
		if err != nil {
			t.Fatal(err)
		}
		if !res.OK || res.Connect.Established != 60 || res.Workers != 2 {
			t.Fatalf("%v %+v", res.Failures, res.Connect)
		}
		for _, g := range res.Gateways {
			if g.Connections != 30 || g.RSSPerConnKiB == 0 {
				t.Errorf("gateway %s: %+v", g.Name, g)
			}
		}
	})
	t.Run("chat", func(t *testing.T) {
		c := base()
		c.Scenario, c.UserBase, c.DevicesPerUser = ScenarioChat, 6_000_000, 2
		var out bytes.Buffer
		res, err := Run(context.Background(), c, &out)
		if err != nil {
			t.Fatal(err)
		}
		if !res.OK {
			t.Fatalf("%v\n%s", res.Failures, out.String())
		}
		if res.Traffic.Acked != 400 || res.Ledger.Expected != 3*400 || res.Ledger.Lost != 0 || res.Traffic.DeliveryLatency.Count != 1200 {
			t.Fatalf("traffic %+v ledger %v", res.Traffic, res.Ledger)
		}
	})
}

// TestSourceAddrs checks that connections leave from 127.0.0.x addresses
// in turn.
func TestSourceAddrs(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	srcs, err := sourceAddrs(3)
	if err != nil {
		t.Fatal(err)
	}
	d := newDialer(3, srcs)
	for i := range 3 {
		c, err := d.dial(withDevice(context.Background(), i), "tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		peer, err := ln.Accept()
		if err != nil {
			t.Fatal(err)
		}
		got := peer.RemoteAddr().(*net.TCPAddr).IP.String()
		if want := srcs[i].String(); got != want {
			t.Errorf("device %d connected from %s, want %s", i, got, want)
		}
		peer.Close()
		// Churn cuts the device's connection and keeps it offline.
		if !d.cut(i, time.Minute) {
			t.Errorf("device %d: nothing to cut", i)
		}
		if _, err := c.Write([]byte("x")); err == nil {
			t.Errorf("device %d: connection still usable after cut", i)
		}
		if _, err := d.dial(withDevice(context.Background(), i), "tcp", ln.Addr().String()); err != errOffline {
			t.Errorf("device %d: dial while offline: %v", i, err)
		}
	}
}

// TestScenarioFiles checks that every example scenario file parses into a
// valid configuration and that the command line overrides the file.
func TestScenarioFiles(t *testing.T) {
	files, err := filepath.Glob("../configs/loadtest-*.yaml")
	if err != nil {
		t.Fatal(err)
	}
	env := func(k string) string {
		if k == EnvSecret {
			return "loadtest-secret-not-for-production-0123456789"
		}
		return ""
	}
	n := 0
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Contains(b, []byte("\nscenario:")) {
			continue // a server configuration (loadtest-gateway.yaml, ...)
		}
		n++
		t.Run(filepath.Base(f), func(t *testing.T) {
			c, err := parseFlags([]string{"-config", f, "-quiet", "-connections", "1000",
				"-ws", "ws://127.0.0.1:1/ws,ws://127.0.0.1:2/ws,ws://127.0.0.1:3/ws", "-redis", "127.0.0.1:1"}, &bytes.Buffer{}, env)
			if err != nil {
				t.Fatal(err)
			}
			if c.Connections != 1000 {
				t.Errorf("the command line did not override the file: connections %d", c.Connections)
			}
		})
	}
	if n < 4 {
		t.Errorf("found %d scenario files, want the examples (idle, chat, group, churn, mixed)", n)
	}
	for _, bad := range []struct{ yaml, want string }{
		{"scenario: chat\nfrobnicate: 1\n", "unknown key"},
		{"worker: true\n", "cannot be set"},
		{"connections: [1, {a: b}]\n", "map"},
	} {
		fs := flagSetForTest()
		if err := applyScenario(fs, []byte(bad.yaml), "t.yaml"); err == nil || !strings.Contains(err.Error(), bad.want) {
			t.Errorf("%q: got %v, want %q", bad.yaml, err, bad.want)
		}
	}
}

func flagSetForTest() *flag.FlagSet {
	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	fs.String("scenario", "", "")
	fs.Int("connections", 0, "")
	return fs
}

// onlyLedgerFailures reports whether every failure of r is the ledger's.
func onlyLedgerFailures(r *Result) bool {
	for _, f := range r.Failures {
		if !strings.HasPrefix(f, "ledger:") {
			return false
		}
	}
	return true
}
