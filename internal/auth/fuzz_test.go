package auth

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"testing"
	"time"
)

// FuzzVerify checks token parsing and claim validation on arbitrary
// input: Verify never panics, and a token it accepts has the app it was
// verified for, a known role, a positive user for user tokens, a
// non-negative generation and well-typed registered claims. The second
// argument is a claims payload that the fuzzer signs with the right
// secret, so that the claim checks behind the signature are reached.
//
// Seeds: testdata/fuzz/FuzzVerify. Run: go test -run=^$ -fuzz=FuzzVerify ./internal/auth/
func FuzzVerify(f *testing.F) {
	now := time.Unix(1_800_000_000, 0)
	sec := []byte("secret-of-app-a-0123456789")
	tok, _ := Issue(sec, "a", RoleUser, 42, time.Hour, now)
	f.Add(tok, []byte(`{"app":"a","role":"user","sub":"42","exp":1800003600,"iat":1800000000}`))
	f.Add("not.a.token", []byte(`{"app":"a","role":"admin","exp":"1800003600"}`))
	f.Fuzz(func(t *testing.T, token string, payload []byte) {
		check(t, sec, token, now)
		check(t, sec, sign(sec, payload), now)
	})
}

func sign(secret, payload []byte) string {
	head := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"HS256","typ":"JWT"}`))
	body := base64.RawURLEncoding.EncodeToString(payload)
	mac := hmac.New(sha256.New, secret)
	mac.Write([]byte(head + "." + body))
	return head + "." + body + "." + base64.RawURLEncoding.EncodeToString(mac.Sum(nil))
}

func check(t *testing.T, secret []byte, token string, now time.Time) {
	c, err := Verify(secret, "a", token, now)
	if err != nil {
		if c != nil {
			t.Fatalf("claims with an error: %+v %v", c, err)
		}
		return
	}
	switch {
	case c.App != "a":
		t.Fatalf("accepted a token of app %q", c.App)
	case c.Role != RoleUser && c.Role != RoleAdmin:
		t.Fatalf("accepted role %q", c.Role)
	case c.Role == RoleUser && c.UserID() <= 0:
		t.Fatalf("accepted a user token without a user: %q", c.Subject)
	case c.Gen < 0:
		t.Fatalf("accepted generation %d", c.Gen)
	case c.ExpiresAt == nil || !c.ExpiresAt.After(now):
		t.Fatalf("accepted exp %v", c.ExpiresAt)
	}
	if err := checkClaimTypes(token); err != nil {
		t.Fatalf("accepted mistyped claims: %v", err)
	}
	// CheckUser never panics on what Verify accepts.
	_ = CheckUser(c, UserStatus{Registered: true, Created: now.UnixMilli(), Gen: 1}, true)
}
