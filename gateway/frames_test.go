package gateway

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/chatgate/chatgate/internal/bus"
	"github.com/chatgate/chatgate/internal/config"
	"github.com/chatgate/chatgate/internal/ids"
	"github.com/chatgate/chatgate/protocol"
	"github.com/chatgate/chatgate/store"
)

func TestBadFrames(t *testing.T) {
	e := newEnv(t, func(c *config.Gateway) { c.Limits.MaxContentBytes = 100 })
	c, _ := e.login(t, 1, 1)
	tests := []struct {
		name  string
		frame string
		code  protocol.Code
		rid   uint32
	}{
		{"malformed JSON", `{"t":"ping","rid":2`, protocol.CodeBadFrame, 0},
		{"not an object", `[1,2,3]`, protocol.CodeBadFrame, 0},
		{"empty", ``, protocol.CodeBadFrame, 0},
		{"trailing data", `{"t":"ping"} {"t":"ping"}`, protocol.CodeBadFrame, 0},
		{"unknown type", `{"t":"teleport","rid":2}`, protocol.CodeUnknownType, 2},
		{"no type", `{"rid":3}`, protocol.CodeMissingField, 3},
		{"send without cmid", `{"t":"send","rid":4,"to_user":2,"type":"text","content":"x"}`, protocol.CodeMissingField, 4},
		{"send to nobody", `{"t":"send","rid":5,"cmid":"a","type":"text","content":"x"}`, protocol.CodeMissingField, 5},
		{"send to user and group", `{"t":"send","rid":5,"cmid":"a","to_user":2,"to_group":3,"type":"text","content":"x"}`, protocol.CodeBadValue, 5},
		{"send without content", `{"t":"send","rid":6,"cmid":"a","to_user":2,"type":"text"}`, protocol.CodeMissingField, 6},
		{"wrong type of field", `{"t":"send","rid":7,"cmid":"a","to_user":"two"}`, protocol.CodeBadValue, 7},
		{"unknown message type", `{"t":"send","rid":8,"cmid":"a","to_user":2,"type":"hologram","content":"x"}`, protocol.CodeBadValue, 8},
		{"content too long", `{"t":"send","rid":9,"cmid":"a","to_user":2,"type":"text","content":"` + strings.Repeat("x", 101) + `"}`, protocol.CodeBadValue, 9},
		{"cmid with colon", `{"t":"send","rid":10,"cmid":"a:b","to_user":2,"type":"text","content":"x"}`, protocol.CodeBadValue, 10},
		{"negative recipient", `{"t":"send","rid":11,"cmid":"a","to_user":-2,"type":"text","content":"x"}`, protocol.CodeBadValue, 11},
		{"dack without id", `{"t":"dack","rid":12}`, protocol.CodeMissingField, 12},
		{"dack with bad id", `{"t":"dack","rid":13,"id":"x1"}`, protocol.CodeBadValue, 13},
		{"sync limit too large", `{"t":"sync","rid":14,"limit":100000}`, protocol.CodeBadValue, 14},
		{"state bg not bool", `{"t":"state","rid":16,"bg":"yes"}`, protocol.CodeBadValue, 16},
		{"auth with bad platform", `{"t":"auth","rid":17,"token":"x","app_id":"a","device_sn":1,"platform":9}`, protocol.CodeBadValue, 17},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c.t = t
			c.send(tt.frame)
			c.expectErr(tt.code, tt.rid)
			c.ping(99)
		})
	}
	c.t = t
	t.Run("binary frame", func(t *testing.T) {
		c.t = t
		c.sendRaw(websocket.MessageBinary, []byte(`{"t":"ping","rid":1}`))
		c.expectErr(protocol.CodeBadFrame, 0)
		c.ping(99)
	})
	c.t = t
	if got := e.counter("chatgate_gateway_errors_total", "code", "bad_value"); got < 5 {
		t.Fatalf("errors_total{code=bad_value} = %v", got)
	}
	if got := e.counter("chatgate_gateway_frames_in_total", "type", "invalid"); got < float64(len(tests)) {
		t.Fatalf("frames_in_total{type=invalid} = %v", got)
	}
}

