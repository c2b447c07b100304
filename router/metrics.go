package router

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/chatgate/chatgate/internal/bus"
)

// lagInterval is how often the ingress lag of owned partitions is sampled.
const lagInterval = 5 * time.Second

type metrics struct {
	routed, duplicate, rejected, poison prometheus.Counter
	deliveries, pushJobs                prometheus.Counter
	pushSkipped                         prometheus.Counter
	batchSize, batchSeconds, latency    prometheus.Histogram
	owned                               prometheus.Gauge
	// lag is labelled by partition: at most router.partitions (<= 1024)
	// series, and only those this router owns.
	lag *prometheus.GaugeVec
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	const ns, sub = "chatgate", "router"
	messages := prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: ns, Subsystem: sub, Name: "messages_total",
		Help: "Ingress entries by outcome: routed, duplicate (idempotent resend), rejected, poison (undecodable or invalid).",
	}, []string{"result"})
	batchSize := prometheus.NewHistogram(prometheus.HistogramOpts{
		Namespace: ns, Subsystem: sub, Name: "batch_size",
		Help:    "Ingress entries per routed batch.",
		Buckets: prometheus.ExponentialBuckets(1, 2, 14),
	})
	batchSeconds := prometheus.NewHistogram(prometheus.HistogramOpts{
		Namespace: ns, Subsystem: sub, Name: "batch_seconds",
		Help:    "Time to route one batch, retries included.",
		Buckets: prometheus.ExponentialBuckets(0.0001, 2, 16),
	})
	latency := prometheus.NewHistogram(prometheus.HistogramOpts{
		Namespace: ns, Subsystem: sub, Name: "ingress_latency_seconds",
		Help:    "From the gateway receiving a send to the router committing its batch (ms resolution).",
		Buckets: []float64{.001, .002, .003, .005, .0075, .01, .02, .05, .1, .25, .5, 1, 2.5, 5, 10},
	})
	owned := prometheus.NewGauge(prometheus.GaugeOpts{
		Namespace: ns, Subsystem: sub, Name: "partitions_owned",
		Help: "Ingress partitions whose lease this router holds.",
	})
	deliveries := prometheus.NewCounter(prometheus.CounterOpts{
		Namespace: ns, Subsystem: sub, Name: "deliveries_written_total",
		Help: "Items (msg, ack, err) written to gateway delivery streams.",
	})
	pushJobs := prometheus.NewCounter(prometheus.CounterOpts{
		Namespace: ns, Subsystem: sub, Name: "push_jobs_total",
		Help: "Push jobs written for offline or background devices.",
	})
	pushSkipped := prometheus.NewCounter(prometheus.CounterOpts{
		Namespace: ns, Subsystem: sub, Name: "group_push_skipped_total",
		Help: "Group message recipients given no push job because of their msg_push_mode or msg_mute_mode.",
	})
	lag := prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Namespace: ns, Subsystem: sub, Name: "ingress_lag_entries",
		Help: "Entries of an owned ingress partition not yet routed (group lag plus pending), sampled every few seconds.",
	}, []string{"partition"})

	if reg != nil {
		var err error
		if messages, err = register(reg, messages); err != nil {
			return nil, err
		}
		if batchSize, err = register(reg, batchSize); err != nil {
			return nil, err
		}
		if batchSeconds, err = register(reg, batchSeconds); err != nil {
			return nil, err
		}
		if latency, err = register(reg, latency); err != nil {
			return nil, err
		}
		if owned, err = register(reg, owned); err != nil {
			return nil, err
		}
		if deliveries, err = register(reg, deliveries); err != nil {
			return nil, err
		}
		if pushJobs, err = register(reg, pushJobs); err != nil {
			return nil, err
		}
		if pushSkipped, err = register(reg, pushSkipped); err != nil {
			return nil, err
		}
		if lag, err = register(reg, lag); err != nil {
			return nil, err
		}
	}
	return &metrics{
		routed:       messages.WithLabelValues("routed"),
		duplicate:    messages.WithLabelValues("duplicate"),
		rejected:     messages.WithLabelValues("rejected"),
		poison:       messages.WithLabelValues("poison"),
		deliveries:   deliveries,
		pushJobs:     pushJobs,
		pushSkipped:  pushSkipped,
		batchSize:    batchSize,
		batchSeconds: batchSeconds,
		latency:      latency,
		owned:        owned,
		lag:          lag,
	}, nil
}

// register registers c, or returns the identical collector registered
// before: several routers in one process (tests, or a future in-process
// scale-out) share one registry and then share the series.
func register[T prometheus.Collector](reg prometheus.Registerer, c T) (T, error) {
	err := reg.Register(c)
	if err == nil {
		return c, nil
	}
	var are prometheus.AlreadyRegisteredError
	if errors.As(err, &are) {
		if prev, ok := are.ExistingCollector.(T); ok {
			return prev, nil
		}
	}
	return c, fmt.Errorf("router: register metrics: %w", err)
}

// sampleLag reports, every r.lagEvery, how many entries of each owned
// partition are not routed yet, from XINFO GROUPS (lag: not yet read by
// the group; pending: read, not acknowledged). Series of partitions this
// router no longer owns are dropped, so that another router's report for
// them is the only one.
func (r *Router) sampleLag(ctx context.Context) {
	t := time.NewTicker(r.lagEvery)
	defer t.Stop()
	reported := map[int]bool{}
	for {
		select {
		case <-ctx.Done():
			for p := range reported {
				r.m.lag.DeleteLabelValues(strconv.Itoa(p))
			}
			return
		case <-t.C:
		}
		owned := r.Partitions()
		pipe := r.rdb.Pipeline()
		infos := make([]*redis.XInfoGroupsCmd, len(owned))
		lens := make([]*redis.IntCmd, len(owned))
		for i, p := range owned {
			infos[i] = pipe.XInfoGroups(ctx, bus.IngressStream(p))
			lens[i] = pipe.XLen(ctx, bus.IngressStream(p))
		}
		_, _ = pipe.Exec(ctx)
		now := map[int]bool{}
		for i, p := range owned {
			groups, err := infos[i].Result()
			if err != nil {
				continue
			}
			for _, g := range groups {
				if g.Name != bus.RouterGroup {
					continue
				}
				v := g.Lag + g.Pending
				if g.Lag < 0 {
					// Lag unknown (deletions confuse Redis' estimate): routed
					// entries are deleted, so the stream length is the backlog.
					v = lens[i].Val()
				}
				r.m.lag.WithLabelValues(strconv.Itoa(p)).Set(float64(v))
				now[p] = true
			}
		}
		for p := range reported {
			if !now[p] {
				r.m.lag.DeleteLabelValues(strconv.Itoa(p))
			}
		}
		reported = now
	}
}
