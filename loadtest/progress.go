package loadtest

import (
	"fmt"
	"io"
	"runtime"
	"sync/atomic"
	"time"
)

// progress prints one line per second while a run goes: what the harness
// is doing, rates and p99s over the last second, the delivery p99 of the
// run so far and the servers' CPU, RSS, goroutines and stream lag from the
// latest scrape, so an operator sees a run go wrong while it happens. It
// also keeps every second as a Sample for the report's timelines.
type progress struct {
	w       io.Writer
	st      *stats
	phase   *atomic.Value // string
	mon     *monitor      // nil: no server figures
	start   time.Time
	stop    chan struct{}
	done    chan struct{}
	peakGor atomic.Int64
	samples []Sample // written by loop only; read after done
}

func startProgress(w io.Writer, st *stats, phase *atomic.Value, mon *monitor, start time.Time) *progress {
	p := &progress{w: w, st: st, phase: phase, mon: mon, start: start, stop: make(chan struct{}), done: make(chan struct{})}
	go p.loop()
	return p
}

func (p *progress) loop() {
	defer close(p.done)
	t := time.NewTicker(time.Second)
	defer t.Stop()
	var prev [4]int64
	last := time.Now()
	for {
		select {
		case <-p.stop:
			return
		case now := <-t.C:
			p.peakGor.Store(max(p.peakGor.Load(), int64(runtime.NumGoroutine())))
			cur := [4]int64{p.st.connects.Load() + p.st.reconnects.Load(), p.st.sent.Load(), p.st.acked.Load(), p.st.received.Load()}
			errs := p.st.errorTotal()
			el := now.Sub(last).Seconds()
			rate := func(i int) float64 { return float64(cur[i]-prev[i]) / el }
			ack := summarize(p.st.ackLat.TakeInterval())
			dlv := summarize(p.st.deliveryLat.TakeInterval())
			dlvRun := summarize(p.st.deliveryLat.Total())
			conn := summarize(p.st.connectLat.TakeInterval())
			phase, _ := p.phase.Load().(string)
			srv := p.mon.latest()
			p.samples = append(p.samples, Sample{
				T: now.Sub(p.start).Seconds(), Phase: phase, Open: p.st.open.Load(), Connects: rate(0),
				Sent: rate(1), Acked: rate(2), Received: rate(3), Errors: errs,
				AckP50: ack.P50Ms, AckP99: ack.P99Ms, DlvP50: dlv.P50Ms, DlvP99: dlv.P99Ms, DlvMax: dlv.MaxMs,
				ConnP99: conn.P99Ms, Server: srv,
			})
			if p.w != nil {
				fmt.Fprintf(p.w, "%6.0fs %-7s open %6d (+%5.0f/s, p99 %s) | sent %6.0f/s acked %6.0f/s p99 %s | recv %7.0f/s p99 %s (run %s) | errors %d%s\n",
					now.Sub(p.start).Seconds(), phase, p.st.open.Load(), rate(0), p99(conn),
					rate(1), rate(2), p99(ack), rate(3), p99(dlv), p99(dlvRun), errs, serverBrief(srv))
			}
			prev, last = cur, now
		}
	}
}

func p99(s Summary) string {
	if s.Count == 0 {
		return "-"
	}
	return fmtMs(s.P99Ms)
}

// finish stops the progress line and returns the peak goroutine count and
// the samples.
func (p *progress) finish() (int, []Sample) {
	close(p.stop)
	<-p.done
	return int(p.peakGor.Load()), p.samples
}
