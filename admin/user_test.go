package admin_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chatgate/chatgate/client"
	"github.com/chatgate/chatgate/protocol"
	"github.com/chatgate/chatgate/store"
)

// usrRegister registers a user through /user/register/v2 (password
// "pw_<name>") and returns its id.
func usrRegister(t *testing.T, e *env, name string) int64 {
	t.Helper()
	r := e.ok("POST", "/user/register/v2", map[string]string{"access-token": ""},
		map[string]string{"username": name, "password": "pw_" + name})
	var d struct {
		UserID int64 `json:"user_id"`
	}
	r.into(t, &d)
	if d.UserID <= store.UserIDBase {
		t.Fatalf("register %s: user_id %d", name, d.UserID)
	}
	return d.UserID
}

// usrAs are the headers of a request with uid's own user token.
func usrAs(e *env, uid int64) map[string]string {
	return map[string]string{"access-token": e.userToken(uid)}
}

// usrAdminAs are the headers of an admin acting as uid.
func usrAdminAs(uid int64) map[string]string {
	return map[string]string{"user_id": strconv.FormatInt(uid, 10)}
}

func usrProfile(t *testing.T, e *env, uid int64) map[string]any {
	t.Helper()
	var p map[string]any
	e.ok("GET", "/user/profile", usrAdminAs(uid), nil).into(t, &p)
	return p
}

func usrSettings(t *testing.T, e *env, uid int64) map[string]any {
	t.Helper()
	var s map[string]any
	e.ok("GET", "/user/settings", usrAdminAs(uid), nil).into(t, &s)
	return s
}

// usrOps are the operations that act on one user, each with a valid
// request: the permission cases are the same for all of them.
var usrOps = []struct {
	method, path string
	body         any
}{
	{"PUT", "/user/authmode?value=1", nil},
	{"POST", "/user/authmode?value=1", nil},
	{"PUT", "/user/avatar", map[string]string{"avatar": "https://x/a.png"}},
	{"POST", "/user/avatar", map[string]string{"avatar": "https://x/a.png"}},
	{"POST", "/user/change_password", map[string]string{"old_password": "a", "new_password": "b"}},
	{"DELETE", "/user/delete", map[string]string{"password": "a"}},
	{"POST", "/user/delete", map[string]string{"password": "a"}},
	{"GET", "/user/device/list", nil},
	{"DELETE", "/user/device/remove?device_sn=1", nil},
	{"POST", "/user/device/remove?device_sn=1", nil},
	{"PUT", "/user/download?value=true", nil},
	{"POST", "/user/download?value=true", nil},
	{"PUT", "/user/kick", nil},
	{"POST", "/user/kick?device_sn=1", nil},
	{"PUT", "/user/mobile?mobile=13800000000", nil},
	{"POST", "/user/mobile?mobile=13800000000", nil},
	{"PUT", "/user/nickname?nick_name=n", nil},
	{"POST", "/user/nickname?nick_name=n", nil},
	{"GET", "/user/online_status", nil},
	{"PUT", "/user/private", `"x"`},
	{"POST", "/user/private", `"x"`},
	{"GET", "/user/profile", nil},
	{"PUT", "/user/profile", map[string]string{"nick_name": "n"}},
	{"POST", "/user/profile", map[string]string{"nick_name": "n"}},
	{"PUT", "/user/public", `"x"`},
	{"POST", "/user/public", `"x"`},
	{"PUT", "/user/push?value=true", nil},
	{"POST", "/user/push?value=true", nil},
	{"POST", "/user/push/alias", map[string]string{"alias": "a"}},
	{"POST", "/user/push/badge", map[string]int{"badge": 1}},
	{"PUT", "/user/push/detail?value=true", nil},
	{"POST", "/user/push/detail?value=true", nil},
	{"PUT", "/user/push/limit?no_push_start_hour=1&no_push_end_hour=2", nil},
	{"POST", "/user/push/limit?no_push_start_hour=1&no_push_end_hour=2", nil},
	{"PUT", "/user/push/nickname?value=n", nil},
	{"POST", "/user/push/nickname?value=n", nil},
	{"GET", "/user/push/tag", nil},
	{"POST", "/user/push/tag", map[string][]string{"tags": {"t"}}},
	{"DELETE", "/user/push/tag", map[string][]string{"tags": {"t"}}},
	{"DELETE", "/user/push/tag/all", nil},
	{"GET", "/user/settings", nil},
	{"PUT", "/user/settings", map[string]bool{"no_push": true}},
	{"POST", "/user/settings", map[string]bool{"no_push": true}},
	{"PUT", "/user/sounds?value=true", nil},
	{"POST", "/user/sounds?value=true", nil},
	{"PUT", "/user/token/bind", map[string]any{"device_sn": 1, "device_token": "t", "notifier_name": ""}},
	{"POST", "/user/token/bind", map[string]any{"device_sn": 1, "device_token": "t", "notifier_name": ""}},
	{"DELETE", "/user/token/unbind?deviceSn=1", nil},
	{"POST", "/user/token/unbind?deviceSn=1", nil},
	{"PUT", "/user/username?username=somebody", nil},
	{"POST", "/user/username?username=somebody", nil},
	{"PUT", "/user/vibratory?value=true", nil},
	{"POST", "/user/vibratory?value=true", nil},
	{"POST", "/user/change_password_admin", map[string]string{"password": "b"}},
}

// usrAdminOps need an admin token.
var usrAdminOps = []struct {
	method, path string
	body         any
}{
	{"POST", "/user/register/batch", map[string]any{"list": []map[string]string{{"username": "zz", "password": "p"}}}},
	{"PUT", "/user/disable", map[string][]int64{"list": {1}}},
	{"PUT", "/user/enable", map[string][]int64{"list": {1}}},
	{"GET", "/user/list", nil},
	{"PUT", "/user/avatar/batch", map[string]any{"list": []map[string]any{{"user_id": 1, "avatar": "a"}}}},
	{"POST", "/user/avatar/batch", map[string]any{"list": []map[string]any{{"user_id": 1, "avatar": "a"}}}},
	{"PUT", "/user/profile/batch", map[string]any{"list": []map[string]any{{"user_id": 1, "nick_name": "a"}}}},
	{"POST", "/user/profile/batch", map[string]any{"list": []map[string]any{{"user_id": 1, "nick_name": "a"}}}},
	{"POST", "/user/change_password_admin", map[string]string{"password": "b"}},
}

