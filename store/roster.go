package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
)

// Rosters: friends, friend applications and the blacklist. Every key of a
// roster is under its owner's hash tag {app:uid}, so each user's side of a
// change is one MULTI/EXEC on one slot. A change that concerns two users
// (becoming friends, deleting a friend) writes the two sides one after the
// other; each side is idempotent, and the REST API judges "already friends"
// on both sides, so repeating a request that died between the two writes
// completes it.

// Relations of a roster entry, as Lanying numbers them.
const (
	RelationFriend   = 0 // a friend
	RelationDeleted  = 1 // was a friend and was deleted
	RelationStranger = 2 // neither
	RelationBlocked  = 3 // blacklisted
)

// Application statuses, as Lanying numbers them.
const (
	ApplicationPending  = 0
	ApplicationAccepted = 1
	ApplicationDeclined = 2
)

// ApplicationTTL is how long a friend application can be answered; the
// application keys of a user expire this long after the last application.
const ApplicationTTL = 7 * 24 * time.Hour

// Friend is what a user keeps about one friend.
type Friend struct {
	Alias string `json:"alias,omitempty"`
	Ext   string `json:"ext,omitempty"`
	Mute  bool   `json:"mute,omitempty"`
	Since int64  `json:"since"` // unix ms
}

// Application is a request of From to become the owner's friend.
type Application struct {
	From   int64  `json:"from"`
	Reason string `json:"reason,omitempty"`
	// Alias is the name the applicant gives the owner once accepted.
	Alias         string `json:"alias,omitempty"`
	Status        int    `json:"status"`
	DeclineReason string `json:"decline_reason,omitempty"`
	Created       int64  `json:"created"` // unix ms
	Expires       int64  `json:"expires"` // unix ms
}

// Pair is what two users' rosters say about each other, read in one round
// trip: A's view of B and B's view of A.
type Pair struct {
	AFriend, BFriend   *Friend // nil: not a friend on that side
	ABlocksB, BBlocksA bool
	AExFriendB         bool
	// AppAB is A's application to B (kept in B's roster), AppBA the reverse.
	AppAB, AppBA *Application
}

// Friends reports whether both sides list the other as a friend.
func (p *Pair) Friends() bool { return p.AFriend != nil && p.BFriend != nil }

// RosterPair reads what users a and b's rosters say about each other.
func (s *Store) RosterPair(ctx context.Context, app string, a, b int64) (*Pair, error) {
	pipe := s.rdb.Pipeline()
	af := pipe.HGet(ctx, FriendAttrsKey(app, a), idStr(b))
	bf := pipe.HGet(ctx, FriendAttrsKey(app, b), idStr(a))
	ab := pipe.SIsMember(ctx, BlockedKey(app, a), b)
	ba := pipe.SIsMember(ctx, BlockedKey(app, b), a)
	ax := pipe.SIsMember(ctx, ExFriendsKey(app, a), b)
	apAB := pipe.HGet(ctx, ApplicationAttrsKey(app, b), idStr(a))
	apBA := pipe.HGet(ctx, ApplicationAttrsKey(app, a), idStr(b))
	if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
		return nil, fmt.Errorf("store: roster of %d and %d: %w", a, b, err)
	}
	p := &Pair{ABlocksB: ab.Val(), BBlocksA: ba.Val(), AExFriendB: ax.Val()}
	var err error
	if p.AFriend, err = decodeFriend(af); err != nil {
		return nil, err
	}
	if p.BFriend, err = decodeFriend(bf); err != nil {
		return nil, err
	}
	if p.AppAB, err = decodeApplication(apAB, a); err != nil {
		return nil, err
	}
	if p.AppBA, err = decodeApplication(apBA, b); err != nil {
		return nil, err
	}
	return p, nil
}

func decodeFriend(c *redis.StringCmd) (*Friend, error) {
	raw, err := c.Bytes()
	if errors.Is(err, redis.Nil) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("store: friend: %w", err)
	}
	var f Friend
	if err := json.Unmarshal(raw, &f); err != nil {
		return nil, fmt.Errorf("store: decode friend: %w", err)
	}
	return &f, nil
}

func decodeApplication(c *redis.StringCmd, from int64) (*Application, error) {
	raw, err := c.Bytes()
	if errors.Is(err, redis.Nil) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("store: application: %w", err)
	}
	var a Application
	if err := json.Unmarshal(raw, &a); err != nil {
		return nil, fmt.Errorf("store: decode application: %w", err)
	}
	a.From = from
	return &a, nil
}

func idStr(id int64) string { return strconv.FormatInt(id, 10) }

