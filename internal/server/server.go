// Package server owns the wiring of one chatgate process: it connects to
// Redis (or starts the in-process miniredis of the embedded mode), declares
// the configured apps, leases an id node number, starts the roles the
// configuration asks for, serves the operations endpoints (/metrics,
// /healthz, /readyz) and shuts everything down in an order that loses
// nothing: stop being ready, drain the gateway, stop the router, close the
// listeners, close Redis.
package server

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"strings"
	"sync/atomic"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/chatgate/chatgate/admin"
	"github.com/chatgate/chatgate/domain/group"
	"github.com/chatgate/chatgate/gateway"
	"github.com/chatgate/chatgate/internal/config"
	"github.com/chatgate/chatgate/internal/ids"
	"github.com/chatgate/chatgate/pushworker"
	"github.com/chatgate/chatgate/router"
	"github.com/chatgate/chatgate/store"
)

// idLeaseTTL is how long an id node number stays leased without renewal.
// It bounds how long the number of a killed process stays unusable; with
// 1024 numbers and a random starting point, 30 s costs nothing, and it
// rides out Redis hiccups far longer than a router lease does.
const idLeaseTTL = 30 * time.Second

// Options are the knobs of RunWith that are not configuration: they belong
// to whoever embeds the server (the binary, tests).
type Options struct {
	// Stdout receives the embedded mode's dev-app block. Nil: os.Stdout.
	Stdout io.Writer
	// ClientCommand is how the dev-app block tells a user to start the
	// terminal client. Empty: "chatgate".
	ClientCommand string
	// Version is reported by chatgate_build_info and the start log.
	Version string
	// RedisWait bounds how long the start waits for Redis to answer, so
	// that a process started next to its Redis does not fail at once.
	// Zero: 30 s.
	RedisWait time.Duration
	// OnStart, if set, is called once every listener is bound and every
	// role runs. Tests use it to learn the addresses of ":0" listeners.
	OnStart func(Info)
	// GroupNotifier, if set, receives the REST API's group notices instead
	// of the default (group.LogNotifier: logged at debug level only, until
	// the message path's notifier is wired here). Tests record with it.
	GroupNotifier group.Notifier

	// idLeaseTTL overrides idLeaseTTL, so that tests can lose a lease in
	// seconds.
	idLeaseTTL time.Duration
}

// Info describes a started process.
type Info struct {
	Node string
	// GatewayAddr is the bound host:port of the WebSocket listener; empty
	// without the gateway role.
	GatewayAddr string
	// AdminAddr is the bound host:port of the REST API; empty without the
	// admin role.
	AdminAddr string
	// MetricsAddr is the bound host:port of the operations listener; empty
	// when metrics.listen is empty.
	MetricsAddr string
	// RedisAddr is the Redis the process uses; in embedded mode the
	// address of the in-process server.
	RedisAddr string
	Roles     []string
	// Dev is the dev app of the embedded mode; nil otherwise.
	Dev *DevApp
}

// Run runs one chatgate process until ctx ends, then shuts it down
// gracefully. It returns nil after a clean shutdown and the first fatal
// error otherwise.
func Run(ctx context.Context, cfg config.Config, log *slog.Logger) error {
	return RunWith(ctx, cfg, log, Options{})
}

// roleSet is which roles this process runs.
type roleSet struct {
	gateway, router, admin, pushworker bool
}

func (r roleSet) names() []string {
	var out []string
	if r.gateway {
		out = append(out, config.RoleGateway)
	}
	if r.router {
		out = append(out, config.RoleRouter)
	}
	if r.admin {
		out = append(out, config.RoleAdmin)
	}
	if r.pushworker {
		out = append(out, config.RolePushWorker)
	}
	return out
}

// selectRoles maps the configured roles onto the roles this build can run.
// Roles of later issues fail loudly when nothing else is asked for: a
// process that silently runs nothing would look healthy while doing no work.
func selectRoles(cfg config.Config) (roleSet, error) {
	rs := roleSet{gateway: cfg.HasRole(config.RoleGateway), router: cfg.HasRole(config.RoleRouter), admin: cfg.HasRole(config.RoleAdmin),
		pushworker: cfg.HasRole(config.RolePushWorker)}
	if !rs.gateway && !rs.router && !rs.admin && !rs.pushworker {
		return rs, errors.New("server: no role to run; available roles: gateway, router, admin, pushworker (or all)")
	}
	return rs, nil
}

