package client

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"

	"github.com/chatgate/chatgate/protocol"
)

// Defaults of Config.
const (
	DefaultDialTimeout   = 10 * time.Second
	DefaultMessageBuffer = 1024
	// writeTimeout bounds one frame write. A write that cannot finish in
	// this time means the connection is unusable; coder/websocket then
	// closes it and the reader reports why.
	writeTimeout = 10 * time.Second
	// defaultHeartbeat applies when a server announces none.
	defaultHeartbeat = 25 * time.Second
	// writeQueue is how many frames may wait for the writer goroutine
	// before callers block (with their context). Small: a load test holds
	// many Conns, and callers wait for replies anyway.
	writeQueue = 64
)

// Config says where and as whom a Conn connects.
type Config struct {
	// URL of the gateway, e.g. "ws://127.0.0.1:8080/ws".
	URL string
	// AppID, Token, DeviceSN, Platform, PushToken and Notifier go into the
	// auth frame (protocol/PROTOCOL.md section 5.1). Token must be a user
	// token.
	AppID     string
	Token     string
	DeviceSN  int32
	Platform  int
	PushToken string
	Notifier  string

	// HTTPClient performs the WebSocket handshake (nil: http.DefaultClient).
	HTTPClient *http.Client
	// HTTPHeader is added to the handshake request.
	HTTPHeader http.Header
	// DialTimeout bounds the handshake plus authentication (default 10 s),
	// in addition to the context given to Dial.
	DialTimeout time.Duration
	// MessageBuffer is the capacity of the Messages channel (default 1024;
	// it costs 8 bytes a slot, allocated up front). When a message arrives
	// and the channel is full, the Conn ends with ErrSlowConsumer instead
	// of blocking the connection or dropping the message: reconnect and
	// sync, as after the server's own 4105.
	MessageBuffer int
	// Unpaced turns off the client-side rate limiter. By default a Conn
	// holds frames back so that it stays within the frames_per_second and
	// half the frame_burst the server announced, so that it never sees
	// 4029. Tests of the server's rate limit set Unpaced.
	Unpaced bool
	// Logger receives debug records about unexpected server frames (nil:
	// discard).
	Logger *slog.Logger
}

