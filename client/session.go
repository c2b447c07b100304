package client

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/chatgate/chatgate/protocol"
)

// Defaults of SessionConfig.
const (
	DefaultSyncOverlap   = time.Minute
	DefaultMinBackoff    = 250 * time.Millisecond
	DefaultMaxBackoff    = 15 * time.Second
	DefaultDAckInterval  = 5 * time.Second
	DefaultMaxRemembered = 1 << 18
	// syncPageTimeout bounds one sync request; a gateway that does not
	// answer in this time is treated as broken and the Session reconnects.
	syncPageTimeout = 30 * time.Second
	// stableAfter is how long a connection must have lived for the backoff
	// to start over.
	stableAfter = 30 * time.Second
)

// SessionConfig configures a Session. Zero values take the defaults.
type SessionConfig struct {
	// Config holds the identity and connection settings. Its URL is used
	// only when URLs is empty. Its MessageBuffer also holds the live
	// messages that arrive during a catch-up sync; when it overflows the
	// Session reconnects and syncs again.
	Config
	// URLs are the gateways to use, tried in turn.
	URLs []string
	// After is the highest message id the application already has (e.g.
	// persisted from an earlier run). 0: start from hello.resume of the
	// first connection, that is, what this device last dacked (for a new
	// device: everything retained).
	After protocol.ID
	// SyncLimit is the page size of syncs (0: the server's default).
	SyncLimit int
	// SyncOverlap is how far before the highest id seen a reconnect syncs
	// from (default 1 minute; negative: not at all). It catches messages
	// that got a lower id but became durable after the highest one; see
	// protocol/PROTOCOL.md section 9. Duplicates are dropped.
	SyncOverlap time.Duration
	// MinBackoff and MaxBackoff bound the delay between reconnect attempts
	// (defaults 250 ms and 15 s); the delay doubles per failed attempt and
	// is jittered to half of it or more.
	MinBackoff time.Duration
	MaxBackoff time.Duration
	// DAckInterval is how often the highest delivered id is dacked (default
	// 5 s; negative: never).
	DAckInterval time.Duration
	// MaxRemembered caps the ids kept for deduplication (default 262144).
	MaxRemembered int
	// OnConnect, if set, is called after each successful authentication,
	// before the catch-up sync, from the Session's goroutine.
	OnConnect func(*protocol.Hello)
	// OnDisconnect, if set, is called with the reason each time a
	// connection ends, from the Session's goroutine; not when the Session
	// itself is closed.
	//
	// Both callbacks hold up the Session while they run: they must return
	// quickly and must not call Close (which waits for that goroutine).
	OnDisconnect func(error)
}

func (cfg SessionConfig) withDefaults() SessionConfig {
	if len(cfg.URLs) == 0 && cfg.URL != "" {
		cfg.URLs = []string{cfg.URL}
	}
	cfg.Config = cfg.Config.withDefaults()
	if cfg.SyncOverlap == 0 {
		cfg.SyncOverlap = DefaultSyncOverlap
	}
	cfg.SyncOverlap = max(cfg.SyncOverlap, 0)
	if cfg.MinBackoff <= 0 {
		cfg.MinBackoff = DefaultMinBackoff
	}
	if cfg.MaxBackoff <= 0 {
		cfg.MaxBackoff = DefaultMaxBackoff
	}
	cfg.MaxBackoff = max(cfg.MaxBackoff, cfg.MinBackoff)
	if cfg.DAckInterval == 0 {
		cfg.DAckInterval = DefaultDAckInterval
	}
	if cfg.MaxRemembered <= 0 {
		cfg.MaxRemembered = DefaultMaxRemembered
	}
	return cfg
}

// Incoming is a message delivered by a Session.
type Incoming struct {
	*protocol.Message
	// Synced is true when the message came from a sync page, false when it
	// came live in a msg frame.
	Synced bool
}

// Session is a logical connection that survives gateway failures; see the
// package documentation. Its methods are safe for concurrent use.
type Session struct {
	cfg    SessionConfig
	log    *slog.Logger
	cancel context.CancelFunc
	done   chan struct{}
	err    error // why the Session ended; set before done is closed
	msgs   chan Incoming

	mu      sync.Mutex
	conn    *Conn         // nil while disconnected
	ready   bool          // conn finished its catch-up sync
	changed chan struct{} // closed and replaced when conn or ready change
	hello   *protocol.Hello

	// bgMu orders state frames: whoever changes or re-applies the
	// background flag holds it while queueing the frame, so the last
	// SetBackground is the last frame on the wire.
	bgMu sync.Mutex
	bg   bool

	seenMu    sync.Mutex
	seen      *dedupe
	started   bool
	start     protocol.ID // where the first sync started
	delivered protocol.ID // highest id handed to the application or acked
}

