// Package s3test gives tests a real S3-compatible server: versitygw (the
// Versity S3 gateway, a Go S3 server that keeps objects in a POSIX
// directory) started on a free loopback port, stopped when the test ends.
//
// versitygw was chosen because it is a maintained, real S3 implementation
// that checks SigV4 signatures, presigned-URL expiry and POST policies
// (content-length-range) itself, builds with `go install` in a few minutes
// on a fresh machine with only Go (scripts/deps.sh need_versitygw), and
// needs nothing but a directory to run. MinIO would do as well but takes
// far longer to build; an in-process fake of the client library would
// prove nothing about a real store.
package s3test

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chatgate/chatgate/internal/redistest"
)

// Server is a running S3-compatible server.
type Server struct {
	Endpoint  string // http://127.0.0.1:<port>
	Region    string
	AccessKey string
	SecretKey string
	cmd       *exec.Cmd
}

// Start starts versitygw for the test with an empty root directory.
// Buckets are made by the test (any S3 client's MakeBucket).
func Start(tb testing.TB) *Server {
	tb.Helper()
	bin, err := Binary()
	if err != nil {
		tb.Fatalf("s3test: %v", err)
	}
	dir := tb.TempDir()
	s := &Server{Region: "us-east-1", AccessKey: "chatgatetest", SecretKey: "chatgate-test-secret-key"}
	for attempt := 0; attempt < 5; attempt++ {
		port, err := redistest.FreePort()
		if err != nil {
			tb.Fatalf("s3test: %v", err)
		}
		addr := "127.0.0.1:" + strconv.Itoa(port)
		cmd := exec.Command(bin, "--access", s.AccessKey, "--secret", s.SecretKey, "--region", s.Region,
			"--port", addr, "posix", dir)
		// The gateway reads its root credentials from the environment too;
		// keep the test's own environment from overriding the flags.
		cmd.Env = scrubbedEnv()
		logf, _ := os.Create(filepath.Join(dir, "..", "versitygw-"+strconv.Itoa(port)+".log"))
		if logf != nil {
			cmd.Stdout, cmd.Stderr = logf, logf
			tb.Cleanup(func() { logf.Close() })
		}
		if err := cmd.Start(); err != nil {
			tb.Fatalf("s3test: start %s: %v", bin, err)
		}
		s.cmd = cmd
		s.Endpoint = "http://" + addr
		if s.waitReady(20 * time.Second) {
			tb.Cleanup(s.Stop)
			return s
		}
		s.Stop()
	}
	tb.Fatalf("s3test: versitygw did not come up")
	return nil
}

// Binary finds versitygw: on PATH, else in `go env GOPATH`/bin where
// scripts/deps.sh installs it.
func Binary() (string, error) {
	if p, err := exec.LookPath("versitygw"); err == nil {
		return p, nil
	}
	gopath := os.Getenv("GOPATH")
	if gopath == "" {
		out, err := exec.Command("go", "env", "GOPATH").Output()
		if err == nil {
			gopath = strings.TrimSpace(string(out))
		}
	}
	for _, p := range filepath.SplitList(gopath) {
		bin := filepath.Join(p, "bin", "versitygw")
		if _, err := os.Stat(bin); err == nil {
			return bin, nil
		}
	}
	return "", fmt.Errorf("versitygw not found (scripts/test.sh installs it: go install github.com/versity/versitygw/cmd/versitygw@%s)", Version)
}

// Version is the versitygw release scripts/deps.sh installs.
const Version = "v1.8.0"

func scrubbedEnv() []string {
	var out []string
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "VGW_") || strings.HasPrefix(kv, "ROOT_ACCESS") || strings.HasPrefix(kv, "ROOT_SECRET") {
			continue
		}
		out = append(out, kv)
	}
	return out
}

func (s *Server) waitReady(d time.Duration) bool {
	deadline := time.Now().Add(d)
	c := &http.Client{Timeout: time.Second}
	for time.Now().Before(deadline) {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, s.Endpoint+"/", nil)
		resp, err := c.Do(req)
		cancel()
		if err == nil {
			resp.Body.Close()
			return true
		}
		if s.cmd.ProcessState != nil {
			return false
		}
		time.Sleep(50 * time.Millisecond)
	}
	return false
}

// Stop kills the server.
func (s *Server) Stop() {
	if s.cmd != nil && s.cmd.Process != nil {
		_ = s.cmd.Process.Kill()
		_ = s.cmd.Wait()
	}
}
