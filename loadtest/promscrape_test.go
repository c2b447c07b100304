package loadtest

import (
	"context"
	"math"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
)

const exposition = `# HELP process_resident_memory_bytes Resident memory size in bytes.
# TYPE process_resident_memory_bytes gauge
process_resident_memory_bytes 1.048576e+07
# HELP process_cpu_seconds_total Total user and system CPU time spent in seconds.
# TYPE process_cpu_seconds_total counter
process_cpu_seconds_total 1.5
# HELP go_goroutines Number of goroutines that currently exist.
# TYPE go_goroutines gauge
go_goroutines 20
# HELP chatgate_gateway_errors_total err frames sent to clients.
# TYPE chatgate_gateway_errors_total counter
chatgate_gateway_errors_total{code="rate_limited"} 3
chatgate_gateway_errors_total{code="bad_frame"} 1
# HELP chatgate_gateway_deliveries_total msg frames queued to sockets.
# TYPE chatgate_gateway_deliveries_total counter
chatgate_gateway_deliveries_total 1000
# HELP chatgate_gateway_connections Open connections.
# TYPE chatgate_gateway_connections gauge
chatgate_gateway_connections 10
# HELP chatgate_build_info Always 1.
# TYPE chatgate_build_info gauge
chatgate_build_info{version="dev"} 1
# HELP chatgate_gateway_delivery_latency_seconds Delivery latency.
# TYPE chatgate_gateway_delivery_latency_seconds histogram
chatgate_gateway_delivery_latency_seconds_bucket{le="0.001"} 10
chatgate_gateway_delivery_latency_seconds_bucket{le="0.01"} 20
chatgate_gateway_delivery_latency_seconds_bucket{le="+Inf"} 20
chatgate_gateway_delivery_latency_seconds_sum 0.05
chatgate_gateway_delivery_latency_seconds_count 20
`

// later is exposition after some work: +1 s CPU, +4 MiB, +500 deliveries,
// +2 rate-limited errors, and 100 more latency samples, all in (1, 10] ms.
func later() string {
	return strings.NewReplacer(
		"process_resident_memory_bytes 1.048576e+07", "process_resident_memory_bytes 1.4680064e+07",
		"process_cpu_seconds_total 1.5", "process_cpu_seconds_total 2.5",
		"chatgate_gateway_deliveries_total 1000", "chatgate_gateway_deliveries_total 1500",
		`{code="rate_limited"} 3`, `{code="rate_limited"} 5`,
		`le="0.01"} 20`, `le="0.01"} 120`,
		`le="+Inf"} 20`, `le="+Inf"} 120`,
		"_sum 0.05", "_sum 0.55",
		"_count 20", "_count 120",
	).Replace(exposition)
}

func snapshotOf(t *testing.T, text string, at time.Time) *metricsSnapshot {
	t.Helper()
	fams, err := parseMetrics(strings.NewReader(text))
	if err != nil {
		t.Fatal(err)
	}
	return &metricsSnapshot{at: at, families: fams}
}

func TestParseMetrics(t *testing.T) {
	s := snapshotOf(t, exposition, time.Now())
	tests := []struct {
		name string
		want float64
		ok   bool
	}{
		{"process_resident_memory_bytes", 10 << 20, true},
		{"go_goroutines", 20, true},
		{"chatgate_gateway_errors_total", 4, true}, // summed over labels
		{"chatgate_missing", 0, false},
	}
	for _, tt := range tests {
		got, ok := s.value(tt.name)
		if got != tt.want || ok != tt.ok {
			t.Errorf("value(%s) = %v, %v; want %v, %v", tt.name, got, ok, tt.want, tt.ok)
		}
	}
	series := s.series("chatgate_", dto.MetricType_COUNTER)
	if series[`chatgate_gateway_errors_total{code="rate_limited"}`] != 3 || series["chatgate_gateway_errors_total"] != 4 {
		t.Errorf("series = %v", series)
	}
	if _, err := parseMetrics(strings.NewReader("not { a metric")); err == nil {
		t.Error("garbage parsed without error")
	}
}

