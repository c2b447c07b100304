package files

import (
	"bytes"
	"context"
	"errors"
	"testing"
	"time"

	"github.com/chatgate/chatgate/internal/config"
	"github.com/chatgate/chatgate/internal/redistest"
	"github.com/chatgate/chatgate/objstore"
	"github.com/chatgate/chatgate/store"
)

// fakeGroups is the Groups interface with roles set by the test: the
// files rules are tested against the interface the group domain will
// implement, including group admins the store does not have yet.
type fakeGroups map[int64]map[int64]Role

func (f fakeGroups) Role(_ context.Context, _ string, gid, uid int64) (Role, bool, error) {
	g, ok := f[gid]
	if !ok {
		return RoleNone, false, nil
	}
	return g[uid], true, nil
}

type testEnv struct {
	svc *Service
	st  *store.Store
	be  *objstore.Local
	now time.Time
}

func newTestEnv(t *testing.T, groups Groups) *testEnv {
	t.Helper()
	st := store.New(redistest.Client(t), store.Options{})
	e := &testEnv{st: st, now: time.Unix(1_800_000_000, 0)}
	ctx := context.Background()
	if err := st.PutApp(ctx, store.App{ID: "fapp", Secret: "files-test-secret-0123"}); err != nil {
		t.Fatal(err)
	}
	be, err := objstore.NewLocal(objstore.LocalConfig{Dir: t.TempDir(), BaseURL: "http://x/files",
		Keys: func(context.Context, string) ([]byte, error) { return []byte("k"), nil }})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { be.Close() })
	e.be = be
	cfg := config.Default().Files
	e.svc, err = New(cfg, Deps{Backend: be, Store: st, Groups: groups, Now: func() time.Time { return e.now }, APIURL: "http://api"})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func TestGroupFilePermissions(t *testing.T) {
	const gid, owner, admin, uploader, member, outsider = 5, 1, 2, 3, 4, 9
	groups := fakeGroups{gid: {owner: RoleOwner, admin: RoleAdmin, uploader: RoleMember, member: RoleMember}}
	e := newTestEnv(t, groups)
	ctx := context.Background()
	add := func() int64 {
		f, err := e.svc.GroupFileUpload(ctx, "fapp", Actor{UserID: uploader}, gid, NewGroupFile{Name: "a", Size: 1, URL: "https://a/b"})
		if err != nil {
			t.Fatal(err)
		}
		return f.FileID
	}
	for _, tc := range []struct {
		name  string
		actor Actor
		read  error
		write error
	}{
		{"owner", Actor{UserID: owner}, nil, nil},
		{"group admin", Actor{UserID: admin}, nil, nil},
		{"uploader", Actor{UserID: uploader}, nil, nil},
		{"member", Actor{UserID: member}, nil, ErrGroupFilePerm},
		{"non-member", Actor{UserID: outsider}, ErrNotMember, ErrNotMember},
		{"admin token", Actor{Admin: true}, nil, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			id := add()
			if _, err := e.svc.GroupFileGet(ctx, "fapp", tc.actor, gid, id); !errors.Is(err, tc.read) {
				t.Fatalf("read: %v, want %v", err, tc.read)
			}
			if _, _, err := e.svc.GroupFileList(ctx, "fapp", tc.actor, gid, 1, 10); !errors.Is(err, tc.read) {
				t.Fatalf("list: %v, want %v", err, tc.read)
			}
			if err := e.svc.GroupFileRename(ctx, "fapp", tc.actor, gid, id, "n"); !errors.Is(err, tc.write) {
				t.Fatalf("rename: %v, want %v", err, tc.write)
			}
			res, err := e.svc.GroupFileDelete(ctx, "fapp", tc.actor, gid, []int64{id})
			if errors.Is(tc.write, ErrNotMember) {
				if !errors.Is(err, ErrNotMember) {
					t.Fatalf("delete: %v", err)
				}
				return
			}
			if err != nil || !errors.Is(res[0].Err, tc.write) {
				t.Fatalf("delete: %v %+v, want %v", err, res, tc.write)
			}
		})
	}
	// Group avatars: admins and the owner.
	for uid, want := range map[int64]error{owner: nil, admin: nil, member: ErrNeedGroupAdmin, outsider: ErrNotMember} {
		if _, err := e.svc.UploadGroupAvatar(ctx, "fapp", Actor{UserID: uid}, gid); !errors.Is(err, want) {
			t.Errorf("group avatar by %d: %v, want %v", uid, err, want)
		}
	}
	if _, err := e.svc.UploadGroupAvatar(ctx, "fapp", Actor{UserID: owner}, 77); !errors.Is(err, ErrGroupNotFound) {
		t.Errorf("missing group: %v", err)
	}
}

