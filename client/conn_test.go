package client

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/chatgate/chatgate/protocol"
)

func TestDialHello(t *testing.T) {
	b := newBackend()
	s := newFakeServer(t, "gw-1", b)
	b.mu.Lock()
	b.cursors[devKey{7, 3}] = 12345
	b.mu.Unlock()

	// The dial context ends as soon as Dial returns: the Conn must outlive it.
	ctx, cancel := context.WithCancel(context.Background())
	c, err := Dial(ctx, testConfig(s.url(), 7, 3))
	cancel()
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	h := c.Hello()
	if h.UserID != 7 || h.DeviceSN != 3 || h.Node != "gw-1" || h.Resume != 12345 || h.Heartbeat != 25 || h.Session == "" {
		t.Fatalf("hello = %+v", h)
	}
	if h.Limits.MaxContentBytes != protocol.DefaultLimits().MaxContentBytes {
		t.Fatalf("limits = %+v", h.Limits)
	}
	h.UserID = 99 // a copy
	if c.Hello().UserID != 7 {
		t.Fatal("Hello returned internal state")
	}
	if err := c.Ping(context.Background()); err != nil {
		t.Fatalf("ping after the dial context ended: %v", err)
	}
	if c.Err() != nil {
		t.Fatalf("Err of a live conn = %v", c.Err())
	}
}

func TestDialAuthFailures(t *testing.T) {
	s := newFakeServer(t, "gw-1", newBackend())
	tests := []struct {
		name string
		cfg  func(*Config)
		code protocol.Code
	}{
		{"expired", func(c *Config) { c.Token = tokenExpired }, protocol.CodeTokenExpired},
		{"admin token", func(c *Config) { c.Token = tokenAdmin }, protocol.CodeAuthFailed},
		{"forged", func(c *Config) { c.Token = "forged" }, protocol.CodeAuthFailed},
		{"unknown app", func(c *Config) { c.AppID = "nope" }, protocol.CodeUnknownApp},
		{"other app", func(c *Config) { c.Token = tokenOtherApp }, protocol.CodeAppMismatch},
		{"disabled", func(c *Config) { c.Token = tokenDisabled }, protocol.CodeUserDisabled},
		{"too many devices", func(c *Config) { c.Token = tokenTooMany }, protocol.CodeTooManyDevices},
		// Caught locally, before dialing.
		{"no token", func(c *Config) { c.Token = "" }, protocol.CodeMissingField},
		{"no device", func(c *Config) { c.DeviceSN = 0 }, protocol.CodeMissingField},
		{"bad platform", func(c *Config) { c.Platform = 9 }, protocol.CodeBadValue},
		{"bad app id", func(c *Config) { c.AppID = "a:b" }, protocol.CodeBadValue},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := testConfig(s.url(), 7, 1)
			tt.cfg(&cfg)
			c, err := Dial(context.Background(), cfg)
			if err == nil {
				c.Close()
				t.Fatal("Dial succeeded")
			}
			var perr *protocol.Error
			if !errors.As(err, &perr) || perr.Code != tt.code {
				t.Fatalf("Dial = %v, want *protocol.Error %d", err, tt.code)
			}
		})
	}
}

func TestDialTransportErrors(t *testing.T) {
	// Nobody listens.
	srv := httptest.NewServer(http.NotFoundHandler())
	url := "ws" + strings.TrimPrefix(srv.URL, "http") + "/ws"
	srv.Close()
	if _, err := Dial(context.Background(), testConfig(url, 7, 1)); err == nil {
		t.Fatal("Dial to a closed port succeeded")
	}

	// A WebSocket server that does not speak chatgate.v1.json.
	plain := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ws, err := websocket.Accept(w, r, nil)
		if err != nil {
			return
		}
		defer ws.CloseNow()
		_, _, _ = ws.Read(r.Context())
	}))
	defer plain.Close()
	url = "ws" + strings.TrimPrefix(plain.URL, "http")
	_, err := Dial(context.Background(), testConfig(url, 7, 1))
	if err == nil || !strings.Contains(err.Error(), "subprotocol") {
		t.Fatalf("Dial to a server without the subprotocol = %v", err)
	}

	// A server that accepts and then never says hello: DialTimeout applies.
	mute := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ws, err := websocket.Accept(w, r, &websocket.AcceptOptions{Subprotocols: []string{protocol.Subprotocol}})
		if err != nil {
			return
		}
		defer ws.CloseNow()
		for {
			if _, _, err := ws.Read(context.Background()); err != nil {
				return
			}
		}
	}))
	defer mute.Close()
	cfg := testConfig("ws"+strings.TrimPrefix(mute.URL, "http"), 7, 1)
	cfg.DialTimeout = 200 * time.Millisecond
	start := time.Now()
	if _, err := Dial(context.Background(), cfg); err == nil {
		t.Fatal("Dial without hello succeeded")
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Fatalf("DialTimeout not applied: %v", d)
	}
}

