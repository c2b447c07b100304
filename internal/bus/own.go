package bus

import (
	"context"
	"errors"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// OwnStream configures ReadOwnStream.
type OwnStream struct {
	// Stream is read by this process alone (a delivery stream, the REST
	// API's answer stream).
	Stream string
	// Block bounds one XREAD, and so how long the reader takes to notice
	// that its context ended (go-redis does not interrupt a blocked read).
	Block time.Duration
	// Count is the most entries read at once.
	Count int64
	// TrimEvery spaces the XTRIMs of entries already handled.
	TrimEvery time.Duration
	Log       *slog.Logger
	// Reading, if set, is called with true once the stream was reset and
	// is being read, and with false when the reader stops: readiness.
	Reading func(bool)
}

// ReadOwnStream reads a stream that only this process consumes until ctx
// ends, calling handle for each entry in order. It starts from an empty
// stream: entries addressed to a previous life of the same node name are
// for connections or requests that no longer exist. Handled entries are
// trimmed so that the stream stays short; Redis errors are logged and
// retried with backoff, never fatal.
func ReadOwnStream(ctx context.Context, rdb redis.UniversalClient, o OwnStream, handle func(redis.XMessage)) {
	var bo time.Duration
	wait := func() bool {
		bo = min(max(2*bo, 50*time.Millisecond), 2*time.Second)
		t := time.NewTimer(bo)
		defer t.Stop()
		select {
		case <-ctx.Done():
			return false
		case <-t.C:
			return true
		}
	}
	for {
		err := rdb.Del(ctx, o.Stream).Err()
		if err == nil {
			break
		}
		if ctx.Err() != nil {
			return
		}
		o.Log.Warn("reset own stream", "stream", o.Stream, "err", err)
		if !wait() {
			return
		}
	}
	if o.Reading != nil {
		o.Reading(true)
		defer o.Reading(false)
	}
	last, trimmed := "0-0", "0-0"
	lastTrim := time.Now()
	for ctx.Err() == nil {
		// The read itself is not cancelled (that would make go-redis drop
		// its connection); it ends within Block and the loop checks ctx.
		res, err := rdb.XRead(context.WithoutCancel(ctx), &redis.XReadArgs{
			Streams: []string{o.Stream, last}, Count: o.Count, Block: o.Block,
		}).Result()
		switch {
		case errors.Is(err, redis.Nil):
		case err != nil:
			if ctx.Err() != nil {
				return
			}
			o.Log.Warn("read own stream", "stream", o.Stream, "err", err)
			if !wait() {
				return
			}
			continue
		default:
			bo = 0
			for _, s := range res {
				for _, m := range s.Messages {
					handle(m)
					last = m.ID
				}
			}
		}
		if last != trimmed && time.Since(lastTrim) >= o.TrimEvery {
			// Everything up to last is handled; trimming below the next
			// id keeps nothing that was read.
			if err := rdb.XTrimMinID(ctx, o.Stream, NextStreamID(last)).Err(); err != nil && ctx.Err() == nil {
				o.Log.Warn("trim own stream", "stream", o.Stream, "err", err)
			} else {
				trimmed = last
			}
			lastTrim = time.Now()
		}
	}
}

// NextStreamID is the smallest stream id above id.
func NextStreamID(id string) string {
	ms, seq, ok := strings.Cut(id, "-")
	if !ok {
		return id
	}
	s, err := strconv.ParseUint(seq, 10, 64)
	if err != nil {
		return id
	}
	if s == ^uint64(0) {
		m, err := strconv.ParseUint(ms, 10, 64)
		if err != nil {
			return id
		}
		return strconv.FormatUint(m+1, 10) + "-0"
	}
	return ms + "-" + strconv.FormatUint(s+1, 10)
}
