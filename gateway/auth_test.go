package gateway

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/chatgate/chatgate/internal/auth"
	"github.com/chatgate/chatgate/internal/bus"
	"github.com/chatgate/chatgate/internal/config"
	"github.com/chatgate/chatgate/protocol"
	"github.com/chatgate/chatgate/store"
)

func TestAuthHello(t *testing.T) {
	e := newEnv(t, nil)
	// The app's certificate "Prod": the notifier binds to it whatever its case.
	if err := e.st.PutPushCredentials(context.Background(), e.app, []store.PushCredential{{Name: "Prod", Provider: "apns"}}); err != nil {
		t.Fatal(err)
	}
	c := e.dial(t)
	c.send(map[string]any{"t": "auth", "rid": 9, "token": e.token(t, 42), "app_id": e.app,
		"device_sn": 3, "platform": protocol.PlatformIOS, "push_token": "apns-token", "notifier": "prod"})
	f := c.expect(protocol.TypeHello, 0)
	h := f.Hello
	switch {
	case f.Rid != 9:
		t.Fatalf("hello rid %d", f.Rid)
	case h == nil || h.Session == "" || strings.ContainsAny(h.Session, "|:") || len(h.Session) > 24:
		t.Fatalf("bad session in %s", f.raw)
	case h.Node != e.node || h.UserID != 42 || h.DeviceSN != 3:
		t.Fatalf("bad identity in %s", f.raw)
	case h.Heartbeat != int(e.cfg.Heartbeat/time.Second) || h.Resume != 0 || h.Limits != e.cfg.Limits:
		t.Fatalf("bad heartbeat/resume/limits in %s", f.raw)
	}
	ctx := context.Background()
	routes, err := e.st.Routes(ctx, e.app, 42, time.Now())
	if err != nil || len(routes) != 1 || routes[0].Conn != h.Session || routes[0].Node != e.node || routes[0].Device != 3 || routes[0].BG {
		t.Fatalf("routes = %+v, %v", routes, err)
	}
	devs, err := e.st.Devices(ctx, e.app, 42)
	if err != nil || len(devs) != 1 || devs[0].Platform != protocol.PlatformIOS || devs[0].PushToken != "apns-token" || devs[0].Notifier != "Prod" || devs[0].LastSeen == 0 {
		t.Fatalf("devices = %+v, %v", devs, err)
	}
	c.ping(2)
	if e.g.Connections() != 1 || e.counter("chatgate_gateway_connects_total", "result", "ok") != 1 {
		t.Fatalf("connections %d, connects ok %v", e.g.Connections(), e.counter("chatgate_gateway_connects_total", "result", "ok"))
	}
	// A second auth is refused but the connection stays open.
	c.send(authFrame(e.token(t, 42), e.app, 3, 4))
	c.expectErr(protocol.CodeAlreadyAuthed, 4)
	c.ping(5)

	// Closing removes the route.
	c.ws.Close(websocket.StatusNormalClosure, "")
	waitFor(t, "route removed", func() bool {
		rs, _ := e.st.Routes(ctx, e.app, 42, time.Now())
		return len(rs) == 0
	})
	waitFor(t, "connection gone", func() bool { return e.g.Connections() == 0 })
}

func TestAuthFailures(t *testing.T) {
	e := newEnv(t, nil)
	ctx := context.Background()
	now := time.Now()
	other := uniq("other")
	otherSecret := []byte("secret-of-other-app-0123456789")
	if err := e.st.PutApp(ctx, store.App{ID: other, Secret: string(otherSecret), Users: store.AppUsersAny}); err != nil {
		t.Fatal(err)
	}
	if err := e.st.SetUserDisabled(ctx, e.app, 66, true); err != nil {
		t.Fatal(err)
	}
	issue := func(secret []byte, app, role string, uid int64, ttl time.Duration, at time.Time) string {
		tok, err := auth.Issue(secret, app, role, uid, ttl, at)
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	tests := []struct {
		name  string
		token string
		app   string
		code  protocol.Code
	}{
		{"forged", issue([]byte("not-the-secret-0123456789"), e.app, auth.RoleUser, 1, time.Hour, now), e.app, protocol.CodeAuthFailed},
		{"garbage", "not.a.jwt", e.app, protocol.CodeAuthFailed},
		{"expired", issue(e.secret, e.app, auth.RoleUser, 1, time.Minute, now.Add(-time.Hour)), e.app, protocol.CodeTokenExpired},
		{"token of another app", issue(otherSecret, other, auth.RoleUser, 1, time.Hour, now), e.app, protocol.CodeAppMismatch},
		{"unknown app", e.token(t, 1), "no_such_app_" + other, protocol.CodeUnknownApp},
		{"admin token", issue(e.secret, e.app, auth.RoleAdmin, 0, time.Hour, now), e.app, protocol.CodeAuthFailed},
		{"disabled user", e.token(t, 66), e.app, protocol.CodeUserDisabled},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := e.dial(t)
			c.send(authFrame(tt.token, tt.app, 1, 77))
			c.expectErr(tt.code, 77)
			c.expectClose(tt.code)
			if got := e.counter("chatgate_gateway_connects_total", "result", tt.code.String()); got < 1 {
				t.Fatalf("connects_total{result=%s} = %v", tt.code.String(), got)
			}
		})
	}
	if rs, _ := e.st.Routes(ctx, e.app, 1, time.Now()); len(rs) != 0 {
		t.Fatalf("failed auths left routes: %+v", rs)
	}
}

