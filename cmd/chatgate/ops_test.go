package main

import (
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestServeCheck(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	good := write("good.yaml", "roles: [gateway]\nredis: {addr: \"redis:6379\"}\n")
	tests := []struct {
		name     string
		env      []string
		args     []string
		code     int
		out, err string
	}{
		{"ok", nil, []string{"-check", "-config", good}, 0, "configuration ok: roles gateway", ""},
		{"env overrides", []string{"CHATGATE_ROLES=router"}, []string{"-check", "-config", good}, 0, "roles router", ""},
		{"embedded needs every role", nil, []string{"-check", "-config", write("emb.yaml", "roles: [gateway]\n")}, 1, "", "embedded mode"},
		{"unknown key", nil, []string{"-check", "-config", write("bad.yaml", "redis: {adr: x}\n")}, 1, "", "field adr not found"},
		{"unknown role", nil, []string{"-check", "-config", write("role.yaml", "roles: [frontend]\nredis: {addr: r:6379}\n")}, 1, "", "unknown role"},
		{"bad node", []string{"CHATGATE_NODE=a b"}, []string{"-check", "-config", good}, 1, "", "node"},
		{"missing file", nil, []string{"-check", "-config", filepath.Join(dir, "none.yaml")}, 1, "", "no such file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, out, errs := runCmd(t, tt.env, append([]string{"serve"}, tt.args...)...)
			if code != tt.code || !strings.Contains(out, tt.out) || !strings.Contains(errs, tt.err) {
				t.Fatalf("exit %d (want %d)\nstdout %q (want %q)\nstderr %q (want %q)", code, tt.code, out, tt.out, errs, tt.err)
			}
		})
	}
}

func TestProbe(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/readyz" {
			w.WriteHeader(http.StatusServiceUnavailable)
			_, _ = w.Write([]byte(`{"ready":false}`))
			return
		}
		_, _ = w.Write([]byte("ok\n"))
	}))
	defer srv.Close()
	tests := []struct {
		name string
		args []string
		code int
		want string
	}{
		{"healthy", []string{srv.URL + "/healthz"}, 0, "200 OK"},
		{"not ready", []string{srv.URL + "/readyz"}, 1, `503 Service Unavailable {"ready":false}`},
		{"refused", []string{"http://127.0.0.1:1/healthz"}, 1, "refused"},
		{"bad url", []string{"::"}, 1, "missing protocol scheme"},
		{"no url", nil, 2, "want exactly one URL"},
		{"two urls", []string{srv.URL, srv.URL}, 2, "want exactly one URL"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, out, errs := runCmd(t, nil, append([]string{"probe"}, tt.args...)...)
			if code != tt.code || !strings.Contains(out+errs, tt.want) {
				t.Fatalf("exit %d (want %d), output %q (want %q)", code, tt.code, out+errs, tt.want)
			}
		})
	}
}
