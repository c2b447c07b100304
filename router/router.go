// Package router owns the route role of chatgate: it holds leases on ingress
// partitions, consumes their streams with the "routers" consumer group,
// assigns server message ids, makes every message durable (body, history,
// inboxes), fans it out to the delivery streams of the gateway nodes that
// hold recipient devices, answers the sender, and emits push jobs for
// devices that are offline or in background.
//
// docs/design.md "The send path" is the contract this package implements.
// The package is split by concern: lease.go (partition ownership and
// rebalancing), partition.go (one worker per owned partition), batch.go
// (the two pipelined round trips of a batch) and metrics.go.
package router

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/chatgate/chatgate/internal/config"
	"github.com/chatgate/chatgate/internal/ids"
	"github.com/chatgate/chatgate/store"
)

// Deps are the shared services a router uses.
type Deps struct {
	Store   *store.Store
	IDs     *ids.Generator // message ids; the caller holds the node-number lease
	Log     *slog.Logger
	Metrics prometheus.Registerer // register your collectors here; never the global default registry
	Now     func() time.Time      // nil: time.Now

	// PushStreamMaxLen caps each push stream approximately at every XADD
	// (push.stream_max_len); 0: no cap.
	PushStreamMaxLen int64
}

// Router routes the sends of the ingress partitions it owns. Create it with
// New and run it with Run.
type Router struct {
	cfg  config.Router
	node string
	st   *store.Store
	rdb  redis.UniversalClient
	ids  *ids.Generator
	log  *slog.Logger
	now  func() time.Time
	m    *metrics

	// pushMaxLen is Deps.PushStreamMaxLen.
	pushMaxLen int64

	// base is the origin of the monotonic clock lease validity is measured
	// on: wall-clock steps must not extend a lease.
	base time.Time
	// validFor is how long after sending a successful acquire or renew a
	// worker may keep processing: 2/3 of the TTL, so it stops well before
	// the key can expire and another router can take the partition.
	validFor time.Duration
	// block bounds each XREADGROUP so that a worker notices a stop request
	// or a stale lease soon; go-redis does not interrupt a blocked read.
	block time.Duration
	// lagEvery is the ingress lag sampling period (lagInterval).
	lagEvery time.Duration
	// prefer is where this node starts looking for free partitions, so
	// that routers starting together reach for different ones.
	prefer int

	started  atomic.Bool
	running  atomic.Bool
	lastBeat atomic.Int64 // r.mono() of the last successful heartbeat; -1: none yet

	mu    sync.Mutex
	owned []int // published for Partitions

	// abandon makes Run return without releasing its leases or leaving the
	// router set, and makes workers drop what they read, as if the process
	// had been killed. Tests use it to exercise takeover.
	abandon atomic.Bool

	// afterRead, nil in production, runs between the read and the write
	// round of every batch attempt, on the partition's worker goroutine.
	// Tests use it to change routes and inboxes between the rounds.
	afterRead func()
}

// New checks the configuration and registers the router's metrics.
func New(cfg config.Router, node string, deps Deps) (*Router, error) {
	switch {
	case node == "":
		return nil, errors.New("router: node name is empty")
	case deps.Store == nil || deps.IDs == nil:
		return nil, errors.New("router: Store and IDs are required")
	case cfg.Partitions < 1:
		return nil, fmt.Errorf("router: partitions must be positive, got %d", cfg.Partitions)
	case cfg.PushPartitions < 1:
		return nil, fmt.Errorf("router: push_partitions must be positive, got %d", cfg.PushPartitions)
	case cfg.Batch < 1:
		return nil, fmt.Errorf("router: batch must be positive, got %d", cfg.Batch)
	case cfg.LeaseTTL < 30*time.Millisecond:
		return nil, fmt.Errorf("router: lease_ttl %v is too short", cfg.LeaseTTL)
	}
	m, err := newMetrics(deps.Metrics)
	if err != nil {
		return nil, err
	}
	log := deps.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	now := deps.Now
	if now == nil {
		now = time.Now
	}
	h := fnv.New32a()
	h.Write([]byte(node))
	r := &Router{
		cfg:      cfg,
		node:     node,
		st:       deps.Store,
		rdb:      deps.Store.Redis(),
		ids:      deps.IDs,
		log:      log.With("role", "router", "node", node),
		now:      now,
		m:        m,
		base:     time.Now(),
		validFor: cfg.LeaseTTL * 2 / 3,
		block:    min(time.Second, cfg.LeaseTTL/3),
		lagEvery: lagInterval,
		prefer:   int(h.Sum32() % uint32(cfg.Partitions)),
	}
	r.pushMaxLen = deps.PushStreamMaxLen
	r.lastBeat.Store(-1)
	return r, nil
}

// mono is the time since r.base on the monotonic clock.
func (r *Router) mono() time.Duration { return time.Since(r.base) }

// Ready reports whether the router is registered and running its lease
// loop: its last heartbeat is younger than one lease TTL.
func (r *Router) Ready() bool {
	lb := r.lastBeat.Load()
	return r.running.Load() && lb >= 0 && r.mono()-time.Duration(lb) < r.cfg.LeaseTTL
}

// Partitions returns the partitions whose lease the router currently
// holds, in ascending order.
func (r *Router) Partitions() []int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.owned)
}

func (r *Router) publish(parts map[int]*partition) {
	owned := make([]int, 0, len(parts))
	for p, pt := range parts {
		if !pt.lost {
			owned = append(owned, p)
		}
	}
	slices.Sort(owned)
	r.mu.Lock()
	r.owned = owned
	r.mu.Unlock()
	r.m.owned.Set(float64(len(owned)))
}

// Run registers the router, keeps its leases and runs one worker per owned
// partition until ctx ends. On a clean exit it lets in-flight batches
// finish, releases its leases and leaves the router set, so that the other
// routers take over at once instead of after a lease TTL.
func (r *Router) Run(ctx context.Context) error {
	if !r.started.CompareAndSwap(false, true) {
		return errors.New("router: Run called twice")
	}
	l := &leaser{
		r:      r,
		parts:  make(map[int]*partition),
		exited: make(chan *partition, r.cfg.Partitions),
		live:   1,
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		r.sampleLag(ctx)
	}()
	r.running.Store(true)
	defer r.running.Store(false)
	r.log.Info("router starting", "partitions", r.cfg.Partitions, "lease_ttl", r.cfg.LeaseTTL, "batch", r.cfg.Batch)

	tick := time.NewTicker(r.cfg.LeaseTTL / 3)
	defer tick.Stop()
	l.tick(ctx, &wg)
	for {
		select {
		case <-ctx.Done():
			l.shutdown()
			wg.Wait()
			r.publish(nil)
			r.log.Info("router stopped")
			return nil
		case pt := <-l.exited:
			l.onExit(ctx, pt)
		case <-tick.C:
			l.tick(ctx, &wg)
		}
	}
}
