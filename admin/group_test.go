package admin_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os/exec"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/chatgate/chatgate/domain/group"
	"github.com/chatgate/chatgate/store"
)

// grpUser creates a user in the store; confirm turns group_confirm on.
func grpUser(t *testing.T, e *env, name string, confirm bool) int64 {
	t.Helper()
	uid := rosUser(t, e, name, 0)
	if confirm {
		if err := e.st.SetSettings(context.Background(), e.app, uid, map[string]any{"group_confirm": true}); err != nil {
			t.Fatal(err)
		}
	}
	return uid
}

// grpCreate creates a group owned by owner over REST with members
// invited, and returns its id.
func grpCreate(t *testing.T, e *env, owner int64, members ...int64) int64 {
	t.Helper()
	var g struct {
		GroupID int64 `json:"group_id"`
		OwnerID int64 `json:"owner_id"`
		Count   int64 `json:"count"`
	}
	e.ok("POST", "/group/create", as(owner), map[string]any{"name": "g", "user_list": members}).into(t, &g)
	if g.GroupID <= store.GroupIDBase || g.OwnerID != owner {
		t.Fatalf("create: %+v", g)
	}
	return g.GroupID
}

func grpMembers(t *testing.T, e *env, gid int64) []int64 {
	t.Helper()
	var ms []struct {
		UserID int64 `json:"user_id"`
	}
	e.ok("GET", q("/group/member_list", "group_id", gid), nil, nil).into(t, &ms)
	var out []int64
	for _, m := range ms {
		out = append(out, m.UserID)
	}
	return out
}

// wantNotice fails unless the app's recorded notices (since the last
// call) are exactly kinds, in order; it returns them.
func wantNotices(t *testing.T, e *env, kinds ...string) []group.Notice {
	t.Helper()
	ns := e.notices()
	var got []string
	for _, n := range ns {
		got = append(got, n.Kind)
	}
	if !slices.Equal(got, kinds) {
		t.Fatalf("notices %v, want %v", got, kinds)
	}
	return ns
}

func results(t *testing.T, r resp) map[int64]string {
	t.Helper()
	var rs []struct {
		Result string `json:"result"`
		UserID int64  `json:"user_id"`
	}
	r.into(t, &rs)
	out := map[int64]string{}
	for _, x := range rs {
		out[x.UserID] = x.Result
	}
	return out
}

