package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/chatgate/chatgate/client"
	"github.com/chatgate/chatgate/internal/auth"
	"github.com/chatgate/chatgate/protocol"
)

// rawConn is a WebSocket without the client package's checks, to send
// what a broken or hostile client would.
type rawConn struct {
	t  *testing.T
	ws *websocket.Conn
}

func dialRaw(t *testing.T, ctx context.Context, url string, subprotocol bool) *rawConn {
	t.Helper()
	var opts websocket.DialOptions
	if subprotocol {
		opts.Subprotocols = []string{protocol.Subprotocol}
	}
	ws, _, err := websocket.Dial(ctx, url, &opts)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	ws.SetReadLimit(1 << 20)
	t.Cleanup(func() { ws.CloseNow() })
	return &rawConn{t: t, ws: ws}
}

func (r *rawConn) write(ctx context.Context, typ websocket.MessageType, b []byte) {
	r.t.Helper()
	if err := r.ws.Write(ctx, typ, b); err != nil {
		r.t.Fatalf("write: %v", err)
	}
}

// next reads frames until one of type t (skipping pongs); it returns nil
// when the connection closes, and the close status.
func (r *rawConn) next(ctx context.Context, t string) (*protocol.Frame, websocket.StatusCode) {
	for {
		_, b, err := r.ws.Read(ctx)
		if err != nil {
			return nil, websocket.CloseStatus(err)
		}
		var f protocol.Frame
		if err := json.Unmarshal(b, &f); err != nil {
			r.t.Fatalf("server sent non-JSON %q", b)
		}
		if f.T == t {
			return &f, -1
		}
	}
}

func authFrame(token string, dev int32) []byte {
	b, _ := json.Marshal(map[string]any{"t": "auth", "rid": 1, "token": token, "app_id": testApp, "device_sn": dev, "platform": 2})
	return b
}

