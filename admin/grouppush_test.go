package admin_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/chatgate/chatgate/internal/fakepush"
	"github.com/chatgate/chatgate/store"
)

// TestGroupPushModesFakePush sends group messages through the whole path
// (REST, router, push worker, the real APNs and FCM clients) to a fake
// APNs/FCM and checks which members' phones were notified, by sender role
// and @mentions, under each msg_push_mode and msg_mute_mode; then the
// pushed notices (a friend request) under the user's push settings.
func TestGroupPushModesFakePush(t *testing.T) {
	p := newPushEnv(t)
	ctx := context.Background()
	mk := func(name string) int64 { return rosUser(t, p.env, name, 0) }
	owner, admin, plain := mk("owner"), mk("admin"), mk("plain")
	type member struct {
		name       string
		push, mute string
		nopush     bool
		provider   string
		uid        int64
		token      string
	}
	ms := []*member{
		{name: "all", push: "0", provider: fakepush.APNs}, {name: "none", push: "1", provider: fakepush.FCM},
		{name: "adminat", push: "2", provider: fakepush.APNs}, {name: "admins", push: "3", provider: fakepush.FCM},
		{name: "at", push: "4", provider: fakepush.APNs}, {name: "mute1", mute: "1", provider: fakepush.FCM},
		{name: "mute2", mute: "2", provider: fakepush.APNs}, {name: "nopush", push: "0", nopush: true, provider: fakepush.FCM},
	}
	var uids []int64
	push, mute := map[int64]string{}, map[int64]string{}
	for i, m := range ms {
		m.uid = mk(m.name)
		uids = append(uids, m.uid)
		push[m.uid], mute[m.uid] = m.push, m.mute
		if m.provider == fakepush.APNs {
			m.token = strings.Repeat(fmt.Sprintf("%02x", i+1), 32)
			p.device(m.uid, 1, "apns", m.token)
		} else {
			m.token = fmt.Sprintf("fcm-token-%d", i)
			p.device(m.uid, 1, "fcm", m.token)
		}
		if m.nopush {
			p.ok("POST", "/user/settings", as(m.uid), map[string]any{"no_push": true})
		}
	}
	gid := pathGroup(t, p.env, true, owner, append([]int64{admin, plain}, uids...)...)
	if err := p.st.SetGroupAdmins(ctx, p.app, gid, []int64{admin}, true); err != nil {
		t.Fatal(err)
	}
	for key, vals := range map[string]map[int64]string{store.GroupPushModeKey(p.app, gid): push, store.GroupMuteModeKey(p.app, gid): mute} {
		if err := p.st.SetMemberValues(ctx, key, vals); err != nil {
			t.Fatal(err)
		}
	}
	at := func(ids ...int64) string {
		return fmt.Sprintf(`{"mentionList":%s}`, strings.ReplaceAll(fmt.Sprint(ids), " ", ","))
	}
	uid := map[string]int64{}
	for _, m := range ms {
		uid[m.name] = m.uid
	}
	cases := []struct {
		name   string
		from   int64
		config string
		want   []string // members notified
	}{
		{"plain member", plain, "", []string{"all"}},
		{"plain member mentions adminat, at, mute1, nopush", plain, at(uid["adminat"], uid["at"], uid["mute1"], uid["nopush"]), []string{"all", "adminat", "at"}},
		{"plain member mentions all", plain, `{"mentionAll":true}`, []string{"all", "adminat", "at"}},
		{"group admin", admin, "", []string{"all", "adminat", "admins"}},
		{"owner mentions at", owner, at(uid["at"]), []string{"all", "adminat", "admins", "at"}},
	}
	want := map[string]int{}
	for _, tc := range cases {
		p.ok("POST", "/message/send", asUser(p.env, tc.from), groupSend(gid, tc.name, tc.config))
		for _, n := range tc.want {
			want[n]++
		}
	}
	// Push jobs of one user are handled in order: once the last expected
	// notification of every member came, nothing else is on its way.
	deadline := time.Now().Add(30 * time.Second)
	for _, m := range ms {
		for p.fake.Count(m.provider, m.token) < want[m.name] && time.Now().Before(deadline) {
			time.Sleep(20 * time.Millisecond)
		}
	}
	for _, m := range ms {
		if got := p.fake.Count(m.provider, m.token); got != want[m.name] {
			t.Errorf("member %s (push mode %q, mute mode %q, no_push %v): %d notifications, want %d", m.name, m.push, m.mute, m.nopush, got, want[m.name])
		}
	}

	// A friend request is pushed (its text names the request); no_push
	// holds for it too.
	before := p.fake.Count(fakepush.APNs, ms[0].token)
	p.ok("PUT", "/user/settings", as(ms[0].uid), map[string]any{"auth_mode": 1})
	p.ok("POST", "/roster/apply", as(plain), map[string]any{"user_id": ms[0].uid, "reason": "let's talk"})
	for p.fake.Count(fakepush.APNs, ms[0].token) <= before && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	ns := p.fake.Received(fakepush.APNs, ms[0].token)
	if len(ns) <= before || !strings.Contains(string(ns[len(ns)-1].Payload), "friend request") {
		t.Errorf("friend request push: %d notifications, last %s", len(ns), lastPayload(ns))
	}
}

func lastPayload(ns []fakepush.Notification) string {
	if len(ns) == 0 {
		return "none"
	}
	return string(ns[len(ns)-1].Payload)
}