func TestUserPermissions(t *testing.T) {
	e := newEnv(t)
	other := newEnv(t)
	alice := usrRegister(t, e, "alice")
	bob := usrRegister(t, e, "bob")
	banned := usrRegister(t, e, "banned")
	if err := e.st.SetUsersDisabled(context.Background(), e.app, []int64{banned}, true); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		hdr  map[string]string
		code int
	}{
		{"token of another app", map[string]string{"access-token": other.admin, "user_id": strconv.FormatInt(alice, 10)}, 10008},
		{"user token acting as another user", map[string]string{"access-token": e.userToken(alice), "user_id": strconv.FormatInt(bob, 10)}, 10010},
		{"user that does not exist", usrAs(e, store.UserIDBase+999_999), 10000},
		{"disabled user's own token", usrAs(e, banned), 10016},
		{"admin naming no user", nil, 10002},
		{"admin naming a user that does not exist", usrAdminAs(store.UserIDBase + 999_999), 10000},
	}
	for _, op := range usrOps {
		for _, c := range cases {
			if op.path == "/user/change_password_admin" && c.code != 10008 {
				continue // admin-only: below
			}
			t.Run(op.method+" "+op.path+"/"+c.name, func(t *testing.T) {
				e.wantCode(c.code, op.method, op.path, c.hdr, op.body)
			})
		}
	}
	for _, op := range usrAdminOps {
		t.Run(op.method+" "+op.path+"/user token", func(t *testing.T) {
			e.wantCode(10010, op.method, op.path, usrAs(e, alice), op.body)
		})
		t.Run(op.method+" "+op.path+"/token of another app", func(t *testing.T) {
			e.wantCode(10008, op.method, op.path, map[string]string{"access-token": other.admin}, op.body)
		})
	}
	// Nothing above changed alice.
	if p := usrProfile(t, e, alice); p["nick_name"] != "" || p["username"] != "alice" {
		t.Fatalf("a refused request changed the user: %v", p)
	}
}

// TestSeedRegisterCurl runs the register example of the Lanying guide
// (seed 000) against chatgate, with only the endpoint and app changed.
func TestSeedRegisterCurl(t *testing.T) {
	e := newEnv(t)
	curl, err := exec.LookPath("curl")
	if err != nil {
		t.Skip("no curl on this machine")
	}
	out, err := exec.Command(curl, "-sS", "-X", "POST", e.base+"/user/register/v2",
		"-H", "Content-Type: application/json",
		"-H", "app_id: "+e.app,
		"-d", `{ "username": "test_user", "password": "asd"}`).Output()
	if err != nil {
		t.Fatalf("curl: %v", err)
	}
	var res struct {
		Code int            `json:"code"`
		Data map[string]any `json:"data"`
	}
	if err := json.Unmarshal(out, &res); err != nil || res.Code != 200 {
		t.Fatalf("answer %s (%v)", out, err)
	}
	for _, f := range []string{"user_id", "auto_download", "group_confirm", "no_sounds", "no_push", "vibratory",
		"no_push_detail", "auth_mode", "no_push_start_hour", "no_push_end_hour"} {
		if _, ok := res.Data[f]; !ok {
			t.Errorf("data lacks %s: %s", f, out)
		}
	}
	if id, _ := res.Data["user_id"].(float64); int64(id) <= store.UserIDBase {
		t.Errorf("user_id = %v", res.Data["user_id"])
	}
	// The user can log in with the same credentials.
	e.ok("POST", "/token/user", map[string]string{"access-token": ""}, map[string]string{"name": "test_user", "password": "asd"})
}

func TestRegister(t *testing.T) {
	e := newEnv(t)
	pub := map[string]string{"access-token": ""}
	uid := usrRegister(t, e, "Carol_1")
	var s map[string]any
	e.ok("POST", "/user/register/v2", pub, map[string]string{"username": "dave", "password": "x"}).into(t, &s)
	if s["user_id"].(float64) != float64(uid+1) || s["auto_download"] != true || s["auth_mode"].(float64) != 0 {
		t.Fatalf("settings of a new user: %v", s)
	}
	long := strings.Repeat("a", 65)
	for _, c := range []struct {
		name string
		body any
		code int
	}{
		{"duplicate", map[string]string{"username": "Carol_1", "password": "x"}, 10004},
		{"duplicate in another case", map[string]string{"username": "carol_1", "password": "x"}, 10004},
		{"no username", map[string]string{"password": "x"}, 10002},
		{"no password", map[string]string{"username": "erin"}, 10002},
		{"empty username", map[string]string{"username": "", "password": "x"}, 10002},
		{"empty password", map[string]string{"username": "erin", "password": ""}, 10002},
		{"password over 72 bytes", map[string]string{"username": "erin", "password": strings.Repeat("p", 73)}, 10002},
		{"only digits", map[string]string{"username": "12345", "password": "x"}, 10002},
		{"begins with maxim", map[string]string{"username": "MaximUser", "password": "x"}, 10002},
		{"begins with mta", map[string]string{"username": "mta1", "password": "x"}, 10002},
		{"hyphen", map[string]string{"username": "a-b", "password": "x"}, 10002},
		{"not ASCII", map[string]string{"username": "名字", "password": "x"}, 10002},
		{"too long", map[string]string{"username": long, "password": "x"}, 10002},
		{"wrong type", map[string]any{"username": 5, "password": "x"}, 10002},
		{"malformed JSON", `{"username":`, 10002},
		{"no body", nil, 10002},
	} {
		t.Run(c.name, func(t *testing.T) {
			e.wantCode(c.code, "POST", "/user/register/v2", pub, c.body)
		})
	}
	// An admin token is accepted too (and ignored).
	e.ok("POST", "/user/register/v2", nil, map[string]string{"username": "frank", "password": "x"})
	if n, _ := e.st.CountUsers(context.Background(), e.app); n != 3 {
		t.Fatalf("%d users after the refused registrations, want 3", n)
	}
}

