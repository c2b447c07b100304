package pushworker

import (
	"sync"
	"time"

	"github.com/chatgate/chatgate/store"
)

// Policy outcomes.
const (
	outSend       = "send"
	outNoPush     = "no_push"
	outQuietHours = "quiet_hours"
)

// inWindow reports whether hour h falls in the daily window start..end
// (end excluded), which wraps past midnight when start > end and is off
// when start == end.
func inWindow(h, start, end int) bool {
	switch {
	case start == end:
		return false
	case start < end:
		return h >= start && h < end
	default:
		return h >= start || h < end
	}
}

// decide applies a user's settings to a push at now: send (maybe with the
// generic text), or drop. Pushes inside the no-push hours are dropped, not
// deferred (docs/push.md): the message stays in the inbox for the next
// sync, and a pile of stale notifications at the end of the night helps
// nobody. Silent (cmd) pushes ignore the no-push hours: they show nothing.
func decide(st store.Settings, loc *time.Location, now time.Time, silent bool) (outcome string, generic bool) {
	if st.NoPush {
		return outNoPush, false
	}
	if !silent && inWindow(now.In(loc).Hour(), st.NoPushStartHour, st.NoPushEndHour) {
		return outQuietHours, false
	}
	return outSend, st.NoPushDetail
}

// zones caches time zones by name; an unknown name falls back.
type zones struct {
	mu sync.Mutex
	m  map[string]*time.Location
}

func (z *zones) get(name string, fallback *time.Location) *time.Location {
	if name == "" {
		return fallback
	}
	z.mu.Lock()
	defer z.mu.Unlock()
	if z.m == nil {
		z.m = map[string]*time.Location{}
	}
	loc, ok := z.m[name]
	if !ok {
		var err error
		if loc, err = time.LoadLocation(name); err != nil {
			loc = nil
		}
		z.m[name] = loc
	}
	if loc == nil {
		return fallback
	}
	return loc
}
