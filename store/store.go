package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
)

// ErrNotFound is returned when a looked-up record does not exist.
var ErrNotFound = errors.New("store: not found")

// ErrTooManyDevices is returned by RegisterRoute when the user already has
// the maximum of live devices.
var ErrTooManyDevices = errors.New("store: too many devices")

// Options tune retention. Zero values take the defaults.
type Options struct {
	// Retention is how long message bodies, history and inbox entries are
	// kept. Default 7 days.
	Retention time.Duration
	// InboxMax caps the entries of one user's inbox. Default 10,000.
	InboxMax int64
	// HistoryMax caps the ids of one conversation's history. Default 100,000.
	HistoryMax int64
	// IdemTTL is how long a client message id is remembered. Default 24h.
	IdemTTL time.Duration
}

func (o *Options) defaults() {
	if o.Retention <= 0 {
		o.Retention = 7 * 24 * time.Hour
	}
	if o.InboxMax <= 0 {
		o.InboxMax = 10_000
	}
	if o.HistoryMax <= 0 {
		o.HistoryMax = 100_000
	}
	if o.IdemTTL <= 0 {
		o.IdemTTL = 24 * time.Hour
	}
}

// Store is the data model over one Redis or Redis Cluster client.
type Store struct {
	rdb  redis.UniversalClient
	opts Options
}

// New returns a store over rdb.
func New(rdb redis.UniversalClient, opts Options) *Store {
	opts.defaults()
	return &Store{rdb: rdb, opts: opts}
}

// Redis is the underlying client, for the stream code that shares it.
func (s *Store) Redis() redis.UniversalClient { return s.rdb }

// Options returns the effective options.
func (s *Store) Options() Options { return s.opts }

// App is a tenant.
type App struct {
	ID      string `json:"app_id"`
	Secret  string `json:"-"`
	Name    string `json:"name"`
	Created int64  `json:"created"`
	// Users is the app's user policy: AppUsersRegistered (also "") or
	// AppUsersAny.
	Users string `json:"users,omitempty"`
}

// User policies of an app.
const (
	// AppUsersRegistered: a user token acts only for a registered,
	// enabled user. The default.
	AppUsersRegistered = "registered"
	// AppUsersAny: a user token of any user id acts, registered or not
	// (load tests, apps that keep their users elsewhere); a deleted or
	// disabled user still does not.
	AppUsersAny = "any"
)

// RequireRegistered reports whether the app's user tokens must name a
// registered user.
func (a *App) RequireRegistered() bool { return a.Users != AppUsersAny }

// PutApp creates or updates an app.
func (s *Store) PutApp(ctx context.Context, a App) error {
	if a.Created == 0 {
		a.Created = time.Now().UnixMilli()
	}
	pipe := s.rdb.Pipeline()
	users := a.Users
	if users == "" {
		users = AppUsersRegistered
	}
	pipe.HSet(ctx, AppKey(a.ID), "secret", a.Secret, "name", a.Name, "created", a.Created, "users", users)
	pipe.SAdd(ctx, AppsKey(), a.ID)
	if _, err := pipe.Exec(ctx); err != nil {
		return fmt.Errorf("store: put app %s: %w", a.ID, err)
	}
	return nil
}

// GetApp returns the app or ErrNotFound.
func (s *Store) GetApp(ctx context.Context, id string) (*App, error) {
	m, err := s.rdb.HGetAll(ctx, AppKey(id)).Result()
	if err != nil {
		return nil, fmt.Errorf("store: get app %s: %w", id, err)
	}
	if len(m) == 0 || m["secret"] == "" {
		return nil, ErrNotFound
	}
	created, _ := strconv.ParseInt(m["created"], 10, 64)
	return &App{ID: id, Secret: m["secret"], Name: m["name"], Created: created, Users: m["users"]}, nil
}

// SetUserDisabled marks a user disabled or enabled.
func (s *Store) SetUserDisabled(ctx context.Context, app string, uid int64, disabled bool) error {
	v := "0"
	if disabled {
		v = "1"
	}
	if err := s.rdb.HSet(ctx, UserKey(app, uid), "disabled", v).Err(); err != nil {
		return fmt.Errorf("store: set user %d disabled: %w", uid, err)
	}
	return nil
}

// UserDisabled reports whether the user is disabled. Unknown users are not.
func (s *Store) UserDisabled(ctx context.Context, app string, uid int64) (bool, error) {
	v, err := s.rdb.HGet(ctx, UserKey(app, uid), "disabled").Result()
	if errors.Is(err, redis.Nil) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("store: user %d disabled: %w", uid, err)
	}
	return v == "1", nil
}

// Device is a registered device of a user: what push needs to reach it.
type Device struct {
	SN        int32    `json:"device_sn"`
	Platform  int      `json:"platform"`
	PushToken string   `json:"push_token,omitempty"`
	Notifier  string   `json:"notifier,omitempty"`
	Alias     string   `json:"alias,omitempty"`
	Tags      []string `json:"tags,omitempty"`
	// TokenAt is when the push token was registered (unix ms); APNs 410
	// answers are weighed against it.
	TokenAt  int64 `json:"token_at,omitempty"`
	LastSeen int64 `json:"last_seen,omitempty"`
}

