package admin_test

import (
	"slices"
	"testing"

	"github.com/chatgate/chatgate/protocol"
)

// TestRosterNotices checks that every roster change a user must learn of
// reaches that user's devices as a notice in the system conversation, live
// and by sync, in the order the changes were made.
func TestRosterNotices(t *testing.T) {
	e := newEnv(t)
	a := rosUser(t, e, "alice", 0)
	b := rosUser(t, e, "bob", 1)
	c := rosUser(t, e, "carol", 0)
	bob := msgDial(t, e, b, 1)
	alice := msgDial(t, e, a, 1)

	wantNotice := func(conn interface {
		Messages() <-chan *protocol.Message
	}, m *protocol.Message, kind string, to, actor int64) {
		t.Helper()
		if m.Type != protocol.EventNotice || m.Notice == nil || m.Notice.Kind != kind || m.Notice.Actor != actor ||
			m.From != 0 || m.Conv != protocol.ConvID(0, to, 0) || !slices.Equal(m.Notice.Users, []int64{actor}) {
			t.Fatalf("got %+v (notice %+v), want %s to %d by %d", m, m.Notice, kind, to, actor)
		}
	}
	e.ok("POST", "/roster/apply", as(a), map[string]any{"user_id": b, "reason": "hello"})
	m := msgNext(t, bob)
	wantNotice(bob, m, "friend_request_received", b, a)
	if m.Notice.Data["reason"] != "hello" {
		t.Errorf("reason %q", m.Notice.Data["reason"])
	}
	e.ok("POST", "/roster/decline", as(b), map[string]any{"user_id": a, "reason": "who?"})
	m = msgNext(t, alice)
	wantNotice(alice, m, "friend_request_declined", a, b)
	if m.Notice.Data["reason"] != "who?" {
		t.Errorf("decline reason %q", m.Notice.Data["reason"])
	}
	e.ok("POST", "/roster/apply", as(a), map[string]any{"user_id": b})
	wantNotice(bob, msgNext(t, bob), "friend_request_received", b, a)
	e.ok("POST", q("/roster/accept", "user_id", a), as(b), nil)
	wantNotice(alice, msgNext(t, alice), "friend_request_accepted", a, b)
	e.ok("DELETE", q("/roster/delete", "user_id", a), as(b), nil)
	wantNotice(alice, msgNext(t, alice), "friend_deleted", a, b)
	// No approval needed: the other user hears of it.
	e.ok("POST", "/roster/apply", as(c), map[string]any{"user_id": a})
	wantNotice(alice, msgNext(t, alice), "friend_added", a, c)
	// A refused change sends nothing.
	e.wantCode(10005, "POST", "/roster/apply", as(c), map[string]any{"user_id": a})
	msgNone(t, alice)

	var kinds []string
	var ids []protocol.ID
	for _, m := range msgSync(t, e, a, 2) {
		if m.Notice != nil {
			kinds = append(kinds, m.Notice.Kind)
			ids = append(ids, m.ID)
		}
	}
	want := []string{"friend_request_declined", "friend_request_accepted", "friend_deleted", "friend_added"}
	if !slices.Equal(kinds, want) || !slices.IsSorted(ids) {
		t.Errorf("synced notices %v %v, want %v in id order", kinds, ids, want)
	}
}
