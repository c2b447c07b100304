package admin

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
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

// run reads the REST API's delivery stream until ctx ends. Like a gateway
// it starts from an empty stream: answers addressed to a previous life of
// this process are for requests that no longer wait.
func (w *sendWaiter) run(ctx context.Context) error {
	var bo time.Duration
	sleep := func() bool {
		bo = min(max(2*bo, 50*time.Millisecond), 2*time.Second)
		t := time.NewTimer(bo)
		defer t.Stop()
		select {
		case <-ctx.Done():
			return false
		case <-t.C:
			return true
		}
	}
	for {
		err := w.rdb.Del(ctx, w.stream).Err()
		if err == nil {
			break
		}
		if ctx.Err() != nil {
			return nil
		}
		w.log.Warn("reset REST answer stream", "stream", w.stream, "err", err)
		if !sleep() {
			return nil
		}
	}
	w.reading.Store(true)
	defer w.reading.Store(false)
	last, trimmed := "0-0", "0-0"
	lastTrim := time.Now()
	for ctx.Err() == nil {
		// Not cancelled with ctx: go-redis would drop the connection; the
		// read ends within waitBlock and the loop checks ctx.
		res, err := w.rdb.XRead(context.WithoutCancel(ctx), &redis.XReadArgs{
			Streams: []string{w.stream, last}, Count: waitCount, Block: waitBlock,
		}).Result()
		switch {
		case errors.Is(err, redis.Nil):
		case err != nil:
			if ctx.Err() != nil {
				return nil
			}
			w.log.Warn("read REST answer stream", "stream", w.stream, "err", err)
			if !sleep() {
				return nil
			}
			continue
		default:
			bo = 0
			for _, s := range res {
				for _, m := range s.Messages {
					w.dispatch(m)
					last = m.ID
				}
			}
		}
		if last != trimmed && time.Since(lastTrim) >= waitTrim {
			if err := w.rdb.XTrimMinID(ctx, w.stream, nextID(last)).Err(); err == nil {
				trimmed = last
			}
			lastTrim = time.Now()
		}
	}
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

// nextID is the smallest stream id above id.
func nextID(id string) string {
	ms, seq, ok := strings.Cut(id, "-")
	if !ok {
		return id
	}
	s, err := strconv.ParseUint(seq, 10, 64)
	if err != nil || s == ^uint64(0) {
		return id
	}
	return ms + "-" + strconv.FormatUint(s+1, 10)
}

// routeSends puts sends on their conversations' ingress streams, as this
// process's node, and waits until the routers answered every one of them
// or the request's time is up.
func (s *Server) routeSends(r *Req, w *sendWaiter, sends []bus.Send) ([]bus.Delivery, error) {
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
		snd.App, snd.Node, snd.Conn, snd.Rid, snd.TS = r.App.ID, w.node, p.conn, uint32(i+1), now
		vals, err := bus.Encode(snd)
		if err != nil {
			return nil, err
		}
		conv := protocol.ConvID(snd.From, snd.ToUser, snd.ToGroup)
		stream := bus.IngressStream(bus.Partition(snd.App, conv, s.deps.Partitions))
		pipe.XAdd(r.Ctx, &redis.XAddArgs{Stream: stream, Values: vals})
	}
	if _, err := pipe.Exec(r.Ctx); err != nil {
		return nil, fmt.Errorf("admin: queue %d sends: %w", len(sends), err)
	}
	return p.wait(r.Ctx, len(sends))
}

// answerError maps a router's refusal to the envelope's code.
func answerError(d *bus.Delivery) *Error {
	code := CodeServerError
	switch protocol.Code(d.Code) {
	case protocol.CodeBlocked:
		code = CodeBlocked
	case protocol.CodeNotGroupMember:
		code = CodeNotGroupMember
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