func TestLifecycle(t *testing.T) {
	const gid = 6
	e := newTestEnv(t, fakeGroups{})
	ctx := context.Background()
	var users []int64
	for _, name := range []string{"alice", "bob"} {
		uid, err := e.st.CreateUser(ctx, "fapp", store.NewUser{Username: name, PasswordHash: "x"}, e.now)
		if err != nil {
			t.Fatal(err)
		}
		users = append(users, uid)
	}
	a, b := users[0], users[1]
	e.svc.d.Groups = fakeGroups{gid: {a: RoleOwner, b: RoleMember}}
	put := func(g *Grant) objstore.Object {
		t.Helper()
		o := objstore.Object{App: "fapp", Key: g.Key}
		if err := e.be.Put(ctx, o, bytes.NewReader([]byte("data")), 4, ""); err != nil {
			t.Fatal(err)
		}
		return o
	}
	exists := func(o objstore.Object) bool {
		_, err := e.be.Stat(ctx, o)
		return err == nil
	}
	// An orphan (never referenced), a sent file, an avatar in use, a
	// group file, and a file of the group's chat.
	g1, _ := e.svc.UploadChat(ctx, "fapp", Actor{UserID: a}, 100, b, ToUser)
	g2, _ := e.svc.UploadChat(ctx, "fapp", Actor{UserID: a}, 100, b, ToUser)
	g3, _ := e.svc.UploadUserAvatar(ctx, "fapp", Actor{UserID: a}, a)
	g4, err := e.svc.UploadChat(ctx, "fapp", Actor{UserID: b}, 200, gid, ToGroup)
	if err != nil {
		t.Fatal(err)
	}
	orphan, sent, avatar, shared := put(g1), put(g2), put(g3), put(g4)
	if err := e.svc.Referenced(ctx, "fapp", g2.DownloadURL, g3.DownloadURL); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.GroupFileUpload(ctx, "fapp", Actor{UserID: b}, gid, NewGroupFile{Name: "s", URL: g4.DownloadURL}); err != nil {
		t.Fatal(err)
	}
	// Not yet: the orphan is younger than orphan_ttl.
	if n, err := e.svc.CleanOnce(ctx); err != nil || n != 0 {
		t.Fatalf("early clean removed %d (%v)", n, err)
	}
	e.now = e.now.Add(e.svc.cfg.OrphanTTL + time.Minute)
	if n, err := e.svc.CleanOnce(ctx); err != nil || n != 1 || exists(orphan) || !exists(sent) {
		t.Fatalf("orphan clean removed %d (%v); orphan %v sent %v", n, err, exists(orphan), exists(sent))
	}
	if _, err := e.st.GetFileRecord(ctx, "fapp", g1.Key); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("orphan record kept: %v", err)
	}
	// Deleting alice removes her one-to-one file and avatar; bob's group
	// file stays with the group until the group is destroyed.
	if err := e.svc.UserDeleted(ctx, "fapp", a); err != nil {
		t.Fatal(err)
	}
	if err := e.svc.UserDeleted(ctx, "fapp", b); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.CleanOnce(ctx); err != nil {
		t.Fatal(err)
	}
	if exists(sent) || exists(avatar) || !exists(shared) {
		t.Fatalf("after user deletes: sent %v avatar %v shared %v", exists(sent), exists(avatar), exists(shared))
	}
	if err := e.svc.GroupDestroyed(ctx, "fapp", gid); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.CleanOnce(ctx); err != nil {
		t.Fatal(err)
	}
	if exists(shared) {
		t.Fatal("destroyed group's file kept")
	}
	if list, _, err := e.st.GroupFiles(ctx, "fapp", gid, 0, 10); err != nil || len(list) != 0 {
		t.Fatalf("group file list after destroy: %v %v", list, err)
	}
}

func TestCleanerStops(t *testing.T) {
	e := newTestEnv(t, fakeGroups{})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- e.svc.Run(ctx) }()
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("Run returned %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("cleaner did not stop")
	}
}

func TestKeyOf(t *testing.T) {
	for raw, want := range map[string]string{
		"http://h/file/download/chat?file_sign=c%2Fabc":       "c/abc",
		"https://api/file/download/avatar?object_name=ua/1/x": "ua/1/x",
		"c/abc":                     "c/abc",
		"https://example.com/x.png": "",
		"http://h/file/download/chat?file_sign=..%2Fetc": "",
	} {
		got, ok := KeyOf(raw)
		if got != want && !(want == "" && !ok) {
			t.Errorf("KeyOf(%q) = %q %v, want %q", raw, got, ok, want)
		}
	}
}