// checkConfig rejects combinations config.Validate cannot judge because
// they depend on what this process runs.
func checkConfig(cfg config.Config, rs roleSet) error {
	switch {
	case cfg.Redis.Addr != "" && len(cfg.Redis.Addrs) > 0:
		return errors.New("server: set redis.addr (one Redis) or redis.addrs (a Redis Cluster), not both")
	case len(cfg.Redis.Addrs) > 0 && cfg.Redis.DB != 0:
		return errors.New("server: redis.db must be 0 with a Redis Cluster (redis.addrs)")
	case cfg.Redis.Embedded() && !(rs.gateway && rs.router && rs.admin && rs.pushworker):
		return errors.New("server: embedded mode (no redis.addr) runs every role in one process, because nobody else can reach its in-memory Redis; set redis.addr to run only some roles")
	case rs.gateway && cfg.Gateway.Listen == "":
		return errors.New("server: gateway.listen is required for the gateway role")
	case rs.admin && cfg.Admin.Listen == "":
		return errors.New("server: admin.listen is required for the admin role")
	case rs.gateway && !strings.HasPrefix(cfg.Gateway.Path, "/"):
		return fmt.Errorf("server: gateway.path %q must start with '/'", cfg.Gateway.Path)
	case cfg.Node != "" && !validNode(cfg.Node):
		return fmt.Errorf("server: node %q must be 1-64 characters of [A-Za-z0-9._-]", cfg.Node)
	}
	return nil
}

