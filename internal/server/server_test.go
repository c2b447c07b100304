package server

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"

	"github.com/chatgate/chatgate/client"
	"github.com/chatgate/chatgate/internal/auth"
	"github.com/chatgate/chatgate/internal/config"
	"github.com/chatgate/chatgate/internal/redistest"
	"github.com/chatgate/chatgate/protocol"
	"github.com/chatgate/chatgate/store"
)

// syncBuffer is a bytes.Buffer several goroutines write to.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// testConfig is the default configuration on free ports with timings that
// keep tests short.
func testConfig() config.Config {
	cfg := config.Default()
	cfg.Gateway.Listen = "127.0.0.1:0"
	cfg.Metrics.Listen = "127.0.0.1:0"
	cfg.Admin.Listen = "127.0.0.1:0"
	cfg.Gateway.DrainTimeout = 3 * time.Second
	cfg.Router.LeaseTTL = 2 * time.Second
	cfg.Router.Partitions = 4
	// The cheapest bcrypt cost: the embedded dev users are hashed at every
	// start, and the tests start many servers on a busy machine.
	cfg.Admin.PasswordCost = 4
	return cfg
}

// running is a server started by start.
type running struct {
	info   Info
	stdout *syncBuffer
	logs   *syncBuffer
	cancel context.CancelFunc
	done   chan error
}

// stop cancels the server and returns what Run returned.
func (r *running) stop(t *testing.T) error {
	t.Helper()
	r.cancel()
	select {
	case err := <-r.done:
		r.done <- err // later calls (the cleanup) see it too
		return err
	case <-time.After(20 * time.Second):
		t.Fatalf("server did not stop within 20s; logs:\n%s", r.logs)
		return nil
	}
}