// TouchDevice records a device at connect time. Platform and last-seen are
// overwritten; push token and notifier only when given, so that a device
// that connects without them keeps what the REST API bound. A push token
// comes with its notifier: given without one, the device goes back to
// the app's default certificate.
func (s *Store) TouchDevice(ctx context.Context, app string, uid int64, d Device) error {
	key := DevicesKey(app, uid)
	field := strconv.FormatInt(int64(d.SN), 10)
	var old string
	err := s.updateDevice(ctx, key, field, func(cur *Device) {
		old = cur.PushToken
		cur.SN, cur.Platform, cur.LastSeen = d.SN, d.Platform, d.LastSeen
		if d.PushToken != "" && d.PushToken != cur.PushToken {
			cur.PushToken, cur.TokenAt = d.PushToken, d.LastSeen
		}
		if d.Notifier != "" || d.PushToken != "" {
			cur.Notifier = d.Notifier
		}
	})
	if err != nil || d.PushToken == "" {
		return err
	}
	return s.reindexToken(ctx, app, uid, d.SN, old, d.PushToken)
}

// UpdateDevice applies fn to the stored device (a zero Device if none) and
// writes it back, retrying when another writer changed it in between.
func (s *Store) UpdateDevice(ctx context.Context, app string, uid int64, sn int32, fn func(*Device)) error {
	return s.updateDevice(ctx, DevicesKey(app, uid), strconv.FormatInt(int64(sn), 10), func(d *Device) {
		d.SN = sn
		fn(d)
	})
}

func (s *Store) updateDevice(ctx context.Context, key, field string, fn func(*Device)) error {
	return jsonField[Device]{key: key, field: field, what: "device"}.update(ctx, s, func(d *Device) bool {
		fn(d)
		return true
	})
}

// Devices returns every registered device of a user.
func (s *Store) Devices(ctx context.Context, app string, uid int64) ([]Device, error) {
	m, err := s.rdb.HGetAll(ctx, DevicesKey(app, uid)).Result()
	if err != nil {
		return nil, fmt.Errorf("store: devices of %d: %w", uid, err)
	}
	return decodeDevices(m), nil
}

func decodeDevices(m map[string]string) []Device {
	out := make([]Device, 0, len(m))
	for _, v := range m {
		var d Device
		if json.Unmarshal([]byte(v), &d) == nil && d.SN > 0 {
			out = append(out, d)
		}
	}
	return out
}

// RemoveDevice forgets a device registration.
func (s *Store) RemoveDevice(ctx context.Context, app string, uid int64, sn int32) error {
	if err := s.rdb.HDel(ctx, DevicesKey(app, uid), strconv.FormatInt(int64(sn), 10)).Err(); err != nil {
		return fmt.Errorf("store: remove device %d/%d: %w", uid, sn, err)
	}
	return nil
}

// AddGroupMembers adds users to a group, keeping both directions of the
// membership index (and the member list and join points of managed
// groups) without any of the group rules: the REST API joins through
// JoinGroup; tests and load tests build groups with this.
func (s *Store) AddGroupMembers(ctx context.Context, app string, gid int64, uids ...int64) error {
	return s.changeMembers(ctx, app, gid, uids, true)
}

// RemoveGroupMembers removes users from a group with every per-member
// entry (see RemoveMembers for the REST API's removal).
func (s *Store) RemoveGroupMembers(ctx context.Context, app string, gid int64, uids ...int64) error {
	return s.changeMembers(ctx, app, gid, uids, false)
}

func (s *Store) changeMembers(ctx context.Context, app string, gid int64, uids []int64, add bool) error {
	if len(uids) == 0 {
		return nil
	}
	now := time.Now().UnixMilli()
	pipe := s.rdb.Pipeline()
	for _, u := range uids {
		if add {
			queueAddMember(ctx, pipe, app, gid, u, now)
			pipe.SAdd(ctx, UserGroupsKey(app, u), gid)
		} else {
			queueForgetMember(ctx, pipe, app, gid, u)
			pipe.SRem(ctx, UserGroupsKey(app, u), gid)
		}
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return fmt.Errorf("store: change members of group %d: %w", gid, err)
	}
	return nil
}

// GroupMembers returns the member ids of a group.
func (s *Store) GroupMembers(ctx context.Context, app string, gid int64) ([]int64, error) {
	ss, err := s.rdb.SMembers(ctx, GroupMembersKey(app, gid)).Result()
	if err != nil {
		return nil, fmt.Errorf("store: members of group %d: %w", gid, err)
	}
	return parseIDs(ss), nil
}

// IsGroupMember reports whether uid is in group gid.
func (s *Store) IsGroupMember(ctx context.Context, app string, gid, uid int64) (bool, error) {
	ok, err := s.rdb.SIsMember(ctx, GroupMembersKey(app, gid), uid).Result()
	if err != nil {
		return false, fmt.Errorf("store: is %d in group %d: %w", uid, gid, err)
	}
	return ok, nil
}