// MakeFriends makes a and b friends on both sides. aliasForB is the name a
// gives b, aliasForA the name b gives a; a side that already lists the
// other keeps what it had. If b had an application from a (or the reverse)
// it is marked accepted.
func (s *Store) MakeFriends(ctx context.Context, app string, a, b int64, aliasForB, aliasForA string, now time.Time) error {
	if err := s.addFriendSide(ctx, app, a, b, aliasForB, now); err != nil {
		return err
	}
	return s.addFriendSide(ctx, app, b, a, aliasForA, now)
}

func (s *Store) addFriendSide(ctx context.Context, app string, owner, friend int64, alias string, now time.Time) error {
	attrs, err := json.Marshal(Friend{Alias: alias, Since: now.UnixMilli()})
	if err != nil {
		return fmt.Errorf("store: encode friend: %w", err)
	}
	// An application of friend to owner is answered by the friendship.
	appKey := ApplicationAttrsKey(app, owner)
	_, err = s.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.ZAdd(ctx, FriendsKey(app, owner), redis.Z{Member: lexID(friend)})
		p.HSetNX(ctx, FriendAttrsKey(app, owner), idStr(friend), attrs)
		p.SRem(ctx, ExFriendsKey(app, owner), friend)
		p.Incr(ctx, RosterVersionKey(app, owner))
		return nil
	})
	if err != nil {
		return fmt.Errorf("store: add friend %d of %d: %w", friend, owner, err)
	}
	return s.updateApplication(ctx, appKey, friend, func(a *Application) bool {
		if a.Status != ApplicationPending {
			return false
		}
		a.Status = ApplicationAccepted
		return true
	})
}

// RemoveFriends ends the friendship of a and b on both sides; each then
// sees the other as a deleted friend.
func (s *Store) RemoveFriends(ctx context.Context, app string, a, b int64) error {
	for _, side := range [][2]int64{{a, b}, {b, a}} {
		owner, friend := side[0], side[1]
		_, err := s.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
			p.ZRem(ctx, FriendsKey(app, owner), lexID(friend))
			p.HDel(ctx, FriendAttrsKey(app, owner), idStr(friend))
			p.SAdd(ctx, ExFriendsKey(app, owner), friend)
			p.Incr(ctx, RosterVersionKey(app, owner))
			return nil
		})
		if err != nil {
			return fmt.Errorf("store: remove friend %d of %d: %w", friend, owner, err)
		}
	}
	return nil
}

// UpdateFriend applies fn to what owner keeps about friend. ErrNotFound
// when friend is not owner's friend.
func (s *Store) UpdateFriend(ctx context.Context, app string, owner, friend int64, fn func(*Friend)) error {
	return jsonField[Friend]{
		key: FriendAttrsKey(app, owner), field: idStr(friend), what: "friend", missing: ErrNotFound,
		also: func(p redis.Pipeliner) { p.Incr(ctx, RosterVersionKey(app, owner)) },
	}.update(ctx, s, func(f *Friend) bool {
		fn(f)
		return true
	})
}

// FriendIDs returns up to limit friends of uid with ids above after, in id
// order, and whether more follow.
func (s *Store) FriendIDs(ctx context.Context, app string, uid, after int64, limit int) ([]int64, bool, error) {
	return s.lexPage(ctx, FriendsKey(app, uid), after, limit)
}

func (s *Store) lexPage(ctx context.Context, key string, after int64, limit int) ([]int64, bool, error) {
	start := "-"
	if after > 0 {
		start = "(" + lexID(after)
	}
	ss, err := s.rdb.ZRangeArgs(ctx, redis.ZRangeArgs{
		Key: key, ByLex: true, Start: start, Stop: "+", Count: int64(limit + 1),
	}).Result()
	if err != nil {
		return nil, false, fmt.Errorf("store: page %s: %w", key, err)
	}
	more := len(ss) > limit
	if more {
		ss = ss[:limit]
	}
	return parseIDs(ss), more, nil
}

// FriendsOf returns what uid keeps about each of ids (nil: not a friend).
func (s *Store) FriendsOf(ctx context.Context, app string, uid int64, ids []int64) ([]*Friend, error) {
	out := make([]*Friend, len(ids))
	if len(ids) == 0 {
		return out, nil
	}
	fields := make([]string, len(ids))
	for i, id := range ids {
		fields[i] = idStr(id)
	}
	vals, err := s.rdb.HMGet(ctx, FriendAttrsKey(app, uid), fields...).Result()
	if err != nil {
		return nil, fmt.Errorf("store: friends of %d: %w", uid, err)
	}
	for i, v := range vals {
		str, ok := v.(string)
		if !ok {
			continue
		}
		var f Friend
		if err := json.Unmarshal([]byte(str), &f); err != nil {
			return nil, fmt.Errorf("store: decode friend: %w", err)
		}
		out[i] = &f
	}
	return out, nil
}

