package router

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/chatgate/chatgate/internal/bus"
	"github.com/chatgate/chatgate/internal/config"
	"github.com/chatgate/chatgate/internal/ids"
	"github.com/chatgate/chatgate/internal/redistest"
	"github.com/chatgate/chatgate/protocol"
	"github.com/chatgate/chatgate/store"
)

// env is one test's Redis, store and app. The test plays the gateways:
// it writes ingress entries and routes and reads delivery and push streams.
type env struct {
	t   *testing.T
	ctx context.Context
	rdb *redis.Client
	st  *store.Store
	app string
	cfg config.Router
}

func testConfig() config.Router {
	return config.Router{Partitions: 4, Batch: 64, LeaseTTL: time.Second, PushPartitions: 2}
}

func newEnv(t *testing.T, cfg config.Router) *env {
	t.Helper()
	rdb := redistest.Client(t)
	ctx := context.Background()
	// A shared REDIS_ADDR would carry leases and streams over from other
	// tests; a server started for this test is empty anyway.
	if err := rdb.FlushDB(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	return &env{t: t, ctx: ctx, rdb: rdb, st: store.New(rdb, store.Options{}), app: "app1", cfg: cfg}
}

type testRouter struct {
	*Router
	reg      *prometheus.Registry
	cancel   context.CancelFunc
	done     chan error
	stopOnce sync.Once
}

func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelInfo}))
}

// start runs a router named node with id generator node number idNode,
// after applying opts to it.
func (e *env) start(node string, idNode int, opts ...func(*Router)) *testRouter {
	e.t.Helper()
	gen, err := ids.New(idNode)
	if err != nil {
		e.t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	r, err := New(e.cfg, node, Deps{Store: e.st, IDs: gen, Log: testLogger(e.t), Metrics: reg})
	if err != nil {
		e.t.Fatal(err)
	}
	for _, o := range opts {
		o(r)
	}
	ctx, cancel := context.WithCancel(context.Background())
	tr := &testRouter{Router: r, reg: reg, cancel: cancel, done: make(chan error, 1)}
	go func() { tr.done <- r.Run(ctx) }()
	e.t.Cleanup(tr.stop)
	return tr
}

// stop is a clean shutdown; crash returns without releasing anything.
func (tr *testRouter) stop() {
	tr.stopOnce.Do(func() {
		tr.cancel()
		select {
		case err := <-tr.done:
			if err != nil {
				panic(fmt.Sprintf("router %s: Run: %v", tr.node, err))
			}
		case <-time.After(10 * time.Second):
			panic("router " + tr.node + " did not stop")
		}
	})
}

func (tr *testRouter) crash() {
	tr.abandon.Store(true)
	tr.stop()
}

func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// waitOwned waits until the routers together own every partition, each
// exactly once.
func (e *env) waitOwned(rs ...*testRouter) {
	e.t.Helper()
	waitFor(e.t, 10*time.Second, "every partition owned once", func() bool {
		seen := map[int]int{}
		for _, r := range rs {
			for _, p := range r.Partitions() {
				seen[p]++
			}
		}
		if len(seen) != e.cfg.Partitions {
			return false
		}
		for _, n := range seen {
			if n != 1 {
				return false
			}
		}
		return true
	})
}

// online registers a live route of uid's device dev on node.
func (e *env) online(uid int64, dev int32, node string, bg bool) {
	e.t.Helper()
	now := time.Now()
	r := store.Route{Device: dev, Node: node, Conn: fmt.Sprintf("c%d-%d", uid, dev), BG: bg, Expires: now.Add(time.Minute).UnixMilli()}
	if _, err := e.st.RegisterRoute(e.ctx, e.app, uid, r, 0, time.Minute, now); err != nil {
		e.t.Fatal(err)
	}
}

// device registers a device, with a push token when token is not empty.
func (e *env) device(uid int64, dev int32, token string) {
	e.t.Helper()
	if err := e.st.TouchDevice(e.ctx, e.app, uid, store.Device{SN: dev, Platform: protocol.PlatformIOS, PushToken: token, LastSeen: 1}); err != nil {
		e.t.Fatal(err)
	}
}

// send writes s to its ingress partition, filling in the app, a text
// type and the receive time.
func (e *env) send(s bus.Send) {
	e.t.Helper()
	if s.App == "" {
		s.App = e.app
	}
	if s.Type == "" {
		s.Type = "text"
	}
	if s.TS == 0 {
		s.TS = time.Now().UnixMilli()
	}
	conv := protocol.ConvID(s.From, s.ToUser, s.ToGroup)
	vals, err := bus.Encode(s)
	if err != nil {
		e.t.Fatal(err)
	}
	p := bus.Partition(s.App, conv, e.cfg.Partitions)
	if err := e.rdb.XAdd(e.ctx, &redis.XAddArgs{Stream: bus.IngressStream(p), Values: vals}).Err(); err != nil {
		e.t.Fatal(err)
	}
}

// entries returns the delivery stream entries of node.
func (e *env) entries(node string) []bus.Batch {
	e.t.Helper()
	msgs, err := e.rdb.XRange(e.ctx, bus.DeliveryStream(node), "-", "+").Result()
	if err != nil {
		e.t.Fatal(err)
	}
	out := make([]bus.Batch, len(msgs))
	for i, m := range msgs {
		if err := bus.Decode(m, &out[i]); err != nil {
			e.t.Fatal(err)
		}
	}
	return out
}

// items returns every delivery item written to node, in order.
func (e *env) items(node string) []bus.Delivery {
	var out []bus.Delivery
	for _, b := range e.entries(node) {
		out = append(out, b.Items...)
	}
	return out
}

func ofKind(items []bus.Delivery, kind string) []bus.Delivery {
	var out []bus.Delivery
	for _, it := range items {
		if it.Kind == kind {
			out = append(out, it)
		}
	}
	return out
}

// waitItems waits until node has received at least n items of kind.
func (e *env) waitItems(node, kind string, n int) []bus.Delivery {
	e.t.Helper()
	var got []bus.Delivery
	waitFor(e.t, 10*time.Second, fmt.Sprintf("%d %s items on %s", n, kind, node), func() bool {
		got = ofKind(e.items(node), kind)
		return len(got) >= n
	})
	return got
}

func decodeMsg(t *testing.T, raw json.RawMessage) protocol.Message {
	t.Helper()
	var m protocol.Message
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatalf("decode message %s: %v", raw, err)
	}
	return m
}

