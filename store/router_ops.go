package store

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
)

// This file holds the pipelined forms of lookups the router batches: a
// router answers hundreds of sends with a few round trips, so it queues
// these on its own pipeline instead of calling one-shot methods.

// RecipientCmd is a recipient lookup (routes and devices of one user)
// queued on a pipeline. Read it with Recipient after Exec.
type RecipientCmd struct {
	user    int64
	routes  *redis.MapStringStringCmd
	devices *redis.MapStringStringCmd
}

// QueueLookupRecipient adds to pipe the reads of one user's live routes and
// registered devices, the per-user part of LookupRecipients.
func (s *Store) QueueLookupRecipient(ctx context.Context, pipe redis.Pipeliner, app string, uid int64) *RecipientCmd {
	return &RecipientCmd{
		user:    uid,
		routes:  pipe.HGetAll(ctx, RoutesKey(app, uid)),
		devices: pipe.HGetAll(ctx, DevicesKey(app, uid)),
	}
}

// Recipient returns the looked-up user with the routes still live at now.
func (c *RecipientCmd) Recipient(now time.Time) (Recipient, error) {
	rt, err := c.routes.Result()
	if err != nil && !errors.Is(err, redis.Nil) {
		return Recipient{}, fmt.Errorf("store: routes of %d: %w", c.user, err)
	}
	dv, err := c.devices.Result()
	if err != nil && !errors.Is(err, redis.Nil) {
		return Recipient{}, fmt.Errorf("store: devices of %d: %w", c.user, err)
	}
	return Recipient{User: c.user, Routes: liveRoutes(rt, now.UnixMilli()), Devices: decodeDevices(dv)}, nil
}

// RoutesCmd is a read of one user's routes queued on a pipeline. Read it
// with Routes after Exec.
type RoutesCmd struct {
	user   int64
	routes *redis.MapStringStringCmd
}

// QueueRoutes adds to pipe the read of one user's routes. The router queues
// it after the user's inbox writes: the routes key shares the inbox key's
// hash tag, so the read runs after them on the same connection.
func (s *Store) QueueRoutes(ctx context.Context, pipe redis.Pipeliner, app string, uid int64) *RoutesCmd {
	return &RoutesCmd{user: uid, routes: pipe.HGetAll(ctx, RoutesKey(app, uid))}
}

// Routes returns the routes read that are still live at now.
func (c *RoutesCmd) Routes(now time.Time) ([]Route, error) {
	rt, err := c.routes.Result()
	if err != nil && !errors.Is(err, redis.Nil) {
		return nil, fmt.Errorf("store: routes of %d: %w", c.user, err)
	}
	return liveRoutes(rt, now.UnixMilli()), nil
}

// MembersCmd is a group membership read queued on a pipeline.
type MembersCmd struct {
	gid int64
	cmd *redis.StringSliceCmd
}

// QueueGroupMembers adds to pipe the read of a group's member ids.
func (s *Store) QueueGroupMembers(ctx context.Context, pipe redis.Pipeliner, app string, gid int64) *MembersCmd {
	return &MembersCmd{gid: gid, cmd: pipe.SMembers(ctx, GroupMembersKey(app, gid))}
}

// Members returns the member ids; an unknown group has none.
func (c *MembersCmd) Members() ([]int64, error) {
	ss, err := c.cmd.Result()
	if err != nil && !errors.Is(err, redis.Nil) {
		return nil, fmt.Errorf("store: members of group %d: %w", c.gid, err)
	}
	out := make([]int64, 0, len(ss))
	for _, v := range ss {
		if id, err := strconv.ParseInt(v, 10, 64); err == nil {
			out = append(out, id)
		}
	}
	return out, nil
}

// QueueForgetIdem adds to pipe the removal of a client message id's
// reservation, for a send that was refused: nothing was stored under the
// reserved id, so a later resend must be judged afresh.
func (s *Store) QueueForgetIdem(ctx context.Context, pipe redis.Pipeliner, app string, uid int64, dev int32, cmid string) {
	pipe.Del(ctx, IdemKey(app, uid, dev, cmid))
}
