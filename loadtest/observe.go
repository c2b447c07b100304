package loadtest

import (
	"context"
	"log/slog"
	"math"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/redis/go-redis/v9"
)

// observer takes snapshots of what the servers spend: each target's
// /metrics and Redis INFO. It never fails a run: a target that cannot be
// scraped is reported with its error and the run goes on.
type observer struct {
	hc      *http.Client
	targets []Target
	rdb     redis.UniversalClient // nil: Redis is not observed
	addr    string
	log     *slog.Logger
	// workerCPU, when set, is the CPU seconds of the worker processes so
	// far: their work is the harness's, not "other".
	workerCPU func() float64
}

// observation is one snapshot of every observed process, of the machine
// and of the harness itself.
type observation struct {
	at     time.Time
	procs  []*metricsSnapshot // aligned with observer.targets; nil when not scraped
	errs   []error
	redis  *redisInfo
	rdsErr error
	// machineBusy is CPU seconds all cores spent not idle since boot (0
	// where unknown); harnessCPU is this process's CPU seconds.
	machineBusy float64
	harnessCPU  float64
}

func newObserver(targets []Target, rdb redis.UniversalClient, addr string, log *slog.Logger) *observer {
	return &observer{
		// Scrapes go to loopback and are small; a slow one means the
		// process is starved, which the report should show, not hang on.
		hc:      &http.Client{Timeout: 10 * time.Second},
		targets: targets,
		rdb:     rdb,
		addr:    addr,
		log:     log,
	}
}

// observe scrapes every target and Redis concurrently.
func (o *observer) observe(ctx context.Context) *observation {
	ob := &observation{at: time.Now(), procs: make([]*metricsSnapshot, len(o.targets)), errs: make([]error, len(o.targets))}
	var wg sync.WaitGroup
	for i, t := range o.targets {
		if t.Metrics == "" {
			continue
		}
		wg.Go(func() {
			ob.procs[i], ob.errs[i] = scrapeMetrics(ctx, o.hc, t.Metrics)
			if ob.errs[i] != nil {
				o.log.Warn("scrape failed", "target", t.Name, "err", ob.errs[i])
			}
		})
	}
	if o.rdb != nil {
		wg.Go(func() {
			ob.redis, ob.rdsErr = readRedisInfo(ctx, o.rdb)
			if ob.rdsErr != nil {
				o.log.Warn("redis INFO failed", "err", ob.rdsErr)
			}
		})
	}
	wg.Wait()
	ob.machineBusy = machineBusySeconds()
	ob.harnessCPU, _ = selfUsage()
	if o.workerCPU != nil {
		ob.harnessCPU += o.workerCPU()
	}
	return ob
}

// ProcessReport is what one chatgate process spent between two snapshots.
type ProcessReport struct {
	Name    string  `json:"name"`
	Role    string  `json:"role"`
	Seconds float64 `json:"seconds"`

	RSSBeforeBytes   float64 `json:"rss_before_bytes"`
	RSSAfterBytes    float64 `json:"rss_after_bytes"`
	HeapInuseAfter   float64 `json:"heap_inuse_after_bytes"`
	GoroutinesBefore float64 `json:"goroutines_before"`
	GoroutinesAfter  float64 `json:"goroutines_after"`
	// CPUSeconds is process_cpu_seconds_total's increase (user + system).
	CPUSeconds float64 `json:"cpu_seconds"`
	// CPUPercent is CPUSeconds over the window, in percent of one core.
	CPUPercent float64 `json:"cpu_percent"`

	// Counters are the increases of the chatgate_* counters (summed over
	// label values under the bare name, and per label set), only non-zero.
	Counters map[string]float64 `json:"counters,omitempty"`
	// Gauges are the chatgate_* gauges at the end of the window.
	Gauges map[string]float64 `json:"gauges,omitempty"`
	// Histograms are the chatgate_* histograms over the window, estimated
	// from their buckets.
	Histograms map[string]ServerHistogram `json:"histograms,omitempty"`

	Error string `json:"error,omitempty"`
}

// ServerHistogram is a server-side histogram over a window. Quantiles are
// interpolated inside Prometheus buckets, so they are only as fine as the
// buckets. Histograms in seconds are reported in milliseconds (Unit "ms").
type ServerHistogram struct {
	Count float64 `json:"count"`
	Unit  string  `json:"unit,omitempty"`
	Mean  float64 `json:"mean"`
	P50   float64 `json:"p50"`
	P99   float64 `json:"p99"`
}

// MachineReport accounts for the machine's CPU over the measured window, in
// cores: when Other is large, something outside the run competed for the
// CPU and the latencies include it.
type MachineReport struct {
	Cores   int     `json:"cores"`
	Busy    float64 `json:"busy_cores"`
	Servers float64 `json:"servers_cores"`
	Redis   float64 `json:"redis_cores"`
	Harness float64 `json:"harness_cores"`
	Other   float64 `json:"other_cores"`
}