// pushJobs returns every push job written, sorted by user and device.
func (e *env) pushJobs() []bus.PushJob {
	e.t.Helper()
	var out []bus.PushJob
	for q := 0; q < e.cfg.PushPartitions; q++ {
		msgs, err := e.rdb.XRange(e.ctx, bus.PushStream(q), "-", "+").Result()
		if err != nil {
			e.t.Fatal(err)
		}
		for _, m := range msgs {
			var j bus.PushJob
			if err := bus.Decode(m, &j); err != nil {
				e.t.Fatal(err)
			}
			if want := bus.PushPartition(j.App, j.User, e.cfg.PushPartitions); want != q {
				e.t.Errorf("push job of user %d in partition %d, want %d", j.User, q, want)
			}
			out = append(out, j)
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].User != out[j].User {
			return out[i].User < out[j].User
		}
		return out[i].Device < out[j].Device
	})
	return out
}

// bodies returns the ids of the stored message bodies of a conversation.
func (e *env) bodies(conv string) []string {
	e.t.Helper()
	keys, err := e.rdb.Keys(e.ctx, "cg:c:{"+e.app+":"+conv+"}:m:*").Result()
	if err != nil {
		e.t.Fatal(err)
	}
	for i, k := range keys {
		keys[i] = k[strings.LastIndex(k, ":")+1:]
	}
	sort.Strings(keys)
	return keys
}

// inbox returns the message ids in uid's inbox, in order.
func (e *env) inbox(uid int64) []int64 {
	e.t.Helper()
	members, err := e.rdb.ZRange(e.ctx, store.InboxKey(e.app, uid), 0, -1).Result()
	if err != nil {
		e.t.Fatal(err)
	}
	out := make([]int64, len(members))
	for i, m := range members {
		id, _, _ := strings.Cut(m, ":")
		out[i], _ = strconv.ParseInt(id, 10, 64)
	}
	return out
}

// ingressLeft counts entries still in the ingress streams and pending in
// the group: both are zero once everything was routed and acknowledged.
func (e *env) ingressLeft() (entries, pending int64) {
	e.t.Helper()
	for p := 0; p < e.cfg.Partitions; p++ {
		n, err := e.rdb.XLen(e.ctx, bus.IngressStream(p)).Result()
		if err != nil {
			e.t.Fatal(err)
		}
		entries += n
		if pe, err := e.rdb.XPending(e.ctx, bus.IngressStream(p), bus.RouterGroup).Result(); err == nil {
			pending += pe.Count
		}
	}
	return entries, pending
}

// counter reads a counter of the router's registry (0 when absent).
func (tr *testRouter) counter(name string, labels map[string]string) float64 {
	mfs, err := tr.reg.Gather()
	if err != nil {
		panic(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	next:
		for _, m := range mf.GetMetric() {
			for _, lp := range m.GetLabel() {
				if labels[lp.GetName()] != lp.GetValue() {
					continue next
				}
			}
			switch {
			case m.Counter != nil:
				return m.Counter.GetValue()
			case m.Gauge != nil:
				return m.Gauge.GetValue()
			case m.Histogram != nil:
				return float64(m.Histogram.GetSampleCount())
			}
		}
	}
	return 0
}