func TestOversizeFrame(t *testing.T) {
	e := newEnv(t, func(c *config.Gateway) {
		c.Limits.MaxFrameBytes = 2048
		c.Limits.MaxContentBytes = 1024
	})
	c, _ := e.login(t, 1, 1)
	// Exactly at the limit is fine.
	pad := func(n int) string {
		head := `{"t":"ping","rid":5,"pad":"`
		return head + strings.Repeat("p", n-len(head)-2) + `"}`
	}
	c.send(pad(2048))
	c.expect(protocol.TypePong, 0)
	// One byte more, or far more, closes the connection with 4004.
	for _, n := range []int{2049, 1 << 20} {
		c, _ := e.login(t, 2, int32(n))
		c.send(pad(n))
		c.expectErr(protocol.CodeFrameTooLarge, 0)
		c.expectClose(protocol.CodeFrameTooLarge)
	}
	c.ping(6)
}

func TestSendIngressAndAnswers(t *testing.T) {
	e := newEnv(t, nil)
	a, ha := e.login(t, 10, 2)
	b, hb := e.login(t, 11, 1)

	a.send(map[string]any{"t": "send", "rid": 21, "cmid": "c-1", "to_user": 20, "type": "text", "content": "hi", "ext": `{"k":1}`})
	a.send(map[string]any{"t": "send", "rid": 22, "cmid": "c-2", "from": 10, "to_group": 5, "type": "image", "content": "img"})
	a.send(map[string]any{"t": "send", "rid": 23, "cmid": "c-3", "from": 11, "to_user": 20, "type": "text", "content": "spoof"})
	a.expectErr(protocol.CodeForbidden, 23)

	var sends []bus.Send
	var parts []int
	waitFor(t, "two sends in ingress", func() bool {
		sends, parts = e.ingress(t)
		return len(sends) == 2
	})
	byCMID := map[string]int{}
	for i, s := range sends {
		byCMID[s.CMID] = i
	}
	s1, s2 := sends[byCMID["c-1"]], sends[byCMID["c-2"]]
	if s1.From != 10 || s1.FromDev != 2 || s1.Node != e.node || s1.Conn != ha.Session || s1.Rid != 21 ||
		s1.ToUser != 20 || s1.ToGroup != 0 || s1.Type != "text" || s1.Content != "hi" || s1.Ext != `{"k":1}` ||
		s1.TS < time.Now().Add(-time.Minute).UnixMilli() {
		t.Fatalf("send 1 = %+v", s1)
	}
	if p := bus.Partition(e.app, protocol.ConvID(10, 20, 0), testPartitions); parts[byCMID["c-1"]] != p {
		t.Fatalf("send 1 in partition %d, want %d", parts[byCMID["c-1"]], p)
	}
	if s2.ToGroup != 5 || s2.From != 10 || parts[byCMID["c-2"]] != bus.Partition(e.app, "g:5", testPartitions) {
		t.Fatalf("send 2 = %+v in partition %d", s2, parts[byCMID["c-2"]])
	}
	ca := e.g.byID(ha.Session)
	pending := func() int {
		ca.mu.Lock()
		defer ca.mu.Unlock()
		return len(ca.pending)
	}
	if pending() != 2 {
		t.Fatalf("pending = %d, want 2", pending())
	}

	// The router answers through the delivery stream, addressed to the
	// connection; the other connection gets nothing.
	e.push(t, e.node,
		bus.Delivery{Kind: bus.KindAck, App: e.app, User: 10, Device: 2, Conn: ha.Session, Rid: 21, CMID: "c-1", ID: 7301234567890123456, TS: 1700000000123},
		bus.Delivery{Kind: bus.KindErr, App: e.app, User: 10, Device: 2, Conn: ha.Session, Rid: 22, CMID: "c-2", Code: int(protocol.CodeNotGroupMember), Reason: "not a member of group 5"},
	)
	ack := a.expect(protocol.TypeAck, 0)
	if ack.Rid != 21 || ack.CMID != "c-1" || ack.ID != 7301234567890123456 || ack.TS != 1700000000123 ||
		!strings.Contains(string(ack.raw), `"id":"7301234567890123456"`) {
		t.Fatalf("ack = %s", ack.raw)
	}
	if f := a.expectErr(protocol.CodeNotGroupMember, 22); f.Msg != "not a member of group 5" {
		t.Fatalf("err = %s", f.raw)
	}
	if pending() != 0 {
		t.Fatalf("pending = %d after answers", pending())
	}
	b.ping(1)
	// An answer for another app's connection id is ignored.
	e.push(t, e.node, bus.Delivery{Kind: bus.KindAck, App: "other", Conn: hb.Session, Rid: 1, CMID: "x", ID: 1})
	b.ping(2)
	if e.counter("chatgate_gateway_ingress_total") != 2 {
		t.Fatalf("ingress_total = %v", e.counter("chatgate_gateway_ingress_total"))
	}
}

