package router

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/chatgate/chatgate/internal/bus"
	"github.com/chatgate/chatgate/internal/ids"
)

// work runs one owned partition until ctx ends (release or shutdown) or the
// lease goes stale. It first routes every entry left pending in the group
// (by a dead or departed owner, or by itself in an earlier tenure), oldest
// first, then new entries, one batch at a time: a partition's entries are
// strictly processed in stream order.
func (r *Router) work(ctx context.Context, pt *partition) {
	stream := bus.IngressStream(pt.p)
	log := r.log.With("partition", pt.p)
	b := newBatcher(r, pt, stream, log)
	defer r.handOff(pt, b, log)
	if err := bus.EnsureGroup(ctx, r.rdb, stream, bus.RouterGroup); err != nil {
		// Not fatal: the reads below recreate the group on NOGROUP.
		log.Warn("ensure consumer group", "err", err)
	}
	if !r.fence(ctx, pt, log) {
		return
	}
	claiming := true
	var bo backoff
	for {
		if ctx.Err() != nil {
			return
		}
		if !pt.valid(r) {
			log.Warn("lease not renewed in time; stopping the partition")
			return
		}
		var (
			msgs []redis.XMessage
			err  error
		)
		switch {
		case claiming:
			msgs, err = bus.ClaimPending(ctx, r.rdb, stream, bus.RouterGroup, r.node, 0, int64(r.cfg.Batch))
			if err == nil && len(msgs) == 0 {
				claiming = false
				continue
			}
			if err == nil {
				log.Info("routing entries left pending", "entries", len(msgs))
			}
		case len(b.ahead) > 0:
			msgs, b.ahead = b.ahead, nil
		default:
			msgs, err = bus.ReadGroup(ctx, r.rdb, stream, bus.RouterGroup, r.node, int64(r.cfg.Batch), r.block)
		}
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			log.Warn("read ingress", "err", err)
			if !sleepCtx(ctx, bo.next()) {
				return
			}
			continue
		}
		bo.reset()
		if r.abandon.Load() && ctx.Err() != nil {
			// Simulated crash: what was read stays pending for the next owner.
			return
		}
		// Reading ahead (">") while pending entries remain would route
		// newer entries before them.
		b.readAhead = !claiming
		// A claim may return a little more than one batch; keep batches
		// bounded for memory and latency.
		for len(msgs) > 0 {
			n := min(len(msgs), r.cfg.Batch)
			if !b.run(ctx, msgs[:n]) {
				return
			}
			msgs = msgs[n:]
		}
	}
}

// handOff runs when a worker stops. If it stops cleanly, with its lease
// still valid, it records the highest id it routed for the next owner's
// fence and marks the partition free to hand over at once.
func (r *Router) handOff(pt *partition, b *batcher, log *slog.Logger) {
	if r.abandon.Load() || !pt.valid(r) {
		return
	}
	if b.high > 0 {
		ctx, cancel := context.WithTimeout(context.Background(), r.cfg.LeaseTTL/3)
		defer cancel()
		if err := r.rdb.Set(ctx, highKey(pt.p), b.high, 0).Err(); err != nil {
			log.Warn("record high-water id; leaving the lease to expire", "err", err)
			return
		}
	}
	pt.handoff.Store(true)
}

// fence waits until this router's ids are above the highest id the
// partition's previous owners routed (see highKey). It reports false when
// the worker must stop instead.
func (r *Router) fence(ctx context.Context, pt *partition, log *slog.Logger) bool {
	var bo backoff
	for {
		high, err := r.rdb.Get(ctx, highKey(pt.p)).Int64()
		if err == nil || errors.Is(err, redis.Nil) {
			return r.waitAbove(ctx, pt, high, log)
		}
		if ctx.Err() != nil || !pt.valid(r) {
			return false
		}
		log.Warn("read partition high-water mark", "err", err)
		if !sleepCtx(ctx, bo.next()) {
			return false
		}
	}
}

func (r *Router) waitAbove(ctx context.Context, pt *partition, high int64, log *slog.Logger) bool {
	if r.ids.Next() > high {
		return true
	}
	ahead := max(time.Until(ids.Time(high)), 0)
	if ahead > r.cfg.LeaseTTL {
		// A clock this far off is an operations problem; stalling the
		// partition until it passes would be worse than the disorder.
		log.Error("previous owner's ids are far ahead of this clock; ids may go backwards in its conversations", "ahead", ahead)
		return true
	}
	log.Warn("clock behind the partition's previous owner; waiting", "ahead", ahead)
	for r.ids.Next() <= high {
		if !sleepCtx(ctx, time.Until(ids.Time(high))+time.Millisecond) || !pt.valid(r) {
			return false
		}
	}
	return true
}

// backoff is a capped exponential delay for retrying Redis failures.
type backoff struct{ d time.Duration }

func (b *backoff) next() time.Duration {
	switch {
	case b.d == 0:
		b.d = 10 * time.Millisecond
	case b.d < time.Second:
		b.d *= 2
	}
	return b.d
}

func (b *backoff) reset() { b.d = 0 }

// sleepCtx waits d unless ctx ends first; it reports whether it slept.
func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
