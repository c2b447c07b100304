package loadtest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"html/template"
	"math"
	"os"
	"strings"
)

// writeHTMLFile writes the self-contained HTML report of r: the verdict,
// the latency and throughput timelines as inline SVG, the servers' cost
// and the full JSON result. No script, stylesheet or font is fetched from
// anywhere, so the file can be archived with a release and opened offline.
func writeHTMLFile(path string, r *Result) error {
	var buf bytes.Buffer
	if err := writeHTML(&buf, r); err != nil {
		return err
	}
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		return fmt.Errorf("write HTML report: %w", err)
	}
	return nil
}

// series is one line of a chart.
type series struct {
	Name  string
	Color string
	X, Y  []float64
}

// Chart geometry, in SVG user units (the SVG scales to the page's width,
// text with it, so what does not overlap here does not overlap anywhere).
const (
	chartW, plotH                            = 860.0, 180.0
	chartLeft, chartRight, chartBottom       = 64.0, 16.0, 40.0
	titleSize, legendSize, axisSize          = 14.0, 12.0, 11.0
	titleBase, legendRowH, legendGap, swatch = 18.0, 18.0, 18.0, 10.0
)

// textWidth over-estimates the rendered width of s at size (system-ui
// averages about 0.55 em per character; 0.62 em leaves room), so that
// legend entries never run into each other.
func textWidth(s string, size float64) float64 {
	return 0.62 * size * float64(len([]rune(s)))
}

// legendRows lays the legend entries out left to right below the title,
// wrapping to a new row where the next entry would pass the right edge.
// It returns each entry's x and row.
func legendRows(names []string) (xs []float64, rows []int, n int) {
	x, row := chartLeft, 0
	for _, name := range names {
		w := swatch + 4 + textWidth(name, legendSize)
		if x > chartLeft && x+w > chartW-chartRight {
			x, row = chartLeft, row+1
		}
		xs, rows = append(xs, x), append(rows, row)
		x += w + legendGap
	}
	if len(names) > 0 {
		n = row + 1
	}
	return xs, rows, n
}

// svgChart renders a line chart of the series on shared axes: x from 0 to
// xmax seconds (the same for every chart of a report), y from 0. The
// title (with the unit) is on the first line, the legend on its own rows
// under it, then the plot.
func svgChart(title, unit string, xmax float64, ss []series) template.HTML {
	var ymax float64
	for _, s := range ss {
		for i := range s.X {
			if !math.IsNaN(s.Y[i]) {
				ymax = max(ymax, s.Y[i])
			}
		}
	}
	names := make([]string, len(ss))
	for i, s := range ss {
		names[i] = s.Name
	}
	lx, lrow, nrows := legendRows(names)
	// The top grid label's box reaches half a line above the plot.
	top := titleBase + 8 + float64(nrows)*legendRowH + axisSize
	h := top + plotH + chartBottom
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 %.0f %.0f" width="100%%" preserveAspectRatio="xMinYMin meet" role="img" aria-label="%s">`,
		chartW, h, template.HTMLEscapeString(title))
	heading := title
	if unit != "" {
		heading += " (" + unit + ")"
	}
	fmt.Fprintf(&b, `<text x="%.0f" y="%.0f" font-size="%.0f" font-weight="bold">%s</text>`, chartLeft, titleBase, titleSize, template.HTMLEscapeString(heading))
	for i, s := range ss {
		y := titleBase + 8 + float64(lrow[i]+1)*legendRowH - 5
		fmt.Fprintf(&b, `<rect x="%.1f" y="%.1f" width="%.0f" height="%.0f" fill="%s"/><text x="%.1f" y="%.1f" font-size="%.0f">%s</text>`,
			lx[i], y-swatch+1, swatch, swatch, s.Color, lx[i]+swatch+4, y, legendSize, template.HTMLEscapeString(s.Name))
	}
	if xmax <= 0 || ymax <= 0 {
		fmt.Fprintf(&b, `<text x="%.0f" y="%.0f" font-size="12">no data</text></svg>`, chartLeft, top+plotH/2)
		return template.HTML(b.String())
	}
	ymax = niceCeil(ymax)
	px := func(x float64) float64 { return chartLeft + (chartW-chartLeft-chartRight)*x/xmax }
	py := func(y float64) float64 { return top + plotH - plotH*y/ymax }
	for k := 0; k <= 4; k++ {
		y := ymax * float64(k) / 4
		fmt.Fprintf(&b, `<line x1="%.0f" x2="%.0f" y1="%.1f" y2="%.1f" stroke="#ddd"/>`, chartLeft, chartW-chartRight, py(y), py(y))
		fmt.Fprintf(&b, `<text x="%.0f" y="%.1f" font-size="%.0f" text-anchor="end">%s</text>`, chartLeft-6, py(y)+4, axisSize, fmtAxis(y))
	}
	// Time labels sit a full line under the plot, clear of the lowest
	// grid label; the first is left-aligned so it does not reach under it.
	for k := 0; k <= 5; k++ {
		x := xmax * float64(k) / 5
		anchor := "middle"
		switch k {
		case 0:
			anchor = "start"
		case 5:
			anchor = "end"
		}
		fmt.Fprintf(&b, `<text x="%.1f" y="%.0f" font-size="%.0f" text-anchor="%s">%s</text>`, px(x), top+plotH+20, axisSize, anchor, fmtSeconds(x))
	}
	for _, s := range ss {
		var pts []string
		for i := range s.X {
			if math.IsNaN(s.Y[i]) || s.X[i] > xmax {
				continue
			}
			pts = append(pts, fmt.Sprintf("%.1f,%.1f", px(s.X[i]), py(s.Y[i])))
		}
		if len(pts) > 0 {
			fmt.Fprintf(&b, `<polyline fill="none" stroke="%s" stroke-width="1.5" points="%s"/>`, s.Color, strings.Join(pts, " "))
		}
	}
	b.WriteString(`</svg>`)
	return template.HTML(b.String())
}

