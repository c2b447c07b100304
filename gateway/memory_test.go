//go:build !race

package gateway

import (
	"bufio"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chatgate/chatgate/internal/auth"
	"github.com/chatgate/chatgate/internal/bus"
	"github.com/chatgate/chatgate/internal/config"
	"github.com/chatgate/chatgate/protocol"
)

// rawClient is a minimal WebSocket client over a bare TCP connection: it
// costs the test process almost nothing, so that memory deltas measure the
// gateway's side of each connection.
type rawClient struct {
	nc net.Conn
	br *bufio.Reader
}

func dialRaw(addr string) (*rawClient, error) {
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		return nil, err
	}
	req := "GET / HTTP/1.1\r\nHost: " + addr + "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n" +
		"Sec-WebSocket-Protocol: " + protocol.Subprotocol + "\r\n\r\n"
	if _, err := io.WriteString(nc, req); err != nil {
		nc.Close()
		return nil, err
	}
	br := bufio.NewReaderSize(nc, 512)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		nc.Close()
		return nil, err
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		nc.Close()
		return nil, fmt.Errorf("handshake: HTTP %d", resp.StatusCode)
	}
	return &rawClient{nc: nc, br: br}, nil
}

// writeText writes one masked text frame (the mask key is zero, which RFC
// 6455 allows and which leaves the payload as is).
func (c *rawClient) writeText(p []byte) error {
	hdr := []byte{0x81, 0}
	switch {
	case len(p) < 126:
		hdr[1] = 0x80 | byte(len(p))
	default:
		hdr[1] = 0x80 | 126
		hdr = binary.BigEndian.AppendUint16(hdr, uint16(len(p)))
	}
	hdr = append(hdr, 0, 0, 0, 0)
	_, err := c.nc.Write(append(hdr, p...))
	return err
}

// readFrame reads one unfragmented server frame.
func (c *rawClient) readFrame() ([]byte, error) {
	var h [2]byte
	if _, err := io.ReadFull(c.br, h[:]); err != nil {
		return nil, err
	}
	n := int(h[1] & 0x7f)
	switch n {
	case 126:
		var l [2]byte
		if _, err := io.ReadFull(c.br, l[:]); err != nil {
			return nil, err
		}
		n = int(binary.BigEndian.Uint16(l[:]))
	case 127:
		var l [8]byte
		if _, err := io.ReadFull(c.br, l[:]); err != nil {
			return nil, err
		}
		n = int(binary.BigEndian.Uint64(l[:]))
	}
	p := make([]byte, n)
	_, err := io.ReadFull(c.br, p)
	return p, err
}

type memSample struct {
	heapInuse, heapAlloc, stackInuse, rss uint64
}

func sampleMemory() memSample {
	for i := 0; i < 3; i++ {
		runtime.GC()
	}
	debug.FreeOSMemory()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return memSample{heapInuse: ms.HeapInuse, heapAlloc: ms.HeapAlloc, stackInuse: ms.StackInuse, rss: rssBytes()}
}

func rssBytes() uint64 {
	b, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		return 0
	}
	f := strings.Fields(string(b))
	if len(f) < 2 {
		return 0
	}
	pages, _ := strconv.ParseUint(f[1], 10, 64)
	return pages * uint64(os.Getpagesize())
}

// Environment of the client process of TestIdleConnectionMemory.
const (
	memChildEnv = "GATEWAY_MEM_CHILD"
	memAddrEnv  = "GATEWAY_MEM_ADDR"
	memAppEnv   = "GATEWAY_MEM_APP"
	memSecEnv   = "GATEWAY_MEM_SECRET"
	memConnsEnv = "GATEWAY_MEM_CONNS"  // number of connections, default 2000
	memNoAuth   = "GATEWAY_MEM_NOAUTH" // set: the connections never authenticate
)

// TestIdleConnectionMemory measures what one idle authenticated connection
// costs the gateway process. The clients run in a child process (this test
// binary re-executed), so the parent's deltas are the gateway's alone: Go
// heap in use, live heap, goroutine stacks and RSS, per connection. The
// budget is about 12 KiB of RSS per connection; GATEWAY_MEM_CONNS=19000
// measures at the size of the budget.
func TestIdleConnectionMemory(t *testing.T) {
	connectionMemory(t, "TestIdleConnectionMemory", false)
}

