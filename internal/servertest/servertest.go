// Package servertest runs a chatgate process (internal/server) inside a
// test binary for the tests of other packages: started on the addresses of
// its configuration (use "127.0.0.1:0"), stopped when the test ends.
package servertest

import (
	"bytes"
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/chatgate/chatgate/internal/config"
	"github.com/chatgate/chatgate/internal/server"
)

// Run starts cfg and returns its bound addresses once every listener is
// bound and every role runs. The process stops at the end of the test,
// which fails if it does not stop cleanly within 30 s.
func Run(t testing.TB, cfg config.Config) server.Info {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	started := make(chan server.Info, 1)
	done := make(chan error, 1)
	go func() {
		done <- server.RunWith(ctx, cfg, slog.New(slog.DiscardHandler), server.Options{
			Stdout:  &bytes.Buffer{},
			OnStart: func(i server.Info) { started <- i },
		})
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("server %s: %v", cfg.Node, err)
			}
		case <-time.After(30 * time.Second):
			t.Errorf("server %s did not stop", cfg.Node)
		}
	})
	select {
	case info := <-started:
		return info
	case err := <-done:
		t.Fatalf("server %s: %v", cfg.Node, err)
	case <-time.After(30 * time.Second):
		t.Fatalf("server %s did not start", cfg.Node)
	}
	return server.Info{}
}
