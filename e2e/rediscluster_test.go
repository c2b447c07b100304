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
	ctx := withTimeout(t, 60*time.Second)
	rdb := redis.NewClusterClient(&redis.ClusterOptions{Addrs: addrs})
	t.Cleanup(func() { rdb.Close() })
	const gid = 300
	members := []int64{1, 2, 3, 4}
	if err := store.New(rdb, store.Options{}).AddGroupMembers(ctx, testApp, gid, members...); err != nil {
		t.Fatal(err)
	}
	w := newWorld(t, ctx)
	w.groups[gid] = members
	var senders []*device
	for _, u := range members {
		url := gw1.url()
		if u%2 == 0 {
			url = gw2.url()
		}
		senders = append(senders, w.connect(u, 1, url))
	}
	w.connect(1, 2, gw2.url())
	w.traffic(senders, func(u int64) int64 { return u%4 + 1 }, gid, 30, nil).Wait()
	w.waitDelivered(20 * time.Second)
	w.checkSendOrder()
}
