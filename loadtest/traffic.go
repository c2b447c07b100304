package loadtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Traffic knobs.
const (
	// senderHeadroom is the share of a connection's frames_per_second the
	// harness lets one device send at: the rest is for pings and dacks, so
	// that the client's pacer never delays a send.
	senderHeadroom = 0.8
	// readyGrace is how long after the ramp every session gets to connect
	// and finish its catch-up sync.
	readyGrace = 30 * time.Second
	// maxInFlightFloor is the least number of sends allowed to wait for
	// their ack at once; beyond the bound the schedule waits, which shows
	// as schedule lag and in the latencies (measured from the due time).
	maxInFlightFloor = 10_000
	// drainPoll is how often the drain looks whether everything arrived.
	drainPoll = 20 * time.Millisecond
)

// runTraffic runs the chat or group scenario: connect every device, then
// send at a fixed rate from an open-loop schedule, drain, and judge the
// ledger.
func (r *runner) runTraffic(ctx context.Context) error {
	cfg := r.cfg
	gws := cfg.Gateways()
	urls := make([]string, len(gws))
	for i, g := range gws {
		urls[i] = g.WS
	}
	topo, pl, gp := buildPlan(cfg, len(gws))
	if gp != nil {
		r.phase.Store("groups")
		cleanup, err := r.declareGroups(ctx, gp)
		if err != nil {
			return err
		}
		defer cleanup()
	}

	r.phase.Store("connect")
	fctx, fcancel := context.WithCancel(ctx)
	defer fcancel()
	fl := newFleet(topo, urls, cfg.AppID, r.st, r.ledger, r.log, time.Now(), r.dial, r.lo, r.hi)
	rampStart := time.Now()
	if err := fl.start(fctx, r.tokens, cfg.ConnectRate); err != nil {
		fl.close()
		return err
	}
	defer fl.close()
	rctx, rcancel := context.WithTimeout(ctx, time.Duration(float64(topo.devices())/cfg.ConnectRate*float64(time.Second))+readyGrace)
	notReady := fl.waitReady(rctx)
	rcancel()
	rep := &ConnectReport{
		Target: topo.devices(), Established: r.st.connects.Load(), Failed: int64(notReady),
		RampSeconds: time.Since(rampStart).Seconds(), Latency: summarize(r.st.connectLat.Total()),
		HoldSeconds: cfg.Hold.Seconds(),
	}
	rep.RampRate = float64(rep.Established) / rep.RampSeconds
	r.res.Connect = rep
	if notReady > 0 {
		return fmt.Errorf("%d of %d devices did not connect and sync within %v after the ramp", notReady, topo.devices(), readyGrace)
	}
	if err := checkSenderRate(fl, pl, cfg.Rate); err != nil {
		return err
	}

	r.phase.Store("hold")
	if !sleepCtx(ctx, cfg.Hold) {
		return fmt.Errorf("cut short while holding: %w", ctx.Err())
	}
	before := r.obs.observe(ctx)
	recvBefore := make([]int64, len(urls))
	for g := range recvBefore {
		recvBefore[g] = fl.recvByGW[g].Load()
	}

	r.phase.Store("send")
	tr := &TrafficReport{OfferedRate: cfg.Rate, Senders: pl.senders(), MaxDeviceRate: pl.maxDeviceRate(cfg.Rate)}
	r.res.Traffic = tr
	sendStart := time.Now()
	var churnDone sync.WaitGroup
	if cfg.Scenario.churns() {
		fl.churn = newChurner(fl, cfg.ChurnFraction, cfg.ChurnInterval, cfg.ChurnDown)
		churnDone.Go(func() { fl.churn.run(ctx, sendStart, sendStart.Add(cfg.Duration)) })
	}
	sendEnd := r.sendAll(ctx, fl, pl, tr, sendStart, newRunID())
	churnDone.Wait()

	r.phase.Store("drain")
	r.drain(ctx, cfg.Drain)
	after := r.obs.observe(ctx)
	// What the gateways count and what the harness received are compared
	// over the same window.
	recv := make([]int64, len(urls))
	for g := range recv {
		recv[g] = fl.recvByGW[g].Load() - recvBefore[g]
	}
	r.phase.Store("verdict")
	rep.Reconnects, rep.Disconnects = r.st.reconnects.Load(), r.st.disconnects.Load()
	r.fillTraffic(tr, sendEnd)
	lr := r.ledger.Report()
	r.res.Ledger = &lr
	if fl.churn != nil {
		r.res.Churn = churnReport(r.st, cfg.ChurnDown)
	}
	r.res.Window = "from the end of the hold (every device connected) to the end of the drain"
	r.res.Servers, r.res.Redis = r.obs.report(before, after)
	r.res.Machine = r.obs.machine(before, after, r.res.Servers, r.res.Redis)
	r.res.Gateways = r.deliveryCosts(recv)

	r.judgeTraffic(tr, lr)
	if ctx.Err() != nil {
		return fmt.Errorf("traffic scenario cut short: %w", ctx.Err())
	}
	return nil
}

