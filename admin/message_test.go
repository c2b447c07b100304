package admin_test

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/chatgate/chatgate/client"
	"github.com/chatgate/chatgate/protocol"
)

// msgDial connects a device of uid to the gateway.
func msgDial(t *testing.T, e *env, uid int64, dev int32) *client.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := client.Dial(ctx, client.Config{URL: e.gw, AppID: e.app, Token: e.userToken(uid), DeviceSN: dev, Platform: protocol.PlatformLinux})
	if err != nil {
		t.Fatalf("dial %d/%d: %v", uid, dev, err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// msgNext waits for the next live message on c.
func msgNext(t *testing.T, c *client.Conn) *protocol.Message {
	t.Helper()
	select {
	case m := <-c.Messages():
		return m
	case <-c.Done():
		t.Fatalf("connection ended: %v", c.Err())
	case <-time.After(10 * time.Second):
		t.Fatal("no live message in 10s")
	}
	return nil
}

// msgNone checks that nothing arrives on c for a moment.
func msgNone(t *testing.T, c *client.Conn) {
	t.Helper()
	select {
	case m := <-c.Messages():
		t.Fatalf("unexpected message %+v", m)
	case <-time.After(300 * time.Millisecond):
	}
}

// msgSync returns everything uid's inbox holds, by a fresh device.
func msgSync(t *testing.T, e *env, uid int64, dev int32) []*protocol.Message {
	t.Helper()
	c := msgDial(t, e, uid, dev)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var out []*protocol.Message
	after := protocol.ID(0)
	for {
		res, err := c.Sync(ctx, after, 100)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, res.Messages...)
		if !res.HasMore {
			c.Close()
			return out
		}
		after = res.Next
	}
}

type history struct {
	IsLast   bool `json:"is_last"`
	Messages []struct {
		MsgID   int64  `json:"msg_id"`
		Content string `json:"content"`
		CType   string `json:"ctype"`
		Status  string `json:"status"`
		Attach  string `json:"attachment"`
		Config  string `json:"config"`
		Ext     string `json:"ext"`
		From    struct {
			UID int64 `json:"uid"`
		} `json:"from_xid"`
		To struct {
			UID int64 `json:"uid"`
		} `json:"to_xid"`
	} `json:"messages"`
	NextMsgID int64 `json:"next_msg_id"`
}

func getHistory(t *testing.T, e *env, uid, opp, start int64, limit int) history {
	t.Helper()
	var h history
	e.ok("GET", q("/message/conversation", "opposite_id", opp, "msg_id_start", start, "limit", limit), as(uid), nil).into(t, &h)
	return h
}

func send(from int64, to int64, content string) map[string]any {
	return map[string]any{"from_user_id": from, "targets": []int64{to}, "type": 1, "content_type": 0, "content": content}
}

func TestMessageSendLiveAndSync(t *testing.T) {
	e := newEnv(t)
	a := rosUser(t, e, "a", 0)
	b := rosUser(t, e, "b", 0)
	bLive := msgDial(t, e, b, 1)
	aLive := msgDial(t, e, a, 7)

	body := map[string]any{
		"from_user_id": a, "targets": []int64{b}, "type": 1, "content_type": 1, "content": "pic",
		"attachment": `{"url":"https://cdn.example/a.png","dName":"a.png","fLen":12}`, "config": `{"c":1}`, "ext": `{"e":2}`,
	}
	var ok bool
	e.ok("POST", "/message/send", nil, body).into(t, &ok)
	if !ok {
		t.Fatal("data is not true")
	}
	// Durable before the answer: the recipient's live device and the
	// sender's own devices get it.
	for _, c := range []*client.Conn{bLive, aLive} {
		m := msgNext(t, c)
		if m.From != a || m.ToUser != b || m.Type != "image" || m.Content != "pic" || m.Ext != `{"e":2}` ||
			m.Attachment == "" || m.Config != `{"c":1}` || m.FromDev != 0 {
			t.Fatalf("live message %+v", m)
		}
	}
	// Synced later by a device that was offline.
	msgs := msgSync(t, e, b, 2)
	if len(msgs) != 1 || msgs[0].Content != "pic" {
		t.Fatalf("sync: %+v", msgs)
	}
	h := getHistory(t, e, b, a, 0, 10)
	if len(h.Messages) != 1 || h.Messages[0].CType != "IMAGE" || h.Messages[0].Attach == "" || h.Messages[0].From.UID != a ||
		h.Messages[0].To.UID != b || h.Messages[0].Status != "UNREAD" || !h.IsLast {
		t.Fatalf("history %+v", h)
	}

	// PUT, a user token sending as itself, several targets.
	c := rosUser(t, e, "c", 0)
	e.ok("PUT", "/message/send", asUser(e, b), map[string]any{"targets": []int64{a, c}, "type": 1, "content_type": 0, "content": "hey"})
	if m := msgNext(t, aLive); m.From != b || m.Content != "hey" {
		t.Fatalf("user-token send: %+v", m)
	}
}

// TestMessageSeedCurl runs the /message/send example of the Lanying server
// guide (seed 000): an admin token, no sender (the system sender 0).
func TestMessageSeedCurl(t *testing.T) {
	e := newEnv(t)
	u := rosUser(t, e, "u", 0)
	live := msgDial(t, e, u, 1)
	var ok bool
	e.ok("POST", "/message/send", nil, fmt.Sprintf(`{"targets":[%d],"type":1,"content":"hello","content_type":0}`, u)).into(t, &ok)
	if !ok {
		t.Fatal("data is not true")
	}
	m := msgNext(t, live)
	if m.From != 0 || m.Content != "hello" || m.Conv != "u:0:"+strconv.FormatInt(u, 10) {
		t.Fatalf("system message %+v", m)
	}
	if h := getHistory(t, e, u, 0, 0, 5); len(h.Messages) != 1 || h.Messages[0].From.UID != 0 {
		t.Fatalf("system conversation history %+v", h)
	}
}

func TestMessageSendErrors(t *testing.T) {
	e := newEnv(t)
	other := newEnv(t)
	a := rosUser(t, e, "a", 0)
	b := rosUser(t, e, "b", 0)
	bad := []struct {
		name string
		body any
		code int
	}{
		{"no targets", map[string]any{"type": 1, "content_type": 0, "content": "x"}, 10002},
		{"no type", map[string]any{"targets": []int64{b}, "content_type": 0, "content": "x"}, 10002},
		{"type 3", map[string]any{"targets": []int64{b}, "type": 3, "content_type": 0, "content": "x"}, 10002},
		{"no content_type", map[string]any{"targets": []int64{b}, "type": 1, "content": "x"}, 10002},
		{"content_type 8", map[string]any{"targets": []int64{b}, "type": 1, "content_type": 8, "content": "x"}, 10002},
		{"empty text", map[string]any{"targets": []int64{b}, "type": 1, "content_type": 0}, 10002},
		{"image without attachment", map[string]any{"targets": []int64{b}, "type": 1, "content_type": 1}, 10002},
		{"attachment not JSON", map[string]any{"targets": []int64{b}, "type": 1, "content_type": 4, "attachment": "x"}, 10002},
		{"content too long", map[string]any{"targets": []int64{b}, "type": 1, "content_type": 0, "content": string(make([]byte, 33<<10))}, 10002},
		{"targets as string", `{"targets":"1","type":1,"content_type":0,"content":"x"}`, 10002},
		{"negative target", map[string]any{"targets": []int64{-1}, "type": 1, "content_type": 0, "content": "x"}, 10002},
		{"too many targets", map[string]any{"targets": make([]int64, 501), "type": 1, "content_type": 0, "content": "x"}, 10002},
		{"negative transaction", map[string]any{"targets": []int64{b}, "type": 1, "content_type": 0, "content": "x", "transaction_id": -3}, 10002},
		{"unknown user", send(a, 99999, "x"), 10000},
		{"unknown sender", send(99999, b, "x"), 10000},
		{"unknown group", map[string]any{"targets": []int64{77}, "type": 2, "content_type": 0, "content": "x"}, 20001},
		{"body not JSON", "{", 10002},
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			e.wantCode(tt.code, "POST", "/message/send", nil, tt.body)
		})
	}
	// Permission: a user token sending as another user, another app's token.
	e.wantCode(10010, "POST", "/message/send", asUser(e, b), send(a, b, "x"))
	e.wantCode(10010, "POST", "/message/send", map[string]string{"access-token": e.userToken(b), "user_id": strconv.FormatInt(a, 10)}, send(0, b, "x"))
	e.wantCode(10008, "POST", "/message/send", map[string]string{"access-token": other.admin}, send(a, b, "x"))
	e.wantCode(10003, "POST", "/message/send", map[string]string{"access-token": ""}, send(a, b, "x"))
	if msgs := msgSync(t, e, b, 3); len(msgs) != 0 {
		t.Fatalf("a refused send was stored: %+v", msgs)
	}
}