// TestGroupLifecycle walks a group through its life over REST, checking
// each answer, the stored state and the notice each change emits.
func TestGroupLifecycle(t *testing.T) {
	e := newEnv(t)
	owner := grpUser(t, e, "owner", false)
	m1 := grpUser(t, e, "m1", false)
	m2 := grpUser(t, e, "m2", false)
	shy := grpUser(t, e, "shy", true) // group_confirm on
	out := grpUser(t, e, "out", false)

	gid := grpCreate(t, e, owner, m1, m2, shy)
	ns := wantNotices(t, e, group.KindCreated, group.KindInvited, group.KindMemberJoined)
	if !slices.Equal(ns[2].Users, []int64{m1, m2}) || ns[1].Group != 0 || !slices.Equal(ns[1].To, []int64{shy}) {
		t.Fatalf("notices %+v", ns)
	}
	if got := grpMembers(t, e, gid); !slices.Equal(got, []int64{owner, m1, m2}) {
		t.Fatalf("members %v", got)
	}
	// The router's set and the user's index agree.
	if in, _ := e.st.IsGroupMember(context.Background(), e.app, gid, m1); !in {
		t.Fatal("m1 not in the group's member set")
	}
	var joined []int64
	e.ok("GET", "/group/user_joined", as(m1), nil).into(t, &joined)
	if !slices.Equal(joined, []int64{gid}) {
		t.Fatalf("user_joined %v", joined)
	}

	// The invitee with group_confirm sees the invitation and accepts it.
	var invs []struct {
		GroupID   int64 `json:"group_id"`
		InviterID int64 `json:"inviter_id"`
		Status    int   `json:"status"`
	}
	e.ok("GET", "/group/invitation_list", as(shy), nil).into(t, &invs)
	if len(invs) != 1 || invs[0].GroupID != gid || invs[0].InviterID != owner || invs[0].Status != 0 {
		t.Fatalf("invitations %+v", invs)
	}
	e.ok("POST", "/group/invite/handle", as(shy), map[string]any{"approval": true, "group_id": gid, "user_id": owner})
	wantNotices(t, e, group.KindMemberJoined)
	e.wantCode(20015, "PUT", "/group/invite/handle", as(shy), map[string]any{"approval": true, "group_id": gid, "user_id": owner})

	// Applications need an admin's approval by default.
	e.ok("POST", "/group/apply", as(out), map[string]any{"group_id": gid, "reason": "hi"})
	ns = wantNotices(t, e, group.KindApplication)
	if !slices.Contains(ns[0].To, owner) {
		t.Fatalf("application notice to %v", ns[0].To)
	}
	var aps []struct {
		ApplicantID int64  `json:"applicant_id"`
		Reason      string `json:"reason"`
	}
	e.ok("POST", "/group/application_list", as(owner), map[string]any{"group_list": []int64{gid}}).into(t, &aps)
	if len(aps) != 1 || aps[0].ApplicantID != out || aps[0].Reason != "hi" {
		t.Fatalf("applications %+v", aps)
	}
	e.wantCode(20012, "POST", "/group/apply/handle", as(m1), map[string]any{"approval": true, "group_id": gid, "user_id": out})
	e.ok("PUT", "/group/apply/handle", as(owner), map[string]any{"approval": true, "group_id": gid, "user_id": out})
	wantNotices(t, e, group.KindMemberJoined, group.KindApplicationAccepted)
	e.wantCode(20014, "POST", "/group/apply/handle", as(owner), map[string]any{"approval": true, "group_id": gid, "user_id": out})
	e.wantCode(20017, "POST", "/group/apply", as(out), map[string]any{"group_id": gid})

	// Admins, transfer, leave.
	r := e.ok("POST", "/group/admin/add", as(owner), map[string]any{"group_id": gid, "user_list": []int64{m1, 999}})
	if res := results(t, r); res[m1] != "success" || res[999] != "fail" {
		t.Fatalf("admin/add %v", res)
	}
	wantNotices(t, e, group.KindAdminsAdded)
	e.wantCode(20005, "POST", "/group/transfer", as(owner), map[string]any{"group_id": gid, "new_owner": 424242})
	e.wantCode(20013, "POST", "/group/transfer", as(m1), map[string]any{"group_id": gid, "new_owner": m2})
	e.wantCode(20004, "POST", q("/group/leave", "group_id", gid), as(owner), nil)
	e.ok("PUT", "/group/transfer", as(owner), map[string]any{"group_id": gid, "new_owner": m1})
	wantNotices(t, e, group.KindOwnerTransferred)
	var info struct {
		OwnerID int64 `json:"owner_id"`
		Count   int64 `json:"count"`
	}
	e.ok("GET", q("/group/info", "group_id", gid), as(out), nil).into(t, &info)
	if info.OwnerID != m1 || info.Count != 5 {
		t.Fatalf("info %+v", info)
	}
	e.ok("DELETE", q("/group/leave", "group_id", gid), as(owner), nil)
	wantNotices(t, e, group.KindMemberLeft)
	e.wantCode(20002, "POST", q("/group/leave", "group_id", gid), as(owner), nil)

	// Kick: the kicked member is out at once (the router reads the set).
	r = e.ok("POST", "/group/kick", as(m1), map[string]any{"group_id": gid, "user_list": []int64{m2, owner}})
	if res := results(t, r); res[m2] != "success" || res[owner] != "fail" {
		t.Fatalf("kick %v", res)
	}
	ns = wantNotices(t, e, group.KindMemberKicked)
	if !slices.Equal(ns[0].To, []int64{m2}) {
		t.Fatalf("kick notice %+v", ns[0])
	}
	if in, _ := e.st.IsGroupMember(context.Background(), e.app, gid, m2); in {
		t.Fatal("kicked member still in the member set")
	}

	// Destroy: only the owner; afterwards the group does not exist.
	e.wantCode(20013, "POST", q("/group/destroy", "group_id", gid), as(shy), nil)
	e.ok("DELETE", q("/group/destroy", "group_id", gid), as(m1), nil)
	ns = wantNotices(t, e, group.KindDestroyed)
	if len(ns[0].To) != 3 {
		t.Fatalf("destroy notice to %v", ns[0].To)
	}
	e.wantCode(20001, "GET", q("/group/info", "group_id", gid), nil, nil)
	e.ok("GET", "/group/user_joined", as(shy), nil).into(t, &joined)
	if len(joined) != 0 {
		t.Fatalf("user_joined after destroy %v", joined)
	}
}

