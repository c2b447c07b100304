//go:build !race

package gateway

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/chatgate/chatgate/internal/auth"
	"github.com/chatgate/chatgate/internal/bus"
	"github.com/chatgate/chatgate/internal/config"
	"github.com/chatgate/chatgate/protocol"
)

const (
	perfChildEnv = "GATEWAY_PERF_CHILD"
	perfArgsEnv  = "GATEWAY_PERF_ARGS" // addr app secret node redis conns
)

func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// TestDeliveryThroughput measures deliveries per CPU-second of the gateway
// process: a child process (this binary re-executed) holds the client
// connections, reads every frame, and plays the router by writing delivery
// batches to the gateway's stream, so the parent's CPU time is the
// gateway's alone. The target is at least 50,000 deliveries per CPU-second.
func TestDeliveryThroughput(t *testing.T) {
	if os.Getenv(perfChildEnv) != "" {
		perfChild(t)
		return
	}
	if testing.Short() {
		t.Skip("throughput measurement")
	}
	const conns = 1000
	e := newEnv(t, func(c *config.Gateway) { c.AuthTimeout, c.IdleTimeout = time.Minute, time.Hour })
	e.g.readBlock = deliveryBlock
	addr := strings.TrimPrefix(e.srv.URL, "http://")
	ch := startChild(t, "TestDeliveryThroughput", []string{perfChildEnv + "=1",
		perfArgsEnv + "=" + strings.Join([]string{addr, e.app, string(e.secret), e.node, os.Getenv("REDIS_ADDR"), strconv.Itoa(conns)}, " ")}, "PERF ")
	next := ch.next
	if l := next(); l != "ready" {
		t.Fatalf("child: %s", l)
	}
	for _, mode := range []string{"group", "direct"} {
		delivered0 := e.counter("chatgate_gateway_deliveries_total")
		cpu0, wall0 := cpuTime(), time.Now()
		fmt.Fprintln(ch.stdin, mode)
		res := next()
		cpu, wall := cpuTime()-cpu0, time.Since(wall0)
		delivered := e.counter("chatgate_gateway_deliveries_total") - delivered0
		rate := delivered / cpu.Seconds()
		t.Logf("%s: %.0f deliveries in %v wall, %v gateway CPU: %.0f deliveries per gateway CPU-second (child: %s)",
			mode, delivered, wall.Round(time.Millisecond), cpu.Round(time.Millisecond), rate, res)
		if rate < 50_000 {
			t.Errorf("%s: %.0f deliveries per CPU-second, target 50,000", mode, rate)
		}
	}
}

// perfChild connects the clients, then for each mode line on stdin writes
// delivery batches and waits until every client got its frames.
func perfChild(t *testing.T) {
	a := strings.Fields(os.Getenv(perfArgsEnv))
	addr, app, secret, node, raddr := a[0], a[1], []byte(a[2]), a[3], a[4]
	n, _ := strconv.Atoi(a[5])
	var received atomic.Int64
	clients := make([]*rawClient, n)
	var wg sync.WaitGroup
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < n; i += 8 {
				tok, _ := auth.Issue(secret, app, auth.RoleUser, int64(i+1), time.Hour, time.Now())
				frame, _ := json.Marshal(authFrame(tok, app, 1, 1))
				c, err := dialRaw(addr)
				if err != nil {
					fmt.Println("PERF error:", err)
					os.Exit(1)
				}
				c.writeText(frame)
				if _, err := c.readFrame(); err != nil {
					fmt.Println("PERF error:", err)
					os.Exit(1)
				}
				clients[i] = c
			}
		}()
	}
	wg.Wait()
	for _, c := range clients {
		go func() {
			for {
				if _, err := c.readFrame(); err != nil {
					return
				}
				received.Add(1)
			}
		}()
	}
	rdb := redis.NewClient(&redis.Options{Addr: raddr})
	ctx := context.Background()
	fmt.Println("PERF ready")
	sc := bufio.NewScanner(os.Stdin)
	rng := rand.New(rand.NewPCG(3, 4))
	body := func(id int) json.RawMessage {
		b, _ := json.Marshal(&protocol.Message{ID: protocol.ID(id), Conv: "g:1", From: 1, FromDev: 1, ToGroup: 1,
			Type: "text", Content: strings.Repeat("lorem ipsum ", 12), CMID: "c-" + strconv.Itoa(id), TS: time.Now().UnixMilli()})
		return b
	}
	for sc.Scan() {
		var entries []map[string]any
		want := int64(0)
		switch sc.Text() {
		case "group":
			// Group messages: each item to 100 random users, 4 items per
			// entry (as a router batch carries several messages).
			for i := 0; i < 1000; i++ {
				var items []bus.Delivery
				for k := 0; k < 4; k++ {
					users := make([]int64, 100)
					for j := range users {
						users[j] = int64(rng.IntN(n) + 1)
					}
					items = append(items, bus.Delivery{Kind: bus.KindMsg, App: app, Users: users, Msg: body(i*4 + k)})
					want += 100
				}
				v, _ := bus.Encode(&bus.Batch{Items: items})
				entries = append(entries, v)
			}
		case "direct":
			// One-to-one messages: 32 per entry, each to its two users.
			for i := 0; i < 6000; i++ {
				var items []bus.Delivery
				for k := 0; k < 32; k++ {
					items = append(items, bus.Delivery{Kind: bus.KindMsg, App: app,
						Users: []int64{int64(rng.IntN(n) + 1), int64(rng.IntN(n) + 1)}, Msg: body(k)})
					want += 2
				}
				v, _ := bus.Encode(&bus.Batch{Items: items})
				entries = append(entries, v)
			}
		}
		start := received.Load()
		t0 := time.Now()
		for _, v := range entries {
			rdb.XAdd(ctx, &redis.XAddArgs{Stream: bus.DeliveryStream(node), Values: v})
		}
		for received.Load()-start < want {
			if time.Since(t0) > time.Minute {
				fmt.Printf("PERF timeout: %d of %d\n", received.Load()-start, want)
				break
			}
			time.Sleep(time.Millisecond)
		}
		fmt.Printf("PERF %d frames in %v\n", received.Load()-start, time.Since(t0).Round(time.Millisecond))
	}
	io.Copy(io.Discard, os.Stdin)
}
