package loadtest

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/chatgate/chatgate/client"
	"github.com/chatgate/chatgate/protocol"
)

// fleet is the devices of a traffic scenario, each a client.Session: the
// client applications use, with reconnects, catch-up sync and duplicate
// suppression, so that the ledger judges the delivery contract the way an
// application sees it.
type fleet struct {
	topo *topology
	dial *dialer
	// lo and hi bound the device indexes this process drives.
	lo, hi int
	// onAck, when set, learns every acked (message id, event number): a
	// worker process reports them so that the coordinator's ledger can
	// rebuild each message's targets from the plan.
	onAck func(id, n int64)
	// churn is set in churn and mixed runs.
	churn  *churner
	ctx    context.Context // the sessions' context, for churn's followers
	urls   []string        // gateway WebSocket URLs by gateway index
	app    string
	st     *stats
	ledger *Ledger
	log    *slog.Logger
	// after is the id the sessions start from: messages of earlier runs to
	// the same users are not this run's business.
	after protocol.ID

	sessions []*client.Session
	started  []time.Time // when each device's session was started
	seen     []atomic.Bool
	// recvByGW counts messages received by the devices of each gateway.
	recvByGW []atomic.Int64
	// closing is set when the harness itself ends the sessions, so that
	// their ends are not counted as disconnects.
	closing   atomic.Bool
	consumers sync.WaitGroup
}

// sessionBuffer is each connection's queue of received messages. A device
// of a large group run receives about rate/groups messages per second; this
// holds several seconds of that before the client gives up on the harness
// as a slow consumer (counted, then recovered by reconnect and sync).
const sessionBuffer = 1024

func newFleet(topo *topology, urls []string, app string, st *stats, ledger *Ledger, log *slog.Logger, start time.Time, dial *dialer, lo, hi int) *fleet {
	return &fleet{
		topo:     topo,
		dial:     dial,
		lo:       lo,
		hi:       hi,
		urls:     urls,
		app:      app,
		st:       st,
		ledger:   ledger,
		log:      log,
		after:    idAt(start),
		sessions: make([]*client.Session, topo.devices()),
		started:  make([]time.Time, topo.devices()),
		seen:     make([]atomic.Bool, topo.devices()),
		recvByGW: make([]atomic.Int64, len(urls)),
	}
}

// idEpochMs is the origin of message ids (protocol/PROTOCOL.md section 2).
const idEpochMs = 1704067200000

// idAt is the smallest message id made at t.
func idAt(t time.Time) protocol.ID {
	ms := t.UnixMilli() - idEpochMs
	if ms < 0 {
		return 0
	}
	return protocol.ID(ms << 22)
}

// start starts every device's session at rate per second (open loop) and
// returns once all are started; Ready tells when they are connected.
func (f *fleet) start(ctx context.Context, tokens *tokenSource, rate float64) error {
	f.ctx = ctx
	toks := map[int]string{}
	for i := f.lo; i < f.hi; i++ {
		u := i / f.topo.k
		if _, ok := toks[u]; ok {
			continue
		}
		t, err := tokens.token(f.topo.ids[u])
		if err != nil {
			return err
		}
		toks[u] = t
	}
	mine := f.hi - f.lo
	sch := newSchedule(time.Now(), rate, time.Duration(float64(mine)/rate*float64(time.Second))+time.Second, int64(mine))
	var startErr error
	n := sch.run(ctx, nil, nil, func(n int64, _ time.Time) {
		if startErr != nil {
			return
		}
		i := f.lo + int(n)
		startErr = f.startOne(ctx, i, toks[i/f.topo.k])
	})
	if startErr != nil {
		return startErr
	}
	if int(n) < mine {
		return fmt.Errorf("started %d of %d devices: %w", n, mine, ctx.Err())
	}
	return nil
}

func (f *fleet) startOne(ctx context.Context, i int, token string) error {
	dev := f.topo.device(i)
	gw := f.topo.deviceGW(i)
	// The device's own gateway first; after a disconnect the session moves
	// on to the others, as a real client fails over.
	urls := make([]string, 0, len(f.urls))
	for j := range f.urls {
		urls = append(urls, f.urls[(gw+j)%len(f.urls)])
	}
	f.started[i] = time.Now()
	s, err := client.StartSession(withDevice(ctx, i), client.SessionConfig{
		Config: client.Config{
			AppID: f.app, Token: token, DeviceSN: dev.Device, Platform: protocol.PlatformLinux,
			MessageBuffer: sessionBuffer, HTTPClient: f.dial.hc,
		},
		URLs:         urls,
		After:        f.after,
		OnConnect:    func(*protocol.Hello) { f.onConnect(i, dev) },
		OnDisconnect: func(err error) { f.onDisconnect(i, err) },
	})
	if err != nil {
		return fmt.Errorf("start device %s: %w", dev, err)
	}
	f.sessions[i] = s
	f.consumers.Add(1)
	go func() {
		defer f.consumers.Done()
		for in := range s.Messages() {
			f.onMessage(i, gw, dev, in)
		}
	}()
	return nil
}

