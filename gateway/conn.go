package gateway

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/coder/websocket"
	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/time/rate"

	"github.com/chatgate/chatgate/protocol"
	"github.com/chatgate/chatgate/store"
)

// conn is one client WebSocket connection. Its reader goroutine (serve) owns
// its lifetime: it reads and handles frames and, when reading ends, tears the
// connection down. Frames to the client go through the queue in writer.go.
type conn struct {
	g   *Gateway
	ws  *websocket.Conn
	raw net.Conn
	// br is the buffered reader ws reads from, and rc the raw socket when
	// it is a bare one: together they let an idle reader park shallowly
	// (see idleWait).
	br  *bufio.Reader
	rc  syscall.RawConn
	out *sockWriter
	id  string
	lim *rate.Limiter
	// timer enforces the auth timeout, then the idle timeout. It is not
	// reset per frame: it fires at most once per timeout and re-arms for
	// the remainder if a frame arrived meanwhile (see onTimer).
	timer     *time.Timer
	lastFrame atomic.Int64 // unix nanos of the last client frame
	authed    atomic.Bool
	// src is the source address the connection counts under while preauth
	// is set (it has not authenticated yet; see limits.go).
	src     string
	preauth atomic.Bool
	// carried: bytes the client sent right behind its handshake wait in
	// the library's reader, where idleWait cannot see them.
	carried bool

	// done is closed once the WebSocket is closed, by whoever closes it.
	done      chan struct{}
	closeOnce sync.Once

	// Identity, set by serve before the connection is indexed (g.mu
	// publishes it) and read-only afterwards.
	app  string
	user int64
	dev  int32

	indexed bool // in g.users; guarded by g.mu

	mu      sync.Mutex
	q       [][]byte // frames waiting for the writer, from q[head]
	head    int
	qBytes  int      // bytes of the frames in q[head:] and held (send_queue_bytes)
	held    [][]byte // frames queued while hold is set (before hello)
	hold    bool
	writing bool // a writer goroutine is running
	closing bool // a closing frame is queued, or the connection is going away
	// closeCode and closeReason are the close status the writer ends with.
	closeCode   websocket.StatusCode
	closeReason string
	drainKicked bool
	bg          bool
	cursor      int64
	cursorDirty bool
	pending     []pendingSend // sends without ack or error yet
}

// pendingSend is a send handed to the router and not yet answered.
type pendingSend struct {
	rid  uint32
	cmid string
	at   time.Time
}

// maxPending bounds the sends tracked per connection; the rate limit keeps
// it far below this unless the routers stop answering.
const maxPending = 1024

// newConnID returns a random, unguessable connection id: 16 characters of
// base64url, never containing the '|' or ':' that route and key encodings use.
func newConnID() string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}

