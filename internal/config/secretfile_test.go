package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestSecretFile(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	secret := write("secret", "  0123456789abcdef-from-a-file\n")
	short := write("short", "tooshort\n")
	tests := []struct {
		name, yaml, want, err string
	}{
		{"read", "apps: [{id: a, secret_file: " + secret + "}]", "0123456789abcdef-from-a-file", ""},
		{"both", "apps: [{id: a, secret: 0123456789abcdef0, secret_file: " + secret + "}]", "", "not both"},
		{"missing", "apps: [{id: a, secret_file: " + filepath.Join(dir, "none") + "}]", "", "no such file"},
		{"too short", "apps: [{id: a, secret_file: " + short + "}]", "", "at least 16 bytes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := Load(write("c.yaml", tt.yaml), nil)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("err %v, want %q", err, tt.err)
				}
				return
			}
			if err != nil || cfg.Apps[0].Secret != tt.want {
				t.Fatalf("secret %q err %v", cfg.Apps[0].Secret, err)
			}
		})
	}
}
