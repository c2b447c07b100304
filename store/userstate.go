package store

import (
	"context"
	"fmt"
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