// Bad input against the real binary: each case gets its documented code,
// the connection is closed only where the spec says so, and afterwards the
// process still serves normal traffic.
func TestBadInputAgainstProcess(t *testing.T) {
	c := newCluster(t)
	gw := c.start("gw", "gateway,router")
	ctx := withTimeout(t, 60*time.Second)
	expired, _ := auth.Issue([]byte(testSecret), testApp, auth.RoleUser, 5, time.Minute, time.Now().Add(-time.Hour))
	admin, _ := auth.Issue([]byte(testSecret), testApp, auth.RoleAdmin, 0, time.Hour, time.Now())
	forged := userToken(t, 5)
	forged = forged[:len(forged)-3] + "abc"

	// Frames before or instead of a valid auth: err frame, then close.
	preAuth := []struct {
		name  string
		frame string
		code  protocol.Code
	}{
		{"send before auth", `{"t":"send","rid":3,"cmid":"a","to_user":2,"type":"text","content":"x"}`, protocol.CodeNotAuthed},
		{"forged token", string(authFrame(forged, 1)), protocol.CodeAuthFailed},
		{"expired token", string(authFrame(expired, 1)), protocol.CodeTokenExpired},
		{"admin token on a socket", string(authFrame(admin, 1)), protocol.CodeAuthFailed},
		{"unknown app", `{"t":"auth","rid":1,"token":"x.y.z","app_id":"nosuchapp","device_sn":1,"platform":1}`, protocol.CodeUnknownApp},
	}
	for _, tt := range preAuth {
		t.Run(tt.name, func(t *testing.T) {
			r := dialRaw(t, ctx, gw.url(), true)
			r.write(ctx, websocket.MessageText, []byte(tt.frame))
			f, _ := r.next(ctx, "err")
			if f == nil || protocol.Code(f.Code) != tt.code {
				t.Fatalf("got %+v, want err %d", f, tt.code)
			}
			if _, status := r.next(ctx, "never"); status != websocket.StatusCode(tt.code) {
				t.Fatalf("close status %d, want %d", status, tt.code)
			}
		})
	}

	// After a valid auth: err frames, connection stays open.
	r := dialRaw(t, ctx, gw.url(), true)
	r.write(ctx, websocket.MessageText, authFrame(userToken(t, 5), 1))
	if f, st := r.next(ctx, "hello"); f == nil {
		t.Fatalf("no hello (close %d)", st)
	}
	inAuth := []struct {
		name  string
		typ   websocket.MessageType
		frame string
		code  protocol.Code
	}{
		{"malformed JSON", websocket.MessageText, `{"t":"send",`, protocol.CodeBadFrame},
		{"not an object", websocket.MessageText, `[1,2,3]`, protocol.CodeBadFrame},
		{"binary frame", websocket.MessageBinary, `{"t":"ping"}`, protocol.CodeBadFrame},
		{"unknown type", websocket.MessageText, `{"t":"teleport","rid":4}`, protocol.CodeUnknownType},
		{"missing cmid", websocket.MessageText, `{"t":"send","rid":5,"to_user":2,"type":"text","content":"x"}`, protocol.CodeMissingField},
		{"wrong type", websocket.MessageText, `{"t":"send","rid":6,"cmid":"a","to_user":"two","type":"text","content":"x"}`, protocol.CodeBadValue},
		{"sync limit out of range", websocket.MessageText, `{"t":"sync","rid":7,"limit":100000}`, protocol.CodeBadValue},
		{"send as another user", websocket.MessageText, `{"t":"send","rid":8,"cmid":"b","from":6,"to_user":2,"type":"text","content":"x"}`, protocol.CodeForbidden},
		{"group the user is not in", websocket.MessageText, `{"t":"send","rid":9,"cmid":"c","to_group":4242,"type":"text","content":"x"}`, protocol.CodeNotGroupMember},
		{"second auth", websocket.MessageText, string(authFrame(userToken(t, 5), 1)), protocol.CodeAlreadyAuthed},
	}
	for _, tt := range inAuth {
		t.Run(tt.name, func(t *testing.T) {
			r.write(ctx, tt.typ, []byte(tt.frame))
			f, st := r.next(ctx, "err")
			if f == nil || protocol.Code(f.Code) != tt.code {
				t.Fatalf("got %+v (close %d), want err %d", f, st, tt.code)
			}
		})
	}

	t.Run("flooding", func(t *testing.T) {
		fl := dialRaw(t, ctx, gw.url(), true)
		fl.write(ctx, websocket.MessageText, authFrame(userToken(t, 6), 1))
		if f, _ := fl.next(ctx, "hello"); f == nil {
			t.Fatal("no hello")
		}
		for i := 0; i < 400; i++ {
			fl.write(ctx, websocket.MessageText, []byte(`{"t":"ping"}`))
		}
		f, st := fl.next(ctx, "err")
		if f == nil || protocol.Code(f.Code) != protocol.CodeRateLimited {
			t.Fatalf("got %+v (close %d), want err 4029", f, st)
		}
	})

	t.Run("oversize frame", func(t *testing.T) {
		big := dialRaw(t, ctx, gw.url(), true)
		big.write(ctx, websocket.MessageText, authFrame(userToken(t, 7), 1))
		if f, _ := big.next(ctx, "hello"); f == nil {
			t.Fatal("no hello")
		}
		big.write(ctx, websocket.MessageText, []byte(`{"t":"send","content":"`+strings.Repeat("x", 200<<10)+`"}`))
		f, st := big.next(ctx, "err")
		if f == nil || protocol.Code(f.Code) != protocol.CodeFrameTooLarge {
			t.Fatalf("got %+v (close %d), want err 4004", f, st)
		}
	})

	t.Run("no subprotocol", func(t *testing.T) {
		ns := dialRaw(t, ctx, gw.url(), false)
		if _, st := ns.next(ctx, "never"); st != websocket.StatusCode(protocol.CodeBadFrame) {
			t.Fatalf("close status %d, want 4000", st)
		}
	})

	// The process is still up and serves a normal exchange.
	resp, err := http.Get("http://" + gw.opsAddr + "/healthz")
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("healthz after bad input: %v %v", resp, err)
	}
	resp.Body.Close()
	a, err := client.Dial(ctx, client.Config{URL: gw.url(), AppID: testApp, Token: userToken(t, 1), DeviceSN: 1, Platform: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	if _, err := a.Send(ctx, client.Outgoing{ToUser: 2, Content: "still alive"}); err != nil {
		var perr *protocol.Error
		if errors.As(err, &perr) {
			t.Fatalf("send after bad input: code %d", perr.Code)
		}
		t.Fatal(err)
	}
}
