package store

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"github.com/redis/go-redis/v9"

	"github.com/chatgate/chatgate/internal/auth"
)

// UserState is whether a user exists and may act.
type UserState int

// User states.
const (
	UserMissing UserState = iota
	UserActive
	UserDisabled
)

// UserState reads a user's state in one round trip. A user exists once
// registered (its info hash has "created"); "disabled" is "1" while banned.
func (s *Store) UserState(ctx context.Context, app string, uid int64) (UserState, error) {
	vals, err := s.rdb.HMGet(ctx, UserKey(app, uid), "created", "disabled").Result()
	if err != nil {
		return UserMissing, fmt.Errorf("store: state of user %d: %w", uid, err)
	}
	return userState(vals), nil
}

// userState reads the values of HMGET created disabled.
func userState(vals []any) UserState {
	switch {
	case vals[0] == nil:
		return UserMissing
	case vals[1] == "1":
		return UserDisabled
	default:
		return UserActive
	}
}

// AuthState is what deciding whether a user token may act needs to know
// about its user, read in one round trip at every connect.
type AuthState struct {
	State UserState
	// Deleted: the user's record is a deletion tombstone, or (read with
	// withSeq) the id is one the app's user counter gave out and no
	// record holds any more: a deleted user whose tombstone expired.
	Deleted bool
	// Disabled: "disabled" is set, also on a user without a record (an
	// app whose users are not registered may still ban one).
	Disabled bool
	Created  int64 // unix ms; 0 when missing
	Gen      int64 // token generation (RevokeTokens raises it)
}

// Status is the state as auth.CheckUser reads it.
func (a AuthState) Status() auth.UserStatus {
	return auth.UserStatus{
		Registered: a.State != UserMissing,
		Disabled:   a.Disabled,
		Deleted:    a.Deleted,
		Created:    a.Created,
		Gen:        a.Gen,
	}
}

// UserAuth reads a user's AuthState. withSeq also reads the app's user
// counter (in the same round trip), so that a user deleted long ago is
// told apart from one never registered: apps that let unregistered users
// act need it, apps that require registration do not.
func (s *Store) UserAuth(ctx context.Context, app string, uid int64, withSeq bool) (AuthState, error) {
	pipe := s.rdb.Pipeline()
	info := pipe.HMGet(ctx, UserKey(app, uid), "created", "disabled", "gen", "deleted")
	var seq *redis.StringCmd
	if withSeq {
		seq = pipe.Get(ctx, UserSeqKey(app))
	}
	if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
		return AuthState{}, fmt.Errorf("store: auth state of user %d: %w", uid, err)
	}
	vals := info.Val()
	a := AuthState{State: userState(vals)}
	str := func(i int) string { s, _ := vals[i].(string); return s }
	a.Created, _ = strconv.ParseInt(str(0), 10, 64)
	a.Gen, _ = strconv.ParseInt(str(2), 10, 64)
	a.Deleted = str(3) != ""
	a.Disabled = str(1) == "1"
	if seq != nil && a.State == UserMissing && uid > UserIDBase {
		n, _ := strconv.ParseInt(seq.Val(), 10, 64)
		a.Deleted = a.Deleted || uid <= UserIDBase+n
	}
	return a, nil
}

// revokeScript raises an existing user's token generation (ARGV[1] "1")
// and optionally sets fields of its record (ARGV[2..]), in one step.
var revokeScript = redis.NewScript(`
if redis.call("HEXISTS", KEYS[1], "created") == 0 then
  return 0
end
if #ARGV > 1 then
  redis.call("HSET", KEYS[1], unpack(ARGV, 2))
end
if ARGV[1] == "1" then
  redis.call("HINCRBY", KEYS[1], "gen", 1)
end
return 1`)

// SetUserFieldsRevoking is SetUserFields that, when revoke is set, also
// revokes every token issued to the user so far (raises its token
// generation) in the same step: a password change that cuts off a stolen
// token. ErrNotFound if the user does not exist.
func (s *Store) SetUserFieldsRevoking(ctx context.Context, app string, uid int64, kv map[string]string, revoke bool) error {
	args := make([]any, 0, 1+2*len(kv))
	args = append(args, flag(revoke))
	for k, v := range kv {
		args = append(args, k, v)
	}
	ok, err := revokeScript.Run(ctx, s.rdb, []string{UserKey(app, uid)}, args...).Int()
	if err != nil {
		return fmt.Errorf("store: update user %d: %w", uid, err)
	}
	if ok == 0 {
		return ErrNotFound
	}
	return nil
}

// SetUsersDisabledRevoking is SetUsersDisabled that, when revoke is set,
// also revokes every token the users hold.
func (s *Store) SetUsersDisabledRevoking(ctx context.Context, app string, uids []int64, disabled, revoke bool) error {
	pipe := s.rdb.Pipeline()
	for _, u := range uids {
		revokeScript.Eval(ctx, pipe, []string{UserKey(app, u)}, flag(revoke), "disabled", flag(disabled))
	}
	if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
		return fmt.Errorf("store: set %d users disabled: %w", len(uids), err)
	}
	return nil
}

func flag(b bool) string {
	if b {
		return "1"
	}
	return "0"
}