// TestFrameBeforeAuth: before authentication every rejected frame is
// answered and closes the connection with its code.
func TestFrameBeforeAuth(t *testing.T) {
	e := newEnv(t, nil)
	tests := []struct {
		name   string
		frame  string
		binary bool
		code   protocol.Code
		rid    uint32
	}{
		{"ping", `{"t":"ping","rid":3}`, false, protocol.CodeNotAuthed, 3},
		{"valid send", `{"t":"send","rid":4,"cmid":"a","to_user":2,"type":"text","content":"x"}`, false, protocol.CodeNotAuthed, 4},
		{"malformed", `{"t":"auth","rid":4`, false, protocol.CodeBadFrame, 0},
		{"unknown type", `{"t":"hello","rid":5}`, false, protocol.CodeUnknownType, 5},
		{"auth without token", `{"t":"auth","rid":6,"app_id":"a","device_sn":1,"platform":1}`, false, protocol.CodeMissingField, 6},
		{"auth with bad platform", `{"t":"auth","rid":7,"token":"x","app_id":"a","device_sn":1,"platform":9}`, false, protocol.CodeBadValue, 7},
		{"binary", `{"t":"auth"}`, true, protocol.CodeBadFrame, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := e.dial(t)
			if tt.binary {
				c.sendRaw(websocket.MessageBinary, []byte(tt.frame))
			} else {
				c.send(tt.frame)
			}
			c.expectErr(tt.code, tt.rid)
			c.expectClose(tt.code)
		})
	}
}

func TestAuthTimeout(t *testing.T) {
	e := newEnv(t, func(c *config.Gateway) { c.AuthTimeout = 300 * time.Millisecond })
	c := e.dial(t)
	start := time.Now()
	c.expectErr(protocol.CodeAuthTimeout, 0)
	c.expectClose(protocol.CodeAuthTimeout)
	if d := time.Since(start); d < 250*time.Millisecond {
		t.Fatalf("closed after %v, before the auth timeout", d)
	}
}

