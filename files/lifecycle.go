package files

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/chatgate/chatgate/objstore"
	"github.com/chatgate/chatgate/store"
)

// Lifecycle. Objects leave storage in three ways, all through the cleaner
// (Run), so that a REST call never waits on storage deletes:
//
//   - orphans: an upload URL was issued (the object is in the app's pending
//     queue) and nothing referenced it (Referenced: a message attachment,
//     an avatar, a group file) within files.orphan_ttl;
//   - a deleted user's uploads (UserDeleted), except files that belong to a
//     group, which stay with the group;
//   - a destroyed group's avatars, chat files and shared files
//     (GroupDestroyed).
//
// Removing an object removes its thumbnails and its record too.

// cleanBatch is how many objects one cleaner step handles per queue.
const cleanBatch = 100

// UserDeleted schedules the removal of what uid uploaded (its avatars and
// its one-to-one chat files).
func (s *Service) UserDeleted(ctx context.Context, app string, uid int64) error {
	keys, err := s.d.Store.UserFileKeys(ctx, app, uid)
	if err != nil {
		return err
	}
	var doomed []string
	for _, k := range keys {
		rec, err := s.d.Store.GetFileRecord(ctx, app, k)
		if errors.Is(err, store.ErrNotFound) {
			continue
		}
		if err != nil {
			return err
		}
		if rec.Group == 0 {
			doomed = append(doomed, k)
		}
	}
	if err := s.d.Store.ScheduleFileRemoval(ctx, app, doomed, s.now().UnixMilli()); err != nil {
		return err
	}
	if err := s.d.Store.Redis().Del(ctx, store.UserFilesKey(app, uid)).Err(); err != nil {
		return fmt.Errorf("files: files of user %d: %w", uid, err)
	}
	return nil
}

// GroupDestroyed schedules the removal of every object of gid and drops
// its shared file list.
func (s *Service) GroupDestroyed(ctx context.Context, app string, gid int64) error {
	keys, err := s.d.Store.GroupObjectKeys(ctx, app, gid)
	if err != nil {
		return err
	}
	if err := s.d.Store.ScheduleFileRemoval(ctx, app, keys, s.now().UnixMilli()); err != nil {
		return err
	}
	return s.d.Store.DeleteGroupFileList(ctx, app, gid)
}

// tempSweeper is a backend with leftovers of its own to clean (the local
// backend's temporary upload files).
type tempSweeper interface {
	SweepTemp(age time.Duration) (int, error)
}

// Run removes due objects every files.clean_interval until ctx ends.
func (s *Service) Run(ctx context.Context) error {
	t := time.NewTicker(s.cfg.CleanInterval)
	defer t.Stop()
	for {
		if _, err := s.CleanOnce(ctx); err != nil && ctx.Err() == nil {
			s.log.Warn("file cleaner step failed; retrying next interval", "err", err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
}

// CleanOnce removes every object that is due now, for every app, and
// returns how many it removed.
func (s *Service) CleanOnce(ctx context.Context) (int, error) {
	apps, err := s.d.Store.Redis().SMembers(ctx, store.AppsKey()).Result()
	if err != nil {
		return 0, fmt.Errorf("files: apps: %w", err)
	}
	now := s.now()
	total := 0
	for _, app := range apps {
		for _, q := range []struct {
			key, reason string
			max         int64
		}{
			{store.FilesDoomedKey(app), "scheduled", now.UnixMilli()},
			{store.FilesPendingKey(app), "orphan", now.Add(-s.cfg.OrphanTTL).UnixMilli()},
		} {
			for ctx.Err() == nil {
				keys, err := s.d.Store.DueFiles(ctx, q.key, q.max, cleanBatch)
				if err != nil {
					return total, err
				}
				for _, k := range keys {
					if err := s.remove(ctx, app, k); err != nil {
						return total, err
					}
					s.metrics.removed.WithLabelValues(q.reason).Inc()
					total++
				}
				if len(keys) < cleanBatch {
					break
				}
			}
		}
	}
	if sw, ok := s.d.Backend.(tempSweeper); ok {
		if _, err := sw.SweepTemp(2 * s.cfg.TransferTimeout); err != nil {
			return total, err
		}
	}
	return total, ctx.Err()
}

// remove deletes one object, its thumbnails and its record.
func (s *Service) remove(ctx context.Context, app, key string) error {
	rec, err := s.d.Store.GetFileRecord(ctx, app, key)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return err
	}
	if objstore.ValidKey(key) {
		thumbs, err := s.d.Store.FileThumbs(ctx, app, key)
		if err != nil {
			return err
		}
		for _, t := range append(thumbs, key) {
			if err := s.d.Backend.Delete(ctx, objstore.Object{App: app, Key: t}); err != nil {
				return fmt.Errorf("files: remove %s/%s: %w", app, t, err)
			}
		}
	}
	return s.d.Store.ForgetFile(ctx, app, key, rec)
}
