package client

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chatgate/chatgate/protocol"
)

func sessionConfig(uid int64, dev int32, urls ...string) SessionConfig {
	return SessionConfig{
		Config:       testConfig("", uid, dev),
		URLs:         urls,
		MinBackoff:   10 * time.Millisecond,
		MaxBackoff:   50 * time.Millisecond,
		DAckInterval: 20 * time.Millisecond,
	}
}

func startSession(t *testing.T, cfg SessionConfig) *Session {
	t.Helper()
	s, err := StartSession(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func ready(t *testing.T, s *Session) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := s.Ready(ctx); err != nil {
		t.Fatalf("session not ready: %v", err)
	}
}

// next waits for the Session's next message.
func next(t *testing.T, s *Session) Incoming {
	t.Helper()
	select {
	case m, ok := <-s.Messages():
		if !ok {
			t.Fatalf("session ended: %v", s.Err())
		}
		return m
	case <-time.After(5 * time.Second):
		t.Fatal("no message from the session within 5s")
		return Incoming{}
	}
}

func quiet(t *testing.T, s *Session) {
	t.Helper()
	select {
	case m := <-s.Messages():
		t.Fatalf("unexpected message %d %q (synced %v)", m.ID, m.Content, m.Synced)
	case <-time.After(200 * time.Millisecond):
	}
}

// TestSessionFailover kills the gateway in the middle of a send. The
// Session must reconnect to the second gateway, resend with the same cmid
// (getting the same id, delivered once), sync what arrived while it was
// away, drop the duplicates that sync and the new gateway produce, and carry
// on live.
func TestSessionFailover(t *testing.T) {
	b := newBackend()
	gwA := newFakeServer(t, "gw-a", b)
	gwB := newFakeServer(t, "gw-b", b)
	// gw-b replays the latest inbox messages live after hello: duplicates
	// of what the Session already has and of what its sync returns.
	gwB.set(func(o *serverOpts) { o.replay, o.replayUser = 4, 1 })
	peer := dialUser(t, gwB, 2, 1)

	var mu sync.Mutex
	var nodes []string
	var drops []error
	cfg := sessionConfig(1, 1, gwA.url(), gwB.url())
	cfg.OnConnect = func(h *protocol.Hello) {
		mu.Lock()
		nodes = append(nodes, h.Node)
		mu.Unlock()
	}
	cfg.OnDisconnect = func(err error) {
		mu.Lock()
		drops = append(drops, err)
		mu.Unlock()
	}
	s := startSession(t, cfg)
	ready(t, s)
	if h := s.Hello(); h == nil || h.Node != "gw-a" {
		t.Fatalf("first connection on %+v, want gw-a", h)
	}

	// Live on gw-a.
	m1 := b.inject(2, 1, 1, "before-1")
	m2 := b.inject(2, 1, 1, "before-2")
	for _, want := range []*protocol.Message{m1, m2} {
		if got := next(t, s); got.ID != want.ID || got.Synced {
			t.Fatalf("got %d (synced %v), want live %d", got.ID, got.Synced, want.ID)
		}
	}

	// gw-a makes the send durable and delivers it, then dies before the
	// ack. gw-b does not accept connections yet, so the Session is away
	// while more messages arrive.
	gwB.closed.Store(true)
	var storedID atomic.Int64
	gwA.set(func(o *serverOpts) {
		o.onSend = func(fc *fakeConn, f *protocol.Frame) bool {
			if f.CMID != "doomed" {
				return false
			}
			m, _ := b.store(fc.user, fc.dev, f)
			storedID.Store(int64(m.ID))
			b.fanout(m)
			go gwA.kill()
			return true
		}
	})
	type result struct {
		ack Ack
		err error
	}
	sent := make(chan result, 1)
	go func() {
		ack, err := s.Send(context.Background(), Outgoing{CMID: "doomed", ToUser: 2, Content: "survives"})
		sent <- result{ack, err}
	}()
	if got := recv(t, peer); got.CMID != "doomed" {
		t.Fatalf("peer got %+v", got)
	}
	waitFor(t, "the session to lose gw-a", func() bool { return !gwAAlive(gwA) && !connected(s) })
	m3 := b.inject(2, 1, 1, "while-away-1")
	m4 := b.inject(3, 1, 1, "while-away-2")
	select {
	case r := <-sent:
		t.Fatalf("send returned while no gateway was reachable: %+v %v", r.ack, r.err)
	case <-time.After(100 * time.Millisecond):
	}

	// gw-b comes up.
	gwB.closed.Store(false)
	var r result
	select {
	case r = <-sent:
	case <-time.After(5 * time.Second):
		t.Fatal("send not acked after failover")
	}
	if r.err != nil || int64(r.ack.ID) != storedID.Load() || r.ack.CMID != "doomed" {
		t.Fatalf("send after failover = %+v %v, want id %d", r.ack, r.err, storedID.Load())
	}
	sends := b.sendsOf("doomed")
	if len(sends) != 2 || sends[0].server != "gw-a" || sends[1].server != "gw-b" ||
		sends[0].user != 1 || sends[1].user != 1 || sends[0].dev != 1 || sends[1].dev != 1 {
		t.Fatalf("sends of the doomed cmid: %+v, want one on gw-a and one on gw-b", sends)
	}
	if n := b.messagesWithCMID("doomed"); n != 1 {
		t.Fatalf("%d messages stored for the doomed cmid", n)
	}
	noMessage(t, peer) // the resend was not delivered again

	// The messages of the outage come by sync, once each; the replayed
	// and overlapping duplicates (m1, m2, m3, m4 again) and the Session's
	// own message are dropped.
	for _, want := range []*protocol.Message{m3, m4} {
		got := next(t, s)
		if got.ID != want.ID || got.Content != want.Content || !got.Synced {
			t.Fatalf("got %d %q (synced %v), want synced %d %q", got.ID, got.Content, got.Synced, want.ID, want.Content)
		}
	}
	quiet(t, s)

	// Live again, on gw-b.
	m5 := b.inject(2, 1, 1, "after")
	if got := next(t, s); got.ID != m5.ID || got.Synced {
		t.Fatalf("got %d (synced %v), want live %d", got.ID, got.Synced, m5.ID)
	}
	quiet(t, s)

	mu.Lock()
	if len(nodes) != 2 || nodes[0] != "gw-a" || nodes[1] != "gw-b" {
		t.Errorf("connected to %v, want [gw-a gw-b]", nodes)
	}
	if len(drops) != 1 {
		t.Errorf("disconnections: %v", drops)
	}
	mu.Unlock()

	// The highest id is dacked, so a fresh start of this device resumes there.
	waitFor(t, "the dack", func() bool { return b.cursor(1, 1) == m5.ID })
	if s.Delivered() != m5.ID {
		t.Fatalf("Delivered = %d, want %d", s.Delivered(), m5.ID)
	}
}

// connected reports whether the Session has a live connection.
func connected(s *Session) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.conn != nil && s.conn.Err() == nil
}

