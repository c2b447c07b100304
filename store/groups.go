package store

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
)

// Managed groups. Every write to a group's own keys is one Lua script or
// one MULTI/EXEC on the group's slot, written before the REST call answers,
// so the router (which reads membership, bans and the blacklist at routing
// time) sees a kick before any send routed after it. The per-user indexes
// (UserGroupsKey, UserOwnedGroupsKey) are written after the group side, in
// their own slots: they are idempotent, and a reader that finds a user
// index entry the group side does not confirm treats the group side as the
// truth.

// GroupIDBase is added to an app's group counter: group ids are 13-digit
// numbers like Lanying's, and never collide with the small ids tests and
// load tests give groups they build through AddGroupMembers.
const GroupIDBase int64 = 2_000_000_000_000

// Group statuses, as Lanying numbers them.
const (
	GroupLive      = 0
	GroupDestroyed = 1
)

// GroupTombstoneTTL is how long the info hash of a destroyed group is kept
// (status 1), so that /group/info answers "dissolved" rather than
// "does not exist" for a while.
const GroupTombstoneTTL = 7 * 24 * time.Hour

// Group is the info hash of a group plus its member count.
type Group struct {
	ID          int64
	Name        string
	Avatar      string
	Description string
	Ext         string
	Type        int32
	Owner       int64
	Capacity    int64
	Created     int64 // unix ms
	Updated     int64 // unix ms
	Status      int32
	// Settings.
	MemberInvite   bool
	MemberModify   bool
	ApplyApproval  int32 // 0 accept all, 1 admins approve, 2 reject all
	HistoryVisible bool
	ReadAck        bool
	// BanExpire is the end of ban_all (unix ms); 0 none, -1 until unban_all.
	BanExpire int64
	// Count is the number of members (SCARD of GroupMembersKey).
	Count int64
}

// Info hash fields of a group. The router reads GroupFieldOwner,
// GroupFieldStatus, GroupFieldBanExpire and GroupFieldHistoryVisible.
const (
	GroupFieldName           = "name"
	GroupFieldAvatar         = "avatar"
	GroupFieldDescription    = "description"
	GroupFieldExt            = "ext"
	GroupFieldType           = "type"
	GroupFieldOwner          = "owner"
	GroupFieldCapacity       = "capacity"
	GroupFieldCreated        = "created"
	GroupFieldUpdated        = "updated"
	GroupFieldStatus         = "status"
	GroupFieldMemberInvite   = "member_invite"
	GroupFieldMemberModify   = "member_modify"
	GroupFieldApplyApproval  = "apply_approval"
	GroupFieldHistoryVisible = "history_visible"
	GroupFieldReadAck        = "read_ack"
	GroupFieldBanExpire      = "ban_expire"
)

func boolField(b bool) string {
	if b {
		return "1"
	}
	return "0"
}

func (g *Group) fields() map[string]any {
	return map[string]any{
		GroupFieldName: g.Name, GroupFieldAvatar: g.Avatar, GroupFieldDescription: g.Description,
		GroupFieldExt: g.Ext, GroupFieldType: g.Type, GroupFieldOwner: g.Owner, GroupFieldCapacity: g.Capacity,
		GroupFieldCreated: g.Created, GroupFieldUpdated: g.Updated, GroupFieldStatus: g.Status,
		GroupFieldMemberInvite: boolField(g.MemberInvite), GroupFieldMemberModify: boolField(g.MemberModify),
		GroupFieldApplyApproval: g.ApplyApproval, GroupFieldHistoryVisible: boolField(g.HistoryVisible),
		GroupFieldReadAck: boolField(g.ReadAck), GroupFieldBanExpire: g.BanExpire,
	}
}

func parseGroup(gid int64, h map[string]string) *Group {
	i64 := func(k string) int64 { n, _ := strconv.ParseInt(h[k], 10, 64); return n }
	return &Group{
		ID: gid, Name: h[GroupFieldName], Avatar: h[GroupFieldAvatar], Description: h[GroupFieldDescription],
		Ext: h[GroupFieldExt], Type: int32(i64(GroupFieldType)), Owner: i64(GroupFieldOwner),
		Capacity: i64(GroupFieldCapacity), Created: i64(GroupFieldCreated), Updated: i64(GroupFieldUpdated),
		Status: int32(i64(GroupFieldStatus)), MemberInvite: h[GroupFieldMemberInvite] == "1",
		MemberModify: h[GroupFieldMemberModify] == "1", ApplyApproval: int32(i64(GroupFieldApplyApproval)),
		HistoryVisible: h[GroupFieldHistoryVisible] == "1", ReadAck: h[GroupFieldReadAck] == "1",
		BanExpire: i64(GroupFieldBanExpire),
	}
}

