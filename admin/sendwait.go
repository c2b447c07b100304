package admin

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/chatgate/chatgate/internal/bus"
	"github.com/chatgate/chatgate/protocol"
)

// REST sends (/message/send, /notify, /recall, /ack) enter the ingress
// streams as gateway sends do, and the router answers them the same way: an
// ack or err item in the delivery stream of the node named in the send.
// The REST API's node is the process's node name plus apiNodeSuffix, so
// that in a process that is also a gateway the two readers never share a
// stream. One reader per process hands each answer to the request waiting
// for it, keyed by a per-request connection id; rid numbers the sends of
// one request.

const (
	apiNodeSuffix = "-api"
	// waitBlock bounds one XREAD, and so how long the reader takes to
	// notice that it must stop.
	waitBlock = 500 * time.Millisecond
	waitCount = 256
	waitTrim  = time.Second
)

type sendWaiter struct {
	rdb    redis.UniversalClient
	node   string
	stream string
	log    *slog.Logger
	// reading is true once the stream was reset and is being read: an
	// answer written before then would be deleted with the stream.
	reading atomic.Bool

	mu      sync.Mutex
	waiting map[string]*pendingSends
}

func newSendWaiter(rdb redis.UniversalClient, node string, log *slog.Logger) *sendWaiter {
	n := node + apiNodeSuffix
	return &sendWaiter{rdb: rdb, node: n, stream: bus.DeliveryStream(n), log: log, waiting: map[string]*pendingSends{}}
}

// pendingSends are the sends of one request awaiting their answers.
type pendingSends struct {
	conn string
	ch   chan bus.Delivery
}

func (w *sendWaiter) register(n int) (*pendingSends, error) {
	var b [12]byte
	if _, err := rand.Read(b[:]); err != nil {
		return nil, fmt.Errorf("admin: request id: %w", err)
	}
	// Routers may answer one send twice (a batch retried after a failure
	// in its last round); the buffer holds that without blocking the reader.
	p := &pendingSends{conn: "r" + hex.EncodeToString(b[:]), ch: make(chan bus.Delivery, 2*n)}
	w.mu.Lock()
	w.waiting[p.conn] = p
	w.mu.Unlock()
	return p, nil
}

func (w *sendWaiter) release(p *pendingSends) {
	w.mu.Lock()
	delete(w.waiting, p.conn)
	w.mu.Unlock()
}

// wait collects one answer per send (rid 1..n) until ctx ends.
func (p *pendingSends) wait(ctx context.Context, n int) ([]bus.Delivery, error) {
	out := make([]bus.Delivery, n)
	got := 0
	for got < n {
		select {
		case d := <-p.ch:
			i := int(d.Rid) - 1
			if i < 0 || i >= n || out[i].Kind != "" {
				continue
			}
			out[i] = d
			got++
		case <-ctx.Done():
			return nil, fmt.Errorf("admin: waiting for the router (%d of %d sends answered): %w", got, n, ctx.Err())
		}
	}
	return out, nil
}

// run reads the REST API's answer stream until ctx ends, like a gateway
// reads its delivery stream (bus.ReadOwnStream): answers addressed to a
// previous life of this process are for requests that no longer wait.
func (w *sendWaiter) run(ctx context.Context) error {
	bus.ReadOwnStream(ctx, w.rdb, bus.OwnStream{
		Stream: w.stream, Block: waitBlock, Count: waitCount, TrimEvery: waitTrim,
		Log: w.log, Reading: w.reading.Store,
	}, w.dispatch)
	return nil
}

func (w *sendWaiter) dispatch(m redis.XMessage) {
	var b bus.Batch
	if err := bus.Decode(m, &b); err != nil {
		w.log.Warn("bad REST answer entry", "id", m.ID, "err", err)
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, d := range b.Items {
		if d.Kind != bus.KindAck && d.Kind != bus.KindErr {
			continue
		}
		if p := w.waiting[d.Conn]; p != nil {
			select {
			case p.ch <- d:
			default:
			}
		}
	}
}

// routeSends puts sends on their conversations' ingress streams, as this
// process's node, and waits until the routers answered every one of them
// or the request's time is up.
func (s *Server) routeSends(r *Req, w *sendWaiter, sends []bus.Send) ([]bus.Delivery, error) {
	return s.enqueue(r.Ctx, r.App.ID, w, sends)
}

// enqueue is routeSends for app, until ctx ends.
func (s *Server) enqueue(ctx context.Context, app string, w *sendWaiter, sends []bus.Send) ([]bus.Delivery, error) {
	if w == nil || !w.reading.Load() {
		return nil, Errf(CodeUnavailable, "the REST API cannot send yet; retry shortly")
	}
	if s.deps.Partitions < 1 {
		return nil, errors.New("admin: router partitions unknown")
	}
	p, err := w.register(len(sends))
	if err != nil {
		return nil, err
	}
	defer w.release(p)
	now := s.now().UnixMilli()
	pipe := s.st.Redis().Pipeline()
	for i := range sends {
		snd := &sends[i]
		snd.App, snd.Node, snd.Conn, snd.Rid, snd.TS = app, w.node, p.conn, uint32(i+1), now
		vals, err := bus.Encode(snd)
		if err != nil {
			return nil, err
		}
		conv := protocol.ConvID(snd.From, snd.ToUser, snd.ToGroup)
		stream := bus.IngressStream(bus.Partition(snd.App, conv, s.deps.Partitions))
		pipe.XAdd(ctx, &redis.XAddArgs{Stream: stream, Values: vals})
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return nil, fmt.Errorf("admin: queue %d sends: %w", len(sends), err)
	}
	return p.wait(ctx, len(sends))
}

// answerError maps a router's refusal to the envelope's code.
func answerError(d *bus.Delivery) *Error {
	code := CodeServerError
	switch protocol.Code(d.Code) {
	case protocol.CodeBlocked:
		code = CodeBlocked
	case protocol.CodeNotGroupMember:
		code = CodeNotGroupMember
	case protocol.CodeGroupNotFound:
		code = CodeGroupNotFound
	case protocol.CodeMemberMuted:
		// A banned member lacks a member's right to speak.
		code = CodeNeedMember
	case protocol.CodeGroupMuted:
		// ban_all: only admins may speak.
		code = CodeNeedAdmin
	case protocol.CodeGroupBlacklist:
		code = CodeGroupBlacklisted
	case protocol.CodeMessageNotFound:
		code = CodeMessageNotFound
	case protocol.CodeForbidden:
		code = CodeNoPermission
	case protocol.CodeBadValue, protocol.CodeMissingField:
		code = CodeBadParam
	}
	msg := d.Reason
	if msg == "" {
		msg = protocol.Code(d.Code).String()
	}
	return &Error{Code: code, Msg: msg}
}
