package admin_test

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/chatgate/chatgate/domain/group"
	"github.com/chatgate/chatgate/internal/auth"
	"github.com/chatgate/chatgate/internal/config"
	"github.com/chatgate/chatgate/internal/redistest"
	"github.com/chatgate/chatgate/internal/server"
	"github.com/chatgate/chatgate/store"
)

// shared is one chatgate process (every role) on one real redis-server for
// the whole package; each test gets its own app, so tests never see each
// other's users.
var shared struct {
	info  server.Info
	redis string
	// notices records the group notices of every app (the process's
	// GroupNotifier).
	notices *noticeLog
	// limitsApp is an app declared with small group limits.
	limitsApp string
}

// appSeq numbers the apps of the tests in this process.
var appSeq atomic.Int64

func TestMain(m *testing.M) {
	os.Exit(runMain(m))
}

func runMain(m *testing.M) int {
	// A fuzz run (FuzzRequest) needs no server: do not start one in the
	// coordinator and in every fuzz worker process.
	flag.Parse()
	if f := flag.Lookup("test.fuzz"); f != nil && f.Value.String() != "" {
		return m.Run()
	}
	if f := flag.Lookup("test.fuzzworker"); f != nil && f.Value.String() == "true" {
		return m.Run()
	}
	addr := os.Getenv("REDIS_ADDR")
	if addr == "" {
		srv, err := redistest.StartServer()
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		defer srv.Stop()
		addr = srv.Addr
	}
	shared.redis = addr
	cfg := config.Default()
	cfg.Redis.Addr = addr
	cfg.Node = fmt.Sprintf("admintest-%d", time.Now().UnixNano()%1e9)
	cfg.Gateway.Listen = "127.0.0.1:0"
	cfg.Admin.Listen = "127.0.0.1:0"
	cfg.Metrics.Listen = "127.0.0.1:0"
	cfg.Router.Partitions = 4
	cfg.Router.LeaseTTL = 2 * time.Second
	cfg.Gateway.DrainTimeout = 2 * time.Second
	// Tests that need the limit use their own server; the shared one
	// must not throttle a test that registers many users.
	cfg.Admin.RateLimit = 0
	// bcrypt at the production cost takes ~0.6 s per hash under -race.
	cfg.Admin.PasswordCost = 4
	shared.notices = &noticeLog{m: map[string][]group.Notice{}}
	shared.limitsApp = fmt.Sprintf("glim%d", time.Now().UnixNano()%1e9)
	cfg.Apps = append(cfg.Apps, config.App{ID: shared.limitsApp, Secret: limitsSecret, Groups: config.Groups{
		MaxMembers: 4, MaxCreatedPerUser: 2, MaxJoinedPerUser: 2, MaxGroupsPerApp: 3, MaxKicks: 2,
	}})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	logs := &lockedWriter{}
	log := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelInfo}))
	started := make(chan server.Info, 1)
	done := make(chan error, 1)
	go func() {
		done <- server.RunWith(ctx, cfg, log, server.Options{Stdout: io.Discard, GroupNotifier: shared.notices, OnStart: func(i server.Info) { started <- i }})
	}()
	select {
	case shared.info = <-started:
	case err := <-done:
		fmt.Fprintf(os.Stderr, "server did not start: %v\n%s", err, logs)
		return 1
	case <-time.After(30 * time.Second):
		fmt.Fprintf(os.Stderr, "server did not start in 30s\n%s", logs)
		return 1
	}
	code := m.Run()
	cancel()
	if err := <-done; err != nil {
		fmt.Fprintf(os.Stderr, "server stopped with: %v\n", err)
		code = 1
	}
	if code != 0 {
		fmt.Fprintf(os.Stderr, "server logs:\n%s", logs)
	}
	return code
}

// env is one test's app on the shared server.
type env struct {
	t      *testing.T
	base   string // http://host:port of the REST API
	gw     string // ws://host:port/ws
	app    string
	secret string
	admin  string // an admin token of app
	st     *store.Store
	rdb    *redis.Client
	hc     *http.Client
}

// newEnv creates a fresh app on the shared server.
func newEnv(t *testing.T) *env {
	t.Helper()
	return newEnvFor(t, fmt.Sprintf("t%d_%d", time.Now().UnixNano()%1e9, appSeq.Add(1)), "test-secret-of-at-least-16-bytes")
}

// limitsSecret is the secret of shared.limitsApp.
const limitsSecret = "limits-secret-of-at-least-16-bytes"

