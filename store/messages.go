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

	"github.com/chatgate/chatgate/internal/ids"
)

// Idempotency states of a client message id.
const (
	// IdemNew: the id was unknown and is now reserved for the given server id.
	IdemNew = iota
	// IdemPending: a server id was reserved but the message may not be fully
	// routed (a router died mid-way); route it again under the same id.
	IdemPending
	// IdemDone: the message was routed; answer the sender, deliver nothing.
	IdemDone
)

// QueueReserveIdem adds to pipe a SET NX GET that reserves id for a client
// message id. Pass the returned command to IdemResult after Exec.
func (s *Store) QueueReserveIdem(ctx context.Context, pipe redis.Pipeliner, app string, uid int64, dev int32, cmid string, id int64) *redis.StatusCmd {
	return pipe.SetArgs(ctx, IdemKey(app, uid, dev, cmid), strconv.FormatInt(id, 10),
		redis.SetArgs{Mode: "NX", Get: true, TTL: s.opts.IdemTTL})
}

// IdemResult reads a reservation: the state and the server id to use, which
// is the earlier one when the client message id was seen before.
func IdemResult(cmd *redis.StatusCmd, id int64) (state int, serverID int64, err error) {
	v, err := cmd.Result()
	if errors.Is(err, redis.Nil) {
		return IdemNew, id, nil
	}
	if err != nil {
		return 0, 0, fmt.Errorf("store: reserve idem: %w", err)
	}
	done := strings.HasSuffix(v, ":done")
	prev, perr := strconv.ParseInt(strings.TrimSuffix(v, ":done"), 10, 64)
	if perr != nil {
		return 0, 0, fmt.Errorf("store: idem value %q: %w", v, perr)
	}
	if done {
		return IdemDone, prev, nil
	}
	return IdemPending, prev, nil
}

// QueueIdemDone marks a client message id as fully routed.
func (s *Store) QueueIdemDone(ctx context.Context, pipe redis.Pipeliner, app string, uid int64, dev int32, cmid string, id int64) {
	pipe.SetArgs(ctx, IdemKey(app, uid, dev, cmid), strconv.FormatInt(id, 10)+":done",
		redis.SetArgs{Mode: "XX", KeepTTL: true})
}

// shouldTrim spreads retention trims over writes: one write in 32 to a key
// trims it, so the cost is amortised and no sweeper process is needed.
func shouldTrim(id int64, salt int64) bool { return (id>>12^salt)&31 == 0 }

// QueueStoreMessage adds to pipe the writes that make a message durable in
// its conversation: the body (once) and the history index.
func (s *Store) QueueStoreMessage(ctx context.Context, pipe redis.Pipeliner, app, conv string, id int64, body []byte) {
	ttl := s.opts.Retention
	pipe.Set(ctx, BodyKey(app, conv, id), body, ttl)
	hk := HistoryKey(app, conv)
	pipe.ZAdd(ctx, hk, redis.Z{Member: lexID(id)})
	pipe.PExpire(ctx, hk, ttl)
	if shouldTrim(id, 0) {
		s.queueTrim(ctx, pipe, hk, s.opts.HistoryMax)
	}
}

// QueueInbox adds to pipe the inbox entry that lets every device of uid find
// the message when it syncs.
func (s *Store) QueueInbox(ctx context.Context, pipe redis.Pipeliner, app string, uid int64, conv string, id int64) {
	k := InboxKey(app, uid)
	pipe.ZAdd(ctx, k, redis.Z{Member: lexID(id) + ":" + conv})
	pipe.PExpire(ctx, k, s.opts.Retention)
	if shouldTrim(id, uid) {
		s.queueTrim(ctx, pipe, k, s.opts.InboxMax)
	}
}

func (s *Store) queueTrim(ctx context.Context, pipe redis.Pipeliner, key string, max int64) {
	floor := ids.FloorAt(time.Now().Add(-s.opts.Retention))
	pipe.ZRemRangeByLex(ctx, key, "-", "("+lexID(floor))
	pipe.ZRemRangeByRank(ctx, key, 0, -max-1)
}

// SyncPage is one page of a device's missed messages, oldest first.
type SyncPage struct {
	Bodies  []json.RawMessage
	HasMore bool
	// Next is the id to pass as after for the next page: the last id this
	// page covered, even when that message's body had expired or was recalled.
	Next int64
}

