// Package ids generates the int64 message ids of the cluster: time-ordered,
// unique across every process that holds a node number, and monotonic within
// one generator even when the wall clock steps back.
//
// Layout (63 bits): 41 bits of milliseconds since Epoch, 10 bits of node
// number, 12 bits of sequence. 4096 ids per millisecond per node; 1024 nodes.
package ids

import (
	"fmt"
	"sync"
	"time"
)

// Epoch is 2024-01-01T00:00:00Z; 41 bits of milliseconds last until 2093.
var Epoch = time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)

const (
	nodeBits = 10
	seqBits  = 12
	// MaxNode is the highest node number.
	MaxNode = 1<<nodeBits - 1
	seqMask = 1<<seqBits - 1
)

// Generator hands out ids for one node number. It is safe for concurrent use.
type Generator struct {
	node  int64
	now   func() time.Time
	mu    sync.Mutex
	last  int64 // milliseconds since Epoch of the last id
	seq   int64
	epoch int64
}

// New returns a generator for node (0..MaxNode).
func New(node int) (*Generator, error) {
	if node < 0 || node > MaxNode {
		return nil, fmt.Errorf("ids: node %d out of range 0..%d", node, MaxNode)
	}
	return &Generator{node: int64(node), now: time.Now, epoch: Epoch.UnixMilli()}, nil
}

// Next returns a new id, greater than every id this generator returned before.
// When the clock steps back, or a millisecond's 4096 ids are used up, the
// generator borrows from the next millisecond instead of waiting.
func (g *Generator) Next() int64 {
	g.mu.Lock()
	defer g.mu.Unlock()
	ms := g.now().UnixMilli() - g.epoch
	if ms > g.last {
		g.last, g.seq = ms, 0
	} else {
		g.seq++
		if g.seq > seqMask {
			g.last++
			g.seq = 0
		}
	}
	return g.last<<(nodeBits+seqBits) | g.node<<seqBits | g.seq
}

// Time returns the wall time encoded in an id.
func Time(id int64) time.Time {
	return time.UnixMilli(id>>(nodeBits+seqBits) + Epoch.UnixMilli())
}

// FloorAt returns the smallest id any generator can make at time t: every
// id made at t or later is >= FloorAt(t). Retention trims by it.
func FloorAt(t time.Time) int64 {
	ms := t.UnixMilli() - Epoch.UnixMilli()
	if ms < 0 {
		return 0
	}
	return ms << (nodeBits + seqBits)
}
