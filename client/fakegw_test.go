package client

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/chatgate/chatgate/protocol"
)

// This file is a fake chatgate deployment for the client's tests: gateways
// (fakeServer) that speak protocol v1 as PROTOCOL.md says, over one shared
// in-memory backend that plays Redis and the router. Several fake gateways
// over one backend let a test kill one and watch a Session move to another.

const testApp = "demo"

// Tokens the fake accepts: "user:<id>" is a valid user token; the others
// fail authentication with the code of their name.
const (
	tokenExpired  = "expired"
	tokenAdmin    = "admin"
	tokenOtherApp = "other-app"
	tokenDisabled = "disabled"
	tokenTooMany  = "too-many"
	tokenBusy     = "busy" // 5003: retry
)

func userToken(uid int64) string { return "user:" + strconv.FormatInt(uid, 10) }

type devKey struct {
	user int64
	dev  int32
}

type sendRecord struct {
	server string
	user   int64
	dev    int32
	cmid   string
}

// backend is the state fake gateways share.
type backend struct {
	mu      sync.Mutex
	lastID  protocol.ID
	msgs    []*protocol.Message // in id order
	idem    map[string]protocol.ID
	cursors map[devKey]protocol.ID
	groups  map[int64][]int64
	live    map[devKey]*fakeConn
	sends   []sendRecord
	states  []bool // every state frame received, in order
	// failSends makes the next sends of a cmid fail with 5003.
	failSends map[string]int
}

func newBackend() *backend {
	return &backend{
		idem:      map[string]protocol.ID{},
		cursors:   map[devKey]protocol.ID{},
		groups:    map[int64][]int64{500: {1, 2, 3}},
		live:      map[devKey]*fakeConn{},
		failSends: map[string]int{},
	}
}

// nextID makes snowflake-shaped ids (milliseconds << 22), as the real
// server does, so that the Session's time-based sync overlap applies.
func (b *backend) nextID() protocol.ID {
	id := protocol.ID(time.Now().UnixMilli()-1704067200000) << idTimeShift
	if id <= b.lastID {
		id = b.lastID + 1
	}
	b.lastID = id
	return id
}

// store makes a message durable, idempotently per (user, device, cmid). It
// returns the message and whether it is new.
func (b *backend) store(from int64, dev int32, f *protocol.Frame) (*protocol.Message, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	key := fmt.Sprintf("%d:%d:%s", from, dev, f.CMID)
	if id, ok := b.idem[key]; ok {
		for _, m := range b.msgs {
			if m.ID == id {
				return m, false
			}
		}
	}
	m := &protocol.Message{
		ID: b.nextID(), Conv: protocol.ConvID(from, f.ToUser, f.ToGroup), From: from, FromDev: dev,
		ToUser: f.ToUser, ToGroup: f.ToGroup, Type: f.Type, Content: f.Content, Ext: f.Ext, CMID: f.CMID,
		TS: time.Now().UnixMilli(),
	}
	b.idem[key] = m.ID
	b.msgs = append(b.msgs, m)
	return m, true
}

// inject stores a message from another user (e.g. sent while a client was
// away) and delivers it to live devices, like the router would.
func (b *backend) inject(from int64, dev int32, toUser int64, content string) *protocol.Message {
	m, _ := b.store(from, dev, &protocol.Frame{CMID: "inj-" + content, ToUser: toUser, Type: "text", Content: content})
	b.fanout(m)
	return m
}

func (b *backend) recipients(m *protocol.Message) []int64 {
	if m.ToGroup != 0 {
		return b.groups[m.ToGroup]
	}
	if m.ToUser == m.From {
		return []int64{m.From}
	}
	return []int64{m.From, m.ToUser}
}

func (b *backend) inInbox(uid int64, m *protocol.Message) bool {
	for _, r := range b.recipients(m) {
		if r == uid {
			return true
		}
	}
	return false
}

