package deploy

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/chatgate/chatgate/client"
	"github.com/chatgate/chatgate/internal/auth"
	"github.com/chatgate/chatgate/internal/config"
	"github.com/chatgate/chatgate/internal/fakepush"
	"github.com/chatgate/chatgate/internal/redistest"
	"github.com/chatgate/chatgate/internal/servertest"
	"github.com/chatgate/chatgate/loadtest"
	"github.com/chatgate/chatgate/protocol"
)

// TestAlertRules runs promtool over the alert rules: they load, and each
// alert fires on the series of its trouble and not on a healthy cluster
// (prometheus/alerts_test.yaml).
func TestAlertRules(t *testing.T) {
	promtool(t, "prometheus", "check", "rules", "alerts.yaml")
	promtool(t, "prometheus", "test", "rules", "alerts_test.yaml")
}

type dashboard struct {
	UID    string  `json:"uid"`
	Title  string  `json:"title"`
	Panels []panel `json:"panels"`
}

type panel struct {
	Type    string `json:"type"`
	Title   string `json:"title"`
	Targets []struct {
		Expr string `json:"expr"`
	} `json:"targets"`
}

// queries returns every panel query of every dashboard, keyed by
// "dashboard / panel".
func queries(t *testing.T) map[string][]string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join("grafana", "dashboards", "*.json"))
	if err != nil || len(files) < 3 {
		t.Fatalf("dashboards: %v %v", files, err)
	}
	out := map[string][]string{}
	uids := map[string]bool{}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var d dashboard
		dec := json.NewDecoder(bytes.NewReader(b))
		if err := dec.Decode(&d); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		if d.UID == "" || uids[d.UID] || d.Title == "" {
			t.Errorf("%s: uid %q title %q (uids must be unique)", f, d.UID, d.Title)
		}
		uids[d.UID] = true
		for _, p := range d.Panels {
			if p.Type == "row" {
				continue
			}
			if len(p.Targets) == 0 {
				t.Errorf("%s: panel %q has no query", f, p.Title)
			}
			for _, tg := range p.Targets {
				if strings.TrimSpace(tg.Expr) == "" {
					t.Errorf("%s: panel %q has an empty query", f, p.Title)
				}
				key := d.Title + " / " + p.Title
				out[key] = append(out[key], tg.Expr)
			}
		}
	}
	return out
}

// alertQueries returns the expressions of the alert rules.
func alertQueries(t *testing.T) map[string]string {
	t.Helper()
	var rules struct {
		Groups []struct {
			Rules []struct {
				Alert string `yaml:"alert"`
				Expr  string `yaml:"expr"`
			} `yaml:"rules"`
		} `yaml:"groups"`
	}
	readYAML(t, filepath.Join("prometheus", "alerts.yaml"), &rules)
	out := map[string]string{}
	for _, g := range rules.Groups {
		for _, r := range g.Rules {
			out["alert "+r.Alert] = r.Expr
		}
	}
	return out
}

// grafanaVars replaces the dashboards' variables with values Prometheus
// accepts, so that promtool can parse the queries.
var grafanaVars = strings.NewReplacer("$__rate_interval", "1m", "$node", ".*", "${datasource}", "prometheus")

