package admin

import (
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

type metrics struct {
	requests *prometheus.CounterVec
	latency  *prometheus.HistogramVec
	notices  *prometheus.CounterVec
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
		notices: newNoticeCounter(),
	}
	if reg != nil {
		for _, c := range []prometheus.Collector{m.requests, m.latency, m.notices} {
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
