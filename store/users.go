package store

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// Errors of the user records.
var (
	// ErrTaken is returned when a username, mobile or email is already
	// claimed by another user of the app.
	ErrTaken = errors.New("store: already taken by another user")
	// ErrUserExists is returned by CreateUser for an id already in use.
	ErrUserExists = errors.New("store: user id already in use")
)

// UserIDBase is added to an app's user counter: user ids are 13-digit
// numbers from 1,000,000,000,001 on, like Lanying's (2302128618880), and
// never collide with small ids given explicitly (the embedded dev users
// 1 and 2).
const UserIDBase int64 = 1_000_000_000_000

// Identifier fields: unique per app, claimed in IdentKey indexes.
const (
	IdentUsername = "username"
	IdentMobile   = "mobile"
	IdentEmail    = "email"
)

// claimGrace is how long a claim whose owner does not show the value is
// still respected: the owner may be between claiming and writing its
// record. After it the claim is a leftover of a crash and may be taken.
const claimGrace = time.Minute

// Profile fields of the user info hash.
const (
	FieldNickname    = "nick_name"
	FieldAvatar      = "avatar"
	FieldDescription = "description"
	FieldPrivateInfo = "private_info"
	FieldPublicInfo  = "public_info"
)

// User is a user's record.
type User struct {
	ID          int64
	Username    string
	Nickname    string
	Avatar      string
	Mobile      string
	Email       string
	Description string
	PrivateInfo string
	PublicInfo  string
	Alias       string
	Created     int64 // unix ms
	Disabled    bool
}

var userFields = []string{"created", "username", "nick_name", "avatar", "mobile", "email",
	"description", "private_info", "public_info", "alias", "disabled"}

func decodeUser(uid int64, vals []any) (*User, bool) {
	str := func(i int) string { s, _ := vals[i].(string); return s }
	if vals[0] == nil {
		return nil, false
	}
	created, _ := strconv.ParseInt(str(0), 10, 64)
	return &User{
		ID: uid, Created: created, Username: str(1), Nickname: str(2), Avatar: str(3), Mobile: str(4),
		Email: str(5), Description: str(6), PrivateInfo: str(7), PublicInfo: str(8), Alias: str(9),
		Disabled: str(10) == "1",
	}, true
}

// NormIdent is the form an identifier is indexed under: usernames and
// emails are unique regardless of case ("Alice" and "alice" are one user).
func NormIdent(ident, v string) string {
	if ident == IdentMobile {
		return v
	}
	return strings.ToLower(v)
}

// NewUser is a user to create.
type NewUser struct {
	// ID is the id to create the user under; 0 draws the next one.
	ID           int64
	Username     string
	PasswordHash string
}

// createScript writes a new user's info hash unless the id is in use. A
// tombstone of a deleted user (no "created") is replaced.
var createScript = redis.NewScript(`
if redis.call("HEXISTS", KEYS[1], "created") == 1 then
  return 0
end
redis.call("DEL", KEYS[1])
redis.call("HSET", KEYS[1], unpack(ARGV))
return 1`)

// CreateUser registers a user: claims the username, lists the user in
// AppUsersKey, then writes its record in one step, so a user either
// exists with its username or not at all. ErrTaken: username in use;
// ErrUserExists: NewUser.ID in use.
func (s *Store) CreateUser(ctx context.Context, app string, u NewUser, now time.Time) (int64, error) {
	uid := u.ID
	if uid == 0 {
		n, err := s.rdb.Incr(ctx, UserSeqKey(app)).Result()
		if err != nil {
			return 0, fmt.Errorf("store: next user id: %w", err)
		}
		uid = UserIDBase + n
	}
	if err := s.claim(ctx, app, IdentUsername, u.Username, uid, now); err != nil {
		return 0, err
	}
	// Listed first: a crash before the record is written leaves an id that
	// /user/list skips, never a user that is missing from the list.
	ms := now.UnixMilli()
	if err := s.rdb.ZAdd(ctx, AppUsersKey(app), redis.Z{Score: float64(ms), Member: uid}).Err(); err != nil {
		s.release(ctx, app, IdentUsername, u.Username, uid)
		return 0, fmt.Errorf("store: list user %d: %w", uid, err)
	}
	ok, err := createScript.Run(ctx, s.rdb, []string{UserKey(app, uid)},
		"created", ms, "username", u.Username, "password", u.PasswordHash).Int()
	if err == nil && ok == 0 {
		err = ErrUserExists
	}
	if err != nil {
		s.release(ctx, app, IdentUsername, u.Username, uid)
		if !errors.Is(err, ErrUserExists) {
			s.rdb.ZRem(ctx, AppUsersKey(app), uid)
			err = fmt.Errorf("store: create user %d: %w", uid, err)
		}
		return 0, err
	}
	return uid, nil
}

