package loadtest

import (
	"fmt"
	"sync"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
)

// Histogram range: 1 µs to 10 min at 3 significant digits, so a p99 of
// 4.37 ms reads as 4.37 ms, and a stalled run still records its outliers
// instead of clamping them.
const (
	histLowest  = 1
	histHighest = int64(10 * time.Minute / time.Microsecond)
	histDigits  = 3
)

// latency is a concurrency-safe HDR histogram of durations. Recording is
// sharded: thousands of connection readers record at once, and one mutex
// would serialise them. Each shard also keeps an interval histogram that the
// progress line drains every second.
type latency struct {
	shards []latencyShard
}

type latencyShard struct {
	mu       sync.Mutex
	total    *hdrhistogram.Histogram
	interval *hdrhistogram.Histogram
	// Padding keeps shards on separate cache lines.
	_ [40]byte
}

func newLatency(shards int) *latency {
	if shards < 1 {
		shards = 1
	}
	l := &latency{shards: make([]latencyShard, shards)}
	for i := range l.shards {
		l.shards[i].total = hdrhistogram.New(histLowest, histHighest, histDigits)
		l.shards[i].interval = hdrhistogram.New(histLowest, histHighest, histDigits)
	}
	return l
}

// Record adds one duration; key spreads callers over shards (a connection
// index works well). Values are clamped into range rather than dropped: a
// negative duration (clock step) counts as the lowest value, not as a lost
// sample.
func (l *latency) Record(key int, d time.Duration) {
	us := int64(d / time.Microsecond)
	us = max(us, histLowest)
	us = min(us, histHighest)
	s := &l.shards[uint(key)%uint(len(l.shards))]
	s.mu.Lock()
	_ = s.total.RecordValue(us)
	_ = s.interval.RecordValue(us)
	s.mu.Unlock()
}

// Total merges every shard's whole-run histogram.
func (l *latency) Total() *hdrhistogram.Histogram {
	out := hdrhistogram.New(histLowest, histHighest, histDigits)
	for i := range l.shards {
		s := &l.shards[i]
		s.mu.Lock()
		out.Merge(s.total)
		s.mu.Unlock()
	}
	return out
}

// TakeInterval merges and resets the interval histograms.
func (l *latency) TakeInterval() *hdrhistogram.Histogram {
	out := hdrhistogram.New(histLowest, histHighest, histDigits)
	for i := range l.shards {
		s := &l.shards[i]
		s.mu.Lock()
		out.Merge(s.interval)
		s.interval.Reset()
		s.mu.Unlock()
	}
	return out
}

// Summary is the report of one latency histogram, in milliseconds.
type Summary struct {
	Count  int64   `json:"count"`
	MinMs  float64 `json:"min_ms"`
	MeanMs float64 `json:"mean_ms"`
	P50Ms  float64 `json:"p50_ms"`
	P90Ms  float64 `json:"p90_ms"`
	P99Ms  float64 `json:"p99_ms"`
	P999Ms float64 `json:"p999_ms"`
	MaxMs  float64 `json:"max_ms"`
}

// summarize reads the percentiles of h (recorded in microseconds).
func summarize(h *hdrhistogram.Histogram) Summary {
	if h.TotalCount() == 0 {
		return Summary{}
	}
	ms := func(us int64) float64 { return float64(us) / 1000 }
	return Summary{
		Count:  h.TotalCount(),
		MinMs:  ms(h.Min()),
		MeanMs: h.Mean() / 1000,
		P50Ms:  ms(h.ValueAtQuantile(50)),
		P90Ms:  ms(h.ValueAtQuantile(90)),
		P99Ms:  ms(h.ValueAtQuantile(99)),
		P999Ms: ms(h.ValueAtQuantile(99.9)),
		MaxMs:  ms(h.Max()),
	}
}

func (s Summary) String() string {
	if s.Count == 0 {
		return "no samples"
	}
	return fmt.Sprintf("n=%d p50=%s p90=%s p99=%s p99.9=%s max=%s mean=%s",
		s.Count, fmtMs(s.P50Ms), fmtMs(s.P90Ms), fmtMs(s.P99Ms), fmtMs(s.P999Ms), fmtMs(s.MaxMs), fmtMs(s.MeanMs))
}

// fmtMs prints milliseconds with precision that suits their size.
func fmtMs(ms float64) string {
	switch {
	case ms < 1:
		return fmt.Sprintf("%.3fms", ms)
	case ms < 100:
		return fmt.Sprintf("%.2fms", ms)
	default:
		return fmt.Sprintf("%.0fms", ms)
	}
}

// recordRaw adds count samples of a value already in microseconds (a
// worker's histogram bucket).
func (l *latency) recordRaw(key int, us, count int64) {
	us = min(max(us, histLowest), histHighest)
	s := &l.shards[uint(key)%uint(len(l.shards))]
	s.mu.Lock()
	_ = s.total.RecordValues(us, count)
	_ = s.interval.RecordValues(us, count)
	s.mu.Unlock()
}
