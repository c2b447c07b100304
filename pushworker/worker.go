// Package pushworker is the push worker role: it consumes the push streams
// (cg:push:{q}, consumer group "pushers"), applies each user's push policy
// (no_push, no_push_detail, no-push hours in the user's time zone, badge,
// push nickname) and sends through APNs (github.com/sideshow/apns2) and FCM
// (firebase.google.com/go/v4 messaging), with retries re-enqueued on a
// delay set (no sleeping worker), a dead-letter stream, and removal of
// dead tokens. It also expands /push/notify campaigns page by page into
// push jobs and socket deliveries, with per-task statistics.
// docs/push.md is the design.
package pushworker

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"
	"golang.org/x/sync/errgroup"
	"golang.org/x/sync/semaphore"
	"golang.org/x/time/rate"

	"github.com/chatgate/chatgate/internal/bus"
	"github.com/chatgate/chatgate/internal/config"
	"github.com/chatgate/chatgate/store"
)

// DeadLetterStream receives the jobs that failed max_attempts times, with
// the last reason, for inspection; nothing reads it automatically.
func DeadLetterStream() string { return "cg:push:dead" }

// DelayKey is the sorted set of push partition q's jobs waiting for a
// retry, scored by their not-before time (unix ms). Same tag as the stream.
func DelayKey(q int) string { return "cg:pdelay:{" + strconv.Itoa(q) + "}" }

// Deps are what a worker works with.
type Deps struct {
	Store   *store.Store
	Log     *slog.Logger
	Metrics prometheus.Registerer
	// Now is the clock of the push policy (no-push hours); retries are
	// scheduled on the wall clock.
	Now func() time.Time
	// Node names this process: its consumer name in the groups.
	Node string
}

// Worker is the push worker of one process.
type Worker struct {
	cfg   config.Push
	parts int
	st    *store.Store
	rdb   redis.UniversalClient
	log   *slog.Logger
	now   func() time.Time
	node  string
	apps  map[string]*appClients
	tz    *time.Location
	zones zones
	sem   *semaphore.Weighted
	m     *metrics
	ready atomic.Bool

	mu        sync.Mutex
	campaigns *lru[*Campaign]     // "app/task"
	limiters  *lru[*rate.Limiter] // app
}

// Bounds of the worker's per-campaign and per-app caches. A campaign's
// spec is at most a few tens of kB (500-entry audience lists); a limiter
// is a few words. Evicting a live campaign costs one HGET when its next
// job comes; evicting an app's limiter lets that app start a fresh burst,
// which only matters with more apps campaigning at once than the bound.
const (
	maxCachedCampaigns = 256
	maxLimiters        = 1024
)

// New builds a worker for the configured apps; apps without credentials
// get their jobs recorded as "no_credentials".
func New(ctx context.Context, cfg config.Push, apps []config.App, pushPartitions int, deps Deps) (*Worker, error) {
	if deps.Now == nil {
		deps.Now = time.Now
	}
	if deps.Log == nil {
		deps.Log = slog.Default()
	}
	tz, err := time.LoadLocation(cfg.TimeZone)
	if err != nil {
		return nil, fmt.Errorf("pushworker: time_zone: %w", err)
	}
	w := &Worker{
		cfg: cfg, parts: pushPartitions, st: deps.Store, rdb: deps.Store.Redis(),
		log: deps.Log.With("role", config.RolePushWorker), now: deps.Now, node: deps.Node,
		apps: map[string]*appClients{}, tz: tz, sem: semaphore.NewWeighted(int64(cfg.Concurrency)),
		campaigns: newLRU[*Campaign](maxCachedCampaigns), limiters: newLRU[*rate.Limiter](maxLimiters),
	}
	for _, a := range apps {
		ac, err := newAppClients(ctx, a, cfg, tz)
		if err != nil {
			return nil, fmt.Errorf("pushworker: %w", err)
		}
		w.apps[a.ID] = ac
	}
	if w.m, err = newMetrics(deps.Metrics); err != nil {
		return nil, fmt.Errorf("pushworker: metrics: %w", err)
	}
	return w, nil
}

// Ready reports whether the worker consumes its streams.
func (w *Worker) Ready() bool { return w.ready.Load() }