// Sync returns up to limit messages of uid's inbox with ids above after.
func (s *Store) Sync(ctx context.Context, app string, uid int64, after int64, limit int) (*SyncPage, error) {
	if limit <= 0 {
		limit = 100
	}
	entries, err := s.rdb.ZRangeArgs(ctx, redis.ZRangeArgs{
		Key: InboxKey(app, uid), ByLex: true,
		Start: "[" + lexID(after+1), Stop: "+",
		Count: int64(limit + 1),
	}).Result()
	if err != nil {
		return nil, fmt.Errorf("store: sync inbox of %d: %w", uid, err)
	}
	page := &SyncPage{Next: after}
	if len(entries) > limit {
		page.HasMore = true
		entries = entries[:limit]
	}
	if len(entries) == 0 {
		return page, nil
	}
	pipe := s.rdb.Pipeline()
	cmds := make([]*redis.StringCmd, 0, len(entries))
	for _, e := range entries {
		idStr, conv, ok := strings.Cut(e, ":")
		id, err := strconv.ParseInt(idStr, 10, 64)
		if !ok || err != nil {
			continue
		}
		page.Next = id
		cmds = append(cmds, pipe.Get(ctx, BodyKey(app, conv, id)))
	}
	if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
		return nil, fmt.Errorf("store: sync bodies of %d: %w", uid, err)
	}
	for _, c := range cmds {
		if b, err := c.Bytes(); err == nil {
			page.Bodies = append(page.Bodies, b)
		}
	}
	return page, nil
}

// History returns up to limit message bodies of a conversation with ids below
// before (0: the newest), newest first.
func (s *Store) History(ctx context.Context, app, conv string, before int64, limit int) ([]json.RawMessage, error) {
	stop := "+"
	if before > 0 {
		stop = "(" + lexID(before)
	}
	idsLex, err := s.rdb.ZRangeArgs(ctx, redis.ZRangeArgs{
		Key: HistoryKey(app, conv), ByLex: true, Rev: true,
		Start: stop, Stop: "-", Count: int64(limit),
	}).Result()
	if err != nil {
		return nil, fmt.Errorf("store: history of %s: %w", conv, err)
	}
	out := make([]json.RawMessage, 0, len(idsLex))
	if len(idsLex) == 0 {
		return out, nil
	}
	keys := make([]string, len(idsLex))
	for i, l := range idsLex {
		id, _ := strconv.ParseInt(l, 10, 64)
		keys[i] = BodyKey(app, conv, id)
	}
	vals, err := s.rdb.MGet(ctx, keys...).Result()
	if err != nil {
		return nil, fmt.Errorf("store: history bodies of %s: %w", conv, err)
	}
	for _, v := range vals {
		if str, ok := v.(string); ok {
			out = append(out, json.RawMessage(str))
		}
	}
	return out, nil
}

// cursorScript raises a device's cursor, never lowers it: acks may arrive
// out of order across reconnects. Ids are compared as zero-padded strings
// because Lua numbers are doubles and would round 63-bit ids.
var cursorScript = redis.NewScript(`
local function pad(s) return string.rep("0", 19 - #s) .. s end
local cur = redis.call("HGET", KEYS[1], ARGV[1])
if not cur or pad(ARGV[2]) > pad(cur) then
  redis.call("HSET", KEYS[1], ARGV[1], ARGV[2])
  redis.call("PEXPIRE", KEYS[1], ARGV[3])
end
return 1`)

// CursorUpdate raises one device's delivery cursor.
type CursorUpdate struct {
	App    string
	User   int64
	Device int32
	ID     int64
}

// SetCursors applies many cursor updates in one pipeline.
func (s *Store) SetCursors(ctx context.Context, ups []CursorUpdate) error {
	if len(ups) == 0 {
		return nil
	}
	pipe := s.rdb.Pipeline()
	for _, u := range ups {
		cursorScript.Run(ctx, pipe, []string{CursorKey(u.App, u.User)},
			strconv.FormatInt(int64(u.Device), 10), strconv.FormatInt(u.ID, 10), s.opts.Retention.Milliseconds())
	}
	_, err := pipe.Exec(ctx)
	if isNoScript(err) {
		if lerr := cursorScript.Load(ctx, s.rdb).Err(); lerr != nil {
			return fmt.Errorf("store: load cursor script: %w", lerr)
		}
		return s.SetCursors(ctx, ups)
	}
	if err != nil {
		return fmt.Errorf("store: set %d cursors: %w", len(ups), err)
	}
	return nil
}

// Cursor returns a device's delivery cursor (0 if none).
func (s *Store) Cursor(ctx context.Context, app string, uid int64, dev int32) (int64, error) {
	v, err := s.rdb.HGet(ctx, CursorKey(app, uid), strconv.FormatInt(int64(dev), 10)).Int64()
	if errors.Is(err, redis.Nil) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("store: cursor of %d/%d: %w", uid, dev, err)
	}
	return v, nil
}