// TestGroupSettingsAndInfo: info fields, settings and what they change,
// display names, modes, bans, the blacklist and announcements.
func TestGroupSettingsAndInfo(t *testing.T) {
	e := newEnv(t)
	owner := grpUser(t, e, "owner", false)
	m := grpUser(t, e, "m", false)
	x := grpUser(t, e, "x", false)
	y := grpUser(t, e, "y", false)
	gid := grpCreate(t, e, owner, m)
	e.notices()

	// Info: admins; members only with allow_member_modify.
	e.wantCode(20012, "POST", "/group/info/name", as(m), map[string]any{"group_id": gid, "value": "n"})
	e.ok("POST", "/group/settings/allow_member_modify", as(owner), map[string]any{"group_id": gid, "value": true})
	ns := wantNotices(t, e, group.KindSettingsChanged)
	if ns[0].Data[group.SettingMemberModify] != "true" {
		t.Fatalf("settings notice %+v", ns[0])
	}
	for _, f := range []string{"name", "avatar", "description", "ext"} {
		e.ok("PUT", "/group/info/"+f, as(m), map[string]any{"group_id": gid, "value": "v-" + f})
		if ns := wantNotices(t, e, group.KindInfoChanged); ns[0].Data[f] != "v-"+f {
			t.Fatalf("info notice %+v", ns[0])
		}
	}
	e.wantCode(10002, "POST", "/group/info/name", as(m), map[string]any{"group_id": gid, "value": string(make([]byte, 129))})
	for path, v := range map[string]bool{"allow_member_invitation": false, "history_visible": true, "enable_read_ack": true} {
		e.ok("POST", "/group/settings/"+path, as(owner), map[string]any{"group_id": gid, "value": v})
	}
	e.ok("PUT", "/group/settings/require_admin_approval", as(owner), map[string]any{"group_id": gid, "apply_approval": 2})
	e.wantCode(10002, "PUT", "/group/settings/require_admin_approval", as(owner), map[string]any{"group_id": gid, "apply_approval": 3})
	e.notices()
	var s map[string]any
	e.ok("GET", q("/group/settings", "group_id", gid), as(m), nil).into(t, &s)
	want := map[string]any{"name": "v-name", "avatar": "v-avatar", "description": "v-description", "ext": "v-ext",
		"member_modify": true, "member_invite": false, "history_visible": true, "read_ack": true, "apply_approval": 2.0}
	for k, v := range want {
		if s[k] != v {
			t.Errorf("settings %s = %v, want %v", k, s[k], v)
		}
	}
	// What the settings change: members may no longer invite; nobody may apply.
	e.wantCode(20012, "POST", "/group/invite", as(m), map[string]any{"group_id": gid, "user_list": []int64{x}})
	e.wantCode(10010, "POST", "/group/apply", as(x), map[string]any{"group_id": gid})
	var pub []int64
	e.ok("GET", "/group/public_list", nil, nil).into(t, &pub)
	if slices.Contains(pub, gid) {
		t.Fatalf("a group refusing applications is public: %v", pub)
	}
	// apply_approval 0: an application joins at once.
	e.ok("POST", "/group/settings/require_admin_approval", as(owner), map[string]any{"group_id": gid, "apply_approval": 0})
	e.ok("GET", "/group/public_list", nil, nil).into(t, &pub)
	if !slices.Contains(pub, gid) {
		t.Fatalf("public list %v", pub)
	}
	e.notices()
	e.ok("POST", "/group/apply", as(x), map[string]any{"group_id": gid})
	if ns := wantNotices(t, e, group.KindMemberJoined); ns[0].Data["via"] != "apply" {
		t.Fatalf("%+v", ns[0])
	}

	// Own values.
	e.ok("PUT", "/group/display_name", as(m), map[string]any{"group_id": gid, "value": "Emm"})
	wantNotices(t, e, group.KindMemberDisplayName)
	var dn []struct {
		UserID      int64  `json:"user_id"`
		DisplayName string `json:"display_name"`
		JoinTime    int64  `json:"join_time"`
	}
	e.ok("POST", "/group/members/display_name", as(x), map[string]any{"group_id": gid, "user_list": []int64{m, y}}).into(t, &dn)
	if len(dn) != 1 || dn[0].DisplayName != "Emm" || dn[0].JoinTime == 0 {
		t.Fatalf("display names %+v", dn)
	}
	e.ok("POST", "/group/msg/push_mode", as(m), map[string]any{"group_id": gid, "msg_push_mode": 4})
	e.wantCode(20003, "PUT", "/group/msg/push_mode", as(m), map[string]any{"group_id": gid, "msg_push_mode": 5})
	e.ok("PUT", "/group/msg/mute_mode", as(m), map[string]any{"group_id": gid, "msg_mute_mode": 2})
	e.wantCode(10002, "PUT", "/group/msg/mute_mode", as(m), map[string]any{"group_id": gid, "msg_mute_mode": -1})
	e.ok("GET", q("/group/info", "group_id", gid), as(m), nil).into(t, &s)
	if s["msg_push_mode"] != 4.0 || s["msg_mute_mode"] != 2.0 {
		t.Fatalf("modes %v %v", s["msg_push_mode"], s["msg_mute_mode"])
	}
	if v, _ := e.rdb.HGet(context.Background(), store.GroupPushModeKey(e.app, gid), strconv.FormatInt(m, 10)).Result(); v != "4" {
		t.Fatalf("stored push mode %q", v)
	}
	e.notices()

	// Bans.
	e.ok("POST", "/group/ban", as(owner), map[string]any{"group_id": gid, "user_list": []int64{m}, "duration": 10})
	ns = wantNotices(t, e, group.KindMemberBanned)
	exp, _ := strconv.ParseInt(ns[0].Data["expire_time"], 10, 64)
	if d := time.Until(time.UnixMilli(exp)); d < 9*time.Minute || d > 11*time.Minute {
		t.Fatalf("ban ends in %v", d)
	}
	var banned []struct {
		UserID      int64 `json:"user_id"`
		ExpiredTime int64 `json:"expired_time"`
	}
	e.ok("GET", q("/group/banned_list", "group_id", gid), as(x), nil).into(t, &banned)
	if len(banned) != 1 || banned[0].UserID != m || banned[0].ExpiredTime != exp {
		t.Fatalf("banned %+v", banned)
	}
	e.wantCode(10002, "POST", "/group/ban", as(owner), map[string]any{"group_id": gid, "user_list": []int64{m}, "duration": 0})
	e.ok("POST", "/group/unban", as(owner), map[string]any{"group_id": gid, "user_list": []int64{m}})
	wantNotices(t, e, group.KindMemberUnbanned)
	e.ok("GET", q("/group/banned_list", "group_id", gid), as(x), nil).into(t, &banned)
	if len(banned) != 0 {
		t.Fatalf("banned after unban %+v", banned)
	}
	var ba struct {
		BanExpireTime int64 `json:"ban_expire_time"`
	}
	e.ok("POST", "/group/settings/ban_all", as(owner), map[string]any{"group_id": gid, "duration": -1}).into(t, &ba)
	if ba.BanExpireTime != -1 {
		t.Fatalf("ban_all %+v", ba)
	}
	if v, _ := e.rdb.HGet(context.Background(), store.GroupInfoKey(e.app, gid), store.GroupFieldBanExpire).Result(); v != "-1" {
		t.Fatalf("stored ban_expire %q", v)
	}
	e.ok("POST", "/group/settings/unban_all", as(owner), map[string]any{"group_id": gid})
	wantNotices(t, e, group.KindSettingsChanged, group.KindSettingsChanged)

	// Blacklist: a blocked member is removed and cannot apply, be invited or rejoin.
	r := e.ok("POST", "/group/block", as(owner), map[string]any{"group_id": gid, "user_list": []int64{x, y}})
	if res := results(t, r); res[x] != "success" || res[y] != "success" {
		t.Fatalf("block %v", res)
	}
	wantNotices(t, e, group.KindMemberBlocked)
	if got := grpMembers(t, e, gid); slices.Contains(got, x) {
		t.Fatalf("blocked member still listed: %v", got)
	}
	if res := results(t, e.ok("POST", "/group/block", as(owner), map[string]any{"group_id": gid, "user_list": []int64{x}})); res[x] != "fail" {
		t.Fatalf("second block %v", res)
	}
	e.wantCode(20018, "POST", "/group/apply", as(x), map[string]any{"group_id": gid})
	if res := results(t, e.ok("POST", "/group/invite", as(owner), map[string]any{"group_id": gid, "user_list": []int64{y}})); res[y] != "fail" {
		t.Fatalf("invite of a blocked user %v", res)
	}
	var bl []struct {
		UserID int64 `json:"user_id"`
	}
	e.ok("GET", q("/group/blocked_list", "group_id", gid, "limit", 1), as(owner), nil).into(t, &bl)
	if len(bl) != 1 {
		t.Fatalf("blocked page %+v", bl)
	}
	e.ok("DELETE", "/group/unblock", as(owner), map[string]any{"group_id": gid, "user_list": []int64{x}})
	e.ok("POST", "/group/apply", as(x), map[string]any{"group_id": gid})
	e.notices()

	// Announcements: members post only while allow_member_modify is on.
	var an struct {
		ID     int64  `json:"id"`
		Author int64  `json:"author"`
		Title  string `json:"title"`
	}
	e.ok("POST", "/group/announcement/edit", as(m), map[string]any{"group_id": gid, "title": "t1", "content": "c1"}).into(t, &an)
	if an.ID != 1 || an.Author != m {
		t.Fatalf("announcement %+v", an)
	}
	wantNotices(t, e, group.KindAnnouncementPosted)
	e.ok("POST", "/group/settings/allow_member_modify", as(owner), map[string]any{"group_id": gid, "value": false})
	e.wantCode(20021, "POST", "/group/announcement/edit", as(x), map[string]any{"group_id": gid, "title": "t", "content": "c"})
	e.ok("POST", "/group/announcement/edit", as(owner), map[string]any{"group_id": gid, "title": "t2", "content": "c2"})
	e.ok("GET", q("/group/announcement/last", "group_id", gid), as(x), nil).into(t, &an)
	if an.ID != 2 || an.Title != "t2" {
		t.Fatalf("last %+v", an)
	}
	var list []map[string]any
	e.ok("GET", q("/group/announcement/list", "group_id", gid), as(x), nil).into(t, &list)
	if len(list) != 2 {
		t.Fatalf("list %v", list)
	}
	e.wantCode(20012, "DELETE", q("/group/announcement/delete", "group_id", gid, "announcement_id", 2), as(x), nil)
	e.ok("DELETE", q("/group/announcement/delete", "group_id", gid, "announcement_id", 1), as(m), nil) // its author
	e.wantCode(20020, "GET", q("/group/announcement", "group_id", gid, "announcement_id", 1), as(x), nil)
	e.notices()
}

