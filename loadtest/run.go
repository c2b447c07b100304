package loadtest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
)

// fdHeadroom is the descriptors a run needs beyond its client sockets:
// metrics scrapes, Redis, the JSON file, the runtime's own.
const fdHeadroom = 256

// runner is the state of one run.
type runner struct {
	cfg    Config
	log    *slog.Logger
	st     *stats
	ledger *Ledger
	obs    *observer
	rdb    redis.UniversalClient
	tokens *tokenSource
	res    *Result
	phase  atomic.Value // string, for the progress line
	dial   *dialer
	// lo and hi are the device indexes this process drives: all of them,
	// or a worker's share.
	lo, hi int

	// The send goroutines of a traffic run, their context's cancel, and
	// when sending started.
	sends     sync.WaitGroup
	stopSends context.CancelFunc
	sendStart time.Time
}

// Run performs one bounded load-test run and reports it on out (a text
// summary) and in cfg.JSONPath. The error is for runs that could not be
// performed at all (bad configuration, file limit, unreachable Redis); a
// run that was performed and failed its contract (lost messages, refused
// connections, unanswered sends) returns a Result with OK false.
func Run(ctx context.Context, cfg Config, out io.Writer) (*Result, error) {
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("loadtest: %w", err)
	}
	if err := CheckTargets(cfg); err != nil {
		return nil, fmt.Errorf("loadtest: %w", err)
	}
	if cfg.Workers > 1 {
		return runCoordinated(ctx, cfg, out)
	}
	sockets := cfg.Connections
	if cfg.Scenario.normalize() == ScenarioPush {
		// Push devices are records, not sockets: only the REST calls
		// in flight hold descriptors.
		sockets = pushSetupConcurrency
	}
	nofile, err := raiseNoFile(sockets + fdHeadroom)
	if err != nil {
		return nil, fmt.Errorf("loadtest: %w", err)
	}
	warnPorts(cfg)
	sources, err := sourceAddrs(cfg.SourceAddrs)
	if err != nil {
		return nil, fmt.Errorf("loadtest: %w", err)
	}

	ctx, cancel := context.WithTimeout(ctx, cfg.timeout())
	defer cancel()

	r := &runner{cfg: cfg, log: cfg.Log, st: newStats(), ledger: NewLedger(), dial: newDialer(cfg.Connections, sources), hi: cfg.Connections}
	closeRedis, err := r.openRedis(ctx)
	if err != nil {
		return nil, err
	}
	defer closeRedis()
	start := time.Now()
	r.obs = newObserver(cfg.Targets, r.rdb, cfg.Redis, r.log)
	r.tokens = newTokenSource(cfg, start)
	r.res = &Result{Scenario: string(cfg.Scenario), Started: start, OK: true, Settings: settingsOf(cfg, nofile), LoadStart: loadAverage()}
	r.phase.Store("start")

	res := r.measured(ctx, start, func(ctx context.Context) error {
		switch cfg.Scenario.normalize() {
		case ScenarioConnect:
			return r.runConnect(ctx)
		case ScenarioPush:
			return r.runPush(ctx)
		default:
			return r.runTraffic(ctx)
		}
	})
	finishResult(res, r.st, cfg, start, out)
	return res, nil
}

// openRedis connects the runner to the Redis it samples (INFO), when one
// is configured, and returns how to close it.
func (r *runner) openRedis(ctx context.Context) (func(), error) {
	if r.cfg.Redis == "" {
		return func() {}, nil
	}
	r.rdb = redis.NewClient(&redis.Options{Addr: r.cfg.Redis, Password: r.cfg.RedisPassword, PoolSize: 4})
	pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := r.rdb.Ping(pctx).Err(); err != nil {
		r.rdb.Close()
		return nil, fmt.Errorf("loadtest: redis %s: %w", r.cfg.Redis, err)
	}
	return func() { r.rdb.Close() }, nil
}

