package store

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"
)

func newGroup(t *testing.T, s *Store, app string, owner, capacity int64) *Group {
	t.Helper()
	now := time.Now().UnixMilli()
	g := &Group{Name: "g", Owner: owner, Capacity: capacity, Created: now, Updated: now, MemberInvite: true, ApplyApproval: 1}
	if err := s.CreateGroup(context.Background(), app, g); err != nil {
		t.Fatal(err)
	}
	return g
}

// TestGroupJoinRules: the join script refuses members, the blacklisted,
// the kicked-too-often and the over-capacity, and concurrent joins never
// overfill a group.
func TestGroupJoinRules(t *testing.T) {
	backends(t, func(t *testing.T, s *Store, app string) {
		ctx := context.Background()
		g := newGroup(t, s, app, 1, 10)
		if g.ID <= GroupIDBase || g.Count != 1 {
			t.Fatalf("created %+v", g)
		}
		if err := s.SetMemberValues(ctx, GroupBlockedKey(app, g.ID), map[int64]string{3: "1"}); err != nil {
			t.Fatal(err)
		}
		if err := s.rdb.HSet(ctx, GroupKicksKey(app, g.ID), "4", 2).Err(); err != nil {
			t.Fatal(err)
		}
		out, err := s.JoinGroup(ctx, app, g.ID, []int64{1, 2, 3, 4}, 5, 10, 2)
		if err != nil {
			t.Fatal(err)
		}
		if want := []int{JoinAlreadyMember, JoinOK, JoinBlocked, JoinKickedOften}; !slices.Equal(out, want) {
			t.Fatalf("outcomes %v, want %v", out, want)
		}
		if in, _ := s.IsGroupMember(ctx, app, g.ID, 2); !in {
			t.Fatal("2 not in the member set")
		}
		if gs, _ := s.UserGroups(ctx, app, 2); !slices.Equal(gs, []int64{g.ID}) {
			t.Fatalf("user index %v", gs)
		}
		// 20 concurrent joins into the 8 free places.
		var wg sync.WaitGroup
		var mu sync.Mutex
		joined := 0
		for u := int64(100); u < 120; u++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				out, err := s.JoinGroup(ctx, app, g.ID, []int64{u}, 6, 10, 0)
				if err != nil {
					t.Error(err)
					return
				}
				if out[0] == JoinOK {
					mu.Lock()
					joined++
					mu.Unlock()
				}
			}()
		}
		wg.Wait()
		if got, _ := s.GetGroup(ctx, app, g.ID); joined != 8 || got.Count != 10 {
			t.Fatalf("joined %d, count %d; want 8 and 10", joined, got.Count)
		}
		page, more, err := s.MemberPage(ctx, app, g.ID, 0, 4)
		if err != nil || !more || len(page) != 4 || page[0] != 1 || page[1] != 2 || !slices.IsSorted(page) {
			t.Fatalf("page %v more %v err %v", page, more, err)
		}
	})
}

// TestGroupRemoveDestroy: removal forgets every per-member entry; destroy
// leaves only the tombstone and refuses joins.
func TestGroupRemoveDestroy(t *testing.T) {
	backends(t, func(t *testing.T, s *Store, app string) {
		ctx := context.Background()
		g := newGroup(t, s, app, 1, 0)
		if _, err := s.JoinGroup(ctx, app, g.ID, []int64{2, 3}, 7, 0, 0); err != nil {
			t.Fatal(err)
		}
		for _, k := range []string{GroupBansKey(app, g.ID), GroupNamesKey(app, g.ID), GroupPushModeKey(app, g.ID)} {
			if err := s.SetMemberValues(ctx, k, map[int64]string{2: "9"}); err != nil {
				t.Fatal(err)
			}
		}
		if err := s.SetGroupAdmins(ctx, app, g.ID, []int64{2}, true); err != nil {
			t.Fatal(err)
		}
		if err := s.RemoveMembers(ctx, app, g.ID, []int64{2}, true); err != nil {
			t.Fatal(err)
		}
		for _, k := range []string{GroupBansKey(app, g.ID), GroupNamesKey(app, g.ID), GroupPushModeKey(app, g.ID), GroupJoinedKey(app, g.ID)} {
			if v, _ := s.MemberValues(ctx, k, []int64{2}); v[0] != "" {
				t.Errorf("%s still has 2: %q", k, v[0])
			}
		}
		if adm, _ := s.GroupAdmins(ctx, app, g.ID); len(adm) != 0 {
			t.Fatalf("admins %v", adm)
		}
		if v, _ := s.MemberValues(ctx, GroupKicksKey(app, g.ID), []int64{2}); v[0] != "1" {
			t.Fatalf("kicks %q", v[0])
		}
		members, err := s.DestroyGroup(ctx, app, g.ID, 8)
		if err != nil || len(members) != 2 {
			t.Fatalf("destroy: %v %v", members, err)
		}
		got, err := s.GetGroup(ctx, app, g.ID)
		if err != nil || got.Status != GroupDestroyed {
			t.Fatalf("tombstone %+v %v", got, err)
		}
		for _, k := range GroupKeys(app, g.ID) {
			if n, _ := s.rdb.Exists(ctx, k).Result(); n != 0 {
				t.Errorf("%s survived destroy", k)
			}
		}
		if _, err := s.JoinGroup(ctx, app, g.ID, []int64{5}, 9, 0, 0); err != ErrGroupGone {
			t.Fatalf("join a destroyed group: %v", err)
		}
		if err := s.SetGroupFields(ctx, app, g.ID, 9, map[string]any{GroupFieldName: "x"}); err != ErrNotFound {
			t.Fatalf("update a destroyed group: %v", err)
		}
		if gs, _ := s.UserGroups(ctx, app, 3); len(gs) != 0 {
			t.Fatalf("user index after destroy %v", gs)
		}
	})
}

// TestGroupReadMarks: marks only rise, compared as full 63-bit ids.
func TestGroupReadMarks(t *testing.T) {
	backends(t, func(t *testing.T, s *Store, app string) {
		ctx := context.Background()
		const big = int64(1) << 62
		for _, m := range []struct{ uid, id int64 }{{1, big + 5}, {1, big + 3}, {2, big + 4}, {3, 7}} {
			if err := s.MarkGroupRead(ctx, app, 9, m.uid, m.id); err != nil {
				t.Fatal(err)
			}
		}
		got, err := s.GroupReaders(ctx, app, 9, big+4)
		slices.Sort(got)
		if err != nil || !slices.Equal(got, []int64{1, 2}) {
			t.Fatalf("readers %v %v", got, err)
		}
	})
}