// TestGroupQRCode: a signed code joins a user; altered, foreign and
// expired codes are refused.
func TestGroupQRCode(t *testing.T) {
	e := newEnv(t)
	owner := grpUser(t, e, "owner", false)
	u := grpUser(t, e, "u", false)
	v := grpUser(t, e, "v", false)
	gid := grpCreate(t, e, owner)
	var qr struct {
		QRInfo   string `json:"qr_info"`
		CreateAt int64  `json:"create_at"`
		ExpireAt int64  `json:"expire_at"`
	}
	e.ok("GET", q("/group/qrcode/sign", "group_id", gid), as(owner), nil).into(t, &qr)
	if qr.ExpireAt <= qr.CreateAt || qr.QRInfo == "" {
		t.Fatalf("qr %+v", qr)
	}
	e.notices()
	e.ok("POST", "/group/qrcode/invite", as(u), map[string]any{"qr_info": qr.QRInfo})
	if ns := wantNotices(t, e, group.KindMemberJoined); ns[0].Data["via"] != "qrcode" {
		t.Fatalf("%+v", ns[0])
	}
	e.wantCode(20017, "POST", "/group/qrcode/invite", as(u), map[string]any{"qr_info": qr.QRInfo})
	bad := []string{"", "garbage", qr.QRInfo + "x", "cgq1.a.b", string(make([]byte, 300))}
	other := newEnv(t)
	bad = append(bad, group.EncodeQRCode([]byte(other.secret), other.app, group.QRCode{Group: gid, Inviter: owner, Expires: time.Now().Add(time.Hour).UnixMilli()}))
	for _, c := range bad {
		e.wantCode(20024, "POST", "/group/qrcode/invite", as(v), map[string]any{"qr_info": c})
	}
	old := group.EncodeQRCode([]byte(e.secret), e.app, group.QRCode{Group: gid, Inviter: owner, Expires: time.Now().Add(-time.Minute).UnixMilli()})
	e.wantCode(20025, "POST", "/group/qrcode/invite", as(v), map[string]any{"qr_info": old})
	// A code whose signer may no longer invite is void.
	e.ok("POST", "/group/settings/allow_member_invitation", as(owner), map[string]any{"group_id": gid, "value": false})
	e.wantCode(20012, "GET", q("/group/qrcode/sign", "group_id", gid), as(u), nil)
	uc := group.EncodeQRCode([]byte(e.secret), e.app, group.QRCode{Group: gid, Inviter: u, Expires: time.Now().Add(time.Hour).UnixMilli()})
	e.wantCode(20024, "POST", "/group/qrcode/invite", as(v), map[string]any{"qr_info": uc})
}

