package router

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/chatgate/chatgate/internal/bus"
	"github.com/chatgate/chatgate/internal/ids"
	"github.com/chatgate/chatgate/protocol"
	"github.com/chatgate/chatgate/store"
)

func TestOneToOne(t *testing.T) {
	e := newEnv(t, testConfig())
	r := e.start("r1", 1)
	e.waitOwned(r)
	// User 1 sends from device 1 on gwA and has device 2 on gwB; user 2
	// has device 1 on gwB.
	e.online(1, 1, "gwA", false)
	e.online(1, 2, "gwB", false)
	e.online(2, 1, "gwB", false)
	e.send(bus.Send{From: 1, FromDev: 1, Node: "gwA", Conn: "c1-1", Rid: 7, CMID: "m1", ToUser: 2, Content: "hi", Ext: `{"k":1}`})

	acks := e.waitItems("gwA", bus.KindAck, 1)
	ack := acks[0]
	if ack.User != 1 || ack.Device != 1 || ack.Conn != "c1-1" || ack.Rid != 7 || ack.CMID != "m1" || ack.ID == 0 {
		t.Fatalf("ack = %+v", ack)
	}
	if ack.TS != ids.Time(ack.ID).UnixMilli() {
		t.Errorf("ack ts %d, want the id's time %d", ack.TS, ids.Time(ack.ID).UnixMilli())
	}
	if msgs := ofKind(e.items("gwA"), bus.KindMsg); len(msgs) != 0 {
		t.Errorf("gwA holds only the sending device but got %d msg items", len(msgs))
	}
	msgs := e.waitItems("gwB", bus.KindMsg, 1)
	if len(msgs) != 1 {
		t.Fatalf("gwB got %d msg items", len(msgs))
	}
	d := msgs[0]
	if !slices.Equal(d.Users, []int64{2, 1}) || d.SkipUser != 1 || d.SkipDev != 1 || d.App != e.app {
		t.Errorf("msg item = %+v; want users [2 1] (recipient, then the sender's other device), skip 1/1", d)
	}
	m := decodeMsg(t, d.Msg)
	want := protocol.Message{ID: protocol.ID(ack.ID), Conv: "u:1:2", From: 1, FromDev: 1, ToUser: 2, Type: "text",
		Content: "hi", Ext: `{"k":1}`, CMID: "m1", TS: ack.TS}
	if m != want {
		t.Errorf("message = %+v\nwant %+v", m, want)
	}

	// Durable: body once, history, both inboxes, idempotency done.
	if b := e.bodies("u:1:2"); len(b) != 1 || b[0] != strconv.FormatInt(ack.ID, 10) {
		t.Errorf("bodies = %v, want [%d]", b, ack.ID)
	}
	hist, err := e.st.History(e.ctx, e.app, "u:1:2", 0, 10)
	if err != nil || len(hist) != 1 || decodeMsg(t, hist[0]) != want {
		t.Errorf("history = %s, %v", hist, err)
	}
	for _, u := range []int64{1, 2} {
		if ib := e.inbox(u); !slices.Equal(ib, []int64{ack.ID}) {
			t.Errorf("inbox of %d = %v", u, ib)
		}
	}
	if v, _ := e.rdb.Get(e.ctx, store.IdemKey(e.app, 1, 1, "m1")).Result(); v != strconv.FormatInt(ack.ID, 10)+":done" {
		t.Errorf("idem = %q", v)
	}
	if n, p := e.ingressLeft(); n != 0 || p != 0 {
		t.Errorf("ingress left: %d entries, %d pending", n, p)
	}
	if ttl := e.rdb.PTTL(e.ctx, bus.DeliveryStream("gwB")).Val(); ttl <= 0 || ttl > deliveryStreamTTL {
		t.Errorf("delivery stream ttl = %v", ttl)
	}
	if len(e.pushJobs()) != 0 {
		t.Error("push jobs for online devices")
	}
	if v := r.counter("chatgate_router_messages_total", map[string]string{"result": "routed"}); v != 1 {
		t.Errorf("routed = %v", v)
	}
	if v := r.counter("chatgate_router_deliveries_written_total", nil); v != 2 {
		t.Errorf("deliveries written = %v, want 2 (msg on gwB, ack on gwA)", v)
	}
	if v := r.counter("chatgate_router_ingress_latency_seconds", nil); v != 1 {
		t.Errorf("latency samples = %v", v)
	}
	if v := r.counter("chatgate_router_partitions_owned", nil); v != 4 {
		t.Errorf("partitions owned gauge = %v", v)
	}
}

