package admin_test

import (
	"context"
	"encoding/json"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/chatgate/chatgate/internal/auth"
	"github.com/chatgate/chatgate/store"
)

func TestTokens(t *testing.T) {
	e := newEnv(t)
	other := newEnv(t)
	pub := map[string]string{"access-token": ""}
	a := usrRegister(t, e, "Anna")
	e.ok("PUT", "/user/mobile?mobile=13800000000", usrAs(e, a), nil)
	e.ok("PUT", "/user/profile", usrAs(e, a), map[string]string{"email": "anna@example.com"})
	// The same username (and, ids being per app, the same id) in another
	// app, with another password.
	other.ok("POST", "/user/register/v2", pub, map[string]string{"username": "Anna", "password": "other_pw"})

	type tokenData struct {
		Token       string `json:"token"`
		UserID      int64  `json:"user_id"`
		Expire      int64  `json:"expire"`
		PushToken   string `json:"push_token"`
		EncryptType int    `json:"encrypt_type"`
	}
	ok := []struct {
		name, path string
		body       any
	}{
		{"by username", "/token/user", map[string]string{"name": "anna", "password": "pw_Anna"}},
		{"by id", "/token/id", map[string]any{"user_id": a, "password": "pw_Anna"}},
		{"login by username", "/token/login", map[string]string{"login_name": "ANNA", "password": "pw_Anna"}},
		{"login by mobile", "/token/login", map[string]string{"login_name": "13800000000", "password": "pw_Anna"}},
		{"login by email", "/token/login", map[string]string{"login_name": "Anna@Example.com", "password": "pw_Anna"}},
		{"with an unknown device_guid", "/token/user", map[string]string{"name": "anna", "password": "pw_Anna", "device_guid": "g"}},
	}
	for _, c := range ok {
		t.Run(c.name, func(t *testing.T) {
			var d tokenData
			e.ok("POST", c.path, pub, c.body).into(t, &d)
			if d.UserID != a || d.PushToken != "" || d.EncryptType != 0 {
				t.Fatalf("answer %+v", d)
			}
			want := time.Now().Add(7 * 24 * time.Hour).UnixMilli()
			if d.Expire < want-5000 || d.Expire > want+5000 {
				t.Errorf("expire %d, want about %d", d.Expire, want)
			}
			claims, err := auth.Verify([]byte(e.secret), e.app, d.Token, time.Now())
			if err != nil || claims.Role != auth.RoleUser || claims.UserID() != a || claims.ExpiresAt.UnixMilli() != d.Expire {
				t.Fatalf("token: %+v %v", claims, err)
			}
			// The token acts as its user, and only in its app.
			e.ok("GET", "/user/profile", map[string]string{"access-token": d.Token}, nil)
			other.wantCode(10008, "GET", "/user/profile", map[string]string{"access-token": d.Token}, nil)
		})
	}
	bad := []struct {
		name, path string
		body       any
		code       int
	}{
		{"wrong password", "/token/user", map[string]string{"name": "anna", "password": "pw_anna"}, 10015},
		{"unknown username", "/token/user", map[string]string{"name": "nobody", "password": "x"}, 10015},
		{"password of another app", "/token/user", map[string]string{"name": "anna", "password": "other_pw"}, 10015},
		{"unknown id", "/token/id", map[string]any{"user_id": store.UserIDBase + 98765, "password": "x"}, 10015},
		{"wrong password by id", "/token/id", map[string]any{"user_id": a, "password": "x"}, 10015},
		{"unknown mobile", "/token/login", map[string]string{"login_name": "13900000000", "password": "pw_Anna"}, 10015},
		{"unknown email", "/token/login", map[string]string{"login_name": "x@example.com", "password": "pw_Anna"}, 10015},
		{"no name", "/token/user", map[string]string{"password": "x"}, 10002},
		{"no password", "/token/user", map[string]string{"name": "anna"}, 10002},
		{"empty name", "/token/user", map[string]string{"name": "", "password": "x"}, 10002},
		{"no login_name", "/token/login", map[string]string{"password": "x"}, 10002},
		{"no user_id", "/token/id", map[string]string{"password": "x"}, 10002},
		{"user_id 0", "/token/id", map[string]any{"user_id": 0, "password": "x"}, 10002},
		{"user_id a string", "/token/id", map[string]any{"user_id": "a", "password": "x"}, 10002},
		{"password over 72 bytes", "/token/id", map[string]any{"user_id": a, "password": strings.Repeat("p", 73)}, 10002},
		{"device_guid too long", "/token/user", map[string]string{"name": "anna", "password": "pw_Anna", "device_guid": strings.Repeat("g", 129)}, 10002},
		{"malformed JSON", "/token/user", `{"name":"anna"`, 10002},
		{"no body", "/token/login", nil, 10002},
	}
	for _, c := range bad {
		t.Run(c.name, func(t *testing.T) {
			e.wantCode(c.code, "POST", c.path, pub, c.body)
		})
	}
	// Another app's users are not this app's.
	other.wantCode(10015, "POST", "/token/id", pub, map[string]any{"user_id": a, "password": "pw_Anna"})
	other.wantCode(40000, "POST", "/token/user", map[string]string{"access-token": "", "app_id": "no_such_app"},
		map[string]string{"name": "anna", "password": "pw_Anna"})
	// A disabled user learns it only with the right password.
	if err := e.st.SetUsersDisabled(context.Background(), e.app, []int64{a}, true); err != nil {
		t.Fatal(err)
	}
	e.wantCode(10016, "POST", "/token/id", pub, map[string]any{"user_id": a, "password": "pw_Anna"})
	e.wantCode(10015, "POST", "/token/id", pub, map[string]any{"user_id": a, "password": "nope"})
}

// TestLanyingOperationsCovered checks that chatgate has every operation of
// the Lanying API sections it implements (testdata/lanying-operations.txt:
// the reference's OPERATIONS.txt lines for user, token, roster, message,
// push and group but /group/file*), with the same method and path.
func TestLanyingOperationsCovered(t *testing.T) {
	e := newEnv(t)
	res, err := e.hc.Get(e.base + "/openapi.json")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var doc struct {
		Paths map[string]map[string]json.RawMessage `json:"paths"`
	}
	if err := json.Unmarshal(readAll(t, res.Body), &doc); err != nil {
		t.Fatal(err)
	}
	ops, err := os.ReadFile("testdata/lanying-operations.txt")
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, line := range strings.Split(strings.TrimSpace(string(ops)), "\n") {
		if strings.HasPrefix(line, "#") {
			continue
		}
		f := strings.Fields(line)
		if _, ok := doc.Paths[f[1]][strings.ToLower(f[0])]; !ok {
			t.Errorf("missing %s %s", f[0], f[1])
		}
		n++
	}
	if n != 171 {
		t.Fatalf("%d operations listed, want 171 (user 64, token 3, roster 22, message 10, push 3, group 69)", n)
	}
}