func gwAAlive(s *fakeServer) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return !s.dead
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestSessionReplacedIsFinal(t *testing.T) {
	b := newBackend()
	gw := newFakeServer(t, "gw-1", b)
	connects := 0
	var mu sync.Mutex
	cfg := sessionConfig(1, 1, gw.url())
	cfg.OnConnect = func(*protocol.Hello) { mu.Lock(); connects++; mu.Unlock() }
	s := startSession(t, cfg)
	ready(t, s)
	other := dialUser(t, gw, 1, 1) // the same device, elsewhere
	waitDone(t, s.Done(), "replaced session")
	if asCode(s.Err()) != protocol.CodeKickReplaced {
		t.Fatalf("Err = %v, want 4101", s.Err())
	}
	if _, ok := <-s.Messages(); ok {
		t.Fatal("messages not closed")
	}
	if _, err := s.Send(context.Background(), Outgoing{ToUser: 2, Content: "x"}); asCode(err) != protocol.CodeKickReplaced {
		t.Fatalf("Send on an ended session = %v", err)
	}
	time.Sleep(100 * time.Millisecond)
	mu.Lock()
	defer mu.Unlock()
	if connects != 1 {
		t.Fatalf("%d connections; a replaced session must not reconnect", connects)
	}
	if err := other.Ping(context.Background()); err != nil {
		t.Fatalf("the replacing connection was kicked back: %v", err)
	}
}