// TestGroupLimits runs on the app declared with small limits: 4 members,
// 2 created and 2 joined groups per user, 3 groups per app, 2 kicks.
func TestGroupLimits(t *testing.T) {
	e := newEnvFor(t, shared.limitsApp, limitsSecret)
	a := grpUser(t, e, "a", false)
	b := grpUser(t, e, "b", false)
	c := grpUser(t, e, "c", false)
	d := grpUser(t, e, "d", false)
	f := grpUser(t, e, "f", false)
	g1 := grpCreate(t, e, a, b, c, d)
	r := e.ok("POST", "/group/invite", as(a), map[string]any{"group_id": g1, "user_list": []int64{f}})
	if res := results(t, r); res[f] != "fail" {
		t.Fatalf("invite into a full group %v", res)
	}
	e.ok("POST", "/group/settings/require_admin_approval", as(a), map[string]any{"group_id": g1, "apply_approval": 0})
	e.wantCode(20010, "POST", "/group/apply", as(f), map[string]any{"group_id": g1})
	g2 := grpCreate(t, e, a)
	e.wantCode(20008, "POST", "/group/create", as(a), map[string]any{"name": "third"})
	g3 := grpCreate(t, e, b)
	e.wantCode(20007, "POST", "/group/create", as(c), map[string]any{"name": "fourth"})
	e.ok("POST", q("/group/destroy", "group_id", g3), as(b), nil)
	e.ok("POST", q("/group/destroy", "group_id", g2), as(a), nil)
	// b is in g1, joins g4, and then no more.
	g4 := grpCreate(t, e, c, b)
	g5 := grpCreate(t, e, d)
	r = e.ok("POST", "/group/invite", as(d), map[string]any{"group_id": g5, "user_list": []int64{b}})
	if res := results(t, r); res[b] != "fail" {
		t.Fatalf("b joined a third group: %v", res)
	}
	_ = g4
	e.ok("POST", "/group/settings/require_admin_approval", as(d), map[string]any{"group_id": g5, "apply_approval": 0})
	e.wantCode(20009, "POST", "/group/apply", as(b), map[string]any{"group_id": g5})
	// Kicked twice from g5, f can no longer join it.
	for i := 0; i < 2; i++ {
		e.ok("POST", "/group/apply", as(f), map[string]any{"group_id": g5})
		e.ok("POST", "/group/kick", as(d), map[string]any{"group_id": g5, "user_list": []int64{f}})
	}
	e.wantCode(20016, "POST", "/group/apply", as(f), map[string]any{"group_id": g5})
}

// TestGroupBadInput: malformed, oversize, out-of-range and unknown input
// get a clear code and change nothing.
func TestGroupBadInput(t *testing.T) {
	e := newEnv(t)
	owner := grpUser(t, e, "owner", false)
	m := grpUser(t, e, "m", false)
	gid := grpCreate(t, e, owner, m)
	many := make([]int64, 501)
	for i := range many {
		many[i] = int64(i + 1)
	}
	cases := []struct {
		code         int
		method, path string
		body         any
	}{
		{10002, "POST", "/group/invite", `{"group_id":`},
		{10002, "POST", "/group/invite", `{"group_id":"x","user_list":[1]}`},
		{10002, "POST", "/group/invite", `{"group_id":1,"user_list":[1]} trailing`},
		{10002, "POST", "/group/invite", map[string]any{"group_id": gid, "user_list": many}},
		{10002, "POST", "/group/invite", map[string]any{"group_id": gid, "user_list": []int64{}}},
		{10002, "POST", "/group/invite", map[string]any{"group_id": gid, "user_list": []int64{-5}}},
		{10002, "POST", "/group/invite", map[string]any{"group_id": -1, "user_list": []int64{m}}},
		{10002, "POST", "/group/invite", map[string]any{"user_list": []int64{m}}},
		{20001, "POST", "/group/invite", map[string]any{"group_id": 12345, "user_list": []int64{m}}},
		{10002, "POST", "/group/kick", ""},
		{10002, "GET", "/group/member_list", nil},
		{10002, "GET", q("/group/member_list", "group_id", "abc"), nil},
		{10002, "GET", q("/group/member_list", "group_id", gid, "limit", 0), nil},
		{10002, "GET", q("/group/member_list", "group_id", gid, "cursor", "zz"), nil},
		{20001, "GET", q("/group/settings", "group_id", 99), nil},
		{10002, "POST", "/group/create", map[string]any{"name": string(make([]byte, 200))}},
		{10002, "POST", "/group/create", map[string]any{"type": 1}},
		{10002, "POST", "/group/info/batch", map[string]any{"group_list": []int64{}}},
		{10002, "POST", "/group/settings/ban_all", map[string]any{"group_id": gid}},
		{10002, "POST", "/group/settings/history_visible", map[string]any{"group_id": gid}},
		{10002, "POST", "/group/settings/history_visible", map[string]any{"group_id": gid, "value": "yes"}},
		{10002, "POST", "/group/announcement/edit", map[string]any{"group_id": gid, "title": "t", "content": string(make([]byte, 5000))}},
		{10002, "POST", "/group/apply/handle", map[string]any{"group_id": gid, "user_id": m}},
		{40404, "PATCH", "/group/invite", nil},
	}
	for _, c := range cases {
		t.Run(fmt.Sprintf("%s %s %d", c.method, c.path, c.code), func(t *testing.T) {
			e.wantCode(c.code, c.method, c.path, as(owner), c.body)
		})
	}
	if got := grpMembers(t, e, gid); !slices.Equal(got, []int64{owner, m}) {
		t.Fatalf("bad input changed the group: %v", got)
	}
	// The admin token's group_id header names the group when the body has none.
	e.ok("POST", "/group/info/name", map[string]string{"group_id": strconv.FormatInt(gid, 10)}, map[string]any{"value": "hdr"})
}

