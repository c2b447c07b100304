// Package redistest gives tests a real Redis: the one named by REDIS_ADDR,
// or a redis-server it starts on a free loopback port and stops afterwards.
package redistest

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// Server is a redis-server process started for tests.
type Server struct {
	Addr string
	cmd  *exec.Cmd
}

// Start returns the address of a real Redis for the test, starting one when
// REDIS_ADDR is not set. The server is stopped when the test ends.
func Start(tb testing.TB) string {
	tb.Helper()
	if addr := os.Getenv("REDIS_ADDR"); addr != "" {
		return addr
	}
	s, err := StartServer()
	if err != nil {
		tb.Fatalf("redistest: %v", err)
	}
	tb.Cleanup(s.Stop)
	return s.Addr
}

// Client returns a go-redis client on a real Redis for the test.
func Client(tb testing.TB) *redis.Client {
	tb.Helper()
	c := redis.NewClient(&redis.Options{Addr: Start(tb)})
	tb.Cleanup(func() { c.Close() })
	return c
}

// StartServer starts redis-server on a free loopback port without
// persistence and waits until it answers. Use it from TestMain.
func StartServer() (*Server, error) { return startServer() }

func startServer(extra ...string) (*Server, error) {
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		return nil, fmt.Errorf("redis-server not found on PATH (apt-get install redis-server): %w", err)
	}
	for attempt := 0; attempt < 5; attempt++ {
		port, err := FreePort()
		if err != nil {
			return nil, err
		}
		args := append([]string{"--port", strconv.Itoa(port), "--bind", "127.0.0.1",
			"--save", "", "--appendonly", "no", "--protected-mode", "no", "--loglevel", "warning",
			"--maxclients", "10000"}, extra...)
		cmd := exec.Command(bin, args...)
		stdout, _ := cmd.StdoutPipe()
		cmd.Stderr = cmd.Stdout
		if err := cmd.Start(); err != nil {
			return nil, fmt.Errorf("start redis-server: %w", err)
		}
		go drain(stdout)
		s := &Server{Addr: "127.0.0.1:" + strconv.Itoa(port), cmd: cmd}
		if s.waitReady(5 * time.Second) {
			return s, nil
		}
		s.Stop()
	}
	return nil, fmt.Errorf("redis-server did not come up")
}

func drain(r interface{ Read([]byte) (int, error) }) {
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		if line := sc.Text(); strings.Contains(line, "# ") {
			fmt.Fprintln(os.Stderr, "redis-server:", line)
		}
	}
}

func (s *Server) waitReady(d time.Duration) bool {
	c := redis.NewClient(&redis.Options{Addr: s.Addr, MaxRetries: -1})
	defer c.Close()
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		err := c.Ping(ctx).Err()
		cancel()
		if err == nil {
			return true
		}
		time.Sleep(20 * time.Millisecond)
	}
	return false
}

// Stop kills the server.
func (s *Server) Stop() {
	if s.cmd.Process != nil {
		_ = s.cmd.Process.Kill()
		_ = s.cmd.Wait()
	}
}

// FreePort returns a loopback TCP port that was free a moment ago, for a
// server process the test harness starts (redis-server, the S3 server).
func FreePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("find free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