// GroupCounts are what the per-app limits count.
type GroupCounts struct {
	App     int64 // live groups of the app
	Owned   int64 // groups the user owns
	Joined  int64 // groups the user is a member of
	Members int64
}

// CountGroups returns the app's group count and the user's owned and
// joined group counts.
func (s *Store) CountGroups(ctx context.Context, app string, uid int64) (GroupCounts, error) {
	pipe := s.rdb.Pipeline()
	a := pipe.ZCard(ctx, AppGroupsKey(app))
	o := pipe.SCard(ctx, UserOwnedGroupsKey(app, uid))
	j := pipe.SCard(ctx, UserGroupsKey(app, uid))
	if _, err := pipe.Exec(ctx); err != nil {
		return GroupCounts{}, fmt.Errorf("store: count groups of %d: %w", uid, err)
	}
	return GroupCounts{App: a.Val(), Owned: o.Val(), Joined: j.Val()}, nil
}

// JoinedCounts returns how many groups each user is a member of.
func (s *Store) JoinedCounts(ctx context.Context, app string, uids []int64) ([]int64, error) {
	pipe := s.rdb.Pipeline()
	cmds := make([]*redis.IntCmd, len(uids))
	for i, u := range uids {
		cmds[i] = pipe.SCard(ctx, UserGroupsKey(app, u))
	}
	if _, err := pipe.Exec(ctx); err != nil && len(uids) > 0 {
		return nil, fmt.Errorf("store: joined group counts: %w", err)
	}
	out := make([]int64, len(uids))
	for i, c := range cmds {
		out[i] = c.Val()
	}
	return out, nil
}

// CreateGroup draws a group id, writes the group with its owner as the
// only member, and indexes it (app list, public list, owner's groups). It
// sets g.ID and g.Count.
func (s *Store) CreateGroup(ctx context.Context, app string, g *Group) error {
	n, err := s.rdb.Incr(ctx, GroupSeqKey(app)).Result()
	if err != nil {
		return fmt.Errorf("store: group id: %w", err)
	}
	g.ID, g.Count, g.Status = GroupIDBase+n, 1, GroupLive
	if _, err := s.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.HSet(ctx, GroupInfoKey(app, g.ID), g.fields())
		queueAddMember(ctx, p, app, g.ID, g.Owner, g.Created)
		return nil
	}); err != nil {
		return fmt.Errorf("store: create group %d: %w", g.ID, err)
	}
	pipe := s.rdb.Pipeline()
	pipe.SAdd(ctx, UserGroupsKey(app, g.Owner), g.ID)
	pipe.SAdd(ctx, UserOwnedGroupsKey(app, g.Owner), g.ID)
	pipe.ZAdd(ctx, AppGroupsKey(app), redis.Z{Score: float64(g.Created), Member: g.ID})
	if g.ApplyApproval != 2 {
		pipe.ZAdd(ctx, AppPublicGroupsKey(app), redis.Z{Score: float64(g.Created), Member: g.ID})
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return fmt.Errorf("store: index group %d: %w", g.ID, err)
	}
	return nil
}

func queueAddMember(ctx context.Context, p redis.Pipeliner, app string, gid, uid, now int64) {
	p.SAdd(ctx, GroupMembersKey(app, gid), uid)
	p.ZAdd(ctx, GroupMemberListKey(app, gid), redis.Z{Member: lexID(uid)})
	p.HSet(ctx, GroupJoinedKey(app, gid), idStr(uid), now)
}

// queueForgetMember removes every per-member entry of uid in group gid
// (membership, join point, admin role, ban, name, modes, read mark).
func queueForgetMember(ctx context.Context, p redis.Pipeliner, app string, gid, uid int64) {
	u := idStr(uid)
	p.SRem(ctx, GroupMembersKey(app, gid), uid)
	p.ZRem(ctx, GroupMemberListKey(app, gid), lexID(uid))
	for _, k := range []string{GroupJoinedKey(app, gid), GroupBansKey(app, gid), GroupNamesKey(app, gid),
		GroupPushModeKey(app, gid), GroupMuteModeKey(app, gid), GroupReadKey(app, gid)} {
		p.HDel(ctx, k, u)
	}
	p.SRem(ctx, GroupAdminsKey(app, gid), uid)
}