func TestSubprotocolRequired(t *testing.T) {
	e := newEnv(t, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	ws, _, err := websocket.Dial(ctx, e.url, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ws.CloseNow()
	_, _, err = ws.Read(ctx)
	var ce websocket.CloseError
	if !errors.As(err, &ce) || ce.Code != 4000 || ce.Reason != "subprotocol chatgate.v1.json required" {
		t.Fatalf("read: %v", err)
	}
	waitFor(t, "no connection left", func() bool { return e.g.Connections() == 0 && e.g.slots.Load() == 0 })
}

func TestDeviceCap(t *testing.T) {
	e := newEnv(t, func(c *config.Gateway) { c.MaxDevicesPerUser = 2 })
	e.login(t, 5, 1)
	e.login(t, 5, 2)
	c := e.dial(t)
	c.send(authFrame(e.token(t, 5), e.app, 3, 8))
	c.expectErr(protocol.CodeTooManyDevices, 8)
	c.expectClose(protocol.CodeTooManyDevices)
	// Reconnecting an existing device is not a new device.
	e.login(t, 5, 2)
	if e.g.Connections() < 2 {
		t.Fatalf("connections = %d", e.g.Connections())
	}
}

func TestReplaceSameNode(t *testing.T) {
	e := newEnv(t, nil)
	old, _ := e.login(t, 7, 1)
	other, _ := e.login(t, 7, 2)
	c, hello := e.login(t, 7, 1)
	old.expectKick(protocol.CodeKickReplaced)
	c.ping(1)
	other.ping(1)
	rs, err := e.st.Routes(context.Background(), e.app, 7, time.Now())
	if err != nil || len(rs) != 2 {
		t.Fatalf("routes %+v %v", rs, err)
	}
	for _, r := range rs {
		if r.Device == 1 && r.Conn != hello.Session {
			t.Fatalf("device 1 route %+v, want conn %s", r, hello.Session)
		}
	}
	if e.counter("chatgate_gateway_kicks_total", "reason", "replaced") != 1 {
		t.Fatal("kick not counted")
	}
}

func TestReplaceCrossNode(t *testing.T) {
	e1 := newEnv(t, nil)
	e2 := e1.peer(t, nil)
	old, _ := e1.login(t, 8, 4)
	c, hello := e2.login(t, 8, 4)
	old.expectKick(protocol.CodeKickReplaced)
	c.ping(1)
	// The kick travelled in the old node's delivery stream, which expires
	// like the streams routers write.
	if ttl, err := e1.rdb.PTTL(context.Background(), bus.DeliveryStream(e1.node)).Result(); err != nil || ttl <= 0 || ttl > kickStreamTTL {
		t.Fatalf("delivery stream TTL %v %v", ttl, err)
	}
	// The kicked connection's close must not remove the new route.
	waitFor(t, "old connection gone", func() bool { return e1.g.Connections() == 0 })
	rs, err := e1.st.Routes(context.Background(), e1.app, 8, time.Now())
	if err != nil || len(rs) != 1 || rs[0].Conn != hello.Session || rs[0].Node != e2.node {
		t.Fatalf("routes %+v %v", rs, err)
	}
}

func TestRefuseConnections(t *testing.T) {
	e := newEnv(t, func(c *config.Gateway) { c.MaxConnections = 2 })
	e.dial(t)
	e.dial(t)
	if got := e.httpStatus(t, nil); got != http.StatusServiceUnavailable {
		t.Fatalf("third connection: HTTP %d, want 503", got)
	}
	// A foreign browser origin is refused unless allowed.
	e2 := newEnv(t, func(c *config.Gateway) { c.AllowedOrigins = []string{"app.example.com"} })
	if got := e2.httpStatus(t, http.Header{"Origin": {"https://evil.example.com"}}); got != http.StatusForbidden {
		t.Fatalf("foreign origin: HTTP %d, want 403", got)
	}
	if got := e2.httpStatus(t, http.Header{"Origin": {"https://app.example.com"}}); got != http.StatusSwitchingProtocols {
		t.Fatalf("allowed origin: HTTP %d, want 101", got)
	}
}

// TestPipelinedAuth: a client may send its auth frame (and more) right
// behind the handshake request, before it has read the 101 response.
func TestPipelinedAuth(t *testing.T) {
	e := newEnv(t, nil)
	addr := strings.TrimPrefix(e.srv.URL, "http://")
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	frame := func(p string) []byte {
		// A masked client text frame with a zero mask key.
		b := []byte{0x81, 0x80 | 126, byte(len(p) >> 8), byte(len(p)), 0, 0, 0, 0}
		return append(b, p...)
	}
	auth, _ := json.Marshal(authFrame(e.token(t, 3), e.app, 1, 1))
	req := "GET / HTTP/1.1\r\nHost: " + addr + "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n" +
		"Sec-WebSocket-Protocol: " + protocol.Subprotocol + "\r\n\r\n"
	out := append([]byte(req), frame(string(auth))...)
	out = append(out, frame(`{"t":"ping","rid":2,"pad":"`+strings.Repeat("p", 600)+`"}`)...)
	if _, err := nc.Write(out); err != nil {
		t.Fatal(err)
	}
	nc.SetReadDeadline(time.Now().Add(5 * time.Second))
	br := bufio.NewReader(nc)
	resp, err := http.ReadResponse(br, nil)
	if err != nil || resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("handshake: %v %v", resp, err)
	}
	var got []string
	for len(got) < 2 {
		var h [2]byte
		if _, err := io.ReadFull(br, h[:]); err != nil {
			t.Fatalf("read after %v: %v", got, err)
		}
		n := int(h[1] & 0x7f)
		if n == 126 {
			var l [2]byte
			io.ReadFull(br, l[:])
			n = int(l[0])<<8 | int(l[1])
		}
		p := make([]byte, n)
		if _, err := io.ReadFull(br, p); err != nil {
			t.Fatal(err)
		}
		got = append(got, string(p))
	}
	if !strings.HasPrefix(got[0], `{"t":"hello"`) || !strings.HasPrefix(got[1], `{"t":"pong","rid":2`) {
		t.Fatalf("frames %q", got)
	}
}
