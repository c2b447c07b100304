package router

import (
	"context"
	"errors"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
)

// Partition ownership.
//
// Each ingress partition p has a lease key cg:lease:{p} (the same hash tag
// as its stream) whose value is the owning node. The lease loop of Run ticks
// every TTL/3 and, in this order:
//
//  1. heartbeats into cg:routers (score: Redis server time, so router clock
//     skew does not matter) and counts the routers seen within one TTL, and
//     in the same round trip renews every held lease with compare-and-
//     PEXPIRE; a worker may process only until 2/3 TTL after the last
//     successful renew was sent;
//  2. computes its share, ceil(partitions / live routers), releases extras
//     (the ones it prefers least) gracefully, or acquires free partitions in
//     its own preference order (starting at an offset hashed from the node
//     name) until it holds its share.
//
// Every router holds at most its share and the shares add up to at least
// the partition count, so every partition gets an owner once the counts
// agree, and a joining router gets partitions because the others shed their
// extras.

func leaseKey(p int) string { return "cg:lease:{" + strconv.Itoa(p) + "}" }

// highKey holds the highest server id routed in partition p, written by an
// owner that hands the partition over. The next owner waits until its own
// ids are above it before routing, so that ids keep growing along every
// conversation even when the old owner's clock ran ahead and the hand-off
// took only milliseconds. (When an owner dies, its lease has to expire
// first: that TTL absorbs clock skew.)
func highKey(p int) string { return "cg:hw:{" + strconv.Itoa(p) + "}" }

// routersKey is the sorted set of live routers, scored by heartbeat time.
const routersKey = "cg:routers"

// heartbeatScript registers ARGV[1] at the server's clock, prunes routers
// silent for ARGV[2] ms and counts those heard from within ARGV[3] ms. A
// router silent for a whole TTL has lost its leases, so it no longer counts.
var heartbeatScript = redis.NewScript(`
local t = redis.call("TIME")
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call("ZADD", KEYS[1], now, ARGV[1])
redis.call("ZREMRANGEBYSCORE", KEYS[1], "-inf", now - tonumber(ARGV[2]))
redis.call("PEXPIRE", KEYS[1], ARGV[2])
return redis.call("ZCOUNT", KEYS[1], now - tonumber(ARGV[3]), "+inf")`)

// renewScript extends a lease only while we still hold it: a router that
// lost its lease (paused past the TTL) must not take it back silently.
var renewScript = redis.NewScript(`
if redis.call("GET", KEYS[1]) == ARGV[1] then
  return redis.call("PEXPIRE", KEYS[1], ARGV[2])
end
return 0`)

// releaseScript deletes a lease only while we hold it.
var releaseScript = redis.NewScript(`
if redis.call("GET", KEYS[1]) == ARGV[1] then
  return redis.call("DEL", KEYS[1])
end
return 0`)

// partition is one owned partition: its lease state and its worker.
type partition struct {
	p int
	// validUntil is r.mono() (ns) after which the worker must not process.
	validUntil atomic.Int64
	stop       context.CancelFunc
	done       chan struct{}
	// handoff is set by a worker that stopped cleanly with its lease valid
	// and recorded the partition's high-water id: the lease may be deleted
	// for the next owner at once. Otherwise it is left to expire.
	handoff atomic.Bool
	// Owned by the lease loop.
	releasing bool // giving it up: the worker finishes its batch, then DEL
	lost      bool // the key no longer names us: stop, never DEL
}

func (pt *partition) valid(r *Router) bool { return int64(r.mono()) < pt.validUntil.Load() }

// leaser is the state of the lease loop; only the Run goroutine touches it.
type leaser struct {
	r      *Router
	parts  map[int]*partition
	exited chan *partition
	live   int // routers counted at the last successful heartbeat
}

func (l *leaser) tick(ctx context.Context, wg *sync.WaitGroup) {
	// One tick's Redis work must not outlast the tick: renewals are due.
	tctx, cancel := context.WithTimeout(ctx, l.r.cfg.LeaseTTL/3)
	defer cancel()
	l.beat(tctx)
	if ctx.Err() == nil {
		l.rebalance(tctx, ctx, wg)
	}
	l.r.publish(l.parts)
}

// beat heartbeats and renews every held lease in one round trip.
func (l *leaser) beat(ctx context.Context) {
	r := l.r
	ttl := r.cfg.LeaseTTL.Milliseconds()
	type renewal struct {
		pt  *partition
		cmd *redis.Cmd
	}
	var rs []renewal
	pipe := r.rdb.Pipeline()
	// EVAL, not EVALSHA: a pipeline cannot fall back on NOSCRIPT, and
	// these scripts are short and sent a few times a second at most.
	hb := heartbeatScript.Eval(ctx, pipe, []string{routersKey}, r.node, 3*ttl, ttl)
	for _, pt := range l.parts {
		if !pt.lost {
			rs = append(rs, renewal{pt, renewScript.Eval(ctx, pipe, []string{leaseKey(pt.p)}, r.node, ttl)})
		}
	}
	// Validity counts from before the request: the key's new expiry is at
	// least TTL after this instant, whenever the reply comes back.
	sent := r.mono()
	_, _ = pipe.Exec(ctx)

	if n, err := hb.Int(); err != nil {
		r.log.Warn("router heartbeat failed", "err", err)
	} else {
		l.live = max(n, 1)
		r.lastBeat.Store(int64(r.mono()))
	}
	failed := 0
	var ferr error
	for _, x := range rs {
		n, err := x.cmd.Int()
		switch {
		case err != nil:
			failed, ferr = failed+1, err
		case n == 1:
			x.pt.validUntil.Store(int64(sent + r.validFor))
		default:
			r.log.Error("partition lease lost; stopping its worker", "partition", x.pt.p)
			// Revoke first: the worker may be about to process a batch.
			x.pt.validUntil.Store(0)
			x.pt.lost = true
			x.pt.stop()
		}
	}
	if failed > 0 {
		r.log.Warn("lease renew failed", "leases", failed, "err", ferr)
	}
}