// GetGroup returns a group (live or destroyed); ErrNotFound when it never
// existed or its tombstone expired.
func (s *Store) GetGroup(ctx context.Context, app string, gid int64) (*Group, error) {
	gs, err := s.GetGroups(ctx, app, []int64{gid})
	if err != nil {
		return nil, err
	}
	if gs[0] == nil {
		return nil, ErrNotFound
	}
	return gs[0], nil
}

// GetGroups returns the groups of gids in order, nil for the missing ones.
func (s *Store) GetGroups(ctx context.Context, app string, gids []int64) ([]*Group, error) {
	pipe := s.rdb.Pipeline()
	infos := make([]*redis.MapStringStringCmd, len(gids))
	counts := make([]*redis.IntCmd, len(gids))
	for i, g := range gids {
		infos[i] = pipe.HGetAll(ctx, GroupInfoKey(app, g))
		counts[i] = pipe.SCard(ctx, GroupMembersKey(app, g))
	}
	if _, err := pipe.Exec(ctx); err != nil && len(gids) > 0 {
		return nil, fmt.Errorf("store: groups: %w", err)
	}
	out := make([]*Group, len(gids))
	for i, g := range gids {
		h := infos[i].Val()
		if len(h) == 0 || h[GroupFieldOwner] == "" {
			continue
		}
		out[i] = parseGroup(g, h)
		out[i].Count = counts[i].Val()
	}
	return out, nil
}

// SetGroupFields writes info fields of a live group and its update time.
// A destroyed or missing group is ErrNotFound.
func (s *Store) SetGroupFields(ctx context.Context, app string, gid int64, now int64, fields map[string]any) error {
	args := []any{now}
	for k, v := range fields {
		args = append(args, k, v)
	}
	n, err := setFieldsScript.Run(ctx, s.rdb, []string{GroupInfoKey(app, gid)}, args...).Int()
	if err != nil {
		return fmt.Errorf("store: update group %d: %w", gid, err)
	}
	if n == 0 {
		return ErrNotFound
	}
	if v, ok := fields[GroupFieldApplyApproval]; ok {
		g, err := s.GetGroup(ctx, app, gid)
		if err != nil {
			return err
		}
		if fmt.Sprint(v) == "2" {
			err = s.rdb.ZRem(ctx, AppPublicGroupsKey(app), gid).Err()
		} else {
			err = s.rdb.ZAdd(ctx, AppPublicGroupsKey(app), redis.Z{Score: float64(g.Created), Member: gid}).Err()
		}
		if err != nil {
			return fmt.Errorf("store: public group index: %w", err)
		}
	}
	return nil
}

var setFieldsScript = redis.NewScript(`
if redis.call('HGET', KEYS[1], 'status') ~= '0' then return 0 end
for i = 2, #ARGV, 2 do redis.call('HSET', KEYS[1], ARGV[i], ARGV[i+1]) end
redis.call('HSET', KEYS[1], 'updated', ARGV[1])
return 1
`)

// Outcomes of JoinGroup for one user.
const (
	JoinOK            = 0
	JoinAlreadyMember = 1
	JoinBlocked       = 2
	JoinFull          = 3
	JoinKickedOften   = 4
)

// ErrGroupGone is returned by writes to a destroyed or missing group.
var ErrGroupGone = errors.New("store: group does not exist or was destroyed")

// JoinGroup adds users to a live group, one outcome per user: a user the
// group blacklisted, kicked kickLimit times or more (kickLimit > 0), or
// over the capacity (capacity > 0) is not added. The checks and the writes
// are one script on the group's slot, so two concurrent joins cannot pass
// the capacity together. The joined users' group indexes are written after.
func (s *Store) JoinGroup(ctx context.Context, app string, gid int64, uids []int64, now, capacity, kickLimit int64) ([]int, error) {
	if len(uids) == 0 {
		return nil, nil
	}
	keys := []string{GroupInfoKey(app, gid), GroupMembersKey(app, gid), GroupMemberListKey(app, gid),
		GroupJoinedKey(app, gid), GroupBlockedKey(app, gid), GroupKicksKey(app, gid)}
	args := []any{now, capacity, kickLimit}
	for _, u := range uids {
		args = append(args, u)
	}
	res, err := joinScript.Run(ctx, s.rdb, keys, args...).Int64Slice()
	if err != nil {
		if errors.Is(err, redis.Nil) {
			return nil, ErrGroupGone
		}
		return nil, fmt.Errorf("store: join group %d: %w", gid, err)
	}
	if len(res) != len(uids) {
		return nil, ErrGroupGone
	}
	out := make([]int, len(res))
	pipe := s.rdb.Pipeline()
	for i, r := range res {
		out[i] = int(r)
		if r == JoinOK {
			pipe.SAdd(ctx, UserGroupsKey(app, uids[i]), gid)
		}
	}
	if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
		return nil, fmt.Errorf("store: index group %d members: %w", gid, err)
	}
	return out, nil
}

