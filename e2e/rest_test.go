package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/chatgate/chatgate/client"
	"github.com/chatgate/chatgate/internal/auth"
	"github.com/chatgate/chatgate/internal/bus"
	"github.com/chatgate/chatgate/protocol"
)

// Envelope codes of the REST API (admin/errors.go) this test tells apart.
const (
	restOK          = 200
	restDuplicate   = 10017
	restUnavailable = 40503
)

// restPartitions must match router.partitions of cluster.start: the admin
// process puts each send on the ingress stream its conversation hashes to.
const restPartitions = 8

// startAdmin launches an admin-only process (the REST API) on the
// cluster's Redis and returns it with the REST API's address. Its
// request_timeout is short so that a send waiting on a dead router answers
// 40503 and the caller's retry path is exercised.
func (c *cluster) startAdmin(name string, requestTimeout time.Duration) (*proc, string) {
	c.t.Helper()
	p := &proc{name: name, roles: "admin", wsAddr: freeAddr(c.t), opsAddr: freeAddr(c.t)}
	apiAddr := freeAddr(c.t)
	p.cfgPath = filepath.Join(c.dir, name+".yaml")
	p.logPath = filepath.Join(c.dir, name+".log")
	cfg := fmt.Sprintf(`node: %s
roles: [admin]
redis: %s
admin: {listen: %q, request_timeout: %s, rate_limit: 0, password_cost: 4}
router: {partitions: %d}
metrics: {listen: %q}
log: {level: info, format: text}
apps:
  - {id: %s, secret: %q, name: e2e, users: any}
`, name+"-"+strconv.FormatInt(time.Now().UnixNano()%1e6, 10), c.redisYAML, apiAddr, requestTimeout,
		restPartitions, p.opsAddr, testApp, testSecret)
	if err := os.WriteFile(p.cfgPath, []byte(cfg), 0o600); err != nil {
		c.t.Fatal(err)
	}
	c.launch(p)
	return p, apiAddr
}

// restAPI calls one admin process over loopback HTTP.
type restAPI struct {
	t     *testing.T
	base  string
	admin string // admin token of the test app
	http  *http.Client
}

// restAnswer is the envelope of every REST answer.
type restAnswer struct {
	Code    int             `json:"code"`
	Message string          `json:"message"`
	Version int64           `json:"version"`
	Data    json.RawMessage `json:"data"`
}

func newRESTAPI(t *testing.T, addr string) *restAPI {
	t.Helper()
	tok, err := auth.Issue([]byte(testSecret), testApp, auth.RoleAdmin, 0, time.Hour, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	tr := &http.Transport{MaxIdleConnsPerHost: 16}
	t.Cleanup(tr.CloseIdleConnections)
	// The client timeout is only a backstop: the server answers 40503
	// after its own request_timeout.
	return &restAPI{t: t, base: "http://" + addr, admin: tok, http: &http.Client{Transport: tr, Timeout: 15 * time.Second}}
}

// call sends one request with the admin token (acting as user asUser when
// non-zero; none at all when public) and returns the envelope. It is safe
// for concurrent use and does not fail the test itself.
func (a *restAPI) call(ctx context.Context, method, path string, query url.Values, asUser int64, public bool, body any) (restAnswer, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return restAnswer{}, err
		}
		rd = bytes.NewReader(b)
	}
	u := a.base + path
	if len(query) > 0 {
		u += "?" + query.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, method, u, rd)
	if err != nil {
		return restAnswer{}, err
	}
	// The header names contain underscores: set them verbatim, not in
	// Go's canonical form.
	req.Header["app_id"] = []string{testApp}
	if !public {
		req.Header["access-token"] = []string{a.admin}
	}
	if asUser != 0 {
		req.Header["user_id"] = []string{strconv.FormatInt(asUser, 10)}
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	res, err := a.http.Do(req)
	if err != nil {
		return restAnswer{}, fmt.Errorf("%s %s: %w", method, path, err)
	}
	defer res.Body.Close()
	raw, err := io.ReadAll(res.Body)
	if err != nil {
		return restAnswer{}, fmt.Errorf("%s %s: read answer: %w", method, path, err)
	}
	var env restAnswer
	if err := json.Unmarshal(raw, &env); err != nil {
		return restAnswer{}, fmt.Errorf("%s %s: HTTP %d, not an envelope: %q", method, path, res.StatusCode, raw)
	}
	if res.StatusCode != http.StatusOK {
		return env, fmt.Errorf("%s %s: HTTP %d: %s", method, path, res.StatusCode, raw)
	}
	return env, nil
}