func TestGroupFanOut(t *testing.T) {
	e := newEnv(t, testConfig())
	r := e.start("r1", 1)
	e.waitOwned(r)
	const gid = 10
	if err := e.st.AddGroupMembers(e.ctx, e.app, gid, 1, 2, 3, 4, 5, 6); err != nil {
		t.Fatal(err)
	}
	// Sender 1: device 1 sends from gwA (token: must get no push), device 2
	// offline with a token (push).
	e.online(1, 1, "gwA", false)
	e.device(1, 1, "tok1-1")
	e.device(1, 2, "tok1-2")
	// 2: device 1 foreground on gwA, device 2 offline with token (push).
	e.online(2, 1, "gwA", false)
	e.device(2, 2, "tok2-2")
	// 3: foreground on gwB with a token: delivered, no push.
	e.online(3, 1, "gwB", false)
	e.device(3, 1, "tok3-1")
	// 4: background on gwA with a token: delivered and pushed.
	e.online(4, 1, "gwA", true)
	e.device(4, 1, "tok4-1")
	// 5: offline with a token: pushed. 6: offline without: inbox only.
	e.device(5, 1, "tok5-1")
	e.device(6, 1, "")

	e.send(bus.Send{From: 1, FromDev: 1, Node: "gwA", Conn: "c1-1", Rid: 1, CMID: "g1", ToGroup: gid, Content: "hello group"})
	ack := e.waitItems("gwA", bus.KindAck, 1)[0]

	entriesA, entriesB := e.entries("gwA"), e.entries("gwB")
	if len(entriesA) != 1 || len(entriesB) != 1 {
		t.Fatalf("delivery stream entries: gwA %d, gwB %d; want one each", len(entriesA), len(entriesB))
	}
	msgA, msgB := ofKind(entriesA[0].Items, bus.KindMsg), ofKind(entriesB[0].Items, bus.KindMsg)
	if len(msgA) != 1 || len(msgB) != 1 {
		t.Fatalf("msg items: gwA %d, gwB %d", len(msgA), len(msgB))
	}
	usersA := slices.Sorted(slices.Values(msgA[0].Users))
	if !slices.Equal(usersA, []int64{2, 4}) || !slices.Equal(msgB[0].Users, []int64{3}) {
		t.Errorf("users: gwA %v want [2 4], gwB %v want [3]", usersA, msgB[0].Users)
	}
	m := decodeMsg(t, msgB[0].Msg)
	if m.ID != protocol.ID(ack.ID) || m.Conv != "g:10" || m.ToGroup != gid || m.ToUser != 0 {
		t.Errorf("message = %+v", m)
	}
	if b := e.bodies("g:10"); len(b) != 1 {
		t.Errorf("bodies = %v", b)
	}
	for u := int64(1); u <= 6; u++ {
		if ib := e.inbox(u); !slices.Equal(ib, []int64{ack.ID}) {
			t.Errorf("inbox of %d = %v", u, ib)
		}
	}
	type dev struct {
		user int64
		dev  int32
	}
	var got []dev
	for _, j := range e.pushJobs() {
		got = append(got, dev{j.User, j.Device})
		if j.MsgID != ack.ID || j.Conv != "g:10" || j.From != 1 || j.ToGroup != gid || j.Content != "hello group" ||
			j.Type != "text" || j.TS != ack.TS || j.App != e.app || j.Platform != protocol.PlatformIOS ||
			j.PushToken != fmt.Sprintf("tok%d-%d", j.User, j.Device) {
			t.Errorf("push job = %+v", j)
		}
	}
	if want := []dev{{1, 2}, {2, 2}, {4, 1}, {5, 1}}; !slices.Equal(got, want) {
		t.Errorf("push jobs for %v, want %v", got, want)
	}
	if v := r.counter("chatgate_router_push_jobs_total", nil); v != 4 {
		t.Errorf("push jobs metric = %v", v)
	}
}

