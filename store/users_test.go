package store

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"
)

// TestUsers runs the user record scenarios on each backend, each in its
// own app: one Redis Cluster start for all of them.
func TestUsers(t *testing.T) {
	backends(t, func(t *testing.T, s *Store, app string) {
		for _, sc := range []struct {
			name string
			fn   func(*testing.T, *Store, string)
		}{
			{"create", createUser}, {"set_ident", setIdent}, {"stale_claim", staleClaim},
			{"delete", deleteUser}, {"devices_and_tokens", devicesAndTokens},
		} {
			t.Run(sc.name, func(t *testing.T) { sc.fn(t, s, app+"_"+sc.name) })
		}
	})
}

func createUser(t *testing.T, s *Store, app string) {
	ctx := context.Background()
	now := time.Now()
	a, err := s.CreateUser(ctx, app, NewUser{Username: "Alice", PasswordHash: "h1"}, now)
	if err != nil || a <= UserIDBase {
		t.Fatalf("create: %d %v", a, err)
	}
	b, err := s.CreateUser(ctx, app, NewUser{Username: "bob", PasswordHash: "h2"}, now.Add(time.Millisecond))
	if err != nil || b != a+1 {
		t.Fatalf("second user: %d %v (first %d)", b, err, a)
	}
	// Usernames are unique regardless of case.
	if _, err := s.CreateUser(ctx, app, NewUser{Username: "alice", PasswordHash: "x"}, now); !errors.Is(err, ErrTaken) {
		t.Fatalf("duplicate username: %v", err)
	}
	// An explicit id in use is refused and frees the username it claimed.
	if _, err := s.CreateUser(ctx, app, NewUser{ID: a, Username: "carol"}, now); !errors.Is(err, ErrUserExists) {
		t.Fatalf("explicit id in use: %v", err)
	}
	if _, err := s.LookupIdent(ctx, app, IdentUsername, "carol"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("carol claimed after a failed create: %v", err)
	}
	if id, err := s.CreateUser(ctx, app, NewUser{ID: 7, Username: "carol"}, now); err != nil || id != 7 {
		t.Fatalf("explicit id: %d %v", id, err)
	}
	u, err := s.GetUser(ctx, app, a)
	if err != nil || u.Username != "Alice" || u.Created != now.UnixMilli() || u.Disabled {
		t.Fatalf("get: %+v %v", u, err)
	}
	if hash, st, err := s.Credentials(ctx, app, a); err != nil || hash != "h1" || st != UserActive {
		t.Fatalf("credentials: %q %v %v", hash, st, err)
	}
	if id, err := s.LookupIdent(ctx, app, IdentUsername, "ALICE"); err != nil || id != a {
		t.Fatalf("lookup: %d %v", id, err)
	}
	list, err := s.ListUsers(ctx, app, 0, 10)
	if err != nil || len(list) != 3 || list[0].ID != a || list[1].ID != 7 && list[1].ID != b {
		t.Fatalf("list: %v %v", list, err)
	}
	if page, _ := s.ListUsers(ctx, app, 2, 10); len(page) != 1 {
		t.Fatalf("second page: %v", page)
	}
	states, err := s.UserStates(ctx, app, []int64{a, 999})
	if err != nil || states[0] != UserActive || states[1] != UserMissing {
		t.Fatalf("states: %v %v", states, err)
	}
	if err := s.SetUserFields(ctx, app, 999, map[string]string{FieldNickname: "x"}); !errors.Is(err, ErrNotFound) {
		t.Fatalf("fields of a missing user: %v", err)
	}
	if st, _ := s.UserState(ctx, app, 999); st != UserMissing {
		t.Fatal("setting fields of a missing user created it")
	}
}

