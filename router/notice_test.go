package router

import (
	"slices"
	"testing"

	"github.com/chatgate/chatgate/internal/bus"
	"github.com/chatgate/chatgate/protocol"
)

// TestNoticeInGroupOrder routes a group notice between two messages of the
// group: it gets its own id in the conversation's order, reaches the
// members the router reads and the extra users of To (live and by sync),
// is stored as an event (no history entry) and makes no push job.
func TestNoticeInGroupOrder(t *testing.T) {
	e := newEnv(t, testConfig())
	r := e.start("r1", 1)
	e.waitOwned(r)
	const gid = 40
	if err := e.st.AddGroupMembers(e.ctx, e.app, gid, 1, 2); err != nil {
		t.Fatal(err)
	}
	e.online(1, 1, "gwA", false)
	e.online(2, 1, "gwB", false)
	e.online(3, 1, "gwB", false) // the kicked user: not a member any more
	e.device(2, 2, "tok-2")      // offline device with a token: no push for notices
	e.send(bus.Send{From: 1, FromDev: 1, Node: "gwA", Conn: "c1", Rid: 1, CMID: "m1", ToGroup: gid, Content: "before"})
	n := &protocol.Notice{Kind: "group_member_kicked", Group: gid, Actor: 1, Users: []int64{3}, Data: map[string]string{"reason": "spam"}}
	e.send(bus.Send{Kind: bus.SendNotice, Admin: true, Node: "api", Conn: "r1", Rid: 1, ToGroup: gid, To: []int64{3, 2}, Notice: n})
	e.send(bus.Send{From: 1, FromDev: 1, Node: "gwA", Conn: "c1", Rid: 2, CMID: "m2", ToGroup: gid, Content: "after"})
	ack := e.waitItems("api", bus.KindAck, 1)[0]
	msgs := e.waitItems("gwB", bus.KindMsg, 3)
	var ids []int64
	for _, d := range msgs {
		m := decodeMsg(t, d.Msg)
		ids = append(ids, int64(m.ID))
		if m.Type != protocol.EventNotice {
			continue
		}
		if int64(m.ID) != ack.ID || m.Conv != "g:40" || m.From != 0 || m.Notice == nil || m.Notice.Kind != n.Kind ||
			m.Notice.Actor != 1 || !slices.Equal(m.Notice.Users, []int64{3}) || m.Notice.Data["reason"] != "spam" {
			t.Errorf("notice %+v (%+v)", m, m.Notice)
		}
		if !slices.Contains(d.Users, 2) || !slices.Contains(d.Users, 3) {
			t.Errorf("notice delivered to %v, want 2 and 3", d.Users)
		}
	}
	if !slices.IsSorted(ids) || len(ids) != 3 || ids[1] != ack.ID {
		t.Errorf("gwB got ids %v, want message, notice %d, message in order", ids, ack.ID)
	}
	// The kicked user got the notice only; by sync too.
	if ib := e.inbox(3); len(ib) != 1 || ib[0] != ack.ID {
		t.Errorf("inbox of the kicked user = %v, want only the notice %d", ib, ack.ID)
	}
	page, err := e.st.Sync(e.ctx, e.app, 2, 0, 10)
	if err != nil || len(page.Bodies) != 3 || decodeMsg(t, page.Bodies[1]).Type != protocol.EventNotice {
		t.Fatalf("sync of a member: %+v %v", page, err)
	}
	if hist, _ := e.st.History(e.ctx, e.app, "g:40", 0, 10); len(hist) != 2 {
		t.Errorf("history holds %d entries, want the 2 messages only", len(hist))
	}
	for _, j := range e.pushJobs() {
		if j.MsgID == ack.ID {
			t.Errorf("push job for a notice that asked for none: %+v", j)
		}
	}
}

// TestNoticeToUser routes a user-addressed notice in the system
// conversation, with a push job when it asks for one.
func TestNoticeToUser(t *testing.T) {
	e := newEnv(t, testConfig())
	r := e.start("r1", 1)
	e.waitOwned(r)
	e.device(5, 1, "tok-5")
	n := &protocol.Notice{Kind: "friend_request_received", Actor: 4, Users: []int64{4}, Data: map[string]string{"reason": "hi"}}
	e.send(bus.Send{Kind: bus.SendNotice, Admin: true, Node: "api", Conn: "r1", Rid: 1, ToUser: 5, Notice: n, Push: true, Content: "friend request"})
	ack := e.waitItems("api", bus.KindAck, 1)[0]
	if ib := e.inbox(5); len(ib) != 1 || ib[0] != ack.ID {
		t.Fatalf("inbox of 5 = %v", ib)
	}
	page, err := e.st.Sync(e.ctx, e.app, 5, 0, 10)
	if err != nil || len(page.Bodies) != 1 {
		t.Fatalf("sync %+v %v", page, err)
	}
	if m := decodeMsg(t, page.Bodies[0]); m.Conv != "u:0:5" || m.Notice == nil || m.Notice.Kind != n.Kind {
		t.Errorf("synced notice %+v", m)
	}
	jobs := e.pushJobs()
	if len(jobs) != 1 || jobs[0].MsgID != ack.ID || jobs[0].From != 4 || jobs[0].Content != "friend request" || jobs[0].Type != protocol.EventNotice {
		t.Errorf("push jobs %+v", jobs)
	}
}

// TestBadNotices checks that malformed notice entries are refused, not
// routed: no kind, a forged sender, extra recipients on a message.
func TestBadNotices(t *testing.T) {
	for _, tc := range []struct {
		name string
		s    bus.Send
	}{
		{"no notice", bus.Send{Kind: bus.SendNotice, Admin: true, ToUser: 1}},
		{"bad kind", bus.Send{Kind: bus.SendNotice, Admin: true, ToUser: 1, Notice: &protocol.Notice{Kind: "Bad Kind"}}},
		{"user sender", bus.Send{Kind: bus.SendNotice, From: 3, ToUser: 1, Notice: &protocol.Notice{Kind: "x"}}},
		{"not admin", bus.Send{Kind: bus.SendNotice, ToUser: 1, Notice: &protocol.Notice{Kind: "x"}}},
		{"no recipient", bus.Send{Kind: bus.SendNotice, Admin: true, Notice: &protocol.Notice{Kind: "x"}}},
		{"to on a message", bus.Send{From: 3, ToUser: 1, To: []int64{4}}},
		{"too many", bus.Send{Kind: bus.SendNotice, Admin: true, ToGroup: 1, To: make([]int64, maxNoticeTo+1), Notice: &protocol.Notice{Kind: "x"}}},
	} {
		tc.s.App = "app1"
		if checkSend(&tc.s) == "" {
			t.Errorf("%s: accepted", tc.name)
		}
	}
	ok := bus.Send{App: "app1", Kind: bus.SendNotice, Admin: true, ToGroup: 1, To: []int64{2}, Notice: &protocol.Notice{Kind: "group_created"}}
	if reason := checkSend(&ok); reason != "" {
		t.Errorf("good notice refused: %s", reason)
	}
}
