package admin_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/chatgate/chatgate/store"
)

// rosUser creates a user directly in the store (the roster tests do not
// depend on the user API) with the given auth_mode, and returns its id.
func rosUser(t *testing.T, e *env, name string, mode int) int64 {
	t.Helper()
	ctx := context.Background()
	uid, err := e.st.CreateUser(ctx, e.app, store.NewUser{Username: name, PasswordHash: "x"}, time.Now())
	if err != nil {
		t.Fatalf("create %s: %v", name, err)
	}
	if mode != 0 {
		set := map[string]any{"auth_mode": mode}
		if mode == 2 {
			set["auth_question"], set["auth_answer"] = "color?", "blue"
		}
		if err := e.st.SetSettings(ctx, e.app, uid, set); err != nil {
			t.Fatal(err)
		}
	}
	return uid
}

// as are the headers of an admin token acting as uid.
func as(uid int64) map[string]string {
	return map[string]string{"user_id": strconv.FormatInt(uid, 10)}
}

// asUser are the headers of uid's own user token.
func asUser(e *env, uid int64) map[string]string {
	return map[string]string{"access-token": e.userToken(uid)}
}

func q(path string, kv ...any) string {
	s := path
	for i := 0; i < len(kv); i += 2 {
		sep := "&"
		if i == 0 {
			sep = "?"
		}
		s += fmt.Sprintf("%s%v=%v", sep, kv[i], kv[i+1])
	}
	return s
}

func friendIDs(t *testing.T, e *env, uid int64) []int64 {
	t.Helper()
	var ids []int64
	e.ok("GET", "/roster/list", as(uid), nil).into(t, &ids)
	return ids
}

func TestRosterApplyByAuthMode(t *testing.T) {
	e := newEnv(t)
	a := rosUser(t, e, "alice", 0)
	open := rosUser(t, e, "open", 0)
	consent := rosUser(t, e, "consent", 1)
	quiz := rosUser(t, e, "quiz", 2)
	closed := rosUser(t, e, "closed", 3)

	// auth_mode 0: friends at once, on both sides.
	e.ok("POST", "/roster/apply", asUser(e, a), map[string]any{"user_id": open, "alias": "Opie"})
	if ids := friendIDs(t, e, a); len(ids) != 1 || ids[0] != open {
		t.Fatalf("friends of a: %v", ids)
	}
	if ids := friendIDs(t, e, open); len(ids) != 1 || ids[0] != a {
		t.Fatalf("friends of open: %v", ids)
	}
	e.wantCode(10005, "POST", "/roster/apply", asUser(e, a), map[string]any{"user_id": open})

	// auth_mode 1: a pending request, accepted by the invitee.
	e.ok("POST", "/roster/apply", as(a), map[string]any{"user_id": consent, "reason": "hi"})
	var apps []map[string]any
	e.ok("GET", "/roster/apply/list", as(consent), nil).into(t, &apps)
	if len(apps) != 1 || apps[0]["user_id"].(float64) != float64(a) || apps[0]["status"].(float64) != 0 || apps[0]["reason"] != "hi" {
		t.Fatalf("applications: %v", apps)
	}
	if exp := int64(apps[0]["expired_time"].(float64)); exp < time.Now().Add(6*24*time.Hour).UnixMilli() {
		t.Fatalf("expired_time %d", exp)
	}
	if len(friendIDs(t, e, a)) != 1 {
		t.Fatal("mode 1 made friends before consent")
	}
	e.wantCode(10007, "POST", q("/roster/accept", "user_id", open), as(consent), nil)
	e.ok("PUT", q("/roster/accept", "user_id", a), asUser(e, consent), nil)
	e.wantCode(10005, "POST", q("/roster/accept", "user_id", a), as(consent), nil)
	e.ok("GET", "/roster/apply/list", as(consent), nil).into(t, &apps)
	if len(apps) != 1 || apps[0]["status"].(float64) != 1 {
		t.Fatalf("accepted application: %v", apps)
	}

	// auth_mode 2: the right answer.
	e.wantCode(10002, "POST", "/roster/apply", as(a), map[string]any{"user_id": quiz})
	e.wantCode(10012, "POST", "/roster/apply", as(a), map[string]any{"user_id": quiz, "auth_answer": "red"})
	e.ok("POST", "/roster/apply", as(a), map[string]any{"user_id": quiz, "auth_answer": "blue"})

	// auth_mode 3: never.
	e.wantCode(10012, "POST", "/roster/apply", as(a), map[string]any{"user_id": closed})

	if ids := friendIDs(t, e, a); len(ids) != 3 {
		t.Fatalf("friends of a: %v", ids)
	}

	// Bad input.
	for _, tt := range []struct {
		name string
		body any
		code int
	}{
		{"self", map[string]any{"user_id": a}, 10002},
		{"unknown user", map[string]any{"user_id": 999}, 10000},
		{"no user_id", map[string]any{"reason": "x"}, 10002},
		{"string user_id", `{"user_id":"x"}`, 10002},
		{"not JSON", `{`, 10002},
		{"long alias", map[string]any{"user_id": closed, "alias": string(make([]byte, 200))}, 10002},
	} {
		t.Run(tt.name, func(t *testing.T) {
			e.wantCode(tt.code, "POST", "/roster/apply", as(a), tt.body)
		})
	}
}

