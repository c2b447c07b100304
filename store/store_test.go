package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"

	"github.com/chatgate/chatgate/internal/ids"
	"github.com/chatgate/chatgate/internal/redistest"
)

// backends runs each test on a real redis-server, on a real three-node
// Redis Cluster (every operation must stay within one hash slot) and on
// miniredis, the in-process server of the embedded mode.
func backends(t *testing.T, fn func(t *testing.T, s *Store, app string)) {
	t.Run("redis", func(t *testing.T) {
		c := redistest.Client(t)
		fn(t, New(c, Options{}), fmt.Sprintf("t%d", time.Now().UnixNano()))
	})
	t.Run("cluster", func(t *testing.T) {
		if testing.Short() {
			t.Skip("starts a three-node Redis Cluster")
		}
		c := redistest.ClusterClient(t)
		fn(t, New(c, Options{}), fmt.Sprintf("t%d", time.Now().UnixNano()))
	})
	t.Run("miniredis", func(t *testing.T) {
		m := miniredis.RunT(t)
		c := redis.NewClient(&redis.Options{Addr: m.Addr()})
		t.Cleanup(func() { c.Close() })
		fn(t, New(c, Options{}), "app1")
	})
}

func TestRoutes(t *testing.T) {
	backends(t, func(t *testing.T, s *Store, app string) {
		ctx := context.Background()
		now := time.Now()
		ttl := time.Minute
		r1 := Route{Device: 1, Node: "gw1", Conn: "c1", Expires: now.Add(ttl).UnixMilli()}
		if old, err := s.RegisterRoute(ctx, app, 7, r1, 2, ttl, now); err != nil || old != nil {
			t.Fatalf("register: %v %v", old, err)
		}
		r2 := Route{Device: 2, Node: "gw2", Conn: "c2", Expires: now.Add(ttl).UnixMilli()}
		if _, err := s.RegisterRoute(ctx, app, 7, r2, 2, ttl, now); err != nil {
			t.Fatal(err)
		}
		r3 := Route{Device: 3, Node: "gw1", Conn: "c3", Expires: now.Add(ttl).UnixMilli()}
		if _, err := s.RegisterRoute(ctx, app, 7, r3, 2, ttl, now); !errors.Is(err, ErrTooManyDevices) {
			t.Fatalf("cap: err = %v", err)
		}
		// Same device again replaces and reports the old route.
		r1b := Route{Device: 1, Node: "gw2", Conn: "c1b", Expires: now.Add(ttl).UnixMilli()}
		old, err := s.RegisterRoute(ctx, app, 7, r1b, 2, ttl, now)
		if err != nil || old == nil || old.Conn != "c1" || old.Node != "gw1" {
			t.Fatalf("replace: %+v %v", old, err)
		}
		// The replaced connection can no longer touch the route.
		if ok, _ := s.UpdateRoute(ctx, app, 7, Route{Device: 1, Node: "gw1", Conn: "c1", Expires: 1}, ttl); ok {
			t.Fatal("stale connection updated the route")
		}
		if err := s.RemoveRoute(ctx, app, 7, 1, "c1"); err != nil {
			t.Fatal(err)
		}
		rs, _ := s.Routes(ctx, app, 7, now)
		if len(rs) != 2 {
			t.Fatalf("routes = %+v", rs)
		}
		// Background state, then bulk refresh, then removal by owner.
		r2.BG = true
		if ok, err := s.UpdateRoute(ctx, app, 7, r2, ttl); !ok || err != nil {
			t.Fatalf("update: %v %v", ok, err)
		}
		if err := s.RefreshRoutes(ctx, []RouteRef{{App: app, User: 7, Route: r2}}, ttl); err != nil {
			t.Fatal(err)
		}
		rec, err := s.LookupRecipients(ctx, app, []int64{7, 8}, now)
		if err != nil || len(rec) != 2 || len(rec[0].Routes) != 2 || len(rec[1].Routes) != 0 {
			t.Fatalf("lookup: %+v %v", rec, err)
		}
		// Expired routes are invisible and do not count against the cap.
		later := now.Add(2 * ttl)
		if rs, _ := s.Routes(ctx, app, 7, later); len(rs) != 0 {
			t.Fatalf("expired routes visible: %+v", rs)
		}
		if _, err := s.RegisterRoute(ctx, app, 7, Route{Device: 9, Node: "n", Conn: "c9", Expires: later.Add(ttl).UnixMilli()}, 1, ttl, later); err != nil {
			t.Fatalf("cap counted expired routes: %v", err)
		}
	})
}