func setIdent(t *testing.T, s *Store, app string) {
	ctx := context.Background()
	now := time.Now()
	a, _ := s.CreateUser(ctx, app, NewUser{Username: "anna"}, now)
	b, _ := s.CreateUser(ctx, app, NewUser{Username: "ben"}, now)
	if err := s.SetIdent(ctx, app, a, IdentUsername, "ben", now); !errors.Is(err, ErrTaken) {
		t.Fatalf("rename to a taken name: %v", err)
	}
	if err := s.SetIdent(ctx, app, a, IdentUsername, "anne", now); err != nil {
		t.Fatal(err)
	}
	// The old name is free at once, the new one resolves.
	if _, err := s.LookupIdent(ctx, app, IdentUsername, "anna"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("old name still resolves: %v", err)
	}
	if err := s.SetIdent(ctx, app, b, IdentUsername, "anna", now); err != nil {
		t.Fatalf("old name not released: %v", err)
	}
	// A change of case only is the same name.
	if err := s.SetIdent(ctx, app, a, IdentUsername, "Anne", now); err != nil {
		t.Fatal(err)
	}
	if u, _ := s.GetUser(ctx, app, a); u.Username != "Anne" {
		t.Fatalf("username = %q", u.Username)
	}
	// Mobiles: claimed, then cleared.
	if err := s.SetIdent(ctx, app, a, IdentMobile, "+8613800000000", now); err != nil {
		t.Fatal(err)
	}
	if err := s.SetIdent(ctx, app, b, IdentMobile, "+8613800000000", now); !errors.Is(err, ErrTaken) {
		t.Fatalf("taken mobile: %v", err)
	}
	if err := s.SetIdent(ctx, app, a, IdentMobile, "", now); err != nil {
		t.Fatal(err)
	}
	if err := s.SetIdent(ctx, app, b, IdentMobile, "+8613800000000", now); err != nil {
		t.Fatalf("cleared mobile not released: %v", err)
	}
	if err := s.SetIdent(ctx, app, 424242, IdentMobile, "123456", now); !errors.Is(err, ErrNotFound) {
		t.Fatalf("missing user: %v", err)
	}
}

func staleClaim(t *testing.T, s *Store, app string) {
	ctx := context.Background()
	now := time.Now()
	// A registration that crashed after claiming: a claim no record
	// backs. It holds during the grace period, then is taken over.
	old := fmt.Sprintf("%d:%d", UserIDBase+99, now.UnixMilli())
	if err := s.Redis().HSet(ctx, IdentKey(app, IdentUsername), "zed", old).Err(); err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreateUser(ctx, app, NewUser{Username: "zed"}, now); !errors.Is(err, ErrTaken) {
		t.Fatalf("fresh claim not honoured: %v", err)
	}
	if _, err := s.LookupIdent(ctx, app, IdentUsername, "zed"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("a claim without a record resolves: %v", err)
	}
	later := now.Add(2 * claimGrace)
	id, err := s.CreateUser(ctx, app, NewUser{Username: "zed"}, later)
	if err != nil {
		t.Fatalf("stale claim not taken over: %v", err)
	}
	// A claim whose owner shows the value is never taken over.
	if _, err := s.CreateUser(ctx, app, NewUser{Username: "zed"}, later.Add(time.Hour)); !errors.Is(err, ErrTaken) {
		t.Fatalf("live claim taken over: %v", err)
	}
	if got, _ := s.LookupIdent(ctx, app, IdentUsername, "zed"); got != id {
		t.Fatalf("lookup = %d, want %d", got, id)
	}
}

