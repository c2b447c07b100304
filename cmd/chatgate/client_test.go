package main

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

// devServer serves embedded mode in-process and returns its dev block and
// a function that stops it.
func devServer(t *testing.T) (out string, stop func()) {
	t.Helper()
	env := []string{"CHATGATE_GATEWAY_LISTEN=127.0.0.1:0", "CHATGATE_METRICS_LISTEN=127.0.0.1:0",
		"CHATGATE_ADMIN_LISTEN=127.0.0.1:0", "CHATGATE_GATEWAY_DRAIN_TIMEOUT=1s", "CHATGATE_ADMIN_PASSWORD_COST=4"}
	var srvOut, srvErr syncBuffer
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan int, 1)
	go func() {
		served <- run(ctx, []string{"serve"}, stdio{stdin: strings.NewReader(""), stdout: &srvOut, stderr: &srvErr, environ: env, argv0: "chatgate"})
	}()
	stopped := false
	stop = func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		select {
		case <-served:
		case <-time.After(time.Minute):
			t.Error("serve did not stop")
		}
	}
	t.Cleanup(stop)
	waitFor(t, "the dev block", 2*time.Minute, func() bool { return field(srvOut.String(), "User 2 token:") != "" })
	return srvOut.String(), stop
}

// interactiveClient runs `chatgate client` with the given flags; stdout
// and stderr go to one buffer, so that the order of their lines shows.
type interactiveClient struct {
	stdin io.WriteCloser
	out   *syncBuffer
	done  chan int
}

func startClient(t *testing.T, args ...string) *interactiveClient {
	t.Helper()
	r, w := io.Pipe()
	c := &interactiveClient{stdin: w, out: &syncBuffer{}, done: make(chan int, 1)}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(func() { cancel(); w.Close() })
	go func() {
		c.done <- run(ctx, append([]string{"client"}, args...), stdio{stdin: r, stdout: c.out, stderr: c.out})
	}()
	return c
}

func (c *interactiveClient) exit(t *testing.T, d time.Duration) int {
	t.Helper()
	select {
	case code := <-c.done:
		return code
	case <-time.After(d):
		t.Fatalf("client did not exit within %v:\n%s", d, c.out.String())
	}
	return 0
}

// TestClientDefects covers the terminal client's reported defects: a
// synced message prints before "* ready"; `-send` does not replace the
// interactive client of device 1; an admin kick ends it with a clear
// message (no "reconnecting", no doubled "client: client:"); and EOF ends
// it while a send waits for a server that is down.
func TestClientDefects(t *testing.T) {
	out, stop := devServer(t)
	url, app := field(out, "WebSocket URL:"), field(out, "App id:")
	tok1, tok2, admin := field(out, "User 1 token:"), field(out, "User 2 token:"), field(out, "Admin token:")
	api := strings.Fields(field(out, "REST API:"))[0]

	if code, sent, errs := runCmd(t, nil, "client", "-url", url, "-app", app, "-token", tok2, "-to-user", "1", "-send", "synced one"); code != 0 {
		t.Fatalf("client -send: %d %q %q", code, sent, errs)
	}
	// As the dev block prints it: device 1.
	c := startClient(t, "-url", url, "-app", app, "-device", "1", "-token", tok1, "-to-user", "2", "-timeout", "2s")
	waitFor(t, "ready", time.Minute, func() bool { return strings.Contains(c.out.String(), "* ready") })
	if s := c.out.String(); strings.Index(s, "synced one") < 0 || strings.Index(s, "synced one") > strings.Index(s, "* ready") {
		t.Fatalf("synced message not before the ready line:\n%s", s)
	}

	// A one-shot send of the same user, as printed (-device 1 is not
	// given to it), must not replace the interactive client.
	if code, sent, errs := runCmd(t, nil, "client", "-url", url, "-app", app, "-token", tok1, "-to-user", "2", "-send", "one shot"); code != 0 {
		t.Fatalf("client -send: %d %q %q", code, sent, errs)
	}
	if _, err := io.WriteString(c.stdin, "still here\n"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the typed line's ack", time.Minute, func() bool { return strings.Contains(c.out.String(), "* sent to user 2") })
	if s := c.out.String(); strings.Contains(s, "disconnected") || strings.Contains(s, "replaced") {
		t.Fatalf("the one-shot send replaced the interactive client:\n%s", s)
	}

	// An admin kick ends the client with a clear message.
	req, _ := http.NewRequest("POST", api+"/user/kick?device_sn=1", nil)
	req.Header["app_id"] = []string{app}
	req.Header["access-token"] = []string{admin}
	req.Header["user_id"] = []string{"1"}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if code := c.exit(t, time.Minute); code == 0 {
		t.Fatalf("kicked client exited 0:\n%s", c.out.String())
	}
	s := c.out.String()
	if !strings.Contains(s, "kicked by an administrator") || strings.Contains(s, "reconnecting") || strings.Contains(s, "client: client:") {
		t.Fatalf("kicked client said:\n%s", s)
	}

	// EOF while a send waits for a server that is down ends the client.
	c = startClient(t, "-url", url, "-app", app, "-device", "5", "-token", tok2, "-to-user", "1", "-timeout", "10m")
	waitFor(t, "ready", time.Minute, func() bool { return strings.Contains(c.out.String(), "* ready") })
	stop()
	waitFor(t, "the disconnect", time.Minute, func() bool { return strings.Contains(c.out.String(), "reconnecting") })
	if _, err := io.WriteString(c.stdin, "into the void\n"); err != nil {
		t.Fatal(err)
	}
	c.stdin.Close()
	if code := c.exit(t, time.Minute); code != 0 {
		t.Fatalf("client exited %d after EOF:\n%s", code, c.out.String())
	}
	if !strings.Contains(c.out.String(), "not acknowledged") {
		t.Fatalf("client left without saying a message was not acknowledged:\n%s", c.out.String())
	}
}

// TestSendTimeout: with the server down, a typed line's send gives up
// after -timeout and says so, and the client goes on.
func TestSendTimeout(t *testing.T) {
	out, stop := devServer(t)
	url, app, tok1 := field(out, "WebSocket URL:"), field(out, "App id:"), field(out, "User 1 token:")
	c := startClient(t, "-url", url, "-app", app, "-device", "1", "-token", tok1, "-to-user", "2", "-timeout", "1s")
	waitFor(t, "ready", time.Minute, func() bool { return strings.Contains(c.out.String(), "* ready") })
	stop()
	waitFor(t, "the disconnect", time.Minute, func() bool { return strings.Contains(c.out.String(), "reconnecting") })
	if _, err := io.WriteString(c.stdin, "lost in time\n"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the send's timeout", time.Minute, func() bool { return strings.Contains(c.out.String(), "* not sent") })
	if _, err := io.WriteString(c.stdin, "/quit\n"); err != nil {
		t.Fatal(err)
	}
	if code := c.exit(t, time.Minute); code != 0 {
		t.Fatalf("client exited %d:\n%s", code, c.out.String())
	}
}
