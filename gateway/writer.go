package gateway

import (
	"context"
	"time"

	"github.com/coder/websocket"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/chatgate/chatgate/protocol"
)

// The send queue of a connection. Producers (the delivery reader, the
// connection's own reader, timers) append frames and never block; a writer
// goroutine is started when the queue goes from empty to non-empty and
// exits once it is drained, so an idle connection has no writer. A frame is
// a shared, immutable []byte: one msg frame is queued to every recipient
// connection without copying.

// enqueue queues a frame for the client. It reports false when the frame was
// dropped: the connection is closing, or its queue is full (send_queue
// frames or send_queue_bytes bytes), in which case the connection is kicked
// as a slow consumer. A frame is always taken into an empty queue, so what
// one connection holds queued is at most send_queue_bytes plus one frame.
func (c *conn) enqueue(b []byte) bool {
	c.mu.Lock()
	if c.closing {
		c.mu.Unlock()
		return false
	}
	overBytes := c.qBytes > 0 && c.qBytes+len(b) > c.g.cfg.SendQueueBytes
	if overBytes || len(c.q)-c.head+len(c.held) >= c.g.cfg.SendQueue {
		c.mu.Unlock()
		c.g.m.queueFull.Inc()
		if overBytes {
			c.g.m.queueFullBytes.Inc()
		}
		c.kick(protocol.CodeKickSlow)
		return false
	}
	if c.hold {
		c.qBytes += len(b)
		c.held = append(c.held, b)
		c.mu.Unlock()
		return true
	}
	c.pushLocked(b)
	start := !c.writing
	c.writing = true
	c.mu.Unlock()
	if start {
		go c.writeLoop()
	}
	return true
}

// pushLocked appends to the queue, compacting it first when the consumed
// prefix would otherwise make it grow: a connection that never drains its
// queue completely must not grow the array without bound.
func (c *conn) pushLocked(b []byte) {
	if c.head > 0 && len(c.q) == cap(c.q) {
		n := copy(c.q, c.q[c.head:])
		clear(c.q[n:])
		c.q, c.head = c.q[:n], 0
	}
	c.q = append(c.q, b)
	c.qBytes += len(b)
}

// closeWith queues last (if any) as the final frame and makes the writer
// close the WebSocket with status and reason after it. drop discards the
// frames still queued (a slow consumer is not owed them). It reports false
// if the connection was already closing.
//
// counters are incremented when the close is accepted, before anything is
// written, so that whoever sees the close also sees them counted.
func (c *conn) closeWith(last []byte, status websocket.StatusCode, reason string, drop bool, counters ...prometheus.Counter) bool {
	c.mu.Lock()
	if c.closing {
		c.mu.Unlock()
		return false
	}
	for _, m := range counters {
		m.Inc()
	}
	c.closing = true
	c.closeCode, c.closeReason = status, reason
	if drop {
		clear(c.q)
		c.q, c.head = c.q[:0], 0
	}
	// Frames held for after the hello are moot: the hello will not come.
	c.held, c.hold = nil, false
	c.qBytes = 0
	for _, b := range c.q[c.head:] {
		c.qBytes += len(b)
	}
	if last != nil {
		c.pushLocked(last)
	}
	start := !c.writing
	c.writing = true
	c.mu.Unlock()
	if start {
		go c.writeLoop()
	}
	return true
}

// isClosing reports whether the connection is on its way out.
func (c *conn) isClosing() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.closing
}

// sendErr queues an err frame; the connection stays open.
func (c *conn) sendErr(rid uint32, code protocol.Code, msg string) {
	c.g.m.errors.WithLabelValues(code.String()).Inc()
	c.enqueue(errFrame(rid, code, msg))
}

// closeWithErr queues an err frame and closes the connection with the
// code as close status (5xxx codes are not valid close statuses and map to
// the WebSocket equivalents).
func (c *conn) closeWithErr(rid uint32, code protocol.Code, msg string, counters ...prometheus.Counter) bool {
	status := websocket.StatusCode(code)
	switch {
	case code == protocol.CodeUnavailable:
		status = websocket.StatusTryAgainLater
	case code < 4000 || code > 4999:
		status = websocket.StatusInternalError
	}
	counters = append(counters, c.g.m.errors.WithLabelValues(code.String()))
	return c.closeWith(errFrame(rid, code, msg), status, code.String(), false, counters...)
}

// kick closes the connection with a kick frame of code and its name.
func (c *conn) kick(code protocol.Code) { c.kickWith(code, code.String()) }