// TestGroupLarge: a group bigger than one lookup chunk costs one body, one
// inbox entry per member and one delivery stream entry per gateway node.
func TestGroupLarge(t *testing.T) {
	e := newEnv(t, testConfig())
	r := e.start("r1", 1)
	e.waitOwned(r)
	const gid, members = 77, 2500
	uids := make([]int64, members)
	for i := range uids {
		uids[i] = int64(i + 1)
	}
	if err := e.st.AddGroupMembers(e.ctx, e.app, gid, uids...); err != nil {
		t.Fatal(err)
	}
	nodes := []string{"n0", "n1", "n2"}
	want := map[string][]int64{}
	for _, u := range uids {
		if u%5 == 0 {
			continue // offline
		}
		n := nodes[u%3]
		e.online(u, 1, n, false)
		if u != 1 {
			want[n] = append(want[n], u)
		}
	}
	e.send(bus.Send{From: 1, FromDev: 1, Node: "n1", Conn: "c1-1", CMID: "big", ToGroup: gid, Content: "to all"})
	ack := e.waitItems("n1", bus.KindAck, 1)[0]
	for _, n := range nodes {
		es := e.entries(n)
		if len(es) != 1 {
			t.Fatalf("%s: %d delivery stream entries, want 1", n, len(es))
		}
		msgs := ofKind(es[0].Items, bus.KindMsg)
		if len(msgs) != 1 {
			t.Fatalf("%s: %d msg items", n, len(msgs))
		}
		if got := slices.Sorted(slices.Values(msgs[0].Users)); !slices.Equal(got, want[n]) {
			t.Errorf("%s: %d users, want %d", n, len(got), len(want[n]))
		}
	}
	if b := e.bodies("g:77"); len(b) != 1 {
		t.Errorf("bodies = %v", b)
	}
	for _, u := range []int64{1, 5, 1234, members} {
		if ib := e.inbox(u); !slices.Equal(ib, []int64{ack.ID}) {
			t.Errorf("inbox of %d = %v", u, ib)
		}
	}
}