// checkSenderRate refuses a plan whose busiest device would exceed the
// gateway's frame rate: the client would pace it (hiding the server's
// latency behind its own queue) or the gateway would refuse with 4029.
func checkSenderRate(fl *fleet, pl planner, rate float64) error {
	h := fl.sessions[0].Hello()
	if h == nil {
		return nil
	}
	limit := senderHeadroom * float64(h.Limits.FramesPerSecond)
	if dr := pl.maxDeviceRate(rate); dr > limit {
		return fmt.Errorf("at %.0f msg/s the busiest device would send %.1f frames/s, over %.0f%% of the gateway's frames_per_second (%d): "+
			"use more connections or senders, or raise gateway.limits.frames_per_second", rate, dr, 100*senderHeadroom, h.Limits.FramesPerSecond)
	}
	return nil
}

// sendAll runs the open-loop schedule: each event is sent from its own
// goroutine, so a slow ack never delays the next send. It returns when the
// last send was handed over.
func (r *runner) sendAll(ctx context.Context, fl *fleet, pl planner, tr *TrafficReport, start time.Time, runID string) time.Time {
	cfg := r.cfg
	content := strings.Repeat("x", cfg.ContentBytes)
	maxInFlight := max(maxInFlightFloor, int(cfg.Rate*10))
	sem := make(chan struct{}, maxInFlight)
	sctx, scancel := context.WithCancel(ctx)
	r.stopSends = scancel
	sch := newSchedule(start, cfg.Rate, cfg.Duration, cfg.MaxMessages)
	tr.Planned = sch.Len()
	r.sendStart = start
	// A worker process runs the whole schedule and sends the events of its
	// own devices, so the processes together keep the global rate and
	// every event keeps its due time.
	partial := r.lo > 0 || r.hi < fl.topo.devices()
	sch.run(ctx, nil, nil, func(n int64, due time.Time) {
		if partial {
			if from := pl.sender(n); from < r.lo || from >= r.hi {
				return
			}
		}
		p := pl.plan(n)
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			return
		}
		cmid := runID + "-" + strconv.FormatInt(n, 36)
		// Counted here, not in the goroutine, so that the drain never sees
		// a send that is handed over but not yet counted.
		r.st.sent.Add(1)
		r.sends.Go(func() {
			defer func() { <-sem }()
			fl.send(sctx, p, n, cmid, content, due)
		})
	})
	return time.Now()
}

// drain waits until every send has its answer and every owed delivery
// arrived, or d passed; then it gives up on the sends still waiting.
func (r *runner) drain(ctx context.Context, d time.Duration) {
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) && ctx.Err() == nil {
		if r.st.drained() {
			break
		}
		sleepCtx(ctx, drainPoll)
	}
	if !r.st.drained() {
		r.ledger.DrainUnfinished()
	}
	if r.stopSends != nil {
		r.stopSends()
	}
	r.sends.Wait()
}

func (r *runner) fillTraffic(tr *TrafficReport, sendEnd time.Time) {
	st := r.st
	tr.Sent, tr.Acked, tr.SendErrors, tr.Unanswered = st.sent.Load(), st.acked.Load(), st.sendErrors.Load(), st.unanswered.Load()
	tr.Expected, tr.Received, tr.Synced = st.expected.Load(), st.received.Load(), st.synced.Load()
	tr.SendSeconds = sendEnd.Sub(r.sendStart).Seconds()
	// Rates run to the last ack or reception, not to the end of the send
	// phase: an overloaded server keeps acking a backlog during the drain,
	// and counting those acks within the send phase would overstate its
	// throughput.
	rate := func(n int64, last int64) float64 {
		end := sendEnd
		if t := time.Unix(0, last); t.After(end) {
			end = t
		}
		secs := end.Sub(r.sendStart).Seconds()
		if secs <= 0 {
			return 0
		}
		return float64(n) / secs
	}
	tr.AckRate = rate(tr.Acked, st.lastAck.Load())
	tr.DeliveryRate = rate(tr.Received, st.lastRecv.Load())
	tr.AckLatency = summarize(st.ackLat.Total())
	tr.DeliveryLatency = summarize(st.deliveryLat.Total())
	tr.ScheduleLag = summarize(st.lagLat.Total())
}

