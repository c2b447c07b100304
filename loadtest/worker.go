package loadtest

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
)

// Multi-process runs. One process cannot hold more sockets than its
// RLIMIT_NOFILE, so a run of -workers N re-executes the harness N times
// with -worker; each worker drives a contiguous share of the devices and
// the coordinator (the process the operator started) scrapes the servers,
// paces the phases, aggregates and reports. The protocol is JSON lines:
// the coordinator writes a job and then commands on the worker's stdin,
// the worker writes events on its stdout (logs go to its stderr).

// workerJob is the first line a worker reads.
type workerJob struct {
	Index  int    `json:"index"`
	Lo     int    `json:"lo"`
	Hi     int    `json:"hi"`
	Config Config `json:"config"`
	// Start is the coordinator's start: sessions skip messages older than it.
	Start time.Time `json:"start"`
	RunID string    `json:"run_id"`
}

// command is a coordinator -> worker line after the job.
type command struct {
	Cmd string    `json:"cmd"` // start, send, close, stop
	At  time.Time `json:"at,omitzero"`
}

// Worker events.
const (
	evHello  = "hello"  // job accepted, nothing dialled yet
	evTick   = "tick"   // once a second: counters and interval histograms
	evRamped = "ramped" // connect: every own device dialled
	evReady  = "ready"  // traffic: every own device connected and synced
	evSent   = "sent"   // traffic: the own share of the schedule is handed over
	evFinal  = "final"  // the last line: everything left to report
	evFailed = "failed" // the worker could not go on; Err says why
)

// event is a worker -> coordinator line.
type event struct {
	Event  string `json:"event"`
	Worker int    `json:"worker"`
	Err    string `json:"err,omitempty"`

	// Counters are cumulative; Hists hold what was recorded since the
	// previous event (sparse: value, count).
	Counters map[string]int64      `json:"counters,omitempty"`
	Errors   map[string]int64      `json:"errors,omitempty"`
	Hists    map[string][][2]int64 `json:"hists,omitempty"`

	// PerGW is, at ramped, how many connections each gateway took.
	PerGW    []int64 `json:"per_gw,omitempty"`
	NotReady int     `json:"not_ready,omitempty"`
	Planned  int64   `json:"planned,omitempty"`
	// Final: the ledger's view of this worker.
	Acked      [][2]int64 `json:"acked,omitempty"` // (message id, event number)
	Receipts   []Receipt  `json:"receipts,omitempty"`
	OutOfOrder []string   `json:"out_of_order,omitempty"`
	CPUSeconds float64    `json:"cpu_seconds,omitempty"`
	MaxRSS     int64      `json:"max_rss,omitempty"`
}

// counter names of event.Counters, in stats.
func (s *stats) counterMap() map[string]int64 {
	return map[string]int64{
		"connects": s.connects.Load(), "connect_fails": s.connectFails.Load(), "reconnects": s.reconnects.Load(),
		"disconnects": s.disconnects.Load(), "open": s.open.Load(), "sent": s.sent.Load(), "acked": s.acked.Load(),
		"send_errors": s.sendErrors.Load(), "unanswered": s.unanswered.Load(), "received": s.received.Load(),
		"synced": s.synced.Load(), "expected": s.expected.Load(), "last_ack": s.lastAck.Load(), "last_recv": s.lastRecv.Load(),
		"churn_drops": s.churnDrops.Load(), "churn_cut": s.churnCut.Load(), "churn_back": s.churnBack.Load(),
		"churn_waves": s.churnWaves.Load(), "cpu_us": selfCPUMicros(),
	}
}

// hists are the histograms that travel, by name.
func (s *stats) hists() map[string]*latency {
	return map[string]*latency{
		"connect": s.connectLat, "ack": s.ackLat, "delivery": s.deliveryLat, "lag": s.lagLat,
		"sync": s.syncLat, "recover": s.recoverLat, "wave": s.waveLat,
	}
}

// sparse lists the non-empty buckets of h.
func sparse(h *hdrhistogram.Histogram) [][2]int64 {
	var out [][2]int64
	for _, b := range h.Distribution() {
		if b.Count > 0 {
			out = append(out, [2]int64{b.From, b.Count})
		}
	}
	return out
}

// WorkerMain runs one worker process: it reads its job and commands from
// in and writes events to out until the coordinator says stop, in closes,
// or ctx ends. It returns the process's exit status.
func WorkerMain(ctx context.Context, in io.Reader, out io.Writer, stderr io.Writer) int {
	w := &worker{enc: json.NewEncoder(out), cmds: make(chan command, 4)}
	sc := bufio.NewScanner(in)
	sc.Buffer(make([]byte, 1<<20), 64<<20)
	if !sc.Scan() {
		fmt.Fprintln(stderr, "chatgate loadtest -worker: no job on stdin")
		return 2
	}
	var job workerJob
	if err := json.Unmarshal(sc.Bytes(), &job); err != nil {
		fmt.Fprintf(stderr, "chatgate loadtest -worker: bad job: %v\n", err)
		return 2
	}
	w.index = job.Index
	// Commands arrive while the worker is busy; a closed stdin (the
	// coordinator died) ends the worker.
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		defer close(w.cmds)
		for sc.Scan() {
			var c command
			if json.Unmarshal(sc.Bytes(), &c) == nil {
				select {
				case w.cmds <- c:
				case <-ctx.Done():
					return
				}
			}
		}
		cancel()
	}()
	cfg := job.Config
	cfg.Log = slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn})).With("worker", job.Index)
	if err := w.run(ctx, cfg, job); err != nil {
		w.emit(event{Event: evFailed, Err: err.Error()})
		return 1
	}
	return 0
}

type worker struct {
	index int
	mu    sync.Mutex
	enc   *json.Encoder
	cmds  chan command
	r     *runner
}