// Run consumes until ctx ends. A batch in flight is finished (bounded by
// send_timeout) before Run returns; whatever is unfinished stays pending
// and is claimed by another worker.
func (w *Worker) Run(ctx context.Context) error {
	for q := 0; q < w.parts; q++ {
		if err := bus.EnsureGroup(ctx, w.rdb, bus.PushStream(q), bus.PushGroup); err != nil {
			return fmt.Errorf("pushworker: %w", err)
		}
	}
	if err := bus.EnsureGroup(ctx, w.rdb, store.PushCampaignStream(), bus.PushGroup); err != nil {
		return fmt.Errorf("pushworker: %w", err)
	}
	for _, sc := range []*redis.Script{moveDueScript, acceptScript} {
		if err := sc.Load(ctx, w.rdb).Err(); err != nil {
			return fmt.Errorf("pushworker: load script: %w", err)
		}
	}
	w.ready.Store(true)
	defer w.ready.Store(false)
	g, gctx := errgroup.WithContext(ctx)
	for q := 0; q < w.parts; q++ {
		g.Go(func() error { return w.partitionLoop(gctx, q) })
	}
	g.Go(func() error { return w.every(gctx, 100*time.Millisecond, w.moveDue) })
	g.Go(func() error { return w.every(gctx, w.cfg.ClaimIdle/3, w.claim) })
	g.Go(func() error { return w.every(gctx, 10*time.Second, w.trim) })
	g.Go(func() error { return w.every(gctx, 5*time.Second, w.observeBacklog) })
	g.Go(func() error { return w.campaignLoop(gctx) })
	err := g.Wait()
	if ctx.Err() != nil {
		return nil
	}
	return err
}

// every runs fn every d until ctx ends; errors are logged, not fatal: a
// Redis hiccup must not stop the worker.
func (w *Worker) every(ctx context.Context, d time.Duration, fn func(context.Context) error) error {
	t := time.NewTicker(d)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			if err := fn(ctx); err != nil && ctx.Err() == nil {
				w.log.Warn("push worker loop", "err", err)
			}
		}
	}
}