// TestGroupMemberPages pages a group of 25 members 10 at a time.
func TestGroupMemberPages(t *testing.T) {
	e := newEnv(t)
	owner := grpUser(t, e, "owner", false)
	var us []int64
	for i := 0; i < 24; i++ {
		us = append(us, grpUser(t, e, fmt.Sprintf("u%d", i), false))
	}
	gid := grpCreate(t, e, owner, us...)
	var all []int64
	cursor := ""
	for pages := 0; ; pages++ {
		if pages > 5 {
			t.Fatal("too many pages")
		}
		path := q("/group/member_list", "group_id", gid, "limit", 10)
		if cursor != "" {
			path += "&cursor=" + cursor
		}
		_, raw := e.callRaw("GET", path, as(owner), nil)
		var env struct {
			Code int `json:"code"`
			Data []struct {
				UserID int64 `json:"user_id"`
			} `json:"data"`
			Cursor string `json:"cursor"`
			Total  int64  `json:"total"`
		}
		if err := json.Unmarshal(raw, &env); err != nil || env.Code != 200 || env.Total != 25 {
			t.Fatalf("page %s (%v)", raw, err)
		}
		for _, m := range env.Data {
			all = append(all, m.UserID)
		}
		if env.Cursor == "" {
			break
		}
		cursor = env.Cursor
	}
	want := append([]int64{owner}, us...)
	slices.Sort(want)
	if !slices.Equal(all, want) {
		t.Fatalf("paged %d members, want %d", len(all), len(want))
	}
}

