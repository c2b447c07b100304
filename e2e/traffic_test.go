package e2e

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/chatgate/chatgate/client"
	"github.com/chatgate/chatgate/loadtest"
	"github.com/chatgate/chatgate/protocol"
	"github.com/chatgate/chatgate/store"
)

// device is one client device in a test: a Session over the gateways it
// may use, feeding every delivery into the ledger.
type device struct {
	key  loadtest.DeviceKey
	sess *client.Session
}

// world is the client side of a test: devices, the ledger, and who must
// receive what.
type world struct {
	t       *testing.T
	ctx     context.Context
	ledger  *loadtest.Ledger
	devices map[int64][]*device // by user
	groups  map[int64][]int64   // group -> members
	wg      sync.WaitGroup

	mu    sync.Mutex
	acked map[loadtest.DeviceKey]map[string][]int64 // sender -> conv -> ids in ack order
}

func newWorld(t *testing.T, ctx context.Context) *world {
	return &world{t: t, ctx: ctx, ledger: loadtest.NewLedger(), devices: map[int64][]*device{},
		groups: map[int64][]int64{}, acked: map[loadtest.DeviceKey]map[string][]int64{}}
}

// connect starts a Session for (user, dev) trying urls in order.
func (w *world) connect(user int64, dev int32, urls ...string) *device {
	w.t.Helper()
	key := loadtest.DeviceKey{User: user, Device: dev}
	d := &device{key: key}
	sess, err := client.StartSession(w.ctx, client.SessionConfig{
		Config: client.Config{AppID: testApp, Token: userToken(w.t, user), DeviceSN: dev, Platform: protocol.PlatformAndroid},
		URLs:   urls, MinBackoff: 50 * time.Millisecond, MaxBackoff: 500 * time.Millisecond,
		DAckInterval: 500 * time.Millisecond,
		OnConnect:    func(*protocol.Hello) { w.ledger.Reconnected(key) },
	})
	if err != nil {
		w.t.Fatal(err)
	}
	d.sess = sess
	w.t.Cleanup(func() { sess.Close() })
	if err := sess.Ready(w.ctx); err != nil {
		w.t.Fatalf("device %s not ready: %v", key, err)
	}
	w.devices[user] = append(w.devices[user], d)
	w.wg.Add(1)
	go func() {
		defer w.wg.Done()
		for {
			select {
			case m, ok := <-sess.Messages():
				if !ok {
					return
				}
				w.ledger.Received(key, int64(m.ID), m.Conv, !m.Synced)
			case <-sess.Done():
				return
			}
		}
	}()
	return d
}

// targets lists every device that must receive a message from sender.
func (w *world) targets(sender loadtest.DeviceKey, toUser, toGroup int64) []loadtest.DeviceKey {
	users := []int64{toUser}
	if toGroup != 0 {
		users = w.groups[toGroup]
	}
	users = append(users, sender.User)
	seen := map[loadtest.DeviceKey]bool{}
	var out []loadtest.DeviceKey
	for _, u := range users {
		for _, d := range w.devices[u] {
			if d.key != sender && !seen[d.key] {
				seen[d.key] = true
				out = append(out, d.key)
			}
		}
	}
	return out
}

// send sends one message and records the ack in the ledger.
func (w *world) send(d *device, toUser, toGroup int64, content string) error {
	ack, err := d.sess.Send(w.ctx, client.Outgoing{ToUser: toUser, ToGroup: toGroup, Content: content})
	if err != nil {
		return err
	}
	conv := protocol.ConvID(d.key.User, toUser, toGroup)
	w.ledger.Acked(int64(ack.ID), conv, d.key, w.targets(d.key, toUser, toGroup))
	w.mu.Lock()
	if w.acked[d.key] == nil {
		w.acked[d.key] = map[string][]int64{}
	}
	w.acked[d.key][conv] = append(w.acked[d.key][conv], int64(ack.ID))
	w.mu.Unlock()
	return nil
}

