package loadtest

import (
	"context"
	"time"
)

// schedule is an open-loop arrival schedule: event n is due at
// start + n/rate, whatever happened to the events before it. Latency is
// measured from the due time, not from when the harness got round to the
// send, so a stalled server (or a stalled harness) shows up in the
// percentiles instead of silently lowering the offered load: the
// coordinated-omission trap of closed-loop load generators.
type schedule struct {
	start time.Time
	rate  float64 // events per second
	// limit is the number of events; the schedule ends after event limit-1.
	limit int64
}

// newSchedule returns a schedule of rate events per second for d, capped at
// max events.
func newSchedule(start time.Time, rate float64, d time.Duration, max int64) schedule {
	n := int64(rate * d.Seconds())
	if n > max {
		n = max
	}
	return schedule{start: start, rate: rate, limit: n}
}

// due is when event n is due.
func (s schedule) due(n int64) time.Time {
	return s.start.Add(time.Duration(float64(n) / s.rate * float64(time.Second)))
}

// Len is the number of events of the schedule.
func (s schedule) Len() int64 { return s.limit }

// run calls fire for every event in order, each no earlier than 50 µs
// before it is due (see sleepUntil), until the schedule ends or ctx is done, and returns how many it fired.
// Events whose time has passed (fire was slow, the process was descheduled)
// are fired at once, back to back, with their original due times: the
// schedule never slips. sleep waits until a time or ctx's end; nil uses a
// timer. The granularity of sleeping does not matter: every event carries
// its own due time.
func (s schedule) run(ctx context.Context, now func() time.Time, sleep func(context.Context, time.Time) bool,
	fire func(n int64, due time.Time)) int64 {
	if now == nil {
		now = time.Now
	}
	if sleep == nil {
		sleep = sleepUntil
	}
	var n int64
	for n < s.limit {
		due := s.due(n)
		if t := now(); t.Before(due) {
			if !sleep(ctx, due) {
				return n
			}
		} else if ctx.Err() != nil {
			return n
		}
		fire(n, due)
		n++
	}
	return n
}

// sleepUntil waits until t or ctx's end and reports whether t was reached.
// Waits under 50 µs are skipped: a timer is not that precise, and sleeping
// between every event of a 20,000/s schedule would cost more CPU than the
// sends. The error is bounded by 50 µs, a hundredth of the 5 ms budget.
func sleepUntil(ctx context.Context, t time.Time) bool {
	d := time.Until(t)
	if d < 50*time.Microsecond {
		return ctx.Err() == nil
	}
	tm := time.NewTimer(d)
	defer tm.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-tm.C:
		return true
	}
}
