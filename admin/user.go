package admin

import (
	"net/mail"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"

	"golang.org/x/crypto/bcrypt"

	"github.com/chatgate/chatgate/store"
)

// Limits of the user operations (docs/api/users.md lists them).
const (
	maxBatch       = 500 // items of a batch operation and ids of /user/disable
	maxUsername    = 64
	maxPassword    = 72 // bytes: bcrypt reads no more
	maxNickname    = 128
	maxURL         = 1024
	maxDescription = 1024
	maxInfo        = 4096 // private_info, public_info
	maxAlias       = 128
	maxTag         = 64
	maxTagsPerUser = 100
	maxPushToken   = 512
	maxNotifier    = 64
	maxGUID        = 128
	maxQuestion    = 256 // auth_question, auth_answer
	maxPageSize    = 500
)

// users holds what the user and token operations share.
type users struct {
	s    *Server
	cost int
	// dummy is a hash no password matches: a login for an unknown user
	// costs one comparison too, so timing does not tell which users exist.
	// Made at the first such login, not at start: a hash is slow.
	dummyOnce sync.Once
	dummy     []byte
}

func (s *Server) newUsers() *users {
	return &users{s: s, cost: s.cfg.PasswordCost}
}

// hash is the stored form of a password.
func (u *users) hash(pw string) (string, error) {
	h, err := bcrypt.GenerateFromPassword([]byte(pw), u.cost)
	if err != nil {
		return "", err
	}
	return string(h), nil
}

// matches compares a password with a stored hash; an empty hash (unknown
// user) is compared with the dummy so that it takes as long.
func (u *users) matches(hash, pw string) bool {
	if hash == "" {
		u.dummyOnce.Do(func() {
			// A cost below bcrypt.MinCost makes bcrypt use its default,
			// so this cannot fail for any configuration.
			u.dummy, _ = bcrypt.GenerateFromPassword([]byte("no password matches this hash"), u.cost)
		})
		_ = bcrypt.CompareHashAndPassword(u.dummy, []byte(pw))
		return false
	}
	return bcrypt.CompareHashAndPassword([]byte(hash), []byte(pw)) == nil
}

// target is the user an operation acts on: the token's user, or the
// user_id header of an admin token. It must exist. A disabled user's own
// token is refused (10016); an admin may still manage a disabled user
// (read it, kick it, delete it, enable it).
func (u *users) target(r *Req) (int64, error) {
	uid, err := r.User()
	if err != nil {
		return 0, err
	}
	return uid, u.check(r, uid)
}

func (u *users) check(r *Req, uid int64) error {
	st, err := u.s.st.UserState(r.Ctx, r.App.ID, uid)
	if err != nil {
		return err
	}
	return u.stateErr(r, uid, st)
}

// stateErr is the answer to an operation on a user in state st.
func (u *users) stateErr(r *Req, uid int64, st store.UserState) error {
	switch {
	case st == store.UserMissing:
		return Errf(CodeUserNotFound, "user %d does not exist", uid)
	case st == store.UserDisabled && !r.Admin:
		return Errf(CodeUserDisabled, "user %d is disabled", uid)
	}
	return nil
}

// userErrs are the codes of an operation on the acting user, plus extra.
func userErrs(extra ...int) []int {
	return append([]int{CodeUserNotFound, CodeUserDisabled}, extra...)
}

var putPost = []string{"PUT", "POST"}

// userRoutes are the operations of the user group (Lanying's user.md); the
// token group is in token.go. docs/api/users.md documents both.
func (s *Server) userRoutes() []*Route {
	u := s.newUsers()
	var all []*Route
	for _, part := range [][]*Route{u.accountRoutes(), u.profileRoutes(), u.settingsRoutes(), u.pushRoutes(), u.deviceRoutes()} {
		all = append(all, part...)
	}
	return all
}

