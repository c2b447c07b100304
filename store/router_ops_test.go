package store

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

func TestPipelinedLookups(t *testing.T) {
	backends(t, func(t *testing.T, s *Store, app string) {
		ctx := context.Background()
		now := time.Now()
		ttl := time.Minute
		live := Route{Device: 1, Node: "gw1", Conn: "c1", BG: true, Expires: now.Add(ttl).UnixMilli()}
		if _, err := s.RegisterRoute(ctx, app, 7, live, 0, ttl, now); err != nil {
			t.Fatal(err)
		}
		stale := Route{Device: 2, Node: "gw2", Conn: "c2", Expires: now.Add(-time.Second).UnixMilli()}
		if _, err := s.RegisterRoute(ctx, app, 7, stale, 0, ttl, now.Add(-2*time.Second)); err != nil {
			t.Fatal(err)
		}
		if err := s.TouchDevice(ctx, app, 7, Device{SN: 2, Platform: 2, PushToken: "tok"}); err != nil {
			t.Fatal(err)
		}
		if err := s.AddGroupMembers(ctx, app, 3, 7, 8, 9); err != nil {
			t.Fatal(err)
		}

		pipe := s.Redis().Pipeline()
		known := s.QueueLookupRecipient(ctx, pipe, app, 7)
		unknown := s.QueueLookupRecipient(ctx, pipe, app, 404)
		group := s.QueueGroupMembers(ctx, pipe, app, 3)
		empty := s.QueueGroupMembers(ctx, pipe, app, 404)
		if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
			t.Fatal(err)
		}
		rec, err := known.Recipient(now)
		if err != nil {
			t.Fatal(err)
		}
		if rec.User != 7 || len(rec.Routes) != 1 || rec.Routes[0] != live {
			t.Errorf("routes = %+v, want only the live one", rec.Routes)
		}
		if len(rec.Devices) != 1 || rec.Devices[0].PushToken != "tok" {
			t.Errorf("devices = %+v", rec.Devices)
		}
		// It agrees with the one-shot lookup.
		one, err := s.LookupRecipients(ctx, app, []int64{7}, now)
		if err != nil || len(one) != 1 || len(one[0].Routes) != 1 || len(one[0].Devices) != 1 {
			t.Errorf("LookupRecipients = %+v, %v", one, err)
		}
		if rec, err := unknown.Recipient(now); err != nil || rec.User != 404 || len(rec.Routes)+len(rec.Devices) != 0 {
			t.Errorf("unknown user = %+v, %v", rec, err)
		}
		if m, err := group.Members(); err != nil || !slices.Equal(slices.Sorted(slices.Values(m)), []int64{7, 8, 9}) {
			t.Errorf("members = %v, %v", m, err)
		}
		if m, err := empty.Members(); err != nil || len(m) != 0 {
			t.Errorf("members of an unknown group = %v, %v", m, err)
		}
	})
}

func TestForgetIdem(t *testing.T) {
	backends(t, func(t *testing.T, s *Store, app string) {
		ctx := context.Background()
		pipe := s.Redis().Pipeline()
		s.QueueReserveIdem(ctx, pipe, app, 1, 1, "cm", 100)
		if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
			t.Fatal(err)
		}
		pipe = s.Redis().Pipeline()
		s.QueueForgetIdem(ctx, pipe, app, 1, 1, "cm")
		if _, err := pipe.Exec(ctx); err != nil {
			t.Fatal(err)
		}
		// The next attempt is new again.
		pipe = s.Redis().Pipeline()
		idem := s.QueueReserveIdem(ctx, pipe, app, 1, 1, "cm", 200)
		_, _ = pipe.Exec(ctx)
		if st, id, err := IdemResult(idem, 200); err != nil || st != IdemNew || id != 200 {
			t.Errorf("after forget: state %d id %d err %v", st, id, err)
		}
	})
}