// TestDashboardQueriesParse has promtool parse every panel query (as a
// recording rule: promtool has no other offline PromQL check).
func TestDashboardQueriesParse(t *testing.T) {
	var b strings.Builder
	b.WriteString("groups:\n  - name: dashboards\n    rules:\n")
	keys := sortedKeys(queries(t))
	all := queries(t)
	n := 0
	for _, k := range keys {
		for _, e := range all[k] {
			exprJSON, _ := json.Marshal(grafanaVars.Replace(e))
			fmt.Fprintf(&b, "      # %s\n      - record: dashboard:query_%d\n        expr: %s\n", k, n, exprJSON)
			n++
		}
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "dashboards.yaml"), []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	promtool(t, dir, "check", "rules", "dashboards.yaml")
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// metricRef finds the metric names a query selects: chatgate's own, the Go
// and process collectors', and Prometheus's `up`.
var metricRef = regexp.MustCompile(`\b((?:chatgate|go|process)_[a-z0-9_]+|up)\b\s*[{\[)]`)

func metricNames(expr string) []string {
	var out []string
	for _, m := range metricRef.FindAllStringSubmatch(expr, -1) {
		out = append(out, m[1])
	}
	return out
}

// family maps a sample name onto its family: histograms and summaries
// expose name_bucket, name_sum and name_count.
func family(name string, fams map[string]string) (string, bool) {
	if _, ok := fams[name]; ok {
		return name, true
	}
	for _, suf := range []string{"_bucket", "_sum", "_count"} {
		if base, ok := strings.CutSuffix(name, suf); ok {
			if typ := fams[base]; typ == "histogram" || typ == "summary" {
				return base, true
			}
		}
	}
	return "", false
}

// TestMetricsExist checks every metric a dashboard panel or an alert
// queries against what chatgate serves: a process with every role, driven
// through each path (chat, kicks, bad frames, REST, a push campaign with a
// provider refusing tokens), is scraped, and each name must be one of its
// metric families. The README's Observability table must list each
// chatgate_ family too.
func TestMetricsExist(t *testing.T) {
	if testing.Short() {
		t.Skip("starts redis-server, chatgate and a fake APNs/FCM")
	}
	used := map[string][]string{}
	for where, exprs := range queries(t) {
		for _, e := range exprs {
			for _, n := range metricNames(e) {
				used[n] = append(used[n], where)
			}
		}
	}
	for where, e := range alertQueries(t) {
		for _, n := range metricNames(e) {
			used[n] = append(used[n], where)
		}
	}
	if len(used) < 30 {
		t.Fatalf("only %d metric names found in the dashboards and rules: %v", len(used), used)
	}
	var names []string
	for _, n := range sortedKeys(used) {
		if n != "up" {
			names = append(names, n)
		}
	}
	fams := scrapeDriven(t, names)
	for _, n := range sortedKeys(used) {
		if n == "up" {
			continue // Prometheus's own, per target
		}
		if _, ok := family(n, fams); !ok {
			t.Errorf("%s (used by %v) is not served by chatgate", n, used[n])
		}
	}
	readme, err := os.ReadFile(filepath.Join(repo, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range sortedKeys(fams) {
		short, ok := strings.CutPrefix(n, "chatgate_")
		if ok && !bytes.Contains(readme, []byte("`"+short+"`")) && !bytes.Contains(readme, []byte("`"+short+"{")) {
			t.Errorf("README's Observability table does not list %s", n)
		}
	}
}

// scrapeDriven runs one process with every role against a real Redis and a
// fake APNs/FCM, drives each path whose metrics only appear once used, and
// returns the metric families of its /metrics (name -> type).
func scrapeDriven(t *testing.T, want []string) map[string]string {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	fake, err := fakepush.Start(ctx, fakepush.Options{})
	if err != nil {
		t.Fatal(err)
	}
	push, err := fake.WriteCredentials(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	const app, secret = "ops", "deploy-test-secret-0123456789"
	cfg := config.Default()
	cfg.Node = "deploy-all"
	cfg.Roles = []string{config.RoleGateway, config.RoleRouter, config.RoleAdmin, config.RolePushWorker}
	cfg.Redis.Addr = redistest.Start(t)
	cfg.Gateway.Listen, cfg.Metrics.Listen, cfg.Admin.Listen = "127.0.0.1:0", "127.0.0.1:0", "127.0.0.1:0"
	cfg.Admin.PasswordCost = 4
	cfg.Router.Partitions = 4
	// The load scenarios' users are not registered: any user id acts.
	cfg.Apps = []config.App{{ID: app, Secret: secret, Name: "deploy test", Users: "any", Push: push}}
	info := servertest.Run(t, cfg)
	metricsURL := "http://" + info.MetricsAddr

	// Chat: connects, sends, deliveries, routing, ingress lag sampling.
	c := loadtest.DefaultConfig()
	c.Scenario, c.AppID, c.AppSecret = loadtest.ScenarioChat, app, secret
	c.Targets = []loadtest.Target{{Name: "gw", Role: loadtest.RoleGateway, WS: "ws://" + info.GatewayAddr + "/ws", Metrics: metricsURL}}
	c.Redis = cfg.Redis.Addr
	c.Connections, c.DevicesPerUser, c.ConnectRate, c.Hold = 8, 2, 100, 100*time.Millisecond
	c.Rate, c.Duration, c.Drain = 20, time.Second, 10*time.Second
	if res, err := loadtest.Run(ctx, c, io.Discard); err != nil || !res.OK {
		t.Fatalf("chat: %v %+v", err, res)
	}
	// Push: a campaign to devices with tokens, then one whose FCM tokens
	// the provider refuses for good (dead tokens removed, jobs failed).
	p := loadtest.DefaultConfig()
	p.Scenario, p.AppID, p.AppSecret = loadtest.ScenarioPush, app, secret
	p.Targets = []loadtest.Target{{Name: "pw", Role: loadtest.RolePushWorker, Metrics: metricsURL}}
	p.API, p.FakePush = "http://"+info.AdminAddr, fake
	p.Connections, p.DevicesPerUser = 8, 1
	p.Duration, p.Drain, p.APIWait = 5*time.Second, time.Second, 10*time.Second
	if res, err := loadtest.Run(ctx, p, io.Discard); err != nil || !res.OK {
		t.Fatalf("push: %v %+v", err, res)
	}
	// APNs refuses the campaign's tokens for good (dead tokens removed).
	admin, err := auth.Issue([]byte(secret), app, auth.RoleAdmin, 0, time.Hour, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	api := restClient{t: t, base: "http://" + info.AdminAddr, app: app, token: admin}
	var users []struct {
		UserID int64 `json:"user_id"`
	}
	api.call("GET", "/user/list?page_num=1&page_size=5", 0, nil, &users)
	if len(users) < 3 {
		t.Fatalf("the push scenario registered %d users, want 3 or more", len(users))
	}
	// sender connects; blocker has blacklisted it (its send fails with an
	// err frame); quiet has push turned off and is offline with a push
	// token (its push is dropped by policy).
	blocker, quiet, sender := users[0].UserID, users[1].UserID, users[len(users)-1].UserID
	api.call("POST", fmt.Sprintf("/roster/block?user_id=%d", sender), blocker, nil, nil)
	api.call("POST", "/user/settings", quiet, map[string]any{"no_push": true}, nil)
	fake.FailNext(fakepush.APNs, fakepush.Fault{Status: 400, Reason: "BadDeviceToken"})
	defer fake.ClearFaults()
	p.Duration = 3 * time.Second
	if _, err := loadtest.Run(ctx, p, io.Discard); err != nil {
		t.Fatalf("push with refused tokens: %v", err)
	}
	// A refused send (err frame), a push dropped by policy, an operator's
	// kick.
	tok, err := auth.Issue([]byte(secret), app, auth.RoleUser, sender, time.Hour, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	conn, err := client.Dial(ctx, client.Config{URL: "ws://" + info.GatewayAddr + "/ws", AppID: app, Token: tok, DeviceSN: 1, Platform: protocol.PlatformLinux})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.Send(ctx, client.Outgoing{ToUser: blocker, Content: "x"}); err == nil {
		t.Fatal("a send to a user who blocked the sender was accepted")
	}
	if _, err := conn.Send(ctx, client.Outgoing{ToUser: quiet, Content: "x"}); err != nil {
		t.Fatal(err)
	}
	api.call("POST", "/user/kick", sender, nil, nil)
	select {
	case <-conn.Done():
	case <-time.After(20 * time.Second):
		t.Fatal("kicked connection still open")
	}

	// Gauges sampled every few seconds (lag, backlog) and outcomes
	// recorded after the runs returned appear within a few seconds.
	var fams map[string]string
	deadline := time.Now().Add(30 * time.Second)
	for {
		fams = scrape(t, metricsURL+"/metrics")
		missing := 0
		for _, n := range want {
			if _, ok := family(n, fams); !ok {
				missing++
			}
		}
		if missing == 0 || time.Now().After(deadline) {
			return fams
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// restClient calls the REST API with an admin token.
type restClient struct {
	t                *testing.T
	base, app, token string
}

// call sends a JSON body (nil: none), acting as user uid when uid > 0, and
// decodes the envelope's data into out (nil: ignored); any code but 200
// fails the test.
func (c restClient) call(method, path string, uid int64, body, out any) {
	c.t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, c.base+path, rd)
	if err != nil {
		c.t.Fatal(err)
	}
	req.Header.Set("app_id", c.app)
	req.Header.Set("access-token", c.token)
	req.Header.Set("Content-Type", "application/json")
	if uid > 0 {
		req.Header.Set("user_id", fmt.Sprint(uid))
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	var env struct {
		Code    int             `json:"code"`
		Data    json.RawMessage `json:"data"`
		Message string          `json:"message"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&env); err != nil || env.Code != 200 {
		c.t.Fatalf("%s %s: code %d %q (%v)", method, path, env.Code, env.Message, err)
	}
	if out != nil {
		if err := json.Unmarshal(env.Data, out); err != nil {
			c.t.Fatalf("%s %s: data %s: %v", method, path, env.Data, err)
		}
	}
}

// scrape returns the metric families (# TYPE lines) of a /metrics page.
func scrape(t *testing.T, url string) map[string]string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s %v", url, resp.Status, err)
	}
	fams := map[string]string{}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) == 4 && f[0] == "#" && f[1] == "TYPE" {
			fams[f[2]] = f[3]
		}
	}
	return fams
}