// kickWith closes the connection with a kick frame, then the same close
// status and reason. A slow consumer loses its queued frames.
func (c *conn) kickWith(code protocol.Code, reason string) {
	if code < 4000 || code > 4999 {
		code = protocol.CodeKickAdmin
	}
	if reason == "" {
		reason = code.String()
	}
	if len(reason) > 120 {
		reason = reason[:120]
	}
	c.closeWith(kickFrame(code, reason), websocket.StatusCode(code), reason, code == protocol.CodeKickSlow,
		c.g.m.kicks.WithLabelValues(code.String()))
}

// batchFlushBytes is how much a batch may hold before it is flushed even
// though more frames are queued.
const batchFlushBytes = 32 << 10

// writeLoop writes queued frames until the queue is empty, then exits, or
// performs the close once a closing connection's queue is drained. Frames
// are batched (see sockWriter) and flushed when the queue runs empty or the
// batch is large. Each flush is bounded by the write timeout through the
// socket's write deadline, which costs no timer or goroutine per
// connection; the deadline is refreshed when less than half of it is left,
// and cleared before the writer goes idle so that control frames the
// library writes later (pongs, close replies) do not meet a stale one.
func (c *conn) writeLoop() {
	wt := c.g.cfg.WriteTimeout
	var deadline time.Time
	c.out.begin()
	for {
		c.mu.Lock()
		if c.head < len(c.q) {
			b := c.q[c.head]
			c.q[c.head] = nil
			c.head++
			c.qBytes -= len(b)
			c.mu.Unlock()
			// Inside a batch this only appends to the batch buffer.
			if err := c.ws.Write(context.Background(), websocket.MessageText, b); err != nil {
				c.writeFailed()
				return
			}
			if c.out.buffered() < batchFlushBytes {
				continue
			}
		} else {
			c.mu.Unlock()
			if c.out.buffered() == 0 {
				if c.writerIdle(&deadline) {
					return
				}
				continue
			}
		}
		if now := time.Now(); deadline.Sub(now) < wt/2 {
			deadline = now.Add(wt)
			_ = c.raw.SetWriteDeadline(deadline)
		}
		if err := c.out.flush(); err != nil {
			c.writeFailed()
			return
		}
	}
}

// writerIdle runs when the queue and the batch are empty: it ends the batch
// and either reports that the writer may exit (after closing the connection
// if it is closing) or, when a frame arrived meanwhile, reopens the batch
// and reports false.
func (c *conn) writerIdle(deadline *time.Time) (exit bool) {
	c.out.end()
	if !deadline.IsZero() {
		_ = c.raw.SetWriteDeadline(time.Time{})
		*deadline = time.Time{}
	}
	c.mu.Lock()
	if c.head < len(c.q) {
		c.mu.Unlock()
		c.out.begin()
		return false
	}
	if c.closing {
		status, reason := c.closeCode, c.closeReason
		c.q, c.head, c.qBytes = nil, 0, 0
		c.mu.Unlock()
		c.finish(status, reason)
		return true
	}
	c.writing = false
	c.head, c.qBytes = 0, 0
	c.q = c.q[:0]
	if cap(c.q) > 8 {
		// Keep only a small array on idle connections.
		c.q = nil
	}
	c.mu.Unlock()
	return true
}

// writeFailed gives up on a connection whose socket cannot be written.
func (c *conn) writeFailed() {
	c.out.end()
	c.mu.Lock()
	c.closing = true
	c.q, c.head, c.held, c.qBytes = nil, 0, nil, 0
	c.mu.Unlock()
	c.finish(0, "")
}

// finish closes the WebSocket once: with a close handshake bounded by the
// write timeout when status is set, at once otherwise. The reader
// goroutine sees its read fail and tears the connection down.
func (c *conn) finish(status websocket.StatusCode, reason string) {
	c.closeOnce.Do(func() {
		if status != 0 {
			_ = c.raw.SetDeadline(time.Now().Add(c.g.cfg.WriteTimeout))
			_ = c.ws.Close(status, reason)
		}
		_ = c.ws.CloseNow()
		_ = c.raw.Close()
		close(c.done)
	})
}

// drainStep kicks the connection with server_shutdown once none of its
// sends is waiting for an answer from a router.
func (c *conn) drainStep() {
	c.mu.Lock()
	if c.closing || c.drainKicked || len(c.pending) > 0 {
		c.mu.Unlock()
		return
	}
	c.drainKicked = true
	c.mu.Unlock()
	c.kick(protocol.CodeKickShutdown)
}