func TestRegisterBatch(t *testing.T) {
	e := newEnv(t)
	usrRegister(t, e, "taken")
	var res []struct {
		UserID   int64  `json:"user_id"`
		Username string `json:"username"`
		Success  bool   `json:"success"`
		Reason   string `json:"reason"`
	}
	e.ok("POST", "/user/register/batch", nil, map[string]any{"list": []map[string]string{
		{"username": "one", "password": "p1"},
		{"username": "taken", "password": "p"},
		{"username": "123", "password": "p"},
		{"username": "two", "password": ""},
		{"username": "one", "password": "p"},
		{"username": "three", "password": "p3"},
	}}).into(t, &res)
	want := []bool{true, false, false, false, false, true}
	if len(res) != len(want) {
		t.Fatalf("%d results: %+v", len(res), res)
	}
	for i, w := range want {
		if res[i].Success != w || (w && res[i].UserID <= store.UserIDBase) || (!w && (res[i].Reason == "" || res[i].UserID != 0)) {
			t.Errorf("item %d: %+v, want success %v", i, res[i], w)
		}
	}
	if res[0].Username != "one" || res[5].Username != "three" {
		t.Errorf("results out of order: %+v", res)
	}
	e.ok("POST", "/token/user", map[string]string{"access-token": ""}, map[string]string{"name": "three", "password": "p3"})

	big := make([]map[string]string, 501)
	for i := range big {
		big[i] = map[string]string{"username": fmt.Sprintf("u%d", i), "password": "p"}
	}
	e.wantCode(10002, "POST", "/user/register/batch", nil, map[string]any{"list": big})
	e.wantCode(10002, "POST", "/user/register/batch", nil, map[string]any{"list": []any{}})
	e.wantCode(10002, "POST", "/user/register/batch", nil, map[string]any{"list": "x"})
	if n, _ := e.st.CountUsers(context.Background(), e.app); n != 3 {
		t.Fatalf("%d users, want 3", n)
	}
}

func TestRegisterPush(t *testing.T) {
	e := newEnv(t)
	pub := map[string]string{"access-token": ""}
	var s map[string]any
	e.ok("POST", "/user/register/push", pub, map[string]string{
		"username": "pushy", "password": "pw", "alias": "fans", "device_guid": "guid-1", "push_token": "apns-token-1", "sign": "whatever",
	}).into(t, &s)
	uid := int64(s["user_id"].(float64))
	if s["push_token"] != "apns-token-1" {
		t.Fatalf("settings: %v", s)
	}
	ctx := context.Background()
	d, err := e.st.Device(ctx, e.app, uid, store.GUIDDevice("guid-1"))
	if err != nil || d.PushToken != "apns-token-1" || d.Alias != "fans" {
		t.Fatalf("device: %+v %v", d, err)
	}
	if us, _ := e.st.AliasUsers(ctx, e.app, "fans"); len(us) != 1 || us[0] != uid {
		t.Fatalf("alias users %v", us)
	}
	if owner, _, _ := e.st.PushTokenOwner(ctx, e.app, "apns-token-1"); owner != uid {
		t.Fatalf("token owner %d", owner)
	}
	// Logging in with the device's guid answers its push token.
	var tok map[string]any
	e.ok("POST", "/token/user", pub, map[string]string{"name": "pushy", "password": "pw", "device_guid": "guid-1"}).into(t, &tok)
	if tok["push_token"] != "apns-token-1" {
		t.Fatalf("token answer: %v", tok)
	}
	// Without a push token: a plain user.
	e.ok("POST", "/user/register/push", pub, map[string]string{"username": "plain", "password": "pw"})
	for _, c := range []struct {
		name string
		body map[string]string
		code int
	}{
		{"taken", map[string]string{"username": "pushy", "password": "pw"}, 10004},
		{"push token with a space", map[string]string{"username": "bad1", "password": "pw", "push_token": "a b"}, 10002},
		{"alias too long", map[string]string{"username": "bad2", "password": "pw", "alias": strings.Repeat("a", 129)}, 10002},
		{"guid too long", map[string]string{"username": "bad3", "password": "pw", "device_guid": strings.Repeat("g", 129)}, 10002},
		{"no password", map[string]string{"username": "bad4"}, 10002},
	} {
		t.Run(c.name, func(t *testing.T) {
			e.wantCode(c.code, "POST", "/user/register/push", pub, c.body)
		})
	}
	// Refused registrations left no user behind.
	e.ok("POST", "/user/register/v2", pub, map[string]string{"username": "bad1", "password": "x"})
}

