package loadtest

import (
	"context"
	"fmt"

	"github.com/redis/go-redis/v9"

	"github.com/chatgate/chatgate/store"
)

// setupGroups declares the membership of every group of the run in Redis,
// replacing whatever an earlier run left under the same group ids, and
// returns the function that removes it again. Membership goes straight to
// the data model because the REST API that manages groups comes in a later
// issue; this is the one place to switch over when it exists.
func setupGroups(ctx context.Context, rdb redis.UniversalClient, app string, p *groupPlanner) (func(context.Context) error, error) {
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
	}
	cleanup := func(ctx context.Context) error {
		for g := 0; g < p.groups; g++ {
			if err := st.RemoveGroupMembers(ctx, app, p.gid(g), p.members(g)...); err != nil {
				return fmt.Errorf("clean up group %d: %w", p.gid(g), err)
			}
		}
		return nil
	}
	return cleanup, nil
}
