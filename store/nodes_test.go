package store

import (
	"context"
	"testing"
	"time"
)

func TestNodeStatuses(t *testing.T) {
	backends(t, func(t *testing.T, s *Store, app string) {
		ctx := context.Background()
		now := time.UnixMilli(1_000_000_000)
		put := func(node string, updated time.Time) {
			t.Helper()
			err := s.PutNodeStatus(ctx, NodeStatus{Node: node, Roles: []string{"gateway"}, Updated: updated.UnixMilli(),
				Metrics: map[string]float64{"chatgate_gateway_connections": 3}})
			if err != nil {
				t.Fatal(err)
			}
		}
		put(app+"-b", now)
		put(app+"-a", now.Add(-time.Second))
		put(app+"-old", now.Add(-2*time.Hour))
		// Junk under the key (a name that does not match, bad JSON) goes.
		if err := s.rdb.HSet(ctx, NodesKey(), app+"-junk", "{", app+"-other", `{"node":"x"}`).Err(); err != nil {
			t.Fatal(err)
		}
		got, err := s.NodeStatuses(ctx, now, time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, st := range got {
			if len(st.Node) > len(app) && st.Node[:len(app)] == app {
				names = append(names, st.Node)
			}
		}
		if len(names) != 2 || names[0] != app+"-a" || names[1] != app+"-b" || got[0].Metrics["chatgate_gateway_connections"] != 3 {
			t.Fatalf("statuses %+v", got)
		}
		for _, gone := range []string{"-old", "-junk", "-other"} {
			if n, _ := s.rdb.HExists(ctx, NodesKey(), app+gone).Result(); n {
				t.Errorf("%s was not pruned", gone)
			}
		}
		if err := s.DeleteNodeStatus(ctx, app+"-a"); err != nil {
			t.Fatal(err)
		}
		got, _ = s.NodeStatuses(ctx, now, time.Hour)
		for _, st := range got {
			if st.Node == app+"-a" {
				t.Fatal("deleted status still listed")
			}
		}
	})
}
