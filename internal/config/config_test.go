package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestLoad(t *testing.T) {
	dir := t.TempDir()
	write := func(body string) string {
		p := filepath.Join(dir, "c.yaml")
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	tests := []struct {
		name    string
		yaml    string
		env     []string
		wantErr string
		check   func(t *testing.T, c Config)
	}{
		{name: "defaults", check: func(t *testing.T, c Config) {
			if !c.Redis.Embedded() || !c.HasRole(RoleRouter) || c.Gateway.Limits.MaxFrameBytes != 64<<10 {
				t.Fatalf("%+v", c)
			}
		}},
		{name: "yaml", yaml: "roles: [gateway]\nredis: {addr: '127.0.0.1:6379'}\ngateway: {route_ttl: 30s, limits: {max_frame_bytes: 8192, max_content_bytes: 4096, max_sync_limit: 10, frames_per_second: 5, frame_burst: 5}}\n",
			check: func(t *testing.T, c Config) {
				if c.HasRole(RoleRouter) || !c.HasRole(RoleGateway) || c.Redis.Embedded() || c.Gateway.RouteTTL != 30*time.Second || c.Gateway.Limits.MaxFrameBytes != 8192 {
					t.Fatalf("%+v", c)
				}
			}},
		{name: "env overrides yaml", yaml: "redis: {addr: 'x:1'}\n", env: []string{"CHATGATE_REDIS_ADDR=127.0.0.1:7000", "CHATGATE_ROLES=gateway, router", "CHATGATE_GATEWAY_HEARTBEAT=5s", "CHATGATE_GATEWAY_LIMITS_MAX_SYNC_LIMIT=7", "OTHER=1"},
			check: func(t *testing.T, c Config) {
				if c.Redis.Addr != "127.0.0.1:7000" || len(c.Roles) != 2 || c.Gateway.Heartbeat != 5*time.Second || c.Gateway.Limits.MaxSyncLimit != 7 {
					t.Fatalf("%+v", c)
				}
			}},
		{name: "unknown key", yaml: "gatewey: {}\n", wantErr: "field gatewey not found"},
		{name: "bad role", env: []string{"CHATGATE_ROLES=janitor"}, wantErr: "unknown role"},
		{name: "bad duration", env: []string{"CHATGATE_GATEWAY_HEARTBEAT=soon"}, wantErr: "CHATGATE_GATEWAY_HEARTBEAT"},
		{name: "bad int", env: []string{"CHATGATE_ROUTER_PARTITIONS=many"}, wantErr: "CHATGATE_ROUTER_PARTITIONS"},
		{name: "partitions out of range", env: []string{"CHATGATE_ROUTER_PARTITIONS=0"}, wantErr: "partitions"},
		{name: "idle below heartbeat", env: []string{"CHATGATE_GATEWAY_IDLE_TIMEOUT=1s"}, wantErr: "idle_timeout"},
		{name: "short app secret", yaml: "apps: [{id: a, secret: short}]\n", wantErr: "at least 16"},
		{name: "bad app id", yaml: "apps: [{id: 'a b', secret: '0123456789abcdef'}]\n", wantErr: "bad app id"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := ""
			if tt.yaml != "" {
				path = write(tt.yaml)
			}
			c, err := Load(path, tt.env)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			tt.check(t, c)
		})
	}
}
