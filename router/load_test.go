package router

import (
	"context"
	"os"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/chatgate/chatgate/internal/bus"
	"github.com/chatgate/chatgate/protocol"
	"github.com/chatgate/chatgate/store"
)

// TestLoad measures 1:1 routing throughput and latency against a real
// Redis, playing two gateways: one XADDs sends at a fixed rate, the other
// reads acks and deliveries with blocking XREAD as a gateway does. It runs
// only with CHATGATE_LOAD=<msgs per second>, e.g.
//
//	CHATGATE_LOAD=5000 go test -run TestLoad -v ./router/
func TestLoad(t *testing.T) {
	rate, _ := strconv.Atoi(os.Getenv("CHATGATE_LOAD"))
	if rate <= 0 {
		t.Skip("set CHATGATE_LOAD=<msgs/s> to run")
	}
	dur := 10 * time.Second
	if d, err := time.ParseDuration(os.Getenv("CHATGATE_LOAD_DURATION")); err == nil {
		dur = d
	}
	cfg := testConfig()
	cfg.Partitions, cfg.Batch, cfg.LeaseTTL, cfg.PushPartitions = 16, 256, 5*time.Second, 8
	e := newEnv(t, cfg)
	// Every owned partition holds a connection in its blocking read, and
	// the harness's two readers hold two more: size the pool for that.
	pool, _ := strconv.Atoi(os.Getenv("CHATGATE_LOAD_POOL"))
	if pool == 0 {
		pool = 64
	}
	proto, _ := strconv.Atoi(os.Getenv("CHATGATE_LOAD_PROTOCOL"))
	e.rdb = redis.NewClient(&redis.Options{Addr: e.rdb.Options().Addr, PoolSize: pool, Protocol: proto})
	t.Cleanup(func() { e.rdb.Close() }) // after the router stopped
	e.st = store.New(e.rdb, store.Options{})
	r := e.start("r1", 1)
	e.waitOwned(r)
	const pairs = 2000
	for i := int64(0); i < pairs; i++ {
		e.online(1+i, 1, "gwA", false)
		e.online(100000+i, 1, "gwB", i%2 == 0)
		e.device(1+i, 1, "")
		e.device(100000+i, 1, "tok")
	}
	total := int(dur.Seconds() * float64(rate))
	sentAt := make([]atomic.Int64, total)
	ackLat := make([]time.Duration, 0, total)
	msgLat := make([]time.Duration, 0, total)
	var mu sync.Mutex
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	read := func(node, kind string, out *[]time.Duration, want int) {
		last := "0"
		for len(*out) < want && ctx.Err() == nil {
			res, err := e.rdb.XRead(ctx, &redis.XReadArgs{Streams: []string{bus.DeliveryStream(node), last}, Block: 200 * time.Millisecond, Count: 100}).Result()
			if err != nil {
				continue
			}
			now := time.Now().UnixNano()
			for _, m := range res[0].Messages {
				last = m.ID
				var b bus.Batch
				if bus.Decode(m, &b) != nil {
					continue
				}
				for _, it := range b.Items {
					if it.Kind != kind {
						continue
					}
					cmid := it.CMID
					if kind == bus.KindMsg {
						cmid = decodeMsg(t, it.Msg).CMID
					}
					seq, _ := strconv.Atoi(cmid)
					mu.Lock()
					*out = append(*out, time.Duration(now-sentAt[seq].Load()))
					mu.Unlock()
				}
			}
		}
	}
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); read("gwA", bus.KindAck, &ackLat, total) }()
	go func() { defer wg.Done(); read("gwB", bus.KindMsg, &msgLat, total) }()

	// The sender: every millisecond, the sends due by then, pipelined as a
	// gateway with many connections would.
	start := time.Now()
	tick := time.NewTicker(time.Millisecond)
	seq := 0
	for seq < total {
		<-tick.C
		due := min(total, int(time.Since(start).Seconds()*float64(rate)))
		if due <= seq {
			continue
		}
		pipe := e.rdb.Pipeline()
		for ; seq < due; seq++ {
			i := int64(seq % pairs)
			s := bus.Send{App: e.app, From: 1 + i, FromDev: 1, Node: "gwA", Conn: "c", CMID: strconv.Itoa(seq),
				ToUser: 100000 + i, Type: "text", Content: "hello, this is a load test message", TS: time.Now().UnixMilli()}
			vals, _ := bus.Encode(s)
			p := bus.Partition(e.app, protocol.ConvID(s.From, s.ToUser, 0), cfg.Partitions)
			sentAt[seq].Store(time.Now().UnixNano())
			pipe.XAdd(ctx, &redis.XAddArgs{Stream: bus.IngressStream(p), Values: vals})
		}
		if _, err := pipe.Exec(ctx); err != nil {
			t.Fatal(err)
		}
	}
	tick.Stop()
	sendDur := time.Since(start)
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		cancel()
		<-done
	}
	elapsed := time.Since(start)
	q := func(ls []time.Duration, f float64) time.Duration {
		if len(ls) == 0 {
			return 0
		}
		return ls[min(len(ls)-1, int(f*float64(len(ls))))]
	}
	slices.Sort(ackLat)
	slices.Sort(msgLat)
	t.Logf("sent %d in %v (%.0f/s); all answered after %v", total, sendDur.Round(time.Millisecond), float64(total)/sendDur.Seconds(), elapsed.Round(time.Millisecond))
	for _, x := range []struct {
		name string
		ls   []time.Duration
	}{{"ack", ackLat}, {"delivery", msgLat}} {
		t.Logf("%-8s n=%d p50=%v p90=%v p99=%v p99.9=%v max=%v", x.name, len(x.ls),
			q(x.ls, .5).Round(10*time.Microsecond), q(x.ls, .9).Round(10*time.Microsecond), q(x.ls, .99).Round(10*time.Microsecond),
			q(x.ls, .999).Round(10*time.Microsecond), q(x.ls, 1).Round(10*time.Microsecond))
	}
	if os.Getenv("CHATGATE_LOAD_STATS") != "" {
		t.Log(e.rdb.Info(context.Background(), "commandstats").Val())
	}
	t.Logf("batches=%v push jobs=%v", r.counter("chatgate_router_batch_size", nil), r.counter("chatgate_router_push_jobs_total", nil))
	if len(ackLat) != total || len(msgLat) != total {
		t.Errorf("answered %d acks and %d deliveries of %d", len(ackLat), len(msgLat), total)
	}
}
