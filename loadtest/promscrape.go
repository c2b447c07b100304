package loadtest

import (
	"context"
	"fmt"
	"io"
	"math"
	"net/http"
	"sort"
	"strings"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// metricsSnapshot is one scrape of a process's /metrics.
type metricsSnapshot struct {
	at       time.Time
	families map[string]*dto.MetricFamily
}

// scrapeMetrics fetches and parses base+"/metrics". It asks for the text
// format, which every Prometheus client library serves.
func scrapeMetrics(ctx context.Context, hc *http.Client, base string) (*metricsSnapshot, error) {
	u := strings.TrimSuffix(base, "/") + "/metrics"
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, fmt.Errorf("scrape %s: %w", u, err)
	}
	req.Header.Set("Accept", "text/plain;version=0.0.4")
	resp, err := hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("scrape %s: %w", u, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 4<<10))
		return nil, fmt.Errorf("scrape %s: HTTP %s", u, resp.Status)
	}
	fams, err := parseMetrics(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return nil, fmt.Errorf("scrape %s: %w", u, err)
	}
	return &metricsSnapshot{at: time.Now(), families: fams}, nil
}

// parseMetrics parses the Prometheus text exposition format.
func parseMetrics(r io.Reader) (map[string]*dto.MetricFamily, error) {
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(r)
	if err != nil {
		return nil, fmt.Errorf("parse metrics: %w", err)
	}
	return fams, nil
}

// value is the sum over every series of a counter, gauge or untyped metric,
// and whether the metric exists.
func (s *metricsSnapshot) value(name string) (float64, bool) {
	if s == nil {
		return 0, false
	}
	mf := s.families[name]
	if mf == nil {
		return 0, false
	}
	var sum float64
	for _, m := range mf.GetMetric() {
		sum += scalar(m)
	}
	return sum, true
}

func scalar(m *dto.Metric) float64 {
	switch {
	case m.GetCounter() != nil:
		return m.GetCounter().GetValue()
	case m.GetGauge() != nil:
		return m.GetGauge().GetValue()
	case m.GetUntyped() != nil:
		return m.GetUntyped().GetValue()
	}
	return 0
}

// series flattens the counter, gauge and untyped series of the metrics
// whose name starts with prefix: "name" holds the sum over label values and
// `name{k="v"}` each labelled series.
func (s *metricsSnapshot) series(prefix string, typ dto.MetricType) map[string]float64 {
	out := map[string]float64{}
	if s == nil {
		return out
	}
	for name, mf := range s.families {
		if !strings.HasPrefix(name, prefix) || mf.GetType() != typ {
			continue
		}
		var sum float64
		for _, m := range mf.GetMetric() {
			v := scalar(m)
			sum += v
			if ls := labelString(m); ls != "" {
				out[name+ls] = v
			}
		}
		out[name] = sum
	}
	return out
}

func labelString(m *dto.Metric) string {
	lps := m.GetLabel()
	if len(lps) == 0 {
		return ""
	}
	parts := make([]string, 0, len(lps))
	for _, lp := range lps {
		parts = append(parts, fmt.Sprintf("%s=%q", lp.GetName(), lp.GetValue()))
	}
	sort.Strings(parts)
	return "{" + strings.Join(parts, ",") + "}"
}

// histogram is a Prometheus histogram summed over its label values.
type histogram struct {
	count, sum float64
	bounds     []float64 // upper bounds, ascending, +Inf last
	cum        []float64 // cumulative counts per bound
}

func (s *metricsSnapshot) histogram(name string) (histogram, bool) {
	var h histogram
	if s == nil {
		return h, false
	}
	mf := s.families[name]
	if mf == nil || mf.GetType() != dto.MetricType_HISTOGRAM {
		return h, false
	}
	byBound := map[float64]float64{}
	for _, m := range mf.GetMetric() {
		ph := m.GetHistogram()
		h.count += float64(ph.GetSampleCount())
		h.sum += ph.GetSampleSum()
		for _, b := range ph.GetBucket() {
			byBound[b.GetUpperBound()] += float64(b.GetCumulativeCount())
		}
	}
	byBound[math.Inf(1)] = h.count
	for b := range byBound {
		h.bounds = append(h.bounds, b)
	}
	sort.Float64s(h.bounds)
	for _, b := range h.bounds {
		h.cum = append(h.cum, byBound[b])
	}
	return h, true
}

// sub is the histogram of the observations between before and h.
func (h histogram) sub(before histogram) histogram {
	out := histogram{count: h.count - before.count, sum: h.sum - before.sum, bounds: h.bounds}
	prev := map[float64]float64{}
	for i, b := range before.bounds {
		prev[b] = before.cum[i]
	}
	for i, b := range h.bounds {
		out.cum = append(out.cum, h.cum[i]-prev[b])
	}
	return out
}

// quantile estimates the q-quantile (0..1) the way PromQL's
// histogram_quantile does: linear interpolation inside the bucket that
// holds the rank. It returns NaN without observations and the highest
// finite bound when the rank falls in the +Inf bucket.
func (h histogram) quantile(q float64) float64 {
	if h.count <= 0 || len(h.bounds) == 0 {
		return math.NaN()
	}
	rank := q * h.count
	lower, lowerCum := 0.0, 0.0
	for i, b := range h.bounds {
		if h.cum[i] >= rank {
			if math.IsInf(b, 1) {
				return lower
			}
			in := h.cum[i] - lowerCum
			if in <= 0 {
				return b
			}
			return lower + (b-lower)*(rank-lowerCum)/in
		}
		lower, lowerCum = b, h.cum[i]
	}
	return lower
}