func TestIdempotency(t *testing.T) {
	e := newEnv(t, testConfig())
	r := e.start("r1", 1)
	e.waitOwned(r)
	e.online(1, 1, "gwA", false)
	e.online(2, 1, "gwB", false)
	s := bus.Send{From: 1, FromDev: 1, Node: "gwA", Conn: "c1-1", CMID: "dup", ToUser: 2, Content: "once"}

	t.Run("resend after ack", func(t *testing.T) {
		e.send(s)
		first := e.waitItems("gwA", bus.KindAck, 1)[0]
		s.Rid = 2
		e.send(s)
		acks := e.waitItems("gwA", bus.KindAck, 2)
		if acks[1].ID != first.ID || acks[1].Rid != 2 {
			t.Errorf("second ack %+v, want id %d", acks[1], first.ID)
		}
		if n := len(ofKind(e.items("gwB"), bus.KindMsg)); n != 1 {
			t.Errorf("%d deliveries, want 1", n)
		}
		if b := e.bodies("u:1:2"); len(b) != 1 {
			t.Errorf("bodies = %v", b)
		}
	})

	t.Run("twice in one batch", func(t *testing.T) {
		// Stop routing so both land in the same batch.
		r.stop()
		s.CMID = "dup2"
		e.send(s)
		e.send(s)
		r2 := e.start("r2", 2)
		e.waitOwned(r2)
		acks := e.waitItems("gwA", bus.KindAck, 4)
		if acks[2].ID != acks[3].ID || acks[2].CMID != "dup2" {
			t.Errorf("acks %+v / %+v: want the same id", acks[2], acks[3])
		}
		if n := len(ofKind(e.items("gwB"), bus.KindMsg)); n != 2 {
			t.Errorf("%d deliveries, want 2 (one per cmid)", n)
		}
		if b := e.bodies("u:1:2"); len(b) != 2 {
			t.Errorf("bodies = %v", b)
		}
		if v := r2.counter("chatgate_router_messages_total", map[string]string{"result": "duplicate"}); v != 1 {
			t.Errorf("duplicates = %v", v)
		}
	})

	t.Run("pending reservation re-routed under its id", func(t *testing.T) {
		// A router reserved this id and died before finishing.
		gen, _ := ids.New(9)
		reserved := gen.Next()
		if err := e.rdb.Set(e.ctx, store.IdemKey(e.app, 1, 1, "crashed"), reserved, time.Hour).Err(); err != nil {
			t.Fatal(err)
		}
		s.CMID = "crashed"
		e.send(s)
		acks := e.waitItems("gwA", bus.KindAck, 5)
		if acks[4].ID != reserved {
			t.Errorf("ack id %d, want the reserved %d", acks[4].ID, reserved)
		}
		msgs := ofKind(e.items("gwB"), bus.KindMsg)
		if m := decodeMsg(t, msgs[len(msgs)-1].Msg); int64(m.ID) != reserved || m.TS != ids.Time(reserved).UnixMilli() {
			t.Errorf("delivered %+v, want id %d", m, reserved)
		}
		if !slices.Contains(e.bodies("u:1:2"), strconv.FormatInt(reserved, 10)) {
			t.Error("no body under the reserved id")
		}
		if v, _ := e.rdb.Get(e.ctx, store.IdemKey(e.app, 1, 1, "crashed")).Result(); v != fmt.Sprint(reserved)+":done" {
			t.Errorf("idem = %q", v)
		}
	})
}

func TestNotGroupMember(t *testing.T) {
	e := newEnv(t, testConfig())
	r := e.start("r1", 1)
	e.waitOwned(r)
	if err := e.st.AddGroupMembers(e.ctx, e.app, 5, 2, 3); err != nil {
		t.Fatal(err)
	}
	e.online(1, 1, "gwA", false)
	e.online(2, 1, "gwB", false)
	e.send(bus.Send{From: 1, FromDev: 1, Node: "gwA", Conn: "c1-1", Rid: 3, CMID: "nm", ToGroup: 5, Content: "let me in"})
	errs := e.waitItems("gwA", bus.KindErr, 1)
	if ei := errs[0]; ei.Code != int(protocol.CodeNotGroupMember) || ei.Rid != 3 || ei.Conn != "c1-1" || ei.CMID != "nm" || ei.Reason == "" {
		t.Errorf("err item = %+v", ei)
	}
	if len(ofKind(e.items("gwA"), bus.KindAck)) != 0 || len(e.items("gwB")) != 0 {
		t.Error("a refused send was acknowledged or delivered")
	}
	if b := e.bodies("g:5"); len(b) != 0 {
		t.Errorf("bodies = %v", b)
	}
	for _, u := range []int64{1, 2, 3} {
		if ib := e.inbox(u); len(ib) != 0 {
			t.Errorf("inbox of %d = %v", u, ib)
		}
	}
	if n := e.rdb.Exists(e.ctx, store.IdemKey(e.app, 1, 1, "nm")).Val(); n != 0 {
		t.Error("the refused send's idempotency reservation was kept")
	}
	if v := r.counter("chatgate_router_messages_total", map[string]string{"result": "rejected"}); v != 1 {
		t.Errorf("rejected = %v", v)
	}

	// The REST API (no node) acts for the app: no membership check.
	e.send(bus.Send{From: 1, CMID: "rest", ToGroup: 5, Content: "announcement"})
	msgs := e.waitItems("gwB", bus.KindMsg, 1)
	if m := decodeMsg(t, msgs[0].Msg); m.Content != "announcement" || m.FromDev != 0 {
		t.Errorf("message = %+v", m)
	}
}

