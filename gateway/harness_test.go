package gateway

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/chatgate/chatgate/internal/auth"
	"github.com/chatgate/chatgate/internal/bus"
	"github.com/chatgate/chatgate/internal/config"
	"github.com/chatgate/chatgate/internal/redistest"
	"github.com/chatgate/chatgate/protocol"
	"github.com/chatgate/chatgate/store"
)

// One redis-server serves the whole package run (unless REDIS_ADDR names
// one); every test uses its own app id and node name, so they never see
// each other's keys except the shared ingress streams, which tests filter
// by app.
func TestMain(m *testing.M) {
	if os.Getenv("REDIS_ADDR") != "" {
		os.Exit(m.Run())
	}
	s, err := redistest.StartServer()
	if err != nil {
		fmt.Fprintln(os.Stderr, "gateway tests:", err)
		os.Exit(1)
	}
	os.Setenv("REDIS_ADDR", s.Addr)
	code := m.Run()
	s.Stop()
	os.Exit(code)
}

const testPartitions = 4

var uniqSeq atomic.Int64

func uniq(prefix string) string {
	return fmt.Sprintf("%s%d_%d", prefix, time.Now().UnixNano()%1_000_000_000, uniqSeq.Add(1))
}

// testConfig is the default gateway configuration with timeouts short
// enough for tests.
func testConfig() config.Gateway {
	cfg := config.Default().Gateway
	cfg.AuthTimeout = 3 * time.Second
	cfg.IdleTimeout = 10 * time.Second
	cfg.Heartbeat = 2 * time.Second
	cfg.WriteTimeout = 2 * time.Second
	cfg.RouteTTL = 3 * time.Second
	cfg.Limits.FramesPerSecond = 1000
	cfg.Limits.FrameBurst = 1000
	return cfg
}

type testEnv struct {
	t      *testing.T
	g      *Gateway
	cfg    config.Gateway
	st     *store.Store
	rdb    *redis.Client
	reg    *prometheus.Registry
	srv    *httptest.Server
	url    string
	app    string
	secret []byte
	node   string
}

// newEnv starts a gateway with its own app on the shared Redis.
func newEnv(t *testing.T, mutate func(*config.Gateway)) *testEnv {
	t.Helper()
	rdb := redistest.Client(t)
	st := store.New(rdb, store.Options{})
	app := uniq("app")
	secret := []byte("secret-of-" + app + "-0123456789")
	if err := st.PutApp(context.Background(), store.App{ID: app, Secret: string(secret), Users: store.AppUsersAny}); err != nil {
		t.Fatal(err)
	}
	return startGateway(t, rdb, st, app, secret, mutate)
}

// peer starts a second gateway node on the same Redis and app.
func (e *testEnv) peer(t *testing.T, mutate func(*config.Gateway)) *testEnv {
	t.Helper()
	return startGateway(t, e.rdb, e.st, e.app, e.secret, mutate)
}