func sleepCtx(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

func (w *Worker) partitionLoop(ctx context.Context, q int) error {
	stream := bus.PushStream(q)
	for ctx.Err() == nil {
		msgs, err := bus.ReadGroup(ctx, w.rdb, stream, bus.PushGroup, w.node, int64(w.cfg.Batch), 2*time.Second)
		if err != nil {
			if ctx.Err() == nil {
				w.log.Warn("read push stream", "stream", stream, "err", err)
				sleepCtx(ctx, time.Second)
			}
			continue
		}
		if len(msgs) > 0 {
			// The batch finishes even when ctx ends meanwhile: its
			// outcomes are recorded and acknowledged.
			w.process(context.WithoutCancel(ctx), q, msgs)
		}
	}
	return nil
}

// claim takes over jobs (and campaigns) left pending by a dead worker.
func (w *Worker) claim(ctx context.Context) error {
	for q := 0; q < w.parts; q++ {
		msgs, err := bus.ClaimPending(ctx, w.rdb, bus.PushStream(q), bus.PushGroup, w.node, w.cfg.ClaimIdle, int64(w.cfg.Batch))
		if err != nil {
			return err
		}
		if len(msgs) > 0 {
			w.m.claimed.Add(float64(len(msgs)))
			w.process(context.WithoutCancel(ctx), q, msgs)
		}
	}
	return nil
}

// moveDueScript moves the due retries of one partition back to its stream.
var moveDueScript = redis.NewScript(`
local due = redis.call("ZRANGEBYSCORE", KEYS[1], "-inf", ARGV[1], "LIMIT", 0, tonumber(ARGV[2]))
for _, m in ipairs(due) do
  redis.call("XADD", KEYS[2], "*", "d", m)
  redis.call("ZREM", KEYS[1], m)
end
return #due
`)

func (w *Worker) moveDue(ctx context.Context) error {
	now := strconv.FormatInt(time.Now().UnixMilli(), 10)
	pipe := w.rdb.Pipeline()
	for q := 0; q < w.parts; q++ {
		moveDueScript.Run(ctx, pipe, []string{DelayKey(q), bus.PushStream(q)}, now, 1000)
	}
	_, err := pipe.Exec(ctx)
	if err != nil && isNoScript(err) {
		if lerr := moveDueScript.Load(ctx, w.rdb).Err(); lerr != nil {
			return fmt.Errorf("load move script: %w", lerr)
		}
		return nil
	}
	if err != nil && !errors.Is(err, redis.Nil) {
		return fmt.Errorf("move due retries: %w", err)
	}
	return nil
}

func isNoScript(err error) bool {
	return err != nil && len(err.Error()) >= 8 && err.Error()[:8] == "NOSCRIPT"
}

// trim caps the push streams: a backlog beyond stream_max_len (no worker
// for a long time) loses its oldest jobs instead of Redis's memory.
// observeBacklog samples the length of each push stream and delay set: the
// push path's lag, the first thing to look at when pushes arrive late.
func (w *Worker) observeBacklog(ctx context.Context) error {
	pipe := w.rdb.Pipeline()
	lens := make([]*redis.IntCmd, w.parts)
	delays := make([]*redis.IntCmd, w.parts)
	for q := 0; q < w.parts; q++ {
		lens[q] = pipe.XLen(ctx, bus.PushStream(q))
		delays[q] = pipe.ZCard(ctx, DelayKey(q))
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return fmt.Errorf("sample push backlog: %w", err)
	}
	for q := 0; q < w.parts; q++ {
		part := strconv.Itoa(q)
		w.m.backlog.WithLabelValues(part).Set(float64(lens[q].Val()))
		w.m.delayed.WithLabelValues(part).Set(float64(delays[q].Val()))
	}
	return nil
}

func (w *Worker) trim(ctx context.Context) error {
	if w.cfg.StreamMaxLen <= 0 && w.cfg.DeadLetterMaxLen <= 0 {
		return nil
	}
	pipe := w.rdb.Pipeline()
	if w.cfg.StreamMaxLen > 0 {
		for q := 0; q < w.parts; q++ {
			pipe.XTrimMaxLenApprox(ctx, bus.PushStream(q), w.cfg.StreamMaxLen, 0)
		}
	}
	if w.cfg.DeadLetterMaxLen > 0 {
		pipe.XTrimMaxLenApprox(ctx, DeadLetterStream(), w.cfg.DeadLetterMaxLen, 0)
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return fmt.Errorf("trim push streams: %w", err)
	}
	return nil
}

// campaign returns a task's campaign, cached: every job of a campaign
// names it, and it never changes.
func (w *Worker) campaign(ctx context.Context, app string, task int64) (*Campaign, error) {
	key := app + "/" + strconv.FormatInt(task, 10)
	w.mu.Lock()
	c, ok := w.campaigns.get(key)
	w.mu.Unlock()
	if ok {
		return c, nil
	}
	t, err := w.st.PushTask(ctx, app, task)
	if err != nil {
		return nil, err
	}
	c = &Campaign{}
	if err := json.Unmarshal(t.Spec, c); err != nil {
		return nil, fmt.Errorf("campaign %s: %w", key, err)
	}
	w.mu.Lock()
	w.campaigns.put(key, c)
	w.mu.Unlock()
	return c, nil
}

func (w *Worker) limiter(app string) *rate.Limiter {
	w.mu.Lock()
	defer w.mu.Unlock()
	l, ok := w.limiters.get(app)
	if !ok {
		lim := rate.Inf
		if w.cfg.CampaignRate > 0 {
			lim = rate.Limit(w.cfg.CampaignRate)
		}
		burst := int(w.cfg.CampaignRate) + w.cfg.CampaignPage
		l = rate.NewLimiter(lim, burst)
		w.limiters.put(app, l)
	}
	return l
}

// backoff is the delay before attempt n+1: exponential with full jitter
// over its upper half, so retries of a burst spread out.
func (w *Worker) backoff(attempt int) time.Duration {
	d := w.cfg.RetryBase
	for i := 1; i < attempt && d < w.cfg.RetryMax; i++ {
		d *= 2
	}
	d = min(d, w.cfg.RetryMax)
	return d/2 + rand.N(d/2+1)
}
