package loadtest

import (
	"fmt"
	"io"
	"sort"
	"strings"
)

// noisyOther is the CPU (in cores) that processes outside a run may use
// before the summary warns that the numbers are not clean.
const noisyOther = 0.1

// writeSummary prints the human-readable report of a run.
func writeSummary(w io.Writer, r *Result) {
	verdict := "PASS"
	if !r.OK {
		verdict = "FAIL"
	}
	fmt.Fprintf(w, "\nchatgate loadtest %s: %s (%.1f s)\n", r.Scenario, verdict, r.Seconds)
	if r.Workers > 1 {
		fmt.Fprintf(w, "load processes: %d (harness figures below are their sum)\n", r.Workers)
	}
	for _, f := range r.Failures {
		fmt.Fprintf(w, "  failure: %s\n", f)
	}
	if c := r.Connect; c != nil {
		fmt.Fprintf(w, "connect: %d/%d established in %.1f s (%.0f/s), %d failed, %d reconnects, %d disconnects\n",
			c.Established, c.Target, c.RampSeconds, c.RampRate, c.Failed, c.Reconnects, c.Disconnects)
		fmt.Fprintf(w, "  dial->hello     %s\n", c.Latency)
	}
	if t := r.Traffic; t != nil {
		fmt.Fprintf(w, "traffic: offered %.0f msg/s: planned %d, sent %d in %.1f s, acked %d (%.0f/s up to the last ack), refused %d, unanswered %d\n",
			t.OfferedRate, t.Planned, t.Sent, t.SendSeconds, t.Acked, t.AckRate, t.SendErrors, t.Unanswered)
		fmt.Fprintf(w, "  %d sending devices, busiest %.2f msg/s\n", t.Senders, t.MaxDeviceRate)
		fmt.Fprintf(w, "  send->ack       %s\n", t.AckLatency)
		fmt.Fprintf(w, "  send->delivery  %s\n", t.DeliveryLatency)
		fmt.Fprintf(w, "  schedule lag    %s\n", t.ScheduleLag)
		fmt.Fprintf(w, "  deliveries: expected %d, received %d (%.0f/s), %d of them by sync\n",
			t.Expected, t.Received, t.DeliveryRate, t.Synced)
	}
	if c := r.Churn; c != nil {
		fmt.Fprintf(w, "churn: %d waves, %d connections cut (offline %.1f s each), %d back and caught up; %d deliveries by sync\n",
			c.Waves, c.DevicesCut, c.DownSeconds, c.Recovered, c.SyncedDeliveries)
		fmt.Fprintf(w, "  back online->synced  %s\n", c.Reconnect)
		fmt.Fprintf(w, "  wave cut->all synced %s\n", c.WaveRecovery)
		fmt.Fprintf(w, "  send->sync delivery  %s\n", c.SyncLatency)
	}
	writePush(w, r.Push)
	if r.Ledger != nil {
		fmt.Fprintf(w, "ledger: %s\n", r.Ledger)
	}
	fmt.Fprintf(w, "error rate: %.4f%% (%d failed of %d connects and sends)\n", 100*r.ErrorRate, r.FailedOps, r.Operations)
	if r.PeakStreamLag > 0 || len(r.ServerTimeline) > 0 {
		fmt.Fprintf(w, "peak ingress stream lag seen by the scrapes: %.0f entries\n", r.PeakStreamLag)
	}
	if len(r.Errors) > 0 {
		fmt.Fprintf(w, "errors:\n")
		for _, k := range sortedKeys(r.Errors) {
			fmt.Fprintf(w, "  %-40s %d\n", k, r.Errors[k])
		}
	}
	writeServers(w, r)
	writeGateways(w, r.Gateways)
	if rd := r.Redis; rd != nil {
		if rd.Error != "" {
			fmt.Fprintf(w, "redis %s: %s\n", rd.Addr, rd.Error)
		} else {
			fmt.Fprintf(w, "redis %s: cpu %.2f s (%.0f%% of a core), %.0f commands/s, used_memory %s -> %s, rss %s, %0.f clients\n",
				rd.Addr, rd.CPUSeconds, rd.CPUPercent, rd.CommandsPerSecond, fmtBytes(rd.UsedMemoryBefore), fmtBytes(rd.UsedMemoryAfter),
				fmtBytes(rd.UsedMemoryRSSAfter), rd.ClientsAfter)
		}
	}
	if m := r.Machine; m != nil {
		fmt.Fprintf(w, "machine over the window: %.2f of %d cores busy: chatgate %.2f, redis %.2f, harness %.2f, other %.2f\n",
			m.Busy, m.Cores, m.Servers, m.Redis, m.Harness, m.Other)
		if m.Other > noisyOther {
			fmt.Fprintf(w, "WARNING: processes outside this run used %.2f cores meanwhile; the latencies include that competition\n", m.Other)
		}
	}
	h := r.Harness
	fmt.Fprintf(w, "harness: cpu %.1f s (%.0f%% of a core), max RSS %s, peak goroutines %d; machine load average %.2f at start, %.2f at end\n",
		h.CPUSeconds, h.CPUPercent, fmtBytes(float64(h.MaxRSSBytes)), h.Goroutines, r.LoadStart, r.LoadEnd)
}

