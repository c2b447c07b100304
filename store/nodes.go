package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/redis/go-redis/v9"
)

// NodesKey is the hash node name -> NodeStatus JSON in which every process
// says, every few seconds, which roles it runs and what its own metrics
// read (connections, owned partitions and their lag, push backlog). The
// operator console's cluster page reads it. One small key: its size is the
// number of processes, whatever the load.
func NodesKey() string { return prefix + "nodes" }

// NodeStatus is one process's report of itself.
type NodeStatus struct {
	Node    string   `json:"node"`
	Roles   []string `json:"roles"`
	Version string   `json:"version"`
	// Started and Updated are unix ms: when the process started and when
	// it wrote this report.
	Started int64 `json:"started"`
	Updated int64 `json:"updated"`
	// Metrics are the process's chatgate_ gauges and counters as its
	// /metrics serves them, keyed by name and labels in the exposition
	// format's order, e.g. `chatgate_router_ingress_lag_entries{partition="3"}`.
	Metrics map[string]float64 `json:"metrics"`
}

// PutNodeStatus writes (replaces) the report of st.Node.
func (s *Store) PutNodeStatus(ctx context.Context, st NodeStatus) error {
	b, err := json.Marshal(st)
	if err != nil {
		return fmt.Errorf("store: node status: %w", err)
	}
	if err := s.rdb.HSet(ctx, NodesKey(), st.Node, b).Err(); err != nil {
		return fmt.Errorf("store: node status: %w", err)
	}
	return nil
}

// DeleteNodeStatus removes the report of a process that stops cleanly.
func (s *Store) DeleteNodeStatus(ctx context.Context, node string) error {
	if err := s.rdb.HDel(ctx, NodesKey(), node).Err(); err != nil {
		return fmt.Errorf("store: node status: %w", err)
	}
	return nil
}

// NodeStatuses returns the reports written after now-keep, sorted by node
// name, and deletes older ones: a process killed without a clean stop
// leaves its report, which ages out here. Reports that do not decode are
// deleted too (nothing but chatgate writes the key).
func (s *Store) NodeStatuses(ctx context.Context, now time.Time, keep time.Duration) ([]NodeStatus, error) {
	all, err := s.rdb.HGetAll(ctx, NodesKey()).Result()
	if err != nil && !errors.Is(err, redis.Nil) {
		return nil, fmt.Errorf("store: node statuses: %w", err)
	}
	oldest := now.Add(-keep).UnixMilli()
	var out []NodeStatus
	var stale []string
	for node, v := range all {
		var st NodeStatus
		if json.Unmarshal([]byte(v), &st) != nil || st.Node != node || st.Updated < oldest {
			stale = append(stale, node)
			continue
		}
		out = append(out, st)
	}
	if len(stale) > 0 {
		if err := s.rdb.HDel(ctx, NodesKey(), stale...).Err(); err != nil {
			return nil, fmt.Errorf("store: node statuses: %w", err)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Node < out[j].Node })
	return out, nil
}