func TestRosterDeclineAndBatch(t *testing.T) {
	e := newEnv(t)
	a := rosUser(t, e, "a", 0)
	b := rosUser(t, e, "b", 1)
	c := rosUser(t, e, "c", 0)
	d := rosUser(t, e, "d", 3)

	e.ok("POST", "/roster/apply", as(a), map[string]any{"user_id": b})
	e.wantCode(10000, "POST", "/roster/decline", as(b), map[string]any{"user_id": 12345})
	e.wantCode(10007, "POST", "/roster/decline", as(b), map[string]any{"user_id": c})
	e.ok("PUT", "/roster/decline", asUser(e, b), map[string]any{"user_id": a, "reason": "no"})
	e.wantCode(10007, "POST", "/roster/decline", as(b), map[string]any{"user_id": a})
	e.wantCode(10007, "POST", q("/roster/accept", "user_id", a), as(b), nil)
	var apps []map[string]any
	e.ok("GET", "/roster/apply/list", as(b), nil).into(t, &apps)
	if len(apps) != 1 || apps[0]["status"].(float64) != 2 {
		t.Fatalf("declined application: %v", apps)
	}

	// Batch: one friend at once, one pending, one refused, one unknown.
	var res struct {
		Success []int64 `json:"success"`
		Fails   []struct {
			UserID int64  `json:"user_id"`
			Reason string `json:"reason"`
		} `json:"fails"`
	}
	e.ok("POST", "/roster/apply/batch", as(a), []map[string]any{
		{"user_id": c, "alias": "cee"}, {"user_id": b, "reason": "again"}, {"user_id": d}, {"user_id": 4242},
	}).into(t, &res)
	if len(res.Success) != 2 || res.Success[0] != c || res.Success[1] != b || len(res.Fails) != 2 ||
		res.Fails[0].UserID != d || res.Fails[1].UserID != 4242 || res.Fails[0].Reason == "" {
		t.Fatalf("batch: %+v", res)
	}
	e.wantCode(10002, "POST", "/roster/apply/batch", as(a), []map[string]any{})
	e.wantCode(10002, "POST", "/roster/apply/batch", as(a), []map[string]any{{"user_id": -1}})
	e.wantCode(10002, "POST", "/roster/apply/batch", as(a), map[string]any{"user_id": c})
	big := make([]map[string]any, 101)
	for i := range big {
		big[i] = map[string]any{"user_id": c}
	}
	e.wantCode(10002, "POST", "/roster/apply/batch", as(a), big)
}

