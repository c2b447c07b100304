package router

import (
	"fmt"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/chatgate/chatgate/internal/bus"
	"github.com/chatgate/chatgate/internal/ids"
	"github.com/chatgate/chatgate/protocol"
)

// leaseHolders maps each partition to the node its lease key names.
func (e *env) leaseHolders() map[int]string {
	out := map[int]string{}
	for p := 0; p < e.cfg.Partitions; p++ {
		if v, err := e.rdb.Get(e.ctx, leaseKey(p)).Result(); err == nil {
			out[p] = v
		}
	}
	return out
}

func (e *env) checkLeases(rs ...*testRouter) {
	e.t.Helper()
	holders := e.leaseHolders()
	for _, r := range rs {
		for _, p := range r.Partitions() {
			if holders[p] != r.node {
				e.t.Errorf("%s works partition %d whose lease names %q", r.node, p, holders[p])
			}
		}
	}
}

func TestRebalance(t *testing.T) {
	cfg := testConfig()
	cfg.Partitions = 8
	e := newEnv(t, cfg)
	a := e.start("ra", 1)
	e.waitOwned(a)
	if !a.Ready() {
		t.Error("a is not ready")
	}

	b := e.start("rb", 2)
	e.waitOwned(a, b)
	waitFor(t, 10*time.Second, "an even split", func() bool {
		return len(a.Partitions()) == 4 && len(b.Partitions()) == 4
	})
	e.checkLeases(a, b)

	c := e.start("rc", 3)
	waitFor(t, 10*time.Second, "three routers sharing 3/3/2", func() bool {
		n := []int{len(a.Partitions()), len(b.Partitions()), len(c.Partitions())}
		slices.Sort(n)
		return slices.Equal(n, []int{2, 3, 3}) && n[0]+n[1]+n[2] == 8
	})
	e.waitOwned(a, b, c)
	e.checkLeases(a, b, c)

	// Traffic keeps flowing while routers leave.
	e.online(2, 1, "gwB", false)
	var sent atomic.Int64
	stopSend := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; ; i++ {
			select {
			case <-stopSend:
				return
			default:
			}
			e.send(bus.Send{From: int64(100 + i%50), FromDev: 1, Node: "gwA", Conn: "c", CMID: fmt.Sprint(i), ToUser: 2, Content: "x"})
			sent.Add(1)
			time.Sleep(2 * time.Millisecond)
		}
	}()

	// A clean stop releases at once: the others take over well before a
	// lease TTL would have passed.
	stopped := time.Now()
	c.stop()
	e.waitOwned(a, b)
	if d := time.Since(stopped); d > 2*cfg.LeaseTTL {
		t.Errorf("takeover after a clean stop took %v", d)
	}
	waitFor(t, 10*time.Second, "4/4 again", func() bool {
		return len(a.Partitions()) == 4 && len(b.Partitions()) == 4
	})
	b.stop()
	e.waitOwned(a)
	close(stopSend)
	wg.Wait()
	waitFor(t, 10*time.Second, "every send acknowledged", func() bool {
		return len(ofKind(e.items("gwA"), bus.KindAck)) >= int(sent.Load())
	})
	acks := map[string]int64{}
	for _, ack := range ofKind(e.items("gwA"), bus.KindAck) {
		if prev, ok := acks[ack.CMID]; ok && prev != ack.ID {
			t.Errorf("cmid %s acked with ids %d and %d", ack.CMID, prev, ack.ID)
		}
		acks[ack.CMID] = ack.ID
	}
	if len(acks) != int(sent.Load()) {
		t.Errorf("%d distinct acks for %d sends", len(acks), sent.Load())
	}
	if n, p := e.ingressLeft(); n != 0 || p != 0 {
		t.Errorf("ingress left: %d entries, %d pending", n, p)
	}
	if n := e.rdb.ZCard(e.ctx, routersKey).Val(); n != 1 {
		t.Errorf("%d routers registered, want 1", n)
	}
}

