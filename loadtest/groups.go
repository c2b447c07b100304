package loadtest

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/chatgate/chatgate/store"
)

// setupGroups declares the membership of every group of the run in Redis,
// replacing whatever an earlier run left under the same group ids, and
// returns the function that removes it again. Membership goes straight to
// the data model because the REST API that manages groups comes in a later
// issue; this is the one place to switch over when it exists.
//
// managed also writes what the REST API writes for a group it created
// (owner, live status, settings, join points), so that the router applies
// the group rules to every send as it does for real groups.
func setupGroups(ctx context.Context, rdb redis.UniversalClient, app string, p *groupPlanner, managed bool) (func(context.Context) error, error) {
	st := store.New(rdb, store.Options{})
	for g := 0; g < p.groups; g++ {
		gid := p.gid(g)
		old, err := st.GroupMembers(ctx, app, gid)
		if err != nil {
			return nil, fmt.Errorf("setup group %d: %w", gid, err)
		}
		if len(old) > 0 {
			if err := st.RemoveGroupMembers(ctx, app, gid, old...); err != nil {
				return nil, fmt.Errorf("setup group %d: %w", gid, err)
			}
		}
		if err := st.AddGroupMembers(ctx, app, gid, p.members(g)...); err != nil {
			return nil, fmt.Errorf("setup group %d: %w", gid, err)
		}
		if managed {
			if err := manageGroup(ctx, rdb, app, gid, p.members(g)); err != nil {
				return nil, fmt.Errorf("setup group %d: %w", gid, err)
			}
		}
	}
	cleanup := func(ctx context.Context) error {
		for g := 0; g < p.groups; g++ {
			if managed {
				gid := p.gid(g)
				if err := rdb.Del(ctx, store.GroupInfoKey(app, gid), store.GroupJoinedKey(app, gid)).Err(); err != nil {
					return fmt.Errorf("clean up group %d: %w", gid, err)
				}
			}
			if err := st.RemoveGroupMembers(ctx, app, p.gid(g), p.members(g)...); err != nil {
				return fmt.Errorf("clean up group %d: %w", p.gid(g), err)
			}
		}
		return nil
	}
	return cleanup, nil
}

// manageGroup writes the info hash and join points of a managed group whose
// owner is its first member, with Lanying's settings but history visible.
func manageGroup(ctx context.Context, rdb redis.UniversalClient, app string, gid int64, members []int64) error {
	now := time.Now().UnixMilli()
	joined := make(map[string]any, len(members))
	for _, u := range members {
		joined[strconv.FormatInt(u, 10)] = now
	}
	pipe := rdb.TxPipeline()
	pipe.HSet(ctx, store.GroupInfoKey(app, gid), map[string]any{
		store.GroupFieldName: "loadtest", store.GroupFieldOwner: members[0], store.GroupFieldStatus: store.GroupLive,
		store.GroupFieldHistoryVisible: "1", store.GroupFieldReadAck: "0", store.GroupFieldBanExpire: 0,
		store.GroupFieldCreated: now, store.GroupFieldUpdated: now,
	})
	pipe.HSet(ctx, store.GroupJoinedKey(app, gid), joined)
	_, err := pipe.Exec(ctx)
	return err
}