func TestRosterBlacklist(t *testing.T) {
	e := newEnv(t)
	a := rosUser(t, e, "a", 0)
	b := rosUser(t, e, "b", 0)
	c := rosUser(t, e, "c", 0)

	var may bool
	e.ok("GET", q("/roster/may_message", "user_id", a, "roster_id", b), nil, nil).into(t, &may)
	if !may {
		t.Fatal("may_message false before any block")
	}
	e.ok("POST", q("/roster/block", "user_id", a), as(b), nil)
	e.wantCode(10006, "PUT", q("/roster/block", "user_id", a), asUser(e, b), nil)
	e.ok("PUT", q("/roster/block", "user_id", c), asUser(e, b), nil)
	e.wantCode(10000, "POST", q("/roster/block", "user_id", 777), as(b), nil)
	e.wantCode(10002, "POST", q("/roster/block", "user_id", b), as(b), nil)
	e.wantCode(10002, "POST", "/roster/block", as(b), nil)
	e.wantCode(10002, "POST", q("/roster/block", "user_id", "abc"), as(b), nil)
	var list []int64
	e.ok("GET", "/roster/blocked_list", as(b), nil).into(t, &list)
	if len(list) != 2 || list[0] != min(a, c) || list[1] != max(a, c) {
		t.Fatalf("blocked list %v", list)
	}
	e.ok("GET", q("/roster/may_message", "user_id", a, "roster_id", b), asUser(e, a), nil).into(t, &may)
	if may {
		t.Fatal("may_message true for a blocked sender")
	}
	e.ok("GET", q("/roster/may_message", "user_id", b, "roster_id", a), asUser(e, a), nil).into(t, &may)
	if !may {
		t.Fatal("blocking is one-way")
	}
	e.wantCode(10010, "GET", q("/roster/may_message", "user_id", b, "roster_id", c), asUser(e, a), nil)
	e.wantCode(10000, "GET", q("/roster/may_message", "user_id", a, "roster_id", 999), nil, nil)
	e.wantCode(10002, "GET", q("/roster/may_message", "user_id", a), nil, nil)

	// A blocked user cannot apply; nor can one who blocked the invitee.
	e.wantCode(10014, "POST", "/roster/apply", as(a), map[string]any{"user_id": b})
	e.wantCode(10006, "POST", "/roster/apply", as(b), map[string]any{"user_id": a})
	var items []map[string]any
	e.ok("POST", "/roster/list", as(b), map[string]any{"list": []int64{a, 999}}).into(t, &items)
	if len(items) != 1 || items[0]["relation"].(float64) != 3 {
		t.Fatalf("relation of a blocked user: %v", items)
	}

	e.ok("DELETE", q("/roster/unblock", "user_id", a), as(b), nil)
	e.wantCode(10002, "POST", q("/roster/unblock", "user_id", a), asUser(e, b), nil)
	e.ok("GET", "/roster/blocked_list", as(b), nil).into(t, &list)
	if len(list) != 1 || list[0] != c {
		t.Fatalf("blocked list after unblock %v", list)
	}
}

