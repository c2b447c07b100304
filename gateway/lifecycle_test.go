package gateway

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/chatgate/chatgate/internal/bus"
	"github.com/chatgate/chatgate/internal/config"
	"github.com/chatgate/chatgate/internal/redistest"
	"github.com/chatgate/chatgate/protocol"
	"github.com/chatgate/chatgate/store"
)

// TestSlowConsumer: a client that does not read is kicked once its send
// queue passes its cap, in frames (send_queue) or in bytes
// (send_queue_bytes), while another client of the same deliveries keeps
// getting every message without stalling.
func TestSlowConsumer(t *testing.T) {
	t.Run("frames", func(t *testing.T) {
		slowConsumer(t, func(c *config.Gateway) { c.SendQueue = 64 }, "chatgate_gateway_send_queue_full_total")
	})
	t.Run("bytes", func(t *testing.T) {
		// 400 frames of 30 KiB stay below the frame cap: only the byte
		// cap can kick. The fast client is at most 17 frames (510 KiB)
		// behind, within it.
		slowConsumer(t, func(c *config.Gateway) { c.SendQueue, c.SendQueueBytes = 1024, 1<<20 },
			"chatgate_gateway_send_queue_bytes_full_total")
	})
}

// loginPaused authenticates uid on device 1 with a client that does not
// read, and waits until the gateway registered its route.
func (e *testEnv) loginPaused(t *testing.T, uid int64) *client {
	t.Helper()
	c := e.dialPaused(t)
	c.send(authFrame(e.token(t, uid), e.app, 1, 1))
	waitFor(t, "the paused client's route", func() bool {
		rs, _ := e.st.Routes(context.Background(), e.app, uid, time.Now())
		return len(rs) == 1
	})
	return c
}

func slowConsumer(t *testing.T, mutate func(*config.Gateway), counter string) {
	// The idle timeout must not end the fast client on a busy machine, and
	// a write timeout far above the stall limit below tells "the delivery
	// reader waited for the slow socket" from "the machine is busy".
	e := newEnv(t, func(c *config.Gateway) {
		mutate(c)
		c.IdleTimeout, c.WriteTimeout = 5*time.Minute, time.Minute
	})
	ctx := context.Background()
	slow := e.loginPaused(t, 50)
	fast, _ := e.login(t, 51, 1)

	// Enough 30 KiB messages to fill the socket buffers of a client that
	// does not read. The pusher keeps at most 16 messages ahead of the fast
	// client, well inside its queue: the fast client must get every one
	// without stalling while the slow one is stuck.
	const n = 400
	var received atomic.Int64
	content := strings.Repeat("x", 30<<10)
	pushDone := make(chan struct{})
	go func() {
		defer close(pushDone)
		for i := 0; i < n; i++ {
			for int64(i)-received.Load() > 16 {
				time.Sleep(100 * time.Microsecond)
			}
			body, _ := json.Marshal(&protocol.Message{ID: protocol.ID(i + 1), Conv: "u:50:51", From: 9, Type: "text", Content: content, TS: 1})
			vals, _ := bus.Encode(&bus.Batch{Items: []bus.Delivery{{Kind: bus.KindMsg, App: e.app, Users: []int64{50, 51}, Msg: body}}})
			e.rdb.XAdd(ctx, &redis.XAddArgs{Stream: bus.DeliveryStream(e.node), Values: vals})
		}
	}()
	// The slow client starts reading as soon as it is kicked, well within
	// the write timeout the server gives the kick and the close: then it
	// sees them. (Later, the server may have torn the connection down
	// without them, which the protocol allows for slow consumers.)
	kicked := make(chan bool, 1)
	go func() {
		deadline := time.Now().Add(2 * time.Minute)
		for e.counter("chatgate_gateway_kicks_total", "reason", "slow_consumer") == 0 {
			if time.Now().After(deadline) {
				kicked <- false
				return
			}
			time.Sleep(time.Millisecond)
		}
		slow.startReading()
		kicked <- true
	}()
	var maxGap time.Duration
	last := time.Now()
	for i := 0; i < n; i++ {
		f := fast.next(30 * time.Second)
		if f.T != protocol.TypeMsg || f.Message.ID != protocol.ID(i+1) {
			t.Fatalf("fast client got %.80s at %d", f.raw, i)
		}
		received.Add(1)
		if gap := time.Since(last); gap > maxGap {
			maxGap = gap
		}
		last = time.Now()
	}
	<-pushDone
	// A delivery reader blocked on the slow socket would stall everyone for
	// the write timeout (a minute); a busy machine stalls far less.
	if maxGap > 20*time.Second {
		t.Fatalf("fast client stalled for %v", maxGap)
	}
	t.Logf("fast client: longest gap between messages %v", maxGap)
	if !<-kicked {
		t.Fatal("slow consumer not kicked")
	}
	if e.counter(counter) < 1 {
		t.Fatalf("%s not counted", counter)
	}
	// It finds what was written before the kick, then the kick and the close.
	got := 0
	for {
		f := slow.read()
		if f.T == protocol.TypeHello {
			continue
		}
		if f.T == protocol.TypeMsg {
			got++
			continue
		}
		if f.T != protocol.TypeKick || f.Code != int(protocol.CodeKickSlow) || f.Reason != "slow_consumer" {
			t.Fatalf("slow client got %.80s", f.raw)
		}
		break
	}
	slow.expectClose(protocol.CodeKickSlow)
	if got >= n {
		t.Fatalf("slow client got all %d messages", got)
	}
	fast.ping(1)
}