func (cfg Config) withDefaults() Config {
	if cfg.DialTimeout <= 0 {
		cfg.DialTimeout = DefaultDialTimeout
	}
	if cfg.MessageBuffer <= 0 {
		cfg.MessageBuffer = DefaultMessageBuffer
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return cfg
}

// Outgoing is a message to send (protocol/PROTOCOL.md section 5.2).
type Outgoing struct {
	// CMID is the client message id. Empty: Send picks a random one (see
	// NewCMID) and returns it in the Ack. Set it yourself if you may need to
	// resend the same message on another Conn; Session does.
	CMID    string
	ToUser  int64 // exactly one of ToUser and ToGroup
	ToGroup int64
	Type    string // "text" when empty
	Content string
	Ext     string
	// Attachment is the file of an image, audio, video or file message
	// (see UploadFile and protocol.Attachment): a JSON object in a string.
	Attachment string
	// Mentions are the @mentions of a group message.
	Mentions *protocol.Mentions
}

// Ack is the server's acknowledgement of a send: the message is durable.
type Ack struct {
	CMID string
	ID   protocol.ID
	TS   int64 // server time, unix milliseconds
}

// SyncResult is one page of a sync (protocol/PROTOCOL.md section 6.5).
type SyncResult struct {
	Messages []*protocol.Message // oldest first
	HasMore  bool
	// Next is the after of the next page. It is never below the after that
	// was asked for, even when the server omitted it.
	Next protocol.ID
}

// NewCMID returns a random client message id: 16 URL-safe characters,
// unique with overwhelming probability.
func NewCMID() string {
	var b [12]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails on supported platforms
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// Conn is one authenticated connection to a gateway. Its methods are safe
// for concurrent use. See the package documentation.
type Conn struct {
	ws     *websocket.Conn
	hello  protocol.Hello
	limits protocol.Limits
	hb     time.Duration
	log    *slog.Logger
	paced  bool

	rid     atomic.Uint32
	mu      sync.Mutex
	pending map[uint32]chan *protocol.Frame

	out  chan []byte
	msgs chan *protocol.Message

	lastRead  atomic.Int64 // unix nanoseconds of the last frame received
	lastWrite atomic.Int64 // unix nanoseconds of the last frame written

	// kick and lastErr remember what the server said before closing, so
	// that Err can explain the close.
	kick     atomic.Pointer[KickError]
	lastErr  atomic.Pointer[protocol.Error]
	writeErr atomic.Pointer[error]

	errOnce    sync.Once
	err        error
	done       chan struct{}
	stopWrite  chan struct{}
	closeOnce  sync.Once
	readerDone chan struct{}
	writerDone chan struct{}
}

// Dial connects to cfg.URL, authenticates and waits for the server's hello.
// ctx bounds only the dial and the authentication; the Conn lives until
// Close or until the connection ends. An authentication refusal is returned
// as a *protocol.Error with the server's code (4010 bad token, 4011 expired,
// ...); a frame that fails validation locally too.
func Dial(ctx context.Context, cfg Config) (*Conn, error) {
	cfg = cfg.withDefaults()
	auth := &protocol.Frame{
		T: protocol.TypeAuth, Rid: 1, Token: cfg.Token, AppID: cfg.AppID,
		DeviceSN: cfg.DeviceSN, Platform: cfg.Platform, PushToken: cfg.PushToken, Notifier: cfg.Notifier,
	}
	// The server's token limit is unknown before hello; let it judge length.
	authLim := protocol.DefaultLimits()
	authLim.MaxTokenBytes = len(cfg.Token)
	if perr := auth.Validate(authLim); perr != nil {
		return nil, perr
	}
	authBytes, err := protocol.Encode(auth)
	if err != nil {
		return nil, fmt.Errorf("client: %w", err)
	}

	dctx, cancel := context.WithTimeout(ctx, cfg.DialTimeout)
	defer cancel()
	ws, _, err := websocket.Dial(dctx, cfg.URL, &websocket.DialOptions{
		HTTPClient:   cfg.HTTPClient,
		HTTPHeader:   cfg.HTTPHeader,
		Subprotocols: []string{protocol.Subprotocol},
	})
	if err != nil {
		return nil, fmt.Errorf("client: dial %s: %w", cfg.URL, err)
	}
	if ws.Subprotocol() != protocol.Subprotocol {
		_ = ws.CloseNow()
		return nil, fmt.Errorf("client: dial %s: server did not accept subprotocol %s", cfg.URL, protocol.Subprotocol)
	}
	// Large enough for any hello; raised once the limits are known.
	ws.SetReadLimit(1 << 20)
	hello, err := authenticate(dctx, ws, authBytes)
	if err != nil {
		_ = ws.CloseNow()
		return nil, err
	}
	ws.SetReadLimit(readLimit(hello.Limits))

	c := &Conn{
		ws:         ws,
		hello:      *hello,
		limits:     hello.Limits,
		hb:         time.Duration(hello.Heartbeat) * time.Second,
		log:        cfg.Logger.With("node", hello.Node, "session", hello.Session),
		paced:      !cfg.Unpaced,
		pending:    make(map[uint32]chan *protocol.Frame),
		out:        make(chan []byte, writeQueue),
		msgs:       make(chan *protocol.Message, cfg.MessageBuffer),
		done:       make(chan struct{}),
		stopWrite:  make(chan struct{}),
		readerDone: make(chan struct{}),
		writerDone: make(chan struct{}),
	}
	if c.hb <= 0 {
		c.hb = defaultHeartbeat
	}
	c.rid.Store(1) // the auth frame used 1
	now := time.Now().UnixNano()
	c.lastRead.Store(now)
	c.lastWrite.Store(now)
	go c.readLoop()
	go c.writeLoop()
	return c, nil
}

// authenticate sends the auth frame and reads until hello or a refusal.
func authenticate(ctx context.Context, ws *websocket.Conn, auth []byte) (*protocol.Hello, error) {
	if err := ws.Write(ctx, websocket.MessageText, auth); err != nil {
		return nil, fmt.Errorf("client: send auth: %w", err)
	}
	for {
		typ, data, err := ws.Read(ctx)
		if err != nil {
			if code := protocol.Code(websocket.CloseStatus(err)); code >= 4000 && code < 5000 {
				return nil, &protocol.Error{Code: code, Detail: "connection closed during authentication"}
			}
			return nil, fmt.Errorf("client: authenticate: %w", err)
		}
		if typ != websocket.MessageText {
			continue
		}
		var f protocol.Frame
		if err := json.Unmarshal(data, &f); err != nil {
			return nil, fmt.Errorf("client: authenticate: bad frame from server: %w", err)
		}
		switch f.T {
		case protocol.TypeHello:
			if f.Hello == nil {
				return nil, errors.New("client: authenticate: hello frame without hello")
			}
			f.Hello.Limits = withDefaultLimits(f.Hello.Limits)
			return f.Hello, nil
		case protocol.TypeErr:
			return nil, &protocol.Error{Code: protocol.Code(f.Code), Detail: f.Msg}
		case protocol.TypeKick:
			return nil, &KickError{Code: protocol.Code(f.Code), Reason: f.Reason}
		}
	}
}

// withDefaultLimits fills limits a server left out, so that pacing and
// local validation always have numbers to work with.
func withDefaultLimits(l protocol.Limits) protocol.Limits {
	d := protocol.DefaultLimits()
	fill := func(v *int, def int) {
		if *v <= 0 {
			*v = def
		}
	}
	fill(&l.MaxFrameBytes, d.MaxFrameBytes)
	fill(&l.MaxContentBytes, d.MaxContentBytes)
	fill(&l.MaxExtBytes, d.MaxExtBytes)
	fill(&l.MaxCMIDBytes, d.MaxCMIDBytes)
	fill(&l.MaxTokenBytes, d.MaxTokenBytes)
	fill(&l.MaxSyncLimit, d.MaxSyncLimit)
	fill(&l.FramesPerSecond, d.FramesPerSecond)
	fill(&l.FrameBurst, d.FrameBurst)
	return l
}

// readLimit bounds one server frame. A sync page holds up to MaxSyncLimit
// messages, and JSON escaping can make a string six times longer.
func readLimit(l protocol.Limits) int64 {
	perMsg := int64(6*(l.MaxContentBytes+l.MaxExtBytes) + 1024)
	n := int64(l.MaxSyncLimit)*perMsg + 64<<10
	return max(n, 1<<20)
}

// Hello returns the server's hello (a copy).
func (c *Conn) Hello() *protocol.Hello {
	h := c.hello
	return &h
}

// Messages returns the channel of live msg frames, in arrival order. It is
// closed when the Conn ends. If it is full when a message arrives, the Conn
// ends with ErrSlowConsumer (see Config.MessageBuffer).
func (c *Conn) Messages() <-chan *protocol.Message { return c.msgs }

// Done is closed when the Conn has ended; Err then says why.
func (c *Conn) Done() <-chan struct{} { return c.done }

// Err returns nil while the Conn is alive, then why it ended: ErrClosed
// after Close, a *KickError when the server kicked it, a *protocol.Error
// when the server closed it after an error (e.g. 4004), ErrSlowConsumer,
// ErrHeartbeatTimeout, or a transport error.
func (c *Conn) Err() error {
	select {
	case <-c.done:
		return c.err
	default:
		return nil
	}
}

// Close closes the connection with status 1000, after writing the frames
// already queued (so a final DAck is not lost), and waits for the Conn's
// goroutines. It is idempotent and returns nil.
func (c *Conn) Close() error {
	c.closeOnce.Do(func() {
		close(c.stopWrite)
		<-c.writerDone
		c.finish(ErrClosed)
		_ = c.ws.Close(websocket.StatusNormalClosure, "")
		<-c.readerDone
	})
	return nil
}

// finish records why the Conn ended (the first reason wins) and wakes
// everybody waiting on it.
func (c *Conn) finish(err error) {
	c.errOnce.Do(func() {
		c.err = err
		close(c.done)
	})
}

// Send sends a message and waits for the server's ack: once it returns an
// Ack the message is durable. A refusal is a *protocol.Error (4021 not a
// group member, 4029 rate limited, 5003 unavailable, or 4002/4003/4004 from
// local validation, in which case nothing was sent). If the connection ends
// first the error wraps ErrDisconnected: resend with the same CMID on the
// next connection.
func (c *Conn) Send(ctx context.Context, m Outgoing) (Ack, error) {
	if m.CMID == "" {
		m.CMID = NewCMID()
	}
	if m.Type == "" {
		m.Type = "text"
	}
	f := &protocol.Frame{
		T: protocol.TypeSend, CMID: m.CMID, ToUser: m.ToUser, ToGroup: m.ToGroup,
		Type: m.Type, Content: m.Content, Ext: m.Ext, Attachment: m.Attachment, Mentions: m.Mentions,
	}
	r, err := c.request(ctx, f)
	if err != nil {
		return Ack{CMID: m.CMID}, err
	}
	if r.T != protocol.TypeAck {
		return Ack{CMID: m.CMID}, fmt.Errorf("client: send: server answered %q", r.T)
	}
	return Ack{CMID: m.CMID, ID: r.ID, TS: r.TS}, nil
}

// Sync fetches one page of messages with ids above after (0: from the
// oldest retained), at most limit of them (0: the server's default).
func (c *Conn) Sync(ctx context.Context, after protocol.ID, limit int) (*SyncResult, error) {
	f := &protocol.Frame{T: protocol.TypeSync, After: after, Limit: limit}
	r, err := c.request(ctx, f)
	if err != nil {
		return nil, err
	}
	if r.T != protocol.TypeSyncRes {
		return nil, fmt.Errorf("client: sync: server answered %q", r.T)
	}
	return &SyncResult{Messages: r.Msgs, HasMore: r.HasMore, Next: max(r.Next, after)}, nil
}

// Ping sends a ping and waits for the pong. The Conn pings by itself to
// keep the connection alive; Ping is for measuring round trips.
func (c *Conn) Ping(ctx context.Context) error {
	r, err := c.request(ctx, &protocol.Frame{T: protocol.TypePing})
	if err != nil {
		return err
	}
	if r.T != protocol.TypePong {
		return fmt.Errorf("client: ping: server answered %q", r.T)
	}
	return nil
}

// DAck tells the server this device has every message up to id. There is
// no reply: it returns once the frame is queued.
func (c *Conn) DAck(ctx context.Context, id protocol.ID) error {
	return c.post(ctx, &protocol.Frame{T: protocol.TypeDAck, ID: id})
}

// SetBackground tells the server whether the app is in the background
// (push notifications on) or the foreground. No reply: it returns once the
// frame is queued.
func (c *Conn) SetBackground(ctx context.Context, bg bool) error {
	return c.post(ctx, &protocol.Frame{T: protocol.TypeState, BG: &bg})
}

// encode validates a client frame against the server's limits and encodes
// it, so that a bad frame fails here with the code the server would use.
func (c *Conn) encode(f *protocol.Frame) ([]byte, error) {
	if perr := f.Validate(c.limits); perr != nil {
		return nil, perr
	}
	b, err := protocol.Encode(f)
	if err != nil {
		return nil, fmt.Errorf("client: %w", err)
	}
	if len(b) > c.limits.MaxFrameBytes {
		return nil, protocol.Errorf(protocol.CodeFrameTooLarge,
			fmt.Sprintf("%s frame is %d bytes, limit %d", f.T, len(b), c.limits.MaxFrameBytes))
	}
	return b, nil
}

// post queues a frame that has no reply.
func (c *Conn) post(ctx context.Context, f *protocol.Frame) error {
	b, err := c.encode(f)
	if err != nil {
		return err
	}
	return c.enqueue(ctx, b)
}

func (c *Conn) enqueue(ctx context.Context, b []byte) error {
	select {
	case <-c.done:
		return disconnected(c.err)
	default:
	}
	select {
	case c.out <- b:
		return nil
	case <-c.done:
		return disconnected(c.err)
	case <-ctx.Done():
		return fmt.Errorf("client: queue frame: %w", ctx.Err())
	}
}

// request sends a frame with a fresh rid and waits for the reply with that
// rid. An err reply is returned as a *protocol.Error.
func (c *Conn) request(ctx context.Context, f *protocol.Frame) (*protocol.Frame, error) {
	ch := make(chan *protocol.Frame, 1)
	f.Rid = c.register(ch)
	defer c.unregister(f.Rid)
	b, err := c.encode(f)
	if err != nil {
		return nil, err
	}
	if err := c.enqueue(ctx, b); err != nil {
		return nil, err
	}
	select {
	case r := <-ch:
		return replyOf(r)
	case <-ctx.Done():
		return nil, fmt.Errorf("client: %s: %w", f.T, ctx.Err())
	case <-c.done:
		// The reply may have been dispatched just before the end.
		select {
		case r := <-ch:
			return replyOf(r)
		default:
			return nil, disconnected(c.err)
		}
	}
}

func replyOf(r *protocol.Frame) (*protocol.Frame, error) {
	if r.T == protocol.TypeErr {
		return nil, &protocol.Error{Code: protocol.Code(r.Code), Detail: r.Msg}
	}
	return r, nil
}

// register allocates a rid that no outstanding request uses. Rids wrap
// after 2^32 requests; 0 means "no rid" on the wire, so it is skipped.
func (c *Conn) register(ch chan *protocol.Frame) uint32 {
	c.mu.Lock()
	defer c.mu.Unlock()
	for {
		rid := c.rid.Add(1)
		if rid == 0 {
			continue
		}
		if _, busy := c.pending[rid]; busy {
			continue
		}
		c.pending[rid] = ch
		return rid
	}
}

func (c *Conn) unregister(rid uint32) {
	c.mu.Lock()
	delete(c.pending, rid)
	c.mu.Unlock()
}

// resolve hands a reply to the request waiting for its rid, if any.
func (c *Conn) resolve(f *protocol.Frame) bool {
	if f.Rid == 0 {
		return false
	}
	c.mu.Lock()
	ch, ok := c.pending[f.Rid]
	if ok {
		delete(c.pending, f.Rid)
	}
	c.mu.Unlock()
	if ok {
		ch <- f // buffered for exactly this one reply
	}
	return ok
}

func (c *Conn) readLoop() {
	defer close(c.readerDone)
	defer close(c.msgs)
	for {
		// A context without Done: the read ends when the connection is
		// closed, never because a timer fired between frames.
		typ, data, err := c.ws.Read(context.Background())
		if err != nil {
			c.finish(c.explain(err))
			_ = c.ws.CloseNow()
			return
		}
		c.lastRead.Store(time.Now().UnixNano())
		if typ != websocket.MessageText {
			c.log.Debug("client: ignoring binary frame from server")
			continue
		}
		var f protocol.Frame
		if err := json.Unmarshal(data, &f); err != nil {
			c.log.Debug("client: ignoring undecodable frame from server", "err", err)
			continue
		}
		if !c.dispatch(&f) {
			c.finish(ErrSlowConsumer)
			// Close (not CloseNow) so that the server sees an orderly
			// goodbye; it reads the rest of the stream itself.
			_ = c.ws.Close(websocket.StatusNormalClosure, "slow consumer")
			return
		}
	}
}

// dispatch routes one server frame. It returns false when the Conn must end
// because the consumer of Messages fell behind.
func (c *Conn) dispatch(f *protocol.Frame) bool {
	switch f.T {
	case protocol.TypeMsg:
		if f.Message == nil {
			return true
		}
		select {
		case c.msgs <- f.Message:
			return true
		default:
			return false
		}
	case protocol.TypeKick:
		c.kick.Store(&KickError{Code: protocol.Code(f.Code), Reason: f.Reason})
	case protocol.TypeErr:
		if !c.resolve(f) {
			// Not an answer to a request: it explains the close that follows
			// (4004), or answers a dack/state the server refused.
			c.lastErr.Store(&protocol.Error{Code: protocol.Code(f.Code), Detail: f.Msg})
			c.log.Debug("client: error from server", "code", f.Code, "msg", f.Msg)
		}
	default:
		// ack, sync_res, pong; also types of later protocol versions,
		// which a client must ignore.
		c.resolve(f)
	}
	return true
}

// explain turns the read error that ended the connection into the reason
// Err reports, preferring what the server said over how the socket failed.
func (c *Conn) explain(err error) error {
	var ce websocket.CloseError
	if errors.As(err, &ce) {
		code := protocol.Code(ce.Code)
		if k := c.kick.Load(); k != nil {
			return k
		}
		if isKickCode(code) {
			return &KickError{Code: code, Reason: ce.Reason}
		}
		if code >= 4000 && code < 5000 {
			if e := c.lastErr.Load(); e != nil && e.Code == code {
				return e
			}
			return &protocol.Error{Code: code, Detail: ce.Reason}
		}
		return fmt.Errorf("client: connection closed by the server: %w", err)
	}
	if k := c.kick.Load(); k != nil {
		return k
	}
	if w := c.writeErr.Load(); w != nil {
		return *w
	}
	return fmt.Errorf("client: connection lost: %w", err)
}

// writeLoop writes queued frames in order, paces them below the server's
// rate limit, and sends heartbeat pings.
func (c *Conn) writeLoop() {
	defer close(c.writerDone)
	interval := c.hb / 2
	tick := time.NewTicker(interval)
	defer tick.Stop()
	pace := newBucket(float64(c.limits.FramesPerSecond), float64(max(1, c.limits.FrameBurst/2)))
	for {
		select {
		case <-c.done:
			return
		case <-c.stopWrite:
			c.drain(pace)
			return
		case b := <-c.out:
			if c.paced && !c.waitToken(pace) {
				return
			}
			if !c.write(b) {
				return
			}
		case now := <-tick.C:
			if !c.heartbeat(now, interval, pace) {
				return
			}
		}
	}
}

// heartbeat pings when the connection has been quiet for an interval in
// either direction, and ends it when the server has been silent for two
// heartbeats. The ping's reply is not awaited: any frame proves liveness.
func (c *Conn) heartbeat(now time.Time, interval time.Duration, pace *bucket) bool {
	sinceRead := now.Sub(time.Unix(0, c.lastRead.Load()))
	if sinceRead > 2*c.hb {
		c.finish(ErrHeartbeatTimeout)
		_ = c.ws.CloseNow()
		return false
	}
	// Three quarters, so that a frame written just after the previous tick
	// does not make this tick skip and stretch the gap to two intervals.
	quiet := interval * 3 / 4
	sinceWrite := now.Sub(time.Unix(0, c.lastWrite.Load()))
	if sinceRead < quiet && sinceWrite < quiet {
		return true
	}
	rid := c.rid.Add(1)
	if rid == 0 {
		rid = c.rid.Add(1)
	}
	b, err := protocol.Encode(&protocol.Frame{T: protocol.TypePing, Rid: rid})
	if err != nil {
		return true
	}
	if c.paced && !c.waitToken(pace) {
		return false
	}
	return c.write(b)
}

// drain writes what is queued when Close is called, without waiting for
// more. It still paces: a frame the server drops for the rate limit (a
// final dack) would be lost.
func (c *Conn) drain(pace *bucket) {
	for {
		select {
		case b := <-c.out:
			if c.paced && !c.waitToken(pace) {
				return
			}
			if !c.write(b) {
				return
			}
		default:
			return
		}
	}
}

func (c *Conn) write(b []byte) bool {
	ctx, cancel := context.WithTimeout(context.Background(), writeTimeout)
	err := c.ws.Write(ctx, websocket.MessageText, b)
	cancel()
	if err != nil {
		// The reader will see the connection end; let it report the
		// server's reason if there was one, else this error.
		werr := fmt.Errorf("client: write: %w", err)
		c.writeErr.CompareAndSwap(nil, &werr)
		_ = c.ws.CloseNow()
		return false
	}
	c.lastWrite.Store(time.Now().UnixNano())
	return true
}

// waitToken blocks until the pacer allows one more frame; false if the Conn
// ended meanwhile.
func (c *Conn) waitToken(b *bucket) bool {
	for {
		wait := b.take(time.Now())
		if wait <= 0 {
			return true
		}
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-c.done:
			t.Stop()
			return false
		}
	}
}

// bucket is a token bucket; used only by the writer goroutine.
type bucket struct {
	rate, burst, tokens float64
	last                time.Time
}

func newBucket(rate, burst float64) *bucket {
	return &bucket{rate: rate, burst: burst, tokens: burst, last: time.Now()}
}

// take consumes a token and returns 0, or returns how long to wait for one.
func (b *bucket) take(now time.Time) time.Duration {
	b.tokens = min(b.burst, b.tokens+now.Sub(b.last).Seconds()*b.rate)
	b.last = now
	if b.tokens >= 1 {
		b.tokens--
		return 0
	}
	return time.Duration((1 - b.tokens) / b.rate * float64(time.Second))
}
