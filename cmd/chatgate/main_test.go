package main

import (
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/chatgate/chatgate/internal/auth"
	"github.com/chatgate/chatgate/internal/redistest"
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

// runCmd runs a command line in-process, as main would.
func runCmd(t *testing.T, env []string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb syncBuffer
	code = run(context.Background(), args, stdio{stdin: strings.NewReader(""), stdout: &out, stderr: &errb, environ: env})
	return code, out.String(), errb.String()
}

func TestVersionAndHelp(t *testing.T) {
	code, out, _ := runCmd(t, nil, "version")
	if code != 0 || !strings.HasPrefix(out, "chatgate ") || !strings.Contains(out, runtime.Version()) {
		t.Fatalf("version: %d %q", code, out)
	}
	if code, out, _ := runCmd(t, nil, "help"); code != 0 || !strings.Contains(out, "serve") || !strings.Contains(out, "token") {
		t.Fatalf("help: %d %q", code, out)
	}
	if code, out, _ := runCmd(t, nil, "help", "client"); code != 0 || !strings.Contains(out, "-to-user") {
		t.Fatalf("help client: %d %q", code, out)
	}
	if code, _, errs := runCmd(t, nil, "frobnicate"); code != 2 || !strings.Contains(errs, "unknown command") {
		t.Fatalf("unknown command: %d %q", code, errs)
	}
	if code, _, _ := runCmd(t, nil); code != 2 {
		t.Fatalf("no command: %d", code)
	}
	if code, _, _ := runCmd(t, nil, "version", "extra"); code != 2 {
		t.Fatalf("stray argument: %d", code)
	}
}

func TestToken(t *testing.T) {
	const app, secret = "tok", "0123456789abcdef-token"
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "c.yaml")
	if err := os.WriteFile(cfgPath, []byte("apps:\n  - {id: "+app+", secret: \""+secret+"\"}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	verify := func(tok string) *auth.Claims {
		t.Helper()
		c, err := auth.Verify([]byte(secret), app, strings.TrimSpace(tok), time.Now())
		if err != nil {
			t.Fatalf("token %q: %v", tok, err)
		}
		return c
	}

	code, out, errs := runCmd(t, nil, "token", "-config", cfgPath, "-app", app, "-user", "7")
	if code != 0 {
		t.Fatalf("token -user: %d %s", code, errs)
	}
	if c := verify(out); c.UserID() != 7 || c.Role != auth.RoleUser {
		t.Fatalf("claims %+v", c)
	}
	// The config file may come from the environment, and -ttl is honoured.
	code, out, errs = runCmd(t, []string{"CHATGATE_CONFIG=" + cfgPath}, "token", "-app", app, "-admin", "-ttl", "1h")
	if code != 0 {
		t.Fatalf("token -admin: %d %s", code, errs)
	}
	if c := verify(out); c.Role != auth.RoleAdmin || time.Until(c.ExpiresAt.Time) > time.Hour {
		t.Fatalf("claims %+v", c)
	}

	for _, tt := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"-config", cfgPath, "-user", "1"}, 2, "-app is required"},
		{[]string{"-config", cfgPath, "-app", app}, 2, "exactly one"},
		{[]string{"-config", cfgPath, "-app", app, "-admin", "-user", "3"}, 2, "exactly one"},
		{[]string{"-config", cfgPath, "-app", app, "-user", "-3"}, 2, "positive"},
		{[]string{"-config", cfgPath, "-app", "other", "-admin"}, 1, "not in the config"},
		{[]string{"-config", filepath.Join(dir, "missing.yaml"), "-app", app, "-admin"}, 1, "missing.yaml"},
		{[]string{"-app", app, "-admin", "-bogus"}, 2, "flag provided but not defined"},
	} {
		code, _, errs := runCmd(t, nil, append([]string{"token"}, tt.args...)...)
		if code != tt.code || !strings.Contains(errs, tt.want) {
			t.Errorf("token %v: %d %q, want %d %q", tt.args, code, errs, tt.code, tt.want)
		}
	}
}

