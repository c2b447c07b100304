package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/chatgate/chatgate/internal/auth"
	"github.com/chatgate/chatgate/internal/fakepush"
	"github.com/chatgate/chatgate/store"
)

// pushCluster starts processes whose app sends to fake APNs/FCM.
type pushCluster struct {
	*cluster
	fake    *fakepush.Server
	appPush string // the apps[].push YAML flow mapping
}

func newPushCluster(t *testing.T, latency time.Duration) *pushCluster {
	t.Helper()
	c := newCluster(t)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	fake, err := fakepush.Start(ctx, fakepush.Options{Latency: latency})
	if err != nil {
		t.Fatal(err)
	}
	p, err := fake.WriteCredentials(c.dir)
	if err != nil {
		t.Fatal(err)
	}
	appPush := fakepush.FlowYAML(p)
	return &pushCluster{cluster: c, fake: fake, appPush: appPush}
}

// start launches roles under the node name node (so that the test can
// tell which worker holds what), every process with the app's push
// credentials (each publishes them at start).
func (c *pushCluster) start(node, roles string) (*proc, string) {
	c.t.Helper()
	p := &proc{name: node, roles: roles, wsAddr: freeAddr(c.t), opsAddr: freeAddr(c.t)}
	adminAddr := freeAddr(c.t)
	p.cfgPath = filepath.Join(c.dir, node+".yaml")
	p.logPath = filepath.Join(c.dir, node+".log")
	cfg := fmt.Sprintf(`node: %s
roles: [%s]
redis: %s
gateway: {listen: %q}
admin: {listen: %q, rate_limit: 0}
router: {lease_ttl: 2s, partitions: 4, push_partitions: 4}
push:
  claim_idle: 2s
  concurrency: 64
  batch: 64
  campaign_page: 200
  campaign_rate: 1000
  retry_base: 100ms
  retry_max: 500ms
metrics: {listen: %q}
log: {level: info, format: text}
apps:
  - {id: %s, secret: %q, name: e2e, users: any, push: %s}
`, node, strings.ReplaceAll(roles, ",", ", "), c.redisYAML, p.wsAddr, adminAddr, p.opsAddr, testApp, testSecret, c.appPush)
	if err := os.WriteFile(p.cfgPath, []byte(cfg), 0o600); err != nil {
		c.t.Fatal(err)
	}
	c.launch(p)
	return p, adminAddr
}