func TestRosterFriendsDetailsSearch(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	a := rosUser(t, e, "a_user", 0)
	b := rosUser(t, e, "Bob_user", 2)
	if err := e.st.SetIdent(ctx, e.app, b, store.IdentMobile, "13800000000", time.Now()); err != nil {
		t.Fatal(err)
	}
	e.ok("POST", "/roster/apply", as(a), map[string]any{"user_id": b, "auth_answer": "blue", "alias": "bobby"})

	e.ok("PUT", "/roster/ext", as(a), map[string]any{"user_id": b, "ext": `{"k":1}`, "mute_notification": true})
	e.wantCode(10007, "POST", "/roster/ext", as(a), map[string]any{"user_id": 5555})
	e.wantCode(10002, "POST", "/roster/ext", as(a), map[string]any{"user_id": b, "mute_notification": "yes"})

	var it map[string]any
	e.ok("GET", q("/roster/id", "user_id", b), as(a), nil).into(t, &it)
	want := map[string]any{"alias": "bobby", "ext": `{"k":1}`, "mute_notification": true, "relation": 0.0,
		"username": "Bob_user", "auth_mode": 2.0, "auth_question": "color?", "user_id": float64(b)}
	for k, v := range want {
		if it[k] != v {
			t.Errorf("roster/id %s = %v, want %v", k, it[k], v)
		}
	}
	if _, leaked := it["auth_answer"]; leaked {
		t.Error("auth_answer leaked")
	}
	e.ok("GET", q("/roster/name", "username", "bob_USER"), asUser(e, a), nil).into(t, &it)
	if it["user_id"] != float64(b) {
		t.Fatalf("roster/name: %v", it)
	}
	e.ok("GET", q("/roster/mobile", "mobile", "13800000000"), as(a), nil).into(t, &it)
	if it["user_id"] != float64(b) {
		t.Fatalf("roster/mobile: %v", it)
	}
	e.wantCode(10000, "GET", q("/roster/name", "username", "nobody"), as(a), nil)
	e.wantCode(10000, "GET", q("/roster/mobile", "mobile", "1"), as(a), nil)
	e.wantCode(10000, "GET", q("/roster/id", "user_id", 4444), as(a), nil)
	e.wantCode(10002, "GET", "/roster/name", as(a), nil)

	// Delete: both sides, then a deleted friend.
	e.ok("DELETE", q("/roster/delete", "user_id", b), as(a), nil)
	e.wantCode(10007, "POST", q("/roster/delete", "user_id", b), as(a), nil)
	e.wantCode(10007, "POST", q("/roster/delete", "user_id", a), as(b), nil)
	if len(friendIDs(t, e, b)) != 0 {
		t.Fatal("b still lists a")
	}
	var items []map[string]any
	e.ok("POST", "/roster/list", as(b), map[string]any{"list": []int64{a}}).into(t, &items)
	if len(items) != 1 || items[0]["relation"].(float64) != 1 {
		t.Fatalf("deleted friend: %v", items)
	}
	e.wantCode(10002, "POST", "/roster/list", as(b), map[string]any{"list": []int64{}})
	e.wantCode(10002, "POST", "/roster/list", as(b), map[string]any{"list": []int64{0}})
}

func TestRosterListPages(t *testing.T) {
	e := newEnv(t)
	a := rosUser(t, e, "a", 0)
	var want []int64
	for i := range 5 {
		f := rosUser(t, e, fmt.Sprintf("f%d", i), 0)
		e.ok("POST", "/roster/apply", as(a), map[string]any{"user_id": f})
		want = append(want, f)
	}
	var got []int64
	cursor := ""
	for page := 0; ; page++ {
		path := "/roster/list?limit=2"
		if cursor != "" {
			path += "&cursor=" + cursor
		}
		var env struct {
			Code    int     `json:"code"`
			Data    []int64 `json:"data"`
			Cursor  string  `json:"cursor"`
			Version int64   `json:"version"`
		}
		if err := json.Unmarshal(rawGet(t, e, path, as(a)), &env); err != nil || env.Code != 200 {
			t.Fatalf("page %d: code %d, %v", page, env.Code, err)
		}
		if env.Version < 5 {
			t.Fatalf("version %d after 5 changes", env.Version)
		}
		got = append(got, env.Data...)
		if env.Cursor == "" {
			break
		}
		if page > 5 || len(env.Data) != 2 {
			t.Fatalf("page %d: %+v", page, env)
		}
		cursor = env.Cursor
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("paged friends %v, want %v", got, want)
	}
	e.wantCode(10002, "GET", "/roster/list?limit=0", as(a), nil)
	e.wantCode(10002, "GET", "/roster/list?limit=1001", as(a), nil)
	e.wantCode(10002, "GET", "/roster/list?cursor=x", as(a), nil)
	e.wantCode(10002, "GET", "/roster/apply/list?cursor=-4", as(a), nil)
}