func (f *fleet) onConnect(i int, dev DeviceKey) {
	f.st.open.Add(1)
	// A new connection may replay by sync what the last one received live.
	f.ledger.Reconnected(dev)
	if f.seen[i].Swap(true) {
		f.st.reconnects.Add(1)
		if f.churn != nil {
			f.churn.onConnect(f.ctx, i)
		}
		return
	}
	f.st.connects.Add(1)
	f.st.connectLat.Record(i, time.Since(f.started[i]))
}

func (f *fleet) onDisconnect(i int, err error) {
	f.st.open.Add(-1)
	if f.closing.Load() {
		return
	}
	if f.churn.isCut(i) {
		f.st.churnDrops.Add(1)
		return
	}
	f.st.disconnects.Add(1)
	f.st.addError("disconnect", err)
}

func (f *fleet) onMessage(i, gw int, dev DeviceKey, in client.Incoming) {
	now := time.Now()
	f.st.received.Add(1)
	storeMax(&f.st.lastRecv, now.UnixNano())
	f.recvByGW[gw].Add(1)
	if in.Synced {
		f.st.synced.Add(1)
	}
	f.ledger.Received(dev, int64(in.ID), in.Conv, !in.Synced)
	if lt, ok := parseLT(in.Ext); ok {
		// A message that waited for a device's reconnect measures the
		// reconnect, not the delivery path: it has its own histogram.
		if in.Synced {
			f.st.syncLat.Record(i, now.Sub(time.Unix(0, lt)))
		} else {
			f.st.deliveryLat.Record(i, now.Sub(time.Unix(0, lt)))
		}
	}
}

// waitReady waits until every session is connected and caught up, or
// until ctx ends; it returns how many are not ready.
func (f *fleet) waitReady(ctx context.Context) int {
	var notReady atomic.Int64
	sem := make(chan struct{}, 256)
	var wg sync.WaitGroup
	for _, s := range f.sessions[f.lo:f.hi] {
		if s == nil {
			notReady.Add(1)
			continue
		}
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			if err := s.Ready(ctx); err != nil {
				notReady.Add(1)
			}
		})
	}
	wg.Wait()
	return int(notReady.Load())
}

// close ends every session (each dacks and closes its connection) and
// waits for their consumers.
func (f *fleet) close() {
	f.closing.Store(true)
	sem := make(chan struct{}, 256)
	var wg sync.WaitGroup
	for _, s := range f.sessions {
		if s == nil {
			continue
		}
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			_ = s.Close()
		})
	}
	wg.Wait()
	f.consumers.Wait()
}

// send sends one planned message and accounts for its outcome; the caller
// counted it as sent when it handed it over. due is when the schedule wanted
// it sent: every latency is measured from there.
func (f *fleet) send(ctx context.Context, p sendPlan, n int64, cmid string, content string, due time.Time) {
	s := f.sessions[p.from]
	f.st.lagLat.Record(p.from, time.Since(due))
	ack, err := s.Send(ctx, client.Outgoing{
		CMID: cmid, ToUser: p.toUser, ToGroup: p.toGroup, Type: "text", Content: content,
		Ext: formatLT(due),
	})
	now := time.Now()
	if err != nil {
		if ctx.Err() != nil && !isRefusal(err) {
			f.st.unanswered.Add(1)
			return
		}
		f.st.sendErrors.Add(1)
		f.st.addError("send", err)
		return
	}
	f.st.ackLat.Record(p.from, now.Sub(due))
	f.st.acked.Add(1)
	storeMax(&f.st.lastAck, now.UnixNano())
	f.st.expected.Add(int64(len(p.targets)))
	f.ledger.Acked(int64(ack.ID), p.conv, f.topo.device(p.from), p.targets)
	if f.onAck != nil {
		f.onAck(int64(ack.ID), n)
	}
}

// isRefusal reports whether the server answered a send with an error.
func isRefusal(err error) bool {
	var perr *protocol.Error
	return errors.As(err, &perr)
}

// The send time travels in the message's ext as {"lt":<unix ns>}, so that
// the receiving device can compute the delivery latency; every process
// runs on one machine, so both ends read the same clock.
func formatLT(t time.Time) string {
	return `{"lt":` + strconv.FormatInt(t.UnixNano(), 10) + `}`
}

// parseLT reads the send time back from ext, without a JSON decoder: this
// runs once per delivery and the format is ours.
func parseLT(ext string) (int64, bool) {
	rest, ok := strings.CutPrefix(ext, `{"lt":`)
	if !ok {
		return 0, false
	}
	num, ok := strings.CutSuffix(rest, "}")
	if !ok {
		return 0, false
	}
	v, err := strconv.ParseInt(num, 10, 64)
	if err != nil || v <= 0 {
		return 0, false
	}
	return v, true
}