func TestSendRedisFailure(t *testing.T) {
	e := newEnv(t, nil)
	c, _ := e.login(t, 12, 1)
	stream := bus.IngressStream(bus.Partition(e.app, protocol.ConvID(12, 13, 0), testPartitions))
	ctx := context.Background()
	// A key of the wrong type makes the XADD fail like an unavailable Redis.
	saved, _ := e.rdb.Dump(ctx, stream).Result()
	e.rdb.Del(ctx, stream)
	e.rdb.Set(ctx, stream, "not a stream", 0)
	defer func() {
		e.rdb.Del(ctx, stream)
		if saved != "" {
			e.rdb.Restore(ctx, stream, 0, saved)
		}
	}()
	c.send(map[string]any{"t": "send", "rid": 31, "cmid": "c-1", "to_user": 13, "type": "text", "content": "hi"})
	c.expectErr(protocol.CodeUnavailable, 31)
	conn := e.g.byID(e.g.firstConnID(t))
	conn.mu.Lock()
	n := len(conn.pending)
	conn.mu.Unlock()
	if n != 0 {
		t.Fatalf("failed send still pending")
	}
	c.ping(1)
}

func (g *Gateway) firstConnID(t *testing.T) string {
	g.mu.RLock()
	defer g.mu.RUnlock()
	for id := range g.conns {
		return id
	}
	t.Fatal("no connection")
	return ""
}

func TestRateLimit(t *testing.T) {
	e := newEnv(t, func(c *config.Gateway) {
		c.Limits.FramesPerSecond = 5
		c.Limits.FrameBurst = 5
	})
	c, _ := e.login(t, 1, 1) // the auth frame took one token
	for rid := 1; rid <= 15; rid++ {
		c.send(map[string]any{"t": "ping", "rid": rid})
	}
	pongs, limited := 0, 0
	for i := 0; i < 15; i++ {
		f := c.read()
		switch {
		case f.T == protocol.TypePong:
			pongs++
		case f.T == protocol.TypeErr && f.Code == int(protocol.CodeRateLimited) && f.Rid >= 1 && f.Rid <= 15:
			limited++
		default:
			t.Fatalf("unexpected %s", f.raw)
		}
	}
	if pongs < 4 || pongs > 6 || limited != 15-pongs {
		t.Fatalf("pongs %d, rate limited %d", pongs, limited)
	}
	time.Sleep(400 * time.Millisecond)
	c.ping(100)
}

func TestMsgDelivery(t *testing.T) {
	e := newEnv(t, nil)
	sender, _ := e.login(t, 1, 1)
	senderOther, _ := e.login(t, 1, 2)
	peer, _ := e.login(t, 2, 1)
	bystander, _ := e.login(t, 3, 1)

	body := `{"id":"7301234567890123456","conv":"u:1:2","from":1,"from_dev":1,"to_user":2,"type":"text","content":"h\u00e9 \"you\"","cmid":"c-1","ts":1700000000000}`
	e.push(t, e.node, bus.Delivery{Kind: bus.KindMsg, App: e.app, Users: []int64{1, 2}, Msg: json.RawMessage(body), SkipUser: 1, SkipDev: 1})
	want := `{"t":"msg","message":` + body + `}`
	for _, c := range []*client{senderOther, peer} {
		f := c.expect(protocol.TypeMsg, 0)
		if string(f.raw) != want || f.Message == nil || f.Message.ID != 7301234567890123456 {
			t.Fatalf("msg frame %s, want %s", f.raw, want)
		}
	}
	sender.ping(1)
	bystander.ping(1)
	// A message of another app never reaches this app's users.
	e.push(t, e.node, bus.Delivery{Kind: bus.KindMsg, App: "other_" + e.app, Users: []int64{2}, Msg: json.RawMessage(body)})
	peer.ping(2)
	if got := e.counter("chatgate_gateway_deliveries_total"); got != 2 {
		t.Fatalf("deliveries_total = %v", got)
	}
	if got := e.counter("chatgate_gateway_delivery_batches_total"); got != 2 {
		t.Fatalf("delivery_batches_total = %v", got)
	}
	// What was read is trimmed from the stream (about once a second).
	waitFor(t, "delivery stream trimmed", func() bool {
		n, err := e.rdb.XLen(context.Background(), bus.DeliveryStream(e.node)).Result()
		return err == nil && n == 0
	})
}