// GetUser returns a user's record, or ErrNotFound.
func (s *Store) GetUser(ctx context.Context, app string, uid int64) (*User, error) {
	vals, err := s.rdb.HMGet(ctx, UserKey(app, uid), userFields...).Result()
	if err != nil {
		return nil, fmt.Errorf("store: user %d: %w", uid, err)
	}
	u, ok := decodeUser(uid, vals)
	if !ok {
		return nil, ErrNotFound
	}
	return u, nil
}

// GetUsers returns the records of many users in one round trip; missing
// users are nil.
func (s *Store) GetUsers(ctx context.Context, app string, uids []int64) ([]*User, error) {
	pipe := s.rdb.Pipeline()
	cmds := make([]*redis.SliceCmd, len(uids))
	for i, u := range uids {
		cmds[i] = pipe.HMGet(ctx, UserKey(app, u), userFields...)
	}
	if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
		return nil, fmt.Errorf("store: %d users: %w", len(uids), err)
	}
	out := make([]*User, len(uids))
	for i, u := range uids {
		out[i], _ = decodeUser(u, cmds[i].Val())
	}
	return out, nil
}

// ListUsers returns the users of an app in registration order, skipping
// offset of them. Ids whose record is gone (a registration that crashed
// half-way) are left out of the page.
func (s *Store) ListUsers(ctx context.Context, app string, offset, count int64) ([]*User, error) {
	ids, err := s.rdb.ZRange(ctx, AppUsersKey(app), offset, offset+count-1).Result()
	if err != nil {
		return nil, fmt.Errorf("store: list users: %w", err)
	}
	users, err := s.GetUsers(ctx, app, parseIDs(ids))
	if err != nil {
		return nil, err
	}
	out := users[:0]
	for _, u := range users {
		if u != nil {
			out = append(out, u)
		}
	}
	return out, nil
}

// CountUsers returns how many users the app lists.
func (s *Store) CountUsers(ctx context.Context, app string) (int64, error) {
	n, err := s.rdb.ZCard(ctx, AppUsersKey(app)).Result()
	if err != nil {
		return 0, fmt.Errorf("store: count users: %w", err)
	}
	return n, nil
}

// UserStates reads the states of many users in one round trip.
func (s *Store) UserStates(ctx context.Context, app string, uids []int64) ([]UserState, error) {
	pipe := s.rdb.Pipeline()
	cmds := make([]*redis.SliceCmd, len(uids))
	for i, u := range uids {
		cmds[i] = pipe.HMGet(ctx, UserKey(app, u), "created", "disabled")
	}
	if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
		return nil, fmt.Errorf("store: states of %d users: %w", len(uids), err)
	}
	out := make([]UserState, len(uids))
	for i := range uids {
		vals := cmds[i].Val()
		switch {
		case len(vals) < 2 || vals[0] == nil:
			out[i] = UserMissing
		case vals[1] == "1":
			out[i] = UserDisabled
		default:
			out[i] = UserActive
		}
	}
	return out, nil
}

// setIfUserScript sets fields of a user's info hash only if the user
// exists, so a write racing with /user/delete cannot resurrect a record.
var setIfUserScript = redis.NewScript(`
if redis.call("HEXISTS", KEYS[1], "created") == 0 then
  return 0
end
redis.call("HSET", KEYS[1], unpack(ARGV))
return 1`)