func TestPoisonEntries(t *testing.T) {
	e := newEnv(t, testConfig())
	r := e.start("r1", 1)
	e.waitOwned(r)
	e.online(2, 1, "gwB", false)
	p := bus.Partition(e.app, "u:1:2", e.cfg.Partitions)
	stream := bus.IngressStream(p)
	for _, vals := range []map[string]any{
		{bus.Field: "{not json"},
		{"other": "no d field"},
		{bus.Field: `{"app":"bad app!","from":1,"cmid":"x","to_user":2}`},
		{bus.Field: `{"app":"app1","from":1,"dev":1,"node":"gwA","conn":"c1","rid":4,"cmid":"x","to_user":2,"to_group":3}`},
	} {
		if err := e.rdb.XAdd(e.ctx, &redis.XAddArgs{Stream: stream, Values: vals}).Err(); err != nil {
			t.Fatal(err)
		}
	}
	e.send(bus.Send{From: 1, FromDev: 1, Node: "gwA", Conn: "c1-1", CMID: "ok", ToUser: 2, Content: "after poison"})
	e.waitItems("gwA", bus.KindAck, 1)
	if msgs := e.waitItems("gwB", bus.KindMsg, 1); decodeMsg(t, msgs[0].Msg).Content != "after poison" {
		t.Errorf("delivered %s", msgs[0].Msg)
	}
	// The invalid but addressable entry is answered.
	if errs := ofKind(e.items("gwA"), bus.KindErr); len(errs) != 1 || errs[0].Code != int(protocol.CodeBadValue) || errs[0].Rid != 4 {
		t.Errorf("err items = %+v", errs)
	}
	if n, pe := e.ingressLeft(); n != 0 || pe != 0 {
		t.Errorf("ingress left: %d entries, %d pending", n, pe)
	}
	if v := r.counter("chatgate_router_messages_total", map[string]string{"result": "poison"}); v != 4 {
		t.Errorf("poison = %v", v)
	}
}

// TestOrder: many messages of a few conversations, both directions, arrive
// at the recipients and in the inboxes in send order with growing ids.
func TestOrder(t *testing.T) {
	cfg := testConfig()
	cfg.Batch = 16
	e := newEnv(t, cfg)
	r := e.start("r1", 1)
	e.waitOwned(r)
	e.online(1, 1, "gwA", false)
	e.online(2, 1, "gwB", false)
	e.online(3, 1, "gwA", false)
	e.online(4, 1, "gwB", false)
	const n = 400
	for i := 0; i < n; i++ {
		from, to := int64(1), int64(2)
		if i%3 == 0 {
			from, to = 2, 1
		}
		e.send(bus.Send{From: from, FromDev: 1, Node: map[int64]string{1: "gwA", 2: "gwB"}[from], Conn: "c",
			CMID: fmt.Sprintf("a%d", i), ToUser: to, Content: strconv.Itoa(i)})
		e.send(bus.Send{From: 3, FromDev: 1, Node: "gwA", Conn: "c", CMID: fmt.Sprintf("b%d", i), ToUser: 4, Content: strconv.Itoa(i)})
	}
	waitFor(t, 20*time.Second, "all acks", func() bool {
		return len(ofKind(e.items("gwA"), bus.KindAck))+len(ofKind(e.items("gwB"), bus.KindAck)) == 2*n
	})
	check := func(node string, conv string, wantCount int) {
		t.Helper()
		last, lastID, count := -1, int64(0), 0
		for _, it := range ofKind(e.items(node), bus.KindMsg) {
			m := decodeMsg(t, it.Msg)
			if m.Conv != conv {
				continue
			}
			seq, _ := strconv.Atoi(m.Content)
			if seq <= last || int64(m.ID) <= lastID {
				t.Fatalf("%s %s: message %d (id %d) after %d (id %d)", node, conv, seq, m.ID, last, lastID)
			}
			last, lastID, count = seq, int64(m.ID), count+1
		}
		if count != wantCount {
			t.Errorf("%s %s: %d messages, want %d", node, conv, count, wantCount)
		}
	}
	check("gwB", "u:1:2", n-(n+2)/3)
	check("gwA", "u:1:2", (n+2)/3)
	check("gwB", "u:3:4", n)
	// Inbox order is id order; contents must follow send order.
	for _, u := range []int64{2, 4} {
		page, err := e.st.Sync(e.ctx, e.app, u, 0, 1000)
		if err != nil || len(page.Bodies) != n {
			t.Fatalf("sync of %d: %d bodies, %v", u, len(page.Bodies), err)
		}
		for i, b := range page.Bodies {
			if m := decodeMsg(t, b); m.Content != strconv.Itoa(i) {
				t.Fatalf("inbox of %d: position %d holds message %s", u, i, m.Content)
			}
		}
	}
	if v := r.counter("chatgate_router_batch_size", nil); v == 0 || v > 2*n {
		t.Errorf("batches = %v", v)
	}
}