// StartSession starts a Session and returns at once; it connects in the
// background (Ready waits for it). The Session runs until ctx ends, Close is
// called, or a final error (kick 4101, 4102, 4103 or 4108, authentication
// refused).
func StartSession(ctx context.Context, cfg SessionConfig) (*Session, error) {
	cfg = cfg.withDefaults()
	if len(cfg.URLs) == 0 {
		return nil, errors.New("client: session needs at least one gateway URL")
	}
	// Catch a bad identity now rather than in a reconnect loop.
	probe := protocol.Frame{T: protocol.TypeAuth, Token: cfg.Token, AppID: cfg.AppID, DeviceSN: cfg.DeviceSN,
		Platform: cfg.Platform, PushToken: cfg.PushToken, Notifier: cfg.Notifier}
	lim := protocol.DefaultLimits()
	lim.MaxTokenBytes = len(cfg.Token)
	if perr := probe.Validate(lim); perr != nil {
		return nil, perr
	}
	ctx, cancel := context.WithCancel(ctx)
	s := &Session{
		cfg:     cfg,
		log:     cfg.Logger.With("app", cfg.AppID, "device_sn", cfg.DeviceSN),
		cancel:  cancel,
		done:    make(chan struct{}),
		msgs:    make(chan Incoming),
		changed: make(chan struct{}),
		seen:    newDedupe(max(cfg.SyncOverlap, time.Minute), cfg.MaxRemembered),
	}
	go s.run(ctx)
	return s, nil
}

// Messages returns the messages of the user's conversations, each id once,
// oldest first within a conversation: first what the catch-up sync finds,
// then live ones. Messages sent by this device are not included (Send's Ack
// reports them), mirroring the server's live delivery. The channel is
// unbuffered and closed when the Session ends. A consumer that stops
// reading stalls the Session; one that reads too slowly for the live rate
// makes it reconnect and catch up by sync.
func (s *Session) Messages() <-chan Incoming { return s.msgs }

// Done is closed when the Session has ended; Err then says why.
func (s *Session) Done() <-chan struct{} { return s.done }

// Err is nil while the Session runs, then ErrClosed after Close or the end
// of its context, a *KickError with code 4101 when another connection of
// the same device replaced it (4102, 4103, 4108 when an administrator
// kicked, disabled or deleted the user), or the *protocol.Error of a refused
// authentication (4010-4014, 4017, 4018).
func (s *Session) Err() error {
	select {
	case <-s.done:
		return s.err
	default:
		return nil
	}
}

// Close ends the Session: it dacks what was delivered, closes the current
// connection and waits for the Session's goroutine. Sends still waiting
// fail with ErrClosed. It returns nil.
func (s *Session) Close() error {
	s.cancel()
	<-s.done
	return nil
}

// Hello returns the hello of the current connection, or of the last one
// while disconnected; nil before the first.
func (s *Session) Hello() *protocol.Hello {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.hello == nil {
		return nil
	}
	h := *s.hello
	return &h
}

// Delivered is the highest message id handed to the application or acked
// to this device: what the Session dacks, and what an application that
// persists it passes as SessionConfig.After next time.
func (s *Session) Delivered() protocol.ID {
	s.seenMu.Lock()
	defer s.seenMu.Unlock()
	return s.delivered
}

// Ready waits until the Session is connected and its catch-up sync is done.
func (s *Session) Ready(ctx context.Context) error {
	for {
		s.mu.Lock()
		ok, ch := s.ready, s.changed
		s.mu.Unlock()
		if ok {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return fmt.Errorf("client: wait for session: %w", ctx.Err())
		case <-s.done:
			return s.err
		}
	}
}

// Send sends a message and blocks until the server acknowledges it, across
// reconnects: when a connection ends before the ack, the same message is
// sent again, with the same CMID, on the next one, so it is delivered once.
// A CMID is assigned if m has none. It returns early only when ctx ends,
// the Session ends, or the server refuses the message (a *protocol.Error
// such as 4021 not a group member, 4020, or 4002/4003/4004 from validation);
// 4029, 5000 and 5003 are retried with backoff. The Ack's CMID is set even
// on error, so a caller can retry the same message later.
func (s *Session) Send(ctx context.Context, m Outgoing) (Ack, error) {
	if m.CMID == "" {
		m.CMID = NewCMID()
	}
	var stale *Conn
	for attempt := 0; ; {
		conn, err := s.waitConn(ctx, stale)
		if err != nil {
			return Ack{CMID: m.CMID}, err
		}
		ack, err := conn.Send(ctx, m)
		if err == nil {
			s.noteOwn(ack.ID)
			return ack, nil
		}
		if ctx.Err() != nil {
			return Ack{CMID: m.CMID}, err
		}
		if errors.Is(err, ErrDisconnected) {
			stale = conn
			continue
		}
		var perr *protocol.Error
		if errors.As(err, &perr) && retryable(perr.Code) {
			attempt++
			if err := s.sleep(ctx, s.backoff(attempt)); err != nil {
				return Ack{CMID: m.CMID}, err
			}
			continue
		}
		return Ack{CMID: m.CMID}, err
	}
}

