package store

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// SetPushToken binds a push token and its notifier (the name of the push
// certificate it is sent with; "" for the app's default for the device's
// platform) to a device of a user and indexes it app-wide, so that a
// campaign addressed to the token, or a push worker told the token is
// dead, finds the device. An empty token unbinds.
func (s *Store) SetPushToken(ctx context.Context, app string, uid int64, sn int32, token, notifier string, now time.Time) error {
	var old string
	err := s.UpdateDevice(ctx, app, uid, sn, func(d *Device) {
		old = d.PushToken
		if token != d.PushToken {
			d.TokenAt = now.UnixMilli()
		}
		d.PushToken, d.Notifier = token, notifier
	})
	if err != nil {
		return err
	}
	return s.reindexToken(ctx, app, uid, sn, old, token)
}

// reindexToken moves the app-wide token index entry of a device from old to
// cur. The index has the app's hash tag, the device the user's: a pipeline.
func (s *Store) reindexToken(ctx context.Context, app string, uid int64, sn int32, old, cur string) error {
	if old == cur {
		return nil
	}
	pipe := s.rdb.Pipeline()
	if old != "" {
		pipe.HDel(ctx, PushTokensKey(app), old)
	}
	if cur != "" {
		pipe.HSet(ctx, PushTokensKey(app), cur, tokenOwner(uid, sn))
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return fmt.Errorf("store: index push token of %d/%d: %w", uid, sn, err)
	}
	return nil
}

func tokenOwner(uid int64, sn int32) string {
	return strconv.FormatInt(uid, 10) + ":" + strconv.FormatInt(int64(sn), 10)
}

// PushTokenOwner returns the user and device a push token is bound to.
func (s *Store) PushTokenOwner(ctx context.Context, app, token string) (uid int64, sn int32, err error) {
	v, err := s.rdb.HGet(ctx, PushTokensKey(app), token).Result()
	if errors.Is(err, redis.Nil) {
		return 0, 0, ErrNotFound
	}
	if err != nil {
		return 0, 0, fmt.Errorf("store: push token owner: %w", err)
	}
	u, d, ok := strings.Cut(v, ":")
	uid, err1 := strconv.ParseInt(u, 10, 64)
	dev, err2 := strconv.ParseInt(d, 10, 32)
	if !ok || err1 != nil || err2 != nil {
		return 0, 0, fmt.Errorf("store: push token owner: bad entry %q", v)
	}
	return uid, int32(dev), nil
}

// ClearPushToken removes a token APNs or FCM said is dead, but only if the
// device still holds that token and registered it no later than
// invalidAt (unix ms; 0: whenever). A device that registered the same token
// again after Apple's 410 timestamp keeps it. It reports whether it removed it.
func (s *Store) ClearPushToken(ctx context.Context, app string, uid int64, sn int32, token string, invalidAt int64) (bool, error) {
	removed := false
	err := s.UpdateDevice(ctx, app, uid, sn, func(d *Device) {
		removed = false
		if d.PushToken == token && (invalidAt == 0 || d.TokenAt <= invalidAt) {
			d.PushToken, d.Notifier, d.TokenAt = "", "", 0
			removed = true
		}
	})
	if err != nil || !removed {
		return false, err
	}
	return true, s.reindexToken(ctx, app, uid, sn, token, "")
}
