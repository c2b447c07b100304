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

// Route says which gateway node holds a live connection of one device.
// It is stored as "node|conn|bg|expires_ms" in the user's routes hash; a route
// whose expiry passed is dead even before anyone deletes it, so a gateway
// that dies takes its routes with it within one TTL.
type Route struct {
	Device  int32
	Node    string
	Conn    string
	BG      bool
	Expires int64 // unix ms
}

func (r Route) encode() string {
	bg := "0"
	if r.BG {
		bg = "1"
	}
	return r.Node + "|" + r.Conn + "|" + bg + "|" + strconv.FormatInt(r.Expires, 10)
}

func parseRoute(field, v string) (Route, bool) {
	parts := strings.Split(v, "|")
	if len(parts) != 4 {
		return Route{}, false
	}
	dev, err1 := strconv.ParseInt(field, 10, 32)
	exp, err2 := strconv.ParseInt(parts[3], 10, 64)
	if err1 != nil || err2 != nil {
		return Route{}, false
	}
	return Route{Device: int32(dev), Node: parts[0], Conn: parts[1], BG: parts[2] == "1", Expires: exp}, true
}

// registerScript atomically drops expired routes, enforces the device cap
// (not counting the device itself, which replaces its old route) and sets
// the new route. It returns {ok, old route value}.
var registerScript = redis.NewScript(`
local now = tonumber(ARGV[3])
local cap = tonumber(ARGV[4])
local all = redis.call("HGETALL", KEYS[1])
local live, old = 0, ""
for i = 1, #all, 2 do
  local f, v = all[i], all[i+1]
  local exp = tonumber(string.match(v, "|(%d+)$"))
  if exp == nil or exp < now then
    redis.call("HDEL", KEYS[1], f)
  elseif f == ARGV[1] then
    old = v
  else
    live = live + 1
  end
end
if cap > 0 and live >= cap then
  return {0, ""}
end
redis.call("HSET", KEYS[1], ARGV[1], ARGV[2])
redis.call("PEXPIRE", KEYS[1], ARGV[5])
return {1, old}`)

// updateScript rewrites or deletes a route only if it still belongs to the
// given connection: a connection that was replaced must not clobber the
// route of the connection that replaced it.
var updateScript = redis.NewScript(`
local v = redis.call("HGET", KEYS[1], ARGV[1])
if not v or not string.find(v, "|" .. ARGV[2] .. "|", 1, true) then
  return 0
end
if ARGV[3] == "" then
  redis.call("HDEL", KEYS[1], ARGV[1])
else
  redis.call("HSET", KEYS[1], ARGV[1], ARGV[3])
  redis.call("PEXPIRE", KEYS[1], ARGV[4])
end
return 1`)

// RegisterRoute records a live connection. cap limits the user's live
// devices (0: no limit); ErrTooManyDevices when it is reached. It returns
// the route this one replaced (same device_sn), if any, so the caller can
// kick the old connection.
func (s *Store) RegisterRoute(ctx context.Context, app string, uid int64, r Route, cap int, ttl time.Duration, now time.Time) (*Route, error) {
	dev := strconv.FormatInt(int64(r.Device), 10)
	res, err := registerScript.Run(ctx, s.rdb, []string{RoutesKey(app, uid)},
		dev, r.encode(), now.UnixMilli(), cap, (2 * ttl).Milliseconds()).Slice()
	if err != nil {
		return nil, fmt.Errorf("store: register route %d/%d: %w", uid, r.Device, err)
	}
	if len(res) != 2 {
		return nil, fmt.Errorf("store: register route: unexpected reply %v", res)
	}
	if ok, _ := res[0].(int64); ok == 0 {
		return nil, ErrTooManyDevices
	}
	if old, _ := res[1].(string); old != "" {
		if or, ok := parseRoute(dev, old); ok && or.Conn != r.Conn {
			return &or, nil
		}
	}
	return nil, nil
}