// RunWith is Run with the embedding knobs of opts.
func RunWith(ctx context.Context, cfg config.Config, log *slog.Logger, opts Options) error {
	if opts.Stdout == nil {
		opts.Stdout = os.Stdout
	}
	if opts.ClientCommand == "" {
		opts.ClientCommand = "chatgate"
	}
	if opts.RedisWait <= 0 {
		opts.RedisWait = 30 * time.Second
	}
	if opts.idLeaseTTL <= 0 {
		opts.idLeaseTTL = idLeaseTTL
	}
	if err := cfg.Validate(); err != nil {
		return err
	}
	rs, err := selectRoles(cfg)
	if err != nil {
		return err
	}
	if err := checkConfig(cfg, rs); err != nil {
		return err
	}

	node := cfg.Node
	if node == "" {
		node = defaultNode()
	}
	// The roles name their node and role in their own records.
	roleLog := log
	log = log.With("node", node)

	rcfg := cfg.Redis
	rcfg.PoolSize = poolSize(cfg, rs, log)
	conn, err := openRedis(rcfg, log)
	if err != nil {
		return err
	}
	// Redis closes last, after every goroutine that uses it has returned.
	defer conn.close()
	if err := waitRedis(ctx, conn.rdb, opts.RedisWait, log); err != nil {
		return err
	}

	st := store.New(conn.rdb, store.Options{
		Retention:  cfg.Store.Retention,
		InboxMax:   cfg.Store.InboxMax,
		HistoryMax: cfg.Store.HistoryMax,
		IdemTTL:    cfg.Store.IdemTTL,
	})
	if err := putApps(ctx, st, cfg.Apps); err != nil {
		return err
	}
	if err := pushworker.PublishCredentials(ctx, st, cfg.Apps); err != nil {
		return fmt.Errorf("server: %w", err)
	}
	var dev *DevApp
	if conn.embedded && cfg.DevApp != "" {
		if dev, err = ensureDevApp(ctx, st, cfg.DevApp, cfg.Admin.PasswordCost, time.Now()); err != nil {
			return err
		}
	}

	reg := newRegistry(conn.rdb, opts.Version)

	// Listeners are bound before anything runs, so that a port in use
	// fails the start instead of leaving a half-started process.
	var gwLn, opsLn, adminLn net.Listener
	closeListeners := func() {
		for _, l := range []net.Listener{gwLn, opsLn, adminLn} {
			if l != nil {
				l.Close()
			}
		}
	}
	if rs.gateway {
		if gwLn, err = net.Listen("tcp", cfg.Gateway.Listen); err != nil {
			return fmt.Errorf("server: gateway listener: %w", err)
		}
	}
	if rs.admin {
		if adminLn, err = net.Listen("tcp", cfg.Admin.Listen); err != nil {
			closeListeners()
			return fmt.Errorf("server: admin listener: %w", err)
		}
	}
	if cfg.Metrics.Listen != "" {
		if opsLn, err = net.Listen("tcp", cfg.Metrics.Listen); err != nil {
			closeListeners()
			return fmt.Errorf("server: metrics listener: %w", err)
		}
	}

	var gw *gateway.Gateway
	if rs.gateway {
		gw, err = gateway.New(cfg.Gateway, node, cfg.Router.Partitions, gateway.Deps{
			Store: st, Log: roleLog, Metrics: reg, Now: time.Now,
		})
		if err != nil {
			closeListeners()
			return fmt.Errorf("server: gateway: %w", err)
		}
	}
	var (
		rt    *router.Router
		lease *ids.Lease
	)
	if rs.router {
		// Only the router makes ids, so only it needs a node number.
		lease, err = ids.AcquireLease(ctx, conn.rdb, node, rand.IntN(ids.MaxNode+1), opts.idLeaseTTL)
		if err != nil {
			closeListeners()
			return fmt.Errorf("server: id node lease: %w", err)
		}
		gen, err := ids.New(lease.Node)
		if err == nil {
			rt, err = router.New(cfg.Router, node, router.Deps{
				Store: st, IDs: gen, Log: roleLog, Metrics: reg, Now: time.Now, PushStreamMaxLen: cfg.Push.StreamMaxLen,
			})
		}
		if err != nil {
			releaseLease(lease, log)
			closeListeners()
			return fmt.Errorf("server: router: %w", err)
		}
		log.Info("id node number leased", "id_node", lease.Node)
	}

	var api *admin.Server
	if rs.admin {
		api, err = admin.New(cfg.Admin, admin.Deps{
			Store: st, Log: roleLog, Metrics: reg, Now: time.Now, Node: node,
			Partitions: cfg.Router.Partitions, PushPartitions: cfg.Router.PushPartitions, Push: cfg.Push,
			GroupNotifier: opts.GroupNotifier, GroupLimits: func(app string) group.Limits { return groupLimits(cfg.GroupLimits(app)) },
		})
		if err != nil {
			if lease != nil {
				releaseLease(lease, log)
			}
			closeListeners()
			return fmt.Errorf("server: admin: %w", err)
		}
	}

	var pw *pushworker.Worker
	if rs.pushworker {
		pw, err = pushworker.New(ctx, cfg.Push, cfg.Apps, cfg.Router.PushPartitions, pushworker.Deps{
			Store: st, Log: roleLog, Metrics: reg, Now: time.Now, Node: node,
		})
		if err != nil {
			if lease != nil {
				releaseLease(lease, log)
			}
			closeListeners()
			return fmt.Errorf("server: %w", err)
		}
	}

	h := &health{rdb: conn.rdb}
	if pw != nil {
		h.add(config.RolePushWorker, pw.Ready)
	}
	if gw != nil {
		h.add(config.RoleGateway, gw.Ready)
	}
	if rt != nil {
		h.add(config.RoleRouter, rt.Ready)
	}
	if api != nil {
		h.add(config.RoleAdmin, api.Ready)
	}

	return run(ctx, runParts{
		cfg: cfg, log: log, opts: opts, node: node, roles: rs.names(),
		conn: conn, gw: gw, rt: rt, api: api, pw: pw, lease: lease, h: h, reg: reg,
		gwLn: gwLn, opsLn: opsLn, adminLn: adminLn, dev: dev,
	})
}

// runParts is everything the running phase needs.
type runParts struct {
	cfg   config.Config
	log   *slog.Logger
	opts  Options
	node  string
	roles []string
	conn  *redisConn
	gw    *gateway.Gateway
	rt    *router.Router
	api   *admin.Server
	pw    *pushworker.Worker
	lease *ids.Lease
	h     *health
	reg   *registry
	gwLn  net.Listener
	opsLn net.Listener
	// adminLn is the REST API listener; nil without the admin role.
	adminLn net.Listener
	dev     *DevApp
}

