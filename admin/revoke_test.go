package admin_test

import (
	"strings"
	"testing"

	"github.com/chatgate/chatgate/admin"
)

// TestRevokeTokens: revoke_tokens on a password change and on
// /user/disable + /user/enable cuts off every token issued before, and a
// token from a later login works; without it old tokens keep working.
func TestRevokeTokens(t *testing.T) {
	e := newEnv(t)
	a := usrRegister(t, e, "rita")
	pub := map[string]string{"access-token": ""}
	login := func(pw string) map[string]string {
		t.Helper()
		var d struct {
			Token string `json:"token"`
		}
		e.ok("POST", "/token/id", pub, map[string]any{"user_id": a, "password": pw}).into(t, &d)
		return map[string]string{"access-token": d.Token}
	}
	me := login("pw_rita")
	e.ok("GET", "/user/profile", me, nil)

	// No revocation asked for (and admin.revoke_tokens is off): the old
	// token still works.
	e.ok("POST", "/user/change_password", me, map[string]any{"old_password": "pw_rita", "new_password": "p1"})
	e.ok("GET", "/user/profile", me, nil)

	e.wantCode(10002, "POST", "/user/change_password", me, map[string]any{"old_password": "p1", "new_password": "p2", "revoke_tokens": "yes"})
	e.ok("POST", "/user/change_password", me, map[string]any{"old_password": "p1", "new_password": "p2", "revoke_tokens": true})
	e.wantCode(admin.CodeInvalidToken, "GET", "/user/profile", me, nil)
	me = login("p2")
	e.ok("GET", "/user/profile", me, nil)

	e.ok("POST", "/user/change_password_admin", usrAdminAs(a), map[string]any{"password": "p3", "revoke_tokens": true})
	e.wantCode(admin.CodeInvalidToken, "GET", "/user/profile", me, nil)
	me = login("p3")

	e.ok("PUT", "/user/disable", nil, map[string]any{"list": []int64{a}, "revoke_tokens": true})
	e.wantCode(admin.CodeUserDisabled, "GET", "/user/profile", me, nil)
	e.ok("PUT", "/user/enable", nil, map[string]any{"list": []int64{a}})
	e.wantCode(admin.CodeInvalidToken, "GET", "/user/profile", me, nil)
	me = login("p3")
	e.ok("GET", "/user/profile", me, nil)
	e.ok("PUT", "/user/enable", nil, map[string]any{"list": []int64{a}, "revoke_tokens": true})
	e.wantCode(admin.CodeInvalidToken, "GET", "/user/profile", me, nil)
	login("p3")
}

// TestUnregisteredUserToken: an app requires registered users by default,
// so a user token of an id nobody registered acts on nothing.
func TestUnregisteredUserToken(t *testing.T) {
	e := newEnv(t)
	e.wantCode(admin.CodeUserNotFound, "GET", "/user/profile", usrAs(e, 4242), nil)
	e.wantCode(admin.CodeUserNotFound, "POST", "/user/change_password", usrAs(e, 4242), map[string]any{"old_password": "a", "new_password": "b"})
}

// TestInvalidUTF8Refused: invalid UTF-8 in a REST string is refused with
// 10002 naming the field, in bodies and in queries, and nothing is stored
// (it used to be stored as U+FFFD).
func TestInvalidUTF8Refused(t *testing.T) {
	e := newEnv(t)
	a := usrRegister(t, e, "uma")
	me := usrAs(e, a)
	r := e.wantCode(admin.CodeBadParam, "PUT", "/user/profile", me, []byte("{\"nick_name\": \"ab\xff\xfe\"}"))
	if !strings.Contains(r.Message, "nick_name") {
		t.Fatalf("message %q does not name nick_name", r.Message)
	}
	r = e.wantCode(admin.CodeBadParam, "PUT", "/user/nickname?nick_name=%FF%FE", me, nil)
	if !strings.Contains(r.Message, "nick_name") {
		t.Fatalf("message %q does not name nick_name", r.Message)
	}
	if p := usrProfile(t, e, a); p["nick_name"] != "" && p["nick_name"] != nil {
		t.Fatalf("nick_name stored: %q", p["nick_name"])
	}
	r = e.wantCode(admin.CodeBadParam, "POST", "/user/register/batch", nil, []byte("{\"list\": [{\"username\": \"ok_one\", \"password\": \"x\"}, {\"username\": \"b\xc0\", \"password\": \"x\"}]}"))
	if !strings.Contains(r.Message, "list.1.username") {
		t.Fatalf("message %q does not name list.1.username", r.Message)
	}
}
