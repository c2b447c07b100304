package gateway

import (
	"context"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/chatgate/chatgate/internal/bus"
	"github.com/chatgate/chatgate/protocol"
)

const (
	// deliveryBlock bounds one XREAD, and so how long Run takes to notice
	// that its context ended (go-redis does not interrupt a blocked read).
	deliveryBlock = 500 * time.Millisecond
	// deliveryCount is the most entries read at once.
	deliveryCount = 256
	// trimEvery spaces the XTRIMs of entries already read.
	trimEvery = time.Second
)

// readDeliveries is the single reader of this node's delivery stream
// (bus.ReadOwnStream: it starts empty, since deliveries addressed to a
// previous life of this node name are for connections that no longer
// exist). It never blocks on a socket: frames are queued and each
// connection's writer does the rest.
func (g *Gateway) readDeliveries(ctx context.Context) {
	bus.ReadOwnStream(ctx, g.rdb, bus.OwnStream{
		Stream: bus.DeliveryStream(g.node), Block: g.readBlock, Count: deliveryCount,
		TrimEvery: trimEvery, Log: g.log, Reading: g.reading.Store,
	}, g.handleEntry)
}

// handleEntry dispatches one delivery batch. A bad entry is logged and
// skipped: it must not stop the stream.
func (g *Gateway) handleEntry(m redis.XMessage) {
	defer func() {
		if p := recover(); p != nil {
			g.log.Error("delivery entry handler panicked", "id", m.ID, "panic", p, "stack", string(debug.Stack()))
		}
	}()
	var b bus.Batch
	if err := bus.Decode(m, &b); err != nil {
		g.log.Warn("bad delivery entry", "id", m.ID, "err", err)
		return
	}
	g.m.batches.Inc()
	g.mu.RLock()
	for i := range b.Items {
		g.deliverLocked(&b.Items[i])
	}
	g.mu.RUnlock()
	if ms, ok := streamIDMillis(m.ID); ok {
		if d := time.Since(time.UnixMilli(ms)); d >= 0 {
			g.m.deliveryLatency.Observe(d.Seconds())
		}
	}
}

// deliverLocked handles one delivery item; g.mu is held for reading.
func (g *Gateway) deliverLocked(d *bus.Delivery) {
	switch d.Kind {
	case bus.KindMsg:
		byUser := g.users[d.App]
		if byUser == nil || len(d.Msg) == 0 {
			return
		}
		var frame []byte
		n := 0
		for _, u := range d.Users {
			for _, c := range byUser[u] {
				if c.user == d.SkipUser && c.dev == d.SkipDev {
					continue
				}
				if g.dropDelivery != nil && g.dropDelivery(d.App, c.user, c.dev, d.Msg) {
					continue
				}
				if frame == nil {
					frame = msgFrame(d.Msg)
				}
				if c.enqueue(frame) {
					n++
				}
			}
		}
		if n > 0 {
			g.m.deliveries.Add(float64(n))
		}
	case bus.KindAck, bus.KindErr:
		c := g.conns[d.Conn]
		if c == nil || !c.indexed || c.app != d.App {
			return
		}
		if at, ok := c.resolvePending(d.Rid, d.CMID); ok {
			g.m.ackLatency.Observe(time.Since(at).Seconds())
		}
		if d.Kind == bus.KindAck {
			c.enqueue(ackFrame(d))
			return
		}
		code := protocol.Code(d.Code)
		msg := d.Reason
		if msg == "" {
			msg = code.String()
		}
		c.sendErr(d.Rid, code, msg)
	case bus.KindKick:
		code := protocol.Code(d.Code)
		if d.Conn != "" {
			if c := g.conns[d.Conn]; c != nil && c.indexed && (d.App == "" || c.app == d.App) {
				c.kickWith(code, d.Reason)
			}
			return
		}
		for _, c := range g.users[d.App][d.User] {
			if d.Device == 0 || c.dev == d.Device {
				c.kickWith(code, d.Reason)
			}
		}
	default:
		g.log.Debug("unknown delivery kind", "kind", d.Kind)
	}
}

// streamIDMillis is the millisecond time part of a stream entry id: when
// the router wrote the entry.
func streamIDMillis(id string) (int64, bool) {
	ms, _, ok := strings.Cut(id, "-")
	if !ok {
		return 0, false
	}
	v, err := strconv.ParseInt(ms, 10, 64)
	return v, err == nil
}