// SetUserFields writes fields of an existing user's record (profile
// fields, password); ErrNotFound if the user does not exist.
func (s *Store) SetUserFields(ctx context.Context, app string, uid int64, kv map[string]string) error {
	if len(kv) == 0 {
		return nil
	}
	args := make([]any, 0, 2*len(kv))
	for k, v := range kv {
		args = append(args, k, v)
	}
	ok, err := setIfUserScript.Run(ctx, s.rdb, []string{UserKey(app, uid)}, args...).Int()
	if err != nil {
		return fmt.Errorf("store: set fields of user %d: %w", uid, err)
	}
	if ok == 0 {
		return ErrNotFound
	}
	return nil
}

// Credentials returns a user's password hash and state in one round trip.
func (s *Store) Credentials(ctx context.Context, app string, uid int64) (hash string, state UserState, err error) {
	hash, state, _, err = s.CredentialsGen(ctx, app, uid)
	return hash, state, err
}

// CredentialsGen is Credentials plus the user's token generation, which
// a token minted after a successful login must carry.
func (s *Store) CredentialsGen(ctx context.Context, app string, uid int64) (hash string, state UserState, gen int64, err error) {
	vals, err := s.rdb.HMGet(ctx, UserKey(app, uid), "created", "disabled", "password", "gen").Result()
	if err != nil {
		return "", UserMissing, 0, fmt.Errorf("store: credentials of %d: %w", uid, err)
	}
	if g, ok := vals[3].(string); ok {
		gen, _ = strconv.ParseInt(g, 10, 64)
	}
	switch {
	case vals[0] == nil:
		return "", UserMissing, 0, nil
	case vals[1] == "1":
		state = UserDisabled
	default:
		state = UserActive
	}
	hash, _ = vals[2].(string)
	return hash, state, gen, nil
}

// SetIdent changes a user's username, mobile or email: claims the new
// value, writes it, then releases the old one. "" clears a mobile or
// email. ErrTaken when another user holds the value; ErrNotFound when the
// user does not exist.
func (s *Store) SetIdent(ctx context.Context, app string, uid int64, ident, value string, now time.Time) error {
	key := UserKey(app, uid)
	vals, err := s.rdb.HMGet(ctx, key, "created", ident).Result()
	if err != nil {
		return fmt.Errorf("store: %s of %d: %w", ident, uid, err)
	}
	if vals[0] == nil {
		return ErrNotFound
	}
	old, _ := vals[1].(string)
	same := old != "" && NormIdent(ident, old) == NormIdent(ident, value)
	if value != "" && !same {
		if err := s.claim(ctx, app, ident, value, uid, now); err != nil {
			return err
		}
	}
	if value == "" {
		err = s.rdb.HDel(ctx, key, ident).Err()
	} else {
		err = s.SetUserFields(ctx, app, uid, map[string]string{ident: value})
	}
	if err != nil {
		if value != "" && !same {
			s.release(ctx, app, ident, value, uid)
		}
		if errors.Is(err, ErrNotFound) {
			return err
		}
		return fmt.Errorf("store: set %s of %d: %w", ident, uid, err)
	}
	if old != "" && !same {
		s.release(ctx, app, ident, old, uid)
	}
	return nil
}

// LookupIdent returns the user a username, mobile or email belongs to, or
// ErrNotFound. A leftover claim (its owner no longer shows the value) is
// not an answer.
func (s *Store) LookupIdent(ctx context.Context, app, ident, value string) (int64, error) {
	v, err := s.rdb.HGet(ctx, IdentKey(app, ident), NormIdent(ident, value)).Result()
	if errors.Is(err, redis.Nil) {
		return 0, ErrNotFound
	}
	if err != nil {
		return 0, fmt.Errorf("store: look up %s: %w", ident, err)
	}
	uid, _, ok := parseClaim(v)
	if !ok {
		return 0, ErrNotFound
	}
	vals, err := s.rdb.HMGet(ctx, UserKey(app, uid), "created", ident).Result()
	if err != nil {
		return 0, fmt.Errorf("store: look up %s: %w", ident, err)
	}
	cur, _ := vals[1].(string)
	if vals[0] == nil || NormIdent(ident, cur) != NormIdent(ident, value) {
		return 0, ErrNotFound
	}
	return uid, nil
}

