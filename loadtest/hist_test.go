package loadtest

import (
	"math"
	"sync"
	"testing"
	"time"
)

func TestLatencySummary(t *testing.T) {
	l := newLatency(8)
	// 1..1000 ms, one sample each, recorded from many shards at once.
	var wg sync.WaitGroup
	for g := 0; g < 10; g++ {
		wg.Go(func() {
			for i := g*100 + 1; i <= g*100+100; i++ {
				l.Record(i, time.Duration(i)*time.Millisecond)
			}
		})
	}
	wg.Wait()
	s := summarize(l.Total())
	checks := []struct {
		name      string
		got, want float64
	}{
		{"p50", s.P50Ms, 500},
		{"p90", s.P90Ms, 900},
		{"p99", s.P99Ms, 990},
		{"p99.9", s.P999Ms, 999},
		{"max", s.MaxMs, 1000},
		{"min", s.MinMs, 1},
		{"mean", s.MeanMs, 500.5},
	}
	if s.Count != 1000 {
		t.Fatalf("count %d, want 1000", s.Count)
	}
	for _, c := range checks {
		// Three significant digits: within 0.1% (plus a bucket).
		if math.Abs(c.got-c.want) > c.want*0.002+0.001 {
			t.Errorf("%s = %v, want %v", c.name, c.got, c.want)
		}
	}
}

func TestLatencyClampsOutOfRange(t *testing.T) {
	l := newLatency(1)
	l.Record(0, -5*time.Second) // clock step: counted as the lowest value
	l.Record(0, 0)
	l.Record(0, 2*time.Hour) // beyond the range: counted as the highest
	s := summarize(l.Total())
	if s.Count != 3 {
		t.Fatalf("count %d, want 3: out-of-range samples must not be dropped", s.Count)
	}
	if s.MaxMs < 599_000 {
		t.Fatalf("max %v ms, want about 10 min", s.MaxMs)
	}
}

func TestLatencyInterval(t *testing.T) {
	l := newLatency(4)
	l.Record(1, time.Millisecond)
	l.Record(2, 2*time.Millisecond)
	if got := summarize(l.TakeInterval()).Count; got != 2 {
		t.Fatalf("first interval has %d samples, want 2", got)
	}
	l.Record(3, 3*time.Millisecond)
	if got := summarize(l.TakeInterval()).Count; got != 1 {
		t.Fatalf("second interval has %d samples, want 1", got)
	}
	if got := summarize(l.Total()).Count; got != 3 {
		t.Fatalf("total has %d samples, want 3", got)
	}
}

func TestEmptySummary(t *testing.T) {
	s := summarize(newLatency(1).Total())
	if s != (Summary{}) || s.String() != "no samples" {
		t.Fatalf("empty summary = %+v %q", s, s)
	}
}