// waitDelivered polls the ledger until nothing is missing or the deadline
// passes, and fails the test with the report if anything was lost.
func (w *world) waitDelivered(d time.Duration) loadtest.Report {
	w.t.Helper()
	deadline := time.Now().Add(d)
	var r loadtest.Report
	for {
		r = w.ledger.Report()
		if r.Lost == 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if !r.OK() {
		w.t.Fatalf("ledger: %s", r)
	}
	if r.Acked == 0 || r.Expected == 0 {
		w.t.Fatalf("ledger saw no traffic: %s", r)
	}
	w.t.Logf("ledger: %s", r)
	return r
}

// checkSendOrder verifies that each sender's sequential sends in one
// conversation got strictly increasing ids: the order of a conversation is
// the order its messages were sent, across failovers too.
func (w *world) checkSendOrder() {
	w.t.Helper()
	w.mu.Lock()
	defer w.mu.Unlock()
	for sender, convs := range w.acked {
		for conv, ids := range convs {
			for i := 1; i < len(ids); i++ {
				if ids[i] <= ids[i-1] {
					w.t.Fatalf("%s in %s: id %d acked after %d", sender, conv, ids[i], ids[i-1])
				}
			}
		}
	}
}

// traffic makes every device of senders send to its peer (1:1) and to
// group gid (when non-zero) sequentially until stop is closed or n
// messages each were sent. Sends that fail because the test ended are fine;
// any other error fails the test.
func (w *world) traffic(senders []*device, peer func(user int64) int64, gid int64, n int, stop <-chan struct{}) *sync.WaitGroup {
	var wg sync.WaitGroup
	for _, d := range senders {
		wg.Add(1)
		go func(d *device) {
			defer wg.Done()
			for i := 0; i < n; i++ {
				select {
				case <-stop:
					return
				default:
				}
				to, grp := peer(d.key.User), int64(0)
				if gid != 0 && i%3 == 2 {
					to, grp = 0, gid
				}
				if err := w.send(d, to, grp, fmt.Sprintf("m%d from %s", i, d.key)); err != nil {
					if w.ctx.Err() == nil {
						w.t.Errorf("send from %s: %v", d.key, err)
					}
					return
				}
			}
		}(d)
	}
	return &wg
}

// group creates group gid in the store and expects its messages at every
// device of members.
func (w *world) group(st *store.Store, gid int64, members []int64) {
	w.t.Helper()
	if err := st.AddGroupMembers(w.ctx, testApp, gid, members...); err != nil {
		w.t.Fatal(err)
	}
	w.groups[gid] = members
}

// spread connects device 1 of each user, odd users to a and even users to
// b; with failover each may fall over to the other gateway.
func (w *world) spread(users []int64, a, b *proc, failover bool) []*device {
	w.t.Helper()
	var out []*device
	for _, u := range users {
		first, second := a, b
		if u%2 == 0 {
			first, second = b, a
		}
		urls := []string{first.url()}
		if failover {
			urls = append(urls, second.url())
		}
		out = append(out, w.connect(u, 1, urls...))
	}
	return out
}

// ring sends each user's 1:1 messages to the next user of n.
func ring(n int64) func(int64) int64 { return func(u int64) int64 { return u%n + 1 } }

// around runs steady traffic, applies fault after settle, keeps the traffic
// going for recovery, then stops it and checks the ledger and the order.
func (w *world) around(senders []*device, peer func(int64) int64, gid int64, settle time.Duration, fault func(), recovery time.Duration) {
	w.t.Helper()
	stop := make(chan struct{})
	wg := w.traffic(senders, peer, gid, 1<<30, stop)
	time.Sleep(settle)
	fault()
	time.Sleep(recovery)
	close(stop)
	wg.Wait()
	w.waitDelivered(30 * time.Second)
	w.checkSendOrder()
}

func storeFor(t *testing.T, c *cluster) *store.Store {
	rdb := redis.NewClient(&redis.Options{Addr: c.redis})
	t.Cleanup(func() { rdb.Close() })
	return store.New(rdb, store.Options{})
}

// Two gateway processes and two router processes: clients on different
// gateways exchange 1:1 and group messages; every device of every recipient
// gets each message once after de-duplication, in per-conversation order.
func TestTwoGatewaysTwoRouters(t *testing.T) {
	c := newCluster(t)
	gw1, gw2 := c.start("gw1", "gateway"), c.start("gw2", "gateway")
	c.start("rt1", "router")
	c.start("rt2", "router")
	w := newWorld(t, withTimeout(t, 90*time.Second))
	const gid = 100
	members := []int64{1, 2, 3, 4, 5, 6}
	w.group(storeFor(t, c), gid, members)
	senders := w.spread(members, gw1, gw2, false)
	// User 1 has a second device on the other gateway: multi-device sync.
	w.connect(1, 2, gw2.url())
	w.traffic(senders, ring(6), gid, 30, nil).Wait()
	r := w.waitDelivered(20 * time.Second)
	if r.Duplicated != 0 {
		t.Logf("duplicates (allowed, counted): %d", r.Duplicated)
	}
	w.checkSendOrder()
}

// A device that was offline gets everything it missed by sync on
// reconnect, across inbox pages.
func TestOfflineSyncAcrossPages(t *testing.T) {
	c := newCluster(t)
	gw := c.start("gw", "gateway,router")
	ctx := withTimeout(t, 60*time.Second)
	sender, err := client.Dial(ctx, client.Config{URL: gw.url(), AppID: testApp, Token: userToken(t, 1), DeviceSN: 1, Platform: protocol.PlatformIOS})
	if err != nil {
		t.Fatal(err)
	}
	defer sender.Close()
	const n = 250
	var want []protocol.ID
	for i := 0; i < n; i++ {
		ack, err := sender.Send(ctx, client.Outgoing{ToUser: 2, Content: fmt.Sprint("offline ", i)})
		if err != nil {
			t.Fatalf("send %d: %v", i, err)
		}
		want = append(want, ack.ID)
	}
	rcv, err := client.Dial(ctx, client.Config{URL: gw.url(), AppID: testApp, Token: userToken(t, 2), DeviceSN: 7, Platform: protocol.PlatformWeb})
	if err != nil {
		t.Fatal(err)
	}
	defer rcv.Close()
	var got []protocol.ID
	after, pages := rcv.Hello().Resume, 0
	for {
		page, err := rcv.Sync(ctx, after, 100)
		if err != nil {
			t.Fatal(err)
		}
		pages++
		for _, m := range page.Messages {
			got = append(got, m.ID)
		}
		after = page.Next
		if !page.HasMore {
			break
		}
	}
	if pages < 3 {
		t.Fatalf("%d messages came in %d pages of 100", n, pages)
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("sync returned %d messages, want %d in send order", len(got), len(want))
	}
}

// SIGKILL one gateway during steady traffic: its clients reconnect to the
// other gateway, sync, and the ledger shows that no acked message was lost.
func TestGatewayKilledMidTraffic(t *testing.T) {
	c := newCluster(t)
	gw1, gw2 := c.start("gw1", "gateway"), c.start("gw2", "gateway")
	c.start("rt1", "router")
	w := newWorld(t, withTimeout(t, 90*time.Second))
	senders := w.spread([]int64{1, 2, 3, 4, 5, 6}, gw1, gw2, true)
	w.around(senders, ring(6), 0, 1500*time.Millisecond, func() { c.kill(gw1) }, 2500*time.Millisecond)
}

// SIGKILL one router during traffic: the other takes over its partitions
// and pending entries; nothing acked is lost and order holds.
func TestRouterKilledMidTraffic(t *testing.T) {
	c := newCluster(t)
	gw1, gw2 := c.start("gw1", "gateway"), c.start("gw2", "gateway")
	rt1 := c.start("rt1", "router")
	c.start("rt2", "router")
	w := newWorld(t, withTimeout(t, 90*time.Second))
	const gid = 200
	members := []int64{1, 2, 3, 4}
	w.group(storeFor(t, c), gid, members)
	senders := w.spread(members, gw1, gw2, false)
	// The survivor needs one lease TTL (2 s) to take the partitions over.
	w.around(senders, ring(4), gid, 1500*time.Millisecond, func() { c.kill(rt1) }, 4*time.Second)
}

// SIGTERM drains a gateway: clients are told 4104 and reconnect to the
// other gateway, nothing in flight is lost, and the process exits cleanly.
func TestGatewayDrainOnSIGTERM(t *testing.T) {
	c := newCluster(t)
	gw1, gw2 := c.start("gw1", "gateway"), c.start("gw2", "gateway")
	c.start("rt1", "router")
	w := newWorld(t, withTimeout(t, 90*time.Second))
	var senders []*device
	for u := int64(1); u <= 4; u++ {
		senders = append(senders, w.connect(u, 1, gw1.url(), gw2.url()))
	}
	w.around(senders, ring(4), 0, time.Second, func() {
		if err := c.terminate(gw1); err != nil {
			t.Error(err)
		}
	}, 1500*time.Millisecond)
}

// The same device_sn connecting to another gateway kicks the old
// connection with 4101; the devices-per-user cap holds across gateways.
func TestKickAndDeviceCapAcrossGateways(t *testing.T) {
	c := newCluster(t)
	gw1, gw2 := c.start("gw1", "gateway"), c.start("gw2", "gateway")
	ctx := withTimeout(t, 30*time.Second)
	dial := func(url string, dev int32) (*client.Conn, error) {
		return client.Dial(ctx, client.Config{URL: url, AppID: testApp, Token: userToken(t, 9), DeviceSN: dev, Platform: protocol.PlatformAndroid})
	}
	old, err := dial(gw1.url(), 1)
	if err != nil {
		t.Fatal(err)
	}
	defer old.Close()
	repl, err := dial(gw2.url(), 1)
	if err != nil {
		t.Fatal(err)
	}
	defer repl.Close()
	select {
	case <-old.Done():
	case <-ctx.Done():
		t.Fatal("old connection was not kicked")
	}
	var kick *client.KickError
	if !errors.As(old.Err(), &kick) || kick.Code != protocol.CodeKickReplaced {
		t.Fatalf("old connection ended with %v, want kick 4101", old.Err())
	}
	// The cap is 4 live devices (harness config): devices 2-4 fit, 5 does not.
	for dev := int32(2); dev <= 4; dev++ {
		url := gw1.url()
		if dev%2 == 0 {
			url = gw2.url()
		}
		cn, err := dial(url, dev)
		if err != nil {
			t.Fatalf("device %d: %v", dev, err)
		}
		defer cn.Close()
	}
	_, err = dial(gw1.url(), 5)
	var perr *protocol.Error
	if !errors.As(err, &perr) || perr.Code != protocol.CodeTooManyDevices {
		t.Fatalf("fifth device: err = %v, want 4015", err)
	}
}

// Nothing of one app is visible to another: the same user ids in two apps
// are different users, and a token of one app does not open the other.
func TestAppIsolation(t *testing.T) {
	c := newCluster(t)
	gw := c.start("gw", "gateway,router")
	ctx := withTimeout(t, 30*time.Second)
	st := storeFor(t, c)
	const otherSecret = "other-app-secret-0123456789"
	if err := st.PutApp(ctx, store.App{ID: "other", Secret: otherSecret, Users: store.AppUsersAny}); err != nil {
		t.Fatal(err)
	}
	otherTok := func(uid int64) string {
		tok, err := issueFor(otherSecret, "other", uid)
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	a1, err := client.Dial(ctx, client.Config{URL: gw.url(), AppID: testApp, Token: userToken(t, 1), DeviceSN: 1, Platform: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer a1.Close()
	b2, err := client.Dial(ctx, client.Config{URL: gw.url(), AppID: "other", Token: otherTok(2), DeviceSN: 1, Platform: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer b2.Close()
	a2, err := client.Dial(ctx, client.Config{URL: gw.url(), AppID: testApp, Token: userToken(t, 2), DeviceSN: 1, Platform: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer a2.Close()
	if _, err := a1.Send(ctx, client.Outgoing{ToUser: 2, Content: "for app e2e only"}); err != nil {
		t.Fatal(err)
	}
	select {
	case m := <-a2.Messages():
		if m.Content != "for app e2e only" {
			t.Fatalf("a2 got %+v", m)
		}
	case <-ctx.Done():
		t.Fatal("a2 got nothing")
	}
	select {
	case m := <-b2.Messages():
		t.Fatalf("user 2 of the other app received %+v", m)
	case <-time.After(500 * time.Millisecond):
	}
	if page, err := b2.Sync(ctx, 0, 100); err != nil || len(page.Messages) != 0 {
		t.Fatalf("other app's inbox: %v %v", page, err)
	}
	// A token of the other app presented for this app.
	_, err = client.Dial(ctx, client.Config{URL: gw.url(), AppID: testApp, Token: otherTok(1), DeviceSN: 3, Platform: 1})
	var perr *protocol.Error
	if !errors.As(err, &perr) || perr.Code != protocol.CodeAppMismatch {
		t.Fatalf("cross-app token: err = %v, want 4013", err)
	}
}
