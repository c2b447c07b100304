package client

import (
	"slices"
	"time"

	"github.com/chatgate/chatgate/protocol"
)

// idTimeShift is where the milliseconds start in a message id
// (protocol/PROTOCOL.md section 2): id = ms << 22 | node << 12 | seq.
const idTimeShift = 22

// idSpan is the width in id space of a stretch of time.
func idSpan(d time.Duration) protocol.ID {
	if d <= 0 {
		return 0
	}
	return protocol.ID(d.Milliseconds()) << idTimeShift
}

// dedupe remembers the message ids a Session has seen, with bounded memory.
// It keeps every id within window (in time, read from the ids) of the
// highest one, because that is how far back a reconnect syncs and how late a
// duplicate can come; older ids are forgotten. A forgotten id that shows up
// again is delivered again: at-least-once is the lesser evil than losing a
// message. The hard cap bounds memory under extreme rates by forgetting the
// oldest ids early. Not safe for concurrent use.
type dedupe struct {
	window  protocol.ID
	limit   int
	seen    map[protocol.ID]struct{}
	max     protocol.ID // highest id seen
	floor   protocol.ID // ids below floor are not remembered
	pruneAt int
}

const minPrune = 1024

func newDedupe(window time.Duration, limit int) *dedupe {
	return &dedupe{
		window:  idSpan(window),
		limit:   max(limit, 2),
		seen:    make(map[protocol.ID]struct{}),
		pruneAt: min(minPrune, max(limit, 2)),
	}
}

// add records id and reports whether it is new.
func (d *dedupe) add(id protocol.ID) bool {
	if id <= 0 {
		return true
	}
	d.max = max(d.max, id)
	if id < d.floor {
		return true
	}
	if _, dup := d.seen[id]; dup {
		return false
	}
	d.seen[id] = struct{}{}
	if len(d.seen) >= d.pruneAt {
		d.prune()
	}
	return true
}

// lowWater is the oldest id that must still be remembered.
func (d *dedupe) lowWater() protocol.ID {
	return max(d.max-d.window, 0)
}

func (d *dedupe) prune() {
	d.floor = max(d.floor, d.lowWater())
	for id := range d.seen {
		if id < d.floor {
			delete(d.seen, id)
		}
	}
	if len(d.seen) > d.limit {
		// Over the cap within the window: keep the newest half.
		ids := make([]protocol.ID, 0, len(d.seen))
		for id := range d.seen {
			ids = append(ids, id)
		}
		slices.Sort(ids)
		cut := len(ids) - d.limit/2
		for _, id := range ids[:cut] {
			delete(d.seen, id)
		}
		d.floor = ids[cut]
	}
	d.pruneAt = min(max(2*len(d.seen), minPrune), d.limit+1)
}

// resumeAfter is where a reconnect's sync starts: overlap before the
// highest id seen, never before start (what the application said it has)
// and never below what is still remembered, which would bring back
// duplicates.
func (d *dedupe) resumeAfter(start protocol.ID, overlap time.Duration) protocol.ID {
	if d.max <= start {
		return start
	}
	return max(start, d.max-idSpan(overlap), d.floor-1)
}