func TestSendAckAndDelivery(t *testing.T) {
	b := newBackend()
	s := newFakeServer(t, "gw-1", b)
	alice1 := dialUser(t, s, 1, 1)
	alice2 := dialUser(t, s, 1, 2)
	bob := dialUser(t, s, 2, 1)

	ack, err := alice1.Send(context.Background(), Outgoing{CMID: "c-1", ToUser: 2, Content: "hi bob", Ext: `{"k":1}`})
	if err != nil {
		t.Fatal(err)
	}
	if ack.CMID != "c-1" || ack.ID <= 0 || ack.TS <= 0 {
		t.Fatalf("ack = %+v", ack)
	}
	for _, c := range []*Conn{bob, alice2} {
		m := recv(t, c)
		if m.ID != ack.ID || m.Conv != "u:1:2" || m.From != 1 || m.FromDev != 1 || m.ToUser != 2 ||
			m.Type != "text" || m.Content != "hi bob" || m.Ext != `{"k":1}` || m.CMID != "c-1" {
			t.Fatalf("delivered %+v", m)
		}
	}
	noMessage(t, alice1) // the sending device gets the ack only

	// Idempotent: the same cmid gives the same id and no second delivery.
	again, err := alice1.Send(context.Background(), Outgoing{CMID: "c-1", ToUser: 2, Content: "hi bob"})
	if err != nil || again.ID != ack.ID {
		t.Fatalf("resend = %+v, %v; want id %d", again, err, ack.ID)
	}
	noMessage(t, bob)

	// A generated cmid is returned in the ack.
	gen, err := alice1.Send(context.Background(), Outgoing{ToGroup: 500, Type: "image", Content: "{}"})
	if err != nil || gen.CMID == "" || gen.ID <= ack.ID {
		t.Fatalf("send with generated cmid = %+v, %v", gen, err)
	}
	if m := recv(t, bob); m.ID != gen.ID || m.Conv != "g:500" || m.ToGroup != 500 {
		t.Fatalf("group delivery %+v", m)
	}
}

func TestSendRefusals(t *testing.T) {
	b := newBackend()
	s := newFakeServer(t, "gw-1", b)
	c := dialUser(t, s, 9, 1)
	ctx := context.Background()

	// From the server.
	_, err := c.Send(ctx, Outgoing{CMID: "g", ToGroup: 500, Content: "x"})
	if asCode(err) != protocol.CodeNotGroupMember {
		t.Fatalf("send to a foreign group = %v, want 4021", err)
	}
	b.mu.Lock()
	b.failSends["u"] = 1
	b.mu.Unlock()
	ack, err := c.Send(ctx, Outgoing{CMID: "u", ToUser: 1, Content: "x"})
	if asCode(err) != protocol.CodeUnavailable || ack.CMID != "u" {
		t.Fatalf("send while unavailable = %+v %v, want 5003", ack, err)
	}

	// Local validation: nothing reaches the server.
	before := len(b.sendsOf("bad"))
	lim := c.Hello().Limits
	local := []struct {
		m    Outgoing
		code protocol.Code
	}{
		{Outgoing{CMID: "bad", Content: "x"}, protocol.CodeMissingField},
		{Outgoing{CMID: "bad", ToUser: 1, ToGroup: 2, Content: "x"}, protocol.CodeBadValue},
		{Outgoing{CMID: "bad", ToUser: 1}, protocol.CodeMissingField},
		{Outgoing{CMID: "b:d", ToUser: 1, Content: "x"}, protocol.CodeBadValue},
		{Outgoing{CMID: "bad", ToUser: 1, Type: "sticker", Content: "x"}, protocol.CodeBadValue},
		{Outgoing{CMID: "bad", ToUser: 1, Content: strings.Repeat("x", lim.MaxContentBytes+1)}, protocol.CodeBadValue},
		{Outgoing{CMID: "bad", ToUser: 1, Content: "\xff"}, protocol.CodeBadValue},
		// Within the content limit, but escaping makes the frame too big.
		{Outgoing{CMID: "bad", ToUser: 1, Content: strings.Repeat("<", lim.MaxContentBytes)}, protocol.CodeFrameTooLarge},
	}
	for _, tt := range local {
		if _, err := c.Send(ctx, tt.m); asCode(err) != tt.code {
			t.Errorf("Send(%.40v) = %v, want %d", tt.m, err, tt.code)
		}
	}
	if _, err := c.Sync(ctx, 0, lim.MaxSyncLimit+1); asCode(err) != protocol.CodeBadValue {
		t.Errorf("sync over the limit = %v", err)
	}
	if err := c.DAck(ctx, 0); asCode(err) != protocol.CodeMissingField {
		t.Errorf("dack 0 = %v", err)
	}
	if n := len(b.sendsOf("bad")); n != before {
		t.Fatalf("%d invalid sends reached the server", n-before)
	}
	// Still usable.
	if err := c.Ping(ctx); err != nil {
		t.Fatal(err)
	}
}