// UpdateRoute rewrites the route of conn (new expiry or state) if conn still
// owns it. It reports whether it did.
func (s *Store) UpdateRoute(ctx context.Context, app string, uid int64, r Route, ttl time.Duration) (bool, error) {
	n, err := updateScript.Run(ctx, s.rdb, []string{RoutesKey(app, uid)},
		strconv.FormatInt(int64(r.Device), 10), r.Conn, r.encode(), (2 * ttl).Milliseconds()).Int()
	if err != nil {
		return false, fmt.Errorf("store: update route %d/%d: %w", uid, r.Device, err)
	}
	return n == 1, nil
}

// RouteRef names one connection's route for bulk refresh.
type RouteRef struct {
	App   string
	User  int64
	Route Route
}

// RefreshRoutes extends many routes in one pipeline (a gateway's periodic
// heartbeat). Routes that now belong to another connection are left alone.
func (s *Store) RefreshRoutes(ctx context.Context, refs []RouteRef, ttl time.Duration) error {
	if len(refs) == 0 {
		return nil
	}
	pipe := s.rdb.Pipeline()
	for _, ref := range refs {
		updateScript.Run(ctx, pipe, []string{RoutesKey(ref.App, ref.User)},
			strconv.FormatInt(int64(ref.Route.Device), 10), ref.Route.Conn, ref.Route.encode(), (2 * ttl).Milliseconds())
	}
	_, err := pipe.Exec(ctx)
	if err != nil && isNoScript(err) {
		// EVALSHA in a pipeline does not fall back to EVAL; load once and retry.
		if lerr := updateScript.Load(ctx, s.rdb).Err(); lerr != nil {
			return fmt.Errorf("store: load route script: %w", lerr)
		}
		return s.RefreshRoutes(ctx, refs, ttl)
	}
	if err != nil {
		return fmt.Errorf("store: refresh %d routes: %w", len(refs), err)
	}
	return nil
}

func isNoScript(err error) bool {
	return err != nil && strings.HasPrefix(err.Error(), "NOSCRIPT")
}

// RemoveRoute deletes the route of conn if conn still owns it.
func (s *Store) RemoveRoute(ctx context.Context, app string, uid int64, dev int32, conn string) error {
	err := updateScript.Run(ctx, s.rdb, []string{RoutesKey(app, uid)},
		strconv.FormatInt(int64(dev), 10), conn, "", 0).Err()
	if err != nil && !errors.Is(err, redis.Nil) {
		return fmt.Errorf("store: remove route %d/%d: %w", uid, dev, err)
	}
	return nil
}

// Routes returns the live routes of a user.
func (s *Store) Routes(ctx context.Context, app string, uid int64, now time.Time) ([]Route, error) {
	m, err := s.rdb.HGetAll(ctx, RoutesKey(app, uid)).Result()
	if err != nil {
		return nil, fmt.Errorf("store: routes of %d: %w", uid, err)
	}
	return liveRoutes(m, now.UnixMilli()), nil
}

func liveRoutes(m map[string]string, nowMS int64) []Route {
	out := make([]Route, 0, len(m))
	for f, v := range m {
		if r, ok := parseRoute(f, v); ok && r.Expires >= nowMS {
			out = append(out, r)
		}
	}
	return out
}

// Recipient is what the router needs to reach one user: live routes and
// registered devices.
type Recipient struct {
	User    int64
	Routes  []Route
	Devices []Device
}

// LookupRecipients fetches routes and devices of many users of one app in
// one pipeline.
func (s *Store) LookupRecipients(ctx context.Context, app string, uids []int64, now time.Time) ([]Recipient, error) {
	pipe := s.rdb.Pipeline()
	rt := make([]*redis.MapStringStringCmd, len(uids))
	dv := make([]*redis.MapStringStringCmd, len(uids))
	for i, u := range uids {
		rt[i] = pipe.HGetAll(ctx, RoutesKey(app, u))
		dv[i] = pipe.HGetAll(ctx, DevicesKey(app, u))
	}
	if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
		return nil, fmt.Errorf("store: lookup %d recipients: %w", len(uids), err)
	}
	nowMS := now.UnixMilli()
	out := make([]Recipient, len(uids))
	for i, u := range uids {
		out[i] = Recipient{User: u, Routes: liveRoutes(rt[i].Val(), nowMS), Devices: decodeDevices(dv[i].Val())}
	}
	return out, nil
}