// SetBackground tells the gateway whether the app is in the background, now
// if connected and again after every reconnect (a new connection starts in
// the foreground).
func (s *Session) SetBackground(ctx context.Context, bg bool) error {
	s.bgMu.Lock()
	defer s.bgMu.Unlock()
	s.bg = bg
	s.mu.Lock()
	conn := s.conn
	s.mu.Unlock()
	if conn == nil {
		return nil
	}
	err := conn.SetBackground(ctx, bg)
	if errors.Is(err, ErrDisconnected) {
		return nil // the next connection applies it
	}
	return err
}

func retryable(c protocol.Code) bool {
	return c == protocol.CodeRateLimited || c == protocol.CodeInternal || c == protocol.CodeUnavailable
}

// final reports whether a kick ends the session: another connection of the
// device took over, or an administrator logged the user out, disabled or
// deleted it. Reconnecting would fight the decision.
func final(c protocol.Code) bool {
	switch c {
	case protocol.CodeKickReplaced, protocol.CodeKickAdmin, protocol.CodeKickDisabled, protocol.CodeKickDeleted:
		return true
	}
	return false
}

// permanent reports whether a Dial error will not go away by retrying with
// the same configuration.
func permanent(err error) bool {
	var perr *protocol.Error
	if !errors.As(err, &perr) {
		return false
	}
	switch perr.Code {
	case protocol.CodeBadFrame, protocol.CodeUnknownType, protocol.CodeMissingField, protocol.CodeBadValue,
		protocol.CodeFrameTooLarge, protocol.CodeNotAuthed, protocol.CodeAlreadyAuthed,
		protocol.CodeAuthFailed, protocol.CodeTokenExpired, protocol.CodeUnknownApp,
		protocol.CodeAppMismatch, protocol.CodeUserDisabled, protocol.CodeUserUnknown, protocol.CodeTokenRevoked:
		return true
	}
	return false
}

// waitConn returns the current connection, waiting for one if there is
// none; stale is a connection the caller saw die, which is not returned
// again.
func (s *Session) waitConn(ctx context.Context, stale *Conn) (*Conn, error) {
	for {
		s.mu.Lock()
		conn, ch := s.conn, s.changed
		s.mu.Unlock()
		if conn != nil && conn != stale && conn.Err() == nil {
			return conn, nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return nil, fmt.Errorf("client: send: %w", ctx.Err())
		case <-s.done:
			return nil, s.err
		}
	}
}

func (s *Session) setConn(conn *Conn, ready bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.conn, s.ready = conn, ready
	if conn != nil {
		s.hello = conn.Hello()
	}
	close(s.changed)
	s.changed = make(chan struct{})
}

// backoff is the delay before reconnect attempt n (n >= 1): exponential,
// capped, with jitter in [d/2, d] so that the clients of a dead gateway do
// not all come back at the same instant.
func (s *Session) backoff(n int) time.Duration {
	d := s.cfg.MinBackoff
	for i := 1; i < n && d < s.cfg.MaxBackoff; i++ {
		d *= 2
	}
	d = min(d, s.cfg.MaxBackoff)
	return d/2 + rand.N(d/2+1)
}

// sleep waits d unless ctx or the Session ends first.
func (s *Session) sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("client: %w", ctx.Err())
	case <-s.done:
		return s.err
	}
}

// run is the Session's goroutine: connect, catch up, deliver, repeat.
func (s *Session) run(ctx context.Context) {
	s.err = s.loop(ctx)
	s.setConn(nil, false)
	close(s.msgs)
	close(s.done)
}

func (s *Session) loop(ctx context.Context) error {
	attempt := 0
	var wait time.Duration
	for next := 0; ; next++ {
		if wait > 0 {
			t := time.NewTimer(wait)
			select {
			case <-t.C:
			case <-ctx.Done():
				t.Stop()
				return ErrClosed
			}
		}
		cfg := s.cfg.Config
		cfg.URL = s.cfg.URLs[next%len(s.cfg.URLs)]
		conn, err := Dial(ctx, cfg)
		if err != nil {
			if ctx.Err() != nil {
				return ErrClosed
			}
			if permanent(err) {
				s.log.Warn("client: session gives up: authentication refused", "url", cfg.URL, "err", err)
				return err
			}
			attempt++
			wait = s.backoff(attempt)
			s.log.Debug("client: connect failed", "url", cfg.URL, "err", err, "retry_in", wait)
			continue
		}
		connected := time.Now()
		err = s.serve(ctx, conn)
		if ctx.Err() != nil {
			s.finalDAck(conn)
		}
		_ = conn.Close()
		s.setConn(nil, false)
		if ctx.Err() != nil {
			return ErrClosed
		}
		if s.cfg.OnDisconnect != nil {
			s.cfg.OnDisconnect(err)
		}
		var kick *KickError
		switch {
		case errors.As(err, &kick) && final(kick.Code):
			return err
		case errors.As(err, &kick) && kick.Code == protocol.CodeKickShutdown:
			// The gateway is draining: go to the next one now, with just
			// enough jitter to spread its clients.
			attempt = 0
			wait = rand.N(s.cfg.MinBackoff + 1)
		default:
			if time.Since(connected) > stableAfter {
				attempt = 0
			}
			attempt++
			wait = s.backoff(attempt)
		}
		s.log.Debug("client: disconnected", "url", cfg.URL, "err", err, "retry_in", wait)
	}
}