// TestGroupPermissions is the permission table of every /group
// operation: the owner, an admin, a member and a non-member (each with
// their own user token), the app's backend (admin token, no user_id),
// another app's token and a user token acting for another user. Each
// (operation, caller) runs against a fresh group.
func TestGroupPermissions(t *testing.T) {
	e := newEnv(t)
	other := newEnv(t)
	owner := grpUser(t, e, "owner", false)
	adm := grpUser(t, e, "adm", false)
	mem := grpUser(t, e, "mem", false)
	tgt := grpUser(t, e, "tgt", false)
	out := grpUser(t, e, "out", true) // has an invitation, per fixture
	appl := grpUser(t, e, "appl", false)
	fresh := grpUser(t, e, "fresh", false)
	svc := group.NewService(group.Deps{Store: e.st})
	ctx := context.Background()

	// fixture builds a group: owner, admin adm, members mem and tgt, an
	// announcement by the owner, a pending application of appl, an
	// invitation of out; it returns the group and a QR code of the owner.
	fixture := func(t *testing.T) (int64, string) {
		g, _, err := svc.Create(ctx, e.app, group.Actor{User: owner}, group.CreateInput{Name: "p", Members: []int64{adm, mem, tgt, out}})
		if err != nil {
			t.Fatal(err)
		}
		o := group.Actor{User: owner}
		if _, err := svc.SetAdmins(ctx, e.app, o, g.ID, []int64{adm}, true); err != nil {
			t.Fatal(err)
		}
		if _, err := svc.PostAnnouncement(ctx, e.app, o, g.ID, "t", "c"); err != nil {
			t.Fatal(err)
		}
		if _, err := svc.Apply(ctx, e.app, group.Actor{User: appl}, g.ID, ""); err != nil {
			t.Fatal(err)
		}
		code, _, _, err := svc.SignQRCode(ctx, e.app, []byte(e.secret), o, g.ID)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = svc.Destroy(ctx, e.app, group.Actor{}, g.ID) })
		return g.ID, code
	}
	type op struct {
		method, path string
		body         func(gid int64, qr string) any // nil: no body
		query        bool                           // group_id (and announcement_id) in the query
		// codes of owner, admin, member, non-member, backend.
		codes [5]int
	}
	const (
		ok, nm, na, no, bad = 200, 20011, 20012, 20013, 10002
	)
	anyone := [5]int{ok, ok, ok, ok, ok}
	members := [5]int{ok, ok, ok, nm, ok}
	admins := [5]int{ok, ok, na, na, ok}
	owners := [5]int{ok, no, no, no, ok}
	users := func(gid int64, _ string) any { return map[string]any{"group_id": gid, "user_list": []int64{tgt}} }
	val := func(v any) func(int64, string) any {
		return func(gid int64, _ string) any { return map[string]any{"group_id": gid, "value": v} }
	}
	ops := []op{
		{"POST", "/group/admin/add", users, false, owners},
		{"POST", "/group/admin/remove", users, false, owners},
		{"DELETE", "/group/admin/remove", users, false, owners},
		{"GET", "/group/admin_list", nil, true, members},
		{"GET", "/group/announcement", nil, true, members},
		{"POST", "/group/announcement/delete", nil, true, [5]int{ok, ok, na, nm, ok}},
		{"DELETE", "/group/announcement/delete", nil, true, [5]int{ok, ok, na, nm, ok}},
		{"POST", "/group/announcement/edit", func(gid int64, _ string) any {
			return map[string]any{"group_id": gid, "title": "x", "content": "y"}
		}, false, [5]int{ok, ok, 20021, nm, ok}},
		{"GET", "/group/announcement/last", nil, true, members},
		{"GET", "/group/announcement/list", nil, true, members},
		{"POST", "/group/application_list", func(gid int64, _ string) any { return map[string]any{"group_list": []int64{gid}} }, false, admins},
		{"POST", "/group/apply", func(gid int64, _ string) any { return map[string]any{"group_id": gid} }, false, [5]int{20017, 20017, 20017, ok, bad}},
		{"POST", "/group/apply/handle", func(gid int64, _ string) any {
			return map[string]any{"group_id": gid, "user_id": appl, "approval": true}
		}, false, admins},
		{"PUT", "/group/apply/handle", func(gid int64, _ string) any {
			return map[string]any{"group_id": gid, "user_id": appl, "approval": false}
		}, false, admins},
		{"POST", "/group/ban", func(gid int64, _ string) any {
			return map[string]any{"group_id": gid, "user_list": []int64{tgt}, "duration": 5}
		}, false, admins},
		{"GET", "/group/banned_list", nil, true, members},
		{"POST", "/group/block", users, false, admins},
		{"GET", "/group/blocked_list", nil, true, admins},
		{"POST", "/group/create", func(int64, string) any { return map[string]any{"name": "n"} }, false, [5]int{ok, ok, ok, ok, bad}},
		{"POST", "/group/destroy", nil, true, owners},
		{"DELETE", "/group/destroy", nil, true, owners},
		{"POST", "/group/display_name", val("dn"), false, [5]int{ok, ok, ok, nm, bad}},
		{"PUT", "/group/display_name", val("dn"), false, [5]int{ok, ok, ok, nm, bad}},
		{"GET", "/group/info", nil, true, anyone},
		{"POST", "/group/info/avatar", val("a"), false, admins},
		{"PUT", "/group/info/avatar", val("a"), false, admins},
		{"POST", "/group/info/batch", func(gid int64, _ string) any { return map[string]any{"group_list": []int64{gid}} }, false, anyone},
		{"POST", "/group/info/description", val("d"), false, admins},
		{"PUT", "/group/info/description", val("d"), false, admins},
		{"POST", "/group/info/ext", val("e"), false, admins},
		{"PUT", "/group/info/ext", val("e"), false, admins},
		{"POST", "/group/info/name", val("n"), false, admins},
		{"PUT", "/group/info/name", val("n"), false, admins},
		{"GET", "/group/invitation_list", nil, false, [5]int{ok, ok, ok, ok, bad}},
		{"POST", "/group/invite", func(gid int64, _ string) any {
			return map[string]any{"group_id": gid, "user_list": []int64{fresh}}
		}, false, [5]int{ok, ok, ok, na, ok}},
		{"POST", "/group/invite/handle", func(gid int64, _ string) any {
			return map[string]any{"group_id": gid, "user_id": owner, "approval": true}
		}, false, [5]int{20015, 20015, 20015, ok, bad}},
		{"PUT", "/group/invite/handle", func(gid int64, _ string) any {
			return map[string]any{"group_id": gid, "user_id": owner, "approval": false}
		}, false, [5]int{20015, 20015, 20015, ok, bad}},
		{"POST", "/group/kick", users, false, admins},
		{"DELETE", "/group/kick", users, false, admins},
		{"POST", "/group/leave", nil, true, [5]int{20004, ok, ok, 20002, bad}},
		{"DELETE", "/group/leave", nil, true, [5]int{20004, ok, ok, 20002, bad}},
		{"GET", "/group/member_list", nil, true, members},
		{"POST", "/group/members/display_name", users, false, members},
		{"POST", "/group/msg/mute_mode", func(gid int64, _ string) any {
			return map[string]any{"group_id": gid, "msg_mute_mode": 1}
		}, false, [5]int{ok, ok, ok, nm, bad}},
		{"PUT", "/group/msg/mute_mode", func(gid int64, _ string) any {
			return map[string]any{"group_id": gid, "msg_mute_mode": 1}
		}, false, [5]int{ok, ok, ok, nm, bad}},
		{"POST", "/group/msg/push_mode", func(gid int64, _ string) any {
			return map[string]any{"group_id": gid, "msg_push_mode": 2}
		}, false, [5]int{ok, ok, ok, nm, bad}},
		{"PUT", "/group/msg/push_mode", func(gid int64, _ string) any {
			return map[string]any{"group_id": gid, "msg_push_mode": 2}
		}, false, [5]int{ok, ok, ok, nm, bad}},
		{"GET", "/group/public_list", nil, false, anyone},
		{"POST", "/group/qrcode/invite", func(_ int64, qr string) any { return map[string]any{"qr_info": qr} }, false,
			[5]int{20017, 20017, 20017, ok, bad}},
		{"GET", "/group/qrcode/sign", nil, true, [5]int{ok, ok, ok, nm, bad}},
		{"GET", "/group/settings", nil, true, members},
		{"POST", "/group/settings/allow_member_invitation", val(false), false, admins},
		{"PUT", "/group/settings/allow_member_invitation", val(false), false, admins},
		{"POST", "/group/settings/allow_member_modify", val(true), false, admins},
		{"PUT", "/group/settings/allow_member_modify", val(true), false, admins},
		{"POST", "/group/settings/ban_all", func(gid int64, _ string) any { return map[string]any{"group_id": gid, "duration": 3} }, false, admins},
		{"POST", "/group/settings/enable_read_ack", val(true), false, admins},
		{"PUT", "/group/settings/enable_read_ack", val(true), false, admins},
		{"POST", "/group/settings/history_visible", val(true), false, admins},
		{"PUT", "/group/settings/history_visible", val(true), false, admins},
		{"POST", "/group/settings/require_admin_approval", func(gid int64, _ string) any {
			return map[string]any{"group_id": gid, "apply_approval": 0}
		}, false, admins},
		{"PUT", "/group/settings/require_admin_approval", func(gid int64, _ string) any {
			return map[string]any{"group_id": gid, "apply_approval": 0}
		}, false, admins},
		{"POST", "/group/settings/unban_all", func(gid int64, _ string) any { return map[string]any{"group_id": gid} }, false, admins},
		{"POST", "/group/transfer", func(gid int64, _ string) any { return map[string]any{"group_id": gid, "new_owner": mem} }, false, owners},
		{"PUT", "/group/transfer", func(gid int64, _ string) any { return map[string]any{"group_id": gid, "new_owner": mem} }, false, owners},
		{"POST", "/group/unban", users, false, admins},
		{"POST", "/group/unblock", users, false, admins},
		{"DELETE", "/group/unblock", users, false, admins},
		{"GET", "/group/user_joined", nil, false, [5]int{ok, ok, ok, ok, bad}},
	}
	if len(ops) != 69 {
		t.Fatalf("%d operations in the table, want 69", len(ops))
	}
	callers := []struct {
		name string
		hdr  func() map[string]string
	}{
		{"owner", func() map[string]string { return asUser(e, owner) }},
		{"admin", func() map[string]string { return asUser(e, adm) }},
		{"member", func() map[string]string { return asUser(e, mem) }},
		{"non-member", func() map[string]string { return asUser(e, out) }},
		{"backend", func() map[string]string { return nil }},
	}
	for _, o := range ops {
		t.Run(o.method+o.path, func(t *testing.T) {
			for i, c := range callers {
				// The non-member is out: invited by the fixture (it
				// has group_confirm on) and not yet answering.
				gid, qr := fixture(t)
				path := o.path
				if o.query {
					path = q(path, "group_id", gid, "announcement_id", 1)
				}
				var body any
				if o.body != nil {
					body = o.body(gid, qr)
				}
				r := e.call(o.method, path, c.hdr(), body)
				if r.Code != o.codes[i] {
					t.Errorf("%s: code %d %q, want %d", c.name, r.Code, r.Message, o.codes[i])
				}
			}
			gid, qr := fixture(t)
			path := o.path
			if o.query {
				path = q(path, "group_id", gid, "announcement_id", 1)
			}
			var body any
			if o.body != nil {
				body = o.body(gid, qr)
			}
			e.wantCode(10008, o.method, path, map[string]string{"access-token": other.admin, "user_id": strconv.FormatInt(owner, 10)}, body)
			e.wantCode(10010, o.method, path, map[string]string{"access-token": e.userToken(mem), "user_id": strconv.FormatInt(owner, 10)}, body)
		})
	}
}

