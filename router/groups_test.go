package router

import (
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/chatgate/chatgate/internal/bus"
	"github.com/chatgate/chatgate/protocol"
	"github.com/chatgate/chatgate/store"
)

// managedGroup creates a managed group owned by owner with members.
func (e *env) managedGroup(owner int64, members ...int64) int64 {
	e.t.Helper()
	now := time.Now().UnixMilli()
	g := &store.Group{Name: "g", Owner: owner, Created: now, Updated: now, HistoryVisible: true}
	if err := e.st.CreateGroup(e.ctx, e.app, g); err != nil {
		e.t.Fatal(err)
	}
	if _, err := e.st.JoinGroup(e.ctx, e.app, g.ID, members, now, 0, 0); err != nil {
		e.t.Fatal(err)
	}
	return g.ID
}

func (e *env) memberValues(key string, vals map[int64]string) {
	e.t.Helper()
	if err := e.st.SetMemberValues(e.ctx, key, vals); err != nil {
		e.t.Fatal(err)
	}
}

// TestGroupSendRules refuses, in one batch's read round, group sends from
// a non-member, a banned member, a non-admin under ban_all and a
// blacklisted user, and every send to a destroyed group, each with its
// code; the REST API's admin sends pass the member rules.
func TestGroupSendRules(t *testing.T) {
	e := newEnv(t, testConfig())
	r := e.start("r1", 1)
	e.waitOwned(r)
	const owner, admin, member, muted, outsider, blocked = 1, 2, 3, 4, 5, 6
	gid := e.managedGroup(owner, admin, member, muted)
	if err := e.st.SetGroupAdmins(e.ctx, e.app, gid, []int64{admin}, true); err != nil {
		t.Fatal(err)
	}
	e.memberValues(store.GroupBansKey(e.app, gid), map[int64]string{muted: "-1", member: strconv.FormatInt(time.Now().Add(-time.Minute).UnixMilli(), 10)})
	e.memberValues(store.GroupBlockedKey(e.app, gid), map[int64]string{blocked: "1"})

	sendAs := func(rid uint32, from int64) {
		e.send(bus.Send{From: from, FromDev: 1, Node: "gwA", Conn: "c", Rid: rid, CMID: "m" + strconv.Itoa(int(rid)), ToGroup: gid, Content: "x"})
	}
	codes := func(n int) map[uint32]int {
		out := map[uint32]int{}
		waitFor(t, 20*time.Second, "answers", func() bool {
			return len(ofKind(e.items("gwA"), bus.KindErr))+len(ofKind(e.items("gwA"), bus.KindAck)) >= n
		})
		for _, d := range e.items("gwA") {
			if d.Kind == bus.KindErr || d.Kind == bus.KindAck {
				out[d.Rid] = d.Code
			}
		}
		return out
	}
	sendAs(1, member) // an expired ban is no ban
	sendAs(2, muted)
	sendAs(3, outsider)
	sendAs(4, blocked)
	got := codes(4)
	want := map[uint32]int{1: 0, 2: int(protocol.CodeMemberMuted), 3: int(protocol.CodeNotGroupMember), 4: int(protocol.CodeGroupBlacklist)}
	for rid, c := range want {
		if got[rid] != c {
			t.Errorf("send %d: code %d, want %d", rid, got[rid], c)
		}
	}

	// ban_all: only the owner and admins speak; the REST API's admin too.
	if err := e.st.SetGroupFields(e.ctx, e.app, gid, time.Now().UnixMilli(), map[string]any{store.GroupFieldBanExpire: -1}); err != nil {
		t.Fatal(err)
	}
	sendAs(5, member)
	sendAs(6, admin)
	sendAs(7, owner)
	e.send(bus.Send{From: member, Node: "gwA", Conn: "c", Rid: 8, ToGroup: gid, Content: "x", Admin: true})
	got = codes(8)
	for rid, c := range map[uint32]int{5: int(protocol.CodeGroupMuted), 6: 0, 7: 0, 8: 0} {
		if got[rid] != c {
			t.Errorf("ban_all send %d: code %d, want %d", rid, got[rid], c)
		}
	}

	// Destroyed: nothing but notices, whoever sends.
	if _, err := e.st.DestroyGroup(e.ctx, e.app, gid, time.Now().UnixMilli()); err != nil {
		t.Fatal(err)
	}
	sendAs(9, owner)
	e.send(bus.Send{From: 0, Node: "gwA", Conn: "c", Rid: 10, ToGroup: gid, Content: "x", Admin: true})
	e.send(bus.Send{Kind: bus.SendNotice, Admin: true, Node: "gwA", Conn: "c", Rid: 11, ToGroup: gid, To: []int64{owner, member},
		Notice: &protocol.Notice{Kind: "group_destroyed", Group: gid}})
	got = codes(11)
	for rid, c := range map[uint32]int{9: int(protocol.CodeGroupNotFound), 10: int(protocol.CodeGroupNotFound), 11: 0} {
		if got[rid] != c {
			t.Errorf("destroyed send %d: code %d, want %d", rid, got[rid], c)
		}
	}
	if ib := e.inbox(member); len(ib) == 0 {
		t.Error("the destroyed notice did not reach a former member")
	}
}