// joinScript: KEYS info, members, member list, join times, blacklist,
// kicks; ARGV now, capacity, kick limit, uids... Returns nil for a group
// that is not live, else one outcome per uid.
var joinScript = redis.NewScript(`
if redis.call('HGET', KEYS[1], 'status') ~= '0' then return nil end
local cap = tonumber(ARGV[2])
local kicks = tonumber(ARGV[3])
local n = redis.call('SCARD', KEYS[2])
local out = {}
for i = 4, #ARGV do
  local u = ARGV[i]
  if redis.call('SISMEMBER', KEYS[2], u) == 1 then out[#out+1] = 1
  elseif redis.call('HEXISTS', KEYS[5], u) == 1 then out[#out+1] = 2
  elseif kicks > 0 and tonumber(redis.call('HGET', KEYS[6], u) or '0') >= kicks then out[#out+1] = 4
  elseif cap > 0 and n >= cap then out[#out+1] = 3
  else
    redis.call('SADD', KEYS[2], u)
    redis.call('ZADD', KEYS[3], 0, string.rep('0', 19 - #u) .. u)
    redis.call('HSET', KEYS[4], u, ARGV[1])
    n = n + 1
    out[#out+1] = 0
  end
end
return out
`)

// RemoveMembers takes users out of a group with every per-member entry;
// kicked counts each removal in GroupKicksKey.
func (s *Store) RemoveMembers(ctx context.Context, app string, gid int64, uids []int64, kicked bool) error {
	if len(uids) == 0 {
		return nil
	}
	if _, err := s.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		for _, u := range uids {
			queueForgetMember(ctx, p, app, gid, u)
			if kicked {
				p.HIncrBy(ctx, GroupKicksKey(app, gid), idStr(u), 1)
			}
		}
		return nil
	}); err != nil {
		return fmt.Errorf("store: remove members of group %d: %w", gid, err)
	}
	pipe := s.rdb.Pipeline()
	for _, u := range uids {
		pipe.SRem(ctx, UserGroupsKey(app, u), gid)
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return fmt.Errorf("store: unindex group %d members: %w", gid, err)
	}
	return nil
}

// DestroyGroup marks a group destroyed (the info hash stays as a
// tombstone for GroupTombstoneTTL), deletes every other key of it, and
// removes it from every index. It returns the members it had.
func (s *Store) DestroyGroup(ctx context.Context, app string, gid int64, now int64) ([]int64, error) {
	g, err := s.GetGroup(ctx, app, gid)
	if err != nil {
		return nil, err
	}
	members, err := s.GroupMembers(ctx, app, gid)
	if err != nil {
		return nil, err
	}
	if _, err := s.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.HSet(ctx, GroupInfoKey(app, gid), GroupFieldStatus, GroupDestroyed, GroupFieldUpdated, now)
		p.PExpire(ctx, GroupInfoKey(app, gid), GroupTombstoneTTL)
		p.Del(ctx, GroupKeys(app, gid)...)
		return nil
	}); err != nil {
		return nil, fmt.Errorf("store: destroy group %d: %w", gid, err)
	}
	pipe := s.rdb.Pipeline()
	pipe.ZRem(ctx, AppGroupsKey(app), gid)
	pipe.ZRem(ctx, AppPublicGroupsKey(app), gid)
	pipe.SRem(ctx, UserOwnedGroupsKey(app, g.Owner), gid)
	for _, u := range members {
		pipe.SRem(ctx, UserGroupsKey(app, u), gid)
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return nil, fmt.Errorf("store: unindex group %d: %w", gid, err)
	}
	return members, nil
}