func TestProcessReport(t *testing.T) {
	t0 := time.Unix(1000, 0)
	b := snapshotOf(t, exposition, t0)
	a := snapshotOf(t, later(), t0.Add(10*time.Second))
	p := processReport(Target{Name: "gw1", Role: RoleGateway}, b, a, nil)
	if p.Seconds != 10 || p.CPUSeconds != 1 || p.CPUPercent != 10 {
		t.Errorf("window %v s, cpu %v s (%v%%), want 10, 1, 10", p.Seconds, p.CPUSeconds, p.CPUPercent)
	}
	if p.RSSAfterBytes-p.RSSBeforeBytes != 4<<20 {
		t.Errorf("rss delta %v, want 4 MiB", p.RSSAfterBytes-p.RSSBeforeBytes)
	}
	if p.counter("chatgate_gateway_deliveries_total") != 500 {
		t.Errorf("deliveries delta %v, want 500", p.counter("chatgate_gateway_deliveries_total"))
	}
	if got := p.Counters[`chatgate_gateway_errors_total{code="rate_limited"}`]; got != 2 {
		t.Errorf("rate_limited delta %v, want 2", got)
	}
	if _, ok := p.Counters[`chatgate_gateway_errors_total{code="bad_frame"}`]; ok {
		t.Error("unchanged counter reported")
	}
	if _, ok := p.Gauges["chatgate_build_info"]; ok {
		t.Error("build info reported as a gauge")
	}
	h, ok := p.Histograms["chatgate_gateway_delivery_latency_seconds"]
	if !ok || h.Count != 100 || h.Unit != "ms" || math.Abs(h.Mean-5) > 1e-9 {
		t.Fatalf("histogram delta = %+v, want 100 samples of mean 5 ms", h)
	}
	// All 100 new samples are in (1, 10] ms: the median interpolates to 5.5.
	if math.Abs(h.P50-5.5) > 1e-9 || math.Abs(h.P99-9.91) > 1e-9 {
		t.Errorf("p50 %v p99 %v, want 5.5 and 9.91", h.P50, h.P99)
	}
}

func TestHistogramQuantile(t *testing.T) {
	h := histogram{count: 100, bounds: []float64{1, 2, math.Inf(1)}, cum: []float64{50, 90, 100}}
	tests := []struct{ q, want float64 }{
		{0.25, 0.5}, {0.5, 1}, {0.7, 1.5}, {0.9, 2}, {0.99, 2},
	}
	for _, tt := range tests {
		if got := h.quantile(tt.q); math.Abs(got-tt.want) > 1e-9 {
			t.Errorf("quantile(%v) = %v, want %v", tt.q, got, tt.want)
		}
	}
	if !math.IsNaN((histogram{}).quantile(0.5)) {
		t.Error("empty histogram has a quantile")
	}
}

func TestScrapeMetrics(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/metrics" {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "text/plain; version=0.0.4")
		_, _ = w.Write([]byte(exposition))
	}))
	defer srv.Close()
	s, err := scrapeMetrics(context.Background(), srv.Client(), srv.URL+"/")
	if err != nil {
		t.Fatal(err)
	}
	if v, _ := s.value("go_goroutines"); v != 20 {
		t.Fatalf("go_goroutines = %v", v)
	}
	if _, err := scrapeMetrics(context.Background(), srv.Client(), srv.URL+"/nope"); err == nil {
		t.Fatal("a 404 scraped without error")
	}
}

func TestParseRedisInfo(t *testing.T) {
	info := parseRedisInfo("# Memory\r\nused_memory:1048576\r\nused_memory_rss:2097152\r\n# CPU\r\nused_cpu_sys:1.25\r\nused_cpu_user:0.75\r\n" +
		"# Clients\r\nconnected_clients:7\r\n# Stats\r\ntotal_commands_processed:1000\r\ninstantaneous_ops_per_sec:12\r\n" +
		"# Keyspace\r\ndb0:keys=10,expires=2,avg_ttl=0\r\ndb1:keys=5,expires=0,avg_ttl=0\r\n")
	if info.usedMemory != 1<<20 || info.usedMemoryRSS != 2<<20 || info.cpuSeconds != 2 || info.clients != 7 ||
		info.commands != 1000 || info.keys != 15 {
		t.Fatalf("parsed %+v", info)
	}
	after := *info
	after.at = info.at.Add(2 * time.Second)
	after.cpuSeconds += 1
	after.commands += 500
	r := redisReport("x", info, &after)
	if r.CPUSeconds != 1 || r.CPUPercent != 50 || r.CommandsPerSecond != 250 {
		t.Fatalf("report %+v", r)
	}
}
