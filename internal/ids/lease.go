package ids

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/redis/go-redis/v9"
)

// ErrNoNode is returned when all node numbers are leased by live processes.
var ErrNoNode = errors.New("ids: every node number is leased")

// renewScript extends a lease only while we still hold it, so a process that
// lost its lease (paused past the TTL) cannot silently take it back.
var renewScript = redis.NewScript(`
if redis.call("GET", KEYS[1]) == ARGV[1] then
  return redis.call("PEXPIRE", KEYS[1], ARGV[2])
end
return 0`)

// Lease is a node number leased from Redis for the life of a process. Two
// live processes never hold the same number, so their ids never collide.
type Lease struct {
	Node  int
	rdb   redis.UniversalClient
	key   string
	owner string
	ttl   time.Duration
}

func leaseKey(n int) string { return fmt.Sprintf("cg:idnode:%d", n) }

// AcquireLease takes the first free node number, starting from a hint so that
// processes spread over the range. owner identifies the process in Redis.
func AcquireLease(ctx context.Context, rdb redis.UniversalClient, owner string, hint int, ttl time.Duration) (*Lease, error) {
	for i := 0; i <= MaxNode; i++ {
		n := (hint + i) % (MaxNode + 1)
		ok, err := rdb.SetNX(ctx, leaseKey(n), owner, ttl).Result()
		if err != nil {
			return nil, fmt.Errorf("ids: lease node %d: %w", n, err)
		}
		if ok {
			return &Lease{Node: n, rdb: rdb, key: leaseKey(n), owner: owner, ttl: ttl}, nil
		}
	}
	return nil, ErrNoNode
}

// Keep renews the lease every ttl/3 until ctx ends, then releases it. If the
// lease is lost, onLost is called once and Keep returns: the process must
// stop making ids, because another process may now hold the number.
func (l *Lease) Keep(ctx context.Context, log *slog.Logger, onLost func()) {
	t := time.NewTicker(l.ttl / 3)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			rctx, cancel := context.WithTimeout(context.Background(), time.Second)
			l.rdb.Eval(rctx, `if redis.call("GET", KEYS[1]) == ARGV[1] then return redis.call("DEL", KEYS[1]) end return 0`, []string{l.key}, l.owner)
			cancel()
			return
		case <-t.C:
			ok, err := renewScript.Run(ctx, l.rdb, []string{l.key}, l.owner, l.ttl.Milliseconds()).Int()
			if err != nil {
				log.Warn("id node lease renew failed", "node", l.Node, "err", err)
				continue
			}
			if ok == 0 {
				log.Error("id node lease lost", "node", l.Node)
				onLost()
				return
			}
		}
	}
}
