package router

import (
	"slices"
	"strconv"
	"testing"

	"github.com/chatgate/chatgate/internal/bus"
	"github.com/chatgate/chatgate/protocol"
	"github.com/chatgate/chatgate/store"
)

// TestBlacklistInReadRound checks that a one-to-one send to a user who
// blacklisted the sender is refused with 4022 whatever path it came by,
// that nothing of it is stored, and that the check rides in the batch's
// read round (a batch of mixed sends routes the allowed ones).
func TestBlacklistInReadRound(t *testing.T) {
	e := newEnv(t, testConfig())
	r := e.start("r1", 1)
	e.waitOwned(r)
	if _, err := e.st.Block(e.ctx, e.app, 2, 1); err != nil {
		t.Fatal(err)
	}
	e.online(2, 1, "gwB", false)
	e.send(bus.Send{From: 1, FromDev: 1, Node: "gwA", Conn: "c1", Rid: 1, CMID: "x1", ToUser: 2, Content: "blocked"})
	e.send(bus.Send{From: 1, FromDev: 0, Node: "api", Conn: "r1", Rid: 1, ToUser: 2, Content: "rest", Admin: true})
	e.send(bus.Send{From: 3, FromDev: 1, Node: "gwA", Conn: "c3", Rid: 2, CMID: "x3", ToUser: 2, Content: "fine"})
	e.send(bus.Send{From: 2, FromDev: 1, Node: "gwB", Conn: "c2", Rid: 3, CMID: "x2", ToUser: 1, Content: "one-way"})

	errs := append(e.waitItems("gwA", bus.KindErr, 1), e.waitItems("api", bus.KindErr, 1)...)
	for _, d := range errs {
		if protocol.Code(d.Code) != protocol.CodeBlocked {
			t.Errorf("err item %+v, want code %d", d, protocol.CodeBlocked)
		}
	}
	if acks := e.waitItems("gwA", bus.KindAck, 1); acks[0].Conn != "c3" {
		t.Errorf("ack %+v", acks[0])
	}
	e.waitItems("gwB", bus.KindAck, 1)
	if b := e.bodies("u:1:2"); len(b) != 1 {
		t.Errorf("bodies of u:1:2 = %v, want only the reply of user 2", b)
	}
	if v, err := e.rdb.Exists(e.ctx, store.IdemKey(e.app, 1, 1, "x1")).Result(); err != nil || v != 0 {
		t.Errorf("a refused send kept its idempotency record: %d %v", v, err)
	}
}

// TestSystemSenderRecentsAndMarks checks admin sends from the system
// sender 0, and the recent sessions and read marks written with messages.
func TestSystemSenderRecentsAndMarks(t *testing.T) {
	e := newEnv(t, testConfig())
	r := e.start("r1", 1)
	e.waitOwned(r)
	e.send(bus.Send{From: 0, Node: "api", Conn: "r1", Rid: 1, ToUser: 5, Content: "sys", Admin: true})
	e.send(bus.Send{From: 0, Node: "api", Conn: "r2", Rid: 1, ToUser: 5, Content: "forged"}) // not an admin send: poison
	e.send(bus.Send{From: 5, FromDev: 1, Node: "gwA", Conn: "c5", Rid: 1, CMID: "m", ToUser: 6, Content: "hi"})
	acks := e.waitItems("api", bus.KindAck, 1)
	e.waitItems("gwA", bus.KindAck, 1)
	// The two conversations are routed by different partitions, so either
	// may have the lower id.
	if ib := e.inbox(5); len(ib) != 2 || (ib[0] != acks[0].ID && ib[1] != acks[0].ID) {
		t.Fatalf("inbox of 5 = %v, want the system message %d among 2", ib, acks[0].ID)
	}
	if ib := e.inbox(0); len(ib) != 0 {
		t.Fatalf("the system sender got an inbox: %v", ib)
	}
	rec, err := e.st.RecentSessions(e.ctx, e.app, 5, 10)
	if err != nil || len(rec) != 2 || rec[0].Conv != "u:5:6" || rec[1].Conv != "u:0:5" || rec[1].Unread != 1 || rec[0].Unread != 0 {
		t.Fatalf("recent sessions of 5 = %+v, %v", rec, err)
	}
	if rec, _ := e.st.RecentSessions(e.ctx, e.app, 6, 10); len(rec) != 1 || rec[0].Unread != 1 {
		t.Fatalf("recent sessions of 6 = %+v", rec)
	}
}