// measured runs a scenario's body with the server monitor and the progress
// line around it, then completes the result with the body's failure, a hit
// time bound, the timelines and the harness's own cost, the same way for
// one process and for a coordinated run.
func (r *runner) measured(ctx context.Context, start time.Time, body func(context.Context) error) *Result {
	cpu0, _ := selfUsage()
	mctx, mcancel := context.WithCancel(ctx)
	mon := newMonitor(r.obs, start)
	var mwg sync.WaitGroup
	mwg.Go(func() { mon.run(mctx) })
	prog := startProgress(r.cfg.Progress, r.st, &r.phase, mon, start)
	err := body(ctx)
	peak, samples := prog.finish()
	mcancel()
	mwg.Wait()
	if err != nil {
		r.res.fail("%v", err)
	}
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		r.res.fail("the run hit its time bound of %v", r.cfg.timeout())
	}
	res := r.res
	res.Timeline = samples
	res.ServerTimeline, res.PeakStreamLag = mon.points()
	cpu1, maxRSS := selfUsage()
	res.Harness = HarnessCost{CPUSeconds: cpu1 - cpu0, MaxRSSBytes: maxRSS, Goroutines: max(peak, runtime.NumGoroutine())}
	return res
}

// finishResult completes a result the same way for one process and for a
// coordinated run: error rate verdict, timings, JSON, HTML and summary.
func finishResult(res *Result, st *stats, cfg Config, start time.Time, out io.Writer) {
	res.Seconds = time.Since(start).Seconds()
	res.Errors = st.errorCounts()
	res.LoadEnd = loadAverage()
	if res.Seconds > 0 {
		res.Harness.CPUPercent = 100 * res.Harness.CPUSeconds / res.Seconds
	}
	res.Operations, res.FailedOps = st.operations()
	if res.Operations > 0 {
		res.ErrorRate = float64(res.FailedOps) / float64(res.Operations)
	}
	if res.ErrorRate > cfg.MaxErrorRate {
		res.fail("error rate %.4f%% (%d of %d connects and sends) is above the threshold %.4f%%",
			100*res.ErrorRate, res.FailedOps, res.Operations, 100*cfg.MaxErrorRate)
	}
	if cfg.JSONPath != "" {
		if err := res.writeJSON(cfg.JSONPath); err != nil {
			cfg.Log.Error("write JSON result", "err", err)
			res.fail("%v", err)
		}
	}
	if cfg.HTMLPath != "" {
		if err := writeHTMLFile(cfg.HTMLPath, res); err != nil {
			cfg.Log.Error("write HTML report", "err", err)
			res.fail("%v", err)
		}
	}
	if out != nil {
		writeSummary(out, res)
	}
}

// sleepCtx waits d or until ctx ends; false if ctx ended.
func sleepCtx(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// loadAverage is the 1-minute load average, 0 where /proc has none.
func loadAverage() float64 {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return 0
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return 0
	}
	v, _ := strconv.ParseFloat(f[0], 64)
	return v
}

// warnPorts says when one gateway gets more connections than the kernel
// has ephemeral ports: every connection from this host to one address and
// port needs its own local port.
func warnPorts(c Config) {
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err != nil {
		return
	}
	f := strings.Fields(string(b))
	if len(f) != 2 {
		return
	}
	lo, err1 := strconv.Atoi(f[0])
	hi, err2 := strconv.Atoi(f[1])
	gws := c.Gateways()
	if err1 != nil || err2 != nil || len(gws) == 0 {
		return
	}
	perGW := (c.Connections + len(gws) - 1) / len(gws)
	if perGW > hi-lo+1 {
		c.Log.Warn("more connections per gateway than ephemeral ports; connects will fail with EADDRNOTAVAIL",
			"per_gateway", perGW, "ports", hi-lo+1, "fix", "sysctl net.ipv4.ip_local_port_range or more gateway addresses")
	}
}
