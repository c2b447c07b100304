// Package e2e proves the contracts of ARCHITECTURE.md with real processes:
// the built chatgate binary run as separate gateway and router processes
// against a real redis-server, killed with SIGKILL mid-traffic.
package e2e

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/chatgate/chatgate/internal/auth"
	"github.com/chatgate/chatgate/internal/redistest"
)

const (
	testApp    = "e2e"
	testSecret = "e2e-secret-0123456789abcdef"
)

// binary is the chatgate binary built once for the whole package.
var binary string

func TestMain(m *testing.M) {
	os.Exit(runMain(m))
}

func runMain(m *testing.M) int {
	flag.Parse()
	if testing.Short() {
		return m.Run()
	}
	dir, err := os.MkdirTemp("", "chatgate-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	binary = filepath.Join(dir, "chatgate")
	build := exec.Command("go", "build", "-race", "-o", binary, "../cmd/chatgate")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "e2e: build chatgate:", err)
		return 1
	}
	return m.Run()
}

// cluster is one test's set of processes sharing one redis-server.
type cluster struct {
	t     *testing.T
	redis string // a single Redis, for the test's own store access
	// redisYAML is the redis section of every process's configuration.
	redisYAML string
	dir       string
	mu        sync.Mutex
	procs     map[string]*proc
}

// proc is one chatgate process.
type proc struct {
	name    string
	roles   string
	wsAddr  string
	opsAddr string
	cfgPath string
	logPath string
	cmd     *exec.Cmd
	done    chan struct{}
}

func newCluster(t *testing.T) *cluster {
	t.Helper()
	if testing.Short() {
		t.Skip("multi-process test; skipped with -short")
	}
	addr := redistest.Start(t)
	c := &cluster{t: t, redis: addr, redisYAML: fmt.Sprintf("{addr: %q}", addr), dir: t.TempDir(), procs: map[string]*proc{}}
	t.Cleanup(c.stopAll)
	return c
}

// newRedisClusterCluster is newCluster on a real three-node Redis Cluster.
func newRedisClusterCluster(t *testing.T) (*cluster, []string) {
	t.Helper()
	if testing.Short() {
		t.Skip("multi-process test; skipped with -short")
	}
	addrs := redistest.StartCluster(t)
	quoted := make([]string, len(addrs))
	for i, a := range addrs {
		quoted[i] = fmt.Sprintf("%q", a)
	}
	c := &cluster{t: t, redisYAML: "{addrs: [" + strings.Join(quoted, ", ") + "]}", dir: t.TempDir(), procs: map[string]*proc{}}
	t.Cleanup(c.stopAll)
	return c, addrs
}

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// start launches a process running roles ("gateway", "router",
// "gateway,router") under a unique node name and waits until it is ready.
func (c *cluster) start(name, roles string) *proc {
	c.t.Helper()
	p := &proc{name: name, roles: roles, wsAddr: freeAddr(c.t), opsAddr: freeAddr(c.t)}
	p.cfgPath = filepath.Join(c.dir, name+".yaml")
	p.logPath = filepath.Join(c.dir, name+".log")
	rolesYAML := "[" + strings.ReplaceAll(roles, ",", ", ") + "]"
	cfg := fmt.Sprintf(`node: %s
roles: %s
redis: %s
gateway:
  listen: %q
  heartbeat: 2s
  idle_timeout: 10s
  route_ttl: 6s
  drain_timeout: 3s
  max_devices_per_user: 4
router:
  lease_ttl: 2s
  partitions: 8
metrics: {listen: %q}
log: {level: info, format: text}
apps:
  - {id: %s, secret: %q, name: e2e, users: any}
`, name+"-"+fmt.Sprint(time.Now().UnixNano()%1e6), rolesYAML, c.redisYAML, p.wsAddr, p.opsAddr, testApp, testSecret)
	if err := os.WriteFile(p.cfgPath, []byte(cfg), 0o600); err != nil {
		c.t.Fatal(err)
	}
	c.launch(p)
	return p
}

func (c *cluster) launch(p *proc) {
	c.t.Helper()
	logf, err := os.OpenFile(p.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		c.t.Fatal(err)
	}
	cmd := exec.Command(binary, "serve", "-config", p.cfgPath)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.Env = append(os.Environ(), "GORACE=halt_on_error=1")
	if err := cmd.Start(); err != nil {
		c.t.Fatalf("start %s: %v", p.name, err)
	}
	p.cmd, p.done = cmd, make(chan struct{})
	go func() {
		_ = cmd.Wait()
		logf.Close()
		close(p.done)
	}()
	c.mu.Lock()
	c.procs[p.name] = p
	c.mu.Unlock()
	c.waitReady(p)
}

func (c *cluster) waitReady(p *proc) {
	c.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-p.done:
			c.t.Fatalf("%s exited during start:\n%s", p.name, p.logTail(40))
		default:
		}
		resp, err := http.Get("http://" + p.opsAddr + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	c.t.Fatalf("%s not ready after 20s:\n%s", p.name, p.logTail(40))
}

// kill sends SIGKILL: no drain, no lease release, no route removal.
func (c *cluster) kill(p *proc) {
	c.t.Helper()
	_ = p.cmd.Process.Signal(syscall.SIGKILL)
	<-p.done
}

// restart starts a killed process again with the same configuration (and
// so the same listen addresses).
func (c *cluster) restart(p *proc) {
	c.t.Helper()
	c.launch(p)
}

// terminate sends SIGTERM and waits for a graceful exit.
func (c *cluster) terminate(p *proc) error {
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(15 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.done
		return fmt.Errorf("%s did not exit within 15s of SIGTERM", p.name)
	}
	if code := p.cmd.ProcessState.ExitCode(); code != 0 {
		return fmt.Errorf("%s exited with %d after SIGTERM:\n%s", p.name, code, p.logTail(30))
	}
	return nil
}

func (c *cluster) stopAll() {
	c.mu.Lock()
	procs := make([]*proc, 0, len(c.procs))
	for _, p := range c.procs {
		procs = append(procs, p)
	}
	c.mu.Unlock()
	for _, p := range procs {
		select {
		case <-p.done:
			continue
		default:
		}
		_ = p.cmd.Process.Signal(syscall.SIGKILL)
		<-p.done
	}
	if c.t.Failed() {
		for _, p := range procs {
			c.t.Logf("=== log of %s\n%s", p.name, p.logTail(60))
		}
	}
	// A data race in any process is a failure even if the test passed.
	for _, p := range procs {
		if b, err := os.ReadFile(p.logPath); err == nil && bytes.Contains(b, []byte("WARNING: DATA RACE")) {
			c.t.Errorf("data race in %s:\n%s", p.name, p.logTail(80))
		}
	}
}

func (p *proc) logTail(n int) string {
	b, err := os.ReadFile(p.logPath)
	if err != nil {
		return err.Error()
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

func (p *proc) url() string { return "ws://" + p.wsAddr + "/ws" }

// userToken mints a user token of the test app.
func userToken(t *testing.T, uid int64) string {
	t.Helper()
	tok, err := auth.Issue([]byte(testSecret), testApp, auth.RoleUser, uid, time.Hour, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func withTimeout(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

func issueFor(secret, app string, uid int64) (string, error) {
	return auth.Issue([]byte(secret), app, auth.RoleUser, uid, time.Hour, time.Now())
}
