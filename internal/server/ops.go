package server

import (
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/pprof"
	"runtime"
	"strings"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/redis/go-redis/v9"

	"github.com/chatgate/chatgate/internal/config"
)

// registry is the process's own Prometheus registry. Nothing registers in
// the global one, so two servers in one test binary never collide.
type registry = prometheus.Registry

func newRegistry(rdb redis.UniversalClient, version string) *registry {
	reg := prometheus.NewRegistry()
	if version == "" {
		version = "dev"
	}
	reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name:        "chatgate_build_info",
			Help:        "Always 1; the labels say which build runs.",
			ConstLabels: prometheus.Labels{"version": version, "go_version": runtime.Version()},
		}, func() float64 { return 1 }),
		&poolCollector{rdb: rdb},
	)
	return reg
}

// poolCollector exports the go-redis connection pool, the first place to
// look when Redis latency rises: waits and timeouts mean the pool is too
// small for the load.
type poolCollector struct{ rdb redis.UniversalClient }

var (
	poolConns    = prometheus.NewDesc("chatgate_redis_pool_connections", "Redis connections in the pool, by state.", []string{"state"}, nil)
	poolHits     = prometheus.NewDesc("chatgate_redis_pool_hits_total", "Times a free pooled Redis connection was reused.", nil, nil)
	poolMisses   = prometheus.NewDesc("chatgate_redis_pool_misses_total", "Times no free pooled Redis connection was found.", nil, nil)
	poolTimeouts = prometheus.NewDesc("chatgate_redis_pool_timeouts_total", "Times waiting for a pooled Redis connection timed out.", nil, nil)
)

func (c *poolCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- poolConns
	ch <- poolHits
	ch <- poolMisses
	ch <- poolTimeouts
}

func (c *poolCollector) Collect(ch chan<- prometheus.Metric) {
	s := c.rdb.PoolStats()
	if s == nil {
		return
	}
	ch <- prometheus.MustNewConstMetric(poolConns, prometheus.GaugeValue, float64(s.TotalConns), "total")
	ch <- prometheus.MustNewConstMetric(poolConns, prometheus.GaugeValue, float64(s.IdleConns), "idle")
	ch <- prometheus.MustNewConstMetric(poolHits, prometheus.CounterValue, float64(s.Hits))
	ch <- prometheus.MustNewConstMetric(poolMisses, prometheus.CounterValue, float64(s.Misses))
	ch <- prometheus.MustNewConstMetric(poolTimeouts, prometheus.CounterValue, float64(s.Timeouts))
}

// health answers /readyz: Redis answers, every running role is ready and
// the process is not shutting down.
type health struct {
	rdb      redis.UniversalClient
	draining atomic.Bool
	roles    []namedCheck
}

type namedCheck struct {
	name  string
	ready func() bool
}

func (h *health) add(name string, ready func() bool) {
	h.roles = append(h.roles, namedCheck{name, ready})
}

// readyReport is the JSON body of /readyz.
type readyReport struct {
	Ready  bool              `json:"ready"`
	Checks map[string]string `json:"checks"`
}

func (h *health) report(r *http.Request) readyReport {
	rep := readyReport{Ready: true, Checks: map[string]string{}}
	fail := func(name, why string) {
		rep.Ready = false
		rep.Checks[name] = why
	}
	if h.draining.Load() {
		fail("shutdown", "draining")
	}
	if err := pingRedis(r.Context(), h.rdb); err != nil {
		fail("redis", err.Error())
	} else {
		rep.Checks["redis"] = "ok"
	}
	for _, c := range h.roles {
		if c.ready() {
			rep.Checks[c.name] = "ok"
		} else {
			fail(c.name, "not ready")
		}
	}
	return rep
}

func opsHandler(reg *registry, h *health, withPprof bool) http.Handler {
	mux := http.NewServeMux()
	if withPprof {
		mux.HandleFunc("GET /debug/pprof/", pprof.Index)
		mux.HandleFunc("GET /debug/pprof/cmdline", pprof.Cmdline)
		mux.HandleFunc("GET /debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("GET /debug/pprof/symbol", pprof.Symbol)
		mux.HandleFunc("POST /debug/pprof/symbol", pprof.Symbol)
		mux.HandleFunc("GET /debug/pprof/trace", pprof.Trace)
	}
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{
		ErrorHandling: promhttp.ContinueOnError,
	}))
	// Liveness only says the process serves HTTP: restarting a process
	// because Redis is down would not bring Redis back.
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = io.WriteString(w, "ok\n")
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		rep := h.report(r)
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		if !rep.Ready {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
		_ = json.NewEncoder(w).Encode(rep)
	})
	return mux
}

// NewLogger builds the process logger from the log section: text or JSON
// lines on w at the configured level.
func NewLogger(cfg config.Log, w io.Writer) (*slog.Logger, error) {
	var level slog.Level
	if err := level.UnmarshalText([]byte(cfg.Level)); err != nil {
		return nil, fmt.Errorf("config: log.level %q: want debug, info, warn or error", cfg.Level)
	}
	opts := &slog.HandlerOptions{Level: level}
	switch strings.ToLower(cfg.Format) {
	case "", "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	default:
		return nil, fmt.Errorf("config: log.format %q: want text or json", cfg.Format)
	}
}