func (w *worker) emit(e event) {
	e.Worker = w.index
	w.mu.Lock()
	defer w.mu.Unlock()
	_ = w.enc.Encode(e)
}

// tickEvent carries the counters and the histograms since the last event.
func (w *worker) tickEvent(name string) event {
	st := w.r.st
	e := event{Event: name, Counters: st.counterMap(), Errors: st.errorCounts(), Hists: map[string][][2]int64{}}
	for k, l := range st.hists() {
		if s := sparse(l.TakeInterval()); len(s) > 0 {
			e.Hists[k] = s
		}
	}
	return e
}

// await waits for the coordinator's command want.
func (w *worker) await(ctx context.Context, want string) (command, error) {
	for {
		select {
		case c, ok := <-w.cmds:
			if !ok {
				return c, errors.New("coordinator went away")
			}
			if c.Cmd == want {
				return c, nil
			}
		case <-ctx.Done():
			return command{}, ctx.Err()
		}
	}
}

func (w *worker) run(ctx context.Context, cfg Config, job workerJob) error {
	if err := cfg.Validate(); err != nil {
		return err
	}
	if _, err := raiseNoFile(job.Hi - job.Lo + fdHeadroom); err != nil {
		return err
	}
	sources, err := sourceAddrs(cfg.SourceAddrs)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, cfg.timeout())
	defer cancel()
	r := &runner{cfg: cfg, log: cfg.Log, st: newStats(), ledger: NewLedger(), dial: newDialer(cfg.Connections, sources),
		lo: job.Lo, hi: job.Hi, res: &Result{OK: true}}
	r.tokens = newTokenSource(cfg, job.Start)
	w.r = r
	cpu0, _ := selfUsage()

	// Ticks flow until the final event.
	tctx, tcancel := context.WithCancel(ctx)
	var ticks sync.WaitGroup
	ticks.Go(func() {
		t := time.NewTicker(time.Second)
		defer t.Stop()
		for {
			select {
			case <-tctx.Done():
				return
			case <-t.C:
				w.emit(w.tickEvent(evTick))
			}
		}
	})
	stopTicks := func() { tcancel(); ticks.Wait() }
	defer stopTicks()

	w.emit(event{Event: evHello})
	if _, err := w.await(ctx, "start"); err != nil {
		return err
	}
	var final event
	if cfg.Scenario.normalize() == ScenarioConnect {
		final, err = w.connect(ctx)
	} else {
		final, err = w.traffic(ctx, job)
	}
	if err != nil {
		return err
	}
	stopTicks()
	last := w.tickEvent(evFinal)
	final.Event, final.Counters, final.Errors, final.Hists = evFinal, last.Counters, last.Errors, last.Hists
	cpu1, rss := selfUsage()
	final.CPUSeconds, final.MaxRSS = cpu1-cpu0, rss
	w.emit(final)
	return nil
}

func (w *worker) connect(ctx context.Context) (event, error) {
	r := w.r
	topo := roundRobinTopology(r.cfg, len(r.cfg.Gateways()))
	conns, perGW, err := r.ramp(ctx, topo)
	defer closeConns(conns)
	if err != nil {
		return event{}, err
	}
	w.emit(event{Event: evRamped, PerGW: perGW})
	if _, err := w.await(ctx, "close"); err != nil {
		return event{}, err
	}
	r.countEnded(conns)
	closeConns(conns)
	return event{}, nil
}

func (w *worker) traffic(ctx context.Context, job workerJob) (event, error) {
	r, cfg := w.r, w.r.cfg
	gws := cfg.Gateways()
	urls := make([]string, len(gws))
	for i, g := range gws {
		urls[i] = g.WS
	}
	topo, pl, _ := buildPlan(cfg, len(gws))
	fctx, fcancel := context.WithCancel(ctx)
	defer fcancel()
	fl := newFleet(topo, urls, cfg.AppID, r.st, r.ledger, r.log, job.Start, r.dial, r.lo, r.hi)
	var ackMu sync.Mutex
	var acked [][2]int64
	fl.onAck = func(id, n int64) {
		ackMu.Lock()
		acked = append(acked, [2]int64{id, n})
		ackMu.Unlock()
	}
	if err := fl.start(fctx, r.tokens, cfg.ConnectRate); err != nil {
		fl.close()
		return event{}, err
	}
	defer fl.close()
	rctx, rcancel := context.WithTimeout(ctx, time.Duration(float64(r.hi-r.lo)/cfg.ConnectRate*float64(time.Second))+readyGrace)
	notReady := fl.waitReady(rctx)
	rcancel()
	w.emit(event{Event: evReady, NotReady: notReady})

	c, err := w.await(ctx, "send")
	if err != nil {
		return event{}, err
	}
	tr := &TrafficReport{}
	var churnDone sync.WaitGroup
	if cfg.Scenario.churns() {
		fl.churn = newChurner(fl, cfg.ChurnFraction, cfg.ChurnInterval, cfg.ChurnDown)
		churnDone.Go(func() { fl.churn.run(ctx, c.At, c.At.Add(cfg.Duration)) })
	}
	r.sendAll(ctx, fl, pl, tr, c.At, job.RunID)
	churnDone.Wait()
	w.emit(event{Event: evSent, Planned: tr.Planned})

	// The coordinator judges the drain on everyone's counters; churn
	// followers keep reporting meanwhile.
	if _, err := w.await(ctx, "stop"); err != nil {
		return event{}, err
	}
	if r.stopSends != nil {
		r.stopSends()
	}
	r.sends.Wait()
	fl.close()
	final := event{}
	ackMu.Lock()
	final.Acked = acked
	ackMu.Unlock()
	final.Receipts, final.OutOfOrder = r.ledger.receipts()
	return final, nil
}