// fanout writes m to every live device of its recipients except the
// sending device.
func (b *backend) fanout(m *protocol.Message) {
	b.mu.Lock()
	var targets []*fakeConn
	for _, uid := range b.recipients(m) {
		for k, fc := range b.live {
			if k.user == uid && (k.user != m.From || k.dev != m.FromDev) {
				targets = append(targets, fc)
			}
		}
	}
	b.mu.Unlock()
	for _, fc := range targets {
		fc.write(&protocol.Frame{T: protocol.TypeMsg, Message: m})
	}
}

func (b *backend) sync(uid int64, after protocol.ID, limit int) *protocol.Frame {
	b.mu.Lock()
	defer b.mu.Unlock()
	res := &protocol.Frame{T: protocol.TypeSyncRes, Next: after}
	for _, m := range b.msgs {
		if m.ID <= after || !b.inInbox(uid, m) {
			continue
		}
		if len(res.Msgs) == limit {
			res.HasMore = true
			break
		}
		res.Msgs = append(res.Msgs, m)
		res.Next = m.ID
	}
	return res
}

// inbox returns the ids of uid's messages not sent by device dev.
func (b *backend) inbox(uid int64, dev int32) []protocol.ID {
	b.mu.Lock()
	defer b.mu.Unlock()
	var ids []protocol.ID
	for _, m := range b.msgs {
		if b.inInbox(uid, m) && (m.From != uid || m.FromDev != dev) {
			ids = append(ids, m.ID)
		}
	}
	return ids
}

func (b *backend) sendsOf(cmid string) []sendRecord {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []sendRecord
	for _, s := range b.sends {
		if s.cmid == cmid {
			out = append(out, s)
		}
	}
	return out
}

func (b *backend) messagesWithCMID(cmid string) int {
	b.mu.Lock()
	defer b.mu.Unlock()
	n := 0
	for _, m := range b.msgs {
		if m.CMID == cmid {
			n++
		}
	}
	return n
}

func (b *backend) cursor(uid int64, dev int32) protocol.ID {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.cursors[devKey{uid, dev}]
}