func startGateway(t *testing.T, rdb *redis.Client, st *store.Store, app string, secret []byte, mutate func(*config.Gateway)) *testEnv {
	t.Helper()
	cfg := testConfig()
	if mutate != nil {
		mutate(&cfg)
	}
	reg := prometheus.NewRegistry()
	log := slog.New(slog.DiscardHandler)
	if os.Getenv("GATEWAY_TEST_LOG") != "" {
		log = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	node := uniq("node")
	g, err := New(cfg, node, testPartitions, Deps{Store: st, Log: log, Metrics: reg})
	if err != nil {
		t.Fatal(err)
	}
	g.readBlock = 50 * time.Millisecond // so that Run ends quickly at cleanup
	srv := httptest.NewServer(g.Handler())
	ctx, cancel := context.WithCancel(context.Background())
	runDone := make(chan struct{})
	go func() {
		defer close(runDone)
		_ = g.Run(ctx)
	}()
	t.Cleanup(func() {
		// Close every connection and wait for their teardown, so no
		// goroutine of this test outlives it.
		g.mu.RLock()
		for _, c := range g.conns {
			c.forceClose()
		}
		g.mu.RUnlock()
		waitFor(t, "connections closed at cleanup", func() bool { return g.Connections() == 0 })
		cancel()
		<-runDone
		srv.Close()
	})
	waitFor(t, "gateway ready", g.Ready)
	return &testEnv{t: t, g: g, cfg: cfg, st: st, rdb: rdb, reg: reg, srv: srv,
		url: "ws" + strings.TrimPrefix(srv.URL, "http"), app: app, secret: secret, node: node}
}

// waitFor polls cond for up to 30 seconds: generous, so that a busy
// machine is not mistaken for a broken gateway.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func (e *testEnv) token(t testing.TB, uid int64) string {
	t.Helper()
	tok, err := auth.Issue(e.secret, e.app, auth.RoleUser, uid, time.Hour, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// rx is a frame the test client received.
type rx struct {
	protocol.Frame
	raw []byte
}

// client is a test WebSocket client. Unless created paused, a goroutine
// reads every frame into a channel, so that waiting for a frame never
// times out the connection itself.
type client struct {
	t      testing.TB
	ws     *websocket.Conn
	frames chan rx
	closed chan struct{}
	err    error // read error that ended the connection; valid once closed is closed
}

func (e *testEnv) dial(t testing.TB) *client {
	t.Helper()
	c := e.dialPaused(t)
	c.startReading()
	return c
}

// dialPaused connects without reading: the server's writes pile up.
func (e *testEnv) dialPaused(t testing.TB) *client {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	ws, _, err := websocket.Dial(ctx, e.url, &websocket.DialOptions{Subprotocols: []string{protocol.Subprotocol}})
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	ws.SetReadLimit(16 << 20)
	c := &client{t: t, ws: ws, frames: make(chan rx, 10000), closed: make(chan struct{})}
	t.Cleanup(func() { ws.CloseNow() })
	return c
}

func (c *client) startReading() {
	go func() {
		defer close(c.closed)
		for {
			typ, b, err := c.ws.Read(context.Background())
			if err != nil {
				c.err = err
				return
			}
			if typ != websocket.MessageText {
				c.err = fmt.Errorf("server sent a binary frame")
				return
			}
			var f rx
			f.raw = b
			if err := json.Unmarshal(b, &f.Frame); err != nil {
				c.err = fmt.Errorf("server sent invalid JSON %q: %w", b, err)
				return
			}
			c.frames <- f
		}
	}()
}

func (c *client) sendRaw(typ websocket.MessageType, b []byte) {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := c.ws.Write(ctx, typ, b); err != nil {
		c.t.Fatalf("write: %v", err)
	}
}

// send writes v as a JSON text frame; a string is sent as is.
func (c *client) send(v any) {
	c.t.Helper()
	if s, ok := v.(string); ok {
		c.sendRaw(websocket.MessageText, []byte(s))
		return
	}
	b, err := json.Marshal(v)
	if err != nil {
		c.t.Fatal(err)
	}
	c.sendRaw(websocket.MessageText, b)
}

// next returns the next frame, failing the test after d.
func (c *client) next(d time.Duration) rx {
	c.t.Helper()
	select {
	case f := <-c.frames:
		return f
	case <-c.closed:
		select {
		case f := <-c.frames:
			return f
		default:
		}
		c.t.Fatalf("connection closed while waiting for a frame: %v", c.err)
	case <-time.After(d):
		c.t.Fatalf("no frame within %v", d)
	}
	return rx{}
}

func (c *client) read() rx {
	c.t.Helper()
	return c.next(30 * time.Second)
}

// expect reads the next frame and checks its type (and code for err and
// kick frames, when code is not 0).
func (c *client) expect(typ string, code protocol.Code) rx {
	c.t.Helper()
	f := c.read()
	if f.T != typ || (code != 0 && f.Code != int(code)) {
		c.t.Fatalf("got %s, want %s with code %d", f.raw, typ, code)
	}
	return f
}

// expectNone checks that no frame arrives within d.
func (c *client) expectNone(d time.Duration) {
	c.t.Helper()
	select {
	case f := <-c.frames:
		c.t.Fatalf("unexpected frame %s", f.raw)
	case <-time.After(d):
	}
}

// expectClose waits for the server to close the connection with code.
func (c *client) expectClose(code protocol.Code) {
	c.t.Helper()
	select {
	case <-c.closed:
	case <-time.After(5 * time.Second):
		c.t.Fatalf("connection not closed, want close status %d", code)
	}
	select {
	case f := <-c.frames:
		c.t.Fatalf("unexpected frame before close: %s", f.raw)
	default:
	}
	if got := websocket.CloseStatus(c.err); got != websocket.StatusCode(code) {
		c.t.Fatalf("close status %d (%v), want %d", got, c.err, code)
	}
}

// expectKick reads a kick frame of code and then the close with the same
// status and reason.
func (c *client) expectKick(code protocol.Code) {
	c.t.Helper()
	f := c.expect(protocol.TypeKick, code)
	if f.Reason != code.String() {
		c.t.Fatalf("kick reason %q, want %q", f.Reason, code.String())
	}
	c.expectClose(code)
	var ce websocket.CloseError
	if errors.As(c.err, &ce) && ce.Reason != code.String() {
		c.t.Fatalf("close reason %q, want %q", ce.Reason, code.String())
	}
}

// expectErr reads an err frame with code and rid; the connection must stay
// open unless the test then expects a close.
func (c *client) expectErr(code protocol.Code, rid uint32) rx {
	c.t.Helper()
	f := c.expect(protocol.TypeErr, code)
	if f.Rid != rid {
		c.t.Fatalf("err rid %d, want %d: %s", f.Rid, rid, f.raw)
	}
	if f.Msg == "" {
		c.t.Fatalf("err without msg: %s", f.raw)
	}
	return f
}

// ping checks the connection is alive and that every earlier frame has
// been read: the pong is the next frame.
func (c *client) ping(rid uint32) {
	c.t.Helper()
	c.send(map[string]any{"t": "ping", "rid": rid})
	f := c.expect(protocol.TypePong, 0)
	if f.Rid != rid || f.TS == 0 {
		c.t.Fatalf("bad pong %s", f.raw)
	}
}

func authFrame(token, app string, dev int32, rid uint32) map[string]any {
	return map[string]any{"t": "auth", "rid": rid, "token": token, "app_id": app, "device_sn": dev, "platform": protocol.PlatformAndroid}
}

// login connects and authenticates uid on device dev.
func (e *testEnv) login(t testing.TB, uid int64, dev int32) (*client, *protocol.Hello) {
	t.Helper()
	c := e.dial(t)
	c.send(authFrame(e.token(t, uid), e.app, dev, 1))
	f := c.expect(protocol.TypeHello, 0)
	if f.Hello == nil || f.Rid != 1 {
		t.Fatalf("bad hello %s", f.raw)
	}
	return c, f.Hello
}

// push plays a router: it writes one delivery batch to node's stream.
func (e *testEnv) push(t testing.TB, node string, items ...bus.Delivery) {
	t.Helper()
	vals, err := bus.Encode(&bus.Batch{Items: items})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.rdb.XAdd(context.Background(), &redis.XAddArgs{Stream: bus.DeliveryStream(node), Values: vals}).Err(); err != nil {
		t.Fatal(err)
	}
}

// ingress plays a router: it returns the sends of this test's app found in
// the ingress streams, with the partition each was in.
func (e *testEnv) ingress(t testing.TB) (sends []bus.Send, parts []int) {
	t.Helper()
	for p := 0; p < testPartitions; p++ {
		msgs, err := e.rdb.XRange(context.Background(), bus.IngressStream(p), "-", "+").Result()
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range msgs {
			var s bus.Send
			if err := bus.Decode(m, &s); err != nil {
				t.Fatal(err)
			}
			if s.App == e.app {
				sends = append(sends, s)
				parts = append(parts, p)
			}
		}
	}
	return sends, parts
}

// counter reads a counter of the gateway's registry (0 if absent).
func (e *testEnv) counter(name string, labels ...string) float64 {
	mfs, err := e.reg.Gather()
	if err != nil {
		e.t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	metrics:
		for _, m := range mf.GetMetric() {
			for i := 0; i+1 < len(labels); i += 2 {
				found := false
				for _, lp := range m.GetLabel() {
					if lp.GetName() == labels[i] && lp.GetValue() == labels[i+1] {
						found = true
					}
				}
				if !found {
					continue metrics
				}
			}
			switch {
			case m.GetCounter() != nil:
				return m.GetCounter().GetValue()
			case m.GetGauge() != nil:
				return m.GetGauge().GetValue()
			}
		}
	}
	return 0
}

// httpStatus does a plain WebSocket handshake and returns the HTTP status.
func (e *testEnv) httpStatus(t testing.TB, header http.Header) int {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	ws, resp, err := websocket.Dial(ctx, e.url, &websocket.DialOptions{
		Subprotocols: []string{protocol.Subprotocol}, HTTPHeader: header,
	})
	if err == nil {
		ws.CloseNow()
		return http.StatusSwitchingProtocols
	}
	if resp == nil {
		t.Fatalf("dial: %v", err)
	}
	io.Copy(io.Discard, resp.Body)
	return resp.StatusCode
}

// child is a copy of this test binary running one test in its own process
// (so that its clients' memory and CPU are not counted as the gateway's),
// reporting through stdout lines that start with a prefix.
type child struct {
	t     *testing.T
	stdin io.WriteCloser
	lines chan string
}

// startChild runs test in a child process with env added; closing its
// stdin tells it to stop. It is stopped and waited for when t ends.
func startChild(t *testing.T, test string, env []string, prefix string) *child {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^"+test+"$", "-test.v")
	cmd.Env = append(os.Environ(), env...)
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	c := &child{t: t, stdin: stdin, lines: make(chan string, 16)}
	t.Cleanup(func() {
		stdin.Close()
		cmd.Wait()
	})
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if l, ok := strings.CutPrefix(sc.Text(), prefix); ok {
				c.lines <- l
			}
		}
		close(c.lines)
	}()
	return c
}

// next returns the child's next report, failing the test if the child
// ended or said nothing for two minutes.
func (c *child) next() string {
	c.t.Helper()
	select {
	case l, ok := <-c.lines:
		if !ok {
			c.t.Fatal("child process ended")
		}
		return l
	case <-time.After(2 * time.Minute):
		c.t.Fatal("child process timed out")
	}
	return ""
}

// stop tells the child to finish.
func (c *child) stop() { c.stdin.Close() }
