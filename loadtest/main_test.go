package loadtest

import (
	"bytes"
	"context"
	"strings"
	"testing"
)

func TestParseFlags(t *testing.T) {
	env := func(k string) string {
		if k == EnvSecret {
			return "secret-from-the-environment"
		}
		return ""
	}
	tests := []struct {
		name  string
		args  []string
		want  string // error substring; "" means valid
		check func(*testing.T, Config)
	}{
		{"chat with metrics", []string{"-scenario", "chat", "-ws", "ws://127.0.0.1:1/ws, ws://127.0.0.1:2/ws",
			"-metrics", "http://127.0.0.1:3/metrics,", "-router-metrics", "http://127.0.0.1:4"}, "",
			func(t *testing.T, c Config) {
				want := []Target{
					{Name: "gw1", Role: RoleGateway, WS: "ws://127.0.0.1:1/ws", Metrics: "http://127.0.0.1:3"},
					{Name: "gw2", Role: RoleGateway, WS: "ws://127.0.0.1:2/ws"},
					{Name: "rt1", Role: RoleRouter, Metrics: "http://127.0.0.1:4"},
				}
				if len(c.Targets) != len(want) {
					t.Fatalf("targets %+v", c.Targets)
				}
				for i := range want {
					if c.Targets[i] != want[i] {
						t.Fatalf("target %d = %+v, want %+v", i, c.Targets[i], want[i])
					}
				}
				if c.AppSecret != "secret-from-the-environment" || c.Progress == nil {
					t.Fatalf("secret %q progress %v", c.AppSecret, c.Progress)
				}
			}},
		{"idle quiet", []string{"-scenario", "idle", "-ws", "ws://127.0.0.1:1/ws", "-connections", "19000", "-hold", "30s", "-quiet"}, "",
			func(t *testing.T, c Config) {
				if c.Connections != 19000 || c.Hold.Seconds() != 30 || c.Progress != nil {
					t.Fatalf("%+v", c)
				}
			}},
		{"no gateway", []string{"-scenario", "chat"}, "gateway WebSocket URL", nil},
		{"more metrics than gateways", []string{"-ws", "ws://127.0.0.1:1/ws", "-metrics", "http://a:1,http://b:2"}, "-metrics has 2", nil},
		{"stray argument", []string{"-ws", "ws://127.0.0.1:1/ws", "extra"}, "unexpected argument", nil},
		{"bad log level", []string{"-ws", "ws://127.0.0.1:1/ws", "-log-level", "loud"}, "log-level", nil},
		{"unknown flag", []string{"-frobnicate"}, "not defined", nil},
		{"missing token file", []string{"-ws", "ws://127.0.0.1:1/ws", "-token-file", "/nonexistent/tokens"}, "token file", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stderr bytes.Buffer
			c, err := parseFlags(tt.args, &stderr, env)
			if tt.want == "" {
				if err != nil {
					t.Fatalf("want valid, got %v", err)
				}
				tt.check(t, c)
				return
			}
			if err == nil || !strings.Contains(err.Error()+stderr.String(), tt.want) {
				t.Fatalf("want an error about %q, got %v (stderr %q)", tt.want, err, stderr.String())
			}
		})
	}
}

func TestMainExitCodes(t *testing.T) {
	var out, errb bytes.Buffer
	if code := MainWith(context.Background(), []string{"-scenario", "chat"}, &out, &errb, func(string) string { return "" }); code != 2 {
		t.Fatalf("usage error exits %d, want 2 (%s)", code, errb.String())
	}
	if code := MainWith(context.Background(), []string{"-h"}, &out, &errb, func(string) string { return "" }); code != 0 {
		t.Fatalf("-h exits %d, want 0", code)
	}
	// A remote target is refused before anything is dialled.
	errb.Reset()
	code := MainWith(context.Background(), []string{"-scenario", "idle", "-ws", "ws://192.0.2.1:80/ws", "-secret", "0123456789abcdef", "-quiet"},
		&out, &errb, func(string) string { return "" })
	if code != 1 || !strings.Contains(errb.String(), "not on loopback") {
		t.Fatalf("remote target: exit %d, stderr %q", code, errb.String())
	}
}

func TestParseTokens(t *testing.T) {
	toks, err := ParseTokens(strings.NewReader("# users\n1 tok-a\n\n  2   tok-b  \n"))
	if err != nil || len(toks) != 2 || toks[1] != "tok-a" || toks[2] != "tok-b" {
		t.Fatalf("tokens %v, err %v", toks, err)
	}
	for _, bad := range []string{"", "x tok", "0 tok", "1 tok extra", "# only comments\n"} {
		if _, err := ParseTokens(strings.NewReader(bad)); err == nil {
			t.Errorf("ParseTokens(%q) accepted", bad)
		}
	}
}