func TestMessageTransactionID(t *testing.T) {
	e := newEnv(t)
	a := rosUser(t, e, "a", 0)
	b := rosUser(t, e, "b", 0)
	body := send(a, b, "once")
	body["transaction_id"] = 42
	e.ok("POST", "/message/send", nil, body)
	e.wantCode(10017, "POST", "/message/send", nil, body)
	// Another sender's transaction 42 is another request.
	body2 := send(b, a, "other")
	body2["transaction_id"] = 42
	e.ok("POST", "/message/send", nil, body2)
	if h := getHistory(t, e, a, b, 0, 10); len(h.Messages) != 2 {
		t.Fatalf("history after a repeated transaction: %+v", h)
	}
}

func TestMessageBlacklistEverywhere(t *testing.T) {
	e := newEnv(t)
	a := rosUser(t, e, "a", 0)
	b := rosUser(t, e, "b", 0)
	e.ok("POST", q("/roster/block", "user_id", a), as(b), nil)
	bLive := msgDial(t, e, b, 1)

	// REST.
	e.wantCode(10014, "POST", "/message/send", nil, send(a, b, "rest"))
	e.wantCode(10014, "POST", "/message/send", asUser(e, a), send(0, b, "rest"))
	// Socket.
	aLive := msgDial(t, e, a, 1)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err := aLive.Send(ctx, client.Outgoing{ToUser: b, Content: "socket"})
	var perr *protocol.Error
	if !errors.As(err, &perr) || perr.Code != protocol.CodeBlocked {
		t.Fatalf("socket send to a user who blocked the sender: %v, want err %d", err, protocol.CodeBlocked)
	}
	msgNone(t, bLive)
	// The other way round is fine; so is the system sender.
	if _, err := msgDial(t, e, b, 2).Send(ctx, client.Outgoing{ToUser: a, Content: "back"}); err != nil {
		t.Fatal(err)
	}
	e.ok("POST", "/message/send", nil, map[string]any{"targets": []int64{b}, "type": 1, "content_type": 0, "content": "sys"})
	if m := msgNext(t, bLive); m.Content != "back" {
		t.Fatalf("got %+v", m)
	}
	if m := msgNext(t, bLive); m.Content != "sys" {
		t.Fatalf("got %+v", m)
	}
	// Several targets, one of which blocks: the others get it, the answer says who did not.
	c := rosUser(t, e, "c", 0)
	r := e.wantCode(10014, "POST", "/message/send", nil, map[string]any{"from_user_id": a, "targets": []int64{c, b}, "type": 1, "content_type": 0, "content": "multi"})
	if r.Message == "" {
		t.Fatal("no message naming the refused target")
	}
	if h := getHistory(t, e, c, a, 0, 5); len(h.Messages) != 1 {
		t.Fatalf("c did not get the multi-target message: %+v", h)
	}
	// Unblocked: allowed again.
	e.ok("POST", q("/roster/unblock", "user_id", a), as(b), nil)
	e.ok("POST", "/message/send", nil, send(a, b, "after"))
}

