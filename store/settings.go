package store

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"github.com/redis/go-redis/v9"
)

// Settings are a user's settings as the Lanying API names them. The REST API
// writes them; the router (auth mode, blacklist) and the push workers (every
// push field) read them. They live as separate fields of the user's info
// hash so that each setter is one HSET and never overwrites another field.
type Settings struct {
	// AuthMode says how others may add this user as a friend: 0 anyone,
	// 1 with consent, 2 by answering AuthQuestion, 3 nobody.
	AuthMode     int    `json:"auth_mode"`
	AuthQuestion string `json:"auth_question"`
	AuthAnswer   string `json:"auth_answer"`
	AutoDownload bool   `json:"auto_download"`
	GroupConfirm bool   `json:"group_confirm"`
	// NoPush turns every push off; NoPushDetail replaces the content with a
	// generic text.
	NoPush       bool `json:"no_push"`
	NoPushDetail bool `json:"no_push_detail"`
	// NoPushStartHour..NoPushEndHour (0-23, in TimeZone) is the daily
	// do-not-disturb window; it wraps past midnight when start > end and is
	// off when start == end.
	NoPushStartHour int    `json:"no_push_start_hour"`
	NoPushEndHour   int    `json:"no_push_end_hour"`
	NoSounds        bool   `json:"no_sounds"`
	Vibratory       bool   `json:"vibratory"`
	PushNickName    string `json:"push_nick_name"`
	// SilenceStartTime..SilenceEndTime is the window in which pushes are
	// delivered without sound (0-23, same rules as the no-push window).
	SilenceStartTime int `json:"silence_start_time"`
	SilenceEndTime   int `json:"silence_end_time"`
	// TimeZone is an IANA zone name for the hour windows; empty means the
	// app's default zone. A chatgate extension: Lanying has none.
	TimeZone string `json:"time_zone"`
}

// DefaultSettings are what a user has before setting anything.
func DefaultSettings() Settings {
	return Settings{AutoDownload: true, Vibratory: true}
}

// settingField binds a hash field name to a pointer into a Settings.
type settingField struct {
	name string
	ptr  any // *int, *bool or *string
}

func (st *Settings) fields() []settingField {
	return []settingField{
		{"auth_mode", &st.AuthMode},
		{"auth_question", &st.AuthQuestion},
		{"auth_answer", &st.AuthAnswer},
		{"auto_download", &st.AutoDownload},
		{"group_confirm", &st.GroupConfirm},
		{"no_push", &st.NoPush},
		{"no_push_detail", &st.NoPushDetail},
		{"no_push_start_hour", &st.NoPushStartHour},
		{"no_push_end_hour", &st.NoPushEndHour},
		{"no_sounds", &st.NoSounds},
		{"vibratory", &st.Vibratory},
		{"push_nick_name", &st.PushNickName},
		{"silence_start_time", &st.SilenceStartTime},
		{"silence_end_time", &st.SilenceEndTime},
		{"time_zone", &st.TimeZone},
	}
}

// settingNames lists the hash fields of Settings, in fields() order.
func settingNames() []string {
	var st Settings
	fs := st.fields()
	out := make([]string, len(fs))
	for i, f := range fs {
		out[i] = f.name
	}
	return out
}

// IsSettingField reports whether name is a field of Settings.
func IsSettingField(name string) bool {
	for _, n := range settingNames() {
		if n == name {
			return true
		}
	}
	return false
}

// EncodeSetting renders a setting value as stored: ints in decimal, bools
// as "1"/"0", strings as they are.
func EncodeSetting(v any) (string, error) {
	switch x := v.(type) {
	case int:
		return strconv.Itoa(x), nil
	case bool:
		if x {
			return "1", nil
		}
		return "0", nil
	case string:
		return x, nil
	default:
		return "", fmt.Errorf("store: setting value of type %T", v)
	}
}

// decode fills st from HMGET values in fields() order; nil keeps the default.
func (st *Settings) decode(vals []any) {
	for i, f := range st.fields() {
		s, ok := vals[i].(string)
		if !ok {
			continue
		}
		switch p := f.ptr.(type) {
		case *int:
			if n, err := strconv.Atoi(s); err == nil {
				*p = n
			}
		case *bool:
			*p = s == "1"
		case *string:
			*p = s
		}
	}
}

// SettingsCmd is a queued settings read.
type SettingsCmd struct {
	settings *redis.SliceCmd
	badge    *redis.StringCmd
}