// rank orders partitions by this node's preference: 0 is the most wanted.
func (l *leaser) rank(p int) int {
	n := l.r.cfg.Partitions
	return (p - l.r.prefer + n) % n
}

func (l *leaser) rebalance(ctx, runCtx context.Context, wg *sync.WaitGroup) {
	r := l.r
	n := r.cfg.Partitions
	share := (n + l.live - 1) / l.live
	var held []int
	for p, pt := range l.parts {
		if !pt.releasing && !pt.lost {
			held = append(held, p)
		}
	}
	switch {
	case len(held) > share:
		// Give up the least preferred ones: each router tends to keep the
		// partitions near its own offset, which keeps ownership stable.
		for i := 0; i < len(held)-share; i++ {
			worst := -1
			for _, p := range held {
				if pt := l.parts[p]; !pt.releasing && (worst < 0 || l.rank(p) > l.rank(worst)) {
					worst = p
				}
			}
			pt := l.parts[worst]
			pt.releasing = true
			pt.stop()
			r.log.Info("releasing partition to rebalance", "partition", worst, "share", share, "routers", l.live)
		}
	case len(held) < share:
		l.acquire(ctx, runCtx, wg, share-len(held))
	}
}

// acquire takes up to need free partitions: one pipelined GET of every
// lease it does not hold to see which are free, one pipelined SET NX of
// the most preferred free ones.
func (l *leaser) acquire(ctx, runCtx context.Context, wg *sync.WaitGroup, need int) {
	r := l.r
	n := r.cfg.Partitions
	cands := make([]int, 0, n)
	for i := 0; i < n; i++ {
		if p := (r.prefer + i) % n; l.parts[p] == nil {
			cands = append(cands, p)
		}
	}
	if len(cands) == 0 {
		return
	}
	pipe := r.rdb.Pipeline()
	gets := make([]*redis.StringCmd, len(cands))
	for i, p := range cands {
		gets[i] = pipe.Get(ctx, leaseKey(p))
	}
	_, _ = pipe.Exec(ctx)
	free := cands[:0]
	for i, p := range cands {
		if errors.Is(gets[i].Err(), redis.Nil) {
			free = append(free, p)
		}
	}
	if len(free) > need {
		free = free[:need]
	}
	if len(free) == 0 {
		return
	}
	pipe = r.rdb.Pipeline()
	sets := make([]*redis.BoolCmd, len(free))
	for i, p := range free {
		sets[i] = pipe.SetNX(ctx, leaseKey(p), r.node, r.cfg.LeaseTTL)
	}
	sent := r.mono()
	_, _ = pipe.Exec(ctx)
	for i, p := range free {
		ok, err := sets[i].Result()
		if err != nil {
			r.log.Warn("lease acquire failed", "partition", p, "err", err)
			continue
		}
		if ok {
			r.log.Info("acquired partition", "partition", p)
			l.start(runCtx, wg, p, sent+r.validFor)
		}
	}
}

func (l *leaser) start(ctx context.Context, wg *sync.WaitGroup, p int, validUntil time.Duration) {
	wctx, cancel := context.WithCancel(ctx)
	pt := &partition{p: p, stop: cancel, done: make(chan struct{})}
	pt.validUntil.Store(int64(validUntil))
	l.parts[p] = pt
	wg.Add(1)
	go func() {
		defer wg.Done()
		defer func() {
			cancel()
			close(pt.done)
			l.exited <- pt // buffered for every partition: never blocks
		}()
		l.r.work(wctx, pt)
	}()
}

// onExit forgets a partition whose worker stopped and, when the worker
// handed it off cleanly, deletes its lease so that the next owner need not
// wait. A worker that stopped on its own (its lease went stale) leaves the
// lease to expire: the next owner, maybe this router again, claims
// whatever it left pending.
func (l *leaser) onExit(ctx context.Context, pt *partition) {
	r := l.r
	if l.parts[pt.p] != pt {
		return
	}
	delete(l.parts, pt.p)
	// Unpublish before the DEL so that no observer sees two owners.
	r.publish(l.parts)
	switch {
	case pt.lost:
		return
	case !pt.handoff.Load():
		r.log.Warn("partition worker stopped; leaving its lease to expire", "partition", pt.p)
		return
	}
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), r.cfg.LeaseTTL/3)
	defer cancel()
	if err := releaseScript.Run(rctx, r.rdb, []string{leaseKey(pt.p)}, r.node).Err(); err != nil {
		r.log.Warn("lease release failed; it will expire", "partition", pt.p, "err", err)
	} else {
		r.log.Info("released partition", "partition", pt.p)
	}
}

// shutdown stops every worker, lets in-flight batches finish, then releases
// every lease and leaves the router set in one round trip.
func (l *leaser) shutdown() {
	r := l.r
	for _, pt := range l.parts {
		pt.stop()
	}
	for _, pt := range l.parts {
		<-pt.done
	}
	if r.abandon.Load() {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), r.cfg.LeaseTTL)
	defer cancel()
	pipe := r.rdb.Pipeline()
	for _, pt := range l.parts {
		if !pt.lost && pt.handoff.Load() {
			releaseScript.Eval(ctx, pipe, []string{leaseKey(pt.p)}, r.node)
		}
	}
	pipe.ZRem(ctx, routersKey, r.node)
	if _, err := pipe.Exec(ctx); err != nil {
		r.log.Warn("releasing leases at shutdown failed; they will expire", "err", err)
	}
}