// TestRosterPermissions runs every roster operation with a user token
// acting as another user (10010), a token of another app (10008), and an
// admin token that names no user (10002).
func TestRosterPermissions(t *testing.T) {
	e := newEnv(t)
	other := newEnv(t)
	a := rosUser(t, e, "a", 0)
	b := rosUser(t, e, "b", 0)
	ops := []struct {
		method, path string
		body         any
	}{
		{"POST", "/roster/apply", map[string]any{"user_id": b}},
		{"POST", "/roster/apply/batch", []map[string]any{{"user_id": b}}},
		{"GET", "/roster/apply/list", nil},
		{"POST", q("/roster/accept", "user_id", b), nil},
		{"PUT", q("/roster/accept", "user_id", b), nil},
		{"POST", "/roster/decline", map[string]any{"user_id": b}},
		{"PUT", "/roster/decline", map[string]any{"user_id": b}},
		{"POST", q("/roster/delete", "user_id", b), nil},
		{"DELETE", q("/roster/delete", "user_id", b), nil},
		{"POST", q("/roster/block", "user_id", b), nil},
		{"PUT", q("/roster/block", "user_id", b), nil},
		{"POST", q("/roster/unblock", "user_id", b), nil},
		{"DELETE", q("/roster/unblock", "user_id", b), nil},
		{"GET", "/roster/blocked_list", nil},
		{"POST", "/roster/ext", map[string]any{"user_id": b}},
		{"PUT", "/roster/ext", map[string]any{"user_id": b}},
		{"GET", "/roster/list", nil},
		{"POST", "/roster/list", map[string]any{"list": []int64{b}}},
		{"GET", q("/roster/id", "user_id", b), nil},
		{"GET", q("/roster/name", "username", "b"), nil},
		{"GET", q("/roster/mobile", "mobile", "1"), nil},
		{"POST", "/user/add_roster", map[string]any{"list": []int64{b}}},
		{"GET", "/user/rosters", nil},
	}
	for _, op := range ops {
		t.Run(op.method+op.path, func(t *testing.T) {
			e.wantCode(10010, op.method, op.path, map[string]string{"access-token": e.userToken(a), "user_id": strconv.FormatInt(b, 10)}, op.body)
			e.wantCode(10008, op.method, op.path, map[string]string{"access-token": other.admin, "user_id": strconv.FormatInt(a, 10)}, op.body)
			e.wantCode(10002, op.method, op.path, nil, op.body)
			e.wantCode(10000, op.method, op.path, as(987654), op.body)
		})
	}
	// may_message: a user token asking about two other users.
	e.wantCode(10008, "GET", q("/roster/may_message", "user_id", a, "roster_id", b), map[string]string{"access-token": other.admin}, nil)
	if len(friendIDs(t, e, a)) != 0 || len(friendIDs(t, e, b)) != 0 {
		t.Fatal("a refused request changed a roster")
	}
}

// TestRosterSeedCurl runs the legacy friend examples of the Lanying server
// guide (seed 000): /user/add_roster with an admin token and the user_id
// header, then /user/rosters.
func TestRosterSeedCurl(t *testing.T) {
	e := newEnv(t)
	u := rosUser(t, e, "seeduser", 0)
	f1 := rosUser(t, e, "a", 0)
	f2 := rosUser(t, e, "b", 0)
	r := e.ok("POST", "/user/add_roster", as(u), fmt.Sprintf(`{ "list": [%d, %d]}`, f1, f2))
	var ok bool
	r.into(t, &ok)
	if !ok {
		t.Fatal("add_roster data is not true")
	}
	// Repeating is fine: they are friends already.
	e.ok("POST", "/user/add_roster", as(u), map[string]any{"list": []int64{f1}})
	var list []struct {
		UserID int64  `json:"user_id"`
		Name   string `json:"name"`
	}
	e.ok("GET", "/user/rosters", as(u), nil).into(t, &list)
	if len(list) != 2 || list[0].UserID != f1 || list[0].Name != "a" || list[1].UserID != f2 || list[1].Name != "b" {
		t.Fatalf("rosters: %+v", list)
	}
	e.wantCode(10000, "POST", "/user/add_roster", as(u), map[string]any{"list": []int64{f1, 31337}})
	e.wantCode(10002, "POST", "/user/add_roster", as(u), map[string]any{"list": []int64{u}})
	e.wantCode(10002, "POST", "/user/add_roster", as(u), map[string]any{})
}

// rawGet returns the whole answer body of a GET, for envelopes with members
// besides code, data and message.
func rawGet(t *testing.T, e *env, path string, hdr map[string]string) []byte {
	t.Helper()
	req, err := http.NewRequest("GET", e.base+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header["app_id"] = []string{e.app}
	req.Header["access-token"] = []string{e.admin}
	for k, v := range hdr {
		req.Header[k] = []string{v}
	}
	res, err := e.hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	return readAll(t, res.Body)
}