func (o *observer) machine(before, after *observation, procs []ProcessReport, rr *RedisReport) *MachineReport {
	secs := after.at.Sub(before.at).Seconds()
	if secs <= 0 || after.machineBusy == 0 {
		return nil
	}
	m := &MachineReport{
		Cores:   runtime.NumCPU(),
		Busy:    (after.machineBusy - before.machineBusy) / secs,
		Harness: (after.harnessCPU - before.harnessCPU) / secs,
	}
	for _, p := range procs {
		m.Servers += p.CPUSeconds / secs
	}
	if rr != nil {
		m.Redis = rr.CPUSeconds / secs
	}
	m.Other = max(0, m.Busy-m.Servers-m.Redis-m.Harness)
	return m
}

// report compares two observations.
func (o *observer) report(before, after *observation) ([]ProcessReport, *RedisReport) {
	var procs []ProcessReport
	for i, t := range o.targets {
		if t.Metrics == "" {
			continue
		}
		procs = append(procs, processReport(t, before.procs[i], after.procs[i], firstErr(before.errs[i], after.errs[i])))
	}
	var rr *RedisReport
	if o.rdb != nil {
		r := redisReport(o.addr, before.redis, after.redis)
		if err := firstErr(before.rdsErr, after.rdsErr); err != nil {
			r.Error = err.Error()
		}
		rr = &r
	}
	return procs, rr
}

func firstErr(errs ...error) error {
	for _, e := range errs {
		if e != nil {
			return e
		}
	}
	return nil
}

func processReport(t Target, b, a *metricsSnapshot, err error) ProcessReport {
	pr := ProcessReport{Name: t.Name, Role: t.Role}
	if err != nil {
		pr.Error = err.Error()
	}
	if a == nil || b == nil {
		return pr
	}
	pr.Seconds = a.at.Sub(b.at).Seconds()
	get := func(s *metricsSnapshot, name string) float64 { v, _ := s.value(name); return v }
	pr.RSSBeforeBytes = get(b, "process_resident_memory_bytes")
	pr.RSSAfterBytes = get(a, "process_resident_memory_bytes")
	pr.HeapInuseAfter = get(a, "go_memstats_heap_inuse_bytes")
	pr.GoroutinesBefore = get(b, "go_goroutines")
	pr.GoroutinesAfter = get(a, "go_goroutines")
	pr.CPUSeconds = get(a, "process_cpu_seconds_total") - get(b, "process_cpu_seconds_total")
	if pr.Seconds > 0 {
		pr.CPUPercent = 100 * pr.CPUSeconds / pr.Seconds
	}

	pr.Counters = map[string]float64{}
	cb := b.series("chatgate_", dto.MetricType_COUNTER)
	for k, v := range a.series("chatgate_", dto.MetricType_COUNTER) {
		if d := v - cb[k]; d != 0 {
			pr.Counters[k] = d
		}
	}
	pr.Gauges = a.series("chatgate_", dto.MetricType_GAUGE)
	delete(pr.Gauges, "chatgate_build_info")
	for k := range pr.Gauges {
		if strings.HasPrefix(k, "chatgate_build_info{") {
			delete(pr.Gauges, k)
		}
	}

	pr.Histograms = map[string]ServerHistogram{}
	for name, mf := range a.families {
		if !strings.HasPrefix(name, "chatgate_") || mf.GetType() != dto.MetricType_HISTOGRAM {
			continue
		}
		ha, _ := a.histogram(name)
		hb, _ := b.histogram(name)
		d := ha.sub(hb)
		if d.count <= 0 {
			continue
		}
		scale, unit := 1.0, ""
		if strings.HasSuffix(name, "_seconds") {
			scale, unit = 1000, "ms"
		}
		pr.Histograms[name] = ServerHistogram{
			Count: d.count,
			Unit:  unit,
			Mean:  scale * d.sum / d.count,
			P50:   scale * finite(d.quantile(0.5)),
			P99:   scale * finite(d.quantile(0.99)),
		}
	}
	return pr
}

func finite(v float64) float64 {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return 0
	}
	return v
}

// counter is one counter increase of a process report (0 when absent).
func (p ProcessReport) counter(name string) float64 { return p.Counters[name] }

// scrapeOnly scrapes the targets' /metrics, without Redis and the machine:
// the cheap snapshot the monitor takes every few seconds.
func (o *observer) scrapeOnly(ctx context.Context) *observation {
	ob := &observation{at: time.Now(), procs: make([]*metricsSnapshot, len(o.targets)), errs: make([]error, len(o.targets))}
	var wg sync.WaitGroup
	for i, t := range o.targets {
		if t.Metrics == "" {
			continue
		}
		wg.Go(func() {
			ob.procs[i], ob.errs[i] = scrapeMetrics(ctx, o.hc, t.Metrics)
		})
	}
	wg.Wait()
	return ob
}