func TestSyncPaging(t *testing.T) {
	b := newBackend()
	s := newFakeServer(t, "gw-1", b)
	var want []protocol.ID
	for i := range 25 {
		want = append(want, b.inject(2, 1, 1, "m"+string(rune('a'+i))).ID)
	}
	b.inject(3, 1, 4, "not for user 1")
	c := dialUser(t, s, 1, 1)

	var got []protocol.ID
	var after protocol.ID
	pages := 0
	for {
		res, err := c.Sync(context.Background(), after, 10)
		if err != nil {
			t.Fatal(err)
		}
		pages++
		for _, m := range res.Messages {
			got = append(got, m.ID)
		}
		if !res.HasMore {
			break
		}
		after = res.Next
	}
	if pages != 3 || len(got) != 25 {
		t.Fatalf("%d pages, %d messages", pages, len(got))
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("message %d is %d, want %d (oldest first)", i, got[i], want[i])
		}
	}
	// Past the end: empty, and Next does not go back to 0.
	res, err := c.Sync(context.Background(), got[24], 0)
	if err != nil || len(res.Messages) != 0 || res.HasMore || res.Next != got[24] {
		t.Fatalf("sync past the end = %+v, %v", res, err)
	}
}

func TestDAckResume(t *testing.T) {
	b := newBackend()
	s := newFakeServer(t, "gw-1", b)
	c := dialUser(t, s, 1, 1)
	m := b.inject(2, 1, 1, "hello")
	if got := recv(t, c); got.ID != m.ID {
		t.Fatalf("got %d", got.ID)
	}
	if err := c.DAck(context.Background(), m.ID); err != nil {
		t.Fatal(err)
	}
	// DAck has no reply; Close writes what is queued before closing.
	c.Close()
	c2 := dialUser(t, s, 1, 1)
	if c2.Hello().Resume != m.ID {
		t.Fatalf("resume = %d, want %d", c2.Hello().Resume, m.ID)
	}
}

func TestSetBackground(t *testing.T) {
	b := newBackend()
	s := newFakeServer(t, "gw-1", b)
	c := dialUser(t, s, 1, 1)
	if err := c.SetBackground(context.Background(), true); err != nil {
		t.Fatal(err)
	}
	if err := c.Ping(context.Background()); err != nil { // frames are written in order
		t.Fatal(err)
	}
	if fc := b.conn(t, 1, 1); !fc.isBG() {
		t.Fatal("state frame not applied")
	}
}

func (fc *fakeConn) isBG() bool {
	fc.mu.Lock()
	defer fc.mu.Unlock()
	return fc.bg
}