func TestDrain(t *testing.T) {
	e := newEnv(t, nil)
	ctx := context.Background()
	a, ha := e.login(t, 60, 1)
	b, _ := e.login(t, 61, 1)
	unauthed := e.dial(t)
	a.send(map[string]any{"t": "send", "rid": 1, "cmid": "d-1", "to_user": 61, "type": "text", "content": "bye"})
	waitFor(t, "send in ingress", func() bool { s, _ := e.ingress(t); return len(s) == 1 })

	drained := make(chan error, 1)
	go func() {
		dctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		drained <- e.g.Drain(dctx)
	}()
	waitFor(t, "not ready", func() bool { return !e.g.Ready() })
	if got := e.httpStatus(t, nil); got != http.StatusServiceUnavailable {
		t.Fatalf("connect while draining: HTTP %d", got)
	}
	unauthed.expectKick(protocol.CodeKickShutdown)
	b.expectKick(protocol.CodeKickShutdown)
	// A waits for the answer to its send; a new send is refused meanwhile.
	a.send(map[string]any{"t": "send", "rid": 2, "cmid": "d-2", "to_user": 61, "type": "text", "content": "late"})
	a.expectErr(protocol.CodeUnavailable, 2)
	a.expectNone(200 * time.Millisecond)
	e.push(t, e.node, bus.Delivery{Kind: bus.KindAck, App: e.app, Conn: ha.Session, Rid: 1, CMID: "d-1", ID: 42, TS: 1})
	if f := a.expect(protocol.TypeAck, 0); f.CMID != "d-1" {
		t.Fatalf("ack %s", f.raw)
	}
	a.expectKick(protocol.CodeKickShutdown)
	select {
	case err := <-drained:
		if err != nil {
			t.Fatalf("drain: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("drain did not return")
	}
	if e.g.Connections() != 0 {
		t.Fatalf("connections %d after drain", e.g.Connections())
	}
	for _, uid := range []int64{60, 61} {
		if rs, _ := e.st.Routes(ctx, e.app, uid, time.Now()); len(rs) != 0 {
			t.Fatalf("routes of %d left: %+v", uid, rs)
		}
	}
}

func TestDrainTimeout(t *testing.T) {
	e := newEnv(t, nil)
	a, _ := e.login(t, 62, 1)
	a.send(map[string]any{"t": "send", "rid": 1, "cmid": "never-acked", "to_user": 63, "type": "text", "content": "x"})
	waitFor(t, "send in ingress", func() bool { s, _ := e.ingress(t); return len(s) == 1 })
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	if err := e.g.Drain(ctx); err == nil {
		t.Fatal("drain with an unanswered send returned nil before its deadline")
	}
	select {
	case <-a.closed:
	case <-time.After(3 * time.Second):
		t.Fatal("connection not force-closed after the drain deadline")
	}
	waitFor(t, "connections gone", func() bool { return e.g.Connections() == 0 })
}

// TestNeverPanics throws hostile frames and delivery entries at a gateway;
// every frame must get an answer or a clean close, and the gateway must keep
// serving.
func TestNeverPanics(t *testing.T) {
	e := newEnv(t, nil)
	hostile := []string{
		"", " ", "null", "true", "0", `"str"`, "{}", "[]", `{"t":null}`, `{"t":1}`, `{"t":["auth"]}`,
		`{"t":"send","to_user":1e400}`, `{"t":"send","rid":-1}`, `{"t":"send","rid":4294967296}`,
		`{"t":"sync","after":"-1"}`, `{"t":"sync","after":-5}`, `{"t":"dack","id":"99999999999999999999"}`,
		`{"t":"dack","id":{}}`, `{"t":"state","bg":null}`, `{"t":"auth","device_sn":99999999999}`,
		`{"t":"send","cmid":"` + strings.Repeat("\\u0000", 10) + `","to_user":1,"type":"text","content":"x"}`,
		"{\"t\":\"send\",\"cmid\":\"a\",\"to_user\":1,\"type\":\"text\",\"content\":\"\xff\xfe\"}",
		strings.Repeat("[", 20000) + strings.Repeat("]", 20000),
		`{"t":"ping","rid":1,` + strings.Repeat(`"a":1,`, 3000) + `"b":2}`,
		"\xff\xfe\xfd", "{\"t\":\"\xff\"}",
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for i := 0; i < 100; i++ {
		b := make([]byte, rng.IntN(200))
		for j := range b {
			b[j] = byte(rng.IntN(256))
		}
		if rng.IntN(2) == 0 && len(b) > 0 {
			b[0] = '{'
		}
		hostile = append(hostile, string(b))
	}
	// Some hostile frames are valid (and get no reply, like a send); a ping
	// after each one marks where its answers end.
	run := func(c *client) {
		for i, h := range hostile {
			c.send(h)
			rid := uint32(1000 + i)
			c.send(map[string]any{"t": "ping", "rid": rid})
			for {
				f := c.read()
				if f.T == protocol.TypePong && f.Rid == rid {
					break
				}
				if f.T != protocol.TypeErr && f.T != protocol.TypePong {
					t.Fatalf("frame %q: got %s", h, f.raw)
				}
			}
		}
	}
	// Before authentication every rejected frame closes the connection with
	// its code; a sample of them, one connection each.
	for i, h := range hostile {
		if i%4 != 0 {
			continue
		}
		c := e.dial(t)
		c.send(h)
		f := c.read()
		if f.T != protocol.TypeErr || f.Code < 4000 || f.Code > 4999 {
			t.Fatalf("frame %q before auth: got %s", h, f.raw)
		}
		c.expectClose(protocol.Code(f.Code))
	}
	pre, _ := e.login(t, 1, 1)
	run(pre)

	// Hostile delivery entries are skipped.
	ctx := context.Background()
	stream := bus.DeliveryStream(e.node)
	e.rdb.XAdd(ctx, &redis.XAddArgs{Stream: stream, Values: map[string]any{"x": "no d field"}})
	e.rdb.XAdd(ctx, &redis.XAddArgs{Stream: stream, Values: map[string]any{bus.Field: "not json"}})
	e.rdb.XAdd(ctx, &redis.XAddArgs{Stream: stream, Values: map[string]any{bus.Field: `{"i":[null,{"k":"msg"},{"k":"msg","app":"` + e.app + `","users":[1]},{"k":"wat"},{"k":"kick"},{"k":"ack","conn":"nope"}]}`}})
	e.push(t, e.node,
		bus.Delivery{Kind: bus.KindKick, App: e.app, User: 999, Code: 0},
		bus.Delivery{Kind: bus.KindErr, App: e.app, Conn: "missing", Code: 99999},
		bus.Delivery{Kind: bus.KindMsg, App: e.app, Users: []int64{1}, Msg: json.RawMessage(`{"id":"5"}`)},
	)
	if f := pre.expect(protocol.TypeMsg, 0); f.Message == nil || f.Message.ID != 5 {
		t.Fatalf("msg after hostile entries: %s", f.raw)
	}
	pre.ping(8)
	// And the gateway still accepts connections.
	c2, _ := e.login(t, 2, 1)
	c2.ping(1)
}

func TestNewValidation(t *testing.T) {
	st := store.New(redistest.Client(t), store.Options{})
	good := testConfig()
	tests := []struct {
		name   string
		mutate func(*config.Gateway)
		node   string
		parts  int
		store  *store.Store
	}{
		{"no store", nil, "n", 1, nil},
		{"no node", nil, "", 1, st},
		{"node with bar", nil, "a|b", 1, st},
		{"no partitions", nil, "n", 0, st},
		{"no send queue", func(c *config.Gateway) { c.SendQueue = 0 }, "n", 1, st},
		{"no auth timeout", func(c *config.Gateway) { c.AuthTimeout = 0 }, "n", 1, st},
		{"no frame limit", func(c *config.Gateway) { c.Limits.MaxFrameBytes = 0 }, "n", 1, st},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := good
			if tt.mutate != nil {
				tt.mutate(&cfg)
			}
			if _, err := New(cfg, tt.node, tt.parts, Deps{Store: tt.store}); err == nil {
				t.Fatal("New accepted a bad configuration")
			}
		})
	}
	reg := prometheus.NewRegistry()
	if _, err := New(good, "n", 1, Deps{Store: st, Metrics: reg}); err != nil {
		t.Fatal(err)
	}
	if _, err := New(good, "n2", 1, Deps{Store: st, Metrics: reg}); err == nil {
		t.Fatal("two gateways registered on one registry")
	}
}

func TestConnIDs(t *testing.T) {
	seen := map[string]bool{}
	for i := 0; i < 1000; i++ {
		id := newConnID()
		if len(id) != 16 || strings.ContainsAny(id, "|:{}") || seen[id] {
			t.Fatalf("bad or repeated id %q", id)
		}
		seen[id] = true
	}
}

// TestSlotsReleased: connection slots (MaxConnections) come back on close.
func TestSlotsReleased(t *testing.T) {
	e := newEnv(t, func(c *config.Gateway) { c.MaxConnections = 3 })
	for i := 0; i < 10; i++ {
		c, _ := e.login(t, int64(i+1), 1)
		c.ws.Close(websocket.StatusNormalClosure, "")
		waitFor(t, fmt.Sprintf("connection %d gone", i), func() bool { return e.g.Connections() == 0 })
	}
	if n := e.g.slots.Load(); n != 0 {
		t.Fatalf("slots = %d after all connections closed", n)
	}
}