func parseClaim(v string) (uid, at int64, ok bool) {
	u, a, found := strings.Cut(v, ":")
	uid, err1 := strconv.ParseInt(u, 10, 64)
	at, err2 := strconv.ParseInt(a, 10, 64)
	return uid, at, found && err1 == nil && err2 == nil
}

// swapScript replaces a hash field only if it still holds ARGV[2].
var swapScript = redis.NewScript(`
if redis.call("HGET", KEYS[1], ARGV[1]) ~= ARGV[2] then
  return 0
end
redis.call("HSET", KEYS[1], ARGV[1], ARGV[3])
return 1`)

// releaseScript deletes a claim only if it belongs to user ARGV[2].
var releaseScript = redis.NewScript(`
local v = redis.call("HGET", KEYS[1], ARGV[1])
if v and string.sub(v, 1, string.len(ARGV[2]) + 1) == ARGV[2] .. ":" then
  return redis.call("HDEL", KEYS[1], ARGV[1])
end
return 0`)

// claim makes uid the owner of an identifier value. The index key has the
// app's hash tag and the owner's record the owner's: they cannot change
// in one step, so the record is written after the claim and a claim is
// honoured while its owner shows the value or for claimGrace after it
// was made. Older claims that no record backs (a crash between claim and
// write, or between delete and release) are taken over.
func (s *Store) claim(ctx context.Context, app, ident, value string, uid int64, now time.Time) error {
	key, field := IdentKey(app, ident), NormIdent(ident, value)
	mine := strconv.FormatInt(uid, 10) + ":" + strconv.FormatInt(now.UnixMilli(), 10)
	ok, err := s.rdb.HSetNX(ctx, key, field, mine).Result()
	if err != nil {
		return fmt.Errorf("store: claim %s: %w", ident, err)
	}
	if ok {
		return nil
	}
	cur, err := s.rdb.HGet(ctx, key, field).Result()
	if errors.Is(err, redis.Nil) {
		// Released in between: try once more.
		if ok, err = s.rdb.HSetNX(ctx, key, field, mine).Result(); err == nil && ok {
			return nil
		}
		return ErrTaken
	}
	if err != nil {
		return fmt.Errorf("store: claim %s: %w", ident, err)
	}
	owner, at, valid := parseClaim(cur)
	if valid && owner == uid {
		return nil
	}
	if valid && now.UnixMilli()-at < claimGrace.Milliseconds() {
		return ErrTaken
	}
	if valid {
		vals, err := s.rdb.HMGet(ctx, UserKey(app, owner), "created", ident).Result()
		if err != nil {
			return fmt.Errorf("store: claim %s: %w", ident, err)
		}
		shown, _ := vals[1].(string)
		if vals[0] != nil && NormIdent(ident, shown) == field {
			return ErrTaken
		}
	}
	swapped, err := swapScript.Run(ctx, s.rdb, []string{key}, field, cur, mine).Int()
	if err != nil {
		return fmt.Errorf("store: claim %s: %w", ident, err)
	}
	if swapped == 0 {
		return ErrTaken
	}
	return nil
}

// release gives up uid's claim of a value. Best effort: a claim left
// behind by a failure here is taken over once claimGrace passed.
func (s *Store) release(ctx context.Context, app, ident, value string, uid int64) {
	_ = releaseScript.Run(ctx, s.rdb, []string{IdentKey(app, ident)}, NormIdent(ident, value), uid).Err()
}

// tombstoneScript replaces a user's info hash by a tombstone: no
// "created" (the user no longer exists for the REST API) but "disabled"
// (so a gateway that only checks UserDisabled refuses tokens minted
// before the deletion), expiring with the last such token.
var tombstoneScript = redis.NewScript(`
redis.call("DEL", unpack(KEYS))
redis.call("HSET", KEYS[1], "disabled", "1", "deleted", ARGV[1])
if tonumber(ARGV[2]) > 0 then
  redis.call("PEXPIRE", KEYS[1], ARGV[2])
end
return 1`)