// newEnvFor is newEnv for a given app id and secret.
func newEnvFor(t *testing.T, app, secret string) *env {
	t.Helper()
	rdb := redis.NewClient(&redis.Options{Addr: shared.redis})
	t.Cleanup(func() { rdb.Close() })
	e := &env{
		t: t, base: "http://" + shared.info.AdminAddr, gw: "ws://" + shared.info.GatewayAddr + "/ws",
		app:    app,
		secret: secret,
		st:     store.New(rdb, store.Options{}), rdb: rdb,
		hc: &http.Client{Timeout: 15 * time.Second},
	}
	if err := e.st.PutApp(context.Background(), store.App{ID: e.app, Secret: e.secret, Name: t.Name()}); err != nil {
		t.Fatal(err)
	}
	e.admin = e.token(auth.RoleAdmin, 0)
	return e
}

func (e *env) token(role string, uid int64) string {
	e.t.Helper()
	tok, err := auth.Issue([]byte(e.secret), e.app, role, uid, time.Hour, time.Now())
	if err != nil {
		e.t.Fatal(err)
	}
	return tok
}

// userToken mints a user token as /token/* would.
func (e *env) userToken(uid int64) string { return e.token(auth.RoleUser, uid) }

// resp is a decoded envelope.
type resp struct {
	HTTP    int
	Code    int             `json:"code"`
	Data    json.RawMessage `json:"data"`
	Message string          `json:"message"`
}

// into decodes Data into v, failing the test when it does not fit.
func (r resp) into(t *testing.T, v any) {
	t.Helper()
	if err := json.Unmarshal(r.Data, v); err != nil {
		t.Fatalf("data %s: %v", r.Data, err)
	}
}

// call is one request. hdr holds headers ("app_id" defaults to the env's
// app, "access-token" to its admin token; set either to "" to leave it
// out). body is JSON-encoded unless it is a string or []byte.
func (e *env) call(method, path string, hdr map[string]string, body any) resp {
	e.t.Helper()
	status, raw := e.callRaw(method, path, hdr, body)
	out := resp{HTTP: status}
	if err := json.Unmarshal(raw, &out); err != nil {
		e.t.Fatalf("%s %s: HTTP %d, body not an envelope: %q", method, path, status, raw)
	}
	return out
}

// callRaw is call answering the HTTP status and the raw body.
func (e *env) callRaw(method, path string, hdr map[string]string, body any) (int, []byte) {
	e.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	case []byte:
		rd = bytes.NewReader(b)
	default:
		j, err := json.Marshal(b)
		if err != nil {
			e.t.Fatal(err)
		}
		rd = bytes.NewReader(j)
	}
	req, err := http.NewRequest(method, e.base+path, rd)
	if err != nil {
		e.t.Fatal(err)
	}
	h := map[string]string{"app_id": e.app, "access-token": e.admin, "Content-Type": "application/json"}
	for k, v := range hdr {
		h[k] = v
	}
	for k, v := range h {
		if v != "" {
			// Lanying's header names have underscores; net/http would
			// canonicalise them, so they are set verbatim.
			req.Header[k] = []string{v}
		}
	}
	res, err := e.hc.Do(req)
	if err != nil {
		e.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	return res.StatusCode, raw
}

// ok is call that fails the test unless the envelope code is 200.
func (e *env) ok(method, path string, hdr map[string]string, body any) resp {
	e.t.Helper()
	r := e.call(method, path, hdr, body)
	if r.Code != 200 {
		e.t.Fatalf("%s %s: code %d %q, want 200", method, path, r.Code, r.Message)
	}
	return r
}

// wantCode fails the test unless the envelope code is code.
func (e *env) wantCode(code int, method, path string, hdr map[string]string, body any) resp {
	e.t.Helper()
	r := e.call(method, path, hdr, body)
	if r.Code != code {
		e.t.Fatalf("%s %s: code %d %q, want %d", method, path, r.Code, r.Message, code)
	}
	return r
}

type lockedWriter struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (w *lockedWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.Write(p)
}

func (w *lockedWriter) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.String()
}

func timeNow() time.Time { return time.Now() }

func readAll(t *testing.T, r io.Reader) []byte {
	t.Helper()
	b, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// noticeLog is a recording group.Notifier, by app.
type noticeLog struct {
	mu sync.Mutex
	m  map[string][]group.Notice
}

func (l *noticeLog) Notify(_ context.Context, app string, n group.Notice) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.m[app] = append(l.m[app], n)
	return nil
}

// notices returns and forgets the notices of the env's app so far.
func (e *env) notices() []group.Notice {
	shared.notices.mu.Lock()
	defer shared.notices.mu.Unlock()
	out := shared.notices.m[e.app]
	delete(shared.notices.m, e.app)
	return out
}
