// Package auth owns chatgate's access tokens: HS256 JWTs signed with the
// secret of one app. An admin token acts for the whole app; a user token acts
// only as its user. The app a token belongs to is both in its claims and in
// the key that signs it, so a token of one app never verifies for another.
package auth

import (
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// Roles a token can carry.
const (
	RoleUser  = "user"
	RoleAdmin = "admin"
)

// Errors Verify returns; callers map them to protocol or API codes.
var (
	ErrMalformed   = errors.New("auth: token malformed or forged")
	ErrExpired     = errors.New("auth: token expired")
	ErrAppMismatch = errors.New("auth: token belongs to another app")
)

// Claims are the claims of a chatgate token.
type Claims struct {
	App  string `json:"app"`
	Role string `json:"role"`
	jwt.RegisteredClaims
}

// UserID is the user the token acts as; 0 for admin tokens.
func (c *Claims) UserID() int64 {
	if c.Role != RoleUser {
		return 0
	}
	id, err := strconv.ParseInt(c.Subject, 10, 64)
	if err != nil || id <= 0 {
		return 0
	}
	return id
}

// Issue signs a token for app. userID is ignored for admin tokens.
func Issue(secret []byte, app, role string, userID int64, ttl time.Duration, now time.Time) (string, error) {
	if len(secret) < 16 {
		return "", fmt.Errorf("auth: app %s: secret must be at least 16 bytes", app)
	}
	if role != RoleUser && role != RoleAdmin {
		return "", fmt.Errorf("auth: unknown role %q", role)
	}
	c := Claims{App: app, Role: role, RegisteredClaims: jwt.RegisteredClaims{
		Issuer:    "chatgate",
		IssuedAt:  jwt.NewNumericDate(now),
		ExpiresAt: jwt.NewNumericDate(now.Add(ttl)),
	}}
	if role == RoleUser {
		if userID <= 0 {
			return "", fmt.Errorf("auth: user token needs a positive user id")
		}
		c.Subject = strconv.FormatInt(userID, 10)
	}
	s, err := jwt.NewWithClaims(jwt.SigningMethodHS256, &c).SignedString(secret)
	if err != nil {
		return "", fmt.Errorf("auth: sign token: %w", err)
	}
	return s, nil
}

// Verify checks a token against the secret of app and returns its claims.
func Verify(secret []byte, app, token string, now time.Time) (*Claims, error) {
	var c Claims
	_, err := jwt.ParseWithClaims(token, &c, func(*jwt.Token) (any, error) { return secret, nil },
		jwt.WithValidMethods([]string{jwt.SigningMethodHS256.Alg()}),
		jwt.WithExpirationRequired(),
		jwt.WithTimeFunc(func() time.Time { return now }),
	)
	switch {
	case errors.Is(err, jwt.ErrTokenExpired):
		return nil, ErrExpired
	case err != nil:
		// A token signed for another app fails the signature check against
		// this app's secret; look at the unverified claims only to say why.
		var peek Claims
		if _, _, perr := jwt.NewParser().ParseUnverified(token, &peek); perr == nil && peek.App != "" && peek.App != app {
			return nil, ErrAppMismatch
		}
		return nil, ErrMalformed
	case c.App != app:
		return nil, ErrAppMismatch
	case c.Role == RoleUser && c.UserID() == 0, c.Role != RoleUser && c.Role != RoleAdmin:
		return nil, ErrMalformed
	}
	return &c, nil
}
