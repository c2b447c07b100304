package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// Recent sessions, read marks, recalls and history pages: what the REST
// message operations read, and the router's pipelined writes behind them.

// RecentMax caps the recent sessions kept per user; older ones are trimmed.
const RecentMax = 1000

// QueueRecent adds to pipe the move of conv to the top of uid's recent
// sessions (score: the message time, ms). One write in 32 also trims the
// set by retention and to RecentMax, and sets its expiry, so the cost per
// recipient is one command.
func (s *Store) QueueRecent(ctx context.Context, pipe redis.Pipeliner, app string, uid int64, conv string, id, tsMS int64) {
	k := ConvsKey(app, uid)
	pipe.ZAdd(ctx, k, redis.Z{Score: float64(tsMS), Member: conv})
	if shouldTrim(id, uid+1) {
		floor := time.UnixMilli(tsMS).Add(-s.opts.Retention).UnixMilli()
		pipe.ZRemRangeByScore(ctx, k, "-inf", "("+strconv.FormatInt(floor, 10))
		pipe.ZRemRangeByRank(ctx, k, 0, -RecentMax-1)
		pipe.PExpire(ctx, k, s.opts.Retention)
	}
}

// QueueReadMark adds to pipe the write of uid's read mark of conv. Callers
// only raise it: the router handles a conversation in order. The key's
// expiry (retention) is renewed on one write in 32, so that the mark costs
// the send path one command; a user who writes rarely keeps the hash, which
// holds one small field per conversation.
func (s *Store) QueueReadMark(ctx context.Context, pipe redis.Pipeliner, app string, uid int64, conv string, id int64) {
	k := ReadMarksKey(app, uid)
	pipe.HSet(ctx, k, conv, id)
	if shouldTrim(id, uid+2) {
		pipe.PExpire(ctx, k, s.opts.Retention)
	}
}

// QueueGetReadMark adds to pipe the read of uid's read mark of conv.
func (s *Store) QueueGetReadMark(ctx context.Context, pipe redis.Pipeliner, app string, uid int64, conv string) *redis.StringCmd {
	return pipe.HGet(ctx, ReadMarksKey(app, uid), conv)
}

// ReadMark returns the id a queued read-mark read found (0: none).
func ReadMark(c *redis.StringCmd) (int64, error) {
	v, err := c.Int64()
	if errors.Is(err, redis.Nil) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("store: read mark: %w", err)
	}
	return v, nil
}

// ReadMarks returns the read mark of conv of each user (0: none).
func (s *Store) ReadMarks(ctx context.Context, app, conv string, uids []int64) ([]int64, error) {
	pipe := s.rdb.Pipeline()
	cmds := make([]*redis.StringCmd, len(uids))
	for i, u := range uids {
		cmds[i] = s.QueueGetReadMark(ctx, pipe, app, u, conv)
	}
	if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
		return nil, fmt.Errorf("store: read marks of %s: %w", conv, err)
	}
	out := make([]int64, len(uids))
	for i, c := range cmds {
		v, err := ReadMark(c)
		if err != nil {
			return nil, err
		}
		out[i] = v
	}
	return out, nil
}

// QueueGetBody adds to pipe the read of a message body.
func (s *Store) QueueGetBody(ctx context.Context, pipe redis.Pipeliner, app, conv string, id int64) *redis.StringCmd {
	return pipe.Get(ctx, BodyKey(app, conv, id))
}

// QueueStoreEvent adds to pipe the body of an event (recall, read): kept
// like a message body for the inboxes that point at it, but not indexed in
// the conversation's history.
func (s *Store) QueueStoreEvent(ctx context.Context, pipe redis.Pipeliner, app, conv string, id int64, body []byte) {
	pipe.Set(ctx, BodyKey(app, conv, id), body, s.opts.Retention)
}

// QueueRecall adds to pipe the removal of message ref from its
// conversation: the history entry goes, and the body is replaced by the
// recall event (keeping its expiry), so that a device that syncs the
// message's inbox entry later gets the recall instead of the message.
func (s *Store) QueueRecall(ctx context.Context, pipe redis.Pipeliner, app, conv string, ref int64, event []byte) {
	pipe.SetArgs(ctx, BodyKey(app, conv, ref), event, redis.SetArgs{Mode: "XX", KeepTTL: true})
	pipe.ZRem(ctx, HistoryKey(app, conv), lexID(ref))
}

