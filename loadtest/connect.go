package loadtest

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/chatgate/chatgate/client"
	"github.com/chatgate/chatgate/protocol"
)

// Dial knobs of the connect scenario.
const (
	// maxDialsInFlight bounds handshakes in progress, so that a server that
	// stops answering does not make the harness open every socket at once.
	maxDialsInFlight = 1024
	// connectDialTimeout is generous: a ramp on a loaded machine queues
	// handshakes, and a slow connect is a measurement, not a failure.
	connectDialTimeout = 30 * time.Second
	// idleMessageBuffer is the message queue of an idle connection, which
	// receives nothing; the client's default would cost the harness 8 KiB
	// per connection for nothing.
	idleMessageBuffer = 16
	// closeSettle is the longest the gateway gets to tear connections down
	// before the leak check scrape; short holds (tests) wait less.
	closeSettle = 3 * time.Second
)

// runConnect ramps connections up at the configured rate, holds them idle,
// and measures connect latency and what each connection costs the
// gateways: RSS, heap, goroutines, CPU to connect and CPU to stay idle.
// The connections are plain client.Conns (no Session): a failed connect
// must be counted, not retried behind the harness's back.
func (r *runner) runConnect(ctx context.Context) error {
	cfg := r.cfg
	gws := cfg.Gateways()
	topo := roundRobinTopology(cfg, len(gws))
	n := topo.devices()

	r.phase.Store("baseline")
	before := r.obs.observe(ctx)

	r.phase.Store("ramp")
	rampStart := time.Now()
	conns, perGW, err := r.ramp(ctx, topo)
	// Close whatever was opened, whatever happens next.
	defer closeConns(conns)
	if err != nil {
		return err
	}
	rampSecs := time.Since(rampStart).Seconds()

	rep := &ConnectReport{
		Target: n, Established: r.st.connects.Load(), Failed: r.st.connectFails.Load(),
		RampSeconds: rampSecs, Latency: summarize(r.st.connectLat.Total()), HoldSeconds: cfg.Hold.Seconds(),
	}
	if rampSecs > 0 {
		rep.RampRate = float64(rep.Established) / rampSecs
	}
	r.res.Connect = rep

	r.phase.Store("hold")
	ramped := r.obs.observe(ctx)
	sleepCtx(ctx, cfg.Hold)
	held := r.obs.observe(ctx)
	r.countEnded(conns)
	rep.Disconnects = r.st.disconnects.Load()

	r.phase.Store("close")
	closeConns(conns)
	sleepCtx(ctx, min(closeSettle, max(500*time.Millisecond, cfg.Hold/4)))
	closed := r.obs.observe(ctx)

	r.res.Window = "baseline before the first connect to the end of the hold"
	r.res.Servers, r.res.Redis = r.obs.report(before, held)
	r.res.Machine = r.obs.machine(before, held, r.res.Servers, r.res.Redis)
	r.res.Gateways = r.connectCosts(perGW, before, ramped, held, closed)

	if rep.Failed > 0 {
		r.res.fail("%d of %d connections failed", rep.Failed, n)
	}
	if rep.Disconnects > 0 {
		r.res.fail("%d connections ended during the hold", rep.Disconnects)
	}
	if ctx.Err() != nil {
		return fmt.Errorf("connect scenario cut short: %w", ctx.Err())
	}
	return nil
}

// ramp dials this process's devices at the configured rate and returns
// the connections (nil where a dial failed) and how many each gateway got.
func (r *runner) ramp(ctx context.Context, topo *topology) ([]*client.Conn, []int64, error) {
	gws := r.cfg.Gateways()
	toks := map[int]string{}
	for i := r.lo; i < r.hi; i++ {
		u := i / topo.k
		if _, ok := toks[u]; ok {
			continue
		}
		t, err := r.tokens.token(topo.ids[u])
		if err != nil {
			return nil, nil, err
		}
		toks[u] = t
	}
	mine := r.hi - r.lo
	conns := make([]*client.Conn, mine)
	sem := make(chan struct{}, maxDialsInFlight)
	var wg sync.WaitGroup
	sch := newSchedule(time.Now(), r.cfg.ConnectRate, time.Duration(float64(mine)/r.cfg.ConnectRate*float64(time.Second))+time.Second, int64(mine))
	sch.run(ctx, nil, nil, func(k int64, _ time.Time) {
		i := r.lo + int(k)
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			return
		}
		wg.Go(func() {
			defer func() { <-sem }()
			conns[i-r.lo] = r.dialOne(ctx, i, gws[topo.deviceGW(i)].WS, toks[i/topo.k], topo.device(i))
		})
	})
	wg.Wait()
	perGW := make([]int64, len(gws))
	for k, c := range conns {
		if c != nil {
			perGW[topo.deviceGW(r.lo+k)]++
		}
	}
	return conns, perGW, nil
}

