package loadtest

import (
	"context"
	"strings"
	"sync"
	"time"
)

// Sample is one second of a run, as the progress line saw it: the rates
// over that second, the latency percentiles of what was recorded in it,
// and the servers' state from the latest scrape. The HTML report plots
// these.
type Sample struct {
	T        float64 `json:"t"` // seconds since the start of the run
	Phase    string  `json:"phase"`
	Open     int64   `json:"open"`
	Connects float64 `json:"connects_per_s"`
	Sent     float64 `json:"sent_per_s"`
	Acked    float64 `json:"acked_per_s"`
	Received float64 `json:"received_per_s"`
	Errors   int64   `json:"errors"`
	AckP50   float64 `json:"ack_p50_ms,omitempty"`
	AckP99   float64 `json:"ack_p99_ms,omitempty"`
	DlvP50   float64 `json:"delivery_p50_ms,omitempty"`
	DlvP99   float64 `json:"delivery_p99_ms,omitempty"`
	DlvMax   float64 `json:"delivery_max_ms,omitempty"`
	ConnP99  float64 `json:"connect_p99_ms,omitempty"`
	// Server is the latest scrape of the servers (at most a few seconds
	// old); nil before the first.
	Server *ServerPoint `json:"server,omitempty"`
}

// ServerPoint is every observed chatgate process summed at one scrape.
type ServerPoint struct {
	T float64 `json:"t"`
	// CPUPercent is the processes' CPU since the previous scrape, in
	// percent of one core, summed.
	CPUPercent float64 `json:"cpu_percent"`
	RSSBytes   float64 `json:"rss_bytes"`
	Goroutines float64 `json:"goroutines"`
	// Connections is chatgate_gateway_connections summed over gateways.
	Connections float64 `json:"connections"`
	// StreamLag is the largest chatgate_router_ingress_lag_entries of any
	// partition: entries waiting in an ingress stream.
	StreamLag float64 `json:"stream_lag"`
}

// monitorInterval spaces the scrapes during a run: each costs the server a
// millisecond or two, which must stay out of the idle-cost measurement.
const monitorInterval = 5 * time.Second

// monitor scrapes the servers every monitorInterval while a run goes, for
// the progress line and the report's timelines.
type monitor struct {
	obs   *observer
	start time.Time
	mu    sync.Mutex
	last  *ServerPoint
	all   []ServerPoint
	// peakLag is the highest stream lag seen.
	peakLag float64
	prevCPU float64
	prevAt  time.Time
}

func newMonitor(obs *observer, start time.Time) *monitor {
	return &monitor{obs: obs, start: start}
}

// run scrapes until ctx ends.
func (m *monitor) run(ctx context.Context) {
	t := time.NewTicker(monitorInterval)
	defer t.Stop()
	m.sample(ctx)
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			m.sample(ctx)
		}
	}
}

func (m *monitor) sample(ctx context.Context) {
	if m.obs == nil {
		return
	}
	ob := m.obs.scrapeOnly(ctx)
	if ctx.Err() != nil {
		return
	}
	p := ServerPoint{T: ob.at.Sub(m.start).Seconds()}
	var cpu float64
	scraped := false
	for _, s := range ob.procs {
		if s == nil {
			continue
		}
		scraped = true
		v := func(name string) float64 { x, _ := s.value(name); return x }
		cpu += v("process_cpu_seconds_total")
		p.RSSBytes += v("process_resident_memory_bytes")
		p.Goroutines += v("go_goroutines")
		p.Connections += v("chatgate_gateway_connections")
		p.StreamLag = max(p.StreamLag, s.maxSeries("chatgate_router_ingress_lag_entries"))
	}
	if !scraped {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if !m.prevAt.IsZero() {
		if secs := ob.at.Sub(m.prevAt).Seconds(); secs > 0 {
			p.CPUPercent = 100 * (cpu - m.prevCPU) / secs
		}
	}
	m.prevCPU, m.prevAt = cpu, ob.at
	m.peakLag = max(m.peakLag, p.StreamLag)
	m.last = &p
	m.all = append(m.all, p)
}

// latest is the last scrape, nil before the first.
func (m *monitor) latest() *ServerPoint {
	if m == nil {
		return nil
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.last
}

// points returns every scrape and the peak stream lag.
func (m *monitor) points() ([]ServerPoint, float64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]ServerPoint(nil), m.all...), m.peakLag
}

// maxSeries is the largest value of any series of a gauge (0 when absent).
func (s *metricsSnapshot) maxSeries(name string) float64 {
	if s == nil {
		return 0
	}
	mf := s.families[name]
	if mf == nil {
		return 0
	}
	var out float64
	for _, m := range mf.GetMetric() {
		out = max(out, scalar(m))
	}
	return out
}

// serverBrief is the progress line's view of the servers.
func serverBrief(p *ServerPoint) string {
	if p == nil {
		return ""
	}
	var b strings.Builder
	b.WriteString(" | srv cpu ")
	b.WriteString(fmtPct(p.CPUPercent))
	b.WriteString(" rss ")
	b.WriteString(fmtBytes(p.RSSBytes))
	b.WriteString(" gor ")
	b.WriteString(fmtCount(p.Goroutines))
	b.WriteString(" lag ")
	b.WriteString(fmtCount(p.StreamLag))
	return b.String()
}
