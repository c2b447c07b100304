package gateway

import (
	"context"
	"testing"
	"time"

	"github.com/chatgate/chatgate/internal/auth"
	"github.com/chatgate/chatgate/protocol"
	"github.com/chatgate/chatgate/store"
)

// TestUserPolicyAndRevocation covers the rules auth applies to a token's
// user: the app's user policy, deletion (also once the deletion tombstone
// is gone), revocation by token generation, and tokens issued before the
// user was created under its id.
func TestUserPolicyAndRevocation(t *testing.T) {
	e := newEnv(t, nil)
	ctx := context.Background()
	now := time.Now()
	regApp := uniq("reg")
	regSecret := []byte("secret-of-registered-app-0123456789")
	if err := e.st.PutApp(ctx, store.App{ID: regApp, Secret: string(regSecret)}); err != nil {
		t.Fatal(err)
	}
	secrets := map[string][]byte{e.app: e.secret, regApp: regSecret}
	issue := func(app string, uid, gen int64, at time.Time) string {
		tok, err := auth.IssueGen(secrets[app], app, auth.RoleUser, uid, gen, 24*time.Hour, at)
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	create := func(app string, id int64) int64 {
		uid, err := e.st.CreateUser(ctx, app, store.NewUser{ID: id, Username: uniq("u"), PasswordHash: "x"}, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		return uid
	}
	// deleteForGood deletes a user and then removes its tombstone, as its
	// expiry (admin.user_token_ttl) would.
	deleteForGood := func(app string, uid int64) {
		if err := e.st.DeleteUser(ctx, app, uid, time.Minute, time.Now()); err != nil {
			t.Fatal(err)
		}
		if err := e.rdb.Del(ctx, store.UserKey(app, uid)).Err(); err != nil {
			t.Fatal(err)
		}
	}
	expect := func(t *testing.T, app, tok string, code protocol.Code) {
		t.Helper()
		c := e.dial(t)
		c.send(authFrame(tok, app, 1, 9))
		if code == 0 {
			c.expect(protocol.TypeHello, 0)
			return
		}
		c.expectErr(code, 9)
		c.expectClose(code)
	}

	t.Run("registration required: unregistered user", func(t *testing.T) {
		expect(t, regApp, issue(regApp, 5, 0, now), protocol.CodeUserUnknown)
	})
	t.Run("registration required: registered user", func(t *testing.T) {
		uid := create(regApp, 0)
		expect(t, regApp, issue(regApp, uid, 0, time.Now()), 0)
	})
	t.Run("any user: unregistered user", func(t *testing.T) {
		expect(t, e.app, issue(e.app, 5, 0, now), 0)
	})
	for _, app := range []string{regApp, e.app} {
		t.Run("deleted user after its tombstone expired/"+app, func(t *testing.T) {
			uid := create(app, 0)
			tok := issue(app, uid, 0, time.Now())
			expect(t, app, tok, 0)
			deleteForGood(app, uid)
			expect(t, app, tok, protocol.CodeUserUnknown)
		})
	}
	t.Run("deleted dev user keeps its tombstone", func(t *testing.T) {
		uid := int64(1000 + time.Now().UnixNano()%1000)
		create(e.app, uid)
		tok := issue(e.app, uid, 0, time.Now())
		if err := e.st.DeleteUser(ctx, e.app, uid, time.Minute, time.Now()); err != nil {
			t.Fatal(err)
		}
		if ttl := e.rdb.PTTL(ctx, store.UserKey(e.app, uid)).Val(); ttl != -1 {
			t.Fatalf("tombstone of explicit id has TTL %v, want none", ttl)
		}
		expect(t, e.app, tok, protocol.CodeUserUnknown)
	})
	t.Run("revoked by generation", func(t *testing.T) {
		uid := create(regApp, 0)
		old := issue(regApp, uid, 0, time.Now())
		if err := e.st.SetUserFieldsRevoking(ctx, regApp, uid, map[string]string{"password": "y"}, true); err != nil {
			t.Fatal(err)
		}
		expect(t, regApp, old, protocol.CodeTokenRevoked)
		expect(t, regApp, issue(regApp, uid, 1, time.Now()), 0)
	})
	t.Run("disable and enable with revocation", func(t *testing.T) {
		uid := create(regApp, 0)
		old := issue(regApp, uid, 0, time.Now())
		if err := e.st.SetUsersDisabledRevoking(ctx, regApp, []int64{uid}, true, true); err != nil {
			t.Fatal(err)
		}
		expect(t, regApp, old, protocol.CodeUserDisabled)
		if err := e.st.SetUsersDisabledRevoking(ctx, regApp, []int64{uid}, false, false); err != nil {
			t.Fatal(err)
		}
		expect(t, regApp, old, protocol.CodeTokenRevoked)
	})
	t.Run("token issued before the user was created", func(t *testing.T) {
		uid := create(regApp, 0)
		expect(t, regApp, issue(regApp, uid, 0, time.Now().Add(-time.Hour)), protocol.CodeTokenRevoked)
	})
}