func TestMessageGroupSend(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	a := rosUser(t, e, "a", 0)
	b := rosUser(t, e, "b", 0)
	out := rosUser(t, e, "out", 0)
	const gid = 5001
	if err := e.st.AddGroupMembers(ctx, e.app, gid, a, b); err != nil {
		t.Fatal(err)
	}
	bLive := msgDial(t, e, b, 1)
	e.ok("POST", "/message/send", nil, map[string]any{"from_user_id": a, "targets": []int64{gid}, "type": 2, "content_type": 0, "content": "to all"})
	if m := msgNext(t, bLive); m.ToGroup != gid || m.From != a {
		t.Fatalf("group message %+v", m)
	}
	// A user token of a non-member: 20002; an admin may post as anyone.
	e.wantCode(20002, "POST", "/message/send", asUser(e, out), map[string]any{"targets": []int64{gid}, "type": 2, "content_type": 0, "content": "x"})
	e.ok("POST", "/message/notify", nil, map[string]any{"targets": []int64{gid}, "type": 2, "content_type": 0, "content": "notice"})
	if m := msgNext(t, bLive); m.From != 0 || m.Content != "notice" {
		t.Fatalf("group notification %+v", m)
	}
	h := getHistory(t, e, b, gid, 0, 10)
	if len(h.Messages) != 2 || h.Messages[0].Content != "notice" || h.Messages[1].To.UID != gid {
		t.Fatalf("group history %+v", h)
	}
	e.wantCode(20002, "GET", q("/message/conversation", "opposite_id", gid, "msg_id_start", 0, "limit", 5), asUser(e, out), nil)
}

