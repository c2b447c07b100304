package loadtest

import (
	"context"
	"testing"
	"time"
)

func TestScheduleDue(t *testing.T) {
	start := time.Unix(1000, 0)
	tests := []struct {
		rate float64
		d    time.Duration
		max  int64
		n    int64
		want time.Duration // due(n) - start
		len  int64
	}{
		{rate: 1000, d: time.Second, max: 1e9, n: 0, want: 0, len: 1000},
		{rate: 1000, d: time.Second, max: 1e9, n: 999, want: 999 * time.Millisecond, len: 1000},
		{rate: 3, d: 2 * time.Second, max: 1e9, n: 1, want: time.Second / 3, len: 6},
		{rate: 20000, d: 60 * time.Second, max: 1e9, n: 20000, want: time.Second, len: 1_200_000},
		{rate: 5000, d: time.Minute, max: 100, n: 99, want: 99 * 200 * time.Microsecond, len: 100},
	}
	for _, tt := range tests {
		s := newSchedule(start, tt.rate, tt.d, tt.max)
		if got := s.due(tt.n).Sub(start); got != tt.want {
			t.Errorf("rate %v: due(%d) = %v, want %v", tt.rate, tt.n, got, tt.want)
		}
		if s.Len() != tt.len {
			t.Errorf("rate %v for %v max %d: Len = %d, want %d", tt.rate, tt.d, tt.max, s.Len(), tt.len)
		}
	}
}

// fakeClock is a clock that only moves when the schedule sleeps or when a
// test makes fire slow, so the tests are exact and instant.
type fakeClock struct{ now time.Time }

func (c *fakeClock) Now() time.Time { return c.now }

func (c *fakeClock) Sleep(ctx context.Context, t time.Time) bool {
	if ctx.Err() != nil {
		return false
	}
	if t.After(c.now) {
		c.now = t
	}
	return true
}

func TestScheduleRunFiresEveryEventAtItsDueTime(t *testing.T) {
	clk := &fakeClock{now: time.Unix(1000, 0)}
	s := newSchedule(clk.now, 100, time.Second, 1e9)
	var dues []time.Time
	n := s.run(context.Background(), clk.Now, clk.Sleep, func(n int64, due time.Time) {
		if clk.now.Before(due) {
			t.Fatalf("event %d fired at %v, before its due time %v", n, clk.now, due)
		}
		dues = append(dues, due)
	})
	if n != 100 || len(dues) != 100 {
		t.Fatalf("fired %d (%d), want 100", n, len(dues))
	}
	for i, d := range dues {
		if want := s.due(int64(i)); !d.Equal(want) {
			t.Fatalf("event %d due %v, want %v", i, d, want)
		}
	}
}

// TestScheduleDoesNotSlip is the coordinated-omission property: a fire that
// stalls does not push later events back; they keep their due times and
// the number of events is what the rate promised.
func TestScheduleDoesNotSlip(t *testing.T) {
	clk := &fakeClock{now: time.Unix(1000, 0)}
	start := clk.now
	s := newSchedule(start, 1000, time.Second, 1e9)
	var late int
	n := s.run(context.Background(), clk.Now, clk.Sleep, func(n int64, due time.Time) {
		if n == 10 {
			clk.now = clk.now.Add(300 * time.Millisecond) // a 300 ms stall
		}
		if clk.now.After(due) {
			late++
		}
		if want := start.Add(time.Duration(n) * time.Millisecond); !due.Equal(want) {
			t.Fatalf("event %d due %v, want %v", n, due, want)
		}
	})
	if n != 1000 {
		t.Fatalf("fired %d, want 1000", n)
	}
	// Events 11..310 were due during the stall and fire late, back to back.
	if late != 300 {
		t.Fatalf("%d events late, want 300", late)
	}
}

func TestScheduleStopsWithContext(t *testing.T) {
	clk := &fakeClock{now: time.Unix(1000, 0)}
	ctx, cancel := context.WithCancel(context.Background())
	s := newSchedule(clk.now, 100, time.Hour, 1e9)
	n := s.run(ctx, clk.Now, clk.Sleep, func(n int64, _ time.Time) {
		if n == 41 {
			cancel()
		}
	})
	if n != 42 {
		t.Fatalf("fired %d after cancel at event 41, want 42", n)
	}
}

func TestScheduleRealClock(t *testing.T) {
	s := newSchedule(time.Now(), 500, 200*time.Millisecond, 1e9)
	start := time.Now()
	n := s.run(context.Background(), nil, nil, func(int64, time.Time) {})
	el := time.Since(start)
	if n != 100 {
		t.Fatalf("fired %d, want 100", n)
	}
	if el < 190*time.Millisecond || el > 2*time.Second {
		t.Fatalf("100 events at 500/s took %v", el)
	}
}
