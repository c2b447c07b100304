package loadtest

import (
	"fmt"
	"io"
	"runtime"
	"sync/atomic"
	"time"
)

// progress prints one line per second while a run goes: what the harness
// is doing, rates and p99s over the last second, and the delivery p99 of
// the run so far, so an operator sees a run go wrong while it happens.
type progress struct {
	w       io.Writer
	st      *stats
	phase   *atomic.Value // string
	start   time.Time
	stop    chan struct{}
	done    chan struct{}
	peakGor atomic.Int64
}

func startProgress(w io.Writer, st *stats, phase *atomic.Value) *progress {
	p := &progress{w: w, st: st, phase: phase, start: time.Now(), stop: make(chan struct{}), done: make(chan struct{})}
	go p.loop()
	return p
}

func (p *progress) loop() {
	defer close(p.done)
	t := time.NewTicker(time.Second)
	defer t.Stop()
	var prev [5]int64
	last := time.Now()
	for {
		select {
		case <-p.stop:
			return
		case now := <-t.C:
			p.peakGor.Store(max(p.peakGor.Load(), int64(runtime.NumGoroutine())))
			cur := [5]int64{p.st.connects.Load(), p.st.sent.Load(), p.st.acked.Load(), p.st.received.Load(), p.st.errorTotal()}
			el := now.Sub(last).Seconds()
			rate := func(i int) float64 { return float64(cur[i]-prev[i]) / el }
			ack := summarize(p.st.ackLat.TakeInterval())
			dlv := summarize(p.st.deliveryLat.TakeInterval())
			dlvRun := summarize(p.st.deliveryLat.Total())
			conn := summarize(p.st.connectLat.TakeInterval())
			if p.w != nil {
				phase, _ := p.phase.Load().(string)
				fmt.Fprintf(p.w, "%6.0fs %-7s open %6d (+%5.0f/s, p99 %s) | sent %6.0f/s acked %6.0f/s p99 %s | recv %7.0f/s p99 %s (run %s) | errors %d\n",
					now.Sub(p.start).Seconds(), phase, p.st.open.Load(), rate(0), p99(conn),
					rate(1), rate(2), p99(ack), rate(3), p99(dlv), p99(dlvRun), cur[4])
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

// finish stops the progress line and returns the peak goroutine count.
func (p *progress) finish() int {
	close(p.stop)
	<-p.done
	return int(p.peakGor.Load())
}
