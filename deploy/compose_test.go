package deploy

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

type composeFile struct {
	Services map[string]composeService `yaml:"services"`
	Volumes  map[string]any            `yaml:"volumes"`
}

type composeService struct {
	Image string `yaml:"image"`
	Build *struct {
		Context string `yaml:"context"`
	} `yaml:"build"`
	Command     []string          `yaml:"command"`
	Environment map[string]string `yaml:"environment"`
	Restart     string            `yaml:"restart"`
	Healthcheck *struct {
		Test    []string `yaml:"test"`
		Disable bool     `yaml:"disable"`
	} `yaml:"healthcheck"`
	Volumes         []string `yaml:"volumes"`
	Ports           []string `yaml:"ports"`
	Profiles        []string `yaml:"profiles"`
	NetworkMode     string   `yaml:"network_mode"`
	StopGracePeriod string   `yaml:"stop_grace_period"`
	DependsOn       map[string]struct {
		Condition string `yaml:"condition"`
	} `yaml:"depends_on"`
}

type promConfig struct {
	RuleFiles     []string `yaml:"rule_files"`
	ScrapeConfigs []struct {
		JobName       string `yaml:"job_name"`
		StaticConfigs []struct {
			Targets []string          `yaml:"targets"`
			Labels  map[string]string `yaml:"labels"`
		} `yaml:"static_configs"`
	} `yaml:"scrape_configs"`
}