// TransferGroup makes newOwner (a member) the owner; the old owner stays
// a plain member.
func (s *Store) TransferGroup(ctx context.Context, app string, gid, oldOwner, newOwner, now int64) error {
	if _, err := s.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.HSet(ctx, GroupInfoKey(app, gid), GroupFieldOwner, newOwner, GroupFieldUpdated, now)
		p.SRem(ctx, GroupAdminsKey(app, gid), newOwner)
		return nil
	}); err != nil {
		return fmt.Errorf("store: transfer group %d: %w", gid, err)
	}
	pipe := s.rdb.Pipeline()
	pipe.SRem(ctx, UserOwnedGroupsKey(app, oldOwner), gid)
	pipe.SAdd(ctx, UserOwnedGroupsKey(app, newOwner), gid)
	if _, err := pipe.Exec(ctx); err != nil {
		return fmt.Errorf("store: index group %d owner: %w", gid, err)
	}
	return nil
}

// Memberships says, for each user, whether it is a member and an admin
// of the group.
func (s *Store) Memberships(ctx context.Context, app string, gid int64, uids []int64) (member, admin []bool, err error) {
	if len(uids) == 0 {
		return nil, nil, nil
	}
	ids := make([]any, len(uids))
	for i, u := range uids {
		ids[i] = u
	}
	pipe := s.rdb.Pipeline()
	m := pipe.SMIsMember(ctx, GroupMembersKey(app, gid), ids...)
	a := pipe.SMIsMember(ctx, GroupAdminsKey(app, gid), ids...)
	if _, err := pipe.Exec(ctx); err != nil {
		return nil, nil, fmt.Errorf("store: memberships in group %d: %w", gid, err)
	}
	return m.Val(), a.Val(), nil
}

// SetGroupAdmins adds (or removes) admins.
func (s *Store) SetGroupAdmins(ctx context.Context, app string, gid int64, uids []int64, add bool) error {
	return s.changeSet(ctx, GroupAdminsKey(app, gid), uids, add)
}

// GroupAdmins returns the admin ids of a group.
func (s *Store) GroupAdmins(ctx context.Context, app string, gid int64) ([]int64, error) {
	ss, err := s.rdb.SMembers(ctx, GroupAdminsKey(app, gid)).Result()
	if err != nil {
		return nil, fmt.Errorf("store: admins of group %d: %w", gid, err)
	}
	return parseIDs(ss), nil
}

func (s *Store) changeSet(ctx context.Context, key string, uids []int64, add bool) error {
	if len(uids) == 0 {
		return nil
	}
	ids := make([]any, len(uids))
	for i, u := range uids {
		ids[i] = u
	}
	var err error
	if add {
		err = s.rdb.SAdd(ctx, key, ids...).Err()
	} else {
		err = s.rdb.SRem(ctx, key, ids...).Err()
	}
	if err != nil {
		return fmt.Errorf("store: change %s: %w", key, err)
	}
	return nil
}

// SetMemberValues writes one per-member hash (bans, blacklist, names,
// modes: one of the Group*Key builders) for each user; an empty value
// deletes the user's entry.
func (s *Store) SetMemberValues(ctx context.Context, key string, vals map[int64]string) error {
	if len(vals) == 0 {
		return nil
	}
	var del []string
	set := map[string]any{}
	for u, v := range vals {
		if v == "" {
			del = append(del, idStr(u))
		} else {
			set[idStr(u)] = v
		}
	}
	if _, err := s.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		if len(set) > 0 {
			p.HSet(ctx, key, set)
		}
		if len(del) > 0 {
			p.HDel(ctx, key, del...)
		}
		return nil
	}); err != nil {
		return fmt.Errorf("store: write %s: %w", key, err)
	}
	return nil
}

// MemberValues reads one per-member hash for the users ("" where unset).
func (s *Store) MemberValues(ctx context.Context, key string, uids []int64) ([]string, error) {
	if len(uids) == 0 {
		return nil, nil
	}
	fs := make([]string, len(uids))
	for i, u := range uids {
		fs[i] = idStr(u)
	}
	vs, err := s.rdb.HMGet(ctx, key, fs...).Result()
	if err != nil {
		return nil, fmt.Errorf("store: read %s: %w", key, err)
	}
	out := make([]string, len(vs))
	for i, v := range vs {
		if str, ok := v.(string); ok {
			out[i] = str
		}
	}
	return out, nil
}