// RosterVersion is the number of changes uid's roster has seen.
func (s *Store) RosterVersion(ctx context.Context, app string, uid int64) (int64, error) {
	v, err := s.rdb.Get(ctx, RosterVersionKey(app, uid)).Int64()
	if errors.Is(err, redis.Nil) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("store: roster version of %d: %w", uid, err)
	}
	return v, nil
}

// Block adds other to uid's blacklist; false when it was there already.
func (s *Store) Block(ctx context.Context, app string, uid, other int64) (bool, error) {
	return s.changeBlocked(ctx, app, uid, other, true)
}

// Unblock removes other from uid's blacklist; false when it was not there.
func (s *Store) Unblock(ctx context.Context, app string, uid, other int64) (bool, error) {
	return s.changeBlocked(ctx, app, uid, other, false)
}

func (s *Store) changeBlocked(ctx context.Context, app string, uid, other int64, add bool) (bool, error) {
	var n *redis.IntCmd
	_, err := s.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		if add {
			n = p.SAdd(ctx, BlockedKey(app, uid), other)
		} else {
			n = p.SRem(ctx, BlockedKey(app, uid), other)
		}
		p.Incr(ctx, RosterVersionKey(app, uid))
		return nil
	})
	if err != nil {
		return false, fmt.Errorf("store: blacklist of %d: %w", uid, err)
	}
	return n.Val() == 1, nil
}

// BlockedIDs returns uid's blacklist in id order.
func (s *Store) BlockedIDs(ctx context.Context, app string, uid int64) ([]int64, error) {
	ss, err := s.rdb.SMembers(ctx, BlockedKey(app, uid)).Result()
	if err != nil {
		return nil, fmt.Errorf("store: blacklist of %d: %w", uid, err)
	}
	ids := parseIDs(ss)
	slices.Sort(ids)
	return ids, nil
}

// BlockedCount is the size of uid's blacklist.
func (s *Store) BlockedCount(ctx context.Context, app string, uid int64) (int64, error) {
	n, err := s.rdb.SCard(ctx, BlockedKey(app, uid)).Result()
	if err != nil {
		return 0, fmt.Errorf("store: blacklist of %d: %w", uid, err)
	}
	return n, nil
}

// IsBlocked reports whether uid blacklisted other: other may not send uid
// one-to-one messages.
func (s *Store) IsBlocked(ctx context.Context, app string, uid, other int64) (bool, error) {
	ok, err := s.rdb.SIsMember(ctx, BlockedKey(app, uid), other).Result()
	if err != nil {
		return false, fmt.Errorf("store: blacklist of %d: %w", uid, err)
	}
	return ok, nil
}

// QueueIsBlocked adds IsBlocked to a pipeline, for the router's read round.
func (s *Store) QueueIsBlocked(ctx context.Context, pipe redis.Pipeliner, app string, uid, other int64) *redis.BoolCmd {
	return pipe.SIsMember(ctx, BlockedKey(app, uid), other)
}

// PutApplication records (or renews) a's application to become owner's
// friend, pending until it expires.
func (s *Store) PutApplication(ctx context.Context, app string, owner int64, a Application) error {
	b, err := json.Marshal(&a)
	if err != nil {
		return fmt.Errorf("store: encode application: %w", err)
	}
	zk, hk := ApplicationsKey(app, owner), ApplicationAttrsKey(app, owner)
	_, err = s.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.ZAdd(ctx, zk, redis.Z{Member: lexID(a.From)})
		p.HSet(ctx, hk, idStr(a.From), b)
		p.PExpire(ctx, zk, ApplicationTTL)
		p.PExpire(ctx, hk, ApplicationTTL)
		return nil
	})
	if err != nil {
		return fmt.Errorf("store: application of %d to %d: %w", a.From, owner, err)
	}
	return nil
}

// DeclineApplication marks from's pending application to owner declined.
// ErrNotFound when there is none pending (or it expired).
func (s *Store) DeclineApplication(ctx context.Context, app string, owner, from int64, reason string, now time.Time) error {
	found := false
	err := s.updateApplication(ctx, ApplicationAttrsKey(app, owner), from, func(a *Application) bool {
		if a.Status != ApplicationPending || a.Expires <= now.UnixMilli() {
			return false
		}
		found = true
		a.Status, a.DeclineReason = ApplicationDeclined, reason
		return true
	})
	if err == nil && !found {
		return ErrNotFound
	}
	return err
}

