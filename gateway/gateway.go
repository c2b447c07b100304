// Package gateway owns chatgate's WebSocket edge: it accepts client
// connections, authenticates them, keys them by (app_id, user_id,
// device_sn), hands their sends to the routers through the ingress streams,
// reads this node's delivery stream and writes its deliveries to sockets.
//
// Nothing the gateway holds must survive it: routes expire on their own,
// delivery cursors are flushed about once a second, and a client whose
// gateway dies reconnects to another one, resends its unacked sends with
// the same client message ids and syncs what it missed.
//
// Connection model: one goroutine per connection reads client frames; a
// writer goroutine exists only while that connection has frames queued.
// Deliveries are queued without ever blocking on a socket, and a connection
// whose queue overflows is kicked, so one slow client never delays another.
package gateway

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/chatgate/chatgate/internal/config"
	"github.com/chatgate/chatgate/store"
)

// Deps are the gateway's collaborators.
type Deps struct {
	Store   *store.Store
	Log     *slog.Logger
	Metrics prometheus.Registerer // register your collectors here; never the global default registry
	Now     func() time.Time      // nil: time.Now

	// DropDelivery is a fault-injection hook for tests, nil in production.
	// When set, it is called for every live message about to be queued to
	// a connection (app, recipient user and device, the message JSON) and
	// the delivery is silently dropped when it returns true. It exists so
	// that a delivery checker (the load-test ledger) can be proven to
	// catch a lost message against the real server; the server never sets
	// it. It runs on the delivery reader with the connection table locked:
	// it must be fast and must not call back into the gateway.
	DropDelivery func(app string, user int64, device int32, msg []byte) bool

	// FileReferenced, when set, is told the attachment URL of each send
	// that carries one, before the send is queued (package files takes the
	// uploaded file off its orphan queue). An error refuses the send.
	FileReferenced func(ctx context.Context, app, url string) error
}

// redisTimeout bounds every Redis round trip made on behalf of one client
// frame or one background tick, so a stuck Redis cannot pin goroutines.
const redisTimeout = 5 * time.Second

// Gateway serves the WebSocket endpoint of one node.
type Gateway struct {
	cfg        config.Gateway
	node       string
	partitions int
	st         *store.Store
	rdb        redis.UniversalClient
	log        *slog.Logger
	now        func() time.Time
	m          *metrics
	apps       *appCache
	readBlock  time.Duration // XREAD BLOCK of the delivery reader
	// dropDelivery is Deps.DropDelivery: nil except in fault-injection tests.
	dropDelivery func(app string, user int64, device int32, msg []byte) bool
	// fileReferenced is Deps.FileReferenced.
	fileReferenced func(ctx context.Context, app, url string) error

	// Buffers only busy connections hold: frames being read, batches being
	// written.
	readBufs  sync.Pool
	batchBufs sync.Pool

	// slots counts connections accepted or being accepted, against
	// cfg.MaxConnections; it is taken before the upgrade.
	slots    atomic.Int64
	preauth  preauthCount
	draining atomic.Bool
	reading  atomic.Bool

	mu    sync.RWMutex
	conns map[string]*conn             // every open connection by id
	users map[string]map[int64][]*conn // app -> user -> authenticated connections

	dirtyMu sync.Mutex
	dirty   []*conn // connections whose delivery cursor moved since the last flush
}

// New returns a gateway for node. partitions is the number of ingress
// partitions (router.partitions); node must be unique among live processes.
func New(cfg config.Gateway, node string, partitions int, deps Deps) (*Gateway, error) {
	switch {
	case deps.Store == nil:
		return nil, errors.New("gateway: Deps.Store is required")
	case node == "" || strings.ContainsAny(node, "|{}"):
		return nil, fmt.Errorf("gateway: node name %q must be non-empty without '|', '{' or '}'", node)
	case partitions < 1:
		return nil, fmt.Errorf("gateway: partitions must be positive, got %d", partitions)
	case cfg.SendQueue < 1 || cfg.SendQueueBytes < 1:
		return nil, errors.New("gateway: send_queue and send_queue_bytes must be positive")
	case cfg.AuthTimeout <= 0 || cfg.IdleTimeout <= 0 || cfg.WriteTimeout <= 0 || cfg.RouteTTL <= 0 || cfg.Heartbeat <= 0:
		return nil, errors.New("gateway: auth_timeout, idle_timeout, write_timeout, route_ttl and heartbeat must be positive")
	case cfg.Limits.MaxFrameBytes < 1 || cfg.Limits.FramesPerSecond < 1 || cfg.Limits.FrameBurst < 1:
		return nil, errors.New("gateway: limits max_frame_bytes, frames_per_second and frame_burst must be positive")
	}
	reg := deps.Metrics
	if reg == nil {
		reg = prometheus.NewRegistry()
	}
	m, err := newMetrics(reg)
	if err != nil {
		return nil, err
	}
	log := deps.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	now := deps.Now
	if now == nil {
		now = time.Now
	}
	g := &Gateway{
		cfg:        cfg,
		node:       node,
		partitions: partitions,
		st:         deps.Store,
		rdb:        deps.Store.Redis(),
		log:        log.With("role", "gateway", "node", node),
		now:        now,
		m:          m,
		apps:       newAppCache(deps.Store, appCacheTTL, appCacheMax),
		readBlock:  deliveryBlock,
		preauth:    preauthCount{by: make(map[string]int)},
		conns:      make(map[string]*conn),
		users:      make(map[string]map[int64][]*conn),
	}
	g.dropDelivery = deps.DropDelivery
	g.fileReferenced = deps.FileReferenced
	g.readBufs.New = newReadBuf
	g.batchBufs.New = newBatchBuf
	return g, nil
}

// Handler serves the WebSocket endpoint (mounted at cfg.Path by the caller).
func (g *Gateway) Handler() http.Handler { return http.HandlerFunc(g.serveHTTP) }

// Run reads this node's delivery stream, refreshes routes and flushes
// delivery cursors until ctx ends. Keep it running through Drain: acks of
// the sends that Drain waits for arrive on the delivery stream.
func (g *Gateway) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	for _, loop := range []func(context.Context){g.readDeliveries, g.refreshRoutesLoop, g.flushCursorsLoop} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			loop(ctx)
		}()
	}
	wg.Wait()
	return nil
}

// Ready reports whether Run reads the delivery stream and the gateway is not
// draining: a load balancer may send it new connections.
func (g *Gateway) Ready() bool { return g.reading.Load() && !g.draining.Load() }

// Connections is the number of open WebSocket connections, authenticated or not.
func (g *Gateway) Connections() int {
	g.mu.RLock()
	defer g.mu.RUnlock()
	return len(g.conns)
}

// Drain refuses new connections, then closes every connection with a
// server_shutdown kick once its outstanding sends have their ack or error,
// so a client can resend exactly the unacked ones elsewhere. It returns
// when every connection is closed (routes removed, cursors flushed), or
// force-closes the rest when ctx ends and returns ctx's error.
func (g *Gateway) Drain(ctx context.Context) error {
	g.draining.Store(true)
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		g.mu.RLock()
		n := len(g.conns)
		for _, c := range g.conns {
			c.drainStep()
		}
		g.mu.RUnlock()
		if n == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			g.mu.RLock()
			for _, c := range g.conns {
				c.forceClose()
			}
			g.mu.RUnlock()
			return fmt.Errorf("gateway: drain: %d connections left: %w", n, ctx.Err())
		case <-tick.C:
		}
	}
}