func TestMessagesSyncAndIdem(t *testing.T) {
	backends(t, func(t *testing.T, s *Store, app string) {
		ctx := context.Background()
		gen, _ := ids.New(1)
		rdb := s.Redis()
		var sent []int64
		for i := 0; i < 25; i++ {
			id := gen.Next()
			pipe := rdb.Pipeline()
			idem := s.QueueReserveIdem(ctx, pipe, app, 1, 1, fmt.Sprintf("cm%d", i), id)
			if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
				t.Fatal(err)
			}
			st, got, err := IdemResult(idem, id)
			if err != nil || st != IdemNew || got != id {
				t.Fatalf("idem: %d %d %v", st, got, err)
			}
			conv := "u:1:2"
			body, _ := json.Marshal(map[string]any{"id": fmt.Sprint(id), "n": i})
			pipe = rdb.Pipeline()
			s.QueueStoreMessage(ctx, pipe, app, conv, id, body)
			s.QueueInbox(ctx, pipe, app, 2, conv, id)
			s.QueueIdemDone(ctx, pipe, app, 1, 1, fmt.Sprintf("cm%d", i), id)
			if _, err := pipe.Exec(ctx); err != nil {
				t.Fatal(err)
			}
			sent = append(sent, id)
		}
		// A resend of a finished client message id gets the same server id.
		pipe := rdb.Pipeline()
		idem := s.QueueReserveIdem(ctx, pipe, app, 1, 1, "cm3", gen.Next())
		_, _ = pipe.Exec(ctx)
		if st, got, _ := IdemResult(idem, 0); st != IdemDone || got != sent[3] {
			t.Fatalf("resend: state %d id %d want %d", st, got, sent[3])
		}
		// Sync in pages of 10 from the start returns all 25 in order.
		var after int64
		var got []int64
		for pages := 0; ; pages++ {
			p, err := s.Sync(ctx, app, 2, after, 10)
			if err != nil {
				t.Fatal(err)
			}
			for _, b := range p.Bodies {
				var m struct {
					ID string `json:"id"`
				}
				_ = json.Unmarshal(b, &m)
				var v int64
				fmt.Sscan(m.ID, &v)
				got = append(got, v)
			}
			after = p.Next
			if !p.HasMore {
				break
			}
			if pages > 5 {
				t.Fatal("sync does not end")
			}
		}
		if fmt.Sprint(got) != fmt.Sprint(sent) {
			t.Fatalf("sync got %v want %v", got, sent)
		}
		hist, err := s.History(ctx, app, "u:1:2", sent[10], 5)
		if err != nil || len(hist) != 5 {
			t.Fatalf("history: %d %v", len(hist), err)
		}
		// Cursors only move forward.
		_ = s.SetCursors(ctx, []CursorUpdate{{App: app, User: 2, Device: 1, ID: sent[5]}})
		_ = s.SetCursors(ctx, []CursorUpdate{{App: app, User: 2, Device: 1, ID: sent[2]}})
		if c, _ := s.Cursor(ctx, app, 2, 1); c != sent[5] {
			t.Fatalf("cursor = %d want %d", c, sent[5])
		}
	})
}

func TestDevicesAndGroups(t *testing.T) {
	backends(t, func(t *testing.T, s *Store, app string) {
		ctx := context.Background()
		if err := s.TouchDevice(ctx, app, 5, Device{SN: 1, Platform: 1, PushToken: "tok", LastSeen: 10}); err != nil {
			t.Fatal(err)
		}
		// Connecting without a token keeps the bound one.
		if err := s.TouchDevice(ctx, app, 5, Device{SN: 1, Platform: 1, LastSeen: 20}); err != nil {
			t.Fatal(err)
		}
		ds, _ := s.Devices(ctx, app, 5)
		if len(ds) != 1 || ds[0].PushToken != "tok" || ds[0].TokenAt != 10 || ds[0].LastSeen != 20 {
			t.Fatalf("devices = %+v", ds)
		}
		_ = s.AddGroupMembers(ctx, app, 9, 1, 2, 3)
		_ = s.RemoveGroupMembers(ctx, app, 9, 2)
		m, _ := s.GroupMembers(ctx, app, 9)
		in, _ := s.IsGroupMember(ctx, app, 9, 3)
		out, _ := s.IsGroupMember(ctx, app, 9, 2)
		if len(m) != 2 || !in || out {
			t.Fatalf("members %v in %v out %v", m, in, out)
		}
		if _, err := s.GetApp(ctx, "nope"); !errors.Is(err, ErrNotFound) {
			t.Fatalf("unknown app: %v", err)
		}
		_ = s.PutApp(ctx, App{ID: app, Secret: "0123456789abcdef"})
		if a, err := s.GetApp(ctx, app); err != nil || a.Secret != "0123456789abcdef" {
			t.Fatalf("app: %+v %v", a, err)
		}
	})
}
