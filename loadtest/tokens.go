package loadtest

import (
	"bufio"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/chatgate/chatgate/internal/auth"
)

// tokenSource hands out the user token of each user of a run.
type tokenSource struct {
	app    string
	secret []byte
	fixed  map[int64]string
	ttl    time.Duration
	now    time.Time
}

func newTokenSource(c Config, now time.Time) *tokenSource {
	return &tokenSource{
		app:    c.AppID,
		secret: []byte(c.AppSecret),
		fixed:  c.Tokens,
		// Tokens must outlive the run, reconnects at its very end included.
		ttl: c.timeout() + time.Hour,
		now: now,
	}
}

func (t *tokenSource) token(uid int64) (string, error) {
	if t.fixed != nil {
		tok, ok := t.fixed[uid]
		if !ok {
			return "", fmt.Errorf("no token for user %d in the token file", uid)
		}
		return tok, nil
	}
	tok, err := auth.Issue(t.secret, t.app, auth.RoleUser, uid, t.ttl, t.now)
	if err != nil {
		return "", fmt.Errorf("mint token for user %d: %w", uid, err)
	}
	return tok, nil
}

// ParseTokens reads a token file: one "<user_id> <token>" per line; blank
// lines and lines starting with '#' are skipped.
func ParseTokens(r io.Reader) (map[int64]string, error) {
	out := map[int64]string{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for line := 1; sc.Scan(); line++ {
		s := strings.TrimSpace(sc.Text())
		if s == "" || strings.HasPrefix(s, "#") {
			continue
		}
		f := strings.Fields(s)
		if len(f) != 2 {
			return nil, fmt.Errorf("token file line %d: want \"<user_id> <token>\"", line)
		}
		uid, err := strconv.ParseInt(f[0], 10, 64)
		if err != nil || uid <= 0 {
			return nil, fmt.Errorf("token file line %d: bad user id %q", line, f[0])
		}
		out[uid] = f[1]
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("token file: %w", err)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("token file holds no tokens")
	}
	return out, nil
}