// TestTakeoverAfterCrash: a router dies without releasing anything while
// traffic flows; the survivor takes its partitions over after the lease
// TTL, routes what the dead one left pending, and no message is lost or
// reordered within its conversation.
func TestTakeoverAfterCrash(t *testing.T) {
	cfg := testConfig()
	cfg.Partitions = 8
	cfg.Batch = 8
	e := newEnv(t, cfg)
	a := e.start("ra", 1)
	b := e.start("rb", 2)
	e.waitOwned(a, b)
	waitFor(t, 10*time.Second, "an even split", func() bool {
		return len(a.Partitions()) == 4 && len(b.Partitions()) == 4
	})
	const convs = 16
	for c := 0; c < convs; c++ {
		e.online(int64(1000+c), 1, "gwR", false)
	}
	var sent atomic.Int64
	stopSend := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; ; i++ {
			select {
			case <-stopSend:
				return
			default:
			}
			c := i % convs
			e.send(bus.Send{From: int64(1 + c), FromDev: 1, Node: "gwS", Conn: "c", CMID: fmt.Sprint(i),
				ToUser: int64(1000 + c), Content: strconv.Itoa(i)})
			sent.Add(1)
			time.Sleep(time.Millisecond)
		}
	}()
	time.Sleep(300 * time.Millisecond)
	aParts := a.Partitions()
	crashed := time.Now()
	a.crash()
	e.waitOwned(b)
	took := time.Since(crashed)
	t.Logf("takeover of %v after %v", aParts, took)
	if took < cfg.LeaseTTL/2 {
		t.Errorf("took over after %v: before the dead router's leases could expire", took)
	}
	time.Sleep(300 * time.Millisecond)
	close(stopSend)
	wg.Wait()
	n := int(sent.Load())
	waitFor(t, 10*time.Second, "every send acknowledged", func() bool {
		return len(ackIDs(e.items("gwS"))) == n
	})
	acks := ackIDs(e.items("gwS"))
	// Per conversation, deliveries (first copy of each id) and history are
	// in send order, ids growing.
	last := map[string]int{}
	lastID := map[string]int64{}
	seen := map[int64]bool{}
	for _, it := range ofKind(e.items("gwR"), bus.KindMsg) {
		m := decodeMsg(t, it.Msg)
		if seen[int64(m.ID)] {
			continue
		}
		seen[int64(m.ID)] = true
		seq, _ := strconv.Atoi(m.Content)
		if prev, ok := last[m.Conv]; ok && (seq <= prev || int64(m.ID) <= lastID[m.Conv]) {
			t.Fatalf("%s: message %d (id %d) delivered after %d (id %d)", m.Conv, seq, m.ID, prev, lastID[m.Conv])
		}
		last[m.Conv], lastID[m.Conv] = seq, int64(m.ID)
		if acks[m.CMID] != int64(m.ID) {
			t.Errorf("message %s delivered with id %d, acked with %d", m.CMID, m.ID, acks[m.CMID])
		}
	}
	if len(seen) != n {
		t.Errorf("%d messages delivered, %d sent", len(seen), n)
	}
	for c := 0; c < convs; c++ {
		conv := protocol.ConvID(int64(1+c), int64(1000+c), 0)
		hist, err := e.st.History(e.ctx, e.app, conv, 0, 10000)
		if err != nil {
			t.Fatal(err)
		}
		prev := 1 << 30
		for _, h := range hist { // newest first
			seq, _ := strconv.Atoi(decodeMsg(t, h).Content)
			if seq >= prev {
				t.Fatalf("%s history: %d before %d", conv, seq, prev)
			}
			prev = seq
		}
	}
	if n, p := e.ingressLeft(); n != 0 || p != 0 {
		t.Errorf("ingress left: %d entries, %d pending", n, p)
	}
}

func ackIDs(items []bus.Delivery) map[string]int64 {
	out := map[string]int64{}
	for _, it := range ofKind(items, bus.KindAck) {
		out[it.CMID] = it.ID
	}
	return out
}

// TestTakeoverClaimsPending: entries a dead consumer read and never
// acknowledged are routed by the next owner, only once its lease expired,
// oldest first.
func TestTakeoverClaimsPending(t *testing.T) {
	cfg := testConfig()
	cfg.Partitions = 2
	e := newEnv(t, cfg)
	// "ghost" owns both partitions and has read every entry.
	for p := 0; p < cfg.Partitions; p++ {
		if err := e.rdb.Set(e.ctx, leaseKey(p), "ghost", 1500*time.Millisecond).Err(); err != nil {
			t.Fatal(err)
		}
		if err := bus.EnsureGroup(e.ctx, e.rdb, bus.IngressStream(p), bus.RouterGroup); err != nil {
			t.Fatal(err)
		}
	}
	e.online(2, 1, "gwB", false)
	const n = 50
	for i := 0; i < n; i++ {
		e.send(bus.Send{From: 1, FromDev: 1, Node: "gwA", Conn: "c", CMID: fmt.Sprint(i), ToUser: 2, Content: strconv.Itoa(i)})
	}
	p := bus.Partition(e.app, "u:1:2", cfg.Partitions)
	read, err := e.rdb.XReadGroup(e.ctx, &redis.XReadGroupArgs{Group: bus.RouterGroup, Consumer: "ghost",
		Streams: []string{bus.IngressStream(p), ">"}, Count: 30}).Result()
	if err != nil || len(read[0].Messages) != 30 {
		t.Fatalf("ghost read: %v", err)
	}
	start := time.Now()
	r := e.start("r1", 1)
	time.Sleep(time.Second)
	if got := len(e.items("gwB")); got != 0 {
		t.Fatalf("%d deliveries while the ghost's lease was live", got)
	}
	msgs := e.waitItems("gwB", bus.KindMsg, n)
	t.Logf("routed after %v", time.Since(start))
	for i, it := range msgs {
		if m := decodeMsg(t, it.Msg); m.Content != strconv.Itoa(i) {
			t.Fatalf("delivery %d is message %s", i, m.Content)
		}
	}
	if n, pe := e.ingressLeft(); n != 0 || pe != 0 {
		t.Errorf("ingress left: %d entries, %d pending", n, pe)
	}
	e.checkLeases(r)
}