// AllMemberValues reads a whole per-member hash.
func (s *Store) AllMemberValues(ctx context.Context, key string) (map[int64]string, error) {
	h, err := s.rdb.HGetAll(ctx, key).Result()
	if err != nil {
		return nil, fmt.Errorf("store: read %s: %w", key, err)
	}
	out := make(map[int64]string, len(h))
	for k, v := range h {
		if id, err := strconv.ParseInt(k, 10, 64); err == nil {
			out[id] = v
		}
	}
	return out, nil
}

// MemberPage returns up to limit member ids after the id cursor (0: from
// the first), in id order, and whether more follow.
func (s *Store) MemberPage(ctx context.Context, app string, gid, after int64, limit int) ([]int64, bool, error) {
	min := "-"
	if after > 0 {
		min = "(" + lexID(after)
	}
	ss, err := s.rdb.ZRangeByLex(ctx, GroupMemberListKey(app, gid), &redis.ZRangeBy{
		Min: min, Max: "+", Count: int64(limit) + 1,
	}).Result()
	if err != nil {
		return nil, false, fmt.Errorf("store: members of group %d: %w", gid, err)
	}
	more := len(ss) > limit
	if more {
		ss = ss[:limit]
	}
	return parseIDs(ss), more, nil
}

// UserGroups returns the ids of the groups a user is a member of.
func (s *Store) UserGroups(ctx context.Context, app string, uid int64) ([]int64, error) {
	ss, err := s.rdb.SMembers(ctx, UserGroupsKey(app, uid)).Result()
	if err != nil {
		return nil, fmt.Errorf("store: groups of %d: %w", uid, err)
	}
	return parseIDs(ss), nil
}

// PublicGroups returns up to limit public group ids, oldest first.
func (s *Store) PublicGroups(ctx context.Context, app string, limit int64) ([]int64, error) {
	ss, err := s.rdb.ZRange(ctx, AppPublicGroupsKey(app), 0, limit-1).Result()
	if err != nil {
		return nil, fmt.Errorf("store: public groups: %w", err)
	}
	return parseIDs(ss), nil
}

// IncrGroupSeq draws the next value of a per-group counter key.
func (s *Store) IncrGroupSeq(ctx context.Context, key string) (int64, error) {
	n, err := s.rdb.Incr(ctx, key).Result()
	if err != nil {
		return 0, fmt.Errorf("store: counter %s: %w", key, err)
	}
	return n, nil
}

// MarkGroupRead raises a member's read mark in a group to id (never
// lowers it). The ids are compared as 19-digit strings in the script:
// Lua numbers are doubles and would round 63-bit ids.
func (s *Store) MarkGroupRead(ctx context.Context, app string, gid, uid, id int64) error {
	if err := readMarkScript.Run(ctx, s.rdb, []string{GroupReadKey(app, gid)}, idStr(uid), lexID(id)).Err(); err != nil && !errors.Is(err, redis.Nil) {
		return fmt.Errorf("store: group %d read mark of %d: %w", gid, uid, err)
	}
	return nil
}

var readMarkScript = redis.NewScript(`
local cur = redis.call('HGET', KEYS[1], ARGV[1])
if not cur or cur < ARGV[2] then redis.call('HSET', KEYS[1], ARGV[1], ARGV[2]) end
return 1
`)

// GroupReaders returns the members whose read mark in the group is at
// least id.
func (s *Store) GroupReaders(ctx context.Context, app string, gid, id int64) ([]int64, error) {
	h, err := s.AllMemberValues(ctx, GroupReadKey(app, gid))
	if err != nil {
		return nil, err
	}
	want := lexID(id)
	var out []int64
	for u, v := range h {
		if v >= want {
			out = append(out, u)
		}
	}
	return out, nil
}

// Invitees reads, in one round trip, whether each user exists (and is not
// disabled) and whether it wants to confirm group invitations
// (group_confirm).
func (s *Store) Invitees(ctx context.Context, app string, uids []int64) ([]UserState, []bool, error) {
	pipe := s.rdb.Pipeline()
	cmds := make([]*redis.SliceCmd, len(uids))
	for i, u := range uids {
		cmds[i] = pipe.HMGet(ctx, UserKey(app, u), "created", "disabled", "group_confirm")
	}
	if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) && len(uids) > 0 {
		return nil, nil, fmt.Errorf("store: invitees: %w", err)
	}
	states := make([]UserState, len(uids))
	confirm := make([]bool, len(uids))
	for i := range uids {
		v := cmds[i].Val()
		if len(v) < 3 {
			continue
		}
		states[i] = userState(v[:2])
		confirm[i] = v[2] == "1"
	}
	return states, confirm, nil
}
