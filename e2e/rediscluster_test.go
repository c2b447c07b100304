package e2e

import (
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/chatgate/chatgate/store"
)

// The whole delivery path on a real three-node Redis Cluster: every key of
// one user or conversation shares a hash tag, so no command crosses slots
// and the same code that runs on one Redis runs here unchanged.
func TestOnRedisCluster(t *testing.T) {
	c, addrs := newRedisClusterCluster(t)
	gw1, gw2 := c.start("gw1", "gateway"), c.start("gw2", "gateway")
	c.start("rt1", "router")
	c.start("rt2", "router")
	rdb := redis.NewClusterClient(&redis.ClusterOptions{Addrs: addrs})
	t.Cleanup(func() { rdb.Close() })
	w := newWorld(t, withTimeout(t, 60*time.Second))
	const gid = 300
	members := []int64{1, 2, 3, 4}
	w.group(store.New(rdb, store.Options{}), gid, members)
	senders := w.spread(members, gw1, gw2, false)
	w.connect(1, 2, gw2.url())
	w.traffic(senders, ring(4), gid, 30, nil).Wait()
	w.waitDelivered(20 * time.Second)
	w.checkSendOrder()
}
