package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/redis/go-redis/v9"
)

// jsonField is a read-modify-write of one JSON document kept in a hash
// field (a device, a friend, a friend request).
type jsonField[T any] struct {
	key, field, what string
	// missing is returned when the field is absent; nil: start from the
	// zero value of T.
	missing error
	// also queues more writes of the same hash tag into the transaction.
	also func(redis.Pipeliner)
}

// update applies fn to the document under WATCH and writes it back,
// retrying when another writer changed the key in between; fn returns
// false to write nothing.
func (u jsonField[T]) update(ctx context.Context, s *Store, fn func(*T) bool) error {
	txf := func(tx *redis.Tx) error {
		var cur T
		raw, err := tx.HGet(ctx, u.key, u.field).Bytes()
		switch {
		case errors.Is(err, redis.Nil) && u.missing != nil:
			return u.missing
		case err != nil && !errors.Is(err, redis.Nil):
			return err
		case len(raw) > 0:
			if err := json.Unmarshal(raw, &cur); err != nil {
				return fmt.Errorf("decode %s %s: %w", u.what, u.field, err)
			}
		}
		if !fn(&cur) {
			return nil
		}
		b, err := json.Marshal(&cur)
		if err != nil {
			return err
		}
		_, err = tx.TxPipelined(ctx, func(p redis.Pipeliner) error {
			p.HSet(ctx, u.key, u.field, b)
			if u.also != nil {
				u.also(p)
			}
			return nil
		})
		return err
	}
	return s.watchRetry(ctx, txf, "update "+u.what, u.key)
}

// watchRetry runs txf under WATCH of keys, again when another writer
// changed them, up to ten times.
func (s *Store) watchRetry(ctx context.Context, txf func(*redis.Tx) error, what string, keys ...string) error {
	for i := 0; i < 10; i++ {
		err := s.rdb.Watch(ctx, txf, keys...)
		switch {
		case errors.Is(err, redis.TxFailedErr):
			continue
		case errors.Is(err, ErrNotFound), errors.Is(err, errSkip):
			return err
		case err != nil:
			return fmt.Errorf("store: %s: %w", what, err)
		}
		return nil
	}
	return fmt.Errorf("store: %s: too much contention", what)
}

// errSkip is a missing value that is not an error for the caller.
var errSkip = errors.New("store: nothing to update")