func TestNoGroupRecovery(t *testing.T) {
	for _, tc := range []struct {
		name string
		drop func(e *env, stream string) error
	}{
		{"group destroyed", func(e *env, stream string) error {
			return e.rdb.XGroupDestroy(e.ctx, stream, bus.RouterGroup).Err()
		}},
		{"stream deleted", func(e *env, stream string) error {
			return e.rdb.Del(e.ctx, stream).Err()
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, testConfig())
			r := e.start("r1", 1)
			e.waitOwned(r)
			e.online(2, 1, "gwB", false)
			s := bus.Send{From: 1, FromDev: 1, Node: "gwA", Conn: "c", CMID: "one", ToUser: 2, Content: "1"}
			e.send(s)
			e.waitItems("gwA", bus.KindAck, 1)
			stream := bus.IngressStream(bus.Partition(e.app, "u:1:2", e.cfg.Partitions))
			if err := tc.drop(e, stream); err != nil {
				t.Fatal(err)
			}
			s.CMID, s.Content = "two", "2"
			e.send(s)
			e.waitItems("gwA", bus.KindAck, 2)
			msgs := e.waitItems("gwB", bus.KindMsg, 2)
			if len(msgs) != 2 || decodeMsg(t, msgs[1].Msg).Content != "2" {
				t.Errorf("deliveries = %d", len(msgs))
			}
		})
	}
}

// TestLargeBatchSplit: what one batch has for one node is split over
// several delivery stream entries when it is large, in order.
func TestLargeBatchSplit(t *testing.T) {
	e := newEnv(t, testConfig())
	e.online(2, 1, "gwB", false)
	big := strings.Repeat("x", 30<<10)
	const n = 64
	for i := 0; i < n; i++ {
		e.send(bus.Send{From: 1, FromDev: 1, Node: "gwA", Conn: "c", CMID: strconv.Itoa(i), ToUser: 2, Content: strconv.Itoa(i) + big})
	}
	r := e.start("r1", 1)
	msgs := e.waitItems("gwB", bus.KindMsg, n)
	for i, it := range msgs {
		if m := decodeMsg(t, it.Msg); !strings.HasPrefix(m.Content, strconv.Itoa(i)+"x") {
			t.Fatalf("delivery %d is %.8s...", i, m.Content)
		}
	}
	es := e.entries("gwB")
	if len(es) < 2 {
		t.Errorf("%d messages of 30 KiB in %d stream entries", n, len(es))
	}
	if v := r.counter("chatgate_router_batch_size", nil); v != 1 {
		t.Errorf("%v batches, want 1", v)
	}
	e.waitItems("gwA", bus.KindAck, n)
}
