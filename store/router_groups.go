package store

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"github.com/redis/go-redis/v9"
)

// Pipelined reads of a managed group's rules for the router's read round.
// Every key is in the group's slot, so on a Redis Cluster they go to one
// node; the router queues them with its other reads and pays no extra
// round trip for them.

// GroupRules is what the router needs to know of a group to route a send
// to it: whether it is managed and live, who may speak, and how each
// member wants to be notified.
type GroupRules struct {
	// Managed is false for a group without an info hash (built with
	// AddGroupMembers only): only membership applies to it.
	Managed   bool
	Destroyed bool
	Owner     int64
	// BanExpire is the end of ban_all (unix ms): 0 none, -1 until lifted.
	BanExpire int64
	// HistoryVisible and ReadAck are the group's settings.
	HistoryVisible bool
	ReadAck        bool
	Admins         []int64
	// PushMode and MuteMode hold the members whose mode is not 0.
	PushMode map[int64]int
	MuteMode map[int64]int
}

// BanAll reports whether ban_all is on at nowMS.
func (g *GroupRules) BanAll(nowMS int64) bool { return banned(g.BanExpire, nowMS) }

// IsAdmin reports whether uid is the owner or an admin.
func (g *GroupRules) IsAdmin(uid int64) bool {
	if uid == g.Owner && uid != 0 {
		return true
	}
	for _, a := range g.Admins {
		if a == uid {
			return true
		}
	}
	return false
}

// banned reports whether a ban that ends at expire (ms; -1 never, 0 none)
// holds at nowMS.
func banned(expire, nowMS int64) bool { return expire == -1 || expire > nowMS }

// GroupRulesCmd is a read of a group's rules queued on a pipeline.
type GroupRulesCmd struct {
	gid    int64
	info   *redis.SliceCmd
	admins *redis.StringSliceCmd
	push   *redis.MapStringStringCmd
	mute   *redis.MapStringStringCmd
}

// QueueGroupRules adds to pipe the reads of a group's rules.
func (s *Store) QueueGroupRules(ctx context.Context, pipe redis.Pipeliner, app string, gid int64) *GroupRulesCmd {
	return &GroupRulesCmd{
		gid: gid,
		info: pipe.HMGet(ctx, GroupInfoKey(app, gid), GroupFieldOwner, GroupFieldStatus, GroupFieldBanExpire,
			GroupFieldHistoryVisible, GroupFieldReadAck),
		admins: pipe.SMembers(ctx, GroupAdminsKey(app, gid)),
		push:   pipe.HGetAll(ctx, GroupPushModeKey(app, gid)),
		mute:   pipe.HGetAll(ctx, GroupMuteModeKey(app, gid)),
	}
}

// Rules returns what was read.
func (c *GroupRulesCmd) Rules() (GroupRules, error) {
	var g GroupRules
	vals, err := c.info.Result()
	if err != nil && !errors.Is(err, redis.Nil) {
		return g, fmt.Errorf("store: rules of group %d: %w", c.gid, err)
	}
	str := func(i int) string {
		if i < len(vals) {
			if v, ok := vals[i].(string); ok {
				return v
			}
		}
		return ""
	}
	if str(0) == "" && str(1) == "" {
		return g, nil
	}
	g.Managed = true
	g.Owner, _ = strconv.ParseInt(str(0), 10, 64)
	g.Destroyed = str(1) == strconv.Itoa(GroupDestroyed)
	g.BanExpire, _ = strconv.ParseInt(str(2), 10, 64)
	g.HistoryVisible, g.ReadAck = str(3) == "1", str(4) == "1"
	admins, err := c.admins.Result()
	if err != nil && !errors.Is(err, redis.Nil) {
		return g, fmt.Errorf("store: admins of group %d: %w", c.gid, err)
	}
	for _, a := range admins {
		if id, err := strconv.ParseInt(a, 10, 64); err == nil {
			g.Admins = append(g.Admins, id)
		}
	}
	if g.PushMode, err = modes(c.push); err != nil {
		return g, fmt.Errorf("store: push modes of group %d: %w", c.gid, err)
	}
	if g.MuteMode, err = modes(c.mute); err != nil {
		return g, fmt.Errorf("store: mute modes of group %d: %w", c.gid, err)
	}
	return g, nil
}

func modes(c *redis.MapStringStringCmd) (map[int64]int, error) {
	h, err := c.Result()
	if err != nil && !errors.Is(err, redis.Nil) {
		return nil, err
	}
	var out map[int64]int
	for k, v := range h {
		uid, err1 := strconv.ParseInt(k, 10, 64)
		m, err2 := strconv.Atoi(v)
		if err1 != nil || err2 != nil || m == 0 {
			continue
		}
		if out == nil {
			out = make(map[int64]int, len(h))
		}
		out[uid] = m
	}
	return out, nil
}

// GroupSenderCmd is a read of one sender's standing in a group (its ban
// and whether the group blacklisted it), queued on a pipeline.
type GroupSenderCmd struct {
	gid, uid int64
	ban      *redis.StringCmd
	blocked  *redis.BoolCmd
}

// QueueGroupSender adds to pipe the reads of uid's ban and blacklist entry
// in group gid.
func (s *Store) QueueGroupSender(ctx context.Context, pipe redis.Pipeliner, app string, gid, uid int64) *GroupSenderCmd {
	f := strconv.FormatInt(uid, 10)
	return &GroupSenderCmd{
		gid: gid, uid: uid,
		ban:     pipe.HGet(ctx, GroupBansKey(app, gid), f),
		blocked: pipe.HExists(ctx, GroupBlockedKey(app, gid), f),
	}
}

// Standing returns whether the sender is banned (muted) at nowMS and
// whether the group blacklisted it.
func (c *GroupSenderCmd) Standing(nowMS int64) (muted, blocked bool, err error) {
	v, err := c.ban.Result()
	switch {
	case errors.Is(err, redis.Nil):
	case err != nil:
		return false, false, fmt.Errorf("store: ban of %d in group %d: %w", c.uid, c.gid, err)
	default:
		exp, _ := strconv.ParseInt(v, 10, 64)
		muted = banned(exp, nowMS)
	}
	blocked, err = c.blocked.Result()
	if err != nil && !errors.Is(err, redis.Nil) {
		return false, false, fmt.Errorf("store: blacklist of group %d: %w", c.gid, err)
	}
	return muted, blocked, nil
}

// QueueMarkGroupRead adds to pipe MarkGroupRead's raise of uid's read mark
// in group gid to id (the router records group read receipts with the
// batch's other writes).
func (s *Store) QueueMarkGroupRead(ctx context.Context, pipe redis.Pipeliner, app string, gid, uid, id int64) {
	readMarkScript.Eval(ctx, pipe, []string{GroupReadKey(app, gid)}, idStr(uid), lexID(id))
}
