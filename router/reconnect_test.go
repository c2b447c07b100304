package router

import (
	"fmt"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chatgate/chatgate/internal/bus"
	"github.com/chatgate/chatgate/protocol"
	"github.com/chatgate/chatgate/store"
)

// TestConnectBetweenRounds reproduces a device that connects while its
// message is being routed: after the batch's read round saw it offline, it
// registers its route and syncs its inbox, which does not hold the message
// yet. The write round must then deliver the message live to it, since no
// later sync would bring it before its next reconnect.
func TestConnectBetweenRounds(t *testing.T) {
	const gid = 10
	type conn struct {
		uid  int64
		dev  int32
		node string
	}
	cases := []struct {
		name string
		// setup runs before anything is sent; prior, when set, is routed
		// first (its ack read on gwA) and its id passed to send.
		setup func(e *env)
		prior *bus.Send
		send  func(prior int64) bus.Send
		// ackNode is where the sender's ack goes; late connects in the
		// hook and must get the item typed typ.
		ackNode string
		late    conn
		typ     string
		// push: late's device has a token, so the read round also queues
		// a push job for it (the documented double: push and live).
		push bool
	}{
		{
			name:  "one-to-one peer",
			setup: func(e *env) { e.device(2, 1, "tok2") },
			send: func(int64) bus.Send {
				return bus.Send{From: 1, FromDev: 1, Node: "gwA", Conn: "c1-1", CMID: "m", ToUser: 2, Content: "hi"}
			},
			ackNode: "gwA", late: conn{2, 1, "gwB"}, typ: "text", push: true,
		},
		{
			name: "sender's other device",
			send: func(int64) bus.Send {
				return bus.Send{From: 1, FromDev: 1, Node: "gwA", Conn: "c1-1", CMID: "m", ToUser: 2, Content: "hi"}
			},
			ackNode: "gwA", late: conn{1, 2, "gwB"}, typ: "text",
		},
		{
			name: "group member",
			setup: func(e *env) {
				if err := e.st.AddGroupMembers(e.ctx, e.app, gid, 1, 2, 3); err != nil {
					e.t.Fatal(err)
				}
				e.online(2, 1, "gwB", false)
			},
			send: func(int64) bus.Send {
				return bus.Send{From: 1, FromDev: 1, Node: "gwA", Conn: "c1-1", CMID: "m", ToGroup: gid, Content: "hi"}
			},
			ackNode: "gwA", late: conn{3, 1, "gwC"}, typ: "text",
		},
		{
			name:  "recall",
			prior: &bus.Send{From: 1, FromDev: 1, Node: "gwA", Conn: "c1-1", CMID: "p", ToUser: 2, Content: "oops"},
			send: func(prior int64) bus.Send {
				return bus.Send{Kind: bus.SendRecall, Ref: prior, From: 1, FromDev: 1, Node: "gwA", Conn: "c1-1", CMID: "r", ToUser: 2}
			},
			ackNode: "gwA", late: conn{2, 1, "gwB"}, typ: protocol.EventRecall,
		},
		{
			name:  "read receipt",
			prior: &bus.Send{From: 1, FromDev: 1, Node: "gwA", Conn: "c1-1", CMID: "p", ToUser: 2, Content: "read me"},
			send: func(prior int64) bus.Send {
				return bus.Send{Kind: bus.SendRead, Ref: prior, From: 2, FromDev: 1, Node: "gwC", Conn: "c2-1", CMID: "r", ToUser: 1}
			},
			ackNode: "gwC", late: conn{1, 2, "gwB"}, typ: protocol.EventRead,
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, testConfig())
			// The hook runs on a worker goroutine: it reports to the test
			// instead of failing it.
			var armed atomic.Pointer[func()]
			r := e.start("r1", 1, func(r *Router) {
				r.afterRead = func() {
					if f := armed.Swap(nil); f != nil {
						(*f)()
					}
				}
			})
			e.waitOwned(r)
			e.online(1, 1, "gwA", false)
			if tc.setup != nil {
				tc.setup(e)
			}
			var prior int64
			if tc.prior != nil {
				e.send(*tc.prior)
				prior = e.waitItems("gwA", bus.KindAck, 1)[0].ID
			}

			late := tc.late
			report := make(chan error, 1)
			hook := func() {
				now := time.Now()
				rt := store.Route{Device: late.dev, Node: late.node, Conn: "late", Expires: now.Add(time.Minute).UnixMilli()}
				if _, err := e.st.RegisterRoute(e.ctx, e.app, late.uid, rt, 0, time.Minute, now); err != nil {
					report <- fmt.Errorf("register route: %w", err)
					return
				}
				page, err := e.st.Sync(e.ctx, e.app, late.uid, prior, 100)
				switch {
				case err != nil:
					report <- fmt.Errorf("sync: %w", err)
				case len(page.Bodies) != 0:
					report <- fmt.Errorf("the sync between the rounds already saw %s: the race was not reproduced", page.Bodies)
				default:
					report <- nil
				}
			}
			armed.Store(&hook)
			s := tc.send(prior)
			e.send(s)

			var id int64
			waitFor(t, 10*time.Second, "the ack of "+s.CMID, func() bool {
				for _, d := range ofKind(e.items(tc.ackNode), bus.KindAck) {
					if d.CMID == s.CMID {
						id = d.ID
					}
				}
				return id != 0
			})
			select {
			case err := <-report:
				if err != nil {
					t.Fatal(err)
				}
			case <-time.After(10 * time.Second):
				t.Fatal("the hook between the rounds never ran")
			}
			var got *bus.Delivery
			for _, d := range ofKind(e.items(late.node), bus.KindMsg) {
				if decodeMsg(t, d.Msg).ID == protocol.ID(id) {
					got = &d
				}
			}
			if got == nil {
				t.Fatalf("%s got no live delivery of %d for user %d, which connected between the rounds", late.node, id, late.uid)
			}
			if m := decodeMsg(t, got.Msg); m.Type != tc.typ || !slices.Contains(got.Users, late.uid) {
				t.Errorf("delivery %+v of %s, want type %s for user %d", got, got.Msg, tc.typ, late.uid)
			}
			if ib := e.inbox(late.uid); !slices.Contains(ib, id) {
				t.Errorf("inbox of %d = %v, want %d in it", late.uid, ib, id)
			}
			var pushed bool
			for _, j := range e.pushJobs() {
				pushed = pushed || (j.User == late.uid && j.Device == late.dev && j.MsgID == id)
			}
			if pushed != tc.push {
				t.Errorf("push job for %d/%d: %v, want %v", late.uid, late.dev, pushed, tc.push)
			}
		})
	}
}