// An administrator's kick, disable or delete ends the session: reconnecting
// would undo the decision.
func TestSessionFinalKicks(t *testing.T) {
	for _, code := range []protocol.Code{protocol.CodeKickAdmin, protocol.CodeKickDisabled, protocol.CodeKickDeleted} {
		t.Run(code.String(), func(t *testing.T) {
			b := newBackend()
			gw := newFakeServer(t, "gw-a", b)
			s := startSession(t, sessionConfig(1, 1, gw.url()))
			ready(t, s)
			b.conn(t, 1, 1).kick(code)
			select {
			case <-s.Done():
			case <-time.After(5 * time.Second):
				t.Fatal("session still running after a final kick")
			}
			var kerr *KickError
			if !errors.As(s.Err(), &kerr) || kerr.Code != code {
				t.Fatalf("Err = %v, want kick %d", s.Err(), code)
			}
		})
	}
}

func TestSessionKicksReconnect(t *testing.T) {
	for _, code := range []protocol.Code{protocol.CodeKickShutdown, protocol.CodeKickSlow, protocol.CodeKickIdle} {
		t.Run(code.String(), func(t *testing.T) {
			b := newBackend()
			gwA := newFakeServer(t, "gw-a", b)
			gwB := newFakeServer(t, "gw-b", b)
			s := startSession(t, sessionConfig(1, 1, gwA.url(), gwB.url()))
			ready(t, s)
			b.conn(t, 1, 1).kick(code)
			// The next URL is gw-b.
			waitFor(t, "reconnect to gw-b", func() bool { h := s.Hello(); return h != nil && h.Node == "gw-b" })
			ready(t, s)
			m := b.inject(2, 1, 1, "x")
			if got := next(t, s); got.ID != m.ID {
				t.Fatalf("got %d want %d", got.ID, m.ID)
			}
			if s.Err() != nil {
				t.Fatalf("session ended: %v", s.Err())
			}
		})
	}
}

func TestSessionAuthRefusedIsFinal(t *testing.T) {
	gw := newFakeServer(t, "gw-1", newBackend())
	cfg := sessionConfig(1, 1, gw.url())
	cfg.Token = tokenExpired
	s := startSession(t, cfg)
	waitDone(t, s.Done(), "session with an expired token")
	if asCode(s.Err()) != protocol.CodeTokenExpired {
		t.Fatalf("Err = %v", s.Err())
	}
	if err := s.Ready(context.Background()); asCode(err) != protocol.CodeTokenExpired {
		t.Fatalf("Ready = %v", err)
	}
}

func TestSessionRetriesTransientAuthFailures(t *testing.T) {
	gw := newFakeServer(t, "gw-1", newBackend())
	cfg := sessionConfig(1, 1, gw.url())
	cfg.Token = tokenBusy
	s := startSession(t, cfg)
	waitFor(t, "three attempts", func() bool { return gw.auths.Load() >= 3 })
	if s.Err() != nil {
		t.Fatalf("a 5003 at auth ended the session: %v", s.Err())
	}
}

func TestStartSessionValidates(t *testing.T) {
	if _, err := StartSession(context.Background(), SessionConfig{Config: testConfig("", 1, 1)}); err == nil {
		t.Fatal("no URLs accepted")
	}
	cfg := sessionConfig(1, 0, "ws://127.0.0.1:1/ws")
	if _, err := StartSession(context.Background(), cfg); asCode(err) != protocol.CodeMissingField {
		t.Fatalf("device 0: %v", err)
	}
	// Config.URL is enough.
	gw := newFakeServer(t, "gw-1", newBackend())
	cfg = sessionConfig(1, 1)
	cfg.URL = gw.url()
	ready(t, startSession(t, cfg))
}

func TestSessionSendRetries(t *testing.T) {
	b := newBackend()
	gw := newFakeServer(t, "gw-1", b)
	connects := make(chan struct{}, 10)
	cfg := sessionConfig(1, 1, gw.url())
	cfg.OnConnect = func(*protocol.Hello) { connects <- struct{}{} }
	s := startSession(t, cfg)
	b.mu.Lock()
	b.failSends["flaky"] = 2
	b.mu.Unlock()
	ack, err := s.Send(context.Background(), Outgoing{CMID: "flaky", ToUser: 2, Content: "x"})
	if err != nil || ack.ID == 0 {
		t.Fatalf("Send = %+v %v", ack, err)
	}
	if n := len(b.sendsOf("flaky")); n != 3 {
		t.Fatalf("%d attempts, want 3 (two 5003s, then the ack)", n)
	}
	// Final refusals are returned.
	if _, err := s.Send(context.Background(), Outgoing{ToGroup: 777, Content: "x"}); asCode(err) != protocol.CodeNotGroupMember {
		t.Fatalf("send to a foreign group = %v", err)
	}
	if _, err := s.Send(context.Background(), Outgoing{ToUser: 2}); asCode(err) != protocol.CodeMissingField {
		t.Fatalf("send without content = %v", err)
	}
	// The own message is never handed back, not even by a later sync.
	<-connects
	b.conn(t, 1, 1).kick(protocol.CodeKickIdle)
	select {
	case <-connects:
	case <-time.After(5 * time.Second):
		t.Fatal("no reconnect")
	}
	ready(t, s)
	quiet(t, s)
}