// checkUsername applies Lanying's rule: letters, digits and underscore,
// not only digits (those would read as user ids), not beginning with
// "maxim" or "mta" (reserved).
func checkUsername(name, v string) error {
	if v == "" {
		return BadParam(name, "required")
	}
	if len(v) > maxUsername {
		return BadParam(name, "at most %d characters", maxUsername)
	}
	digits := true
	for i := 0; i < len(v); i++ {
		c := v[i]
		switch {
		case c >= '0' && c <= '9':
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c == '_':
			digits = false
		default:
			return BadParam(name, "only letters, digits and underscore are allowed")
		}
	}
	lower := strings.ToLower(v)
	switch {
	case digits:
		return BadParam(name, "cannot be only digits")
	case strings.HasPrefix(lower, "maxim"), strings.HasPrefix(lower, "mta"):
		return BadParam(name, "cannot begin with maxim or mta")
	}
	return nil
}

func checkPassword(name, v string) error {
	switch {
	case v == "":
		return BadParam(name, "required")
	case len(v) > maxPassword:
		return BadParam(name, "at most %d bytes", maxPassword)
	}
	return nil
}

// checkText accepts valid UTF-8 of at most max bytes without control
// characters (line breaks and tabs allowed when multiline).
func checkText(name, v string, max int, multiline bool) error {
	if len(v) > max {
		return BadParam(name, "at most %d bytes", max)
	}
	if !utf8.ValidString(v) {
		return BadParam(name, "not valid UTF-8")
	}
	for _, c := range v {
		if unicode.IsControl(c) && !(multiline && (c == '\n' || c == '\r' || c == '\t')) {
			return BadParam(name, "control characters are not allowed")
		}
	}
	return nil
}

// checkMobile accepts an optional "+" and 5 to 20 digits.
func checkMobile(name, v string) error {
	d := strings.TrimPrefix(v, "+")
	if len(d) < 5 || len(d) > 20 {
		return BadParam(name, "5 to 20 digits, optionally after a +")
	}
	for i := 0; i < len(d); i++ {
		if d[i] < '0' || d[i] > '9' {
			return BadParam(name, "5 to 20 digits, optionally after a +")
		}
	}
	return nil
}

func checkEmail(name, v string) error {
	a, err := mail.ParseAddress(v)
	if err != nil || a.Address != v || a.Name != "" || len(v) > 254 {
		return BadParam(name, "not an email address (name@domain, at most 254 bytes)")
	}
	return nil
}

// checkToken accepts a push token: 1 to max bytes of printable ASCII.
func checkToken(name, v string, max int) error {
	if v == "" {
		return BadParam(name, "required")
	}
	if len(v) > max {
		return BadParam(name, "at most %d bytes", max)
	}
	for i := 0; i < len(v); i++ {
		if v[i] <= ' ' || v[i] > '~' {
			return BadParam(name, "printable ASCII without spaces only")
		}
	}
	return nil
}

func checkHour(name string, v int32) error {
	if v < 0 || v > 23 {
		return BadParam(name, "an hour 0-23, got %d", v)
	}
	return nil
}

func checkDeviceSN(name string, v int32) error {
	if v <= 0 {
		return BadParam(name, "a positive device serial number, got %d", v)
	}
	return nil
}

// checkTimeZone accepts an IANA zone name ("Asia/Shanghai", "UTC"); ""
// means the app's default.
func checkTimeZone(name, v string) error {
	if v == "" {
		return nil
	}
	if len(v) > 64 || v == "Local" || strings.Contains(v, "..") {
		return BadParam(name, "an IANA time zone name such as Asia/Shanghai")
	}
	for _, c := range v {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.ContainsRune("_/+-", c)) {
			return BadParam(name, "an IANA time zone name such as Asia/Shanghai")
		}
	}
	if _, err := time.LoadLocation(v); err != nil {
		return BadParam(name, "unknown time zone %q", clip(v))
	}
	return nil
}

// checkList checks the length of a batch list.
func checkList(name string, n int) error {
	switch {
	case n == 0:
		return BadParam(name, "required: a non-empty list")
	case n > maxBatch:
		return BadParam(name, "at most %d items, got %d", maxBatch, n)
	}
	return nil
}

// itemResult is the per-item answer of the batch operations.
type itemResult struct {
	UserID  int64  `json:"user_id"`
	Success bool   `json:"success"`
	Reason  string `json:"reason,omitempty" doc:"why the item failed"`
}