// TestRecallAndRead routes a recall and read receipts through the
// partition of their conversation.
func TestRecallAndRead(t *testing.T) {
	e := newEnv(t, testConfig())
	r := e.start("r1", 1)
	e.waitOwned(r)
	e.online(1, 1, "gwA", false)
	e.online(2, 1, "gwB", false)
	e.send(bus.Send{From: 1, FromDev: 1, Node: "gwA", Conn: "c1", Rid: 1, CMID: "m1", ToUser: 2, Content: "one"})
	e.send(bus.Send{From: 1, FromDev: 1, Node: "gwA", Conn: "c1", Rid: 2, CMID: "m2", ToUser: 2, Content: "two"})
	acks := e.waitItems("gwA", bus.KindAck, 2)
	m1, m2 := acks[0].ID, acks[1].ID

	// Recall by someone else than the sender (not an admin): refused.
	e.send(bus.Send{Kind: bus.SendRecall, From: 2, Node: "api", Conn: "r1", Rid: 1, ToUser: 1, Ref: m1, CMID: "rc-1"})
	if d := e.waitItems("api", bus.KindErr, 1)[0]; protocol.Code(d.Code) != protocol.CodeForbidden {
		t.Fatalf("recall by the recipient: %+v", d)
	}
	// By the sender: history entry gone, body replaced, event everywhere.
	e.send(bus.Send{Kind: bus.SendRecall, From: 1, Node: "api", Conn: "r2", Rid: 1, ToUser: 2, Ref: m1, CMID: "rc-1"})
	e.waitItems("api", bus.KindAck, 1)
	events := e.waitItems("gwB", bus.KindMsg, 3)
	ev := decodeMsg(t, events[2].Msg)
	if ev.Type != protocol.EventRecall || int64(ev.Ref) != m1 || ev.Conv != "u:1:2" {
		t.Fatalf("recall event %+v", ev)
	}
	hist, err := e.st.History(e.ctx, e.app, "u:1:2", 0, 10)
	if err != nil || len(hist) != 1 || int64(decodeMsg(t, hist[0]).ID) != m2 {
		t.Fatalf("history after recall: %s %v", hist, err)
	}
	page, err := e.st.Sync(e.ctx, e.app, 2, 0, 10)
	if err != nil || len(page.Bodies) != 3 || decodeMsg(t, page.Bodies[0]).Type != protocol.EventRecall {
		t.Fatalf("sync after recall: %+v %v", page, err)
	}
	// Unknown and already recalled messages: 4023.
	e.send(bus.Send{Kind: bus.SendRecall, From: 1, Node: "api", Conn: "r3", Rid: 1, ToUser: 2, Ref: 12345, CMID: "rc-12345"})
	e.send(bus.Send{Kind: bus.SendRead, From: 2, Node: "api", Conn: "r4", Rid: 1, ToUser: 1, Ref: m1})
	for _, d := range e.waitItems("api", bus.KindErr, 3)[1:] {
		if protocol.Code(d.Code) != protocol.CodeMessageNotFound {
			t.Errorf("err %+v, want %d", d, protocol.CodeMessageNotFound)
		}
	}

	// Read receipts: the mark rises once; the event goes to the sender.
	e.send(bus.Send{Kind: bus.SendRead, From: 2, FromDev: 1, Node: "api", Conn: "r5", Rid: 1, ToUser: 1, Ref: m2})
	e.send(bus.Send{Kind: bus.SendRead, From: 2, FromDev: 1, Node: "api", Conn: "r6", Rid: 1, ToUser: 1, Ref: m2})
	e.waitItems("api", bus.KindAck, 3)
	reads := 0
	for _, d := range ofKind(e.items("gwA"), bus.KindMsg) {
		if m := decodeMsg(t, d.Msg); m.Type == protocol.EventRead {
			reads++
			if int64(m.Ref) != m2 || m.From != 2 || !slices.Contains(d.Users, 1) {
				t.Errorf("read event %+v to %v", m, d.Users)
			}
		}
	}
	if reads != 1 {
		t.Errorf("%d read events, want 1 (the repeated receipt changes nothing)", reads)
	}
	marks, err := e.st.ReadMarks(e.ctx, e.app, "u:1:2", []int64{1, 2})
	if err != nil || marks[0] != m2 || marks[1] != m2 {
		t.Errorf("read marks %v %v, want both %d (the sender's own send, the receipt)", marks, err, m2)
	}
	// A read in the system conversation (no peer) is fine too.
	e.send(bus.Send{From: 0, Node: "api", Conn: "r7", Rid: 1, ToUser: 2, Content: "sys", Admin: true})
	sys := e.waitItems("api", bus.KindAck, 4)[3].ID
	e.send(bus.Send{Kind: bus.SendRead, From: 2, Node: "api", Conn: "r8", Rid: 1, Ref: sys})
	e.waitItems("api", bus.KindAck, 5)
	if m, _ := e.st.ReadMarks(e.ctx, e.app, "u:0:2", []int64{2}); m[0] != sys {
		t.Errorf("system conversation read mark %v, want %s", m, strconv.FormatInt(sys, 10))
	}
}
