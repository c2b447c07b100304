package admin

import (
	"context"
	"strconv"
	"time"

	"github.com/chatgate/chatgate/domain/group"

	"github.com/prometheus/client_golang/prometheus"
)

type metrics struct {
	requests *prometheus.CounterVec
	latency  *prometheus.HistogramVec
	notices  *prometheus.CounterVec
	// noticeSends counts the notices routed (notify.go).
	noticeSends *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "chatgate_admin_requests_total",
			Help: "REST API requests, by operation path and envelope code (200 is success).",
		}, []string{"path", "code"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "chatgate_admin_request_seconds",
			Help:    "REST API request handling time, by operation path.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5},
		}, []string{"path"}),
		notices: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "chatgate_admin_group_notices_total",
			Help: "Group notices handed to the notifier by the /group operations, by kind and result (ok, error).",
		}, []string{"kind", "result"}),
		noticeSends: newNoticeCounter(),
	}
	if reg != nil {
		for _, c := range []prometheus.Collector{m.requests, m.latency, m.notices, m.noticeSends} {
			if err := reg.Register(c); err != nil {
				return nil, err
			}
		}
	}
	return m, nil
}

// observe records one request. path is a route's path (bounded), never the
// raw request path, so that junk URLs cannot blow up the label set.
func (m *metrics) observe(path string, code int, start time.Time) {
	m.requests.WithLabelValues(path, strconv.Itoa(code)).Inc()
	m.latency.WithLabelValues(path).Observe(time.Since(start).Seconds())
}

// countingNotifier counts the notices it passes on. Kinds are the
// domain's constants, so the label set is bounded.
type countingNotifier struct {
	next    group.Notifier
	counter *prometheus.CounterVec
}

func (c countingNotifier) Notify(ctx context.Context, app string, n group.Notice) error {
	err := c.next.Notify(ctx, app, n)
	result := "ok"
	if err != nil {
		result = "error"
	}
	c.counter.WithLabelValues(n.Kind, result).Inc()
	return err
}
