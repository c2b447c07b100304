package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/chatgate/chatgate/internal/config"
	"github.com/chatgate/chatgate/internal/server"
)

type serveOpts struct {
	config string
	check  bool
}

func serveFlags(w io.Writer) (*flag.FlagSet, *serveOpts) {
	o := &serveOpts{}
	fs := newFlagSet("serve", "[-config file] [-check]", w)
	fs.StringVar(&o.config, "config", "", "YAML configuration file (default $CHATGATE_CONFIG; none: defaults, embedded mode)")
	fs.BoolVar(&o.check, "check", false, "only check the configuration (file and CHATGATE_* variables), print the roles it runs, and exit")
	return fs, o
}

func runServe(ctx context.Context, args []string, std stdio) error {
	fs, o := serveFlags(std.stderr)
	if err := parse(fs, args); err != nil {
		return err
	}
	if o.config == "" {
		o.config = std.getenv("CHATGATE_CONFIG")
	}
	cfg, err := config.Load(o.config, std.environ)
	if err != nil {
		return err
	}
	log, err := server.NewLogger(cfg.Log, std.stderr)
	if err != nil {
		return err
	}
	if o.check {
		roles, err := server.Check(cfg)
		if err != nil {
			return err
		}
		fmt.Fprintf(std.stdout, "configuration ok: roles %s\n", strings.Join(roles, ", "))
		return nil
	}
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	go func() {
		// After the first signal, restore the default handling: a second
		// Ctrl-C kills a shutdown that takes too long.
		<-ctx.Done()
		stop()
	}()
	return server.RunWith(ctx, cfg, log, server.Options{
		Stdout:        std.stdout,
		ClientCommand: clientCommand(std.argv0),
		Version:       versionString(),
	})
}

// clientCommand is how to start this binary again, for the commands the
// embedded mode prints: `go run` builds into a temporary directory that is
// gone by the time the user pastes the command.
func clientCommand(argv0 string) string {
	if argv0 == "" {
		return "chatgate"
	}
	if strings.Contains(argv0, string(filepath.Separator)+"go-build") {
		return "go run ./cmd/chatgate"
	}
	return argv0
}