func TestMessageNotify(t *testing.T) {
	e := newEnv(t)
	u := rosUser(t, e, "u", 0)
	live := msgDial(t, e, u, 1)
	e.ok("PUT", "/message/notify", nil, map[string]any{"targets": []int64{u}, "type": 1, "content_type": 6, "content": "", "ext": "x"})
	if m := msgNext(t, live); m.From != 0 || m.Type != "command" {
		t.Fatalf("notification %+v", m)
	}
	e.wantCode(10010, "POST", "/message/notify", asUser(e, u), map[string]any{"targets": []int64{u}, "type": 1, "content_type": 0, "content": "x"})
	e.wantCode(10002, "POST", "/message/notify", nil, map[string]any{"from_user_id": u, "targets": []int64{u}, "type": 1, "content_type": 0, "content": "x"})
	e.wantCode(10000, "POST", "/message/notify", nil, map[string]any{"targets": []int64{404}, "type": 1, "content_type": 0, "content": "x"})
}

func TestMessageRecall(t *testing.T) {
	e := newEnv(t)
	a := rosUser(t, e, "a", 0)
	b := rosUser(t, e, "b", 0)
	c := rosUser(t, e, "c", 0)
	aLive := msgDial(t, e, a, 1)
	bLive := msgDial(t, e, b, 1)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ack, err := aLive.Send(ctx, client.Outgoing{ToUser: b, Content: "oops"})
	if err != nil {
		t.Fatal(err)
	}
	keep, err := aLive.Send(ctx, client.Outgoing{ToUser: b, Content: "keep"})
	if err != nil {
		t.Fatal(err)
	}
	msgNext(t, bLive)
	msgNext(t, bLive)
	id := int64(ack.ID)

	// Errors first: nothing changes.
	e.wantCode(10010, "POST", "/message/recall", asUser(e, b), map[string]any{"conversation_id": a, "msg_id": id})
	e.wantCode(10013, "POST", "/message/recall", asUser(e, a), map[string]any{"conversation_id": a, "msg_id": id})
	e.wantCode(10013, "POST", "/message/recall", asUser(e, a), map[string]any{"conversation_id": b, "msg_id": 12345})
	e.wantCode(10013, "POST", "/message/recall", asUser(e, c), map[string]any{"conversation_id": a, "msg_id": id})
	e.wantCode(10002, "POST", "/message/recall", asUser(e, a), map[string]any{"msg_id": id})
	e.wantCode(10002, "POST", "/message/recall", asUser(e, a), map[string]any{"conversation_id": b})
	e.wantCode(10010, "POST", "/message/recall", map[string]string{"access-token": e.userToken(b), "user_id": strconv.FormatInt(a, 10)}, map[string]any{"conversation_id": b, "msg_id": id})

	// Ids as decimal strings are not ids: leading zeros, signs, letters.
	for _, bad := range []string{"007", "+5", "5a", " 5", "1e3", ""} {
		e.wantCode(10002, "POST", "/message/recall", asUser(e, a), map[string]any{"conversation_id": strconv.FormatInt(b, 10), "msg_id": bad})
	}
	// Ids may be decimal strings, as JavaScript callers keep them.
	e.ok("PUT", "/message/recall", asUser(e, a), map[string]any{"conversation_id": strconv.FormatInt(b, 10), "msg_id": strconv.FormatInt(id, 10)})
	// Every device of both users hears of it (a REST recall has no
	// sending device to skip).
	for _, c := range []*client.Conn{bLive, aLive} {
		m := msgNext(t, c)
		if m.Type != protocol.EventRecall || int64(m.Ref) != id || m.From != a || !m.IsEvent() {
			t.Fatalf("recall event %+v", m)
		}
	}
	// Gone from history; sync shows the recall where the message was.
	h := getHistory(t, e, b, a, 0, 10)
	if len(h.Messages) != 1 || h.Messages[0].MsgID != int64(keep.ID) {
		t.Fatalf("history after recall %+v", h)
	}
	for _, sm := range msgSync(t, e, b, 2) {
		if sm.Content == "oops" {
			t.Fatalf("sync still returns the recalled message %+v", sm)
		}
	}
	// The same recall again is answered as before; another user's recall
	// of a recalled message is 10013.
	e.ok("POST", "/message/recall", asUser(e, a), map[string]any{"conversation_id": b, "msg_id": id})
	e.wantCode(10013, "POST", "/message/recall", as(b), map[string]any{"conversation_id": a, "msg_id": id})
	// An admin acting as the recipient may recall the sender's message.
	e.ok("POST", "/message/recall", as(b), map[string]any{"conversation_id": a, "msg_id": int64(keep.ID)})
	if m := msgNext(t, aLive); m.Type != protocol.EventRecall || int64(m.Ref) != int64(keep.ID) {
		t.Fatalf("recall event to the sender %+v", m)
	}
	if h := getHistory(t, e, a, b, 0, 10); len(h.Messages) != 0 {
		t.Fatalf("history after both recalls %+v", h)
	}
}