func TestProfile(t *testing.T) {
	e := newEnv(t)
	a := usrRegister(t, e, "anna")
	b := usrRegister(t, e, "bert")
	me := usrAs(e, a)
	e.ok("PUT", "/user/profile", me, map[string]string{
		"nick_name": "Anna 🌸", "description": "line1\nline2", "private_info": `{"k":1}`, "public_info": "pub", "email": "Anna@Example.com",
	})
	e.ok("POST", "/user/nickname?nick_name="+url.QueryEscape("Ann A"), me, nil)
	e.ok("PUT", "/user/avatar", me, map[string]string{"avatar": "https://cdn/a.png"})
	// private/public take the text itself: raw or as a JSON string.
	e.ok("POST", "/user/private", me, `{"secret": true}`)
	e.ok("PUT", "/user/public", me, `"hello \"world\""`)
	var p map[string]any
	e.ok("GET", "/user/profile", me, nil).into(t, &p)
	want := map[string]any{"user_id": float64(a), "username": "anna", "nick_name": "Ann A", "avatar": "https://cdn/a.png",
		"description": "line1\nline2", "private_info": `{"secret": true}`, "public_info": `hello "world"`, "email": "Anna@Example.com", "mobile": ""}
	for k, v := range want {
		if p[k] != v {
			t.Errorf("%s = %#v, want %#v", k, p[k], v)
		}
	}
	for _, c := range []struct {
		name, method, path string
		body               any
		code               int
	}{
		{"email of another user", "PUT", "/user/profile", map[string]string{"email": "anna@example.com"}, 10004},
		{"bad email", "PUT", "/user/profile", map[string]string{"email": "Anna <a@b.c>"}, 10002},
		{"nothing to update", "PUT", "/user/profile", map[string]string{}, 10002},
		{"nickname too long", "PUT", "/user/profile", map[string]string{"nick_name": strings.Repeat("n", 129)}, 10002},
		{"control character", "PUT", "/user/profile", map[string]string{"nick_name": "a\x01"}, 10002},
		{"description too long", "PUT", "/user/profile", map[string]string{"description": strings.Repeat("d", 1025)}, 10002},
		{"wrong type", "PUT", "/user/profile", map[string]any{"nick_name": 1}, 10002},
		{"no avatar", "POST", "/user/avatar", map[string]string{}, 10002},
		{"avatar too long", "POST", "/user/avatar", map[string]string{"avatar": strings.Repeat("u", 1025)}, 10002},
		{"no nick_name", "PUT", "/user/nickname", nil, 10002},
		{"empty private", "PUT", "/user/private", "", 10002},
		{"private too long", "PUT", "/user/private", strings.Repeat("x", 4097), 10002},
		{"malformed JSON string", "PUT", "/user/public", `"abc`, 10002},
	} {
		t.Run(c.name, func(t *testing.T) {
			e.wantCode(c.code, c.method, c.path, usrAs(e, b), c.body)
		})
	}
	if p := usrProfile(t, e, b); p["email"] != "" || p["nick_name"] != "" || p["avatar"] != "" {
		t.Fatalf("refused updates changed bert: %v", p)
	}
	// The email is a login name; clearing it frees it.
	e.ok("POST", "/token/login", map[string]string{"access-token": ""}, map[string]string{"login_name": "anna@example.com", "password": "pw_anna"})
	e.ok("PUT", "/user/profile", me, map[string]string{"email": ""})
	e.ok("PUT", "/user/profile", usrAs(e, b), map[string]string{"email": "anna@example.com"})
}

func TestProfileBatches(t *testing.T) {
	e := newEnv(t)
	a := usrRegister(t, e, "anna")
	b := usrRegister(t, e, "bert")
	var res []struct {
		UserID  int64  `json:"user_id"`
		Success bool   `json:"success"`
		Reason  string `json:"reason"`
	}
	e.ok("PUT", "/user/profile/batch", nil, map[string]any{"list": []map[string]any{
		{"user_id": a, "nick_name": "A", "public_info": "pa"},
		{"user_id": store.UserIDBase + 777, "nick_name": "ghost"},
		{"user_id": b, "nick_name": strings.Repeat("n", 200)},
		{"user_id": b},
	}}).into(t, &res)
	if len(res) != 4 || !res[0].Success || res[1].Success || res[2].Success || res[3].Success || res[1].Reason == "" {
		t.Fatalf("profile batch: %+v", res)
	}
	if p := usrProfile(t, e, a); p["nick_name"] != "A" || p["public_info"] != "pa" {
		t.Fatalf("profile: %v", p)
	}
	e.ok("POST", "/user/avatar/batch", nil, map[string]any{"list": []map[string]any{
		{"user_id": a, "avatar": "https://a"}, {"user_id": b, "avatar": "https://b"}, {"user_id": -1, "avatar": "x"},
	}}).into(t, &res)
	if len(res) != 3 || !res[0].Success || !res[1].Success || res[2].Success {
		t.Fatalf("avatar batch: %+v", res)
	}
	if p := usrProfile(t, e, b); p["avatar"] != "https://b" || p["nick_name"] != "" {
		t.Fatalf("bert: %v", p)
	}
	e.wantCode(10002, "PUT", "/user/avatar/batch", nil, map[string]any{"list": []any{}})
	e.wantCode(10002, "PUT", "/user/profile/batch", nil, map[string]any{"list": make([]map[string]any, 501)})
}

func TestUsernameAndMobile(t *testing.T) {
	e := newEnv(t)
	a := usrRegister(t, e, "anna")
	b := usrRegister(t, e, "bert")
	pub := map[string]string{"access-token": ""}
	e.ok("PUT", "/user/username?username=Anne", usrAs(e, a), nil)
	e.wantCode(10015, "POST", "/token/user", pub, map[string]string{"name": "anna", "password": "pw_anna"})
	e.ok("POST", "/token/user", pub, map[string]string{"name": "anne", "password": "pw_anna"})
	// The old name is free.
	e.ok("POST", "/user/username?username=anna", usrAs(e, b), nil)
	e.ok("PUT", "/user/mobile?mobile=%2B8613800000001", usrAs(e, a), nil)
	e.ok("POST", "/token/login", pub, map[string]string{"login_name": "+8613800000001", "password": "pw_anna"})
	for _, c := range []struct {
		name, path string
		code       int
	}{
		{"username taken", "/user/username?username=ANNE", 10004},
		{"username only digits", "/user/username?username=42", 10002},
		{"username missing", "/user/username", 10002},
		{"username empty", "/user/username?username=", 10002},
		{"mobile taken", "/user/mobile?mobile=%2B8613800000001", 10004},
		{"mobile with letters", "/user/mobile?mobile=138abc00000", 10002},
		{"mobile too short", "/user/mobile?mobile=1234", 10002},
		{"mobile missing", "/user/mobile", 10002},
	} {
		t.Run(c.name, func(t *testing.T) {
			e.wantCode(c.code, "PUT", c.path, usrAs(e, b), nil)
		})
	}
	// An empty mobile clears it and frees it.
	e.ok("PUT", "/user/mobile?mobile=", usrAs(e, a), nil)
	e.ok("PUT", "/user/mobile?mobile=%2B8613800000001", usrAs(e, b), nil)
	if p := usrProfile(t, e, b); p["mobile"] != "+8613800000001" || p["username"] != "anna" {
		t.Fatalf("bert: %v", p)
	}
}