func TestKick(t *testing.T) {
	b := newBackend()
	s := newFakeServer(t, "gw-1", b)
	c := dialUser(t, s, 1, 1)
	b.conn(t, 1, 1).kick(protocol.CodeKickAdmin)
	waitDone(t, c.Done(), "kicked conn")
	var kerr *KickError
	if !errors.As(c.Err(), &kerr) || kerr.Code != protocol.CodeKickAdmin || kerr.Reason != "admin_kick" {
		t.Fatalf("Err = %v, want kick 4102", c.Err())
	}
	if _, ok := <-c.Messages(); ok {
		t.Fatal("Messages not closed")
	}
	_, err := c.Send(context.Background(), Outgoing{ToUser: 2, Content: "x"})
	if !errors.Is(err, ErrDisconnected) || !errors.As(err, &kerr) {
		t.Fatalf("Send on a kicked conn = %v", err)
	}
}

func TestReplacedByTheSameDevice(t *testing.T) {
	s := newFakeServer(t, "gw-1", newBackend())
	first := dialUser(t, s, 1, 1)
	second := dialUser(t, s, 1, 1)
	waitDone(t, first.Done(), "replaced conn")
	if asCode(first.Err()) != protocol.CodeKickReplaced {
		t.Fatalf("Err = %v, want 4101", first.Err())
	}
	if err := second.Ping(context.Background()); err != nil {
		t.Fatal(err)
	}
}

func TestServerErrorClose(t *testing.T) {
	b := newBackend()
	s := newFakeServer(t, "gw-1", b)
	c := dialUser(t, s, 1, 1)
	b.conn(t, 1, 1).fail(0, protocol.CodeFrameTooLarge, "frame is 70000 bytes")
	waitDone(t, c.Done(), "conn closed by error")
	var perr *protocol.Error
	if !errors.As(c.Err(), &perr) || perr.Code != protocol.CodeFrameTooLarge || perr.Detail != "frame is 70000 bytes" {
		t.Fatalf("Err = %#v, want the 4004 err frame", c.Err())
	}
}

func TestServerCrash(t *testing.T) {
	s := newFakeServer(t, "gw-1", newBackend())
	c := dialUser(t, s, 1, 1)
	pending := make(chan error, 1)
	s.set(func(o *serverOpts) { o.onSend = func(*fakeConn, *protocol.Frame) bool { return true } }) // swallow: never ack
	go func() {
		_, err := c.Send(context.Background(), Outgoing{ToUser: 2, Content: "x"})
		pending <- err
	}()
	time.Sleep(50 * time.Millisecond)
	s.kill()
	waitDone(t, c.Done(), "conn of a dead server")
	if c.Err() == nil || asCode(c.Err()) != 0 {
		t.Fatalf("Err = %v, want a transport error", c.Err())
	}
	if err := <-pending; !errors.Is(err, ErrDisconnected) {
		t.Fatalf("pending send = %v, want ErrDisconnected", err)
	}
}

func TestClose(t *testing.T) {
	s := newFakeServer(t, "gw-1", newBackend())
	c := dialUser(t, s, 1, 1)
	s.set(func(o *serverOpts) { o.onSend = func(*fakeConn, *protocol.Frame) bool { return true } })
	pending := make(chan error, 1)
	go func() {
		_, err := c.Send(context.Background(), Outgoing{ToUser: 2, Content: "x"})
		pending <- err
	}()
	time.Sleep(20 * time.Millisecond)
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if err := c.Close(); err != nil { // idempotent
		t.Fatal(err)
	}
	if !errors.Is(c.Err(), ErrClosed) {
		t.Fatalf("Err = %v", c.Err())
	}
	if err := <-pending; !errors.Is(err, ErrDisconnected) || !errors.Is(err, ErrClosed) {
		t.Fatalf("pending send = %v", err)
	}
	if err := c.Ping(context.Background()); !errors.Is(err, ErrClosed) {
		t.Fatalf("ping after close = %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if _, err := c.Send(ctx, Outgoing{ToUser: 2, Content: "x"}); !errors.Is(err, ErrClosed) {
		t.Fatalf("send after close = %v", err)
	}
}

func TestRequestContext(t *testing.T) {
	s := newFakeServer(t, "gw-1", newBackend())
	c := dialUser(t, s, 1, 1)
	s.set(func(o *serverOpts) { o.onSend = func(*fakeConn, *protocol.Frame) bool { return true } })
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if _, err := c.Send(ctx, Outgoing{ToUser: 2, Content: "x"}); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Send = %v, want deadline exceeded", err)
	}
	// A request that gave up does not hurt the connection.
	if err := c.Ping(context.Background()); err != nil {
		t.Fatal(err)
	}
}