// conn returns the live connection of a device, waiting for it a little.
func (b *backend) conn(t *testing.T, uid int64, dev int32) *fakeConn {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		b.mu.Lock()
		fc := b.live[devKey{uid, dev}]
		b.mu.Unlock()
		if fc != nil {
			return fc
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatalf("device %d/%d never connected", uid, dev)
	return nil
}

// fakeServer is one fake gateway.
type fakeServer struct {
	name   string
	b      *backend
	srv    *httptest.Server
	silent atomic.Bool  // stop answering anything (a hung gateway)
	closed atomic.Bool  // refuse handshakes with 503 (a gateway not up yet)
	auths  atomic.Int32 // auth frames received

	mu    sync.Mutex
	opts  serverOpts
	conns map[*fakeConn]struct{}
	dead  bool
	wg    sync.WaitGroup
}

// serverOpts are what a test may change on a running fake gateway.
type serverOpts struct {
	hello protocol.Hello // template: heartbeat and limits
	// replay makes the gateway send replayUser's latest inbox messages as
	// msg frames right after hello: duplicates of what sync returns.
	replay     int
	replayUser int64
	// onSend, if set, sees each valid send first; true means it handled
	// the frame (no ack, no fan-out).
	onSend func(fc *fakeConn, f *protocol.Frame) bool
	// onFrame, if set, sees every valid frame after auth.
	onFrame func(f *protocol.Frame)
}

func (s *fakeServer) set(change func(*serverOpts)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	change(&s.opts)
}

func (s *fakeServer) options() serverOpts {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.opts
}

func newFakeServer(t *testing.T, name string, b *backend) *fakeServer {
	t.Helper()
	lim := protocol.DefaultLimits()
	// Fast enough that tests never wait on the client's pacer unless they
	// set their own limits.
	lim.FramesPerSecond, lim.FrameBurst = 100000, 100000
	s := &fakeServer{
		name:  name,
		b:     b,
		opts:  serverOpts{hello: protocol.Hello{Node: name, Heartbeat: 25, Limits: lim}},
		conns: map[*fakeConn]struct{}{},
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/ws", s.handle)
	s.srv = httptest.NewServer(mux)
	t.Cleanup(s.kill)
	return s
}

func (s *fakeServer) url() string { return "ws" + strings.TrimPrefix(s.srv.URL, "http") + "/ws" }

// kill is a gateway crash: the listener and every connection vanish
// without a close frame.
func (s *fakeServer) kill() {
	s.mu.Lock()
	if s.dead {
		s.mu.Unlock()
		return
	}
	s.dead = true
	conns := make([]*fakeConn, 0, len(s.conns))
	for fc := range s.conns {
		conns = append(conns, fc)
	}
	s.mu.Unlock()
	s.srv.Listener.Close()
	for _, fc := range conns {
		_ = fc.ws.CloseNow()
	}
	s.srv.Close()
	s.wg.Wait()
}

type fakeConn struct {
	s    *fakeServer
	ws   *websocket.Conn
	user int64
	dev  int32
	mu   sync.Mutex
	bg   bool
}

func (fc *fakeConn) write(f *protocol.Frame) {
	b, err := protocol.Encode(f)
	if err != nil {
		panic(err)
	}
	fc.writeRaw(b)
}

func (fc *fakeConn) writeRaw(b []byte) {
	if fc.s.silent.Load() {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = fc.ws.Write(ctx, websocket.MessageText, b)
}

// kick sends a kick frame and closes with its code, as the gateway does.
func (fc *fakeConn) kick(code protocol.Code) {
	fc.write(&protocol.Frame{T: protocol.TypeKick, Code: int(code), Reason: code.String()})
	_ = fc.ws.Close(websocket.StatusCode(code), code.String())
}

// fail sends an err frame and closes with its code.
func (fc *fakeConn) fail(rid uint32, code protocol.Code, msg string) {
	fc.write(&protocol.Frame{T: protocol.TypeErr, Rid: rid, Code: int(code), Msg: msg})
	_ = fc.ws.Close(websocket.StatusCode(code), code.String())
}

func (s *fakeServer) handle(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	if s.dead || s.closed.Load() {
		s.mu.Unlock()
		http.Error(w, "unavailable", http.StatusServiceUnavailable)
		return
	}
	s.wg.Add(1)
	s.mu.Unlock()
	defer s.wg.Done()

	ws, err := websocket.Accept(w, r, &websocket.AcceptOptions{Subprotocols: []string{protocol.Subprotocol}})
	if err != nil {
		return
	}
	ws.SetReadLimit(1 << 20)
	fc := &fakeConn{s: s, ws: ws}
	s.mu.Lock()
	s.conns[fc] = struct{}{}
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.conns, fc)
		s.mu.Unlock()
		s.b.mu.Lock()
		if s.b.live[devKey{fc.user, fc.dev}] == fc {
			delete(s.b.live, devKey{fc.user, fc.dev})
		}
		s.b.mu.Unlock()
		_ = ws.CloseNow()
	}()
	if ws.Subprotocol() != protocol.Subprotocol {
		_ = ws.Close(websocket.StatusCode(protocol.CodeBadFrame), "subprotocol required")
		return
	}
	if !s.authenticate(fc) {
		return
	}
	ctx := context.Background()
	for {
		typ, data, err := ws.Read(ctx)
		if err != nil {
			return
		}
		if s.silent.Load() {
			continue
		}
		if typ != websocket.MessageText {
			fc.write(&protocol.Frame{T: protocol.TypeErr, Code: int(protocol.CodeBadFrame), Msg: "binary"})
			continue
		}
		opts := s.options()
		f, perr := protocol.Decode(data, opts.hello.Limits)
		if perr != nil {
			var rid uint32
			if f != nil {
				rid = f.Rid
			}
			if perr.Code == protocol.CodeFrameTooLarge {
				fc.fail(rid, perr.Code, perr.Detail)
				return
			}
			fc.write(&protocol.Frame{T: protocol.TypeErr, Rid: rid, Code: int(perr.Code), Msg: perr.Detail})
			continue
		}
		if opts.onFrame != nil {
			opts.onFrame(f)
		}
		s.serveFrame(fc, f, opts)
	}
}

func (s *fakeServer) authenticate(fc *fakeConn) bool {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, data, err := fc.ws.Read(ctx)
	if err != nil {
		return false
	}
	opts := s.options()
	f, perr := protocol.Decode(data, opts.hello.Limits)
	if perr != nil {
		var rid uint32
		if f != nil {
			rid = f.Rid
		}
		fc.fail(rid, perr.Code, perr.Detail)
		return false
	}
	if f.T != protocol.TypeAuth {
		fc.fail(f.Rid, protocol.CodeNotAuthed, "auth first")
		return false
	}
	s.auths.Add(1)
	code := protocol.Code(0)
	switch {
	case f.AppID != testApp:
		code = protocol.CodeUnknownApp
	case f.Token == tokenExpired:
		code = protocol.CodeTokenExpired
	case f.Token == tokenAdmin:
		code = protocol.CodeAuthFailed
	case f.Token == tokenOtherApp:
		code = protocol.CodeAppMismatch
	case f.Token == tokenDisabled:
		code = protocol.CodeUserDisabled
	case f.Token == tokenTooMany:
		code = protocol.CodeTooManyDevices
	case f.Token == tokenBusy:
		code = protocol.CodeUnavailable
	case !strings.HasPrefix(f.Token, "user:"):
		code = protocol.CodeAuthFailed
	}
	if code != 0 {
		fc.fail(f.Rid, code, "refused")
		return false
	}
	uid, err := strconv.ParseInt(strings.TrimPrefix(f.Token, "user:"), 10, 64)
	if err != nil || uid <= 0 {
		fc.fail(f.Rid, protocol.CodeAuthFailed, "bad token")
		return false
	}
	fc.user, fc.dev = uid, f.DeviceSN

	s.b.mu.Lock()
	old := s.b.live[devKey{uid, f.DeviceSN}]
	s.b.live[devKey{uid, f.DeviceSN}] = fc
	resume := s.b.cursors[devKey{uid, f.DeviceSN}]
	s.b.mu.Unlock()
	if old != nil {
		go old.kick(protocol.CodeKickReplaced)
	}
	h := opts.hello
	h.Session = fmt.Sprintf("%s-%p", s.name, fc)
	h.UserID, h.DeviceSN, h.Resume = uid, f.DeviceSN, resume
	fc.write(&protocol.Frame{T: protocol.TypeHello, Rid: f.Rid, Hello: &h})
	if opts.replay > 0 && uid == opts.replayUser {
		ids := s.b.inbox(uid, f.DeviceSN)
		if len(ids) > opts.replay {
			ids = ids[len(ids)-opts.replay:]
		}
		res := s.b.sync(uid, 0, 1<<30)
		for _, m := range res.Msgs {
			for _, id := range ids {
				if m.ID == id {
					fc.write(&protocol.Frame{T: protocol.TypeMsg, Message: m})
				}
			}
		}
	}
	return true
}

func (s *fakeServer) serveFrame(fc *fakeConn, f *protocol.Frame, opts serverOpts) {
	switch f.T {
	case protocol.TypeAuth:
		fc.write(&protocol.Frame{T: protocol.TypeErr, Rid: f.Rid, Code: int(protocol.CodeAlreadyAuthed), Msg: "again"})
	case protocol.TypePing:
		fc.write(&protocol.Frame{T: protocol.TypePong, Rid: f.Rid, TS: time.Now().UnixMilli()})
	case protocol.TypeDAck:
		s.b.mu.Lock()
		k := devKey{fc.user, fc.dev}
		s.b.cursors[k] = max(s.b.cursors[k], f.ID)
		s.b.mu.Unlock()
	case protocol.TypeState:
		fc.mu.Lock()
		fc.bg = *f.BG
		fc.mu.Unlock()
		s.b.mu.Lock()
		s.b.states = append(s.b.states, *f.BG)
		s.b.mu.Unlock()
	case protocol.TypeSync:
		limit := f.Limit
		if limit == 0 {
			limit = min(protocol.DefaultSyncLimit, opts.hello.Limits.MaxSyncLimit)
		}
		res := s.b.sync(fc.user, f.After, limit)
		res.Rid = f.Rid
		fc.write(res)
	case protocol.TypeSend:
		s.b.mu.Lock()
		s.b.sends = append(s.b.sends, sendRecord{server: s.name, user: fc.user, dev: fc.dev, cmid: f.CMID})
		failing := s.b.failSends[f.CMID]
		if failing > 0 {
			s.b.failSends[f.CMID] = failing - 1
		}
		s.b.mu.Unlock()
		switch {
		case f.From != 0 && f.From != fc.user:
			fc.write(&protocol.Frame{T: protocol.TypeErr, Rid: f.Rid, Code: int(protocol.CodeForbidden), Msg: "from"})
			return
		case failing > 0:
			fc.write(&protocol.Frame{T: protocol.TypeErr, Rid: f.Rid, Code: int(protocol.CodeUnavailable), Msg: "try later"})
			return
		case f.ToGroup != 0 && !s.b.member(f.ToGroup, fc.user):
			// Decided by the router, after the gateway accepted the frame.
			go func() {
				time.Sleep(5 * time.Millisecond)
				fc.write(&protocol.Frame{T: protocol.TypeErr, Rid: f.Rid, Code: int(protocol.CodeNotGroupMember), Msg: "not a member"})
			}()
			return
		}
		if opts.onSend != nil && opts.onSend(fc, f) {
			return
		}
		m, fresh := s.b.store(fc.user, fc.dev, f)
		fc.write(&protocol.Frame{T: protocol.TypeAck, Rid: f.Rid, CMID: f.CMID, ID: m.ID, TS: m.TS})
		if fresh {
			s.b.fanout(m)
		}
	}
}

func (b *backend) member(group, uid int64) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, m := range b.groups[group] {
		if m == uid {
			return true
		}
	}
	return false
}