// TestCompose checks deploy/compose/compose.yaml as far as it can be
// without a Docker engine: the services the stack promises, their build
// context and commands, every mounted file, every chatgate configuration
// through `chatgate serve -check` (with the image's environment and the
// service's), health checks against the configured operations port,
// graceful stops longer than the gateway drain, and a Prometheus that
// scrapes every chatgate process with the labels the rules use.
func TestCompose(t *testing.T) {
	dir := filepath.Join("compose")
	var cf composeFile
	readYAML(t, filepath.Join(dir, "compose.yaml"), &cf)
	for _, want := range []string{"redis", "gateway1", "gateway2", "router1", "router2", "admin", "fakepush", "pushworker", "prometheus", "grafana"} {
		if _, ok := cf.Services[want]; !ok {
			t.Errorf("service %s missing", want)
		}
	}
	if redis := cf.Services["redis"]; !slices.Contains(redis.Command, "--appendonly") || redis.Command[slices.Index(redis.Command, "--appendonly")+1] != "yes" {
		t.Errorf("redis runs without AOF: %v", redis.Command)
	}
	baseEnv := imageEnv(t)
	// service -> (role, metrics port) of the chatgate processes.
	type proc struct {
		role string
		port string
		via  string // the service whose network it uses
	}
	procs := map[string]proc{}
	for name, svc := range cf.Services {
		who := "service " + name
		if svc.Restart == "" {
			t.Errorf("%s: no restart policy", who)
		}
		mounts := map[string]string{}
		for _, v := range svc.Volumes {
			parts := strings.Split(v, ":")
			if len(parts) < 2 {
				t.Errorf("%s: volume %q", who, v)
				continue
			}
			src := parts[0]
			if strings.HasPrefix(src, ".") || strings.HasPrefix(src, "/") {
				src = filepath.Join(dir, src)
				if _, err := os.Stat(src); err != nil {
					t.Errorf("%s: mounts %s, which does not exist: %v", who, parts[0], err)
				}
			} else if _, ok := cf.Volumes[src]; !ok {
				t.Errorf("%s: named volume %s is not declared", who, src)
			}
			mounts[parts[1]] = src
		}
		if svc.Build == nil {
			if svc.Image == "" {
				t.Errorf("%s: neither image nor build", who)
			}
			if svc.Healthcheck == nil {
				t.Errorf("%s: no health check", who)
			}
			continue
		}
		// A chatgate container: built from this repository's Dockerfile.
		ctxDir := filepath.Join(dir, svc.Build.Context)
		if b, err := os.ReadFile(filepath.Join(ctxDir, "Dockerfile")); err != nil || !strings.Contains(string(b), `ENTRYPOINT ["/chatgate"]`) {
			t.Errorf("%s: build context %s has no chatgate Dockerfile (%v)", who, ctxDir, err)
		}
		if _, err := os.Stat(filepath.Join(ctxDir, "cmd", "chatgate")); err != nil {
			t.Errorf("%s: build context is not the repository: %v", who, err)
		}
		env := slices.Clone(baseEnv)
		for k, v := range svc.Environment {
			env = append(env, k+"="+v)
		}
		cfg, isServe := checkServeArgs(t, who, svc.Command, mounts, env)
		if !isServe {
			if svc.Command[0] == "fakepush" && (svc.Healthcheck == nil || !svc.Healthcheck.Disable) {
				// Its only listener is HTTPS with a self-signed certificate.
				t.Errorf("%s: the fake has no plain-HTTP endpoint to probe; disable the inherited health check", who)
			}
			continue
		}
		if cfg.Node != "" && cfg.Node != svc.Environment["CHATGATE_NODE"] || svc.Environment["CHATGATE_NODE"] == "" {
			t.Errorf("%s: node %q: each process needs its own CHATGATE_NODE", who, cfg.Node)
		}
		_, port, err := net.SplitHostPort(cfg.Metrics.Listen)
		if err != nil || strings.HasPrefix(cfg.Metrics.Listen, "127.") {
			t.Errorf("%s: metrics.listen %q is not reachable by Prometheus", who, cfg.Metrics.Listen)
		}
		wantProbe := []string{"CMD", "/chatgate", "probe", "http://127.0.0.1:" + port + "/readyz"}
		if svc.Healthcheck == nil || !slices.Equal(svc.Healthcheck.Test, wantProbe) {
			t.Errorf("%s: health check %+v, want %v", who, svc.Healthcheck, wantProbe)
		}
		if !cfg.Metrics.Pprof {
			t.Errorf("%s: pprof off; the stack publishes the operations port on loopback for profiling", who)
		}
		roles := cfg.Roles
		if len(roles) != 1 || !strings.HasPrefix(name, roles[0]) {
			t.Errorf("%s runs roles %v", who, roles)
		}
		via := name
		if n, ok := strings.CutPrefix(svc.NetworkMode, "service:"); ok {
			via = n
		}
		procs[name] = proc{role: roles[0], port: port, via: via}
		if roles[0] == "gateway" {
			grace, err := time.ParseDuration(svc.StopGracePeriod)
			if err != nil || grace < cfg.Gateway.DrainTimeout+5*time.Second {
				t.Errorf("%s: stop_grace_period %q leaves no room for drain_timeout %s", who, svc.StopGracePeriod, cfg.Gateway.DrainTimeout)
			}
		}
		if d, ok := svc.DependsOn["redis"]; !ok || d.Condition != "service_healthy" {
			t.Errorf("%s: does not wait for a healthy Redis", who)
		}
	}
	if len(procs) != 6 {
		t.Errorf("%d chatgate serve processes, want 6: %v", len(procs), procs)
	}

	// Prometheus scrapes each of them with role and node labels, and
	// loads the rules file.
	var pc promConfig
	readYAML(t, filepath.Join(dir, "prometheus", "prometheus.yml"), &pc)
	scraped := map[string]map[string]string{}
	for _, sc := range pc.ScrapeConfigs {
		for _, st := range sc.StaticConfigs {
			for _, tg := range st.Targets {
				scraped[tg] = st.Labels
			}
		}
	}
	for name, p := range procs {
		tg := p.via + ":" + p.port
		labels, ok := scraped[tg]
		if !ok {
			t.Errorf("Prometheus does not scrape %s (%s)", name, tg)
			continue
		}
		if labels["role"] != p.role || labels["node"] != cf.Services[name].Environment["CHATGATE_NODE"] {
			t.Errorf("%s is scraped with labels %v", name, labels)
		}
	}
	prom := cf.Services["prometheus"]
	if !slices.Contains(prom.Volumes, "../prometheus/alerts.yaml:/etc/prometheus/rules/chatgate.yaml:ro") || !slices.Equal(pc.RuleFiles, []string{"/etc/prometheus/rules/*.yaml"}) {
		t.Errorf("Prometheus does not load deploy/prometheus/alerts.yaml: volumes %v, rule_files %v", prom.Volumes, pc.RuleFiles)
	}
	promtool(t, ".", "check", "config", "--syntax-only", filepath.Join(dir, "prometheus", "prometheus.yml"))

	// Grafana provisions the data source and the dashboards directory.
	var prov struct {
		Providers []struct {
			Options struct {
				Path string `yaml:"path"`
			} `yaml:"options"`
		} `yaml:"providers"`
	}
	readYAML(t, filepath.Join(dir, "grafana", "provisioning", "dashboards", "chatgate.yaml"), &prov)
	gf := cf.Services["grafana"]
	want := fmt.Sprintf("../grafana/dashboards:%s:ro", prov.Providers[0].Options.Path)
	if len(prov.Providers) != 1 || !slices.Contains(gf.Volumes, want) {
		t.Errorf("Grafana's dashboard provider %+v does not read the mounted dashboards (want volume %s in %v)", prov, want, gf.Volumes)
	}
	var ds struct {
		Datasources []struct {
			UID string `yaml:"uid"`
			URL string `yaml:"url"`
		} `yaml:"datasources"`
	}
	readYAML(t, filepath.Join(dir, "grafana", "provisioning", "datasources", "prometheus.yaml"), &ds)
	if len(ds.Datasources) != 1 || ds.Datasources[0].URL != "http://prometheus:9090" {
		t.Errorf("data source %+v", ds)
	}
}