func TestTokenFromRedis(t *testing.T) {
	addr := redistest.Start(t)
	rdb := redis.NewClient(&redis.Options{Addr: addr})
	t.Cleanup(func() { rdb.Close() })
	const app, secret = "fromredis", "redis-secret-0123456789"
	if err := store.New(rdb, store.Options{}).PutApp(context.Background(), store.App{ID: app, Secret: secret}); err != nil {
		t.Fatal(err)
	}
	env := []string{"CHATGATE_REDIS_ADDR=" + addr}
	code, out, errs := runCmd(t, env, "token", "-app", app, "-user", "9")
	if code != 0 {
		t.Fatalf("token: %d %s", code, errs)
	}
	if c, err := auth.Verify([]byte(secret), app, strings.TrimSpace(out), time.Now()); err != nil || c.UserID() != 9 {
		t.Fatalf("token from Redis: %+v %v", c, err)
	}
	if code, _, errs := runCmd(t, env, "token", "-app", "nosuchapp", "-admin"); code != 1 || !strings.Contains(errs, "not found") {
		t.Fatalf("unknown app: %d %q", code, errs)
	}
}

// field returns the text after label on a line of out.
func field(out, label string) string {
	for _, line := range strings.Split(out, "\n") {
		if rest, ok := strings.CutPrefix(strings.TrimSpace(line), label); ok {
			return strings.TrimSpace(rest)
		}
	}
	return ""
}