// fmtSeconds labels the time axis: whole seconds, or tenths on short runs.
func fmtSeconds(x float64) string {
	if x == math.Trunc(x) || x >= 10 {
		return fmt.Sprintf("%.0fs", x)
	}
	return fmt.Sprintf("%.1fs", x)
}

// niceCeil rounds v up to 1, 2 or 5 times a power of ten.
func niceCeil(v float64) float64 {
	p := math.Pow(10, math.Floor(math.Log10(v)))
	for _, m := range []float64{1, 2, 5, 10} {
		if m*p >= v {
			return m * p
		}
	}
	return 10 * p
}

func fmtAxis(v float64) string {
	switch {
	case v >= 1e6:
		return fmt.Sprintf("%.1fM", v/1e6)
	case v >= 1e4:
		return fmt.Sprintf("%.0fk", v/1e3)
	case v >= 10 || v == 0:
		return fmt.Sprintf("%.0f", v)
	}
	return fmt.Sprintf("%.2g", v)
}

// timeSpan is the time axis every chart of a report shares: from the
// start of the run to the last sample of either timeline (the client
// samples and the server scrapes count from the same start).
func timeSpan(r *Result) float64 {
	var end float64
	for _, s := range r.Timeline {
		end = max(end, s.T)
	}
	for _, p := range r.ServerTimeline {
		end = max(end, p.T)
	}
	return end
}

// charts builds the report's charts from the timelines.
func charts(r *Result) []template.HTML {
	tl := r.Timeline
	span := timeSpan(r)
	col := func(f func(Sample) float64, skipZero bool) ([]float64, []float64) {
		var xs, ys []float64
		for _, s := range tl {
			v := f(s)
			if skipZero && v == 0 {
				v = math.NaN()
			}
			xs = append(xs, s.T)
			ys = append(ys, v)
		}
		return xs, ys
	}
	mk := func(name, color string, f func(Sample) float64, skipZero bool) series {
		x, y := col(f, skipZero)
		return series{Name: name, Color: color, X: x, Y: y}
	}
	var out []template.HTML
	if r.Traffic != nil {
		out = append(out,
			svgChart("Latency over time, per second", "ms", span, []series{
				mk("delivery p99", "#d62728", func(s Sample) float64 { return s.DlvP99 }, true),
				mk("delivery p50", "#ff9896", func(s Sample) float64 { return s.DlvP50 }, true),
				mk("ack p99", "#1f77b4", func(s Sample) float64 { return s.AckP99 }, true),
			}),
			svgChart("Throughput", "per second", span, []series{
				mk("sent", "#7f7f7f", func(s Sample) float64 { return s.Sent }, false),
				mk("acked", "#1f77b4", func(s Sample) float64 { return s.Acked }, false),
				mk("received", "#2ca02c", func(s Sample) float64 { return s.Received }, false),
			}))
	}
	out = append(out,
		svgChart("Connections", "open, and connects per second", span, []series{
			mk("open", "#9467bd", func(s Sample) float64 { return float64(s.Open) }, false),
			mk("connects/s", "#8c564b", func(s Sample) float64 { return s.Connects }, false),
		}),
		svgChart("Connect latency p99, dial to hello", "ms", span, []series{
			mk("connect p99", "#8c564b", func(s Sample) float64 { return s.ConnP99 }, true),
		}))
	if len(r.ServerTimeline) > 0 {
		var x, cpu, rss, gor, lag []float64
		for _, p := range r.ServerTimeline {
			x = append(x, p.T)
			cpu = append(cpu, p.CPUPercent)
			rss = append(rss, p.RSSBytes/(1<<20))
			gor = append(gor, p.Goroutines)
			lag = append(lag, p.StreamLag)
		}
		out = append(out,
			svgChart("Servers: CPU, sum of chatgate processes", "% of one core", span, []series{{Name: "cpu", Color: "#ff7f0e", X: x, Y: cpu}}),
			svgChart("Servers: RSS, sum", "MiB", span, []series{{Name: "rss", Color: "#17becf", X: x, Y: rss}}),
			svgChart("Servers: goroutines (sum) and ingress stream lag (max)", "count", span, []series{
				{Name: "goroutines", Color: "#bcbd22", X: x, Y: gor}, {Name: "stream lag", Color: "#e377c2", X: x, Y: lag}}),
		)
	}
	return out
}