func (g *Gateway) serveHTTP(w http.ResponseWriter, r *http.Request) {
	if g.draining.Load() {
		g.m.connects.WithLabelValues(protocol.CodeUnavailable.String()).Inc()
		http.Error(w, "gateway is draining", http.StatusServiceUnavailable)
		return
	}
	if n := g.slots.Add(1); g.cfg.MaxConnections > 0 && n > int64(g.cfg.MaxConnections) {
		g.slots.Add(-1)
		g.m.connects.WithLabelValues(protocol.CodeUnavailable.String()).Inc()
		http.Error(w, "too many connections", http.StatusServiceUnavailable)
		return
	}
	src := sourceAddr(r)
	if !g.takePreauth(w, src) {
		g.slots.Add(-1)
		return
	}
	hw := &smallHijacker{ResponseWriter: w, pool: &g.batchBufs}
	ws, err := websocket.Accept(hw, r, &websocket.AcceptOptions{
		Subprotocols:   []string{protocol.Subprotocol},
		OriginPatterns: g.cfg.AllowedOrigins,
	})
	if err != nil {
		// Accept already answered with an HTTP error.
		g.slots.Add(-1)
		g.releasePreauth(src)
		g.log.Debug("websocket upgrade refused", "err", err, "remote", r.RemoteAddr)
		return
	}
	if ws.Subprotocol() != protocol.Subprotocol {
		g.m.connects.WithLabelValues(protocol.CodeBadFrame.String()).Inc()
		_ = hw.raw.SetDeadline(time.Now().Add(g.cfg.WriteTimeout))
		_ = ws.Close(websocket.StatusCode(protocol.CodeBadFrame), "subprotocol "+protocol.Subprotocol+" required")
		g.slots.Add(-1)
		g.releasePreauth(src)
		return
	}
	// The library limit sits above ours so that an oversize frame reaches
	// readFrame, which answers 4004 instead of the library's 1009.
	ws.SetReadLimit(int64(g.cfg.Limits.MaxFrameBytes) + 1024)
	c := &conn{
		g:       g,
		ws:      ws,
		raw:     hw.raw,
		br:      hw.br,
		out:     hw.out,
		rc:      readWaiter(hw.raw),
		id:      newConnID(),
		src:     src,
		carried: hw.carried,
		lim:     rate.NewLimiter(rate.Limit(g.cfg.Limits.FramesPerSecond), g.cfg.Limits.FrameBurst),
		done:    make(chan struct{}),
	}
	c.lastFrame.Store(time.Now().UnixNano())
	c.preauth.Store(true)
	if !g.register(c) {
		c.leavePreauth()
		g.m.connects.WithLabelValues(protocol.CodeUnavailable.String()).Inc()
		_ = hw.raw.SetDeadline(time.Now().Add(g.cfg.WriteTimeout))
		_ = ws.Close(websocket.StatusCode(protocol.CodeKickShutdown), protocol.CodeKickShutdown.String())
		g.slots.Add(-1)
		return
	}
	c.timer = time.AfterFunc(g.cfg.AuthTimeout, c.onTimer)
	// Serve from a fresh goroutine and return: net/http's goroutine, with
	// its deep stack and its buffers, goes away for the life of the
	// connection.
	go c.serve()
}

// serve reads frames until the connection ends, then tears it down.
//
// This goroutine is all an idle connection keeps, so it does nothing deep
// itself: it parks in idleWait, and each frame is read and handled (the
// WebSocket library's reader, decoding, auth, Redis calls) on a short-lived
// goroutine whose grown stack goes back to the runtime's pool when the
// frame is done. Otherwise every ping would regrow this goroutine's stack
// to 8 KiB, which the garbage collector shrinks only at its next cycle:
// rarely, on an idle server. Frames stay strictly sequential, because serve
// waits for each step before it looks for the next frame.
func (c *conn) serve() {
	defer c.teardown()
	done := make(chan bool, 1)
	for first := true; ; first = false {
		// Before the first frame the bytes a client sent right behind its
		// handshake may sit in the library's reader, out of sight of
		// idleWait; after the first read they are all in c.br. Without
		// such bytes an unauthenticated connection parks in idleWait too,
		// and costs no more than an idle authenticated one.
		if !first || !c.carried {
			if err := c.idleWait(); err != nil {
				return
			}
		}
		go c.step(done)
		if stop := <-done; stop {
			return
		}
	}
}

// step reads and handles one frame and reports on done whether the
// connection is finished.
func (c *conn) step(done chan<- bool) {
	stop := true
	defer func() {
		if p := recover(); p != nil {
			c.g.log.Error("connection handler panicked", "conn", c.id, "panic", p, "stack", string(debug.Stack()))
		}
		done <- stop
	}()
	typ, data, bp, err := c.readFrame()
	if errors.Is(err, errFrameTooLarge) {
		var counters []prometheus.Counter
		if !c.authed.Load() {
			counters = append(counters, c.g.m.connects.WithLabelValues(protocol.CodeFrameTooLarge.String()))
		}
		c.closeWithErr(0, protocol.CodeFrameTooLarge, fmt.Sprintf("frame over %d bytes", c.g.cfg.Limits.MaxFrameBytes), counters...)
		<-c.done
		return
	}
	if err != nil {
		return
	}
	stopped := c.handle(typ, data)
	c.g.putReadBuf(bp)
	if stopped {
		// A closing frame is queued: let the writer send it and
		// perform the close handshake, which reads the peer's reply.
		<-c.done
		return
	}
	stop = false
}

var errFrameTooLarge = errors.New("frame over max_frame_bytes")