// InboxConv finds the conversation of message id in uid's inbox: the
// message was sent or delivered to uid. ok is false when it is not there.
func (s *Store) InboxConv(ctx context.Context, app string, uid, id int64) (conv string, ok bool, err error) {
	l := lexID(id)
	ss, err := s.rdb.ZRangeArgs(ctx, redis.ZRangeArgs{
		Key: InboxKey(app, uid), ByLex: true, Start: "[" + l + ":", Stop: "(" + l + ";", Count: 1,
	}).Result()
	if err != nil {
		return "", false, fmt.Errorf("store: find %d in inbox of %d: %w", id, uid, err)
	}
	if len(ss) == 0 {
		return "", false, nil
	}
	_, conv, _ = strings.Cut(ss[0], ":")
	return conv, true, nil
}

// Recent is one of a user's recent sessions.
type Recent struct {
	Conv string
	// TS is the time of the conversation's last message (unix ms).
	TS int64
	// Unread counts the conversation's messages after the user's read
	// mark: messages the user sent move the mark, so they never count.
	Unread int64
}

// RecentSessions returns uid's limit most recent conversations, newest
// first, with their unread counts. The cost is bounded by limit: one
// sorted-set range, one hash read and one ZLEXCOUNT (O(log n)) per session.
func (s *Store) RecentSessions(ctx context.Context, app string, uid int64, limit int) ([]Recent, error) {
	zs, err := s.rdb.ZRangeArgsWithScores(ctx, redis.ZRangeArgs{
		Key: ConvsKey(app, uid), Start: 0, Stop: int64(limit - 1), Rev: true,
	}).Result()
	if err != nil {
		return nil, fmt.Errorf("store: recent sessions of %d: %w", uid, err)
	}
	if len(zs) == 0 {
		return []Recent{}, nil
	}
	convs := make([]string, len(zs))
	for i, z := range zs {
		convs[i], _ = z.Member.(string)
	}
	marks, err := s.rdb.HMGet(ctx, ReadMarksKey(app, uid), convs...).Result()
	if err != nil {
		return nil, fmt.Errorf("store: read marks of %d: %w", uid, err)
	}
	pipe := s.rdb.Pipeline()
	counts := make([]*redis.IntCmd, len(convs))
	for i, c := range convs {
		start := "-"
		if m, ok := marks[i].(string); ok {
			if id, err := strconv.ParseInt(m, 10, 64); err == nil {
				start = "(" + lexID(id)
			}
		}
		counts[i] = pipe.ZLexCount(ctx, HistoryKey(app, c), start, "+")
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return nil, fmt.Errorf("store: unread counts of %d: %w", uid, err)
	}
	out := make([]Recent, len(zs))
	for i, z := range zs {
		out[i] = Recent{Conv: convs[i], TS: int64(z.Score), Unread: counts[i].Val()}
	}
	return out, nil
}

// DeleteRecent removes conversations from uid's recent sessions. A new
// message brings a conversation back.
func (s *Store) DeleteRecent(ctx context.Context, app string, uid int64, convs ...string) error {
	members := make([]any, len(convs))
	for i, c := range convs {
		members[i] = c
	}
	if err := s.rdb.ZRem(ctx, ConvsKey(app, uid), members...).Err(); err != nil {
		return fmt.Errorf("store: delete recent sessions of %d: %w", uid, err)
	}
	return nil
}

// HistoryPage returns up to limit message bodies of conv with ids below
// before (0: from the newest), newest first, and whether older ones exist.
func (s *Store) HistoryPage(ctx context.Context, app, conv string, before int64, limit int) ([]json.RawMessage, bool, error) {
	msgs, err := s.History(ctx, app, conv, before, limit+1)
	if err != nil {
		return nil, false, err
	}
	more := len(msgs) > limit
	if more {
		msgs = msgs[:limit]
	}
	return msgs, more, nil
}

// GroupExists reports whether a group has members.
func (s *Store) GroupExists(ctx context.Context, app string, gid int64) (bool, error) {
	n, err := s.rdb.Exists(ctx, GroupMembersKey(app, gid)).Result()
	if err != nil {
		return false, fmt.Errorf("store: group %d: %w", gid, err)
	}
	return n == 1, nil
}

// InGroups reports, for each group, whether uid is a member (its own
// index of groups, one round trip).
func (s *Store) InGroups(ctx context.Context, app string, uid int64, gids []int64) ([]bool, error) {
	if len(gids) == 0 {
		return nil, nil
	}
	members := make([]any, len(gids))
	for i, g := range gids {
		members[i] = g
	}
	res, err := s.rdb.SMIsMember(ctx, UserGroupsKey(app, uid), members...).Result()
	if err != nil {
		return nil, fmt.Errorf("store: groups of %d: %w", uid, err)
	}
	return res, nil
}