func deleteUser(t *testing.T, s *Store, app string) {
	ctx := context.Background()
	now := time.Now()
	a, _ := s.CreateUser(ctx, app, NewUser{Username: "gone", PasswordHash: "h"}, now)
	keep, _ := s.CreateUser(ctx, app, NewUser{Username: "kept"}, now)
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(s.SetIdent(ctx, app, a, IdentMobile, "5550001", now))
	must(s.SetAlias(ctx, app, a, "fans"))
	must(s.SetAlias(ctx, app, keep, "fans"))
	must(s.AddTags(ctx, app, a, "t1", "t2"))
	must(s.BindPushToken(ctx, app, a, 3, "tok-a", "apns", now))
	must(s.AddGroupMembers(ctx, app, 55, a, keep))
	must(s.SetBadge(ctx, app, a, 4))
	must(s.MakeFriends(ctx, app, a, keep, "", "", now))
	if _, err := s.Block(ctx, app, a, keep); err != nil {
		t.Fatal(err)
	}

	must(s.DeleteUser(ctx, app, a, time.Hour, now))
	if st, _ := s.UserState(ctx, app, a); st != UserMissing {
		t.Fatalf("state after delete = %v", st)
	}
	// The tombstone still refuses old tokens at the gateway.
	if d, _ := s.UserDisabled(ctx, app, a); !d {
		t.Error("deleted user not refused by UserDisabled")
	}
	for _, k := range UserKeys(app, a)[1:] {
		if n, _ := s.Redis().Exists(ctx, k).Result(); n != 0 {
			t.Errorf("key %s survived the delete", k)
		}
	}
	if ttl, _ := s.Redis().PTTL(ctx, UserKey(app, a)).Result(); ttl <= 0 || ttl > time.Hour {
		t.Errorf("tombstone TTL = %v", ttl)
	}
	if us, _ := s.AliasUsers(ctx, app, "fans"); len(us) != 1 || us[0] != keep {
		t.Errorf("alias users = %v", us)
	}
	if n, _ := s.Redis().SCard(ctx, TagKey(app, "t1")).Result(); n != 0 {
		t.Error("tag index keeps the deleted user")
	}
	if _, _, err := s.PushTokenOwner(ctx, app, "tok-a"); !errors.Is(err, ErrNotFound) {
		t.Errorf("push token index keeps the deleted user: %v", err)
	}
	if m, _ := s.GroupMembers(ctx, app, 55); len(m) != 1 || m[0] != keep {
		t.Errorf("group members = %v", m)
	}
	if fs, _, _ := s.FriendIDs(ctx, app, keep, 0, 10); len(fs) != 0 {
		t.Errorf("friends of the survivor still name the deleted user: %v", fs)
	}
	if n, _ := s.CountUsers(ctx, app); n != 1 {
		t.Errorf("listed users = %d", n)
	}
	// Username and mobile are free again.
	b, err := s.CreateUser(ctx, app, NewUser{Username: "GONE"}, now)
	if err != nil {
		t.Fatalf("username not released: %v", err)
	}
	must(s.SetIdent(ctx, app, b, IdentMobile, "5550001", now))
	if err := s.DeleteUser(ctx, app, a, time.Hour, now); !errors.Is(err, ErrNotFound) {
		t.Fatalf("second delete: %v", err)
	}
}

func devicesAndTokens(t *testing.T, s *Store, app string) {
	ctx := context.Background()
	now := time.Now()
	// The same token bound by another user moves: the first user's
	// device loses it.
	if err := s.BindPushToken(ctx, app, 1, 1, "tok", "fcm", now); err != nil {
		t.Fatal(err)
	}
	if err := s.BindPushToken(ctx, app, 2, 5, "tok", "fcm", now); err != nil {
		t.Fatal(err)
	}
	if d, err := s.Device(ctx, app, 1, 1); err != nil || d.PushToken != "" {
		t.Fatalf("old owner's device: %+v %v", d, err)
	}
	if uid, sn, err := s.PushTokenOwner(ctx, app, "tok"); err != nil || uid != 2 || sn != 5 {
		t.Fatalf("owner = %d/%d %v", uid, sn, err)
	}
	if ok, _ := s.HasDevice(ctx, app, 2, 5); !ok {
		t.Fatal("device not registered")
	}
	if ok, err := s.DeleteDevice(ctx, app, 2, 5); !ok || err != nil {
		t.Fatalf("delete device: %v %v", ok, err)
	}
	if _, _, err := s.PushTokenOwner(ctx, app, "tok"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("token index after device delete: %v", err)
	}
	if ok, _ := s.DeleteDevice(ctx, app, 2, 5); ok {
		t.Fatal("second delete found the device")
	}
	if _, err := s.Device(ctx, app, 2, 5); !errors.Is(err, ErrNotFound) {
		t.Fatalf("device after delete: %v", err)
	}
	if GUIDDevice("abc") != GUIDDevice("abc") || GUIDDevice("abc") <= 0 || GUIDDevice("") != 1 {
		t.Fatal("GUIDDevice is not a stable positive id")
	}
}