// deliveryCosts relates each gateway's CPU to the deliveries it made: its
// own chatgate_gateway_deliveries_total when it exports it, else what the
// harness received from it.
func (r *runner) deliveryCosts(recv []int64) []GatewayCost {
	byName := map[string]ProcessReport{}
	for _, p := range r.res.Servers {
		byName[p.Name] = p
	}
	var out []GatewayCost
	for g, ti := range r.gatewayTargets() {
		name := r.cfg.Targets[ti].Name
		gc := GatewayCost{Name: name, HarnessReceived: recv[g]}
		if p, ok := byName[name]; ok && p.Error == "" {
			gc.CPUSeconds = p.CPUSeconds
			gc.Deliveries = p.counter("chatgate_gateway_deliveries_total")
			if gc.Deliveries == 0 {
				gc.Deliveries = float64(recv[g])
			}
			if gc.Connections == 0 {
				gc.Connections = int64(p.Gauges["chatgate_gateway_connections"])
			}
			if p.CPUSeconds > 0 {
				gc.DeliveriesPerCPUSecond = gc.Deliveries / p.CPUSeconds
			}
		}
		out = append(out, gc)
	}
	return out
}

// newRunID makes the cmids of this run unique, so that the idempotency
// records of an earlier run never answer this one's sends.
func newRunID() string {
	var b [4]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// buildPlan places the users of a traffic run and plans its sends; gp is
// the group planner when the scenario has groups (to declare them).
func buildPlan(cfg Config, nGW int) (*topology, planner, *groupPlanner) {
	switch cfg.Scenario.normalize() {
	case ScenarioGroup:
		topo := roundRobinTopology(cfg, nGW)
		gp := newGroupPlanner(topo, cfg.GroupSize, cfg.Groups, cfg.GroupBase)
		return topo, gp, gp
	case ScenarioMixed:
		// The chat topology puts consecutive users on different gateways
		// too, so groups of consecutive users still span every gateway.
		topo := chatTopology(cfg, nGW)
		gp := newGroupPlanner(topo, cfg.GroupSize, cfg.Groups, cfg.GroupBase)
		return topo, &mixedPlanner{chat: newChatPlanner(topo, cfg.Senders), group: gp, share: cfg.GroupShare}, gp
	default: // chat, churn
		topo := chatTopology(cfg, nGW)
		return topo, newChatPlanner(topo, cfg.Senders), nil
	}
}

// declareGroups writes the groups of the run to Redis and returns their
// removal, bounded on its own so that it runs even after the run's
// context ended.
func (r *runner) declareGroups(ctx context.Context, gp *groupPlanner) (func(), error) {
	cleanup, err := setupGroups(ctx, r.rdb, r.cfg.AppID, gp, r.cfg.ManagedGroups)
	if err != nil {
		return nil, err
	}
	return func() {
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		defer cancel()
		if err := cleanup(cctx); err != nil {
			r.log.Warn("group cleanup", "err", err)
		}
	}, nil
}

// judgeTraffic fails the run for lost or out-of-order deliveries and for
// sends that were never answered.
func (r *runner) judgeTraffic(tr *TrafficReport, lr Report) {
	if lr.NotDeliveredYet > 0 {
		r.res.fail("ledger: %d of %d expected deliveries not delivered yet when the drain ended after %v (late or lost: rerun with a longer -drain to tell)",
			lr.NotDeliveredYet, lr.Expected, r.cfg.Drain)
	}
	if lr.Lost > 0 || lr.OutOfOrder > 0 {
		r.res.fail("ledger: %d of %d expected deliveries lost, %d out of order", lr.Lost, lr.Expected, lr.OutOfOrder)
	}
	if tr.Unanswered > 0 {
		r.res.fail("%d sends had neither ack nor error %v after the last send", tr.Unanswered, r.cfg.Drain)
	}
	if c := r.res.Churn; c != nil && c.Recovered < c.DevicesCut {
		r.res.fail("churn: %d of %d cut devices were not connected and caught up by the end of the drain", c.DevicesCut-c.Recovered, c.DevicesCut)
	}
}
