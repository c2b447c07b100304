// Package auth owns chatgate's access tokens: HS256 JWTs signed with the
// secret of one app. An admin token acts for the whole app; a user token acts
// only as its user. The app a token belongs to is both in its claims and in
// the key that signs it, so a token of one app never verifies for another.
package auth

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
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

// Errors CheckUser returns: the token verified, but its user may not act.
var (
	// ErrUserUnknown: the user is not registered (and the app requires
	// registered users) or was deleted.
	ErrUserUnknown = errors.New("auth: the token's user is not registered or was deleted")
	// ErrUserDisabled: the user is disabled.
	ErrUserDisabled = errors.New("auth: the token's user is disabled")
	// ErrRevoked: the token was issued before the user's tokens were
	// revoked, or before the user (under this id) was created.
	ErrRevoked = errors.New("auth: token revoked")
)

// Claims are the claims of a chatgate token.
type Claims struct {
	App  string `json:"app"`
	Role string `json:"role"`
	// Gen is the user's token generation when the token was issued: a
	// revocation raises the user's generation, and tokens of a lower one
	// no longer authenticate (CheckUser). Absent means 0.
	Gen int64 `json:"gen,omitempty"`
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

// Issue signs a token for app. userID is ignored for admin tokens. The
// token carries generation 0: for a user whose tokens were ever revoked,
// use IssueGen with the user's current generation.
func Issue(secret []byte, app, role string, userID int64, ttl time.Duration, now time.Time) (string, error) {
	return IssueGen(secret, app, role, userID, 0, ttl, now)
}

// IssueGen is Issue for a user whose token generation is gen.
func IssueGen(secret []byte, app, role string, userID, gen int64, ttl time.Duration, now time.Time) (string, error) {
	if len(secret) < 16 {
		return "", fmt.Errorf("auth: app %s: secret must be at least 16 bytes", app)
	}
	if role != RoleUser && role != RoleAdmin {
		return "", fmt.Errorf("auth: unknown role %q", role)
	}
	if gen < 0 {
		return "", fmt.Errorf("auth: negative token generation %d", gen)
	}
	c := Claims{App: app, Role: role, Gen: gen, RegisteredClaims: jwt.RegisteredClaims{
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
	case c.Role == RoleUser && c.UserID() == 0, c.Role != RoleUser && c.Role != RoleAdmin, c.Gen < 0:
		return nil, ErrMalformed
	}
	if err := checkClaimTypes(token); err != nil {
		return nil, ErrMalformed
	}
	return &c, nil
}

// checkClaimTypes refuses a verified token whose registered claims have
// the wrong JSON type. The JWT library reads a NumericDate from a string
// as well ("exp": "1800000000"), and RFC 7519 says exp, nbf and iat are
// numbers and iss, sub and jti strings: a token that bends this was not
// made by chatgate, whatever its signature says.
func checkClaimTypes(token string) error {
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return errors.New("not three segments")
	}
	raw, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		return err
	}
	for name, v := range m {
		switch name {
		case "exp", "nbf", "iat", "gen":
			n, ok := v.(json.Number)
			if !ok {
				return fmt.Errorf("%s is not a number", name)
			}
			if _, err := n.Float64(); err != nil {
				return fmt.Errorf("%s: %w", name, err)
			}
		case "iss", "sub", "jti", "app", "role":
			if _, ok := v.(string); !ok {
				return fmt.Errorf("%s is not a string", name)
			}
		case "aud":
			switch a := v.(type) {
			case string:
			case []any:
				for _, x := range a {
					if _, ok := x.(string); !ok {
						return errors.New("aud holds a non-string")
					}
				}
			default:
				return errors.New("aud is neither a string nor an array")
			}
		}
	}
	return nil
}

// UserStatus is what CheckUser needs to know about a token's user.
type UserStatus struct {
	// Registered: the user has a record. Disabled: it is banned.
	Registered, Disabled bool
	// Deleted: the id belonged to a user that was deleted (a tombstone,
	// or an id the app's user counter once gave out and no record holds).
	Deleted bool
	// Created is when the user was registered (unix ms): a token issued
	// before it was issued to an earlier holder of the id.
	Created int64
	// Gen is the user's token generation: tokens of a lower one are revoked.
	Gen int64
}

// CheckUser decides whether a verified user token may act as its user.
// requireRegistered is the app's policy: when false, a user without a
// record acts freely (load tests, apps whose users live elsewhere), but a
// deleted user never does.
func CheckUser(c *Claims, u UserStatus, requireRegistered bool) error {
	switch {
	case u.Deleted:
		return ErrUserUnknown
	case u.Disabled:
		return ErrUserDisabled
	case !u.Registered && requireRegistered:
		return ErrUserUnknown
	case c.Gen < u.Gen:
		return ErrRevoked
	case u.Registered && (c.IssuedAt == nil || c.IssuedAt.Unix() < u.Created/1000):
		return ErrRevoked
	}
	return nil
}