func TestSessionSendContext(t *testing.T) {
	gw := newFakeServer(t, "gw-1", newBackend())
	gw.closed.Store(true) // never reachable
	s := startSession(t, sessionConfig(1, 1, gw.url()))
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	ack, err := s.Send(ctx, Outgoing{ToUser: 2, Content: "x"})
	if !errors.Is(err, context.DeadlineExceeded) || ack.CMID == "" {
		t.Fatalf("Send = %+v %v", ack, err)
	}
	done := make(chan error, 1)
	go func() {
		_, err := s.Send(context.Background(), Outgoing{ToUser: 2, Content: "x"})
		done <- err
	}()
	time.Sleep(20 * time.Millisecond)
	s.Close()
	if err := <-done; !errors.Is(err, ErrClosed) {
		t.Fatalf("Send during Close = %v", err)
	}
	if !errors.Is(s.Err(), ErrClosed) {
		t.Fatalf("Err = %v", s.Err())
	}
}

func TestSessionContextEndsIt(t *testing.T) {
	gw := newFakeServer(t, "gw-1", newBackend())
	ctx, cancel := context.WithCancel(context.Background())
	s, err := StartSession(ctx, sessionConfig(1, 1, gw.url()))
	if err != nil {
		t.Fatal(err)
	}
	ready(t, s)
	cancel()
	waitDone(t, s.Done(), "session whose context ended")
	if !errors.Is(s.Err(), ErrClosed) {
		t.Fatalf("Err = %v", s.Err())
	}
}

func TestSessionBackgroundSurvivesReconnect(t *testing.T) {
	b := newBackend()
	gw := newFakeServer(t, "gw-1", b)
	s := startSession(t, sessionConfig(1, 1, gw.url()))
	ready(t, s)
	if err := s.SetBackground(context.Background(), true); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "state", func() bool { return b.conn(t, 1, 1).isBG() })
	old := b.conn(t, 1, 1)
	old.kick(protocol.CodeKickIdle)
	waitFor(t, "a new connection in the background", func() bool {
		b.mu.Lock()
		fc := b.live[devKey{1, 1}]
		b.mu.Unlock()
		return fc != nil && fc != old && fc.isBG()
	})
}

func TestSessionStartsAt(t *testing.T) {
	b := newBackend()
	gw := newFakeServer(t, "gw-1", b)
	m1 := b.inject(2, 1, 1, "one")
	m2 := b.inject(2, 1, 1, "two")
	m3 := b.inject(2, 1, 1, "three")

	// A new device with no After gets everything retained, by sync.
	s := startSession(t, sessionConfig(1, 1, gw.url()))
	for _, want := range []*protocol.Message{m1, m2, m3} {
		if got := next(t, s); got.ID != want.ID || !got.Synced {
			t.Fatalf("got %d (synced %v), want %d", got.ID, got.Synced, want.ID)
		}
	}
	// Close dacks; the next session of the device resumes after m3.
	s.Close()
	if got := b.cursor(1, 1); got != m3.ID {
		t.Fatalf("cursor after close = %d, want %d", got, m3.ID)
	}
	m4 := b.inject(2, 1, 1, "four")
	s2 := startSession(t, sessionConfig(1, 1, gw.url()))
	if got := next(t, s2); got.ID != m4.ID {
		t.Fatalf("resumed with %d, want %d", got.ID, m4.ID)
	}
	quiet(t, s2)
	s2.Close()

	// An explicit After wins over hello.resume.
	cfg := sessionConfig(1, 2, gw.url())
	cfg.After = m2.ID
	s3 := startSession(t, cfg)
	for _, want := range []*protocol.Message{m3, m4} {
		if got := next(t, s3); got.ID != want.ID {
			t.Fatalf("got %d, want %d", got.ID, want.ID)
		}
	}
	quiet(t, s3)
}