func start(t *testing.T, cfg config.Config, opts Options) *running {
	t.Helper()
	r := &running{stdout: &syncBuffer{}, logs: &syncBuffer{}, done: make(chan error, 1)}
	log := slog.New(slog.NewTextHandler(r.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	started := make(chan Info, 1)
	opts.Stdout = r.stdout
	opts.OnStart = func(i Info) { started <- i }
	ctx, cancel := context.WithCancel(context.Background())
	r.cancel = cancel
	go func() { r.done <- RunWith(ctx, cfg, log, opts) }()
	t.Cleanup(func() {
		_ = r.stop(t)
		if t.Failed() {
			t.Logf("server logs:\n%s", r.logs)
		}
	})
	select {
	case r.info = <-started:
	case err := <-r.done:
		r.done <- err
		t.Fatalf("Run returned before starting: %v\nlogs:\n%s", err, r.logs)
	case <-time.After(20 * time.Second):
		t.Fatalf("server did not start; logs:\n%s", r.logs)
	}
	return r
}

// get does not keep connections alive, so that no goroutine of the HTTP
// client outlives a request and the goroutine count after shutdown is exact.
func get(t *testing.T, url string) (int, string) {
	t.Helper()
	hc := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := hc.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// waitReady polls /readyz until it answers 200.
func waitReady(t *testing.T, r *running) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	var body string
	for time.Now().Before(deadline) {
		var code int
		code, body = get(t, "http://"+r.info.MetricsAddr+"/readyz")
		if code == http.StatusOK {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("/readyz never 200; last body %s", body)
}

func dial(t *testing.T, ctx context.Context, url, app, token string) *client.Conn {
	t.Helper()
	c, err := client.Dial(ctx, client.Config{URL: url, AppID: app, Token: token, DeviceSN: 1, Platform: protocol.PlatformLinux})
	if err != nil {
		t.Fatalf("dial %s: %v", url, err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func receive(t *testing.T, c *client.Conn) *protocol.Message {
	t.Helper()
	select {
	case m, ok := <-c.Messages():
		if !ok {
			t.Fatalf("connection ended: %v", c.Err())
		}
		return m
	case <-time.After(10 * time.Second):
		t.Fatal("no message within 10s")
		return nil
	}
}

// exchange sends a message each way between users 1 and 2 through the
// gateway and the router, and returns their connections.
func exchange(t *testing.T, url, app string, tok1, tok2 string) (c1, c2 *client.Conn) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	c1 = dial(t, ctx, url, app, tok1)
	c2 = dial(t, ctx, url, app, tok2)
	if c1.Hello().UserID != 1 || c2.Hello().UserID != 2 {
		t.Fatalf("hello users %d, %d", c1.Hello().UserID, c2.Hello().UserID)
	}
	ack, err := c1.Send(ctx, client.Outgoing{ToUser: 2, Content: "hello 2"})
	if err != nil {
		t.Fatalf("send 1->2: %v", err)
	}
	m := receive(t, c2)
	if m.ID != ack.ID || m.From != 1 || m.Content != "hello 2" || m.Conv != "u:1:2" {
		t.Fatalf("user 2 got %+v, ack %+v", m, ack)
	}
	ack, err = c2.Send(ctx, client.Outgoing{ToUser: 1, Content: "hello 1"})
	if err != nil {
		t.Fatalf("send 2->1: %v", err)
	}
	if m := receive(t, c1); m.ID != ack.ID || m.From != 2 || m.Content != "hello 1" {
		t.Fatalf("user 1 got %+v", m)
	}
	return c1, c2
}

// wantShutdownKick checks that the server closed c with 4104.
func wantShutdownKick(t *testing.T, c *client.Conn) {
	t.Helper()
	select {
	case <-c.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("connection still open after shutdown")
	}
	var kick *client.KickError
	if err := c.Err(); !errors.As(err, &kick) || kick.Code != protocol.CodeKickShutdown {
		t.Fatalf("connection ended with %v, want kick 4104", err)
	}
}

// tokenAfter returns the field that follows label on a line of the dev block.
func tokenAfter(t *testing.T, out, label string) string {
	t.Helper()
	for _, line := range strings.Split(out, "\n") {
		if rest, ok := strings.CutPrefix(strings.TrimSpace(line), label); ok {
			return strings.TrimSpace(rest)
		}
	}
	t.Fatalf("no %q in output:\n%s", label, out)
	return ""
}

func TestEmbedded(t *testing.T) {
	before := runtime.NumGoroutine()
	r := start(t, testConfig(), Options{ClientCommand: "chatgate"})

	// The dev block is the front door of the embedded mode: check what a
	// new user copies from it actually works.
	out := r.stdout.String()
	url := "ws://" + r.info.GatewayAddr + "/ws"
	for _, want := range []string{"EMBEDDED", "App id:         demo", "WebSocket URL:  " + url,
		"chatgate client -url " + url + " -app demo -device 1 -to-user 2 -token "} {
		if !strings.Contains(out, want) {
			t.Errorf("dev block lacks %q:\n%s", want, out)
		}
	}
	if r.info.Dev == nil || r.info.Dev.App != "demo" {
		t.Fatalf("info.Dev = %+v", r.info.Dev)
	}
	tok1, tok2, admin := tokenAfter(t, out, "User 1 token:"), tokenAfter(t, out, "User 2 token:"), tokenAfter(t, out, "Admin token:")
	if tok1 != r.info.Dev.UserTokens[1] || tok2 != r.info.Dev.UserTokens[2] || admin != r.info.Dev.AdminToken {
		t.Fatal("printed tokens differ from Info.Dev")
	}
	if !strings.Contains(r.logs.String(), "EMBEDDED MODE") || !strings.Contains(r.logs.String(), "level=WARN") {
		t.Errorf("no embedded-mode warning in the logs:\n%s", r.logs)
	}

	if code, body := get(t, "http://"+r.info.MetricsAddr+"/healthz"); code != 200 || body != "ok\n" {
		t.Fatalf("/healthz = %d %q", code, body)
	}
	waitReady(t, r)
	c1, c2 := exchange(t, url, "demo", tok1, tok2)

	code, metrics := get(t, "http://"+r.info.MetricsAddr+"/metrics")
	if code != 200 {
		t.Fatalf("/metrics = %d", code)
	}
	for _, want := range []string{"chatgate_build_info{", "chatgate_redis_pool_connections{", "chatgate_gateway_connections 2",
		"chatgate_router_messages_total", "go_goroutines", "process_cpu_seconds_total"} {
		if !strings.Contains(metrics, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}

	if err := r.stop(t); err != nil {
		t.Fatalf("Run after shutdown: %v\nlogs:\n%s", err, r.logs)
	}
	wantShutdownKick(t, c1)
	wantShutdownKick(t, c2)
	if _, err := net.DialTimeout("tcp", r.info.GatewayAddr, time.Second); err == nil {
		t.Error("gateway still listening after Run returned")
	}

	// Every goroutine Run started has ended: allow a little slack for the
	// runtime's own.
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > before+2 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if n := runtime.NumGoroutine(); n > before+2 {
		buf := make([]byte, 1<<20)
		t.Errorf("%d goroutines before, %d after shutdown:\n%s", before, n, buf[:runtime.Stack(buf, true)])
	}
}

func TestRedisMode(t *testing.T) {
	addr := redistest.Start(t)
	rdb := redis.NewClient(&redis.Options{Addr: addr})
	t.Cleanup(func() { rdb.Close() })
	const app, secret = "srvtest", "0123456789abcdef0123"
	cfg := testConfig()
	cfg.Redis.Addr = addr
	cfg.Node = fmt.Sprintf("srv-%d", time.Now().UnixNano())
	cfg.Apps = []config.App{{ID: app, Secret: secret, Name: "server test", Users: "any"}}
	r := start(t, cfg, Options{})
	if out := r.stdout.String(); out != "" {
		t.Errorf("Redis mode printed to stdout:\n%s", out)
	}
	if r.info.Node != cfg.Node || r.info.Dev != nil {
		t.Fatalf("info = %+v", r.info)
	}
	ctx := context.Background()
	a, err := store.New(rdb, store.Options{}).GetApp(ctx, app)
	if err != nil || a.Secret != secret || a.Name != "server test" {
		t.Fatalf("app in Redis: %+v %v", a, err)
	}
	idKeys := func() []string {
		var own []string
		keys, _ := rdb.Keys(ctx, "cg:idnode:*").Result()
		for _, k := range keys {
			if v, _ := rdb.Get(ctx, k).Result(); v == cfg.Node {
				own = append(own, k)
			}
		}
		return own
	}
	if k := idKeys(); len(k) != 1 {
		t.Fatalf("id node leases of %s: %v", cfg.Node, k)
	}
	waitReady(t, r)

	tok := func(uid int64) string {
		s, err := auth.Issue([]byte(secret), app, auth.RoleUser, uid, time.Hour, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	c1, c2 := exchange(t, "ws://"+r.info.GatewayAddr+"/ws", app, tok(1), tok(2))

	if err := r.stop(t); err != nil {
		t.Fatalf("Run after shutdown: %v\nlogs:\n%s", err, r.logs)
	}
	wantShutdownKick(t, c1)
	wantShutdownKick(t, c2)
	// A clean shutdown hands everything back at once instead of letting
	// others wait for TTLs.
	if k := idKeys(); len(k) != 0 {
		t.Errorf("id node lease not released: %v", k)
	}
	for p := 0; p < cfg.Router.Partitions; p++ {
		if v, _ := rdb.Get(ctx, fmt.Sprintf("cg:lease:{%d}", p)).Result(); v == cfg.Node {
			t.Errorf("partition %d lease not released", p)
		}
	}
}

func TestIDLeaseLost(t *testing.T) {
	addr := redistest.Start(t)
	rdb := redis.NewClient(&redis.Options{Addr: addr})
	t.Cleanup(func() { rdb.Close() })
	cfg := testConfig()
	cfg.Redis.Addr = addr
	cfg.Roles = []string{config.RoleRouter}
	cfg.Node = fmt.Sprintf("lost-%d", time.Now().UnixNano())
	r := start(t, cfg, Options{idLeaseTTL: 900 * time.Millisecond})
	if r.info.GatewayAddr != "" {
		t.Fatalf("router-only process listens for WebSockets on %s", r.info.GatewayAddr)
	}
	waitReady(t, r)
	ctx := context.Background()
	keys, _ := rdb.Keys(ctx, "cg:idnode:*").Result()
	stolen := 0
	for _, k := range keys {
		if v, _ := rdb.Get(ctx, k).Result(); v == cfg.Node {
			rdb.Set(ctx, k, "somebody-else", time.Minute)
			stolen++
		}
	}
	if stolen != 1 {
		t.Fatalf("found %d id leases of %s", stolen, cfg.Node)
	}
	select {
	case err := <-r.done:
		r.done <- err
		if err == nil || !strings.Contains(err.Error(), "id node lease lost") {
			t.Fatalf("Run = %v, want the lease loss", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("process kept running without its id node number")
	}
}

func TestConfigErrors(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	// A port nobody listens on, for a Redis that does not answer.
	closed, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed.Close()
	tests := []struct {
		name string
		edit func(*config.Config)
		want string
	}{
		{"addr and addrs", func(c *config.Config) { c.Redis.Addr = "a:1"; c.Redis.Addrs = []string{"b:1"} }, "not both"},
		{"cluster db", func(c *config.Config) { c.Redis.Addrs = []string{"b:1"}; c.Redis.DB = 2 }, "redis.db"},
		{"embedded gateway only", func(c *config.Config) { c.Roles = []string{config.RoleGateway} }, "embedded mode"},
		{"pushworker alone in embedded mode", func(c *config.Config) { c.Roles = []string{config.RolePushWorker} }, "embedded mode"},
		{"no admin listen", func(c *config.Config) { c.Admin.Listen = "" }, "admin.listen"},
		{"admin port in use", func(c *config.Config) { c.Admin.Listen = busy.Addr().String() }, "admin listener"},
		{"unknown role", func(c *config.Config) { c.Roles = []string{"janitor"} }, "unknown role"},
		{"bad node", func(c *config.Config) { c.Node = "a|b" }, "node"},
		{"bad path", func(c *config.Config) { c.Gateway.Path = "ws" }, "gateway.path"},
		{"no gateway listen", func(c *config.Config) { c.Gateway.Listen = "" }, "gateway.listen"},
		{"invalid config", func(c *config.Config) { c.Router.Partitions = 0 }, "partitions"},
		{"gateway port in use", func(c *config.Config) { c.Gateway.Listen = busy.Addr().String() }, "gateway listener"},
		{"metrics port in use", func(c *config.Config) { c.Metrics.Listen = busy.Addr().String() }, "metrics listener"},
		{"redis unreachable", func(c *config.Config) { c.Redis.Addr = closed.Addr().String() }, "redis does not answer"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := testConfig()
			tt.edit(&cfg)
			var logs syncBuffer
			// Generous: on a busy machine the embedded start (dev users' bcrypt
			// hashes) can take seconds before the listener fails.
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			err := RunWith(ctx, cfg, slog.New(slog.NewTextHandler(&logs, nil)), Options{
				Stdout: io.Discard, RedisWait: 300 * time.Millisecond,
				OnStart: func(Info) { t.Error("started") },
			})
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want %q\nlogs:\n%s", err, tt.want, logs.String())
			}
		})
	}
}

func TestPushworkerNextToOthers(t *testing.T) {
	cfg := testConfig()
	cfg.Roles = []string{config.RoleGateway, config.RoleRouter, config.RoleAdmin, config.RolePushWorker}
	r := start(t, cfg, Options{})
	if got := strings.Join(r.info.Roles, ","); got != "gateway,router,admin,pushworker" {
		t.Fatalf("roles = %s", got)
	}
}

func TestReadyz(t *testing.T) {
	m := miniredis.RunT(t)
	rdb := redis.NewClient(&redis.Options{Addr: m.Addr(), MaxRetries: -1})
	t.Cleanup(func() { rdb.Close() })
	var roleReady bool
	h := &health{rdb: rdb}
	h.add("gateway", func() bool { return roleReady })
	srv := &http.Server{Handler: opsHandler(newRegistry(rdb, "test"), h, false)}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	base := "http://" + ln.Addr().String()

	check := func(wantCode int, wantChecks map[string]string) {
		t.Helper()
		code, body := get(t, base+"/readyz")
		var rep readyReport
		if err := json.Unmarshal([]byte(body), &rep); err != nil {
			t.Fatalf("body %q: %v", body, err)
		}
		if code != wantCode || rep.Ready != (wantCode == 200) {
			t.Fatalf("/readyz = %d %s, want %d", code, body, wantCode)
		}
		for k, v := range wantChecks {
			if !strings.Contains(rep.Checks[k], v) {
				t.Fatalf("check %s = %q, want %q (body %s)", k, rep.Checks[k], v, body)
			}
		}
	}
	check(503, map[string]string{"gateway": "not ready", "redis": "ok"})
	roleReady = true
	check(200, map[string]string{"gateway": "ok", "redis": "ok"})
	h.draining.Store(true)
	check(503, map[string]string{"shutdown": "draining"})
	h.draining.Store(false)
	m.Close()
	check(503, map[string]string{"gateway": "ok", "redis": ""})
	if code, _ := get(t, base+"/healthz"); code != 200 {
		t.Fatalf("/healthz = %d with Redis down", code)
	}
}

// TestPprof: /debug/pprof/ exists only when metrics.pprof asks for it.
func TestPprof(t *testing.T) {
	rdb := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1", MaxRetries: -1})
	t.Cleanup(func() { rdb.Close() })
	for _, tc := range []struct {
		on       bool
		path     string
		wantCode int
		wantBody string
	}{
		{false, "/debug/pprof/", 404, ""},
		{false, "/debug/pprof/heap?debug=1", 404, ""},
		{true, "/debug/pprof/", 200, "goroutine"},
		{true, "/debug/pprof/heap?debug=1", 200, "heap profile"},
		{true, "/debug/pprof/cmdline", 200, ""},
	} {
		srv := httptest.NewServer(opsHandler(newRegistry(rdb, "test"), &health{rdb: rdb}, tc.on))
		code, body := get(t, srv.URL+tc.path)
		srv.Close()
		if code != tc.wantCode || !strings.Contains(body, tc.wantBody) {
			t.Errorf("pprof=%v GET %s = %d %.60q, want %d with %q", tc.on, tc.path, code, body, tc.wantCode, tc.wantBody)
		}
	}
}

func TestNewLogger(t *testing.T) {
	var buf bytes.Buffer
	log, err := NewLogger(config.Log{Level: "warn", Format: "json"}, &buf)
	if err != nil {
		t.Fatal(err)
	}
	log.Info("hidden")
	log.Warn("shown", "k", 1)
	if s := buf.String(); strings.Contains(s, "hidden") || !strings.Contains(s, `"msg":"shown"`) {
		t.Fatalf("log output %q", s)
	}
	if _, err := NewLogger(config.Log{Level: "loud", Format: "text"}, &buf); err == nil {
		t.Error("bad level accepted")
	}
	if _, err := NewLogger(config.Log{Level: "info", Format: "xml"}, &buf); err == nil {
		t.Error("bad format accepted")
	}
}

func TestPoolSize(t *testing.T) {
	cfg := testConfig()
	cfg.Router.Partitions = 64
	var logs syncBuffer
	log := slog.New(slog.NewTextHandler(&logs, nil))
	base := 10 * runtime.GOMAXPROCS(0)
	if n := poolSize(cfg, roleSet{gateway: true, router: true}, log); n != base+65 {
		t.Errorf("all roles: %d, want %d", n, base+65)
	}
	if n := poolSize(cfg, roleSet{gateway: true}, log); n != base+1 {
		t.Errorf("gateway: %d, want %d", n, base+1)
	}
	cfg.Redis.PoolSize = 20
	if n := poolSize(cfg, roleSet{router: true}, log); n != 20 || !strings.Contains(logs.String(), "pool_size") {
		t.Errorf("configured: %d, logs %q", n, logs.String())
	}
}

func TestDialableAndNode(t *testing.T) {
	for in, want := range map[string]string{
		"0.0.0.0:8080": "127.0.0.1:8080", ":8080": "127.0.0.1:8080", "[::]:80": "127.0.0.1:80",
		"10.1.2.3:8080": "10.1.2.3:8080", "localhost:1": "localhost:1",
	} {
		if got := dialable(in); got != want {
			t.Errorf("dialable(%q) = %q, want %q", in, got, want)
		}
	}
	a, b := defaultNode(), defaultNode()
	if a == b || !validNode(a) {
		t.Errorf("default nodes %q, %q", a, b)
	}
}

// TestExampleConfigs keeps configs/ loadable, and the annotated example
// equal to the built-in defaults it claims to list.
func TestExampleConfigs(t *testing.T) {
	dir := filepath.Join("..", "..", "configs")
	files, err := filepath.Glob(filepath.Join(dir, "*.yaml"))
	if err != nil || len(files) < 4 {
		t.Fatalf("configs: %v %v", files, err)
	}
	for _, f := range files {
		// Load-test scenario files live here too; loadtest's own tests
		// check them.
		if raw, err := os.ReadFile(f); err == nil && bytes.Contains(raw, []byte("\nscenario:")) {
			continue
		}
		cfg, err := config.Load(f, nil)
		if err != nil {
			t.Errorf("%s: %v", f, err)
			continue
		}
		if filepath.Base(f) != "chatgate.example.yaml" {
			continue
		}
		// YAML's [] is an empty slice where the default has nil.
		def := config.Default()
		norm := func(c *config.Config) {
			if len(c.Redis.Addrs) == 0 {
				c.Redis.Addrs = nil
			}
			if len(c.Gateway.AllowedOrigins) == 0 {
				c.Gateway.AllowedOrigins = nil
			}
			if len(c.Apps) == 0 {
				c.Apps = nil
			}
		}
		norm(&cfg)
		norm(&def)
		if !reflect.DeepEqual(cfg, def) {
			t.Errorf("%s differs from config.Default():\n got %+v\nwant %+v", f, cfg, def)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "embedded.yaml")); err != nil {
		t.Error(err)
	}
}