func TestPasswords(t *testing.T) {
	e := newEnv(t)
	a := usrRegister(t, e, "anna")
	pub := map[string]string{"access-token": ""}
	me := usrAs(e, a)
	e.wantCode(10015, "POST", "/user/change_password", me, map[string]string{"old_password": "nope", "new_password": "n1"})
	e.wantCode(10002, "POST", "/user/change_password", me, map[string]string{"old_password": "pw_anna"})
	e.wantCode(10002, "POST", "/user/change_password", me, map[string]string{"new_password": "x"})
	e.wantCode(10002, "POST", "/user/change_password", me, map[string]string{"old_password": "pw_anna", "new_password": ""})
	e.ok("POST", "/user/change_password", me, map[string]string{"old_password": "pw_anna", "new_password": "n1"})
	e.wantCode(10015, "POST", "/token/user", pub, map[string]string{"name": "anna", "password": "pw_anna"})
	e.ok("POST", "/token/user", pub, map[string]string{"name": "anna", "password": "n1"})

	e.wantCode(10010, "POST", "/user/change_password_admin", me, map[string]string{"password": "n2"})
	e.wantCode(10002, "POST", "/user/change_password_admin", usrAdminAs(a), map[string]string{"password": strings.Repeat("x", 73)})
	e.wantCode(10002, "POST", "/user/change_password_admin", usrAdminAs(a), map[string]string{})
	e.ok("POST", "/user/change_password_admin", usrAdminAs(a), map[string]string{"password": "n2"})
	e.ok("POST", "/token/id", pub, map[string]any{"user_id": a, "password": "n2"})
	// Passwords are stored as bcrypt hashes, never in clear.
	hash, _, _ := e.st.Credentials(context.Background(), e.app, a)
	if !strings.HasPrefix(hash, "$2a$") || strings.Contains(hash, "n2") {
		t.Fatalf("stored password %q", hash)
	}
}

func TestSettings(t *testing.T) {
	e := newEnv(t)
	a := usrRegister(t, e, "anna")
	b := usrRegister(t, e, "bert")
	me := usrAs(e, a)
	s := usrSettings(t, e, a)
	if s["user_id"].(float64) != float64(a) || s["vibratory"] != true || s["no_push"] != false || s["time_zone"] != "" {
		t.Fatalf("defaults: %v", s)
	}
	e.ok("PUT", "/user/settings", me, map[string]any{
		"user_id": a, "auth_mode": 2, "auth_question": "q?", "auth_answer": "a", "group_confirm": true,
		"no_push_start_hour": 22, "no_push_end_hour": 7, "silence_start_time": 1, "silence_end_time": 2,
		"push_nick_name": "A", "time_zone": "Asia/Shanghai", "no_sounds": true, "push_token": "ignored",
	})
	// The toggles and their own operations.
	for _, c := range []struct{ path, field string }{
		{"/user/download?value=false", "auto_download"}, {"/user/vibratory?value=false", "vibratory"},
		{"/user/sounds?value=false", "no_sounds"}, {"/user/push?value=true", "no_push"}, {"/user/push/detail?value=1", "no_push_detail"},
	} {
		e.ok("POST", c.path, me, nil)
		e.wantCode(10002, "PUT", strings.Split(c.path, "?")[0]+"?value=maybe", me, nil)
		e.wantCode(10002, "PUT", strings.Split(c.path, "?")[0], me, nil)
	}
	e.ok("PUT", "/user/authmode?value=3", me, nil)
	e.ok("POST", "/user/push/limit?no_push_start_hour=23&no_push_end_hour=6", me, nil)
	e.ok("PUT", "/user/push/nickname?value=Annie", me, nil)
	s = usrSettings(t, e, a)
	want := map[string]any{"auth_mode": 3.0, "auth_question": "q?", "auth_answer": "a", "group_confirm": true,
		"no_push_start_hour": 23.0, "no_push_end_hour": 6.0, "silence_start_time": 1.0, "silence_end_time": 2.0,
		"push_nick_name": "Annie", "time_zone": "Asia/Shanghai", "auto_download": false, "vibratory": false,
		"no_sounds": false, "no_push": true, "no_push_detail": true, "push_token": ""}
	for k, v := range want {
		if s[k] != v {
			t.Errorf("%s = %#v, want %#v", k, s[k], v)
		}
	}
	// The push workers read the same settings.
	st, err := e.st.Settings(context.Background(), e.app, a)
	if err != nil || !st.NoPush || st.NoPushStartHour != 23 || st.TimeZone != "Asia/Shanghai" || st.PushNickName != "Annie" {
		t.Fatalf("store settings %+v %v", st, err)
	}
	// An admin names the user in the body, as Lanying's UserSettings does.
	e.ok("POST", "/user/settings", nil, map[string]any{"user_id": b, "no_push": true})
	if s := usrSettings(t, e, b); s["no_push"] != true {
		t.Fatalf("bert: %v", s)
	}
	for _, c := range []struct {
		name string
		hdr  map[string]string
		body any
		code int
	}{
		{"user token naming another user", me, map[string]any{"user_id": b, "no_push": false}, 10010},
		{"admin header and body disagree", usrAdminAs(a), map[string]any{"user_id": b, "no_push": false}, 10002},
		{"admin body user that does not exist", nil, map[string]any{"user_id": store.UserIDBase + 5555, "no_push": false}, 10000},
		{"nothing to change", me, map[string]any{"user_id": a}, 10002},
		{"auth_mode 4", me, map[string]any{"auth_mode": 4}, 10002},
		{"hour 24", me, map[string]any{"no_push_end_hour": 24}, 10002},
		{"negative silence", me, map[string]any{"silence_start_time": -1}, 10002},
		{"unknown time zone", me, map[string]any{"time_zone": "Mars/Olympus"}, 10002},
		{"Local time zone", me, map[string]any{"time_zone": "Local"}, 10002},
		{"path in time zone", me, map[string]any{"time_zone": "../../etc/passwd"}, 10002},
		{"wrong type", me, map[string]any{"no_push": "yes"}, 10002},
		{"question too long", me, map[string]any{"auth_question": strings.Repeat("q", 257)}, 10002},
	} {
		t.Run(c.name, func(t *testing.T) {
			e.wantCode(c.code, "PUT", "/user/settings", c.hdr, c.body)
		})
	}
	for _, path := range []string{"/user/authmode?value=4", "/user/authmode?value=-1", "/user/authmode?value=x",
		"/user/push/limit?no_push_start_hour=24&no_push_end_hour=1", "/user/push/limit?no_push_start_hour=1",
		"/user/push/nickname", "/user/push/nickname?value=" + strings.Repeat("n", 129)} {
		e.wantCode(10002, "PUT", path, me, nil)
	}
	if s := usrSettings(t, e, a); s["auth_mode"] != 3.0 || s["no_push"] != true || s["time_zone"] != "Asia/Shanghai" {
		t.Fatalf("refused changes were written: %v", s)
	}
}