// reportHTML is the report's template, parsed per report (once a run).
const reportHTML = `<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<title>chatgate loadtest {{.R.Scenario}}: {{.Verdict}}</title>
<style>
*{box-sizing:border-box}
body{font-family:system-ui,sans-serif;margin:24px auto;padding:0 16px;max-width:932px;color:#222}
h1{font-size:22px;overflow-wrap:anywhere} h2{font-size:17px;margin-top:28px}
p{overflow-wrap:anywhere}
.pass{color:#2ca02c} .fail{color:#d62728}
.table{overflow-x:auto}
table{border-collapse:collapse;font-size:13px} td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}
th{background:#f4f4f4} td:first-child,th:first-child{text-align:left}
pre{background:#f7f7f7;padding:8px;font-size:12px;margin:0;white-space:pre-wrap;overflow-wrap:anywhere}
.chart{margin:12px 0}
.chart svg{display:block;width:100%;height:auto}
details summary{cursor:pointer;font-size:17px;font-weight:bold;margin-top:28px}
</style></head><body>
<h1>chatgate loadtest <code>{{.R.Scenario}}</code>: <span class="{{.Class}}">{{.Verdict}}</span></h1>
<p>Started {{.R.Started.Format "2006-01-02 15:04:05 MST"}}, {{printf "%.1f" .R.Seconds}} s{{if .R.Workers}}, {{.R.Workers}} load processes{{end}}.
Error rate {{printf "%.4f" .ErrPct}}% ({{.R.FailedOps}} of {{.R.Operations}} connects and sends).
Load average {{printf "%.2f" .R.LoadStart}} at start, {{printf "%.2f" .R.LoadEnd}} at end.</p>
{{range .R.Failures}}<p class="fail">failure: {{.}}</p>{{end}}
<h2>Summary</h2>
<pre>{{.Summary}}</pre>
{{if .Latencies}}<h2>Latency (ms)</h2>
<div class="table"><table><tr><th>histogram</th><th>count</th><th>p50</th><th>p90</th><th>p99</th><th>p99.9</th><th>max</th></tr>
{{range .Latencies}}<tr><td>{{.Name}}</td><td>{{.S.Count}}</td><td>{{printf "%.2f" .S.P50Ms}}</td><td>{{printf "%.2f" .S.P90Ms}}</td><td>{{printf "%.2f" .S.P99Ms}}</td><td>{{printf "%.2f" .S.P999Ms}}</td><td>{{printf "%.2f" .S.MaxMs}}</td></tr>
{{end}}</table></div>{{end}}
<h2>Timelines</h2>
<p>Every chart shares one time axis: seconds since the start of the run.</p>
{{range .Charts}}<div class="chart">{{.}}</div>{{end}}
<details><summary>Full result (JSON)</summary>
<pre>{{.JSON}}</pre>
</details>
</body></html>
`

type namedSummary struct {
	Name string
	S    Summary
}

func writeHTML(w *bytes.Buffer, r *Result) error {
	var sum bytes.Buffer
	writeSummary(&sum, r)
	js, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return fmt.Errorf("encode result: %w", err)
	}
	verdict, class := "PASS", "pass"
	if !r.OK {
		verdict, class = "FAIL", "fail"
	}
	var lat []namedSummary
	if c := r.Connect; c != nil {
		lat = append(lat, namedSummary{"dial -> hello", c.Latency})
	}
	if t := r.Traffic; t != nil {
		lat = append(lat, namedSummary{"send -> ack", t.AckLatency}, namedSummary{"send -> delivery (live)", t.DeliveryLatency},
			namedSummary{"schedule lag (harness)", t.ScheduleLag})
	}
	if p := r.Push; p != nil {
		lat = append(lat, namedSummary{"push/notify -> device's push at the fake", p.Reach})
	}
	if c := r.Churn; c != nil {
		lat = append(lat, namedSummary{"send -> delivery (by sync)", c.SyncLatency},
			namedSummary{"churn: back online -> caught up", c.Reconnect}, namedSummary{"churn: wave cut -> all caught up", c.WaveRecovery})
	}
	tmpl, err := template.New("report").Parse(reportHTML)
	if err != nil {
		return fmt.Errorf("parse HTML template: %w", err)
	}
	err = tmpl.Execute(w, map[string]any{
		"R": r, "Verdict": verdict, "Class": class, "ErrPct": 100 * r.ErrorRate,
		"Summary": sum.String(), "Latencies": lat, "Charts": charts(r), "JSON": string(js),
	})
	if err != nil {
		return fmt.Errorf("render HTML report: %w", err)
	}
	return nil
}