// DeleteUser removes a user: every key of UserKeys at once (the user is
// gone in one step), then the app-wide indexes that name it (user list,
// username/mobile/email, alias, tags, push tokens, group members). The
// indexes are only hints once the record is gone: a failure half-way
// leaves entries that readers skip because the user does not exist.
// tokenTTL is the life of the user tokens that may still be around.
func (s *Store) DeleteUser(ctx context.Context, app string, uid int64, tokenTTL time.Duration, now time.Time) error {
	u, err := s.GetUser(ctx, app, uid)
	if err != nil {
		return err
	}
	tags, err := s.Tags(ctx, app, uid)
	if err != nil {
		return err
	}
	devs, err := s.Devices(ctx, app, uid)
	if err != nil {
		return err
	}
	groups, err := s.rdb.SMembers(ctx, UserGroupsKey(app, uid)).Result()
	if err != nil {
		return fmt.Errorf("store: groups of %d: %w", uid, err)
	}
	// Friends are read before the tombstone removes the list: each of them
	// must stop listing the deleted user.
	friends, err := s.rdb.ZRange(ctx, FriendsKey(app, uid), 0, -1).Result()
	if err != nil {
		return fmt.Errorf("store: friends of %d: %w", uid, err)
	}
	if tokenTTL < time.Minute {
		tokenTTL = time.Minute
	}
	// A deleted user never authenticates again: once the tombstone is gone
	// its id still lies in the range the app's user counter gave out
	// (UserAuth). Ids given explicitly (the embedded dev users) are outside
	// that range, so their few tombstones are kept.
	ttl := tokenTTL.Milliseconds()
	if uid <= UserIDBase {
		ttl = 0
	}
	if err := tombstoneScript.Run(ctx, s.rdb, UserKeys(app, uid), now.UnixMilli(), ttl).Err(); err != nil {
		return fmt.Errorf("store: delete user %d: %w", uid, err)
	}
	pipe := s.rdb.Pipeline()
	pipe.ZRem(ctx, AppUsersKey(app), uid)
	for _, t := range tags {
		pipe.SRem(ctx, TagKey(app, t), uid)
	}
	if u.Alias != "" {
		pipe.SRem(ctx, AliasKey(app, u.Alias), uid)
	}
	for _, g := range parseIDs(groups) {
		queueForgetMember(ctx, pipe, app, g, uid)
	}
	for _, f := range parseIDs(friends) {
		pipe.ZRem(ctx, FriendsKey(app, f), lexID(uid))
		pipe.HDel(ctx, FriendAttrsKey(app, f), idStr(uid))
		pipe.Incr(ctx, RosterVersionKey(app, f))
	}
	for ident, v := range map[string]string{IdentUsername: u.Username, IdentMobile: u.Mobile, IdentEmail: u.Email} {
		if v != "" {
			releaseScript.Eval(ctx, pipe, []string{IdentKey(app, ident)}, NormIdent(ident, v), uid)
		}
	}
	for _, d := range devs {
		if d.PushToken != "" {
			unindexScript.Eval(ctx, pipe, []string{PushTokensKey(app)}, d.PushToken, tokenOwner(uid, d.SN))
		}
	}
	// EVAL, not EVALSHA: a pipeline cannot fall back when the script is
	// not loaded yet.
	if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
		return fmt.Errorf("store: unindex deleted user %d: %w", uid, err)
	}
	return nil
}

// unindexScript deletes a push token index entry only if it still names
// the device ARGV[2].
var unindexScript = redis.NewScript(`
if redis.call("HGET", KEYS[1], ARGV[1]) == ARGV[2] then
  return redis.call("HDEL", KEYS[1], ARGV[1])
end
return 0`)

