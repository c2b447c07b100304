package loadtest

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"sync"
	"sync/atomic"
	"time"
)

// workerProc is one worker process as the coordinator sees it.
type workerProc struct {
	index  int
	lo, hi int
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	enc    *json.Encoder
	events chan event // phase events (not ticks)
	done   chan struct{}
	// last holds the cumulative counters and errors of the latest event,
	// to turn them into deltas.
	last       map[string]int64
	lastErrors map[string]int64
	final      *event
}

// coordinator drives a multi-process run.
type coordinator struct {
	*runner
	workers []*workerProc
	mu      sync.Mutex // serialises merging events into stats
	// workerCPUus sums the workers' CPU time, from their ticks.
	workerCPUus atomic.Int64
}

// runCoordinated is Run with cfg.Workers worker processes.
func runCoordinated(ctx context.Context, cfg Config, out io.Writer) (*Result, error) {
	nofile, err := raiseNoFile(fdHeadroom + 8*cfg.Workers)
	if err != nil {
		return nil, fmt.Errorf("loadtest: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, cfg.timeout())
	defer cancel()
	r := &runner{cfg: cfg, log: cfg.Log, st: newStats(), ledger: NewLedger(), hi: cfg.Connections}
	closeRedis, err := r.openRedis(ctx)
	if err != nil {
		return nil, err
	}
	defer closeRedis()
	start := time.Now()
	r.obs = newObserver(cfg.Targets, r.rdb, cfg.Redis, r.log)
	r.res = &Result{Scenario: string(cfg.Scenario), Started: start, OK: true, Settings: settingsOf(cfg, nofile),
		LoadStart: loadAverage(), Workers: cfg.Workers}
	r.phase.Store("start")
	c := &coordinator{runner: r}
	r.obs.workerCPU = func() float64 { return float64(c.workerCPUus.Load()) / 1e6 }

	res := r.measured(ctx, start, func(ctx context.Context) error {
		defer c.reap()
		if err := c.spawn(ctx, start); err != nil {
			return err
		}
		if cfg.Scenario.normalize() == ScenarioConnect {
			return c.connect(ctx)
		}
		return c.traffic(ctx)
	})
	for _, w := range c.workers {
		if w.final != nil {
			res.Harness.CPUSeconds += w.final.CPUSeconds
			res.Harness.MaxRSSBytes += w.final.MaxRSS
		}
	}
	finishResult(res, r.st, cfg, start, out)
	return res, nil
}

// spawn starts the workers, each with its share of the devices (whole
// users, so that a user's devices share a process), and waits for their
// hello.
func (c *coordinator) spawn(ctx context.Context, start time.Time) error {
	cfg := c.cfg
	argv := cfg.WorkerCommand
	if len(argv) == 0 {
		exe, err := os.Executable()
		if err != nil {
			return fmt.Errorf("find own executable for the workers: %w", err)
		}
		argv = []string{exe, "loadtest"}
	}
	users, k := cfg.Users(), cfg.DevicesPerUser
	runID := newRunID()
	wcfg := cfg
	wcfg.Workers, wcfg.WorkerCommand, wcfg.WorkerEnv = 0, nil, nil
	wcfg.JSONPath, wcfg.HTMLPath = "", ""
	// Each worker ramps its share at its share of the rate.
	wcfg.ConnectRate = cfg.ConnectRate / float64(cfg.Workers)
	for i := 0; i < cfg.Workers; i++ {
		w := &workerProc{index: i, lo: users * i / cfg.Workers * k, hi: users * (i + 1) / cfg.Workers * k,
			events: make(chan event, 16), done: make(chan struct{}), last: map[string]int64{}, lastErrors: map[string]int64{}}
		cmd := exec.CommandContext(ctx, argv[0], append(append([]string{}, argv[1:]...), "-worker")...)
		cmd.Env = append(os.Environ(), cfg.WorkerEnv...)
		cmd.Stderr = os.Stderr
		cmd.WaitDelay = 5 * time.Second
		stdin, err := cmd.StdinPipe()
		if err != nil {
			return fmt.Errorf("worker %d: %w", i, err)
		}
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			return fmt.Errorf("worker %d: %w", i, err)
		}
		if err := cmd.Start(); err != nil {
			return fmt.Errorf("start worker %d (%v): %w", i, argv, err)
		}
		w.cmd, w.stdin, w.enc = cmd, stdin, json.NewEncoder(stdin)
		c.workers = append(c.workers, w)
		go c.read(w, stdout)
		job := workerJob{Index: i, Lo: w.lo, Hi: w.hi, Config: wcfg, Start: start, RunID: runID}
		if err := w.enc.Encode(job); err != nil {
			return fmt.Errorf("send job to worker %d: %w", i, err)
		}
	}
	_, err := c.barrier(ctx, evHello, 30*time.Second)
	return err
}

// read consumes one worker's events until its stdout closes.
func (c *coordinator) read(w *workerProc, stdout io.Reader) {
	defer close(w.done)
	sc := bufio.NewScanner(stdout)
	sc.Buffer(make([]byte, 1<<20), 1<<30)
	for sc.Scan() {
		var e event
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			c.log.Warn("bad worker event", "worker", w.index, "err", err)
			continue
		}
		c.merge(w, &e)
		if e.Event == evTick {
			continue
		}
		if e.Event == evFinal {
			w.final = &e
		}
		w.events <- e
	}
}