// run starts every goroutine and runs the ordered shutdown. Each role gets
// its own context, detached from ctx, because the roles must stop one
// after the other, not all at once when ctx ends.
func run(ctx context.Context, p runParts) error {
	log := p.log
	g, gctx := errgroup.WithContext(ctx)
	detached := context.WithoutCancel(ctx)
	gwCtx, gwCancel := context.WithCancel(detached)
	rtCtx, rtCancel := context.WithCancel(detached)
	apiCtx, apiCancel := context.WithCancel(detached)
	defer apiCancel()
	leaseCtx, leaseCancel := context.WithCancel(detached)
	pwCtx, pwCancel := context.WithCancel(detached)
	defer pwCancel()
	defer gwCancel()
	defer rtCancel()
	defer leaseCancel()

	// runRole runs a role until its context ends. A role that returns on
	// its own is a fatal error: the process would look alive but not work.
	runRole := func(name string, rctx context.Context, fn func(context.Context) error) <-chan struct{} {
		done := make(chan struct{})
		g.Go(func() error {
			defer close(done)
			err := fn(rctx)
			if rctx.Err() != nil {
				if err != nil && !errors.Is(err, context.Canceled) {
					return fmt.Errorf("server: %s stopped with: %w", name, err)
				}
				return nil
			}
			if err == nil {
				err = errors.New("returned unexpectedly")
			}
			log.Error("role failed", "role", name, "err", err)
			return fmt.Errorf("server: %s: %w", name, err)
		})
		return done
	}

	var gwDone, rtDone, leaseDone, apiDone, pwDone <-chan struct{}
	if p.pw != nil {
		pwDone = runRole(config.RolePushWorker, pwCtx, p.pw.Run)
	}
	if p.lease != nil {
		done := make(chan struct{})
		leaseDone = done
		g.Go(func() error {
			defer close(done)
			var lost atomic.Bool
			p.lease.Keep(leaseCtx, log, func() {
				lost.Store(true)
				// Another process may hold the number now: stop making
				// ids at once rather than after the gateway drained.
				rtCancel()
			})
			if lost.Load() {
				return errors.New("server: id node lease lost (Redis unreachable or the process stalled for longer than the lease); the router was stopped so that no two processes make ids with the same node number")
			}
			return nil
		})
	}
	if p.rt != nil {
		rtDone = runRole(config.RoleRouter, rtCtx, p.rt.Run)
	}

	var servers []*http.Server
	serve := func(name string, srv *http.Server, ln net.Listener) {
		servers = append(servers, srv)
		g.Go(func() error {
			if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
				return fmt.Errorf("server: %s listener: %w", name, err)
			}
			return nil
		})
	}
	errLog := slog.NewLogLogger(log.Handler(), slog.LevelWarn)
	if p.gw != nil {
		gwDone = runRole(config.RoleGateway, gwCtx, p.gw.Run)
		mux := http.NewServeMux()
		mux.Handle(p.cfg.Gateway.Path, p.gw.Handler())
		serve("gateway", &http.Server{
			Handler:           mux,
			ReadHeaderTimeout: 10 * time.Second,
			// IdleTimeout concerns keep-alive HTTP connections between
			// requests; upgraded WebSockets are hijacked and unaffected.
			IdleTimeout:    120 * time.Second,
			MaxHeaderBytes: 16 << 10,
			ErrorLog:       errLog,
		}, p.gwLn)
	}
	if p.api != nil {
		// Serve returns once apiCtx ends and requests in flight finished
		// (or drain_timeout passed).
		apiDone = runRole(config.RoleAdmin, apiCtx, func(ctx context.Context) error {
			return p.api.Serve(ctx, p.adminLn, p.cfg.Gateway.DrainTimeout)
		})
	}
	if p.opsLn != nil {
		writeTimeout := 30 * time.Second
		if p.cfg.Metrics.Pprof {
			// A CPU profile or trace streams for ?seconds=N (30 by
			// default); leave room for long ones.
			writeTimeout = 10 * time.Minute
		}
		serve("metrics", &http.Server{
			Handler:           opsHandler(p.reg, p.h, p.cfg.Metrics.Pprof),
			ReadHeaderTimeout: 5 * time.Second,
			ReadTimeout:       10 * time.Second,
			WriteTimeout:      writeTimeout,
			IdleTimeout:       120 * time.Second,
			ErrorLog:          errLog,
		}, p.opsLn)
	}

	// The ordered shutdown: it runs when ctx ends or when any goroutine
	// above fails (errgroup cancels gctx with the first error).
	g.Go(func() error {
		<-gctx.Done()
		cause := context.Cause(gctx)
		if errors.Is(cause, context.Canceled) || errors.Is(cause, context.DeadlineExceeded) {
			log.Info("shutting down")
		} else {
			log.Warn("shutting down after a failure", "cause", cause)
		}
		// 1. Load balancers stop sending new connections here.
		p.h.draining.Store(true)
		// 2a. The REST API stops taking requests and finishes the ones in
		//     flight while the router still runs to answer their sends.
		apiCancel()
		waitFor(apiDone, config.RoleAdmin, log)
		// 2. Clients are told to reconnect elsewhere (4104) while the
		//    router still runs, so their last sends are still answered.
		if p.gw != nil {
			dctx, cancel := context.WithTimeout(detached, p.cfg.Gateway.DrainTimeout)
			if err := p.gw.Drain(dctx); err != nil {
				log.Warn("gateway drain did not finish", "err", err, "timeout", p.cfg.Gateway.DrainTimeout)
			}
			cancel()
			gwCancel()
			waitFor(gwDone, config.RoleGateway, log)
		}
		// 3. The router finishes its batch and releases its partitions,
		//    then the id node number it made ids with.
		rtCancel()
		waitFor(rtDone, config.RoleRouter, log)
		leaseCancel()
		waitFor(leaseDone, "id lease", log)
		// 3b. The push worker, after the router made its last jobs: it
		//     finishes its batch; the rest stays in the streams.
		pwCancel()
		waitFor(pwDone, config.RolePushWorker, log)
		// 4. Listeners. Hijacked WebSockets are not waited for: the
		//    gateway closed them while draining.
		sctx, cancel := context.WithTimeout(detached, 5*time.Second)
		defer cancel()
		for _, srv := range servers {
			if err := srv.Shutdown(sctx); err != nil {
				log.Warn("http shutdown", "err", err)
				srv.Close()
			}
		}
		return nil
	})

	info := Info{
		Node: p.node, RedisAddr: p.conn.addr, Roles: p.roles, Dev: p.dev,
	}
	if p.gwLn != nil {
		info.GatewayAddr = p.gwLn.Addr().String()
	}
	if p.adminLn != nil {
		info.AdminAddr = p.adminLn.Addr().String()
	}
	if p.opsLn != nil {
		info.MetricsAddr = p.opsLn.Addr().String()
	}
	log.Info("chatgate started", "version", p.opts.Version, "roles", p.roles,
		"gateway", info.GatewayAddr, "admin", info.AdminAddr, "metrics", info.MetricsAddr, "redis", p.conn.addr, "embedded", p.conn.embedded)
	if p.conn.embedded {
		embeddedBanner(log, p.conn.addr)
	}
	if p.dev != nil {
		printDevBlock(p.opts.Stdout, info, p.cfg.Gateway.Path, p.opts.ClientCommand)
	}
	if p.opts.OnStart != nil {
		p.opts.OnStart(info)
	}

	err := g.Wait()
	if err != nil {
		return err
	}
	log.Info("chatgate stopped")
	return nil
}

// waitFor waits until a role's goroutine returned, saying so in the log
// when that takes long, so that a stuck shutdown is visible.
func waitFor(done <-chan struct{}, name string, log *slog.Logger) {
	if done == nil {
		return
	}
	t := time.NewTicker(5 * time.Second)
	defer t.Stop()
	for {
		select {
		case <-done:
			return
		case <-t.C:
			log.Warn("still waiting for a role to stop", "role", name)
		}
	}
}

// releaseLease gives a lease back at once. Keep releases the lease as soon
// as its context is done, so a cancelled context does exactly that.
func releaseLease(l *ids.Lease, log *slog.Logger) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	l.Keep(ctx, log, func() {})
}