// BindPushToken binds a push token to a device of a user (creating the
// device record if needed). A token bound to another device (the phone
// changed hands, or the app was reinstalled under another user) is taken
// from it first, so one phone never gets another user's pushes.
func (s *Store) BindPushToken(ctx context.Context, app string, uid int64, sn int32, token, notifier string, now time.Time) error {
	owner, osn, err := s.PushTokenOwner(ctx, app, token)
	switch {
	case errors.Is(err, ErrNotFound):
	case err != nil:
		return err
	case owner != uid || osn != sn:
		if _, err := s.ClearPushToken(ctx, app, owner, osn, token, 0); err != nil {
			return err
		}
	}
	return s.SetPushToken(ctx, app, uid, sn, token, notifier, now)
}

// HasDevice reports whether a user has a registered device sn.
func (s *Store) HasDevice(ctx context.Context, app string, uid int64, sn int32) (bool, error) {
	ok, err := s.rdb.HExists(ctx, DevicesKey(app, uid), strconv.FormatInt(int64(sn), 10)).Result()
	if err != nil {
		return false, fmt.Errorf("store: device %d/%d: %w", uid, sn, err)
	}
	return ok, nil
}

// DeleteDevice forgets a registered device and unindexes its push token.
// It reports whether the device was registered.
func (s *Store) DeleteDevice(ctx context.Context, app string, uid int64, sn int32) (bool, error) {
	field := strconv.FormatInt(int64(sn), 10)
	raw, err := s.rdb.HGet(ctx, DevicesKey(app, uid), field).Result()
	if errors.Is(err, redis.Nil) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("store: device %d/%d: %w", uid, sn, err)
	}
	if err := s.rdb.HDel(ctx, DevicesKey(app, uid), field).Err(); err != nil {
		return false, fmt.Errorf("store: remove device %d/%d: %w", uid, sn, err)
	}
	if ds := decodeDevices(map[string]string{field: raw}); len(ds) == 1 && ds[0].PushToken != "" {
		err := unindexScript.Run(ctx, s.rdb, []string{PushTokensKey(app)}, ds[0].PushToken, tokenOwner(uid, sn)).Err()
		if err != nil && !errors.Is(err, redis.Nil) {
			return true, fmt.Errorf("store: unindex push token of %d/%d: %w", uid, sn, err)
		}
	}
	return true, nil
}

// GUIDDevice is the device_sn chatgate gives the device a Lanying push
// SDK names by device_guid (/user/register/push, /token/* device_guid):
// a stable hash in 1..2^31-1, so the same guid is always the same device.
// Without a guid the push device is device_sn 1.
func GUIDDevice(guid string) int32 {
	if guid == "" {
		return 1
	}
	h := fnv.New32a()
	h.Write([]byte(guid))
	sn := int32(h.Sum32() & 0x7fffffff)
	if sn == 0 {
		sn = 1
	}
	return sn
}

// Device returns one registered device of a user, or ErrNotFound.
func (s *Store) Device(ctx context.Context, app string, uid int64, sn int32) (*Device, error) {
	field := strconv.FormatInt(int64(sn), 10)
	raw, err := s.rdb.HGet(ctx, DevicesKey(app, uid), field).Result()
	if errors.Is(err, redis.Nil) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("store: device %d/%d: %w", uid, sn, err)
	}
	ds := decodeDevices(map[string]string{field: raw})
	if len(ds) != 1 {
		return nil, ErrNotFound
	}
	return &ds[0], nil
}

// TagCount returns how many push tags a user has.
func (s *Store) TagCount(ctx context.Context, app string, uid int64) (int64, error) {
	n, err := s.rdb.SCard(ctx, UserTagsKey(app, uid)).Result()
	if err != nil {
		return 0, fmt.Errorf("store: tags of %d: %w", uid, err)
	}
	return n, nil
}

// SetUsersDisabled disables or enables many existing users in one round
// trip; ids that do not exist are left alone.
func (s *Store) SetUsersDisabled(ctx context.Context, app string, uids []int64, disabled bool) error {
	return s.SetUsersDisabledRevoking(ctx, app, uids, disabled, false)
}