// idleWait blocks until the next frame has begun to arrive. An idle
// connection then parks here, a few small frames deep, rather than deep in
// the WebSocket library's read path: the garbage collector shrinks parked
// stacks to what they use, so this keeps an idle connection at the minimum
// goroutine stack instead of 8 KiB.
//
// It returns at once when bytes are already buffered, and once the
// connection is closing: the close handshake then reads from the buffer,
// which must not be touched here concurrently.
func (c *conn) idleWait() error {
	if c.rc == nil {
		return nil
	}
	c.mu.Lock()
	skip := c.closing || c.br.Buffered() > 0
	c.mu.Unlock()
	if skip {
		return nil
	}
	return waitReadable(c.rc)
}

// maxPooledReadBuf keeps the buffers of the largest frames out of the pool.
const maxPooledReadBuf = 128 << 10

func newReadBuf() any {
	b := make([]byte, 0, 2048)
	return &b
}

func (g *Gateway) putReadBuf(bp *[]byte) {
	if bp != nil && cap(*bp) <= maxPooledReadBuf {
		*bp = (*bp)[:0]
		g.readBufs.Put(bp)
	}
}

// readFrame reads one whole message, refusing to read more than
// MaxFrameBytes+1 bytes of it: past the limit it returns errFrameTooLarge
// without consuming the rest, and the connection must close.
func (c *conn) readFrame() (websocket.MessageType, []byte, *[]byte, error) {
	typ, r, err := c.ws.Reader(context.Background())
	if err != nil {
		return 0, nil, nil, err
	}
	limit := c.g.cfg.Limits.MaxFrameBytes + 1
	bp := c.g.readBufs.Get().(*[]byte)
	buf := (*bp)[:0]
	for {
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)]
		}
		end := min(cap(buf), limit)
		n, err := r.Read(buf[len(buf):end])
		buf = buf[:len(buf)+n]
		if len(buf) >= limit {
			*bp = buf
			c.g.putReadBuf(bp)
			return 0, nil, nil, errFrameTooLarge
		}
		if err == io.EOF {
			*bp = buf
			return typ, buf, bp, nil
		}
		if err != nil {
			*bp = buf
			c.g.putReadBuf(bp)
			return 0, nil, nil, err
		}
	}
}

// onTimer runs when the auth or idle timeout may have passed.
func (c *conn) onTimer() {
	if !c.authed.Load() {
		c.closeWithErr(0, protocol.CodeAuthTimeout, "no auth frame within "+c.g.cfg.AuthTimeout.String(),
			c.g.m.connects.WithLabelValues(protocol.CodeAuthTimeout.String()))
		return
	}
	idle := time.Duration(time.Now().UnixNano() - c.lastFrame.Load())
	if idle >= c.g.cfg.IdleTimeout {
		c.kick(protocol.CodeKickIdle)
		return
	}
	c.timer.Reset(c.g.cfg.IdleTimeout - idle)
}

// teardown runs once when serve ends: it closes the socket, forgets the
// connection, removes its route (only if it still owns it) and flushes its
// delivery cursor.
func (c *conn) teardown() {
	g := c.g
	c.timer.Stop()
	c.mu.Lock()
	c.closing = true
	c.q, c.head, c.held, c.qBytes = nil, 0, nil, 0
	c.mu.Unlock()
	// Closing the raw connection first unblocks a writer stuck on a dead
	// peer; a close handshake in progress has already exchanged its frames.
	_ = c.raw.Close()
	c.closeOnce.Do(func() {
		_ = c.ws.CloseNow()
		close(c.done)
	})
	g.unregister(c)
	g.slots.Add(-1)
	c.leavePreauth()
	if !c.authed.Load() {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), redisTimeout)
	defer cancel()
	if err := g.st.RemoveRoute(ctx, c.app, c.user, c.dev, c.id); err != nil {
		g.log.Warn("remove route", "conn", c.id, "app", c.app, "user", c.user, "err", err)
	}
	c.mu.Lock()
	cur, dirty := c.cursor, c.cursorDirty
	c.cursorDirty = false
	c.mu.Unlock()
	if dirty {
		up := []store.CursorUpdate{{App: c.app, User: c.user, Device: c.dev, ID: cur}}
		if err := g.st.SetCursors(ctx, up); err != nil {
			g.log.Warn("flush cursor at close", "conn", c.id, "err", err)
		}
	}
}

// forceClose drops the connection at once, without a close handshake.
func (c *conn) forceClose() { _ = c.raw.Close() }