func TestKickItems(t *testing.T) {
	e := newEnv(t, nil)
	a1, _ := e.login(t, 1, 1)
	a2, _ := e.login(t, 1, 2)
	b, hb := e.login(t, 2, 1)
	// By device: only device 2 of user 1.
	e.push(t, e.node, bus.Delivery{Kind: bus.KindKick, App: e.app, User: 1, Device: 2, Code: int(protocol.CodeKickAdmin)})
	a2.expectKick(protocol.CodeKickAdmin)
	a1.ping(1)
	// By connection id, with the router's reason.
	e.push(t, e.node, bus.Delivery{Kind: bus.KindKick, App: e.app, Conn: hb.Session, Code: int(protocol.CodeKickDisabled), Reason: "user_disabled"})
	b.expectKick(protocol.CodeKickDisabled)
	// Every device of a user.
	e.push(t, e.node, bus.Delivery{Kind: bus.KindKick, App: e.app, User: 1, Code: int(protocol.CodeKickDeviceLimit)})
	a1.expectKick(protocol.CodeKickDeviceLimit)
}

func TestSyncPaging(t *testing.T) {
	e := newEnv(t, nil)
	ctx := context.Background()
	gen, _ := ids.New(3)
	rdb := e.st.Redis()
	var bodies []string
	var idList []int64
	for i := 0; i < 25; i++ {
		id := gen.Next()
		m := protocol.Message{ID: protocol.ID(id), Conv: "u:30:31", From: 31, FromDev: 1, ToUser: 30, Type: "text", Content: fmt.Sprintf("m%d", i), TS: 1700000000000 + int64(i)}
		b, _ := json.Marshal(&m)
		pipe := rdb.Pipeline()
		e.st.QueueStoreMessage(ctx, pipe, e.app, m.Conv, id, b)
		e.st.QueueInbox(ctx, pipe, e.app, 30, m.Conv, id)
		if _, err := pipe.Exec(ctx); err != nil {
			t.Fatal(err)
		}
		bodies = append(bodies, string(b))
		idList = append(idList, id)
	}
	c, _ := e.login(t, 30, 1)
	var got []string
	var after protocol.ID
	for page := 0; ; page++ {
		c.send(map[string]any{"t": "sync", "rid": 40 + page, "after": after, "limit": 10})
		f := c.expect(protocol.TypeSyncRes, 0)
		var res struct {
			Rid     uint32            `json:"rid"`
			Msgs    []json.RawMessage `json:"msgs"`
			HasMore bool              `json:"has_more"`
			Next    protocol.ID       `json:"next"`
		}
		if err := json.Unmarshal(f.raw, &res); err != nil {
			t.Fatal(err)
		}
		if res.Rid != uint32(40+page) {
			t.Fatalf("sync_res rid %d", res.Rid)
		}
		for _, m := range res.Msgs {
			got = append(got, string(m))
		}
		wantMore := page < 2
		if res.HasMore != wantMore || int64(res.Next) != idList[len(got)-1] {
			t.Fatalf("page %d: has_more %v next %d (got %d msgs)", page, res.HasMore, res.Next, len(got))
		}
		if !res.HasMore {
			break
		}
		after = res.Next
	}
	if strings.Join(got, "\n") != strings.Join(bodies, "\n") {
		t.Fatalf("synced bodies differ:\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(bodies, "\n"))
	}
	// Without a limit the default page holds everything; past the end is empty.
	c.send(map[string]any{"t": "sync", "rid": 50})
	if f := c.expect(protocol.TypeSyncRes, 0); len(f.Msgs) != 25 || f.HasMore {
		t.Fatalf("default page: %d msgs, has_more %v", len(f.Msgs), f.HasMore)
	}
	// Past the end: zero members are omitted, next stays where it was.
	c.send(map[string]any{"t": "sync", "rid": 51, "after": fmt.Sprint(idList[24])})
	if f := c.expect(protocol.TypeSyncRes, 0); string(f.raw) != fmt.Sprintf(`{"t":"sync_res","rid":51,"next":"%d"}`, idList[24]) {
		t.Fatalf("empty page: %s", f.raw)
	}
	c.send(map[string]any{"t": "sync", "rid": 52, "after": "0", "limit": 1})
	if f := c.expect(protocol.TypeSyncRes, 0); len(f.Msgs) != 1 || !f.HasMore {
		t.Fatalf("first page of one: %s", f.raw)
	}
}

func TestDAckCursor(t *testing.T) {
	e := newEnv(t, nil)
	ctx := context.Background()
	c, h := e.login(t, 40, 1)
	if h.Resume != 0 {
		t.Fatalf("resume %d", h.Resume)
	}
	cursor := func() int64 {
		v, err := e.st.Cursor(ctx, e.app, 40, 1)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	c.send(map[string]any{"t": "dack", "id": "500"})
	c.send(map[string]any{"t": "dack", "id": "400"})
	waitFor(t, "cursor flushed", func() bool { return cursor() == 500 })
	// A cursor still in memory is flushed when the connection closes.
	c.send(map[string]any{"t": "dack", "id": "900"})
	c.ping(1)
	c.ws.Close(websocket.StatusNormalClosure, "")
	waitFor(t, "cursor flushed at close", func() bool { return cursor() == 900 })
	_, h = e.login(t, 40, 1)
	if h.Resume != 900 {
		t.Fatalf("resume %d, want 900", h.Resume)
	}
	// Another device has its own cursor.
	if _, h2 := e.login(t, 40, 2); h2.Resume != 0 {
		t.Fatalf("device 2 resume %d", h2.Resume)
	}
}

func TestStateAndRouteRefresh(t *testing.T) {
	e := newEnv(t, nil)
	ctx := context.Background()
	c, h := e.login(t, 41, 1)
	route := func() store.Route {
		rs, err := e.st.Routes(ctx, e.app, 41, time.Now())
		if err != nil || len(rs) != 1 || rs[0].Conn != h.Session {
			t.Fatalf("routes %+v %v", rs, err)
		}
		return rs[0]
	}
	c.send(map[string]any{"t": "state", "bg": true})
	c.ping(1) // state has no reply; the pong says it was handled
	if r := route(); !r.BG {
		t.Fatalf("route %+v not background", r)
	}
	// The periodic refresh keeps the state and extends the expiry.
	exp := route().Expires
	waitFor(t, "route refreshed", func() bool { return route().Expires > exp })
	if r := route(); !r.BG {
		t.Fatalf("refresh lost the background state: %+v", r)
	}
	c.send(map[string]any{"t": "state", "bg": false})
	c.ping(2)
	if r := route(); r.BG {
		t.Fatalf("route %+v still background", r)
	}
	// A zero member may be omitted (section 3): no bg is foreground.
	c.send(map[string]any{"t": "state", "bg": true})
	c.ping(3)
	c.send(map[string]any{"t": "state"})
	c.ping(4)
	if r := route(); r.BG {
		t.Fatalf("state without bg left the route %+v in the background", r)
	}
}

func TestIdleTimeout(t *testing.T) {
	// Timeouts long enough that a busy machine's scheduling delays do not
	// look like idleness; the test asserts the rule (a connection without
	// frames for the idle timeout is kicked, one with frames is not), not
	// how fast the kick comes.
	const idleTimeout = 2 * time.Second
	e := newEnv(t, func(c *config.Gateway) {
		c.IdleTimeout = idleTimeout
		c.Heartbeat = idleTimeout / 4
	})
	loginAt := time.Now() // before the auth frame: the server's clock starts later
	idle, hi := e.login(t, 1, 1)
	busy, _ := e.login(t, 2, 1)
	// The busy client sends a frame every 200 ms until the idle one is
	// kicked; its pongs wait in its frame channel.
	stop := make(chan struct{})
	pinged := make(chan struct{})
	go func() {
		defer close(pinged)
		for i := uint32(1); ; i++ {
			select {
			case <-stop:
				return
			case <-time.After(200 * time.Millisecond):
				busy.send(map[string]any{"t": "ping", "rid": i})
			}
		}
	}()
	stopPings := sync.OnceFunc(func() { close(stop); <-pinged })
	defer stopPings()
	if c := e.g.byID(hi.Session); (c == nil || c.isClosing()) && time.Since(loginAt) < idleTimeout {
		t.Fatal("kicked before the idle timeout")
	}
	idle.expectKick(protocol.CodeKickIdle)
	if d := time.Since(loginAt); d < idleTimeout {
		t.Fatalf("idle connection kicked after %v, before the idle timeout %v", d, idleTimeout)
	}
	stopPings()
	// The busy client was never kicked: its pongs are all there, then the
	// answer to one more ping.
	busy.send(map[string]any{"t": "ping", "rid": 100000})
	for {
		f := busy.read()
		if f.T != protocol.TypePong {
			t.Fatalf("busy client got %s", f.raw)
		}
		if f.Rid == 100000 {
			break
		}
	}
	if e.counter("chatgate_gateway_kicks_total", "reason", "idle_timeout") != 1 {
		t.Fatal("idle kick not counted")
	}
}
