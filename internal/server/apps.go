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

	"golang.org/x/crypto/bcrypt"

	"github.com/chatgate/chatgate/internal/auth"
	"github.com/chatgate/chatgate/internal/config"
	"github.com/chatgate/chatgate/internal/webdemo"
	"github.com/chatgate/chatgate/store"
)

// devTokenTTL is the life of the tokens printed for the dev app.
const devTokenTTL = 24 * time.Hour

// DevApp is the app the embedded mode creates for trying chatgate out, with
// ready-made users and tokens.
type DevApp struct {
	App        string
	AdminToken string
	// UserTokens are tokens of users 1 and 2, keyed by user id.
	UserTokens map[int64]string
	// Users are the registered users 1 and 2: their usernames and the
	// passwords (random at each start) that /token/* accept.
	Users map[int64]DevUser
	// Group is a group of users 1 and 2, for trying group chat.
	Group int64
}

// DevUser is a registered user of the dev app.
type DevUser struct {
	Username string
	Password string
}

// devUsers are the users the dev app's tokens act as: registered users, so
// that every REST operation works for them.
var devUsers = []struct {
	id   int64
	name string
}{{1, "alice"}, {2, "bob"}}

// devGroup is the dev app's group of users 1 and 2.
const devGroup = 100

// putApps declares the configured apps, keeping the creation time of apps
// that already exist.
func putApps(ctx context.Context, st *store.Store, apps []config.App) error {
	for _, a := range apps {
		app := store.App{ID: a.ID, Secret: a.Secret, Name: a.Name, Users: a.Users}
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
// configuration declared it, registers its users 1 and 2 and mints their
// tokens.
func ensureDevApp(ctx context.Context, st *store.Store, id string, passwordCost int, now time.Time) (*DevApp, error) {
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
	dev := &DevApp{App: id, UserTokens: map[int64]string{}, Users: map[int64]DevUser{}}
	if dev.AdminToken, err = auth.Issue([]byte(app.Secret), id, auth.RoleAdmin, 0, devTokenTTL, now); err != nil {
		return nil, fmt.Errorf("server: dev app admin token: %w", err)
	}
	if err := st.AddGroupMembers(ctx, id, devGroup, 1, 2); err != nil {
		return nil, fmt.Errorf("server: dev group: %w", err)
	}
	dev.Group = devGroup
	for _, u := range devUsers {
		pw, err := ensureDevUser(ctx, st, id, u.id, u.name, passwordCost, now)
		if err != nil {
			return nil, err
		}
		dev.Users[u.id] = DevUser{Username: u.name, Password: pw}
		tok, err := auth.Issue([]byte(app.Secret), id, auth.RoleUser, u.id, devTokenTTL, now)
		if err != nil {
			return nil, fmt.Errorf("server: dev app user token: %w", err)
		}
		dev.UserTokens[u.id] = tok
	}
	return dev, nil
}

// ensureDevUser registers a dev user under its fixed id, or gives an
// existing one a new password, and returns the password. The password is
// random: the dev block prints it, and nothing else knows it.
func ensureDevUser(ctx context.Context, st *store.Store, app string, uid int64, name string, cost int, now time.Time) (string, error) {
	raw := make([]byte, 6)
	if _, err := rand.Read(raw); err != nil {
		return "", fmt.Errorf("server: dev user password: %w", err)
	}
	pw := hex.EncodeToString(raw)
	hash, err := bcrypt.GenerateFromPassword([]byte(pw), cost)
	if err != nil {
		return "", fmt.Errorf("server: dev user password: %w", err)
	}
	_, err = st.CreateUser(ctx, app, store.NewUser{ID: uid, Username: name, PasswordHash: string(hash)}, now)
	if errors.Is(err, store.ErrUserExists) {
		err = st.SetUserFields(ctx, app, uid, map[string]string{"password": string(hash)})
	}
	if err != nil {
		return "", fmt.Errorf("server: dev user %d (%s): %w", uid, name, err)
	}
	return pw, nil
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
	if info.AdminAddr != "" {
		fmt.Fprintf(&b, " Browser demo:   http://%s%s  (log in as %s or %s, passwords below)\n",
			dialable(info.GatewayAddr), webdemo.Prefix, d.Users[1].Username, d.Users[2].Username)
	}
	fmt.Fprintf(&b, " WebSocket URL:  %s\n", url)
	if info.MetricsAddr != "" {
		fmt.Fprintf(&b, " Operations:     http://%s/metrics  /healthz  /readyz\n", dialable(info.MetricsAddr))
	}
	if info.AdminAddr != "" {
		fmt.Fprintf(&b, " REST API:       http://%s  (Lanying-compatible, docs/api/)\n", dialable(info.AdminAddr))
	}
	fmt.Fprintf(&b, " App id:         %s\n", d.App)
	fmt.Fprintf(&b, " Admin token:    %s\n", d.AdminToken)
	fmt.Fprintf(&b, " User 1 token:   %s\n", d.UserTokens[1])
	fmt.Fprintf(&b, " User 2 token:   %s\n", d.UserTokens[2])
	fmt.Fprintf(&b, " (tokens are valid for %d hours)\n", int(devTokenTTL.Hours()))
	for _, uid := range []int64{1, 2} {
		if u, ok := d.Users[uid]; ok {
			fmt.Fprintf(&b, " User %d login:   username %s, password %s\n", uid, u.Username, u.Password)
		}
	}
	if d.Group != 0 {
		fmt.Fprintf(&b, " Group:          %d (users 1 and 2; send with -to-group %d)\n", d.Group, d.Group)
	}
	fmt.Fprintln(&b)
	fmt.Fprintln(&b, " Try it: run each command in its own terminal, type a line, press Enter.")
	fmt.Fprintln(&b)
	fmt.Fprintf(&b, "   %s client -url %s -app %s -device 1 -to-user 2 -token %s\n", clientCmd, url, d.App, d.UserTokens[1])
	fmt.Fprintln(&b)
	fmt.Fprintf(&b, "   %s client -url %s -app %s -device 1 -to-user 1 -token %s\n", clientCmd, url, d.App, d.UserTokens[2])
	if info.AdminAddr != "" {
		api := "http://" + dialable(info.AdminAddr)
		fmt.Fprintln(&b)
		fmt.Fprintln(&b, " REST API: register a user, then read user 1's profile as user 1:")
		fmt.Fprintln(&b)
		fmt.Fprintf(&b, "   curl -X POST '%s/user/register/v2' -H 'Content-Type: application/json' -H 'app_id: %s' -d '{\"username\": \"carol\", \"password\": \"secret\"}'\n", api, d.App)
		fmt.Fprintln(&b)
		fmt.Fprintf(&b, "   curl '%s/user/profile' -H 'app_id: %s' -H 'access-token: %s'\n", api, d.App, d.UserTokens[1])
		fmt.Fprintln(&b)
		fmt.Fprintln(&b, " and send user 2 a message from user 1 as the backend (it shows up in user 2's client):")
		fmt.Fprintln(&b)
		fmt.Fprintf(&b, "   curl -X POST '%s/message/send' -H 'Content-Type: application/json' -H 'app_id: %s' -H 'access-token: %s' -d '{\"from_user_id\": 1, \"targets\": [2], \"type\": 1, \"content_type\": 0, \"content\": \"hello from the REST API\"}'\n", api, d.App, d.AdminToken)

		fmt.Fprintln(&b)
		fmt.Fprintln(&b, " Files: upload an avatar for user 1 (ask for an upload URL, PUT the file to its")
		fmt.Fprintln(&b, " upload_url, then set the avatar to its download_url). In the terminal client,")
		fmt.Fprintln(&b, " /file PATH uploads and sends a file.")
		fmt.Fprintln(&b)
		fmt.Fprintf(&b, "   curl '%s/file/upload/avatar/user' -H 'app_id: %s' -H 'access-token: %s'\n", api, d.App, d.UserTokens[1])
		fmt.Fprintln(&b, "   curl -X PUT --data-binary @avatar.png '<upload_url of the answer>'")
		fmt.Fprintf(&b, "   curl -X POST '%s/user/avatar' -H 'Content-Type: application/json' -H 'app_id: %s' -H 'access-token: %s' -d '{\"avatar\": \"<download_url of the answer>\"}'\n", api, d.App, d.UserTokens[1])
		fmt.Fprintln(&b)
		fmt.Fprintln(&b, " Groups: user 1 creates one with user 2 in it (the answer's group_id names it),")
		fmt.Fprintln(&b, " then type /to-group <group_id> in both clients and chat; /help lists the")
		fmt.Fprintln(&b, " clients' group commands (/create-group, /invite; add -api "+api+" to them):")
		fmt.Fprintln(&b)
		fmt.Fprintf(&b, "   curl -X POST '%s/group/create' -H 'Content-Type: application/json' -H 'app_id: %s' -H 'access-token: %s' -d '{\"name\": \"friends\", \"user_list\": [2]}'\n", api, d.App, d.UserTokens[1])
	}
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

// demoConfig tells the browser demo which app to log in to: the dev app in
// embedded mode, else the first configured app.
func demoConfig(p runParts) webdemo.Config {
	c := webdemo.Config{WSPath: p.cfg.Gateway.Path}
	switch {
	case p.dev != nil:
		c.AppID = p.dev.App
		var names []string
		for _, u := range devUsers {
			names = append(names, p.dev.Users[u.id].Username)
		}
		c.Hint = fmt.Sprintf("Embedded mode: log in as %s (passwords are in chatgate's start block). Group %d has both users.", strings.Join(names, " or "), p.dev.Group)
	case len(p.cfg.Apps) > 0:
		c.AppID = p.cfg.Apps[0].ID
	}
	return c
}
