package deploy

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/chatgate/chatgate/internal/config"
	"github.com/chatgate/chatgate/internal/server"
)

// repo is the repository root, relative to this package.
const repo = ".."

func readYAML(t *testing.T, path string, v any) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(b, v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

// subcommands are the chatgate subcommands, read from cmd/chatgate.
func subcommands(t *testing.T) []string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(repo, "cmd", "chatgate", "main.go"))
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, m := range regexp.MustCompile(`\{name: "([a-z]+)"`).FindAllStringSubmatch(string(b), -1) {
		out = append(out, m[1])
	}
	if !slices.Contains(out, "serve") {
		t.Fatalf("no serve subcommand found in cmd/chatgate/main.go: %v", out)
	}
	return out
}

// imageEnv is the environment the Dockerfile sets (ENV lines), which every
// container of the image starts with.
func imageEnv(t *testing.T) []string {
	t.Helper()
	f, err := os.Open(filepath.Join(repo, "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var env []string
	inEnv := false
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if strings.HasPrefix(line, "ENV ") {
			inEnv = true
			line = strings.TrimPrefix(line, "ENV ")
		} else if !inEnv {
			continue
		}
		inEnv = strings.HasSuffix(line, `\`)
		for _, kv := range strings.Fields(strings.TrimSuffix(line, `\`)) {
			env = append(env, kv)
		}
	}
	if len(env) == 0 {
		t.Fatal("Dockerfile sets no ENV")
	}
	return env
}

// checkServeArgs checks the arguments of a chatgate container: a known
// subcommand, and for serve a -config whose file (found through mounts,
// container path -> repository path) passes `chatgate serve -check` with
// env. It returns the loaded configuration (zero for other subcommands).
func checkServeArgs(t *testing.T, who string, args []string, mounts map[string]string, env []string) (config.Config, bool) {
	t.Helper()
	if len(args) == 0 || !slices.Contains(subcommands(t), args[0]) {
		t.Errorf("%s: command %v is not a chatgate subcommand (%v)", who, args, subcommands(t))
		return config.Config{}, false
	}
	if args[0] != "serve" {
		return config.Config{}, false
	}
	i := slices.Index(args, "-config")
	if i < 0 || i+1 >= len(args) {
		t.Errorf("%s: serve without -config: %v", who, args)
		return config.Config{}, false
	}
	file := mountedFile(mounts, args[i+1])
	if file == "" {
		t.Errorf("%s: -config %s is not in a mounted directory (%v)", who, args[i+1], mounts)
		return config.Config{}, false
	}
	cfg, err := config.Load(file, env)
	if err == nil {
		_, err = server.Check(cfg)
	}
	if err != nil {
		t.Errorf("%s: chatgate serve -check -config %s: %v", who, file, err)
		return cfg, false
	}
	return cfg, true
}

// mountedFile maps a container path onto the repository through mounts
// (container directory or file -> host path).
func mountedFile(mounts map[string]string, path string) string {
	for target, source := range mounts {
		if path == target {
			return source
		}
		if rel, ok := strings.CutPrefix(path, target+"/"); ok {
			return filepath.Join(source, filepath.FromSlash(rel))
		}
	}
	return ""
}

// needPromtool returns promtool's path. The suite needs it (scripts/test.sh
// installs Debian's prometheus package): the rules are not checked by
// anything else.
func needPromtool(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("promtool")
	if err != nil {
		t.Fatal("promtool is not installed: scripts/test.sh installs it (Debian package prometheus)")
	}
	return p
}

func promtool(t *testing.T, dir string, args ...string) {
	t.Helper()
	cmd := exec.Command(needPromtool(t), args...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("promtool %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	t.Logf("promtool %s:\n%s", strings.Join(args, " "), out)
}