func TestMessageReadAckAndSessions(t *testing.T) {
	e := newEnv(t)
	a := rosUser(t, e, "a", 0)
	b := rosUser(t, e, "b", 0)
	c := rosUser(t, e, "c", 0)
	aLive := msgDial(t, e, a, 1)
	ids := make([]int64, 3)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for i := range ids {
		ack, err := aLive.Send(ctx, client.Outgoing{ToUser: b, Content: "m" + strconv.Itoa(i)})
		if err != nil {
			t.Fatal(err)
		}
		ids[i] = int64(ack.ID)
	}
	e.ok("POST", "/message/send", nil, send(c, b, "from c"))

	type unread struct {
		Conv struct {
			UID int64 `json:"uid"`
		} `json:"conversation_id"`
		Num  int `json:"num"`
		Type int `json:"type"`
	}
	sessions := func(uid int64) []unread {
		var u []unread
		e.ok("GET", "/message/unread", as(uid), nil).into(t, &u)
		return u
	}
	if u := sessions(b); len(u) != 2 || u[0].Conv.UID != c || u[0].Num != 1 || u[1].Conv.UID != a || u[1].Num != 3 || u[1].Type != 1 {
		t.Fatalf("b's sessions %+v", u)
	}
	if u := sessions(a); len(u) != 1 || u[0].Num != 0 {
		t.Fatalf("a's own messages count as unread: %+v", u)
	}

	e.ok("GET", q("/message/ack", "conversation_id", a, "msg_id", ids[1], "device_sn", 3), asUser(e, b), nil)
	m := msgNext(t, aLive)
	if m.Type != protocol.EventRead || int64(m.Ref) != ids[1] || m.From != b {
		t.Fatalf("read event %+v", m)
	}
	if u := sessions(b); u[1].Num != 1 {
		t.Fatalf("unread after the read receipt %+v", u)
	}
	h := getHistory(t, e, a, b, 0, 10)
	if len(h.Messages) != 3 || h.Messages[0].Status != "DELIVERED" || h.Messages[1].Status != "READ" || h.Messages[2].Status != "READ" {
		t.Fatalf("statuses seen by the sender %+v", h)
	}
	// An older receipt changes nothing and tells nobody.
	e.ok("GET", q("/message/ack", "msg_id", ids[0]), as(b), nil)
	msgNone(t, aLive)
	e.wantCode(10013, "GET", q("/message/ack", "msg_id", 99), as(b), nil)
	e.wantCode(10013, "GET", q("/message/ack", "conversation_id", c, "msg_id", ids[2]), as(b), nil)
	e.wantCode(10002, "GET", "/message/ack", as(b), nil)
	e.wantCode(10002, "GET", q("/message/ack", "msg_id", ids[2], "device_sn", -1), as(b), nil)
	e.wantCode(10010, "GET", q("/message/ack", "msg_id", ids[2]), map[string]string{"access-token": e.userToken(a), "user_id": strconv.FormatInt(b, 10)}, nil)

	// Paging the history: newest first, then older.
	p1 := getHistory(t, e, b, a, 0, 2)
	p2 := getHistory(t, e, b, a, p1.NextMsgID, 2)
	if len(p1.Messages) != 2 || p1.IsLast || p1.Messages[0].MsgID != ids[2] || len(p2.Messages) != 1 || !p2.IsLast || p2.Messages[0].MsgID != ids[0] {
		t.Fatalf("pages %+v %+v", p1, p2)
	}
	e.wantCode(10002, "GET", q("/message/conversation", "opposite_id", a, "msg_id_start", 0, "limit", 0), as(b), nil)
	e.wantCode(10002, "GET", q("/message/conversation", "opposite_id", a, "msg_id_start", 0), as(b), nil)
	e.wantCode(10000, "GET", q("/message/conversation", "opposite_id", 31337, "msg_id_start", 0, "limit", 5), as(b), nil)

	// Deleting a session hides it until the next message.
	e.ok("DELETE", q("/message/conversation", "conversation_id", c), as(b), nil)
	if u := sessions(b); len(u) != 1 || u[0].Conv.UID != a {
		t.Fatalf("sessions after delete %+v", u)
	}
	e.wantCode(10002, "DELETE", "/message/conversation", as(b), nil)
	e.ok("POST", "/message/send", nil, send(c, b, "again"))
	if u := sessions(b); len(u) != 2 || u[0].Conv.UID != c || u[0].Num != 2 {
		t.Fatalf("sessions after a new message %+v", u)
	}
}