// rest calls the REST API with an admin token and decodes data into out.
func rest(t *testing.T, addr, path string, body, out any) {
	t.Helper()
	tok, err := auth.Issue([]byte(testSecret), testApp, auth.RoleAdmin, 0, time.Hour, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(body)
	req, _ := http.NewRequest("POST", "http://"+addr+path, bytes.NewReader(b))
	req.Header["app_id"] = []string{testApp}
	req.Header["access-token"] = []string{tok}
	req.Header.Set("Content-Type", "application/json")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	var env struct {
		Code    int             `json:"code"`
		Message string          `json:"message"`
		Data    json.RawMessage `json:"data"`
	}
	if err := json.Unmarshal(raw, &env); err != nil || env.Code != 200 {
		t.Fatalf("POST %s: %d %s (%v): %s", path, env.Code, env.Message, err, raw)
	}
	if err := json.Unmarshal(env.Data, out); err != nil {
		t.Fatalf("POST %s: data %s: %v", path, env.Data, err)
	}
}

// TestPushCampaignWorkerKilled runs a campaign to a few thousand offline
// devices over two push worker processes, SIGKILLs the one expanding it
// mid-campaign, and checks that every device got its push at least once,
// that the statistics match what the providers accepted, and that the
// extra pushes stay within what a kill can cause.
func TestPushCampaignWorkerKilled(t *testing.T) {
	const (
		users   = 3000
		latency = 30 * time.Millisecond
	)
	c := newPushCluster(t, latency)
	ctx := withTimeout(t, 60*time.Second)
	rdb := redis.NewClient(&redis.Options{Addr: c.redis})
	defer rdb.Close()
	st := store.New(rdb, store.Options{})

	// Devices registered as /user/token/bind would: half iPhones, half
	// Android phones, all offline.
	tokenOf := func(u int64) (notifier, tok string) {
		if u%2 == 0 {
			return "apns", fmt.Sprintf("%064x", u)
		}
		return "fcm", fmt.Sprintf("fcm-%d", u)
	}
	at := time.Now().Add(-time.Hour)
	for u := int64(1); u <= users; u++ {
		n, tok := tokenOf(u)
		if err := st.SetPushToken(ctx, testApp, u, 1, tok, n, at); err != nil {
			t.Fatal(err)
		}
		if err := rdb.ZAdd(ctx, store.AppUsersKey(testApp), redis.Z{Score: float64(u), Member: u}).Err(); err != nil {
			t.Fatal(err)
		}
	}

	_, admin := c.start("front", "gateway,router,admin")
	w1, _ := c.start("pusher-1", "pushworker")
	w2, _ := c.start("pusher-2", "pushworker")

	start := time.Now()
	var res struct {
		TaskID int64 `json:"task_id"`
	}
	rest(t, admin, "/push/notify", map[string]any{"audience": "all", "message": map[string]any{"title": "e2e", "body": "campaign"}}, &res)

	// Kill whichever worker holds the campaign once it is under way: its
	// expansion and its jobs in flight must be taken over.
	var victim *proc
	for victim == nil {
		if time.Since(start) > 20*time.Second {
			t.Fatal("no worker picked the campaign up")
		}
		pend, err := rdb.XPendingExt(ctx, &redis.XPendingExtArgs{Stream: store.PushCampaignStream(), Group: "pushers", Start: "-", End: "+", Count: 1}).Result()
		if err == nil && len(pend) == 1 && c.fake.Stats(fakepush.APNs).Accepted+c.fake.Stats(fakepush.FCM).Accepted > users/5 {
			victim = map[string]*proc{"pusher-1": w1, "pusher-2": w2}[pend[0].Consumer]
			if victim == nil {
				t.Fatalf("campaign held by unknown consumer %q", pend[0].Consumer)
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	acceptedAtKill := c.fake.Stats(fakepush.APNs).Accepted + c.fake.Stats(fakepush.FCM).Accepted
	c.kill(victim)
	// The jobs the dead worker had read and not acknowledged: the only
	// ones it can have pushed without recording it. Nobody claims them
	// before claim_idle (2 s).
	var heldAtKill int64
	for q := 0; q < 4; q++ {
		pend, err := rdb.XPendingExt(ctx, &redis.XPendingExtArgs{Stream: fmt.Sprintf("cg:push:{%d}", q), Group: "pushers", Start: "-", End: "+", Count: 100000, Consumer: victim.name}).Result()
		if err != nil {
			t.Fatal(err)
		}
		heldAtKill += int64(len(pend))
	}
	t.Logf("killed %s at %v, %d pushes accepted, %d jobs held", victim.name, time.Since(start).Round(time.Millisecond), acceptedAtKill, heldAtKill)
	if acceptedAtKill >= users {
		t.Fatalf("the campaign was over (%d accepted) before the kill: nothing tested", acceptedAtKill)
	}

	// The survivor claims the campaign after claim_idle and finishes it.
	var d map[string]any
	for {
		var got []map[string]any
		rest(t, admin, "/push/task/detail", map[string]any{"list": []int64{res.TaskID}}, &got)
		if len(got) != 1 {
			t.Fatalf("detail: %v", got)
		}
		d = got[0]
		if d["state"] == "expanded" && num(d, "apns_received")+num(d, "fcm_received") >= users {
			break
		}
		if time.Since(start) > 35*time.Second {
			t.Fatalf("campaign not finished after %v: %v", time.Since(start), d)
		}
		time.Sleep(100 * time.Millisecond)
	}
	// Wait for the streams to drain, so late duplicates are counted too.
	for q := 0; q < 4; q++ {
		for rdb.XLen(ctx, fmt.Sprintf("cg:push:{%d}", q)).Val() > 0 && time.Since(start) < 35*time.Second {
			time.Sleep(50 * time.Millisecond)
		}
	}
	t.Logf("campaign done in %v: %v", time.Since(start).Round(time.Millisecond), d)

	var total int64
	for u := int64(1); u <= users; u++ {
		n, tok := tokenOf(u)
		prov := fakepush.APNs
		if n == "fcm" {
			prov = fakepush.FCM
		}
		k := c.fake.Count(prov, tok)
		if k < 1 {
			t.Fatalf("user %d (%s) got no push", u, n)
		}
		total += int64(k)
	}
	// Each device once in the statistics, whatever the kill did.
	for k, want := range map[string]int64{"apns_target": users / 2, "fcm_target": users / 2, "apns_received": users / 2, "fcm_received": users / 2, "errors": 0, "dead": 0} {
		if got := num(d, k); got != want {
			t.Errorf("%s = %d, want %d", k, got, want)
		}
	}
	// At-least-once: the extra pushes are those the dead worker had sent
	// but not recorded (at most the jobs it held) plus those recorded
	// twice, which the task counts.
	extra := total - users
	dup := num(d, "duplicates")
	t.Logf("providers accepted %d pushes for %d devices: %d extra, %d counted as duplicates, %d deduplicated", total, users, extra, dup, num(d, "deduplicated"))
	if dup > extra {
		t.Errorf("duplicates %d > extra pushes the providers saw %d", dup, extra)
	}
	if extra-dup > heldAtKill {
		t.Errorf("%d unrecorded extra pushes: more than the %d jobs the killed worker held", extra-dup, heldAtKill)
	}
	if sent := num(d, "apns_sent") + num(d, "fcm_sent"); sent < users {
		t.Errorf("sent %d < %d devices", sent, users)
	}
}

func num(d map[string]any, k string) int64 {
	f, _ := d[k].(float64)
	return int64(f)
}
