package bus

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// EnsureGroup creates a consumer group reading stream from its start,
// creating the stream if needed. An existing group is fine.
func EnsureGroup(ctx context.Context, rdb redis.UniversalClient, stream, group string) error {
	err := rdb.XGroupCreateMkStream(ctx, stream, group, "0").Err()
	if err != nil && !strings.HasPrefix(err.Error(), "BUSYGROUP") {
		return fmt.Errorf("bus: create group %s on %s: %w", group, stream, err)
	}
	return nil
}

// IsNoGroup reports whether err says the stream or its group is gone, as
// after a Redis restart without persistence or a manual DEL.
func IsNoGroup(err error) bool {
	return err != nil && strings.HasPrefix(err.Error(), "NOGROUP")
}

// ReadGroup reads new entries for consumer, recreating the group when Redis
// lost it. It returns no entries and no error when block passes idle.
func ReadGroup(ctx context.Context, rdb redis.UniversalClient, stream, group, consumer string, count int64, block time.Duration) ([]redis.XMessage, error) {
	for attempt := 0; ; attempt++ {
		res, err := rdb.XReadGroup(ctx, &redis.XReadGroupArgs{
			Group: group, Consumer: consumer, Streams: []string{stream, ">"},
			Count: count, Block: block,
		}).Result()
		switch {
		case errors.Is(err, redis.Nil):
			return nil, nil
		case IsNoGroup(err) && attempt == 0:
			if err := EnsureGroup(ctx, rdb, stream, group); err != nil {
				return nil, err
			}
			continue
		case err != nil:
			return nil, fmt.Errorf("bus: read %s: %w", stream, err)
		}
		if len(res) == 0 {
			return nil, nil
		}
		return res[0].Messages, nil
	}
}

// ClaimPending moves to consumer every entry of the group that has been
// pending for at least minIdle, oldest first, and returns them. With minIdle
// 0 it takes over everything pending, as a router does when it wins the
// lease of a partition whose previous owner died.
func ClaimPending(ctx context.Context, rdb redis.UniversalClient, stream, group, consumer string, minIdle time.Duration, count int64) ([]redis.XMessage, error) {
	var out []redis.XMessage
	start := "0-0"
	for {
		msgs, next, err := rdb.XAutoClaim(ctx, &redis.XAutoClaimArgs{
			Stream: stream, Group: group, Consumer: consumer,
			MinIdle: minIdle, Start: start, Count: count,
		}).Result()
		if IsNoGroup(err) {
			return out, EnsureGroup(ctx, rdb, stream, group)
		}
		if err != nil {
			return out, fmt.Errorf("bus: claim pending of %s: %w", stream, err)
		}
		for _, m := range msgs {
			// Entries deleted while pending come back without values; they
			// have nothing left to process.
			if m.Values != nil {
				out = append(out, m)
			}
		}
		if next == "0-0" || next == "" || int64(len(out)) >= count {
			return out, nil
		}
		start = next
	}
}

// QueueAck adds to pipe the XACK and XDEL of finished entries: the outcome
// is final, so the entry is no longer needed in the stream either.
func QueueAck(ctx context.Context, pipe redis.Pipeliner, stream, group string, ids ...string) {
	if len(ids) == 0 {
		return
	}
	pipe.XAck(ctx, stream, group, ids...)
	pipe.XDel(ctx, stream, ids...)
}
