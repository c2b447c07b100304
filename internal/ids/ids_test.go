package ids

import (
	"context"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/chatgate/chatgate/internal/redistest"
)

func TestNextMonotonicAndUnique(t *testing.T) {
	g, err := New(5)
	if err != nil {
		t.Fatal(err)
	}
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	clock := []time.Time{base, base, base.Add(-time.Second), base.Add(time.Millisecond)}
	var last int64
	for i, now := range clock {
		g.now = func() time.Time { return now }
		id := g.Next()
		if id <= last {
			t.Fatalf("step %d: id %d not above %d (clock %v)", i, id, last, now)
		}
		if n := id >> seqBits & MaxNode; n != 5 {
			t.Fatalf("node bits = %d", n)
		}
		last = id
	}
	// The id's time is the clock's (or later when borrowing).
	if got := Time(last); got.Before(base) {
		t.Fatalf("Time = %v", got)
	}
}

func TestNextSequenceOverflowBorrows(t *testing.T) {
	g, _ := New(1)
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	g.now = func() time.Time { return now }
	seen := map[int64]bool{}
	var last int64
	for i := 0; i < 3*(seqMask+1); i++ {
		id := g.Next()
		if seen[id] || id <= last {
			t.Fatalf("duplicate or non-increasing id at %d", i)
		}
		seen[id], last = true, id
	}
}

func TestNextConcurrent(t *testing.T) {
	g, _ := New(2)
	var mu sync.Mutex
	seen := map[int64]bool{}
	var wg sync.WaitGroup
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 2000; i++ {
				id := g.Next()
				mu.Lock()
				if seen[id] {
					t.Errorf("duplicate id %d", id)
				}
				seen[id] = true
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
}

func TestFloorAt(t *testing.T) {
	g, _ := New(MaxNode)
	at := time.Now()
	g.now = func() time.Time { return at }
	if id := g.Next(); id < FloorAt(at) || id >= FloorAt(at.Add(time.Millisecond)) {
		t.Fatalf("id %d outside [%d, %d)", id, FloorAt(at), FloorAt(at.Add(time.Millisecond)))
	}
	if FloorAt(Epoch.Add(-time.Hour)) != 0 {
		t.Fatal("floor before epoch")
	}
	if _, err := New(MaxNode + 1); err == nil {
		t.Fatal("node out of range accepted")
	}
}

func TestLeaseExclusiveAndLost(t *testing.T) {
	rdb := redistest.Client(t)
	ctx := context.Background()
	hint := int(time.Now().UnixNano() % 500)
	a, err := AcquireLease(ctx, rdb, "a", hint, 3*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	b, err := AcquireLease(ctx, rdb, "b", hint, 3*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if a.Node == b.Node {
		t.Fatalf("two live processes hold node %d", a.Node)
	}
	// Someone else takes a's number (as after a's lease expired): a's
	// keeper must notice at its next renewal and report the loss.
	rdb.Set(ctx, leaseKey(a.Node), "intruder", time.Minute)
	lost := make(chan struct{})
	kctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	go a.Keep(kctx, slog.New(slog.DiscardHandler), func() { close(lost) })
	select {
	case <-lost:
	case <-kctx.Done():
		t.Fatal("lost lease not reported")
	}
	// A clean stop releases the lease.
	bctx, bcancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { b.Keep(bctx, slog.New(slog.DiscardHandler), func() {}); close(done) }()
	bcancel()
	<-done
	if n, _ := rdb.Exists(ctx, leaseKey(b.Node)).Result(); n != 0 {
		t.Fatal("lease not released on stop")
	}
}