func TestPushSettings(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	a := usrRegister(t, e, "anna")
	b := usrRegister(t, e, "bert")
	me := usrAs(e, a)
	if err := e.st.PutPushCredentials(ctx, e.app, []store.PushCredential{{Name: "APNs_Prod", Provider: "apns"}}); err != nil {
		t.Fatal(err)
	}
	// Tokens: bound per device, moved when another user binds the same one;
	// the certificate name in any case, stored in the certificate's.
	e.ok("PUT", "/user/token/bind", me, map[string]any{"device_sn": 3, "device_token": "tok-1", "notifier_name": "apns_prod"})
	e.ok("POST", "/user/token/bind", usrAs(e, b), map[string]any{"device_sn": 1, "device_token": "tok-2", "notifier_name": ""})
	if d, _ := e.st.Device(ctx, e.app, a, 3); d == nil || d.PushToken != "tok-1" || d.Notifier != "APNs_Prod" {
		t.Fatalf("device: %+v", d)
	}
	for _, c := range []struct {
		name string
		body any
	}{
		{"no device_sn", map[string]any{"device_token": "t", "notifier_name": ""}},
		{"device_sn 0", map[string]any{"device_sn": 0, "device_token": "t", "notifier_name": ""}},
		{"device_sn over int32", map[string]any{"device_sn": 1 << 40, "device_token": "t", "notifier_name": ""}},
		{"no token", map[string]any{"device_sn": 1, "notifier_name": ""}},
		{"empty token", map[string]any{"device_sn": 1, "device_token": "", "notifier_name": ""}},
		{"token too long", map[string]any{"device_sn": 1, "device_token": strings.Repeat("t", 513), "notifier_name": ""}},
		{"no notifier", map[string]any{"device_sn": 1, "device_token": "t"}},
		{"notifier too long", map[string]any{"device_sn": 1, "device_token": "t", "notifier_name": strings.Repeat("n", 65)}},
	} {
		t.Run("bind/"+c.name, func(t *testing.T) { e.wantCode(10002, "PUT", "/user/token/bind", me, c.body) })
	}
	// Alias: on the user, and on the device holding push_token.
	e.ok("POST", "/user/push/alias", me, map[string]string{"alias": "vip", "push_token": "tok-1"})
	if d, _ := e.st.Device(ctx, e.app, a, 3); d.Alias != "vip" {
		t.Fatalf("device alias %q", d.Alias)
	}
	if us, _ := e.st.AliasUsers(ctx, e.app, "vip"); len(us) != 1 || us[0] != a {
		t.Fatalf("alias users %v", us)
	}
	e.wantCode(10002, "POST", "/user/push/alias", me, map[string]string{"alias": "x", "push_token": "tok-2"})
	e.wantCode(10002, "POST", "/user/push/alias", me, map[string]string{"push_token": "tok-1"})
	e.wantCode(10002, "POST", "/user/push/alias", me, map[string]string{"alias": strings.Repeat("a", 129)})
	e.ok("POST", "/user/push/alias", me, map[string]string{"alias": ""})
	if us, _ := e.st.AliasUsers(ctx, e.app, "vip"); len(us) != 0 {
		t.Fatalf("alias not removed: %v", us)
	}
	// Badge.
	e.ok("POST", "/user/push/badge", me, map[string]int{"badge": 7})
	pipe := e.rdb.Pipeline()
	cmd := e.st.QueueSettings(ctx, pipe, e.app, a)
	_, _ = pipe.Exec(ctx)
	if _, badge, err := cmd.Result(); err != nil || badge != 7 {
		t.Fatalf("badge %d %v", badge, err)
	}
	e.wantCode(10002, "POST", "/user/push/badge", me, map[string]int{"badge": -1})
	e.wantCode(10002, "POST", "/user/push/badge", me, map[string]string{})
	e.wantCode(10002, "POST", "/user/push/badge", me, map[string]int64{"badge": 1 << 40})
	// Tags.
	e.ok("POST", "/user/push/tag", me, map[string][]string{"tags": {"b", "a", "c"}})
	e.ok("DELETE", "/user/push/tag", me, map[string][]string{"tags": {"c"}})
	var tags []string
	e.ok("GET", "/user/push/tag", me, nil).into(t, &tags)
	if strings.Join(tags, ",") != "a,b" {
		t.Fatalf("tags %v", tags)
	}
	var members []int64
	_ = e.st.Redis().SMembers(ctx, store.TagKey(e.app, "a")).ScanSlice(&members)
	if len(members) != 1 || members[0] != a {
		t.Fatalf("tag index %v", members)
	}
	many := make([]string, 99)
	for i := range many {
		many[i] = fmt.Sprintf("t%d", i)
	}
	e.wantCode(10002, "POST", "/user/push/tag", me, map[string][]string{"tags": many})
	e.wantCode(10002, "POST", "/user/push/tag", me, map[string][]string{"tags": {}})
	e.wantCode(10002, "POST", "/user/push/tag", me, map[string][]string{"tags": {""}})
	e.wantCode(10002, "DELETE", "/user/push/tag", me, map[string][]string{"tags": {strings.Repeat("t", 65)}})
	e.ok("DELETE", "/user/push/tag/all", me, nil)
	e.ok("GET", "/user/push/tag", me, nil).into(t, &tags)
	if len(tags) != 0 {
		t.Fatalf("tags after delete all: %v", tags)
	}
	// Unbind.
	e.ok("DELETE", "/user/token/unbind?deviceSn=3", me, nil)
	if _, _, err := e.st.PushTokenOwner(ctx, e.app, "tok-1"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("token still indexed: %v", err)
	}
	e.wantCode(10002, "POST", "/user/token/unbind?deviceSn=9", me, nil)
	e.wantCode(10002, "POST", "/user/token/unbind?deviceSn=0", me, nil)
	e.wantCode(10002, "POST", "/user/token/unbind", me, nil)
}