// dialUser connects user uid's device dev to s.
func dialUser(t *testing.T, s *fakeServer, uid int64, dev int32) *Conn {
	t.Helper()
	c, err := Dial(context.Background(), testConfig(s.url(), uid, dev))
	if err != nil {
		t.Fatalf("dial user %d/%d: %v", uid, dev, err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func testConfig(url string, uid int64, dev int32) Config {
	return Config{URL: url, AppID: testApp, Token: userToken(uid), DeviceSN: dev, Platform: protocol.PlatformLinux, DialTimeout: 5 * time.Second}
}

// recv waits for the next live message of c.
func recv(t *testing.T, c *Conn) *protocol.Message {
	t.Helper()
	select {
	case m, ok := <-c.Messages():
		if !ok {
			t.Fatalf("messages closed: %v", c.Err())
		}
		return m
	case <-time.After(5 * time.Second):
		t.Fatal("no message within 5s")
		return nil
	}
}

// noMessage checks that c receives nothing for a short while.
func noMessage(t *testing.T, c *Conn) {
	t.Helper()
	select {
	case m := <-c.Messages():
		t.Fatalf("unexpected message %+v", m)
	case <-time.After(100 * time.Millisecond):
	}
}

func waitDone(t *testing.T, done <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatalf("%s did not end", what)
	}
}

func asCode(err error) protocol.Code {
	var perr *protocol.Error
	if errors.As(err, &perr) {
		return perr.Code
	}
	var kerr *KickError
	if errors.As(err, &kerr) {
		return kerr.Code
	}
	return 0
}

func sortedIDs(ids []protocol.ID) []protocol.ID {
	out := append([]protocol.ID(nil), ids...)
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}