// serve runs one connection: catch up by sync, then deliver live messages
// and dack, until the connection or the Session ends.
func (s *Session) serve(ctx context.Context, conn *Conn) error {
	hello := conn.Hello()
	s.setConn(conn, false)
	if s.cfg.OnConnect != nil {
		s.cfg.OnConnect(hello)
	}
	if err := s.applyBackground(ctx, conn); err != nil {
		return err
	}

	after := s.syncStart(hello)
	for {
		pctx, cancel := context.WithTimeout(ctx, syncPageTimeout)
		res, err := conn.Sync(pctx, after, s.cfg.SyncLimit)
		cancel()
		if err != nil {
			return fmt.Errorf("client: catch-up sync: %w", err)
		}
		for _, m := range res.Messages {
			if !s.deliver(ctx, hello, m, true) {
				return ErrClosed
			}
		}
		if !res.HasMore || res.Next <= after {
			break
		}
		after = res.Next
	}
	s.setConn(conn, true)

	var dackC <-chan time.Time
	if s.cfg.DAckInterval > 0 {
		t := time.NewTicker(s.cfg.DAckInterval)
		defer t.Stop()
		dackC = t.C
	}
	var dacked protocol.ID
	for {
		select {
		case m, ok := <-conn.Messages():
			if !ok {
				return conn.Err()
			}
			if !s.deliver(ctx, hello, m, false) {
				return ErrClosed
			}
		case <-dackC:
			if d := s.Delivered(); d > dacked {
				if err := conn.DAck(ctx, d); err != nil {
					return err
				}
				dacked = d
			}
		case <-ctx.Done():
			return ErrClosed
		}
	}
}

// applyBackground repeats a background state on a new connection, which
// starts in the foreground.
func (s *Session) applyBackground(ctx context.Context, conn *Conn) error {
	s.bgMu.Lock()
	defer s.bgMu.Unlock()
	if !s.bg {
		return nil
	}
	return conn.SetBackground(ctx, true)
}

// syncStart says where the catch-up sync of a new connection starts.
func (s *Session) syncStart(hello *protocol.Hello) protocol.ID {
	s.seenMu.Lock()
	defer s.seenMu.Unlock()
	if !s.started {
		s.started = true
		s.start = s.cfg.After
		if s.start == 0 {
			s.start = hello.Resume
		}
		s.delivered = max(s.delivered, s.start)
		return s.start
	}
	return s.seen.resumeAfter(s.start, s.cfg.SyncOverlap)
}

// deliver hands a message to the application unless it is a duplicate or
// this device's own; false if the Session ended while waiting for the
// consumer.
func (s *Session) deliver(ctx context.Context, hello *protocol.Hello, m *protocol.Message, synced bool) bool {
	own := m.From == hello.UserID && m.FromDev == hello.DeviceSN
	s.seenMu.Lock()
	fresh := s.seen.add(m.ID)
	if fresh && own {
		s.delivered = max(s.delivered, m.ID)
	}
	s.seenMu.Unlock()
	if !fresh || own {
		return true
	}
	select {
	case s.msgs <- Incoming{Message: m, Synced: synced}:
	case <-ctx.Done():
		return false
	}
	s.seenMu.Lock()
	s.delivered = max(s.delivered, m.ID)
	s.seenMu.Unlock()
	return true
}

// noteOwn records the id of a message this device sent, so that a sync does
// not hand it back and the dack position covers it.
func (s *Session) noteOwn(id protocol.ID) {
	s.seenMu.Lock()
	s.seen.add(id)
	s.delivered = max(s.delivered, id)
	s.seenMu.Unlock()
}

// finalDAck queues a last dack on a connection about to be closed; Close
// writes queued frames before the close frame.
func (s *Session) finalDAck(conn *Conn) {
	if s.cfg.DAckInterval < 0 {
		return
	}
	if d := s.Delivered(); d > 0 {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		_ = conn.DAck(ctx, d)
	}
}
