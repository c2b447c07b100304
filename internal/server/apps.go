package server

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"time"

	"github.com/chatgate/chatgate/internal/auth"
	"github.com/chatgate/chatgate/internal/config"
	"github.com/chatgate/chatgate/store"
)

// devTokenTTL is the life of the tokens printed for the dev app.
const devTokenTTL = 24 * time.Hour

// DevApp is the app the embedded mode creates for trying chatgate out, with
// ready-made tokens.
type DevApp struct {
	App        string
	AdminToken string
	// UserTokens are tokens of users 1 and 2, keyed by user id.
	UserTokens map[int64]string
}

// putApps declares the configured apps, keeping the creation time of apps
// that already exist.
func putApps(ctx context.Context, st *store.Store, apps []config.App) error {
	for _, a := range apps {
		app := store.App{ID: a.ID, Secret: a.Secret, Name: a.Name}
		cur, err := st.GetApp(ctx, a.ID)
		switch {
		case err == nil:
			app.Created = cur.Created
		case !errors.Is(err, store.ErrNotFound):
			return fmt.Errorf("server: apps: %w", err)
		}
		if err := st.PutApp(ctx, app); err != nil {
			return fmt.Errorf("server: apps: %w", err)
		}
	}
	return nil
}

// ensureDevApp creates the dev app with a random secret unless the
// configuration declared it, and mints its tokens.
func ensureDevApp(ctx context.Context, st *store.Store, id string, now time.Time) (*DevApp, error) {
	app, err := st.GetApp(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		secret := make([]byte, 32)
		if _, err := rand.Read(secret); err != nil {
			return nil, fmt.Errorf("server: dev app secret: %w", err)
		}
		app = &store.App{ID: id, Secret: hex.EncodeToString(secret), Name: "dev app (embedded mode)"}
		if err := st.PutApp(ctx, *app); err != nil {
			return nil, fmt.Errorf("server: dev app: %w", err)
		}
	} else if err != nil {
		return nil, fmt.Errorf("server: dev app: %w", err)
	}
	dev := &DevApp{App: id, UserTokens: map[int64]string{}}
	if dev.AdminToken, err = auth.Issue([]byte(app.Secret), id, auth.RoleAdmin, 0, devTokenTTL, now); err != nil {
		return nil, fmt.Errorf("server: dev app admin token: %w", err)
	}
	for _, uid := range []int64{1, 2} {
		tok, err := auth.Issue([]byte(app.Secret), id, auth.RoleUser, uid, devTokenTTL, now)
		if err != nil {
			return nil, fmt.Errorf("server: dev app user token: %w", err)
		}
		dev.UserTokens[uid] = tok
	}
	return dev, nil
}

// dialable turns a listen address into one a local client can dial: an
// unspecified host (":8080", "0.0.0.0:8080", "[::]:8080") means loopback.
func dialable(addr string) string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return addr
	}
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		host = "127.0.0.1"
	}
	return net.JoinHostPort(host, port)
}

// printDevBlock prints what a new user needs to try chatgate at once: the
// app, tokens and the exact client commands.
func printDevBlock(w io.Writer, info Info, path, clientCmd string) {
	d := info.Dev
	url := "ws://" + dialable(info.GatewayAddr) + path
	var b strings.Builder
	rule := strings.Repeat("=", 78)
	fmt.Fprintln(&b, rule)
	fmt.Fprintln(&b, " chatgate is running in EMBEDDED mode: in memory, single node, and")
	fmt.Fprintln(&b, " everything is lost when it exits. Set redis.addr for real use.")
	fmt.Fprintln(&b)
	fmt.Fprintf(&b, " WebSocket URL:  %s\n", url)
	if info.MetricsAddr != "" {
		fmt.Fprintf(&b, " Operations:     http://%s/metrics  /healthz  /readyz\n", dialable(info.MetricsAddr))
	}
	fmt.Fprintf(&b, " App id:         %s\n", d.App)
	fmt.Fprintf(&b, " Admin token:    %s\n", d.AdminToken)
	fmt.Fprintf(&b, " User 1 token:   %s\n", d.UserTokens[1])
	fmt.Fprintf(&b, " User 2 token:   %s\n", d.UserTokens[2])
	fmt.Fprintf(&b, " (tokens are valid for %d hours)\n", int(devTokenTTL.Hours()))
	fmt.Fprintln(&b)
	fmt.Fprintln(&b, " Try it: run each command in its own terminal, type a line, press Enter.")
	fmt.Fprintln(&b)
	fmt.Fprintf(&b, "   %s client -url %s -app %s -device 1 -to-user 2 -token %s\n", clientCmd, url, d.App, d.UserTokens[1])
	fmt.Fprintln(&b)
	fmt.Fprintf(&b, "   %s client -url %s -app %s -device 1 -to-user 1 -token %s\n", clientCmd, url, d.App, d.UserTokens[2])
	fmt.Fprintln(&b, rule)
	_, _ = io.WriteString(w, b.String())
}

// defaultNode names a process that has no configured name: the host name,
// so operators recognise it, plus a random suffix, so a restarted process
// never reads the deliveries addressed to its previous life.
func defaultNode() string {
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "chatgate"
	}
	// Node names end up in Redis keys and in route values split on '|':
	// keep them to a closed alphabet.
	host = strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.' {
			return r
		}
		return '-'
	}, host)
	if len(host) > 48 {
		host = host[:48]
	}
	suffix := make([]byte, 3)
	_, _ = rand.Read(suffix)
	return host + "-" + hex.EncodeToString(suffix)
}

// validNode reports whether a configured node name is safe in keys and
// route values.
func validNode(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-' || c == '.') {
			return false
		}
	}
	return true
}
