package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"

	"github.com/redis/go-redis/v9"
)

// Keys of stored files (docs/data-model.md "Files"). An object's record is
// under its own tag; the per-app queues of the cleaner under {<app>}; the
// per-user and per-group indexes under the user's and the group's tags, so
// that /user/delete and /group/destroy find everything to remove.

// FileKey is the JSON FileRecord of one object.
func FileKey(app, key string) string { return prefix + "f:{" + app + ":" + key + "}" }

// FileThumbsKey is the set of thumbnail object keys made of one object.
func FileThumbsKey(app, key string) string { return prefix + "f:{" + app + ":" + key + "}:th" }

// FilesPendingKey is the sorted set of object keys whose upload URL was
// issued and that nothing references yet, scored by issue time (unix ms):
// the orphans the cleaner removes after files.orphan_ttl.
func FilesPendingKey(app string) string { return prefix + "a:" + appTag(app) + ":fpend" }

// FilesDoomedKey is the sorted set of object keys scheduled for removal
// (their user was deleted, their group destroyed), scored by when.
func FilesDoomedKey(app string) string { return prefix + "a:" + appTag(app) + ":fdel" }

// UserFilesKey is the set of object keys a user uploaded.
func UserFilesKey(app string, uid int64) string { return prefix + "u:" + userTag(app, uid) + ":files" }

// GroupObjectsKey is the set of object keys of a group (its avatars, its
// chat files, its shared files).
func GroupObjectsKey(app string, gid int64) string {
	return prefix + "c:" + convTag(app, GroupConv(gid)) + ":fobj"
}

// GroupFilesKey is the hash file id -> GroupFile JSON of a group's shared
// files; GroupFileIDsKey orders the ids for paging; GroupFileSeqKey draws
// them.
func GroupFilesKey(app string, gid int64) string {
	return prefix + "c:" + convTag(app, GroupConv(gid)) + ":gf"
}

// GroupFileIDsKey is the sorted set of a group's shared file ids (score =
// id, small integers, exact in a double).
func GroupFileIDsKey(app string, gid int64) string {
	return prefix + "c:" + convTag(app, GroupConv(gid)) + ":gfl"
}

// GroupFileSeqKey is the counter of a group's shared file ids.
func GroupFileSeqKey(app string, gid int64) string {
	return prefix + "c:" + convTag(app, GroupConv(gid)) + ":gfq"
}

// FileRecord is what chatgate knows of one uploaded object.
type FileRecord struct {
	// Kind: "user_avatar", "group_avatar", "chat" (includes group shared
	// files and forwarded copies).
	Kind string `json:"kind"`
	// Owner uploaded it (0: an admin token acting as the app).
	Owner int64 `json:"owner"`
	// Conv is the conversation a chat file belongs to ("u:<a>:<b>" or
	// "g:<gid>"); empty for avatars.
	Conv string `json:"conv,omitempty"`
	// Group is the group of a group avatar or a group chat file.
	Group int64 `json:"group,omitempty"`
	// FileType is Lanying's file_type of a chat file (100-104, 200-203).
	FileType int32 `json:"file_type,omitempty"`
	Max      int64 `json:"max"`
	Created  int64 `json:"created"`
}

// PutFileRecord records an object whose upload URL is being issued. With
// pending, the object is an orphan candidate until MarkFilesUsed.
func (s *Store) PutFileRecord(ctx context.Context, app, key string, rec FileRecord, pending bool) error {
	b, err := json.Marshal(rec)
	if err != nil {
		return err
	}
	// Independent keys of several slots: a pipeline, not a transaction.
	// The record is written first; an index entry without a record is
	// skipped by its readers.
	_, err = s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		p.Set(ctx, FileKey(app, key), b, 0)
		if pending {
			p.ZAdd(ctx, FilesPendingKey(app), redis.Z{Score: float64(rec.Created), Member: key})
		}
		if rec.Owner > 0 {
			p.SAdd(ctx, UserFilesKey(app, rec.Owner), key)
		}
		if rec.Group > 0 {
			p.SAdd(ctx, GroupObjectsKey(app, rec.Group), key)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("store: file %s: %w", key, err)
	}
	return nil
}

// GetFileRecord returns an object's record or ErrNotFound.
func (s *Store) GetFileRecord(ctx context.Context, app, key string) (*FileRecord, error) {
	b, err := s.rdb.Get(ctx, FileKey(app, key)).Bytes()
	if errors.Is(err, redis.Nil) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("store: file %s: %w", key, err)
	}
	var rec FileRecord
	if err := json.Unmarshal(b, &rec); err != nil {
		return nil, fmt.Errorf("store: file %s: %w", key, err)
	}
	return &rec, nil
}