// TestUnauthenticatedConnectionMemory measures the same for connections
// that never authenticate: they must cost no more than authenticated idle
// ones (same budget), and the memory must come back once they close.
func TestUnauthenticatedConnectionMemory(t *testing.T) {
	connectionMemory(t, "TestUnauthenticatedConnectionMemory", true)
}

func connectionMemory(t *testing.T, test string, noAuth bool) {
	if os.Getenv(memChildEnv) != "" {
		memChild(t)
		return
	}
	if testing.Short() {
		t.Skip("memory measurement")
	}
	n := 2000
	if v, err := strconv.Atoi(os.Getenv(memConnsEnv)); err == nil && v > 0 {
		n = v
	}
	// Connecting thousands of clients at full speed on a small machine can
	// delay an auth past the usual test timeout; it is not what is measured.
	e := newEnv(t, func(c *config.Gateway) {
		c.AuthTimeout, c.IdleTimeout = 5*time.Minute, time.Hour
		c.MaxUnauthenticated, c.MaxUnauthenticatedPerAddress = 0, 0
	})
	addr := strings.TrimPrefix(e.srv.URL, "http://")
	// Warm up every path (pools, scripts, caches) once.
	warm, err := dialRaw(addr)
	if err != nil {
		t.Fatal(err)
	}
	tok, _ := json.Marshal(authFrame(e.token(t, 1), e.app, 1, 1))
	warm.writeText(tok)
	if _, err := warm.readFrame(); err != nil {
		t.Fatal(err)
	}
	warm.nc.Close()
	waitFor(t, "warm-up connection gone", func() bool { return e.g.Connections() == 0 })

	before := sampleMemory()
	goroutinesBefore := runtime.NumGoroutine()
	env := []string{memChildEnv + "=1", memAddrEnv + "=" + addr,
		memAppEnv + "=" + e.app, memSecEnv + "=" + string(e.secret), memConnsEnv + "=" + strconv.Itoa(n)}
	kind := "idle authenticated"
	if noAuth {
		env, kind = append(env, memNoAuth+"=1"), "unauthenticated"
	}
	ch := startChild(t, test, env, "MEMCHILD ")
	if l := ch.next(); l != "ready" {
		t.Fatalf("client process: %q", l)
	}
	waitFor(t, "every connection registered", func() bool { return e.g.Connections() == n })
	time.Sleep(200 * time.Millisecond) // writers and net/http goroutines exit
	after := sampleMemory()
	per := func(a, b uint64) float64 { return (float64(a) - float64(b)) / float64(n) }
	heapInuse, heapLive, stacks, rss := per(after.heapInuse, before.heapInuse), per(after.heapAlloc, before.heapAlloc),
		per(after.stackInuse, before.stackInuse), per(after.rss, before.rss)
	t.Logf("%d %s connections, per connection: RSS %.0f B (%.2f KiB); heap in use %.0f B (live %.0f B); stacks %.0f B; heap in use + stacks %.0f B (%.2f KiB); %.2f goroutines",
		n, kind, rss, rss/1024, heapInuse, heapLive, stacks, heapInuse+stacks, (heapInuse+stacks)/1024,
		float64(runtime.NumGoroutine()-goroutinesBefore)/float64(n))
	if heapInuse+stacks > 12*1024 {
		t.Errorf("an idle connection costs %.0f B of heap and stack, budget 12 KiB", heapInuse+stacks)
	}
	ch.stop()
	waitFor(t, "connections gone", func() bool { return e.g.Connections() == 0 })
	// Teardowns finish their Redis calls after the connection left the
	// table: wait for their goroutines too.
	waitFor(t, "teardown goroutines gone", func() bool { return runtime.NumGoroutine() <= goroutinesBefore+10 })
	closed := sampleMemory()
	t.Logf("after the %d connections closed: RSS %+.1f MiB from before they opened (%.1f MiB while held); heap in use %+.1f MiB; stacks %+.1f MiB",
		n, mib(closed.rss, before.rss), mib(after.rss, before.rss), mib(closed.heapInuse, before.heapInuse), mib(closed.stackInuse, before.stackInuse))
	// Authenticated connections leave the Redis client's pool grown by
	// their teardowns; unauthenticated ones leave nothing.
	if left := float64(closed.heapInuse+closed.stackInuse) - float64(before.heapInuse+before.stackInuse); noAuth && left > float64(n)*1024 {
		t.Errorf("%.0f B of heap and stack per connection still in use after they closed", left/float64(n))
	}
}

