package loadtest

import (
	"regexp"
	"strings"
	"testing"
)

func TestLegendRowsWrap(t *testing.T) {
	tests := []struct {
		names []string
		rows  int
	}{
		{nil, 0},
		{[]string{"cpu"}, 1},
		{[]string{"delivery p99", "delivery p50", "ack p99"}, 1},
		{[]string{strings.Repeat("a", 60), strings.Repeat("b", 60), strings.Repeat("c", 60)}, 3},
		{[]string{strings.Repeat("x", 200)}, 1}, // one entry never wraps before itself
	}
	for _, tt := range tests {
		xs, rows, n := legendRows(tt.names)
		if n != tt.rows || len(xs) != len(tt.names) {
			t.Errorf("%d names: %d rows, want %d", len(tt.names), n, tt.rows)
			continue
		}
		// Entries of one row never overlap: each starts after the
		// previous one's estimated end.
		for i := 1; i < len(xs); i++ {
			if rows[i] == rows[i-1] && xs[i] < xs[i-1]+swatch+4+textWidth(tt.names[i-1], legendSize) {
				t.Errorf("entries %d and %d overlap: %v", i-1, i, xs)
			}
		}
	}
}

// TestChartsShareTheTimeAxis: every chart, server charts included, ends
// its time axis at the same second, the end of the longer timeline.
func TestChartsShareTheTimeAxis(t *testing.T) {
	r := &Result{Traffic: &TrafficReport{}}
	for s := 0; s <= 12; s++ {
		r.Timeline = append(r.Timeline, Sample{T: float64(s), Sent: 10, Acked: 10, Received: 10, Open: 5, AckP99: 2, DlvP99: 3})
	}
	// The servers were scraped a little past the client timeline.
	for s := 0; s <= 15; s += 3 {
		r.ServerTimeline = append(r.ServerTimeline, ServerPoint{T: float64(s) + 0.5, CPUPercent: 40, RSSBytes: 50 << 20, Goroutines: 100})
	}
	if got := timeSpan(r); got != 15.5 {
		t.Fatalf("time span %v, want 15.5", got)
	}
	last := regexp.MustCompile(`text-anchor="end">([0-9.]+s)</text>`)
	cs := charts(r)
	if len(cs) != 7 {
		t.Fatalf("%d charts", len(cs))
	}
	for i, c := range cs {
		if strings.Contains(string(c), ">no data<") {
			continue // connect latency: no samples here
		}
		m := last.FindAllStringSubmatch(string(c), -1)
		if len(m) == 0 || m[len(m)-1][1] != "16s" {
			t.Errorf("chart %d ends its time axis at %v, want 16s (15.5 rounded)", i, m)
		}
	}
}
