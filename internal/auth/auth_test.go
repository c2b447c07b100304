package auth

import (
	"errors"
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