// updateApplication rewrites an application if fn says so; a missing one
// is left alone.
func (s *Store) updateApplication(ctx context.Context, key string, from int64, fn func(*Application) bool) error {
	err := jsonField[Application]{key: key, field: idStr(from), what: "application", missing: errSkip}.update(ctx, s, fn)
	if errors.Is(err, errSkip) {
		return nil
	}
	return err
}

// Applications returns up to limit applications to uid from users with ids
// above after, in applicant id order, and whether more follow. Expired
// applications are left out and removed.
func (s *Store) Applications(ctx context.Context, app string, uid, after int64, limit int, now time.Time) ([]Application, bool, error) {
	zk, hk := ApplicationsKey(app, uid), ApplicationAttrsKey(app, uid)
	from, more, err := s.lexPage(ctx, zk, after, limit)
	if err != nil || len(from) == 0 {
		return nil, more, err
	}
	fields := make([]string, len(from))
	for i, id := range from {
		fields[i] = idStr(id)
	}
	vals, err := s.rdb.HMGet(ctx, hk, fields...).Result()
	if err != nil {
		return nil, false, fmt.Errorf("store: applications of %d: %w", uid, err)
	}
	out := make([]Application, 0, len(from))
	var expired []int64
	for i, v := range vals {
		str, ok := v.(string)
		var a Application
		if !ok || json.Unmarshal([]byte(str), &a) != nil || a.Expires <= now.UnixMilli() {
			expired = append(expired, from[i])
			continue
		}
		a.From = from[i]
		out = append(out, a)
	}
	if len(expired) > 0 {
		pipe := s.rdb.TxPipeline()
		for _, id := range expired {
			pipe.ZRem(ctx, zk, lexID(id))
			pipe.HDel(ctx, hk, idStr(id))
		}
		if _, err := pipe.Exec(ctx); err != nil {
			return nil, false, fmt.Errorf("store: drop expired applications of %d: %w", uid, err)
		}
	}
	return out, more, nil
}

// Relations returns, for each of ids, uid's relation to it and what uid
// keeps about it as a friend (nil: not a friend), in one round trip.
func (s *Store) Relations(ctx context.Context, app string, uid int64, ids []int64) ([]int, []*Friend, error) {
	rel := make([]int, len(ids))
	friends := make([]*Friend, len(ids))
	if len(ids) == 0 {
		return rel, friends, nil
	}
	fields := make([]string, len(ids))
	members := make([]any, len(ids))
	for i, id := range ids {
		fields[i], members[i] = idStr(id), id
	}
	pipe := s.rdb.Pipeline()
	fr := pipe.HMGet(ctx, FriendAttrsKey(app, uid), fields...)
	blk := pipe.SMIsMember(ctx, BlockedKey(app, uid), members...)
	ex := pipe.SMIsMember(ctx, ExFriendsKey(app, uid), members...)
	if _, err := pipe.Exec(ctx); err != nil {
		return nil, nil, fmt.Errorf("store: relations of %d: %w", uid, err)
	}
	fv, bv, xv := fr.Val(), blk.Val(), ex.Val()
	for i := range ids {
		if str, ok := fv[i].(string); ok {
			var f Friend
			if err := json.Unmarshal([]byte(str), &f); err != nil {
				return nil, nil, fmt.Errorf("store: decode friend: %w", err)
			}
			friends[i] = &f
		}
		switch {
		case bv[i]:
			rel[i] = RelationBlocked
		case friends[i] != nil:
			rel[i] = RelationFriend
		case xv[i]:
			rel[i] = RelationDeleted
		default:
			rel[i] = RelationStranger
		}
	}
	return rel, friends, nil
}

// MuteCmd is a queued read of whether a user muted a friend.
type MuteCmd struct{ cmd *redis.StringCmd }

// QueueFriendMuted queues the read of whether owner muted notifications
// from friend (roster mute_notification), for a push worker's batch read.
func (s *Store) QueueFriendMuted(ctx context.Context, pipe redis.Pipeliner, app string, owner, friend int64) *MuteCmd {
	return &MuteCmd{cmd: pipe.HGet(ctx, FriendAttrsKey(app, owner), idStr(friend))}
}

// Muted reports the result; a missing friend or a read error is not muted.
func (c *MuteCmd) Muted() bool {
	raw, err := c.cmd.Bytes()
	if err != nil {
		return false
	}
	var f Friend
	return json.Unmarshal(raw, &f) == nil && f.Mute
}