// merge folds a worker's counters (as deltas) and histograms into the
// coordinator's stats, so the progress line and reports see the sum.
func (c *coordinator) merge(w *workerProc, e *event) {
	c.mu.Lock()
	defer c.mu.Unlock()
	st := c.st
	add := map[string]interface{ Add(int64) int64 }{
		"connects": &st.connects, "connect_fails": &st.connectFails, "reconnects": &st.reconnects,
		"disconnects": &st.disconnects, "open": &st.open, "sent": &st.sent, "acked": &st.acked,
		"send_errors": &st.sendErrors, "unanswered": &st.unanswered, "received": &st.received,
		"synced": &st.synced, "expected": &st.expected, "churn_drops": &st.churnDrops,
		"churn_cut": &st.churnCut, "churn_back": &st.churnBack, "churn_waves": &st.churnWaves,
		"cpu_us": &c.workerCPUus,
	}
	for k, v := range e.Counters {
		switch k {
		case "last_ack":
			storeMax(&st.lastAck, v)
		case "last_recv":
			storeMax(&st.lastRecv, v)
		default:
			if a, ok := add[k]; ok {
				a.Add(v - w.last[k])
				w.last[k] = v
			}
		}
	}
	for k, v := range e.Errors {
		if d := v - w.lastErrors[k]; d > 0 {
			st.mu.Lock()
			st.errors[k] += d
			st.mu.Unlock()
		}
		w.lastErrors[k] = v
	}
	hs := st.hists()
	for k, bars := range e.Hists {
		l := hs[k]
		if l == nil {
			continue
		}
		for _, b := range bars {
			l.recordRaw(w.index, b[0], b[1])
		}
	}
}

// barrier waits until every worker sent event name (or failed).
func (c *coordinator) barrier(ctx context.Context, name string, limit time.Duration) ([]event, error) {
	bctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	out := make([]event, len(c.workers))
	for i, w := range c.workers {
		for {
			select {
			case e := <-w.events:
				if e.Event == evFailed {
					return nil, fmt.Errorf("worker %d failed: %s", i, e.Err)
				}
				if e.Event != name {
					continue
				}
				out[i] = e
			case <-w.done:
				// Drain what was queued before the exit.
				select {
				case e := <-w.events:
					if e.Event == name {
						out[i] = e
						break
					}
					if e.Event == evFailed {
						return nil, fmt.Errorf("worker %d failed: %s", i, e.Err)
					}
					continue
				default:
				}
				return nil, fmt.Errorf("worker %d exited before %s", i, name)
			case <-bctx.Done():
				return nil, fmt.Errorf("waiting for the workers to report %s: %w", name, bctx.Err())
			}
			break
		}
	}
	return out, nil
}

// tell sends a command to every worker.
func (c *coordinator) tell(cmd command) {
	for _, w := range c.workers {
		if err := w.enc.Encode(cmd); err != nil {
			c.log.Warn("command a worker", "worker", w.index, "cmd", cmd.Cmd, "err", err)
		}
	}
}

// reap closes the workers' stdin (which ends them) and waits for them.
func (c *coordinator) reap() {
	for _, w := range c.workers {
		_ = w.stdin.Close()
	}
	for _, w := range c.workers {
		<-w.done
		if err := w.cmd.Wait(); err != nil {
			c.log.Warn("worker exit", "worker", w.index, "err", err)
		}
	}
}

// connect is runConnect spread over the workers.
func (c *coordinator) connect(ctx context.Context) error {
	cfg := c.cfg
	gws := cfg.Gateways()
	n := cfg.Connections
	c.phase.Store("baseline")
	before := c.obs.observe(ctx)
	c.phase.Store("ramp")
	rampStart := time.Now()
	c.tell(command{Cmd: "start"})
	ramped, err := c.barrier(ctx, evRamped, cfg.timeout())
	if err != nil {
		return err
	}
	rampSecs := time.Since(rampStart).Seconds()
	perGW := make([]int64, len(gws))
	for _, e := range ramped {
		for g, v := range e.PerGW {
			perGW[g] += v
		}
	}
	// The ramp's last tick may still be in flight; the counters that the
	// report reads come from the final events anyway.
	rep := &ConnectReport{Target: n, RampSeconds: rampSecs, HoldSeconds: cfg.Hold.Seconds()}
	c.res.Connect = rep
	c.phase.Store("hold")
	rampedObs := c.obs.observe(ctx)
	sleepCtx(ctx, cfg.Hold)
	held := c.obs.observe(ctx)
	c.phase.Store("close")
	c.tell(command{Cmd: "close"})
	if _, err := c.barrier(ctx, evFinal, 2*time.Minute); err != nil {
		return err
	}
	sleepCtx(ctx, min(closeSettle, max(500*time.Millisecond, cfg.Hold/4)))
	closed := c.obs.observe(ctx)

	rep.Established, rep.Failed, rep.Disconnects = c.st.connects.Load(), c.st.connectFails.Load(), c.st.disconnects.Load()
	rep.Latency = summarize(c.st.connectLat.Total())
	if rampSecs > 0 {
		rep.RampRate = float64(rep.Established) / rampSecs
	}
	c.res.Window = "baseline before the first connect to the end of the hold"
	c.res.Servers, c.res.Redis = c.obs.report(before, held)
	c.res.Machine = c.obs.machine(before, held, c.res.Servers, c.res.Redis)
	c.res.Gateways = c.connectCosts(perGW, before, rampedObs, held, closed)
	if rep.Failed > 0 {
		c.res.fail("%d of %d connections failed", rep.Failed, n)
	}
	if rep.Disconnects > 0 {
		c.res.fail("%d connections ended during the hold", rep.Disconnects)
	}
	return nil
}