// QueueSettings queues the read of a user's settings and badge on pipe, so a
// push worker reads many users in one round trip.
func (s *Store) QueueSettings(ctx context.Context, pipe redis.Pipeliner, app string, uid int64) *SettingsCmd {
	key := UserKey(app, uid)
	return &SettingsCmd{
		settings: pipe.HMGet(ctx, key, settingNames()...),
		badge:    pipe.HGet(ctx, key, "badge"),
	}
}

// Result returns the settings and the current badge count.
func (c *SettingsCmd) Result() (Settings, int64, error) {
	st := DefaultSettings()
	vals, err := c.settings.Result()
	if err != nil {
		return st, 0, fmt.Errorf("store: settings: %w", err)
	}
	st.decode(vals)
	badge, err := c.badge.Int64()
	if err != nil && !errors.Is(err, redis.Nil) {
		return st, 0, fmt.Errorf("store: badge: %w", err)
	}
	return st, badge, nil
}

// Settings returns a user's settings (defaults for what was never set).
func (s *Store) Settings(ctx context.Context, app string, uid int64) (Settings, error) {
	pipe := s.rdb.Pipeline()
	cmd := s.QueueSettings(ctx, pipe, app, uid)
	if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
		return DefaultSettings(), fmt.Errorf("store: settings of %d: %w", uid, err)
	}
	st, _, err := cmd.Result()
	return st, err
}

// SetSettings writes some settings of a user at once. Keys are Settings
// field names; values int, bool or string, already validated by the caller.
func (s *Store) SetSettings(ctx context.Context, app string, uid int64, kv map[string]any) error {
	if len(kv) == 0 {
		return nil
	}
	args := make([]any, 0, 2*len(kv))
	for k, v := range kv {
		if !IsSettingField(k) {
			return fmt.Errorf("store: unknown setting %q", k)
		}
		enc, err := EncodeSetting(v)
		if err != nil {
			return err
		}
		args = append(args, k, enc)
	}
	if err := s.rdb.HSet(ctx, UserKey(app, uid), args...).Err(); err != nil {
		return fmt.Errorf("store: set settings of %d: %w", uid, err)
	}
	return nil
}

// IncrBadge adds n to a user's badge counter and returns the new count.
func (s *Store) IncrBadge(ctx context.Context, app string, uid int64, n int64) (int64, error) {
	v, err := s.rdb.HIncrBy(ctx, UserKey(app, uid), "badge", n).Result()
	if err != nil {
		return 0, fmt.Errorf("store: badge of %d: %w", uid, err)
	}
	return v, nil
}

// SetBadge sets a user's badge counter (/user/push/badge).
func (s *Store) SetBadge(ctx context.Context, app string, uid int64, n int64) error {
	if err := s.rdb.HSet(ctx, UserKey(app, uid), "badge", n).Err(); err != nil {
		return fmt.Errorf("store: set badge of %d: %w", uid, err)
	}
	return nil
}

// Alias returns a user's push alias ("" when none).
func (s *Store) Alias(ctx context.Context, app string, uid int64) (string, error) {
	v, err := s.rdb.HGet(ctx, UserKey(app, uid), "alias").Result()
	if err != nil && !errors.Is(err, redis.Nil) {
		return "", fmt.Errorf("store: alias of %d: %w", uid, err)
	}
	return v, nil
}

// SetAlias binds a push alias to a user, replacing the previous one, and
// keeps the app's alias index. An alias may name several users (as a JPush
// alias names several devices); "" removes the alias.
func (s *Store) SetAlias(ctx context.Context, app string, uid int64, alias string) error {
	old, err := s.Alias(ctx, app, uid)
	if err != nil {
		return err
	}
	// The user's field and the app's index have different hash tags: a
	// pipeline, not a transaction. The index is only a hint; campaigns
	// check the user's field before sending (AliasUsers callers do).
	pipe := s.rdb.Pipeline()
	if old != "" && old != alias {
		pipe.SRem(ctx, AliasKey(app, old), uid)
	}
	if alias == "" {
		pipe.HDel(ctx, UserKey(app, uid), "alias")
	} else {
		pipe.HSet(ctx, UserKey(app, uid), "alias", alias)
		pipe.SAdd(ctx, AliasKey(app, alias), uid)
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return fmt.Errorf("store: set alias of %d: %w", uid, err)
	}
	return nil
}

// AliasUsers returns the users an alias names.
func (s *Store) AliasUsers(ctx context.Context, app, alias string) ([]int64, error) {
	ss, err := s.rdb.SMembers(ctx, AliasKey(app, alias)).Result()
	if err != nil {
		return nil, fmt.Errorf("store: alias %q: %w", alias, err)
	}
	return parseIDs(ss), nil
}