// TestMessagePermissions runs the operations that act as a user with a
// user token acting as another user, another app's token and an admin
// token naming no user.
func TestMessagePermissions(t *testing.T) {
	e := newEnv(t)
	other := newEnv(t)
	a := rosUser(t, e, "a", 0)
	b := rosUser(t, e, "b", 0)
	ops := []struct {
		method, path string
		body         any
	}{
		{"POST", "/message/recall", map[string]any{"conversation_id": b, "msg_id": 1}},
		{"PUT", "/message/recall", map[string]any{"conversation_id": b, "msg_id": 1}},
		{"GET", q("/message/ack", "msg_id", 1), nil},
		{"GET", q("/message/conversation", "opposite_id", b, "msg_id_start", 0, "limit", 5), nil},
		{"DELETE", q("/message/conversation", "conversation_id", b), nil},
		{"GET", "/message/unread", nil},
	}
	for _, op := range ops {
		t.Run(op.method+op.path, func(t *testing.T) {
			e.wantCode(10010, op.method, op.path, map[string]string{"access-token": e.userToken(a), "user_id": strconv.FormatInt(b, 10)}, op.body)
			e.wantCode(10008, op.method, op.path, map[string]string{"access-token": other.admin, "user_id": strconv.FormatInt(a, 10)}, op.body)
			e.wantCode(10002, op.method, op.path, nil, op.body)
			e.wantCode(10000, op.method, op.path, as(987654), op.body)
		})
	}
	for _, path := range []string{"/message/send", "/message/notify"} {
		e.wantCode(10008, "POST", path, map[string]string{"access-token": other.admin}, send(0, a, "x"))
	}
}