// ok calls and fails the test unless the answer is code 200; it decodes
// data into out when out is not nil.
func (a *restAPI) ok(ctx context.Context, method, path string, query url.Values, asUser int64, public bool, body, out any) restAnswer {
	a.t.Helper()
	env, err := a.call(ctx, method, path, query, asUser, public, body)
	if err != nil {
		a.t.Fatal(err)
	}
	if env.Code != restOK {
		a.t.Fatalf("%s %s: code %d %s", method, path, env.Code, env.Message)
	}
	if out != nil {
		if err := json.Unmarshal(env.Data, out); err != nil {
			a.t.Fatalf("%s %s: data %s: %v", method, path, env.Data, err)
		}
	}
	return env
}

// register creates a user through /user/register/v2 and returns its id.
func (a *restAPI) register(ctx context.Context, username string) int64 {
	a.t.Helper()
	var res struct {
		UserID int64 `json:"user_id"`
	}
	a.ok(ctx, "POST", "/user/register/v2", nil, 0, true, map[string]string{"username": username, "password": "pw-" + username}, &res)
	if res.UserID <= 0 {
		a.t.Fatalf("register %s: user_id %d", username, res.UserID)
	}
	return res.UserID
}

// recorder is one device's Session and what it received.
type recorder struct {
	sess *client.Session
	done chan struct{} // closed when the reading goroutine returned

	mu        sync.Mutex
	last      map[string]protocol.ID          // conv -> last id delivered
	ids       map[string]map[protocol.ID]bool // content -> ids it came with
	disorder  []string                        // ids not rising within a conversation
	delivered int
}

// record connects (user, dev) to url and records every message delivered.
func record(t *testing.T, ctx context.Context, user int64, dev int32, url string) *recorder {
	t.Helper()
	sess, err := client.StartSession(ctx, client.SessionConfig{
		Config:     client.Config{AppID: testApp, Token: userToken(t, user), DeviceSN: dev, Platform: protocol.PlatformAndroid},
		URLs:       []string{url},
		MinBackoff: 50 * time.Millisecond, MaxBackoff: 500 * time.Millisecond,
		DAckInterval: 500 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sess.Close() })
	if err := sess.Ready(ctx); err != nil {
		t.Fatalf("user %d device %d not ready: %v", user, dev, err)
	}
	r := &recorder{sess: sess, done: make(chan struct{}), last: map[string]protocol.ID{},
		ids: map[string]map[protocol.ID]bool{}}
	go func() {
		defer close(r.done)
		for {
			select {
			case m, ok := <-sess.Messages():
				if !ok {
					return
				}
				r.add(m)
			case <-sess.Done():
				return
			}
		}
	}()
	return r
}

func (r *recorder) add(m client.Incoming) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.delivered++
	if last, ok := r.last[m.Conv]; ok && m.ID <= last {
		r.disorder = append(r.disorder, fmt.Sprintf("%s: id %d (%q, synced=%v) after %d", m.Conv, m.ID, m.Content, m.Synced, last))
	}
	r.last[m.Conv] = max(r.last[m.Conv], m.ID)
	if r.ids[m.Content] == nil {
		r.ids[m.Content] = map[protocol.ID]bool{}
	}
	r.ids[m.Content][m.ID] = true
}

// missing lists the contents of want not received yet.
func (r *recorder) missing(want []string) []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, c := range want {
		if len(r.ids[c]) == 0 {
			out = append(out, c)
		}
	}
	return out
}

// idsOf returns the ids content was delivered with, in order.
func (r *recorder) idsOf(content string) []protocol.ID {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]protocol.ID, 0, len(r.ids[content]))
	for id := range r.ids[content] {
		out = append(out, id)
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}

// check fails the test for anything received that breaks the contract:
// a message out of order within its conversation, one content delivered
// under two ids (a transaction stored twice), a content nobody sent, or a
// sender's messages out of its send order.
func (r *recorder) check(t *testing.T, who string, sent map[string]bool, perSender [][]string) {
	t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, d := range r.disorder {
		t.Errorf("%s: out of order: %s", who, d)
	}
	for c, ids := range r.ids {
		if !sent[c] {
			t.Errorf("%s: received %q, which was never sent", who, c)
		}
		if len(ids) > 1 {
			t.Errorf("%s: %q delivered under %d ids %v: a transaction was stored twice", who, c, len(ids), ids)
		}
	}
	// Each sender waited for the answer of a send (200 or, on a retry,
	// 10017: the message is durable) before the next, so its messages
	// must have rising ids.
	for g, contents := range perSender {
		var prev protocol.ID
		for _, c := range contents {
			var id protocol.ID
			for i := range r.ids[c] {
				id = max(id, i)
			}
			if id <= prev {
				t.Errorf("%s: sender %d's %q got id %d, not above its previous message's %d", who, g, c, id, prev)
			}
			prev = id
		}
	}
}