// TestGroupPushModes is the table of msg_push_mode and msg_mute_mode
// against sender roles and mentions: which members get a push job, and
// which get the message at all (mute mode 2 receives nothing).
func TestGroupPushModes(t *testing.T) {
	e := newEnv(t, testConfig())
	r := e.start("r1", 1)
	e.waitOwned(r)
	const owner, admin, plain = 1, 2, 3
	// Members 10..17: one per mode, all offline with a push token.
	type member struct {
		uid        int64
		push, mute string
	}
	ms := []member{{10, "0", ""}, {11, "1", ""}, {12, "2", ""}, {13, "3", ""}, {14, "4", ""}, {15, "", "1"}, {16, "", "2"}, {17, "2", "1"}}
	uids := []int64{admin, plain}
	push, mute := map[int64]string{}, map[int64]string{}
	for _, m := range ms {
		uids = append(uids, m.uid)
		push[m.uid], mute[m.uid] = m.push, m.mute
		e.device(m.uid, 1, "tok-"+strconv.FormatInt(m.uid, 10))
	}
	gid := e.managedGroup(owner, uids...)
	if err := e.st.SetGroupAdmins(e.ctx, e.app, gid, []int64{admin}, true); err != nil {
		t.Fatal(err)
	}
	e.memberValues(store.GroupPushModeKey(e.app, gid), push)
	e.memberValues(store.GroupMuteModeKey(e.app, gid), mute)

	for i, tc := range []struct {
		name     string
		from     int64
		admin    bool // REST admin token
		mentions *protocol.Mentions
		pushed   []int64
	}{
		{"plain member", plain, false, nil, []int64{10}},
		{"plain member mentions 12 and 14", plain, false, &protocol.Mentions{Users: []int64{12, 14, 15}}, []int64{10, 12, 14}},
		{"plain member mentions all", plain, false, &protocol.Mentions{All: true}, []int64{10, 12, 14}},
		{"group admin", admin, false, nil, []int64{10, 12, 13}},
		{"owner mentions 14", owner, false, &protocol.Mentions{Users: []int64{14}}, []int64{10, 12, 13, 14}},
		{"REST admin token", plain, true, nil, []int64{10, 12, 13}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rid := uint32(i + 1)
			e.send(bus.Send{From: tc.from, FromDev: 9, Node: "gwA", Conn: "c", Rid: rid, CMID: "p" + strconv.Itoa(i), ToGroup: gid, Content: "hi", Mentions: tc.mentions, Admin: tc.admin})
			var id int64
			waitFor(t, 20*time.Second, "ack", func() bool {
				for _, d := range ofKind(e.items("gwA"), bus.KindAck) {
					if d.Rid == rid {
						id = d.ID
						return true
					}
				}
				return false
			})
			var pushed []int64
			for _, j := range e.pushJobs() {
				if j.MsgID == id {
					pushed = append(pushed, j.User)
				}
			}
			slices.Sort(pushed)
			if !slices.Equal(pushed, tc.pushed) {
				t.Errorf("pushed to %v, want %v", pushed, tc.pushed)
			}
			// Mute mode 2: nothing at all; mute mode 1: delivered.
			if slices.Contains(e.inbox(16), id) || !slices.Contains(e.inbox(15), id) {
				t.Errorf("inboxes: 16 (mute 2) %v, 15 (mute 1) %v", e.inbox(16), e.inbox(15))
			}
			raw, err := e.rdb.Get(e.ctx, store.BodyKey(e.app, store.GroupConv(gid), id)).Bytes()
			if err != nil {
				t.Fatal(err)
			}
			body := decodeMsg(t, raw)
			if (tc.mentions == nil) != (body.Mentions == nil) || (body.Mentions != nil && body.Mentions.All != tc.mentions.All) {
				t.Errorf("stored mentions %+v, want %+v", body.Mentions, tc.mentions)
			}
		})
	}
}

// TestGroupReadAck records a member's read mark of a managed group, and
// tells the author only where enable_read_ack is on.
func TestGroupReadAck(t *testing.T) {
	e := newEnv(t, testConfig())
	r := e.start("r1", 1)
	e.waitOwned(r)
	const author, reader = 1, 2
	e.online(author, 1, "gwA", false)
	for i, readAck := range []bool{true, false} {
		gid := e.managedGroup(author, reader)
		if err := e.st.SetGroupFields(e.ctx, e.app, gid, time.Now().UnixMilli(), map[string]any{store.GroupFieldReadAck: map[bool]string{true: "1", false: "0"}[readAck]}); err != nil {
			t.Fatal(err)
		}
		base := uint32(10 * (i + 1))
		e.send(bus.Send{From: author, FromDev: 2, Node: "gwX", Conn: "c", Rid: base, CMID: "r" + strconv.Itoa(i), ToGroup: gid, Content: "read me"})
		var id int64
		waitFor(t, 20*time.Second, "ack", func() bool {
			for _, d := range ofKind(e.items("gwX"), bus.KindAck) {
				if d.Rid == base {
					id = d.ID
					return true
				}
			}
			return false
		})
		e.send(bus.Send{Kind: bus.SendRead, From: reader, FromDev: 1, Node: "api", Conn: "c", Rid: base + 1, ToGroup: gid, Ref: id})
		waitFor(t, 20*time.Second, "read ack", func() bool {
			for _, d := range ofKind(e.items("api"), bus.KindAck) {
				if d.Rid == base+1 {
					return true
				}
			}
			return false
		})
		readers, err := e.st.GroupReaders(e.ctx, e.app, gid, id)
		if err != nil || !slices.Equal(readers, []int64{reader}) {
			t.Errorf("read_ack %v: readers %v %v", readAck, readers, err)
		}
		told := false
		for _, d := range ofKind(e.items("gwA"), bus.KindMsg) {
			if m := decodeMsg(t, d.Msg); m.Type == protocol.EventRead && int64(m.Ref) == id {
				told = true
			}
		}
		if told != readAck {
			t.Errorf("read_ack %v: author told %v", readAck, told)
		}
	}
}