// Tags returns a user's push tags.
func (s *Store) Tags(ctx context.Context, app string, uid int64) ([]string, error) {
	ss, err := s.rdb.SMembers(ctx, UserTagsKey(app, uid)).Result()
	if err != nil {
		return nil, fmt.Errorf("store: tags of %d: %w", uid, err)
	}
	return ss, nil
}

// AddTags binds tags to a user and indexes the user under each tag.
func (s *Store) AddTags(ctx context.Context, app string, uid int64, tags ...string) error {
	return s.changeTags(ctx, app, uid, tags, true)
}

// RemoveTags unbinds tags from a user.
func (s *Store) RemoveTags(ctx context.Context, app string, uid int64, tags ...string) error {
	return s.changeTags(ctx, app, uid, tags, false)
}

// RemoveAllTags unbinds every tag of a user.
func (s *Store) RemoveAllTags(ctx context.Context, app string, uid int64) error {
	tags, err := s.Tags(ctx, app, uid)
	if err != nil {
		return err
	}
	return s.changeTags(ctx, app, uid, tags, false)
}

func (s *Store) changeTags(ctx context.Context, app string, uid int64, tags []string, add bool) error {
	if len(tags) == 0 {
		return nil
	}
	members := make([]any, len(tags))
	for i, t := range tags {
		members[i] = t
	}
	op := redis.Pipeliner.SAdd
	if !add {
		op = redis.Pipeliner.SRem
	}
	pipe := s.rdb.Pipeline()
	op(pipe, ctx, UserTagsKey(app, uid), members...)
	for _, t := range tags {
		op(pipe, ctx, TagKey(app, t), uid)
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return fmt.Errorf("store: change tags of %d: %w", uid, err)
	}
	return nil
}

// ScanAppUsers walks every user of the app (AppUsersKey) count at a time,
// calling fn with each page, so a campaign to a million users never holds a
// million ids. cursor 0 starts; the returned cursor resumes an interrupted
// walk and is 0 when done.
func (s *Store) ScanAppUsers(ctx context.Context, app string, cursor uint64, count int64, fn func([]int64) error) (uint64, error) {
	return s.scanIDs(ctx, AppUsersKey(app), true, cursor, count, fn)
}

// ScanTagUsers walks the users bound to a tag, like ScanAppUsers.
func (s *Store) ScanTagUsers(ctx context.Context, app, tag string, cursor uint64, count int64, fn func([]int64) error) (uint64, error) {
	return s.scanIDs(ctx, TagKey(app, tag), false, cursor, count, fn)
}

func (s *Store) scanIDs(ctx context.Context, key string, zset bool, cursor uint64, count int64, fn func([]int64) error) (uint64, error) {
	for {
		var (
			page []string
			err  error
		)
		if zset {
			page, cursor, err = s.rdb.ZScan(ctx, key, cursor, "", count).Result()
			page = everyOther(page)
		} else {
			page, cursor, err = s.rdb.SScan(ctx, key, cursor, "", count).Result()
		}
		if err != nil {
			return cursor, fmt.Errorf("store: scan %s: %w", key, err)
		}
		if ids := parseIDs(page); len(ids) > 0 {
			if err := fn(ids); err != nil {
				return cursor, err
			}
		}
		if cursor == 0 {
			return 0, nil
		}
	}
}

// everyOther keeps the members of a ZSCAN reply, which alternates member
// and score.
func everyOther(ss []string) []string {
	out := ss[:0]
	for i := 0; i < len(ss); i += 2 {
		out = append(out, ss[i])
	}
	return out
}

func parseIDs(ss []string) []int64 {
	out := make([]int64, 0, len(ss))
	for _, v := range ss {
		if id, err := strconv.ParseInt(v, 10, 64); err == nil {
			out = append(out, id)
		}
	}
	return out
}

// SettingsView reads what GET /user/settings answers in one round trip:
// the user's state, settings and devices (all under the user's hash tag).
func (s *Store) SettingsView(ctx context.Context, app string, uid int64) (UserState, Settings, []Device, error) {
	pipe := s.rdb.Pipeline()
	state := pipe.HMGet(ctx, UserKey(app, uid), "created", "disabled")
	set := s.QueueSettings(ctx, pipe, app, uid)
	devs := pipe.HGetAll(ctx, DevicesKey(app, uid))
	if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
		return UserMissing, DefaultSettings(), nil, fmt.Errorf("store: settings view of %d: %w", uid, err)
	}
	st, _, err := set.Result()
	if err != nil {
		return UserMissing, st, nil, err
	}
	vals, err := state.Result()
	if err != nil {
		return UserMissing, st, nil, fmt.Errorf("store: state of user %d: %w", uid, err)
	}
	return userState(vals), st, decodeDevices(devs.Val()), nil
}