func waitFor(t *testing.T, what string, d time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestServeAndClients is the README's "try it" in-process: serve in
// embedded mode, then the printed tokens with an interactive client and a
// scripted one.
func TestServeAndClients(t *testing.T) {
	// Free ports only: a fixed one (the admin default, 8081) may be taken.
	env := []string{"CHATGATE_GATEWAY_LISTEN=127.0.0.1:0", "CHATGATE_METRICS_LISTEN=127.0.0.1:0", "CHATGATE_ADMIN_LISTEN=127.0.0.1:0", "CHATGATE_GATEWAY_DRAIN_TIMEOUT=2s",
		// The cheapest bcrypt cost for the dev users: the start is what a
		// busy machine slows down most.
		"CHATGATE_ADMIN_PASSWORD_COST=4"}
	var srvOut, srvErr syncBuffer
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	served := make(chan int, 1)
	go func() {
		served <- run(ctx, []string{"serve"}, stdio{stdin: strings.NewReader(""), stdout: &srvOut, stderr: &srvErr, environ: env, argv0: "chatgate"})
	}()
	defer func() {
		cancel()
		select {
		case code := <-served:
			if code != 0 {
				t.Errorf("serve exited %d:\n%s", code, srvErr.String())
			}
		case <-time.After(time.Minute):
			t.Error("serve did not stop")
		}
		if t.Failed() {
			t.Logf("serve stderr:\n%s", srvErr.String())
		}
	}()
	waitFor(t, "the dev block", 2*time.Minute, func() bool { return field(srvOut.String(), "User 2 token:") != "" })
	out := srvOut.String()
	url, tok1, tok2 := field(out, "WebSocket URL:"), field(out, "User 1 token:"), field(out, "User 2 token:")

	// User 1 sends before user 2 is connected: user 2's client must find
	// it by its start-up sync.
	code, sendOut, errs := runCmd(t, nil, "client", "-url", url, "-app", "demo", "-token", tok1, "-to-user", "2", "-send", "before you came")
	if code != 0 || !strings.HasPrefix(sendOut, "sent id=") {
		t.Fatalf("client -send: %d %q %q", code, sendOut, errs)
	}

	stdinR, stdinW := io.Pipe()
	var cOut, cErr syncBuffer
	cctx, ccancel := context.WithCancel(context.Background())
	defer ccancel()
	clientDone := make(chan int, 1)
	go func() {
		clientDone <- run(cctx, []string{"client", "-url", url, "-api", strings.Fields(field(out, "REST API:") + " -")[0], "-app", "demo", "-token", tok2, "-device", "3", "-to-user", "1"},
			stdio{stdin: stdinR, stdout: &cOut, stderr: &cErr})
	}()
	waitFor(t, "the synced message", time.Minute, func() bool {
		return strings.Contains(cOut.String(), "[u:1:2] from 1: before you came")
	})
	waitFor(t, "the client to be ready", time.Minute, func() bool { return strings.Contains(cErr.String(), "* ready") })

	if code, _, errs := runCmd(t, nil, "client", "-url", url, "-app", "demo", "-token", tok1, "-to-user", "2", "-send", "live one"); code != 0 {
		t.Fatalf("client -send: %d %s", code, errs)
	}
	waitFor(t, "the live message", time.Minute, func() bool { return strings.Contains(cOut.String(), "[u:1:2] from 1: live one") })

	// A typed line is sent and acknowledged; /quit leaves.
	if _, err := io.WriteString(stdinW, "typed reply\n"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the ack of the typed line", time.Minute, func() bool { return strings.Contains(cErr.String(), "* sent to user 1") })

	// Groups: user 2 creates one with user 1 from the client, both chat
	// in it, and the notice of its creation is printed readably.
	if _, err := io.WriteString(stdinW, "/create-group pals 1\n"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the group", time.Minute, func() bool { return strings.Contains(cErr.String(), "* created group ") })
	gid := strings.Fields(cErr.String()[strings.Index(cErr.String(), "* created group ")+len("* created group "):])[0]
	gid = strings.TrimSuffix(gid, ";")
	waitFor(t, "the creation notice", time.Minute, func() bool {
		return strings.Contains(cOut.String(), "[g:"+gid+"] * user 2: group created")
	})
	if _, err := io.WriteString(stdinW, "hello @1\n"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the ack of the group line", time.Minute, func() bool { return strings.Contains(cErr.String(), "* sent to group "+gid) })
	if code, _, errs := runCmd(t, nil, "client", "-url", url, "-app", "demo", "-token", tok1, "-to-group", gid, "-send", "hi group"); code != 0 {
		t.Fatalf("client -send to the group: %d %s", code, errs)
	}
	waitFor(t, "the group message", time.Minute, func() bool { return strings.Contains(cOut.String(), "[g:"+gid+"] from 1: hi group") })
	if _, err := io.WriteString(stdinW, "/quit\n"); err != nil {
		t.Fatal(err)
	}
	select {
	case code := <-clientDone:
		if code != 0 {
			t.Fatalf("interactive client exited %d: %s", code, cErr.String())
		}
	case <-time.After(time.Minute):
		t.Fatal("interactive client did not quit")
	}
	stdinW.Close()
}

func TestClientUsageErrors(t *testing.T) {
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{}, "-token is required"},
		{[]string{"-token", "x", "-to-user", "1", "-to-group", "2"}, "at most one"},
		{[]string{"-token", "x", "-send", "hi"}, "needs -to-user"},
		{[]string{"-token", "x", "-device", "0"}, "-device"},
	} {
		code, _, errs := runCmd(t, nil, append([]string{"client"}, tt.args...)...)
		if code != 2 || !strings.Contains(errs, tt.want) {
			t.Errorf("client %v: %d %q, want 2 %q", tt.args, code, errs, tt.want)
		}
	}
}

func TestClientCommand(t *testing.T) {
	for in, want := range map[string]string{
		"":                                   "chatgate",
		"chatgate":                           "chatgate",
		"./bin/chatgate":                     "./bin/chatgate",
		"/tmp/go-build123/b001/exe/chatgate": "go run ./cmd/chatgate",
	} {
		if got := clientCommand(in); got != want {
			t.Errorf("clientCommand(%q) = %q, want %q", in, got, want)
		}
	}
}