// usrDial connects a device of uid to the gateway.
func usrDial(t *testing.T, e *env, uid int64, dev int32) *client.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := client.Dial(ctx, client.Config{URL: e.gw, AppID: e.app, Token: e.userToken(uid), DeviceSN: dev, Platform: protocol.PlatformAndroid})
	if err != nil {
		t.Fatalf("dial %d/%d: %v", uid, dev, err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// usrWantKick waits for c to end with a kick of code.
func usrWantKick(t *testing.T, c *client.Conn, code protocol.Code) {
	t.Helper()
	select {
	case <-c.Done():
	case <-time.After(10 * time.Second):
		t.Fatalf("connection not kicked (want %d)", code)
	}
	var k *client.KickError
	if err := c.Err(); !errors.As(err, &k) || k.Code != code {
		t.Fatalf("connection ended with %v, want kick %d", err, code)
	}
}

func usrOnline(t *testing.T, e *env, uid int64) (bool, []int32) {
	t.Helper()
	var o struct {
		Online  bool    `json:"online"`
		Devices []int32 `json:"devices"`
	}
	e.ok("GET", "/user/online_status", usrAdminAs(uid), nil).into(t, &o)
	return o.Online, o.Devices
}

func TestDevicesKickOnline(t *testing.T) {
	e := newEnv(t)
	a := usrRegister(t, e, "anna")
	if on, _ := usrOnline(t, e, a); on {
		t.Fatal("online before connecting")
	}
	c1 := usrDial(t, e, a, 1)
	c2 := usrDial(t, e, a, 2)
	e.ok("PUT", "/user/token/bind", usrAs(e, a), map[string]any{"device_sn": 9, "device_token": "tok-9", "notifier_name": ""})
	if on, devs := usrOnline(t, e, a); !on || len(devs) != 2 || devs[0] != 1 || devs[1] != 2 {
		t.Fatalf("online status %v %v", on, devs)
	}
	r := e.ok("GET", "/user/device/list", usrAs(e, a), nil)
	var devs []struct {
		DeviceSN  int32  `json:"device_sn"`
		Platform  int32  `json:"platform"`
		UserAgent string `json:"user_agent"`
		UserID    int64  `json:"user_id"`
		Online    bool   `json:"online"`
		LastSeen  int64  `json:"last_seen"`
	}
	r.into(t, &devs)
	if len(devs) != 3 || devs[0].DeviceSN != 1 || !devs[0].Online || devs[0].UserAgent != "android" || devs[0].Platform != 2 ||
		devs[0].UserID != a || devs[0].LastSeen == 0 || devs[2].DeviceSN != 9 || devs[2].Online || devs[2].UserAgent != "unknown" {
		t.Fatalf("device list %+v", devs)
	}
	// Kick one device, then the rest.
	e.ok("PUT", "/user/kick?device_sn=1", usrAdminAs(a), nil)
	usrWantKick(t, c1, protocol.CodeKickAdmin)
	select {
	case <-c2.Done():
		t.Fatal("kicking device 1 closed device 2")
	case <-time.After(100 * time.Millisecond):
	}
	e.wantCode(10002, "PUT", "/user/kick?device_sn=0", usrAdminAs(a), nil)
	e.wantCode(10002, "PUT", "/user/kick?device_sn=x", usrAdminAs(a), nil)
	e.ok("POST", "/user/kick?device_sn=5", usrAs(e, a), nil) // not connected: nothing to do
	e.ok("POST", "/user/kick", usrAs(e, a), nil)
	usrWantKick(t, c2, protocol.CodeKickAdmin)

	// Removing a device closes its connection and forgets its token.
	c3 := usrDial(t, e, a, 3)
	e.ok("DELETE", "/user/device/remove?device_sn=3", usrAs(e, a), nil)
	usrWantKick(t, c3, protocol.CodeKickDeviceLimit)
	e.ok("POST", "/user/device/remove?device_sn=9", usrAs(e, a), nil)
	if _, _, err := e.st.PushTokenOwner(context.Background(), e.app, "tok-9"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("removed device's token still indexed: %v", err)
	}
	e.wantCode(10002, "POST", "/user/device/remove?device_sn=9", usrAs(e, a), nil)
	e.wantCode(10002, "POST", "/user/device/remove?device_sn=-1", usrAs(e, a), nil)
	e.wantCode(10002, "POST", "/user/device/remove", usrAs(e, a), nil)
	deadline := time.Now().Add(5 * time.Second)
	for {
		on, _ := usrOnline(t, e, a)
		if !on {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("still online after every device was kicked")
		}
		time.Sleep(20 * time.Millisecond)
	}
	e.ok("GET", "/user/device/list", usrAs(e, a), nil).into(t, &devs)
	for _, d := range devs {
		if d.DeviceSN == 3 || d.DeviceSN == 9 {
			t.Fatalf("removed device listed: %+v", devs)
		}
	}
}

func TestDisableEnable(t *testing.T) {
	e := newEnv(t)
	a := usrRegister(t, e, "anna")
	b := usrRegister(t, e, "bert")
	pub := map[string]string{"access-token": ""}
	c := usrDial(t, e, a, 1)
	e.wantCode(10000, "PUT", "/user/disable", nil, map[string][]int64{"list": {a, store.UserIDBase + 4444}})
	e.wantCode(10002, "PUT", "/user/disable", nil, map[string][]int64{"list": {}})
	e.wantCode(10002, "PUT", "/user/disable", nil, map[string][]int64{"list": {a, -3}})
	e.wantCode(10002, "PUT", "/user/disable", nil, map[string][]int64{"list": make([]int64, 501)})
	if st, _ := e.st.UserState(context.Background(), e.app, a); st != store.UserActive {
		t.Fatal("a refused disable changed the user")
	}
	e.ok("PUT", "/user/disable", nil, map[string][]int64{"list": {a, b, a}})
	usrWantKick(t, c, protocol.CodeKickDisabled)
	// A disabled user gets no token, cannot connect, cannot act...
	e.wantCode(10016, "POST", "/token/user", pub, map[string]string{"name": "anna", "password": "pw_anna"})
	e.wantCode(10015, "POST", "/token/user", pub, map[string]string{"name": "anna", "password": "wrong"})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, err := client.Dial(ctx, client.Config{URL: e.gw, AppID: e.app, Token: e.userToken(a), DeviceSN: 1, Platform: 1})
	var perr *protocol.Error
	if !errors.As(err, &perr) || perr.Code != protocol.CodeUserDisabled {
		t.Fatalf("dial as a disabled user: %v", err)
	}
	e.wantCode(10016, "GET", "/user/profile", usrAs(e, a), nil)
	// ... but an admin still manages it, and the list shows it.
	if p := usrProfile(t, e, a); p["username"] != "anna" {
		t.Fatalf("profile %v", p)
	}
	var list []struct {
		UserID int64 `json:"user_id"`
		Status int   `json:"status"`
	}
	e.ok("GET", "/user/list", nil, nil).into(t, &list)
	if len(list) != 2 || list[0].Status != 1 || list[1].Status != 1 {
		t.Fatalf("list %+v", list)
	}
	e.wantCode(10000, "PUT", "/user/enable", nil, map[string][]int64{"list": {store.UserIDBase + 4444}})
	e.ok("PUT", "/user/enable", nil, map[string][]int64{"list": {a}})
	e.ok("POST", "/token/user", pub, map[string]string{"name": "anna", "password": "pw_anna"})
	e.wantCode(10016, "POST", "/token/user", pub, map[string]string{"name": "bert", "password": "pw_bert"})
	usrDial(t, e, a, 1)
}

func TestDeleteUser(t *testing.T) {
	e := newEnv(t)
	a := usrRegister(t, e, "anna")
	b := usrRegister(t, e, "bert")
	pub := map[string]string{"access-token": ""}
	e.ok("PUT", "/user/mobile?mobile=5550001", usrAs(e, a), nil)
	e.ok("POST", "/user/push/tag", usrAs(e, a), map[string][]string{"tags": {"t"}})
	c := usrDial(t, e, a, 1)
	// A user deletes itself with its password.
	e.wantCode(10002, "DELETE", "/user/delete", usrAs(e, a), map[string]string{})
	e.wantCode(10002, "DELETE", "/user/delete", usrAs(e, a), nil)
	e.wantCode(10015, "DELETE", "/user/delete", usrAs(e, a), map[string]string{"password": "wrong"})
	e.ok("DELETE", "/user/delete", usrAs(e, a), map[string]string{"password": "pw_anna"})
	usrWantKick(t, c, protocol.CodeKickDeleted)
	e.wantCode(10000, "GET", "/user/profile", usrAdminAs(a), nil)
	e.wantCode(10000, "GET", "/user/profile", usrAs(e, a), nil)
	e.wantCode(10015, "POST", "/token/user", pub, map[string]string{"name": "anna", "password": "pw_anna"})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := client.Dial(ctx, client.Config{URL: e.gw, AppID: e.app, Token: e.userToken(a), DeviceSN: 1, Platform: 1}); err == nil {
		t.Fatal("a deleted user's token still connects")
	}
	// Its username and mobile are free, its indexes are gone.
	n := usrRegister(t, e, "anna")
	e.ok("PUT", "/user/mobile?mobile=5550001", usrAs(e, n), nil)
	if m, _ := e.rdb.SCard(ctx, store.TagKey(e.app, "t")).Result(); m != 0 {
		t.Fatal("tag index keeps the deleted user")
	}
	// An admin deletes without a password; a body is optional.
	e.ok("POST", "/user/delete", usrAdminAs(b), nil)
	e.wantCode(10000, "POST", "/user/delete", usrAdminAs(b), nil)
	e.wantCode(10002, "POST", "/user/delete", usrAdminAs(n), `{"password":`)
	var list []map[string]any
	e.ok("GET", "/user/list", nil, nil).into(t, &list)
	if len(list) != 1 || list[0]["user_id"].(float64) != float64(n) {
		t.Fatalf("list after deletes: %v", list)
	}
}

func TestUserList(t *testing.T) {
	e := newEnv(t)
	var ids []int64
	for i := 0; i < 5; i++ {
		ids = append(ids, usrRegister(t, e, fmt.Sprintf("user_%d", i)))
	}
	var page []struct {
		UserID   int64  `json:"user_id"`
		Username string `json:"username"`
		Status   int    `json:"status"`
	}
	e.ok("GET", "/user/list?page_num=2&page_size=2", nil, nil).into(t, &page)
	if len(page) != 2 || page[0].UserID != ids[2] || page[1].Username != "user_3" || page[0].Status != 0 {
		t.Fatalf("page 2: %+v", page)
	}
	e.ok("GET", "/user/list", nil, nil).into(t, &page)
	if len(page) != 5 {
		t.Fatalf("default page: %+v", page)
	}
	e.ok("GET", "/user/list?page_num=9", nil, nil).into(t, &page)
	if len(page) != 0 {
		t.Fatalf("page past the end: %+v", page)
	}
	for _, q := range []string{"page_num=0", "page_size=0", "page_size=501", "page_num=x", "page_num=99999999999"} {
		e.wantCode(10002, "GET", "/user/list?"+q, nil, nil)
	}
	// Another app's admin sees none of these users.
	other := newEnv(t)
	other.ok("GET", "/user/list", nil, nil).into(t, &page)
	if len(page) != 0 {
		t.Fatalf("another app lists %+v", page)
	}
}
