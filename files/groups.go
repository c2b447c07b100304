package files

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"github.com/redis/go-redis/v9"

	"github.com/chatgate/chatgate/store"
)

// Role is a user's standing in a group, weakest first.
type Role int

// Roles.
const (
	RoleNone Role = iota
	RoleMember
	RoleAdmin
	RoleOwner
)

// Groups tells the files rules what they need of groups: a user's role in
// one. The group domain implements it; StoreGroups reads the store
// directly until then.
type Groups interface {
	// Role returns uid's role in gid (RoleNone for uid 0 or a
	// non-member), and exists false when the group does not exist.
	Role(ctx context.Context, app string, gid, uid int64) (role Role, exists bool, err error)
}

// StoreGroups implements Groups over the store's group keys: membership
// (store.GroupMembersKey), the owner (the "owner" field of
// store.GroupInfoKey) and admins (AdminsKey, when set: the group data
// model's admin set).
type StoreGroups struct {
	Store *store.Store
	// AdminsKey names the set of a group's admins; nil: no admins are
	// known and only the owner ranks above members.
	AdminsKey func(app string, gid int64) string
}

// Role implements Groups.
func (g StoreGroups) Role(ctx context.Context, app string, gid, uid int64) (Role, bool, error) {
	rdb := g.Store.Redis()
	var member *redis.BoolCmd
	var admin *redis.BoolCmd
	var exists *redis.IntCmd
	var owner *redis.StringCmd
	_, err := rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		exists = p.Exists(ctx, store.GroupMembersKey(app, gid))
		owner = p.HGet(ctx, store.GroupInfoKey(app, gid), "owner")
		if uid > 0 {
			member = p.SIsMember(ctx, store.GroupMembersKey(app, gid), uid)
			if g.AdminsKey != nil {
				admin = p.SIsMember(ctx, g.AdminsKey(app, gid), uid)
			}
		}
		return nil
	})
	if err != nil && !errors.Is(err, redis.Nil) {
		return RoleNone, false, fmt.Errorf("files: role in group %d: %w", gid, err)
	}
	if exists.Val() == 0 {
		return RoleNone, false, nil
	}
	switch {
	case uid <= 0 || !member.Val():
		return RoleNone, true, nil
	case owner.Val() == strconv.FormatInt(uid, 10):
		return RoleOwner, true, nil
	case admin != nil && admin.Val():
		return RoleAdmin, true, nil
	}
	return RoleMember, true, nil
}
