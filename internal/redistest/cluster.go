package redistest

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// Cluster is a Redis Cluster of real redis-server processes started for
// tests, so that code claiming to be cluster-safe is run against one.
type Cluster struct {
	Addrs   []string
	servers []*Server
	dir     string
}

// StartCluster returns the seed addresses of a three-master Redis Cluster
// for the test: REDIS_CLUSTER_ADDRS (comma-separated) when set, otherwise
// three redis-server processes in cluster mode on free loopback ports.
func StartCluster(tb testing.TB) []string {
	tb.Helper()
	if addrs := os.Getenv("REDIS_CLUSTER_ADDRS"); addrs != "" {
		return strings.Split(addrs, ",")
	}
	c, err := StartClusterServers(3)
	if err != nil {
		tb.Fatalf("redistest: %v", err)
	}
	tb.Cleanup(c.Stop)
	return c.Addrs
}

// ClusterClient returns a go-redis cluster client on a real cluster.
func ClusterClient(tb testing.TB) *redis.ClusterClient {
	tb.Helper()
	c := redis.NewClusterClient(&redis.ClusterOptions{Addrs: StartCluster(tb)})
	tb.Cleanup(func() { c.Close() })
	return c
}

// StartClusterServers starts n masters, splits the 16384 slots between
// them, joins them and waits until every node reports the cluster ok.
func StartClusterServers(n int) (*Cluster, error) {
	dir, err := os.MkdirTemp("", "redistest-cluster-")
	if err != nil {
		return nil, err
	}
	c := &Cluster{dir: dir}
	for i := 0; i < n; i++ {
		s, err := startServer("--cluster-enabled", "yes",
			"--cluster-config-file", fmt.Sprintf("%s/nodes-%d.conf", dir, i),
			"--cluster-node-timeout", "2000", "--dir", dir)
		if err != nil {
			c.Stop()
			return nil, err
		}
		c.servers = append(c.servers, s)
		c.Addrs = append(c.Addrs, s.Addr)
	}
	if err := c.form(); err != nil {
		c.Stop()
		return nil, err
	}
	return c, nil
}

func (c *Cluster) form() error {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	clients := make([]*redis.Client, len(c.Addrs))
	for i, a := range c.Addrs {
		clients[i] = redis.NewClient(&redis.Options{Addr: a})
		defer clients[i].Close()
	}
	per := 16384 / len(clients)
	for i, cl := range clients {
		lo, hi := i*per, (i+1)*per-1
		if i == len(clients)-1 {
			hi = 16383
		}
		if err := cl.ClusterAddSlotsRange(ctx, lo, hi).Err(); err != nil {
			return fmt.Errorf("add slots to %s: %w", c.Addrs[i], err)
		}
	}
	first := clients[0]
	for _, a := range c.Addrs[1:] {
		host, port, _ := strings.Cut(a, ":")
		if err := first.ClusterMeet(ctx, host, port).Err(); err != nil {
			return fmt.Errorf("cluster meet %s: %w", a, err)
		}
	}
	for {
		ok := true
		for _, cl := range clients {
			info, err := cl.ClusterInfo(ctx).Result()
			if err != nil || !strings.Contains(info, "cluster_state:ok") ||
				!strings.Contains(info, "cluster_known_nodes:"+strconv.Itoa(len(clients))) {
				ok = false
				break
			}
		}
		if ok {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("cluster did not become ok: %w", ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// Stop kills every node and removes their files.
func (c *Cluster) Stop() {
	for _, s := range c.servers {
		s.Stop()
	}
	os.RemoveAll(c.dir)
}
