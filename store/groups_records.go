package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"

	"github.com/redis/go-redis/v9"
)

// Records of a group kept as JSON in hash fields: membership applications
// (group side), invitations (invitee side) and announcements.

// GroupApplication is a user's request to join a group.
type GroupApplication struct {
	Applicant int64  `json:"applicant"`
	Reason    string `json:"reason,omitempty"`
	Status    int    `json:"status"` // ApplicationPending, ApplicationAccepted, ApplicationDeclined
	Created   int64  `json:"created"`
	Expires   int64  `json:"expires"`
}

// GroupInvitation is an invitation of a user (who has group_confirm on)
// into a group.
type GroupInvitation struct {
	Group   int64  `json:"group"`
	Inviter int64  `json:"inviter"`
	Reason  string `json:"reason,omitempty"`
	Status  int    `json:"status"` // ApplicationPending, ApplicationAccepted, ApplicationDeclined
	Updated int64  `json:"updated"`
	Expires int64  `json:"expires"`
}

// Announcement is a group announcement.
type Announcement struct {
	ID      int64  `json:"id"`
	Group   int64  `json:"group"`
	Author  int64  `json:"author"`
	Title   string `json:"title"`
	Content string `json:"content"`
	Created int64  `json:"created"`
}

// PutRecord writes v as JSON into field id of the hash key (a
// GroupApplicationsKey, UserGroupInvitesKey or GroupAnnouncementsKey).
func (s *Store) PutRecord(ctx context.Context, key string, id int64, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("store: encode %s: %w", key, err)
	}
	if err := s.rdb.HSet(ctx, key, strconv.FormatInt(id, 10), b).Err(); err != nil {
		return fmt.Errorf("store: write %s: %w", key, err)
	}
	return nil
}

// GetRecord reads field id of the hash key into v; ErrNotFound when absent.
func (s *Store) GetRecord(ctx context.Context, key string, id int64, v any) error {
	b, err := s.rdb.HGet(ctx, key, strconv.FormatInt(id, 10)).Bytes()
	if errors.Is(err, redis.Nil) {
		return ErrNotFound
	}
	if err != nil {
		return fmt.Errorf("store: read %s: %w", key, err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("store: decode %s %d: %w", key, id, err)
	}
	return nil
}

// DeleteRecord removes field id of the hash key; false when it was absent.
func (s *Store) DeleteRecord(ctx context.Context, key string, id int64) (bool, error) {
	n, err := s.rdb.HDel(ctx, key, strconv.FormatInt(id, 10)).Result()
	if err != nil {
		return false, fmt.Errorf("store: delete %s %d: %w", key, id, err)
	}
	return n > 0, nil
}

// AllRecords decodes every field of the hash key; fields that do not
// decode are skipped (they cannot be answered anyway).
func AllRecords[T any](ctx context.Context, s *Store, key string) (map[int64]T, error) {
	h, err := s.rdb.HGetAll(ctx, key).Result()
	if err != nil {
		return nil, fmt.Errorf("store: read %s: %w", key, err)
	}
	out := make(map[int64]T, len(h))
	for k, v := range h {
		id, err := strconv.ParseInt(k, 10, 64)
		if err != nil {
			continue
		}
		var t T
		if json.Unmarshal([]byte(v), &t) == nil {
			out[id] = t
		}
	}
	return out, nil
}