// traffic is runTraffic spread over the workers.
func (c *coordinator) traffic(ctx context.Context) error {
	cfg := c.cfg
	gws := cfg.Gateways()
	topo, pl, gp := buildPlan(cfg, len(gws))
	if gp != nil {
		c.phase.Store("groups")
		cleanup, err := c.declareGroups(ctx, gp)
		if err != nil {
			return err
		}
		defer cleanup()
	}
	c.phase.Store("connect")
	rampStart := time.Now()
	c.tell(command{Cmd: "start"})
	readyLimit := time.Duration(float64(topo.devices())/cfg.ConnectRate*float64(time.Second)) + readyGrace + 30*time.Second
	ready, err := c.barrier(ctx, evReady, readyLimit)
	if err != nil {
		return err
	}
	notReady := 0
	for _, e := range ready {
		notReady += e.NotReady
	}
	rep := &ConnectReport{Target: topo.devices(), Established: c.st.connects.Load(), Failed: int64(notReady),
		RampSeconds: time.Since(rampStart).Seconds(), HoldSeconds: cfg.Hold.Seconds()}
	rep.RampRate = float64(rep.Established) / rep.RampSeconds
	c.res.Connect = rep
	if notReady > 0 {
		return fmt.Errorf("%d of %d devices did not connect and sync within %v after the ramp", notReady, topo.devices(), readyGrace)
	}
	if dr, limit := pl.maxDeviceRate(cfg.Rate), senderHeadroom*50; dr > limit {
		c.log.Warn("the busiest device may exceed the default frames_per_second", "msg_per_s", dr)
	}
	c.phase.Store("hold")
	if !sleepCtx(ctx, cfg.Hold) {
		return fmt.Errorf("cut short while holding: %w", ctx.Err())
	}
	before := c.obs.observe(ctx)
	c.phase.Store("send")
	tr := &TrafficReport{OfferedRate: cfg.Rate, Senders: pl.senders(), MaxDeviceRate: pl.maxDeviceRate(cfg.Rate)}
	c.res.Traffic = tr
	// Every worker starts the schedule at the same instant, a moment
	// from now so that the command reaches them all first.
	sendStart := time.Now().Add(200 * time.Millisecond)
	c.sendStart = sendStart
	c.tell(command{Cmd: "send", At: sendStart})
	if _, err := c.barrier(ctx, evSent, cfg.Duration+time.Minute); err != nil {
		return err
	}
	sendEnd := time.Now()
	c.phase.Store("drain")
	deadline := time.Now().Add(cfg.Drain)
	for time.Now().Before(deadline) && ctx.Err() == nil && !c.st.drained() {
		sleepCtx(ctx, drainPoll)
	}
	if !c.st.drained() {
		c.ledger.DrainUnfinished()
	}
	after := c.obs.observe(ctx)
	c.phase.Store("verdict")
	c.tell(command{Cmd: "stop"})
	finals, err := c.barrier(ctx, evFinal, 2*time.Minute)
	if err != nil {
		return err
	}
	for _, e := range finals {
		for _, a := range e.Acked {
			p := pl.plan(a[1])
			c.ledger.Acked(a[0], p.conv, topo.device(p.from), p.targets)
		}
		c.ledger.merge(e.Receipts, e.OutOfOrder)
	}
	rep.Reconnects, rep.Disconnects = c.st.reconnects.Load(), c.st.disconnects.Load()
	rep.Latency = summarize(c.st.connectLat.Total())
	c.fillTraffic(tr, sendEnd)
	tr.Planned = newSchedule(sendStart, cfg.Rate, cfg.Duration, cfg.MaxMessages).Len()
	lr := c.ledger.Report()
	c.res.Ledger = &lr
	if cfg.Scenario.churns() {
		c.res.Churn = churnReport(c.st, cfg.ChurnDown)
	}
	c.res.Window = "from the end of the hold (every device connected) to the end of the drain"
	c.res.Servers, c.res.Redis = c.obs.report(before, after)
	c.res.Machine = c.obs.machine(before, after, c.res.Servers, c.res.Redis)
	recv := make([]int64, len(gws)) // per-gateway receptions are not tracked across processes
	c.res.Gateways = c.deliveryCosts(recv)
	c.judgeTraffic(tr, lr)
	return nil
}