// TestGroupSeedCurl runs seed 000's four group examples with the real
// curl against chatgate, with only the endpoint, app, token and ids
// changed.
func TestGroupSeedCurl(t *testing.T) {
	e := newEnv(t)
	curl, err := exec.LookPath("curl")
	if err != nil {
		t.Skip("no curl on this machine")
	}
	owner := grpUser(t, e, "owner", false)
	u1 := grpUser(t, e, "u1", false)
	u2 := grpUser(t, e, "u2", false)
	run := func(args ...string) map[string]any {
		t.Helper()
		out, err := exec.Command(curl, append([]string{"-sS"}, args...)...).Output()
		if err != nil {
			t.Fatalf("curl %v: %v", args, err)
		}
		var res map[string]any
		if err := json.Unmarshal(out, &res); err != nil || res["code"] != 200.0 {
			t.Fatalf("curl %v: %s (%v)", args, out, err)
		}
		return res
	}
	hdr := []string{"-H", "access-token: " + e.admin, "-H", "app_id: " + e.app, "-H", "user_id: " + strconv.FormatInt(owner, 10)}
	res := run(append([]string{"-X", "POST", e.base + "/group/create", "-H", "Content-Type: application/json"},
		append(hdr, "-d", `{ "name": "g001", "description": "test-group"}`)...)...)
	data := res["data"].(map[string]any)
	if data["name"] != "g001" || data["description"] != "test-group" || data["owner_id"] != float64(owner) ||
		data["member_invite"] != true || data["apply_approval"] != 1.0 || data["status"] != 0.0 {
		t.Fatalf("create: %v", data)
	}
	gid := strconv.FormatInt(int64(data["group_id"].(float64)), 10)
	res = run(append([]string{"-X", "POST", e.base + "/group/invite", "-H", "Content-Type: application/json"},
		append(hdr, "-d", fmt.Sprintf(`{ "group_id": %s, "user_list": [%d, %d]}`, gid, u1, u2))...)...)
	for _, r := range res["data"].([]any) {
		if r.(map[string]any)["result"] != "success" {
			t.Fatalf("invite: %v", res)
		}
	}
	res = run(append([]string{"-X", "GET", e.base + "/group/member_list?group_id=" + gid + "&limit=50"}, hdr...)...)
	if n := len(res["data"].([]any)); n != 3 {
		t.Fatalf("member_list: %v", res)
	}
	if _, ok := res["version"]; !ok {
		t.Fatalf("member_list has no version: %v", res)
	}
	res = run(append([]string{"-X", "DELETE", e.base + "/group/destroy?group_id=" + gid}, hdr...)...)
	if res["data"] != true {
		t.Fatalf("destroy: %v", res)
	}
}