// MarkFilesUsed takes objects off the orphan queue: a message, an avatar
// or a group file references them now.
func (s *Store) MarkFilesUsed(ctx context.Context, app string, keys ...string) error {
	if len(keys) == 0 {
		return nil
	}
	m := make([]any, len(keys))
	for i, k := range keys {
		m[i] = k
	}
	if err := s.rdb.ZRem(ctx, FilesPendingKey(app), m...).Err(); err != nil {
		return fmt.Errorf("store: mark files used: %w", err)
	}
	return nil
}

// AddFileThumb records a thumbnail made of key.
func (s *Store) AddFileThumb(ctx context.Context, app, key, thumb string) error {
	if err := s.rdb.SAdd(ctx, FileThumbsKey(app, key), thumb).Err(); err != nil {
		return fmt.Errorf("store: thumb of %s: %w", key, err)
	}
	return nil
}

// FileThumbs lists the thumbnails made of key.
func (s *Store) FileThumbs(ctx context.Context, app, key string) ([]string, error) {
	ts, err := s.rdb.SMembers(ctx, FileThumbsKey(app, key)).Result()
	if err != nil {
		return nil, fmt.Errorf("store: thumbs of %s: %w", key, err)
	}
	return ts, nil
}

// DueFiles returns up to limit keys of queue (FilesPendingKey or
// FilesDoomedKey) scored at or before maxScore.
func (s *Store) DueFiles(ctx context.Context, queue string, maxScore int64, limit int) ([]string, error) {
	ks, err := s.rdb.ZRangeArgs(ctx, redis.ZRangeArgs{
		Key: queue, Start: "-inf", Stop: strconv.FormatInt(maxScore, 10), ByScore: true, Count: int64(limit),
	}).Result()
	if err != nil {
		return nil, fmt.Errorf("store: due files: %w", err)
	}
	return ks, nil
}

// ScheduleFileRemoval queues objects for the cleaner to remove.
func (s *Store) ScheduleFileRemoval(ctx context.Context, app string, keys []string, nowMS int64) error {
	if len(keys) == 0 {
		return nil
	}
	zs := make([]redis.Z, len(keys))
	for i, k := range keys {
		zs[i] = redis.Z{Score: float64(nowMS), Member: k}
	}
	if err := s.rdb.ZAdd(ctx, FilesDoomedKey(app), zs...).Err(); err != nil {
		return fmt.Errorf("store: schedule file removal: %w", err)
	}
	return nil
}

// UserFileKeys lists the objects a user uploaded.
func (s *Store) UserFileKeys(ctx context.Context, app string, uid int64) ([]string, error) {
	ks, err := s.rdb.SMembers(ctx, UserFilesKey(app, uid)).Result()
	if err != nil {
		return nil, fmt.Errorf("store: files of user %d: %w", uid, err)
	}
	return ks, nil
}

// GroupObjectKeys lists the objects of a group.
func (s *Store) GroupObjectKeys(ctx context.Context, app string, gid int64) ([]string, error) {
	ks, err := s.rdb.SMembers(ctx, GroupObjectsKey(app, gid)).Result()
	if err != nil {
		return nil, fmt.Errorf("store: files of group %d: %w", gid, err)
	}
	return ks, nil
}

// ForgetFile removes every trace of an object once it is deleted from
// storage: its record, thumbnails list, queue entries and index entries.
func (s *Store) ForgetFile(ctx context.Context, app, key string, rec *FileRecord) error {
	_, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		p.Del(ctx, FileKey(app, key), FileThumbsKey(app, key))
		p.ZRem(ctx, FilesPendingKey(app), key)
		p.ZRem(ctx, FilesDoomedKey(app), key)
		if rec != nil && rec.Owner > 0 {
			p.SRem(ctx, UserFilesKey(app, rec.Owner), key)
		}
		if rec != nil && rec.Group > 0 {
			p.SRem(ctx, GroupObjectsKey(app, rec.Group), key)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("store: forget file %s: %w", key, err)
	}
	return nil
}