// restSendStats counts what the REST senders saw.
type restSendStats struct {
	sent, retries, unavailable, dupOnRetry atomic.Int64
	slowest                                atomic.Int64 // ns, one send including its retries
}

// leases returns how many partitions each router process holds (node
// names are the process name plus a suffix).
func leases(t *testing.T, ctx context.Context, rdb *redis.Client, routers ...*proc) map[*proc]int {
	t.Helper()
	out := map[*proc]int{}
	for p := range restPartitions {
		owner, err := rdb.Get(ctx, "cg:lease:{"+strconv.Itoa(p)+"}").Result()
		if errors.Is(err, redis.Nil) {
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range routers {
			if strings.HasPrefix(owner, r.name+"-") {
				out[r]++
			}
		}
	}
	return out
}

// routerOf returns the router process holding partition p.
func routerOf(t *testing.T, ctx context.Context, rdb *redis.Client, p int, routers ...*proc) *proc {
	t.Helper()
	owner, err := rdb.Get(ctx, "cg:lease:{"+strconv.Itoa(p)+"}").Result()
	if err != nil {
		t.Fatalf("partition %d: no owner (%v)", p, err)
	}
	for _, r := range routers {
		if strings.HasPrefix(owner, r.name+"-") {
			return r
		}
	}
	t.Fatalf("partition %d is held by unknown node %q", p, owner)
	return nil
}

// waitBalanced waits until the routers share the partitions evenly, so
// that no hand-off is under way when the test picks whom to kill.
func waitBalanced(t *testing.T, ctx context.Context, rdb *redis.Client, routers ...*proc) {
	t.Helper()
	for {
		held := leases(t, ctx, rdb, routers...)
		balanced := true
		for _, r := range routers {
			balanced = balanced && held[r] == restPartitions/len(routers)
		}
		if balanced {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("routers never shared the partitions evenly: %v", held)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// An admin-only process serves the REST API to clients on two gateway
// processes through two router processes: REST sends during a router
// SIGKILL are all delivered once and in order (retries of timed-out sends
// included), online status and the device list see a device connected to
// another process, and /user/kick closes its socket there with 4102.
func TestRESTAcrossProcesses(t *testing.T) {
	const (
		senders   = 4
		perSender = 75
		total     = senders * perSender
		sendPace  = 20 * time.Millisecond
	)
	c := newCluster(t)
	ctx := withTimeout(t, 60*time.Second)
	start := time.Now()
	gw1, gw2 := c.start("gw1", "gateway"), c.start("gw2", "gateway")
	rt1, rt2 := c.start("rt1", "router"), c.start("rt2", "router")
	// A dead router's partitions stay unowned until its lease expires,
	// at least 2/3 of the lease TTL (2 s) after the kill: with 1 s, the
	// sends caught by the kill time out with 40503 and are retried.
	_, apiAddr := c.startAdmin("api", time.Second)
	api := newRESTAPI(t, apiAddr)
	rdb := redis.NewClient(&redis.Options{Addr: c.redis})
	t.Cleanup(func() { rdb.Close() })

	alice, bob := api.register(ctx, "rest_alice"), api.register(ctx, "rest_bob")
	conv := protocol.ConvID(alice, bob, 0)
	// Bob receives on gateway 2; Alice's own device on gateway 1 gets a
	// copy of what the REST API sends as her (a REST send has no sending
	// device).
	bobDev := record(t, ctx, bob, 1, gw2.url())
	aliceDev := record(t, ctx, alice, 1, gw1.url())
	t.Logf("processes up and users registered in %v", time.Since(start).Round(time.Millisecond))

	// 3. Bob's device is online on gateway 2, as seen from the admin process.
	checkOnline(t, ctx, api, bob, true)
	checkDevices(t, ctx, api, bob)

	// 1. Concurrent REST sends; the router of the conversation is
	// SIGKILLed after a third of them and restarted once every sender got
	// through the failover.
	waitBalanced(t, ctx, rdb, rt1, rt2)
	var victim *proc
	var stats restSendStats
	contents := make([][]string, senders)
	sendCtx, stopSends := context.WithCancel(ctx)
	var wg sync.WaitGroup
	// On an early exit the senders stop before the test ends.
	defer func() {
		stopSends()
		wg.Wait()
	}()
	sendStart := time.Now()
	for g := range senders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range perSender {
				content := fmt.Sprintf("rest g%d #%03d", g, i)
				if err := sendOnce(sendCtx, api, alice, bob, content, int64(g*10000+i+1), &stats); err != nil {
					if sendCtx.Err() == nil {
						t.Errorf("sender %d: %v", g, err)
						stopSends()
					}
					return
				}
				contents[g] = append(contents[g], content)
				// Paced so that the restarted router rejoins while the
				// sends go on.
				select {
				case <-sendCtx.Done():
					return
				case <-time.After(sendPace):
				}
			}
		}()
	}
	waitSent := func(n int64) bool {
		for stats.sent.Load() < n {
			select {
			case <-sendCtx.Done():
				return false
			case <-time.After(5 * time.Millisecond):
			}
		}
		return true
	}
	if waitSent(total / 3) {
		victim = routerOf(t, ctx, rdb, bus.Partition(testApp, conv, restPartitions), rt1, rt2)
		c.kill(victim)
		t.Logf("killed %s (owner of %s) after %d sends", victim.name, conv, stats.sent.Load())
		// Once every sender got through the failover, the killed router
		// comes back under the same node name and takes its share of the
		// partitions back (a graceful hand-off) while the sends go on.
		if waitSent(total/3 + 2*senders) {
			c.restart(victim)
			t.Logf("restarted %s after %d sends", victim.name, stats.sent.Load())
		}
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	if victim == nil || stats.sent.Load() != total {
		t.Fatalf("%d of %d sends done when the test's time ran out (killed: %v)", stats.sent.Load(), total, victim != nil)
	}
	if stats.unavailable.Load() == 0 {
		t.Errorf("no send answered 40503: the kill of %s did not hold up the conversation, the retry path went untested", victim.name)
	}
	t.Logf("the restarted %s held %d of %d partitions when the sends ended", victim.name, leases(t, ctx, rdb, victim)[victim], restPartitions)
	t.Logf("%d REST sends in %v: %d retries, %d answered 40503, %d retries answered 10017, slowest send %v",
		stats.sent.Load(), time.Since(sendStart).Round(time.Millisecond), stats.retries.Load(), stats.unavailable.Load(),
		stats.dupOnRetry.Load(), time.Duration(stats.slowest.Load()).Round(time.Millisecond))

	sent := map[string]bool{}
	var want []string
	for _, cs := range contents {
		for _, c := range cs {
			sent[c] = true
			want = append(want, c)
		}
	}
	for _, d := range []struct {
		who string
		r   *recorder
	}{{"bob@gw2", bobDev}, {"alice@gw1", aliceDev}} {
		deadline := time.Now().Add(15 * time.Second)
		for len(d.r.missing(want)) > 0 && time.Now().Before(deadline) {
			time.Sleep(50 * time.Millisecond)
		}
		if miss := d.r.missing(want); len(miss) > 0 {
			sort.Strings(miss)
			t.Fatalf("%s: %d of %d messages answered 200 never arrived, e.g. %q", d.who, len(miss), len(want), miss[:min(5, len(miss))])
		}
		d.r.check(t, d.who, sent, contents)
		d.r.mu.Lock()
		t.Logf("%s: %d messages delivered", d.who, d.r.delivered)
		d.r.mu.Unlock()
	}
	// Both devices saw the same message under the same id.
	for _, c := range want {
		if b, a := bobDev.idsOf(c), aliceDev.idsOf(c); fmt.Sprint(b) != fmt.Sprint(a) {
			t.Errorf("%q: bob got ids %v, alice %v", c, b, a)
		}
	}

	// 3 again after the failover: the device is still online.
	checkOnline(t, ctx, api, bob, true)

	// 2. Kick Bob's device from the admin process: gateway 2 closes its
	// socket with 4102 and the Session ends (4102 is final).
	api.ok(ctx, "POST", "/user/kick", url.Values{"device_sn": {"1"}}, bob, false, nil, nil)
	select {
	case <-bobDev.sess.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("bob's session was not kicked within 10s")
	}
	var kick *client.KickError
	if err := bobDev.sess.Err(); !errors.As(err, &kick) || kick.Code != protocol.CodeKickAdmin {
		t.Fatalf("bob's session ended with %v, want kick 4102", err)
	}
	if err := aliceDev.sess.Err(); err != nil {
		t.Fatalf("kicking bob ended alice's session: %v", err)
	}
	// The gateway removes the route of the closed connection (at worst it
	// expires after route_ttl, 6 s).
	deadline := time.Now().Add(8 * time.Second)
	for {
		var st struct {
			Online  bool    `json:"online"`
			Devices []int32 `json:"devices"`
		}
		api.ok(ctx, "GET", "/user/online_status", nil, bob, false, nil, &st)
		if !st.Online && len(st.Devices) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("bob still online 8s after the kick: %+v", st)
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Logf("whole test %v", time.Since(start).Round(time.Millisecond))
}

// sendOnce sends one message from -> to through the REST API until it is
// durable: 200, or 10017 on a retry (an earlier attempt, answered 40503,
// was stored after all). 40503 is retried with the same transaction id.
func sendOnce(ctx context.Context, api *restAPI, from, to int64, content string, tx int64, stats *restSendStats) error {
	body := map[string]any{"from_user_id": from, "targets": []int64{to}, "type": 1, "content_type": 0,
		"content": content, "transaction_id": tx}
	began := time.Now()
	for attempt := 1; ; attempt++ {
		env, err := api.call(ctx, "POST", "/message/send", nil, 0, false, body)
		if err != nil {
			return err
		}
		switch {
		case env.Code == restOK:
			if string(env.Data) != "true" {
				return fmt.Errorf("%q: code 200 with data %s, want true", content, env.Data)
			}
		case env.Code == restDuplicate && attempt > 1:
			stats.dupOnRetry.Add(1)
		case env.Code == restUnavailable:
			stats.unavailable.Add(1)
			stats.retries.Add(1)
			if time.Since(began) > 20*time.Second {
				return fmt.Errorf("%q: still 40503 after %v: %s", content, time.Since(began), env.Message)
			}
			// 40503 may also come at once (the API cannot send yet).
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(50 * time.Millisecond):
			}
			continue
		default:
			return fmt.Errorf("%q (attempt %d): code %d %s", content, attempt, env.Code, env.Message)
		}
		stats.sent.Add(1)
		for d := int64(time.Since(began)); ; {
			cur := stats.slowest.Load()
			if d <= cur || stats.slowest.CompareAndSwap(cur, d) {
				break
			}
		}
		return nil
	}
}

// checkOnline asks /user/online_status about user's device 1.
func checkOnline(t *testing.T, ctx context.Context, api *restAPI, user int64, online bool) {
	t.Helper()
	var st struct {
		Online  bool    `json:"online"`
		Devices []int32 `json:"devices"`
	}
	api.ok(ctx, "GET", "/user/online_status", nil, user, false, nil, &st)
	want := []int32{}
	if online {
		want = []int32{1}
	}
	if st.Online != online || fmt.Sprint(st.Devices) != fmt.Sprint(want) {
		t.Fatalf("online_status of %d = %+v, want online=%v devices=%v", user, st, online, want)
	}
}

// checkDevices asks /user/device/list about user's device 1, connected
// (on another process) as an Android device.
func checkDevices(t *testing.T, ctx context.Context, api *restAPI, user int64) {
	t.Helper()
	var devs []struct {
		DeviceSN  int32  `json:"device_sn"`
		Platform  int32  `json:"platform"`
		UserAgent string `json:"user_agent"`
		UserID    int64  `json:"user_id"`
		Online    bool   `json:"online"`
		LastSeen  int64  `json:"last_seen"`
	}
	env := api.ok(ctx, "GET", "/user/device/list", nil, user, false, nil, &devs)
	if len(devs) != 1 {
		t.Fatalf("device list of %d: %s, want one device", user, env.Data)
	}
	d := devs[0]
	if d.DeviceSN != 1 || d.Platform != int32(protocol.PlatformAndroid) || d.UserAgent != "android" || d.UserID != user || !d.Online {
		t.Fatalf("device list of %d: %s, want device 1, android, online", user, env.Data)
	}
	if age := time.Since(time.UnixMilli(d.LastSeen)); age < 0 || age > time.Minute {
		t.Fatalf("device list of %d: last_seen %d is %v ago", user, d.LastSeen, age)
	}
	if env.Version == 0 {
		t.Errorf("device list of %d: no version in %+v", user, env)
	}
}
