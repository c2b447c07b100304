package config

import (
	"os"
	"path/filepath"
	"testing"
)

// FuzzLoad feeds arbitrary YAML files and environment overrides to Load:
// it never panics, and a configuration it accepts passes Validate again
// (Load does not return a configuration its own checks refuse).
//
// Seeds: testdata/fuzz/FuzzLoad. Run: go test -run=^$ -fuzz=FuzzLoad ./internal/config/
func FuzzLoad(f *testing.F) {
	f.Add([]byte("redis: {addr: 'localhost:6379'}\ngateway: {send_queue: 10}\n"), "CHATGATE_GATEWAY_ROUTE_TTL=5s")
	f.Add([]byte("apps:\n  - {id: a, secret: '0123456789abcdef', users: any}\n"), "CHATGATE_ROLES=gateway,router")
	f.Fuzz(func(t *testing.T, yaml []byte, env string) {
		path := filepath.Join(t.TempDir(), "c.yaml")
		if err := os.WriteFile(path, yaml, 0o600); err != nil {
			t.Fatal(err)
		}
		cfg, err := Load(path, []string{env})
		if err != nil {
			return
		}
		if err := cfg.Validate(); err != nil {
			t.Fatalf("Load accepted a configuration Validate refuses: %v", err)
		}
	})
}
