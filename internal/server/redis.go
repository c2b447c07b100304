package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"strings"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"

	"github.com/chatgate/chatgate/internal/config"
)

// redisConn is the process's Redis client and, in embedded mode, the
// in-process server behind it.
type redisConn struct {
	rdb      redis.UniversalClient
	mini     *miniredis.Miniredis
	addr     string
	embedded bool
}

// openRedis builds the client, starting the embedded server first when no
// Redis is configured.
func openRedis(cfg config.Redis, log *slog.Logger) (*redisConn, error) {
	switch {
	case cfg.Embedded():
		m := miniredis.NewMiniRedis()
		// Without ClockTTL miniredis never expires keys on its own: leases,
		// idempotency records and retention would live forever.
		m.ClockTTL(true)
		if err := m.StartAddr("127.0.0.1:0"); err != nil {
			return nil, fmt.Errorf("server: start embedded redis: %w", err)
		}
		rdb := redis.NewClient(&redis.Options{Addr: m.Addr(), PoolSize: cfg.PoolSize})
		return &redisConn{rdb: rdb, mini: m, addr: m.Addr(), embedded: true}, nil
	default:
		rdb, err := NewRedisClient(cfg)
		if err != nil {
			return nil, err
		}
		return &redisConn{rdb: rdb, addr: cfg.Addr + strings.Join(cfg.Addrs, ",")}, nil
	}
}

// NewRedisClient returns a client of the configured Redis: redis.addr is one
// Redis, redis.addrs a Redis Cluster, even with one seed, because a seed may
// be any node of a cluster. It fails in embedded mode, whose Redis exists
// only inside a serving process.
func NewRedisClient(cfg config.Redis) (redis.UniversalClient, error) {
	switch {
	case cfg.Embedded():
		return nil, errors.New("server: no redis.addr or redis.addrs configured (embedded mode)")
	case cfg.Addr != "" && len(cfg.Addrs) > 0:
		return nil, errors.New("server: set redis.addr (one Redis) or redis.addrs (a Redis Cluster), not both")
	case len(cfg.Addrs) > 0:
		return redis.NewClusterClient(&redis.ClusterOptions{
			Addrs: cfg.Addrs, Username: cfg.Username, Password: cfg.Password, PoolSize: cfg.PoolSize,
		}), nil
	default:
		return redis.NewClient(&redis.Options{
			Addr: cfg.Addr, Username: cfg.Username, Password: cfg.Password, DB: cfg.DB, PoolSize: cfg.PoolSize,
		}), nil
	}
}

func (c *redisConn) close() {
	c.rdb.Close()
	if c.mini != nil {
		c.mini.Close()
	}
}

// waitRedis pings until Redis answers, for at most wait: a process started
// alongside its Redis (compose, a pod with a sidecar) should not fail just
// because it won the race.
func waitRedis(ctx context.Context, rdb redis.UniversalClient, wait time.Duration, log *slog.Logger) error {
	deadline := time.Now().Add(wait)
	backoff := 100 * time.Millisecond
	for {
		pctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		err := rdb.Ping(pctx).Err()
		cancel()
		if err == nil {
			return nil
		}
		if ctx.Err() != nil {
			return fmt.Errorf("server: waiting for redis: %w", ctx.Err())
		}
		if time.Now().Add(backoff).After(deadline) {
			return fmt.Errorf("server: redis does not answer after %s: %w", wait, err)
		}
		log.Warn("redis not reachable yet; retrying", "err", err, "retry_in", backoff)
		select {
		case <-time.After(backoff):
		case <-ctx.Done():
			return fmt.Errorf("server: waiting for redis: %w", ctx.Err())
		}
		backoff = min(backoff*2, 2*time.Second)
	}
}

// pingRedis is the readiness check of Redis.
func pingRedis(ctx context.Context, rdb redis.UniversalClient) error {
	ctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	err := rdb.Ping(ctx).Err()
	if errors.Is(err, context.DeadlineExceeded) {
		return errors.New("ping timed out")
	}
	return err
}

// embeddedBanner is the loud warning of the embedded mode. It is logged as
// one WARN record per line so that it stands out in text logs and still
// parses as JSON lines.
func embeddedBanner(log *slog.Logger, addr string) {
	lines := []string{
		"************************************************************************",
		"EMBEDDED MODE: Redis runs in memory inside this process (" + addr + ").",
		"Single node only. Every app, user and message is LOST when it exits.",
		"For anything real set redis.addr (CHATGATE_REDIS_ADDR) to a Redis server.",
		"************************************************************************",
	}
	for _, l := range lines {
		log.Warn(l)
	}
}

// poolSize is the connection pool size per Redis node. Every blocking stream
// read (one per partition a router works on, one for a gateway's delivery
// stream) holds a pooled connection for up to a second at a time; go-redis's
// default of 10 per CPU leaves nothing for the route, auth and store
// commands on a small machine (one CPU: 10 connections for 17 blocking
// readers), so those readers come on top of it. A configured size is taken
// as given, with a warning when the readers could starve it.
func poolSize(cfg config.Config, rs roleSet, log *slog.Logger) int {
	blocking := 0
	if rs.router {
		blocking += cfg.Router.Partitions
	}
	if rs.gateway {
		blocking++
	}
	if cfg.Redis.PoolSize > 0 {
		if cfg.Redis.PoolSize < blocking+4 {
			log.Warn("redis.pool_size leaves few connections besides the blocking stream reads; commands may wait for a connection",
				"pool_size", cfg.Redis.PoolSize, "blocking_readers", blocking)
		}
		return cfg.Redis.PoolSize
	}
	return 10*runtime.GOMAXPROCS(0) + blocking
}