func mib(a, b uint64) float64 { return (float64(a) - float64(b)) / (1 << 20) }

// memChild is the client process: it connects and authenticates the
// connections, says so, and holds them until its stdin closes.
func memChild(t *testing.T) {
	addr, app, secret := os.Getenv(memAddrEnv), os.Getenv(memAppEnv), []byte(os.Getenv(memSecEnv))
	n, _ := strconv.Atoi(os.Getenv(memConnsEnv))
	clients := make([]*rawClient, n)
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	var slowest atomic.Int64
	start := time.Now()
	for w := 0; w < 16; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < n; i += 16 {
				tok, err := auth.Issue(secret, app, auth.RoleUser, int64(i+1), time.Hour, time.Now())
				if err != nil {
					errs <- err
					return
				}
				frame, _ := json.Marshal(authFrame(tok, app, 1, 1))
				c, err := dialRaw(addr)
				if err != nil {
					errs <- err
					return
				}
				if os.Getenv(memNoAuth) != "" {
					clients[i] = c
					continue
				}
				if err := c.writeText(frame); err != nil {
					errs <- err
					return
				}
				t0 := time.Now()
				b, err := c.readFrame()
				if err != nil || !strings.Contains(string(b), `"t":"hello"`) {
					errs <- fmt.Errorf("hello: %q %v", b, err)
					return
				}
				if d := int64(time.Since(t0)); d > slowest.Load() {
					slowest.Store(d)
				}
				clients[i] = c
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		fmt.Println("MEMCHILD error:", err)
		t.Fatal(err)
	}
	fmt.Fprintf(os.Stderr, "client process: %d connections in %v, slowest auth %v\n", n, time.Since(start).Round(time.Millisecond), time.Duration(slowest.Load()))
	fmt.Println("MEMCHILD ready")
	io.Copy(io.Discard, os.Stdin)
	runtime.KeepAlive(clients)
}

// TestSlowConsumerMemory measures the most gateway memory one client that
// never reads can hold before it is kicked, with 30 KiB messages: the byte
// cap (send_queue_bytes, default 1 MiB) against the frame cap alone (1,024
// frames, which is what bounded it before send_queue_bytes existed).
func TestSlowConsumerMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("memory measurement")
	}
	for _, tc := range []struct {
		name  string
		bytes int
	}{{"frame cap only", 1 << 40}, {"send_queue_bytes 1 MiB", 1 << 20}} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, func(c *config.Gateway) {
				c.SendQueue, c.SendQueueBytes = 1024, tc.bytes
				c.IdleTimeout, c.WriteTimeout = time.Hour, time.Minute
			})
			e.loginPaused(t, 50)
			before := sampleMemory()
			content := strings.Repeat("x", 30<<10)
			var peak uint64
			sent := 0
			for ; sent < 1300 && e.counter("chatgate_gateway_kicks_total", "reason", "slow_consumer") == 0; sent++ {
				body, _ := json.Marshal(&protocol.Message{ID: protocol.ID(sent + 1), Conv: "u:50:51", From: 9, Type: "text", Content: content, TS: 1})
				e.push(t, e.node, bus.Delivery{Kind: bus.KindMsg, App: e.app, Users: []int64{50}, Msg: body})
				if sent%16 == 0 {
					var ms runtime.MemStats
					runtime.ReadMemStats(&ms)
					peak = max(peak, ms.HeapInuse)
				}
			}
			waitFor(t, "slow consumer kicked", func() bool {
				return e.counter("chatgate_gateway_kicks_total", "reason", "slow_consumer") > 0
			})
			t.Logf("%s: kicked after %d messages of 30 KiB; peak gateway heap in use %+.1f MiB over the start",
				tc.name, sent, mib(peak, before.heapInuse))
		})
	}
}