// TestLostLease: a router whose lease was taken stops working the
// partition at once and does not touch it until it is free again.
func TestLostLease(t *testing.T) {
	cfg := testConfig()
	cfg.Partitions = 1
	e := newEnv(t, cfg)
	r := e.start("r1", 1, func(r *Router) { r.lagEvery = 50 * time.Millisecond })
	e.waitOwned(r)
	e.online(2, 1, "gwB", false)
	lagSeries := func() int {
		mfs, _ := r.reg.Gather()
		for _, mf := range mfs {
			if mf.GetName() == "chatgate_router_ingress_lag_entries" {
				return len(mf.GetMetric())
			}
		}
		return 0
	}
	waitFor(t, 5*time.Second, "an ingress lag sample", func() bool { return lagSeries() == 1 })
	// Another process overwrote the lease (e.g. after a long pause of r1).
	if err := e.rdb.Set(e.ctx, leaseKey(0), "thief", 0).Err(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "r1 to give up the partition", func() bool { return len(r.Partitions()) == 0 })
	waitFor(t, 5*time.Second, "the lag series of a partition no longer owned to go", func() bool { return lagSeries() == 0 })
	e.send(bus.Send{From: 1, FromDev: 1, Node: "gwA", Conn: "c", CMID: "x", ToUser: 2, Content: "wait"})
	time.Sleep(cfg.LeaseTTL)
	if len(e.items("gwB")) != 0 {
		t.Fatal("routed a partition whose lease is someone else's")
	}
	if v := e.rdb.Get(e.ctx, leaseKey(0)).Val(); v != "thief" {
		t.Fatalf("lease now %q: the router overwrote or deleted another's lease", v)
	}
	e.rdb.Del(e.ctx, leaseKey(0))
	e.waitItems("gwB", bus.KindMsg, 1)
	e.waitOwned(r)
}

// TestStaleLeaseStopsWorker: a worker whose lease has not been renewed
// for 2/3 of the TTL processes nothing more.
func TestStaleLeaseStopsWorker(t *testing.T) {
	e := newEnv(t, testConfig())
	gen, _ := ids.New(1)
	r, err := New(e.cfg, "r1", Deps{Store: e.st, IDs: gen})
	if err != nil {
		t.Fatal(err)
	}
	e.online(2, 1, "gwB", false)
	e.send(bus.Send{From: 1, FromDev: 1, Node: "gwA", Conn: "c", CMID: "x", ToUser: 2, Content: "stale"})
	pt := &partition{p: bus.Partition(e.app, "u:1:2", e.cfg.Partitions), done: make(chan struct{})}
	pt.validUntil.Store(int64(r.mono())) // expired just now
	done := make(chan struct{})
	go func() {
		defer close(done)
		r.work(t.Context(), pt)
	}()
	select {
	case <-done:
	case <-time.After(2 * time.Second):
		t.Fatal("worker with a stale lease kept running")
	}
	if len(e.items("gwB")) != 0 {
		t.Error("a stale worker routed a message")
	}
}

// TestHighWaterFence: a new owner whose clock is behind the previous
// owner's waits until its ids are above every id routed in the partition.
func TestHighWaterFence(t *testing.T) {
	cfg := testConfig()
	cfg.Partitions = 1
	e := newEnv(t, cfg)
	high := ids.FloorAt(time.Now().Add(400*time.Millisecond)) + 5
	if err := e.rdb.Set(e.ctx, highKey(0), high, 0).Err(); err != nil {
		t.Fatal(err)
	}
	e.online(2, 1, "gwB", false)
	e.send(bus.Send{From: 1, FromDev: 1, Node: "gwA", Conn: "c", CMID: "x", ToUser: 2, Content: "later"})
	r := e.start("r1", 0)
	ack := e.waitItems("gwA", bus.KindAck, 1)[0]
	if ack.ID <= high {
		t.Errorf("routed with id %d, not above the high-water mark %d", ack.ID, high)
	}
	// Handing the partition over records the highest id routed.
	r.stop()
	if got, _ := e.rdb.Get(e.ctx, highKey(0)).Int64(); got != ack.ID {
		t.Errorf("high-water mark %d, want %d", got, ack.ID)
	}
	if n := e.rdb.Exists(e.ctx, leaseKey(0)).Val(); n != 0 {
		t.Error("clean stop kept the lease")
	}
}