func writeServers(w io.Writer, r *Result) {
	if len(r.Servers) == 0 {
		return
	}
	fmt.Fprintf(w, "servers (%s):\n", r.Window)
	fmt.Fprintf(w, "  %-8s %-8s %8s %6s %21s %15s\n", "name", "role", "cpu s", "cpu%", "rss before -> after", "goroutines")
	for _, p := range r.Servers {
		if p.Error != "" {
			fmt.Fprintf(w, "  %-8s %-8s %s\n", p.Name, p.Role, p.Error)
			continue
		}
		fmt.Fprintf(w, "  %-8s %-8s %8.2f %5.0f%% %9s -> %9s %6.0f -> %6.0f\n", p.Name, p.Role, p.CPUSeconds, p.CPUPercent,
			fmtBytes(p.RSSBeforeBytes), fmtBytes(p.RSSAfterBytes), p.GoroutinesBefore, p.GoroutinesAfter)
	}
	for _, p := range r.Servers {
		var parts []string
		for _, k := range sortedKeys(p.Counters) {
			if !strings.Contains(k, "{") {
				parts = append(parts, fmt.Sprintf("%s=%.0f", strings.TrimPrefix(k, "chatgate_"), p.Counters[k]))
			}
		}
		if len(parts) > 0 {
			fmt.Fprintf(w, "  %s counters: %s\n", p.Name, strings.Join(parts, " "))
		}
		for _, k := range sortedKeys(p.Histograms) {
			hs := p.Histograms[k]
			fmt.Fprintf(w, "  %s %s: n=%.0f mean=%.3g p50=%.3g p99=%.3g %s\n", p.Name, strings.TrimPrefix(k, "chatgate_"),
				hs.Count, hs.Mean, hs.P50, hs.P99, hs.Unit)
		}
	}
}

func writeGateways(w io.Writer, gs []GatewayCost) {
	for _, g := range gs {
		if g.Connections > 0 && (g.RSSPerConnKiB != 0 || g.GoroutinesPerConn != 0) {
			fmt.Fprintf(w, "gateway %s: %d connections: %.2f KiB RSS/conn (heap in use %.2f, stacks %.2f, free heap not returned %.2f KiB/conn), %.2f goroutines/conn, "+
				"connect %.3f ms CPU/conn, idle %.2f µs CPU/conn/s (%.1f%% of a core), goroutines %0.f baseline -> %.0f after close\n",
				g.Name, g.Connections, g.RSSPerConnKiB, g.HeapPerConnKiB, g.StackPerConnKiB, g.IdleHeapPerConnKiB, g.GoroutinesPerConn,
				g.ConnectCPUMsPerConn, g.IdleCPUUsPerConnSec, g.IdleCPUPercent, g.GoroutinesBaseline, g.GoroutinesAfterClose)
		}
		if g.Deliveries > 0 || g.CPUSeconds > 0 {
			fmt.Fprintf(w, "gateway %s: %.0f deliveries (harness received %d) / %.2f CPU s = %.0f deliveries per CPU-second\n",
				g.Name, g.Deliveries, g.HarnessReceived, g.CPUSeconds, g.DeliveriesPerCPUSecond)
		}
	}
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func fmtBytes(b float64) string {
	switch {
	case b >= 1<<30:
		return fmt.Sprintf("%.2f GiB", b/(1<<30))
	case b >= 1<<20:
		return fmt.Sprintf("%.1f MiB", b/(1<<20))
	case b >= 1<<10:
		return fmt.Sprintf("%.1f KiB", b/(1<<10))
	}
	return fmt.Sprintf("%.0f B", b)
}

func fmtPct(v float64) string { return fmt.Sprintf("%.0f%%", v) }

func fmtCount(v float64) string { return fmt.Sprintf("%.0f", v) }
