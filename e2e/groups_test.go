package e2e

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/chatgate/chatgate/client"
	"github.com/chatgate/chatgate/internal/bus"
	"github.com/chatgate/chatgate/protocol"
	"github.com/chatgate/chatgate/store"
)

// groupDev is one connected device and everything it received live.
type groupDev struct {
	conn *client.Conn
	mu   sync.Mutex
	got  []*protocol.Message
}

func groupDial(t *testing.T, ctx context.Context, user int64, dev int32, wsURL, pushToken string) *groupDev {
	t.Helper()
	conn, err := client.Dial(ctx, client.Config{URL: wsURL, AppID: testApp, Token: userToken(t, user), DeviceSN: dev,
		Platform: protocol.PlatformAndroid, PushToken: pushToken})
	if err != nil {
		t.Fatalf("dial user %d: %v", user, err)
	}
	t.Cleanup(func() { conn.Close() })
	d := &groupDev{conn: conn}
	go func() {
		for m := range conn.Messages() {
			d.mu.Lock()
			d.got = append(d.got, m)
			d.mu.Unlock()
		}
	}()
	return d
}

func (d *groupDev) messages() []*protocol.Message {
	d.mu.Lock()
	defer d.mu.Unlock()
	return slices.Clone(d.got)
}

// notice waits for a notice of kind and returns it.
func (d *groupDev) notice(t *testing.T, kind string) *protocol.Message {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		for _, m := range d.messages() {
			if m.Notice != nil && m.Notice.Kind == kind {
				return m
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("no %s notice in 20s", kind)
	return nil
}

func syncAll(t *testing.T, ctx context.Context, user int64, wsURL string) []*protocol.Message {
	t.Helper()
	d := groupDial(t, ctx, user, 9, wsURL, "")
	defer d.conn.Close()
	var out []*protocol.Message
	after := protocol.ID(0)
	for {
		res, err := d.conn.Sync(ctx, after, 200)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, res.Messages...)
		if !res.HasMore {
			return out
		}
		after = res.Next
	}
}

func wantSendCode(t *testing.T, ctx context.Context, d *groupDev, gid int64, code protocol.Code) {
	t.Helper()
	_, err := d.conn.Send(ctx, client.Outgoing{ToGroup: gid, Content: "refused?"})
	var pe *protocol.Error
	if !errors.As(err, &pe) || pe.Code != code {
		t.Errorf("socket send to group %d: %v, want code %d", gid, err, code)
	}
}

func wantRESTCode(t *testing.T, ctx context.Context, api *restAPI, from, gid int64, code int) {
	t.Helper()
	// The user's own token: an admin token acting as a user acts for the
	// app and passes the member rules.
	user := &client.API{Base: api.base, AppID: testApp, Token: userToken(t, from), HTTP: api.http}
	err := user.Call(ctx, "POST", "/message/send", map[string]any{"targets": []int64{gid}, "type": 2, "content_type": 0, "content": "refused?"}, nil)
	var ae *client.APIError
	if !errors.As(err, &ae) || ae.Code != code {
		t.Errorf("REST send as %d to group %d: %v, want code %d", from, gid, err, code)
	}
}

// groupOp is a /group operation as user `as` (the admin token acting for it).
func groupOp(t *testing.T, ctx context.Context, api *restAPI, as int64, method, path string, q url.Values, body any) {
	t.Helper()
	api.ok(ctx, method, path, q, as, false, body, nil)
}

// TestGroupsAcrossProcesses drives a managed group through two gateways,
// two routers and an admin process: members on different gateways chat,
// a member kicked while messages flow gets nothing routed after the kick
// (live, by sync or as a push job), ban / ban_all / blacklist / destroy
// refuse sends on the socket and REST paths, a member who joins with
// history_visible off syncs nothing from before, and notices arrive live
// and by sync in the conversation's order.
func TestGroupsAcrossProcesses(t *testing.T) {
	c := newCluster(t)
	ctx := withTimeout(t, 90*time.Second)
	gw1, gw2 := c.start("gw1", "gateway"), c.start("gw2", "gateway")
	c.start("rt1", "router")
	c.start("rt2", "router")
	_, apiAddr := c.startAdmin("api", 10*time.Second)
	api := newRESTAPI(t, apiAddr)
	rdb := redis.NewClient(&redis.Options{Addr: c.redis})
	t.Cleanup(func() { rdb.Close() })

	owner, stay, kicked, late := api.register(ctx, "g_owner"), api.register(ctx, "g_stay"), api.register(ctx, "g_kicked"), api.register(ctx, "g_late")
	var info struct {
		GroupID int64 `json:"group_id"`
	}
	api.ok(ctx, "POST", "/group/create", nil, owner, false, map[string]any{"name": "e2e", "user_list": []int64{stay, kicked}}, &info)
	gid := info.GroupID
	if gid <= 0 {
		t.Fatalf("group_id %d", gid)
	}
	gq := url.Values{"group_id": {strconv.FormatInt(gid, 10)}}
	// The kicked member also has an offline device with a push token.
	off := groupDial(t, ctx, kicked, 2, gw2.url(), "tok-kicked")
	off.conn.Close()
	ownerDev := groupDial(t, ctx, owner, 1, gw1.url(), "")
	stayDev := groupDial(t, ctx, stay, 1, gw2.url(), "")
	kickedDev := groupDial(t, ctx, kicked, 1, gw1.url(), "")

	// Members on different gateways chat.
	if _, err := ownerDev.conn.Send(ctx, client.Outgoing{ToGroup: gid, Content: "hello group"}); err != nil {
		t.Fatal(err)
	}
	if _, err := stayDev.conn.Send(ctx, client.Outgoing{ToGroup: gid, Content: "hello back", Mentions: &protocol.Mentions{Users: []int64{owner}}}); err != nil {
		t.Fatal(err)
	}

	// Kick while the owner's messages flow.
	var wg sync.WaitGroup
	sendCtx, stop := context.WithCancel(ctx)
	defer func() { stop(); wg.Wait() }()
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; sendCtx.Err() == nil && i < 200; i++ {
			if _, err := ownerDev.conn.Send(sendCtx, client.Outgoing{ToGroup: gid, Content: fmt.Sprintf("flow %d", i)}); err != nil && sendCtx.Err() == nil {
				t.Errorf("flow send %d: %v", i, err)
				return
			}
		}
	}()
	// Kick once the flow reaches the members.
	for deadline := time.Now().Add(20 * time.Second); ; {
		n := 0
		for _, m := range kickedDev.messages() {
			if m.From == owner {
				n++
			}
		}
		if n >= 10 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the owner's messages do not reach the member to kick")
		}
		time.Sleep(10 * time.Millisecond)
	}
	groupOp(t, ctx, api, owner, "POST", "/group/kick", nil, map[string]any{"group_id": gid, "user_list": []int64{kicked}})
	kick := kickedDev.notice(t, "group_member_kicked")
	wg.Wait()
	wantSendCode(t, ctx, kickedDev, gid, protocol.CodeNotGroupMember)
	wantRESTCode(t, ctx, api, kicked, gid, 20002)

	after := func(ms []*protocol.Message) []protocol.ID {
		var out []protocol.ID
		for _, m := range ms {
			if m.Conv == store.GroupConv(gid) && m.ID > kick.ID {
				out = append(out, m.ID)
			}
		}
		return out
	}
	if ids := after(kickedDev.messages()); len(ids) > 0 {
		t.Errorf("the kicked member got %d messages routed after the kick live: %v", len(ids), ids)
	}
	synced := syncAll(t, ctx, kicked, gw2.url())
	if ids := after(synced); len(ids) > 0 {
		t.Errorf("the kicked member synced %d messages routed after the kick", len(ids))
	}
	jobs, err := rdb.XRange(ctx, bus.PushStream(bus.PushPartition(testApp, kicked, groupPushPartitions)), "-", "+").Result()
	if err != nil {
		t.Fatal(err)
	}
	pushedBefore := 0
	for _, e := range jobs {
		var j bus.PushJob
		if bus.Decode(e, &j) == nil && j.User == kicked && j.ToGroup == gid {
			if j.MsgID > int64(kick.ID) {
				t.Errorf("push job for the kicked member of message %d after the kick %d", j.MsgID, kick.ID)
			}
			pushedBefore++
		}
	}
	t.Logf("kick notice %d; kicked member got %d push jobs before it", kick.ID, pushedBefore)

	// Ban, ban_all, blacklist: refused on both paths with their codes.
	groupOp(t, ctx, api, owner, "POST", "/group/ban", nil, map[string]any{"group_id": gid, "user_list": []int64{stay}, "duration": 10})
	stayDev.notice(t, "group_member_banned")
	wantSendCode(t, ctx, stayDev, gid, protocol.CodeMemberMuted)
	wantRESTCode(t, ctx, api, stay, gid, 20011)
	groupOp(t, ctx, api, owner, "POST", "/group/unban", nil, map[string]any{"group_id": gid, "user_list": []int64{stay}})
	groupOp(t, ctx, api, owner, "POST", "/group/settings/ban_all", nil, map[string]any{"group_id": gid, "duration": -1})
	wantSendCode(t, ctx, stayDev, gid, protocol.CodeGroupMuted)
	wantRESTCode(t, ctx, api, stay, gid, 20012)
	if _, err := ownerDev.conn.Send(ctx, client.Outgoing{ToGroup: gid, Content: "owner under ban_all"}); err != nil {
		t.Errorf("the owner under ban_all: %v", err)
	}
	groupOp(t, ctx, api, owner, "POST", "/group/settings/unban_all", nil, map[string]any{"group_id": gid})
	groupOp(t, ctx, api, owner, "POST", "/group/block", nil, map[string]any{"group_id": gid, "user_list": []int64{kicked}})
	wantSendCode(t, ctx, kickedDev, gid, protocol.CodeGroupBlacklist)
	wantRESTCode(t, ctx, api, kicked, gid, 20018)

	// history_visible is off (Lanying's default): a new member syncs and
	// reads nothing from before its join.
	groupOp(t, ctx, api, owner, "POST", "/group/invite", nil, map[string]any{"group_id": gid, "user_list": []int64{late}})
	stayDev.notice(t, "group_member_joined")
	if _, err := ownerDev.conn.Send(ctx, client.Outgoing{ToGroup: gid, Content: "welcome"}); err != nil {
		t.Fatal(err)
	}
	lateSync := syncAll(t, ctx, late, gw1.url())
	for _, m := range lateSync {
		if m.Notice == nil && m.Content != "welcome" {
			t.Errorf("the new member synced %q from before its join", m.Content)
		}
	}
	var hist struct {
		Messages []struct {
			Content string `json:"content"`
		} `json:"messages"`
	}
	api.ok(ctx, "GET", "/message/conversation", url.Values{"opposite_id": {strconv.FormatInt(gid, 10)}, "msg_id_start": {"0"}, "limit": {"100"}}, late, false, nil, &hist)
	if len(hist.Messages) != 1 || hist.Messages[0].Content != "welcome" {
		t.Errorf("the new member's history: %+v", hist.Messages)
	}

	// Destroy: refused everywhere; the former members get the notice.
	groupOp(t, ctx, api, owner, "POST", "/group/destroy", gq, nil)
	stayDev.notice(t, "group_destroyed")
	wantSendCode(t, ctx, ownerDev, gid, protocol.CodeGroupNotFound)
	wantRESTCode(t, ctx, api, owner, gid, 20001)

	// Notices live and by sync, in the conversation's order: what the
	// member who stayed received live is what it syncs, id for id.
	live := stayDev.messages()
	syncedStay := syncAll(t, ctx, stay, gw1.url())
	var liveIDs, syncIDs []protocol.ID
	notices := 0
	for _, m := range live {
		if m.Conv == store.GroupConv(gid) {
			liveIDs = append(liveIDs, m.ID)
			if m.Notice != nil {
				notices++
			}
		}
	}
	for _, m := range syncedStay {
		// Sync also returns what this very device sent.
		// And what came before the device connected (the join notice).
		if m.Conv == store.GroupConv(gid) && !(m.From == stay && m.FromDev == 1) && len(liveIDs) > 0 && m.ID >= liveIDs[0] {
			syncIDs = append(syncIDs, m.ID)
		}
	}
	if !slices.IsSorted(liveIDs) {
		t.Errorf("live group ids out of order: %v", liveIDs)
	}
	if !slices.Equal(liveIDs, syncIDs) {
		t.Errorf("live %d ids and synced %d ids of the group differ", len(liveIDs), len(syncIDs))
	}
	if notices < 5 {
		t.Errorf("the member who stayed got %d notices live, want the kick, ban, unban, settings, block, join, destroy", notices)
	}
	var hello *protocol.Message
	for _, m := range ownerDev.messages() {
		if m.Content == "hello back" {
			hello = m
		}
	}
	if hello == nil || !hello.Mentions.Mentioned(owner) {
		t.Errorf("the owner got %+v, want a mention", hello)
	}
}

// groupPushPartitions is the routers' push partition count (the default).
const groupPushPartitions = 8
