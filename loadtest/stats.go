package loadtest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/chatgate/chatgate/client"
	"github.com/chatgate/chatgate/protocol"
)

// stats are the live counters of a run, shared by every goroutine of it.
type stats struct {
	connects     atomic.Int64 // connections established (first connect of a device)
	connectFails atomic.Int64
	reconnects   atomic.Int64 // connections after the first, per device
	disconnects  atomic.Int64 // connections that ended while the run wanted them
	open         atomic.Int64 // connections open now

	sent       atomic.Int64 // sends handed to a connection
	acked      atomic.Int64
	sendErrors atomic.Int64 // sends refused with a final error
	unanswered atomic.Int64 // sends with neither ack nor error by the end
	received   atomic.Int64 // messages handed to the harness, live or synced
	synced     atomic.Int64 // of received, how many came by sync
	expected   atomic.Int64 // deliveries owed for the acked sends
	// lastAck and lastRecv are the unix nanoseconds of the latest ack and
	// reception, so that throughput counts the drain of a backlog too.
	lastAck  atomic.Int64
	lastRecv atomic.Int64

	connectLat  *latency
	ackLat      *latency
	deliveryLat *latency
	lagLat      *latency // schedule lag: when a send was handed over vs due
	syncLat     *latency // send->delivery of messages that came by sync
	recoverLat  *latency // churn: end of offline time -> caught up again
	waveLat     *latency // churn: cut -> last device of the wave caught up
	// churnDrops counts disconnects the harness caused on purpose; churnCut
	// the connections it cut, churnBack those back and caught up again.
	churnDrops atomic.Int64
	churnCut   atomic.Int64
	churnBack  atomic.Int64
	churnWaves atomic.Int64

	mu     sync.Mutex
	errors map[string]int64
}

// latencyShards spreads recording over this many locks; a few times the
// harness's cores is enough. Each shard holds two histograms of about
// 170 KiB (1 µs to 10 min at 3 digits), so more would only cost memory.
const latencyShards = 16

func newStats() *stats {
	return &stats{
		connectLat:  newLatency(latencyShards),
		ackLat:      newLatency(latencyShards),
		deliveryLat: newLatency(latencyShards),
		lagLat:      newLatency(latencyShards),
		syncLat:     newLatency(latencyShards),
		recoverLat:  newLatency(latencyShards),
		waveLat:     newLatency(1),
		errors:      map[string]int64{},
	}
}

// storeMax raises v to x if x is larger; concurrent callers never lower it.
func storeMax(v *atomic.Int64, x int64) {
	for {
		cur := v.Load()
		if x <= cur || v.CompareAndSwap(cur, x) {
			return
		}
	}
}

// addError counts one error under its kind (errorKind).
func (s *stats) addError(where string, err error) {
	k := where + ": " + errorKind(err)
	s.mu.Lock()
	s.errors[k]++
	s.mu.Unlock()
}

// operations are the connects attempted plus the sends handed over, and
// failed those that failed: connects refused, sends refused or left
// unanswered, and connections that ended when nobody asked them to.
func (s *stats) operations() (ops, failed int64) {
	ops = s.connects.Load() + s.connectFails.Load() + s.sent.Load()
	failed = s.connectFails.Load() + s.sendErrors.Load() + s.unanswered.Load() + s.disconnects.Load()
	return ops, failed
}

// drained reports whether every send has its answer and every owed
// delivery arrived.
func (s *stats) drained() bool {
	answered := s.acked.Load() + s.sendErrors.Load()
	return answered >= s.sent.Load() && s.received.Load() >= s.expected.Load() &&
		s.churnBack.Load() >= s.churnCut.Load()
}

func (s *stats) errorCounts() map[string]int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string]int64, len(s.errors))
	for k, v := range s.errors {
		out[k] = v
	}
	return out
}

func (s *stats) errorTotal() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	var n int64
	for _, v := range s.errors {
		n += v
	}
	return n
}

// errorKind names an error by its protocol code when it has one, so that
// the report groups errors the way the protocol spec lists them.
func errorKind(err error) string {
	var perr *protocol.Error
	var kick *client.KickError
	switch {
	case err == nil:
		return "none"
	case errors.As(err, &kick):
		return fmt.Sprintf("%d %s", int(kick.Code), kick.Code)
	case errors.As(err, &perr):
		return fmt.Sprintf("%d %s", int(perr.Code), perr.Code)
	case errors.Is(err, client.ErrSlowConsumer):
		return "client slow consumer"
	case errors.Is(err, client.ErrHeartbeatTimeout):
		return "heartbeat timeout"
	case errors.Is(err, client.ErrDisconnected):
		return "disconnected"
	case errors.Is(err, context.DeadlineExceeded):
		return "timeout"
	case errors.Is(err, context.Canceled), errors.Is(err, client.ErrClosed):
		return "cancelled"
	}
	return "transport"
}

// selfCPUMicros is this process's CPU time in microseconds.
func selfCPUMicros() int64 {
	cpu, _ := selfUsage()
	return int64(cpu * 1e6)
}