// countEnded counts the connections that ended while they were held.
func (r *runner) countEnded(conns []*client.Conn) {
	for _, c := range conns {
		if c != nil && c.Err() != nil {
			r.st.disconnects.Add(1)
			r.st.open.Add(-1)
			r.st.addError("disconnect", c.Err())
		}
	}
}

func (r *runner) dialOne(ctx context.Context, i int, url, token string, dev DeviceKey) *client.Conn {
	t0 := time.Now()
	c, err := client.Dial(withDevice(ctx, i), client.Config{
		URL: url, AppID: r.cfg.AppID, Token: token, DeviceSN: dev.Device, Platform: protocol.PlatformLinux,
		DialTimeout: connectDialTimeout, MessageBuffer: idleMessageBuffer, HTTPClient: r.dial.hc,
	})
	if err != nil {
		r.st.connectFails.Add(1)
		r.st.addError("connect", err)
		return nil
	}
	r.st.connectLat.Record(i, time.Since(t0))
	r.st.connects.Add(1)
	r.st.open.Add(1)
	return c
}

// closeConns closes every connection, a few hundred at a time: each Close
// waits for the close handshake.
func closeConns(conns []*client.Conn) {
	sem := make(chan struct{}, 256)
	var wg sync.WaitGroup
	for i, c := range conns {
		if c == nil {
			continue
		}
		conns[i] = nil
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			_ = c.Close()
		})
	}
	wg.Wait()
}

// connectCosts divides each gateway's spend by its connections: memory and
// goroutines between the baseline and the end of the hold, CPU of the ramp
// (connect cost) and of the hold (idle cost).
func (r *runner) connectCosts(perGW []int64, before, ramped, held, closed *observation) []GatewayCost {
	var out []GatewayCost
	for g, ti := range r.gatewayTargets() {
		gc := GatewayCost{Name: r.cfg.Targets[ti].Name, Connections: perGW[g]}
		b, rp, h, cl := before.procs[ti], ramped.procs[ti], held.procs[ti], closed.procs[ti]
		if b == nil || h == nil || perGW[g] == 0 {
			out = append(out, gc)
			continue
		}
		n := float64(perGW[g])
		v := func(s *metricsSnapshot, name string) float64 { x, _ := s.value(name); return x }
		gc.RSSPerConnKiB = (v(h, "process_resident_memory_bytes") - v(b, "process_resident_memory_bytes")) / n / 1024
		gc.HeapPerConnKiB = (v(h, "go_memstats_heap_inuse_bytes") - v(b, "go_memstats_heap_inuse_bytes")) / n / 1024
		gc.StackPerConnKiB = (v(h, "go_memstats_stack_inuse_bytes") - v(b, "go_memstats_stack_inuse_bytes")) / n / 1024
		retained := func(s *metricsSnapshot) float64 {
			return v(s, "go_memstats_heap_idle_bytes") - v(s, "go_memstats_heap_released_bytes")
		}
		gc.IdleHeapPerConnKiB = (retained(h) - retained(b)) / n / 1024
		gc.GoroutinesPerConn = (v(h, "go_goroutines") - v(b, "go_goroutines")) / n
		gc.GoroutinesBaseline = v(b, "go_goroutines")
		if rp != nil {
			gc.ConnectCPUMsPerConn = 1000 * (v(rp, "process_cpu_seconds_total") - v(b, "process_cpu_seconds_total")) / n
			if secs := h.at.Sub(rp.at).Seconds(); secs > 0 {
				idle := v(h, "process_cpu_seconds_total") - v(rp, "process_cpu_seconds_total")
				gc.IdleCPUPercent = 100 * idle / secs
				gc.IdleCPUUsPerConnSec = 1e6 * idle / secs / n
			}
		}
		if cl != nil {
			gc.GoroutinesAfterClose = v(cl, "go_goroutines")
		}
		out = append(out, gc)
	}
	return out
}

// gatewayTargets maps gateway index (order of Config.Gateways) to index in
// Config.Targets.
func (r *runner) gatewayTargets() []int {
	var out []int
	for i, t := range r.cfg.Targets {
		if t.WS != "" {
			out = append(out, i)
		}
	}
	return out
}
