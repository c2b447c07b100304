package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/chatgate/chatgate/loadtest"
)

// exitStatus is a subcommand's own exit status, for subcommands that have
// already reported what went wrong (the load test: 1 means the run failed
// its checks, which it printed).
type exitStatus int

func (e exitStatus) Error() string { return fmt.Sprintf("exit status %d", int(e)) }

// runLoadtest is `chatgate loadtest`: the harness in loadtest/, with its
// own flags.
func runLoadtest(ctx context.Context, args []string, std stdio) error {
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	if code := loadtest.MainWith(ctx, args, std.stdout, std.stderr, std.getenv); code != 0 {
		return exitStatus(code)
	}
	return nil
}

func loadtestUsage(w io.Writer) {
	loadtest.MainWith(context.Background(), []string{"-h"}, w, w, func(string) string { return "" })
}
