// Package loadtest owns chatgate's load-test harness: scenarios that drive
// real WebSocket clients against gateways, latency histograms, and the
// delivery ledger that proves nothing acknowledged was lost.
package loadtest

import (
	"fmt"
	"sort"
	"strings"
	"sync"
)

// DeviceKey names one device of one user.
type DeviceKey struct {
	User   int64
	Device int32
}

func (d DeviceKey) String() string { return fmt.Sprintf("%d/%d", d.User, d.Device) }

// Ledger checks every acknowledged message against what each device that
// should have received it did receive. It is safe for concurrent use.
//
// The contract it checks (ARCHITECTURE.md): once a sender holds the ack,
// every device of every recipient gets the message (live or by sync), at
// most with duplicates of the same id, and each device sees a conversation's
// messages in id order on one connection.
type Ledger struct {
	mu       sync.Mutex
	acked    map[int64]*ackRecord
	received map[DeviceKey]map[int64]int // id -> times received
	// lastLive is the highest id per (device, conv) received live on the
	// device's current connection, for the order check.
	lastLive   map[DeviceKey]map[string]int64
	outOfOrder []string
	// unfinished: the drain ended at its deadline with deliveries still
	// outstanding, so a missing delivery is not known to be lost.
	unfinished bool
}

// DrainUnfinished records that the drain ended at its deadline before every
// expected delivery was counted: the Report then calls what is missing
// "not delivered yet", not "lost", since nothing confirmed it will not
// arrive.
func (l *Ledger) DrainUnfinished() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.unfinished = true
}

type ackRecord struct {
	conv    string
	sender  DeviceKey
	targets []DeviceKey
}

// NewLedger returns an empty ledger.
func NewLedger() *Ledger {
	return &Ledger{
		acked:    map[int64]*ackRecord{},
		received: map[DeviceKey]map[int64]int{},
		lastLive: map[DeviceKey]map[string]int64{},
	}
}

// Acked records that sender holds the server's ack for message id and that
// every device in targets must receive it. The sending device itself is
// never a target: it gets the ack, not a copy.
func (l *Ledger) Acked(id int64, conv string, sender DeviceKey, targets []DeviceKey) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.acked[id] = &ackRecord{conv: conv, sender: sender, targets: targets}
}

// Received records that dev got message id, live (on a socket, in stream
// order) or by sync.
func (l *Ledger) Received(dev DeviceKey, id int64, conv string, live bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	m := l.received[dev]
	if m == nil {
		m = map[int64]int{}
		l.received[dev] = m
	}
	m[id]++
	if !live || m[id] > 1 {
		return
	}
	lc := l.lastLive[dev]
	if lc == nil {
		lc = map[string]int64{}
		l.lastLive[dev] = lc
	}
	if prev := lc[conv]; id < prev {
		l.outOfOrder = append(l.outOfOrder, fmt.Sprintf("%s %s: %d after %d", dev, conv, id, prev))
	} else {
		lc[conv] = id
	}
}

// Reconnected resets the live-order tracking of dev: a new connection may
// legitimately replay older messages by sync.
func (l *Ledger) Reconnected(dev DeviceKey) {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.lastLive, dev)
}

// Report is the verdict of a ledger.
type Report struct {
	Acked     int `json:"acked"`
	Expected  int `json:"expected_deliveries"`
	Delivered int `json:"delivered"`
	Lost      int `json:"lost"`
	// NotDeliveredYet are missing deliveries when the drain ended at its
	// deadline: late (a slow or busy server) or lost, the run cannot tell.
	NotDeliveredYet int      `json:"not_delivered_yet,omitempty"`
	Duplicated      int      `json:"duplicated"`
	OutOfOrder      int      `json:"out_of_order"`
	Unexpected      int      `json:"unexpected"`
	Examples        []string `json:"examples,omitempty"`
}

// OK reports whether nothing was lost and nothing arrived out of order.
func (r Report) OK() bool { return r.Lost == 0 && r.NotDeliveredYet == 0 && r.OutOfOrder == 0 }

func (r Report) String() string {
	s := fmt.Sprintf("acked=%d expected=%d delivered=%d lost=%d duplicated=%d out_of_order=%d unexpected=%d",
		r.Acked, r.Expected, r.Delivered, r.Lost, r.Duplicated, r.OutOfOrder, r.Unexpected)
	if r.NotDeliveredYet > 0 {
		s += fmt.Sprintf(" not_delivered_yet=%d", r.NotDeliveredYet)
	}
	if len(r.Examples) > 0 {
		s += "\n  " + strings.Join(r.Examples, "\n  ")
	}
	return s
}

// Report computes the verdict now. Duplicates are receptions of the same id
// by the same device beyond the first; they are allowed (at-least-once) and
// counted. Unexpected are receptions of ids nobody holds an ack for, which
// happen when the ack itself was lost with a dying gateway.
func (l *Ledger) Report() Report {
	l.mu.Lock()
	defer l.mu.Unlock()
	r := Report{Acked: len(l.acked), OutOfOrder: len(l.outOfOrder)}
	ids := make([]int64, 0, len(l.acked))
	for id := range l.acked {
		ids = append(ids, id)
	}
	sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
	for _, id := range ids {
		rec := l.acked[id]
		for _, t := range rec.targets {
			r.Expected++
			if l.received[t][id] > 0 {
				r.Delivered++
				continue
			}
			if l.unfinished {
				r.NotDeliveredYet++
				if len(r.Examples) < 10 {
					r.Examples = append(r.Examples, fmt.Sprintf("not delivered yet: message %d (%s from %s) had not reached %s when the drain ended", id, rec.conv, rec.sender, t))
				}
				continue
			}
			r.Lost++
			if len(r.Examples) < 10 {
				r.Examples = append(r.Examples, fmt.Sprintf("lost: message %d (%s from %s) never reached %s", id, rec.conv, rec.sender, t))
			}
		}
	}
	for _, m := range l.received {
		for id, n := range m {
			if n > 1 {
				r.Duplicated += n - 1
			}
			if _, ok := l.acked[id]; !ok {
				r.Unexpected++
			}
		}
	}
	for i, s := range l.outOfOrder {
		if i >= 5 {
			break
		}
		r.Examples = append(r.Examples, "out of order: "+s)
	}
	return r
}

// Receipt is how many times one device received one message; a worker
// process sends its receipts to the coordinator, whose ledger judges them.
type Receipt struct {
	User   int64 `json:"u"`
	Device int32 `json:"d"`
	ID     int64 `json:"i"`
	Count  int   `json:"n"`
}

// receipts lists every reception and the out-of-order findings (each
// device is driven by one process, so order is judged where it is seen).
func (l *Ledger) receipts() ([]Receipt, []string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []Receipt
	for dev, m := range l.received {
		for id, n := range m {
			out = append(out, Receipt{User: dev.User, Device: dev.Device, ID: id, Count: n})
		}
	}
	return out, append([]string(nil), l.outOfOrder...)
}

// merge adds another process's receipts and order findings.
func (l *Ledger) merge(rs []Receipt, outOfOrder []string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, r := range rs {
		dev := DeviceKey{User: r.User, Device: r.Device}
		m := l.received[dev]
		if m == nil {
			m = map[int64]int{}
			l.received[dev] = m
		}
		m[r.ID] += r.Count
	}
	l.outOfOrder = append(l.outOfOrder, outOfOrder...)
}