func TestConcurrentUse(t *testing.T) {
	b := newBackend()
	s := newFakeServer(t, "gw-1", b)
	sender := dialUser(t, s, 1, 1)
	recvr := dialUser(t, s, 2, 1)
	const workers, each = 16, 25
	var wg sync.WaitGroup
	ids := make(chan protocol.ID, workers*each)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				ack, err := sender.Send(context.Background(), Outgoing{ToUser: 2, Content: "x"})
				if err != nil {
					t.Error(err)
					return
				}
				ids <- ack.ID
				if i%5 == 0 {
					if err := sender.Ping(context.Background()); err != nil {
						t.Error(err)
					}
					if _, err := sender.Sync(context.Background(), 0, 5); err != nil {
						t.Error(err)
					}
					_ = sender.DAck(context.Background(), ack.ID)
				}
			}
			_ = w
		}()
	}
	wg.Wait()
	close(ids)
	seen := map[protocol.ID]bool{}
	for id := range ids {
		if seen[id] {
			t.Fatalf("id %d acked twice", id)
		}
		seen[id] = true
	}
	if len(seen) != workers*each {
		t.Fatalf("%d acks", len(seen))
	}
	for range workers * each {
		m := recv(t, recvr)
		if !seen[m.ID] {
			t.Fatalf("received unknown id %d", m.ID)
		}
	}
}

func TestPacing(t *testing.T) {
	b := newBackend()
	s := newFakeServer(t, "gw-1", b)
	// The server announces 50 frames/s with a burst of 4 and enforces it.
	limited := &serverBucket{b: newBucket(50, 4)}
	s.set(func(o *serverOpts) {
		o.hello.Limits.FramesPerSecond, o.hello.Limits.FrameBurst = 50, 4
		o.onSend = func(fc *fakeConn, f *protocol.Frame) bool {
			if !limited.allow() {
				fc.write(&protocol.Frame{T: protocol.TypeErr, Rid: f.Rid, Code: int(protocol.CodeRateLimited), Msg: "slow down"})
				return true
			}
			return false
		}
	})
	const n = 30
	run := func(unpaced bool) (limitedErrs int, took time.Duration) {
		cfg := testConfig(s.url(), 1, 1)
		cfg.Unpaced = unpaced
		c, err := Dial(context.Background(), cfg)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		limited.reset()
		start := time.Now()
		var wg sync.WaitGroup
		var mu sync.Mutex
		for range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, err := c.Send(context.Background(), Outgoing{ToUser: 2, Content: "x"})
				if asCode(err) == protocol.CodeRateLimited {
					mu.Lock()
					limitedErrs++
					mu.Unlock()
				} else if err != nil {
					t.Error(err)
				}
			}()
		}
		wg.Wait()
		return limitedErrs, time.Since(start)
	}
	if errs, took := run(false); errs != 0 || took < 400*time.Millisecond {
		t.Fatalf("paced: %d frames rate limited, took %v", errs, took)
	}
	if errs, _ := run(true); errs == 0 {
		t.Fatal("unpaced: the server's limit never triggered; the test proves nothing")
	}
}

type serverBucket struct {
	mu sync.Mutex
	b  *bucket
}

func (s *serverBucket) allow() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.take(time.Now()) == 0
}

func (s *serverBucket) reset() {
	s.mu.Lock()
	s.b = newBucket(s.b.rate, s.b.burst*2) // the client paces to half the burst
	s.mu.Unlock()
}

func TestHeartbeat(t *testing.T) {
	b := newBackend()
	s := newFakeServer(t, "gw-1", b)
	s.set(func(o *serverOpts) { o.hello.Heartbeat = 1 })
	c := dialUser(t, s, 1, 1)
	// Alive while the server answers pings.
	time.Sleep(2500 * time.Millisecond)
	if c.Err() != nil {
		t.Fatalf("conn died while the server answered: %v", c.Err())
	}
	// A hung gateway: the socket stays open, nothing comes back.
	s.silent.Store(true)
	start := time.Now()
	waitDone(t, c.Done(), "conn to a silent server")
	if !errors.Is(c.Err(), ErrHeartbeatTimeout) {
		t.Fatalf("Err = %v", c.Err())
	}
	if d := time.Since(start); d > 4*time.Second {
		t.Fatalf("took %v to notice", d)
	}
}

