package auth

import (
	"errors"
	"strconv"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

func TestVerify(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	secA := []byte("secret-of-app-a-0123456789")
	secB := []byte("secret-of-app-b-0123456789")
	user, _ := Issue(secA, "a", RoleUser, 42, time.Hour, now)
	admin, _ := Issue(secA, "a", RoleAdmin, 0, time.Hour, now)
	expired, _ := Issue(secA, "a", RoleUser, 42, time.Minute, now.Add(-time.Hour))
	otherApp, _ := Issue(secB, "b", RoleUser, 42, time.Hour, now)
	none := jwt.NewWithClaims(jwt.SigningMethodNone, &Claims{App: "a", Role: RoleAdmin})
	noneTok, _ := none.SignedString(jwt.UnsafeAllowNoneSignatureType)
	noExp, _ := jwt.NewWithClaims(jwt.SigningMethodHS256, &Claims{App: "a", Role: RoleAdmin}).SignedString(secA)
	badRole, _ := jwt.NewWithClaims(jwt.SigningMethodHS256, &Claims{App: "a", Role: "root",
		RegisteredClaims: jwt.RegisteredClaims{ExpiresAt: jwt.NewNumericDate(now.Add(time.Hour))}}).SignedString(secA)

	tests := []struct {
		name    string
		token   string
		wantErr error
		wantUID int64
		role    string
	}{
		{"user", user, nil, 42, RoleUser},
		{"admin", admin, nil, 0, RoleAdmin},
		{"expired", expired, ErrExpired, 0, ""},
		{"other app", otherApp, ErrAppMismatch, 0, ""},
		{"alg none", noneTok, ErrMalformed, 0, ""},
		{"no exp", noExp, ErrMalformed, 0, ""},
		{"unknown role", badRole, ErrMalformed, 0, ""},
		{"garbage", "not.a.token", ErrMalformed, 0, ""},
		{"tampered", user[:len(user)-2] + "xx", ErrMalformed, 0, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Verify(secA, "a", tt.token, now)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
			if err == nil && (c.UserID() != tt.wantUID || c.Role != tt.role) {
				t.Fatalf("claims = %+v", c)
			}
		})
	}
}

func TestIssueRejects(t *testing.T) {
	now := time.Now()
	if _, err := Issue([]byte("short"), "a", RoleUser, 1, time.Hour, now); err == nil {
		t.Fatal("short secret accepted")
	}
	if _, err := Issue([]byte("0123456789abcdef"), "a", RoleUser, 0, time.Hour, now); err == nil {
		t.Fatal("user token without user id accepted")
	}
}

// signRaw signs an arbitrary claims object, as a forger holding the secret
// (or a buggy token minter) could.
func signRaw(t *testing.T, secret []byte, claims jwt.MapClaims) string {
	t.Helper()
	s, err := jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString(secret)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestVerifyRejectsMistypedClaims(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	sec := []byte("secret-of-app-a-0123456789")
	exp := now.Add(time.Hour).Unix()
	good := jwt.MapClaims{"app": "a", "role": RoleUser, "sub": "42", "exp": exp, "iat": now.Unix()}
	with := func(k string, v any) jwt.MapClaims {
		m := jwt.MapClaims{}
		for a, b := range good {
			m[a] = b
		}
		m[k] = v
		return m
	}
	if _, err := Verify(sec, "a", signRaw(t, sec, good), now); err != nil {
		t.Fatalf("well-typed token refused: %v", err)
	}
	tests := []struct {
		name   string
		claims jwt.MapClaims
	}{
		{"string exp", with("exp", strconv.FormatInt(exp, 10))},
		{"string iat", with("iat", strconv.FormatInt(now.Unix(), 10))},
		{"string nbf", with("nbf", "0")},
		{"numeric sub", with("sub", 42)},
		{"numeric iss", with("iss", 1)},
		{"object jti", with("jti", map[string]any{})},
		{"numeric aud", with("aud", 7)},
		{"aud array with a number", with("aud", []any{"x", 1})},
		{"string gen", with("gen", "1")},
		{"negative gen", with("gen", -1)},
		{"numeric role", with("role", 1)},
		{"bool exp", with("exp", true)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if c, err := Verify(sec, "a", signRaw(t, sec, tt.claims), now); !errors.Is(err, ErrMalformed) {
				t.Fatalf("Verify = %+v, %v; want ErrMalformed", c, err)
			}
		})
	}
}

func TestCheckUser(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	tok := func(gen int64, iat time.Time) *Claims {
		return &Claims{Role: RoleUser, Gen: gen, RegisteredClaims: jwt.RegisteredClaims{Subject: "7", IssuedAt: jwt.NewNumericDate(iat)}}
	}
	created := now.Add(-time.Hour).UnixMilli()
	reg := UserStatus{Registered: true, Created: created}
	tests := []struct {
		name string
		c    *Claims
		u    UserStatus
		req  bool
		want error
	}{
		{"registered", tok(0, now), reg, true, nil},
		{"unregistered, registration required", tok(0, now), UserStatus{}, true, ErrUserUnknown},
		{"unregistered, any user", tok(0, now), UserStatus{}, false, nil},
		{"deleted, any user", tok(0, now), UserStatus{Deleted: true}, false, ErrUserUnknown},
		{"deleted, registration required", tok(0, now), UserStatus{Deleted: true}, true, ErrUserUnknown},
		{"disabled", tok(0, now), UserStatus{Registered: true, Disabled: true, Created: created}, true, ErrUserDisabled},
		{"disabled without record", tok(0, now), UserStatus{Disabled: true}, false, ErrUserDisabled},
		{"older generation", tok(1, now), UserStatus{Registered: true, Created: created, Gen: 2}, true, ErrRevoked},
		{"current generation", tok(2, now), UserStatus{Registered: true, Created: created, Gen: 2}, true, nil},
		{"issued before the user was created", tok(0, now.Add(-2*time.Hour)), reg, true, ErrRevoked},
		{"issued in the second of creation", tok(0, time.UnixMilli(created).Truncate(time.Second)), reg, true, nil},
		{"no iat", &Claims{Role: RoleUser}, reg, true, ErrRevoked},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := CheckUser(tt.c, tt.u, tt.req); !errors.Is(err, tt.want) {
				t.Fatalf("CheckUser = %v, want %v", err, tt.want)
			}
		})
	}
}

func TestIssueGen(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	sec := []byte("secret-of-app-a-0123456789")
	tok, err := IssueGen(sec, "a", RoleUser, 9, 3, time.Hour, now)
	if err != nil {
		t.Fatal(err)
	}
	c, err := Verify(sec, "a", tok, now)
	if err != nil || c.Gen != 3 || c.UserID() != 9 {
		t.Fatalf("Verify = %+v, %v", c, err)
	}
	if _, err := IssueGen(sec, "a", RoleUser, 9, -1, time.Hour, now); err == nil {
		t.Fatal("negative generation accepted")
	}
}
