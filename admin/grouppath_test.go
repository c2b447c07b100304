package admin_test

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/chatgate/chatgate/store"
)

// pathGroup makes a managed group owned by owner with members, with
// history_visible as given.
func pathGroup(t *testing.T, e *env, visible bool, owner int64, members ...int64) int64 {
	t.Helper()
	ctx := context.Background()
	now := time.Now().UnixMilli()
	g := &store.Group{Name: "g", Owner: owner, Created: now, Updated: now, HistoryVisible: visible}
	if err := e.st.CreateGroup(ctx, e.app, g); err != nil {
		t.Fatal(err)
	}
	if _, err := e.st.JoinGroup(ctx, e.app, g.ID, members, now, 0, 0); err != nil {
		t.Fatal(err)
	}
	return g.ID
}

func groupSend(gid int64, content, config string) map[string]any {
	return map[string]any{"targets": []int64{gid}, "type": 2, "content_type": 0, "content": content, "config": config}
}

// TestGroupSendRulesREST checks the REST codes of the router's group rules
// and @mentions from the message config.
func TestGroupSendRulesREST(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	owner := rosUser(t, e, "owner", 0)
	member := rosUser(t, e, "member", 0)
	muted := rosUser(t, e, "muted", 0)
	outsider := rosUser(t, e, "outsider", 0)
	gid := pathGroup(t, e, true, owner, member, muted)
	if err := e.st.SetMemberValues(ctx, store.GroupBansKey(e.app, gid), map[int64]string{muted: "-1"}); err != nil {
		t.Fatal(err)
	}
	live := msgDial(t, e, member, 1)

	// A mention from the SDK config, ids as strings or numbers.
	e.ok("POST", "/message/send", asUser(e, owner), groupSend(gid, "hi @member", `{"mentionList":["`+strconv.FormatInt(member, 10)+`"]}`))
	m := msgNext(t, live)
	if m.Mentions == nil || len(m.Mentions.Users) != 1 || m.Mentions.Users[0] != member || m.Config == "" {
		t.Fatalf("delivered %+v, want a mention of %d", m, member)
	}
	e.ok("POST", "/message/send", asUser(e, owner), groupSend(gid, "all", `{"mentionAll":true}`))
	if m := msgNext(t, live); m.Mentions == nil || !m.Mentions.All {
		t.Fatalf("delivered %+v, want mentions all", m)
	}
	e.wantCode(10002, "POST", "/message/send", asUser(e, owner), map[string]any{"targets": []int64{member}, "type": 1, "content_type": 0, "content": "x", "config": `{"mentionAll":true}`})
	e.wantCode(10002, "POST", "/message/send", asUser(e, owner), groupSend(gid, "x", `{"mentionList":[-4]}`))
	e.wantCode(10002, "POST", "/message/send", asUser(e, owner), groupSend(gid, "x", `{"mentionList":"all"}`))

	e.wantCode(20011, "POST", "/message/send", asUser(e, muted), groupSend(gid, "x", ""))
	e.wantCode(20002, "POST", "/message/send", asUser(e, outsider), groupSend(gid, "x", ""))
	if err := e.st.SetMemberValues(ctx, store.GroupBlockedKey(e.app, gid), map[int64]string{outsider: "1"}); err != nil {
		t.Fatal(err)
	}
	e.wantCode(20018, "POST", "/message/send", asUser(e, outsider), groupSend(gid, "x", ""))
	if err := e.st.SetGroupFields(ctx, e.app, gid, time.Now().UnixMilli(), map[string]any{store.GroupFieldBanExpire: -1}); err != nil {
		t.Fatal(err)
	}
	e.wantCode(20012, "POST", "/message/send", asUser(e, member), groupSend(gid, "x", ""))
	e.ok("POST", "/message/send", asUser(e, owner), groupSend(gid, "owner speaks", ""))
	if _, err := e.st.DestroyGroup(ctx, e.app, gid, time.Now().UnixMilli()); err != nil {
		t.Fatal(err)
	}
	e.wantCode(20001, "POST", "/message/send", asUser(e, owner), groupSend(gid, "x", ""))
}

// TestGroupHistoryVisible checks that with history_visible off a new
// member's history and sync start at its join.
func TestGroupHistoryVisible(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	owner := rosUser(t, e, "owner", 0)
	late := rosUser(t, e, "late", 0)
	hidden := pathGroup(t, e, false, owner)
	shown := pathGroup(t, e, true, owner)
	for _, g := range []int64{hidden, shown} {
		e.ok("POST", "/message/send", asUser(e, owner), groupSend(g, "before", ""))
	}
	time.Sleep(5 * time.Millisecond) // ids are per millisecond: the join must come after "before"
	for _, g := range []int64{hidden, shown} {
		if _, err := e.st.JoinGroup(ctx, e.app, g, []int64{late}, time.Now().UnixMilli(), 0, 0); err != nil {
			t.Fatal(err)
		}
		e.ok("POST", "/message/send", asUser(e, owner), groupSend(g, "after", ""))
	}
	if h := getHistory(t, e, late, hidden, 0, 10); len(h.Messages) != 1 || h.Messages[0].Content != "after" || !h.IsLast {
		t.Errorf("hidden history of the new member: %+v", h)
	}
	if h := getHistory(t, e, late, shown, 0, 10); len(h.Messages) != 2 {
		t.Errorf("visible history of the new member: %+v", h)
	}
	if h := getHistory(t, e, owner, hidden, 0, 10); len(h.Messages) != 2 {
		t.Errorf("the owner's history: %+v", h)
	}
	for _, m := range msgSync(t, e, late, 1) {
		if m.Content == "before" {
			t.Errorf("the new member synced a message from before its join: %+v", m)
		}
	}
}