// GroupFile is one shared file of a group (Lanying's group file object).
type GroupFile struct {
	FileID    int64  `json:"file_id"`
	GroupID   int64  `json:"group_id"`
	Name      string `json:"name"`
	Size      int64  `json:"size"`
	Type      string `json:"type"`
	URL       string `json:"url"`
	Uploader  int64  `json:"uploader"`
	CreatedAt int64  `json:"created_at"`
	UpdatedAt int64  `json:"updated_at"`
	// Object is the stored object's key when the URL is chatgate's.
	Object string `json:"object,omitempty"`
}

// AddGroupFile gives f the group's next file id and stores it.
func (s *Store) AddGroupFile(ctx context.Context, app string, f *GroupFile) error {
	id, err := s.rdb.Incr(ctx, GroupFileSeqKey(app, f.GroupID)).Result()
	if err != nil {
		return fmt.Errorf("store: group file id: %w", err)
	}
	f.FileID = id
	return s.putGroupFile(ctx, app, f)
}

// PutGroupFile rewrites a group file (rename).
func (s *Store) PutGroupFile(ctx context.Context, app string, f *GroupFile) error {
	return s.putGroupFile(ctx, app, f)
}

func (s *Store) putGroupFile(ctx context.Context, app string, f *GroupFile) error {
	b, err := json.Marshal(f)
	if err != nil {
		return err
	}
	_, err = s.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.HSet(ctx, GroupFilesKey(app, f.GroupID), strconv.FormatInt(f.FileID, 10), b)
		p.ZAdd(ctx, GroupFileIDsKey(app, f.GroupID), redis.Z{Score: float64(f.FileID), Member: f.FileID})
		return nil
	})
	if err != nil {
		return fmt.Errorf("store: group file %d: %w", f.FileID, err)
	}
	return nil
}

// GetGroupFile returns one shared file or ErrNotFound.
func (s *Store) GetGroupFile(ctx context.Context, app string, gid, id int64) (*GroupFile, error) {
	b, err := s.rdb.HGet(ctx, GroupFilesKey(app, gid), strconv.FormatInt(id, 10)).Bytes()
	if errors.Is(err, redis.Nil) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("store: group file %d: %w", id, err)
	}
	var f GroupFile
	if err := json.Unmarshal(b, &f); err != nil {
		return nil, fmt.Errorf("store: group file %d: %w", id, err)
	}
	return &f, nil
}

// GroupFiles pages a group's shared files, newest first, and counts them.
func (s *Store) GroupFiles(ctx context.Context, app string, gid int64, offset, limit int) ([]*GroupFile, int64, error) {
	var idsCmd *redis.StringSliceCmd
	var totalCmd *redis.IntCmd
	_, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		idsCmd = p.ZRevRange(ctx, GroupFileIDsKey(app, gid), int64(offset), int64(offset+limit-1))
		totalCmd = p.ZCard(ctx, GroupFileIDsKey(app, gid))
		return nil
	})
	if err != nil {
		return nil, 0, fmt.Errorf("store: group files of %d: %w", gid, err)
	}
	ids, total := idsCmd.Val(), totalCmd.Val()
	if len(ids) == 0 {
		return nil, total, nil
	}
	raws, err := s.rdb.HMGet(ctx, GroupFilesKey(app, gid), ids...).Result()
	if err != nil {
		return nil, 0, fmt.Errorf("store: group files of %d: %w", gid, err)
	}
	out := make([]*GroupFile, 0, len(raws))
	for _, r := range raws {
		str, ok := r.(string)
		if !ok {
			continue
		}
		var f GroupFile
		if json.Unmarshal([]byte(str), &f) == nil {
			out = append(out, &f)
		}
	}
	return out, total, nil
}

// DeleteGroupFile removes one shared file's entry.
func (s *Store) DeleteGroupFile(ctx context.Context, app string, gid, id int64) error {
	_, err := s.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.HDel(ctx, GroupFilesKey(app, gid), strconv.FormatInt(id, 10))
		p.ZRem(ctx, GroupFileIDsKey(app, gid), id)
		return nil
	})
	if err != nil {
		return fmt.Errorf("store: delete group file %d: %w", id, err)
	}
	return nil
}

// DeleteGroupFileList removes every shared file entry of a group
// (destroy), keeping the id counter so ids are never reused.
func (s *Store) DeleteGroupFileList(ctx context.Context, app string, gid int64) error {
	if err := s.rdb.Del(ctx, GroupFilesKey(app, gid), GroupFileIDsKey(app, gid)).Err(); err != nil {
		return fmt.Errorf("store: group files of %d: %w", gid, err)
	}
	return nil
}