// TestSessionSlowConsumer lets the consumer fall behind a burst of live
// messages: the Conn overflows, the Session reconnects and syncs, and every
// message still arrives exactly once, in order.
func TestSessionSlowConsumer(t *testing.T) {
	b := newBackend()
	gw := newFakeServer(t, "gw-1", b)
	cfg := sessionConfig(1, 1, gw.url())
	cfg.MessageBuffer = 4
	cfg.SyncLimit = 7
	var mu sync.Mutex
	drops := 0
	cfg.OnDisconnect = func(error) { mu.Lock(); drops++; mu.Unlock() }
	s := startSession(t, cfg)
	ready(t, s)
	var want []protocol.ID
	for i := range 40 {
		want = append(want, b.inject(2, 1, 1, fmt.Sprint("burst-", i)).ID)
	}
	var got []protocol.ID
	for len(got) < len(want) {
		m := next(t, s)
		got = append(got, m.ID)
		time.Sleep(time.Millisecond) // a slow consumer
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("message %d is %d, want %d", i, got[i], want[i])
		}
	}
	quiet(t, s)
	mu.Lock()
	defer mu.Unlock()
	if drops == 0 {
		t.Fatal("the conn never overflowed; the test proves nothing")
	}
}

func TestSessionConcurrentSends(t *testing.T) {
	b := newBackend()
	gw := newFakeServer(t, "gw-1", b)
	s := startSession(t, sessionConfig(1, 1, gw.url()))
	peer := dialUser(t, gw, 2, 1)
	var wg sync.WaitGroup
	ids := make(chan protocol.ID, 100)
	for range 10 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 10 {
				ack, err := s.Send(context.Background(), Outgoing{ToUser: 2, Content: "x"})
				if err != nil {
					t.Error(err)
					return
				}
				ids <- ack.ID
			}
		}()
	}
	wg.Wait()
	close(ids)
	seen := map[protocol.ID]bool{}
	for id := range ids {
		seen[id] = true
	}
	if len(seen) != 100 {
		t.Fatalf("%d distinct acks", len(seen))
	}
	for range 100 {
		if m := recv(t, peer); !seen[m.ID] {
			t.Fatalf("unknown id %d", m.ID)
		}
	}
}

func TestDedupe(t *testing.T) {
	ms := func(n int64) protocol.ID { return protocol.ID(n) << idTimeShift }
	d := newDedupe(time.Minute, 1000)
	if !d.add(ms(100_000)) || d.add(ms(100_000)) {
		t.Fatal("first add must be new, second a duplicate")
	}
	if !d.add(0) || !d.add(0) {
		t.Fatal("id 0 is never a duplicate")
	}
	// Fill past the prune threshold with ids spread over two minutes.
	for i := range int64(2000) {
		d.add(ms(100_000 + i*60))
	}
	top := ms(100_000 + 1999*60)
	if d.max != top {
		t.Fatalf("max = %d", d.max)
	}
	if len(d.seen) > 1000 {
		t.Fatalf("%d ids remembered, cap 1000", len(d.seen))
	}
	// Everything within the window of the top is still known.
	for id := range d.seen {
		if id < d.floor {
			t.Fatalf("id %d below floor %d kept", id, d.floor)
		}
	}
	if d.add(top) || d.add(top-ms(30_000)) {
		t.Fatal("recent ids forgotten")
	}
	// A forgotten old id counts as new: at-least-once.
	if !d.add(ms(100_000)) {
		t.Fatal("an id below the floor was dropped")
	}

	// resumeAfter: overlap before the top, never before start or below the floor.
	d2 := newDedupe(time.Minute, 1<<20)
	if got := d2.resumeAfter(ms(5), time.Minute); got != ms(5) {
		t.Fatalf("nothing seen: %d", got)
	}
	d2.add(ms(200_000))
	if got := d2.resumeAfter(0, time.Minute); got != ms(200_000-60_000) {
		t.Fatalf("resume = %d, want a minute before the top", got)
	}
	if got := d2.resumeAfter(ms(190_000), time.Minute); got != ms(190_000) {
		t.Fatalf("resume = %d, want start", got)
	}
	if got := d2.resumeAfter(0, 0); got != ms(200_000) {
		t.Fatalf("resume without overlap = %d", got)
	}
}
