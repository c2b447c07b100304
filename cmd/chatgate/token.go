package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"time"

	"github.com/chatgate/chatgate/internal/auth"
	"github.com/chatgate/chatgate/internal/config"
	"github.com/chatgate/chatgate/internal/server"
	"github.com/chatgate/chatgate/store"
)

type tokenOpts struct {
	config string
	app    string
	admin  bool
	user   int64
	ttl    time.Duration
}

func tokenFlags(w io.Writer) (*flag.FlagSet, *tokenOpts) {
	o := &tokenOpts{}
	fs := newFlagSet("token", "[-config file] -app ID (-admin | -user N) [-ttl 24h]", w)
	fs.StringVar(&o.config, "config", "", "YAML configuration file (default $CHATGATE_CONFIG)")
	fs.StringVar(&o.app, "app", "", "app id (required); its secret comes from the config's apps or from Redis")
	fs.BoolVar(&o.admin, "admin", false, "mint an admin token, acting for the whole app")
	fs.Int64Var(&o.user, "user", 0, "mint a user token for this user id")
	fs.DurationVar(&o.ttl, "ttl", 24*time.Hour, "token lifetime")
	return fs, o
}

func runToken(ctx context.Context, args []string, std stdio) error {
	fs, o := tokenFlags(std.stderr)
	if err := parse(fs, args); err != nil {
		return err
	}
	switch {
	case o.app == "":
		fmt.Fprintln(std.stderr, "-app is required")
		fs.Usage()
		return errUsage
	case o.admin == (o.user != 0):
		fmt.Fprintln(std.stderr, "give exactly one of -admin and -user N")
		fs.Usage()
		return errUsage
	case o.user < 0:
		fmt.Fprintln(std.stderr, "-user must be a positive user id")
		return errUsage
	case o.ttl <= 0:
		fmt.Fprintln(std.stderr, "-ttl must be positive")
		return errUsage
	}
	if o.config == "" {
		o.config = std.getenv("CHATGATE_CONFIG")
	}
	cfg, err := config.Load(o.config, std.environ)
	if err != nil {
		return err
	}
	secret, err := appSecret(ctx, cfg, o.app)
	if err != nil {
		return err
	}
	role := auth.RoleUser
	if o.admin {
		role = auth.RoleAdmin
	}
	var gen int64
	if o.user != 0 {
		if gen, err = userGen(ctx, cfg, o.app, o.user); err != nil {
			return err
		}
	}
	tok, err := auth.IssueGen([]byte(secret), o.app, role, o.user, gen, o.ttl, time.Now())
	if err != nil {
		return err
	}
	fmt.Fprintln(std.stdout, tok)
	return nil
}

// userGen reads a user's token generation from the configured Redis, so
// that a token minted for a user whose tokens were revoked works. Without
// Redis (embedded mode) there is nothing to read.
func userGen(ctx context.Context, cfg config.Config, app string, uid int64) (int64, error) {
	if cfg.Redis.Embedded() {
		return 0, nil
	}
	rdb, err := server.NewRedisClient(cfg.Redis)
	if err != nil {
		return 0, err
	}
	defer rdb.Close()
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	st, err := store.New(rdb, store.Options{}).UserAuth(ctx, app, uid, false)
	if err != nil {
		return 0, err
	}
	return st.Gen, nil
}

// appSecret finds the signing secret of app: first in the configuration,
// then in the configured Redis, where apps created by other means live.
func appSecret(ctx context.Context, cfg config.Config, app string) (string, error) {
	for _, a := range cfg.Apps {
		if a.ID == app {
			return a.Secret, nil
		}
	}
	if cfg.Redis.Embedded() {
		return "", fmt.Errorf("app %q is not in the config's apps and no Redis is configured; in embedded mode `chatgate serve` prints tokens for its dev app at start", app)
	}
	rdb, err := server.NewRedisClient(cfg.Redis)
	if err != nil {
		return "", err
	}
	defer rdb.Close()
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	a, err := store.New(rdb, store.Options{}).GetApp(ctx, app)
	if errors.Is(err, store.ErrNotFound) {
		return "", fmt.Errorf("app %q not found in the config or in Redis", app)
	}
	if err != nil {
		return "", err
	}
	return a.Secret, nil
}