func TestHeartbeatPings(t *testing.T) {
	b := newBackend()
	s := newFakeServer(t, "gw-1", b)
	pings := make(chan struct{}, 100)
	s.set(func(o *serverOpts) {
		o.hello.Heartbeat = 1
		o.onFrame = func(f *protocol.Frame) {
			if f.T == protocol.TypePing {
				pings <- struct{}{}
			}
		}
	})
	dialUser(t, s, 1, 1)
	// Heartbeat 1 s: an idle conn pings every 500 ms.
	for i := range 2 {
		select {
		case <-pings:
		case <-time.After(2 * time.Second):
			t.Fatalf("ping %d of an idle conn never came", i+1)
		}
	}
}

func TestSlowConsumer(t *testing.T) {
	b := newBackend()
	s := newFakeServer(t, "gw-1", b)
	cfg := testConfig(s.url(), 1, 1)
	cfg.MessageBuffer = 2
	c, err := Dial(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for i := range 3 {
		b.inject(2, 1, 1, "m"+string(rune('0'+i)))
	}
	waitDone(t, c.Done(), "overflowing conn")
	if !errors.Is(c.Err(), ErrSlowConsumer) {
		t.Fatalf("Err = %v", c.Err())
	}
	// What was buffered is still readable, then the channel closes.
	n := 0
	for range c.Messages() {
		n++
	}
	if n != 2 {
		t.Fatalf("%d buffered messages, want 2", n)
	}
}

func TestIgnoresUnknownServerFrames(t *testing.T) {
	b := newBackend()
	s := newFakeServer(t, "gw-1", b)
	c := dialUser(t, s, 1, 1)
	fc := b.conn(t, 1, 1)
	fc.writeRaw([]byte(`{"t":"future_frame","x":1}`))
	fc.writeRaw([]byte(`not json`))
	fc.writeRaw([]byte(`{"t":"ack","rid":999999,"id":"5"}`))
	fc.writeRaw([]byte(`{"t":"msg"}`))
	_ = fc.ws.Write(context.Background(), websocket.MessageBinary, []byte{1, 2})
	if err := c.Ping(context.Background()); err != nil {
		t.Fatal(err)
	}
	noMessage(t, c)
}

func TestBucket(t *testing.T) {
	now := time.Now()
	b := &bucket{rate: 10, burst: 2, tokens: 2, last: now}
	if b.take(now) != 0 || b.take(now) != 0 {
		t.Fatal("burst not available")
	}
	if w := b.take(now); w < 90*time.Millisecond || w > 110*time.Millisecond {
		t.Fatalf("wait = %v, want ~100ms", w)
	}
	if b.take(now.Add(100*time.Millisecond)) != 0 {
		t.Fatal("token not refilled")
	}
}

// TestCloseStatusWithoutFrame: the close status is authoritative even when
// the kick or err frame before it was lost.
func TestCloseStatusWithoutFrame(t *testing.T) {
	tests := []struct {
		status websocket.StatusCode
		check  func(error) bool
	}{
		{4105, func(err error) bool {
			var k *KickError
			return errors.As(err, &k) && k.Code == protocol.CodeKickSlow && k.Reason == "bye"
		}},
		{4004, func(err error) bool { return asCode(err) == protocol.CodeFrameTooLarge }},
		{websocket.StatusGoingAway, func(err error) bool {
			return asCode(err) == 0 && websocket.CloseStatus(err) == websocket.StatusGoingAway
		}},
	}
	for _, tt := range tests {
		b := newBackend()
		s := newFakeServer(t, "gw-1", b)
		c := dialUser(t, s, 1, 1)
		_ = b.conn(t, 1, 1).ws.Close(tt.status, "bye")
		waitDone(t, c.Done(), "closed conn")
		if !tt.check(c.Err()) {
			t.Errorf("close %d: Err = %v", tt.status, c.Err())
		}
	}
}
