package gateway

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/chatgate/chatgate/internal/auth"
	"github.com/chatgate/chatgate/internal/bus"
	"github.com/chatgate/chatgate/internal/pushcert"
	"github.com/chatgate/chatgate/protocol"
	"github.com/chatgate/chatgate/store"
)

// App secrets are cached briefly: every connect needs one, and a rotated
// secret taking up to appCacheTTL to apply is acceptable.
const (
	appCacheTTL = 30 * time.Second
	appCacheMax = 4096
	// kickStreamTTL is how long a delivery stream written only to kick a
	// connection on another node lives, as routers do for theirs.
	kickStreamTTL = 10 * time.Minute
)

// appCache is a bounded, expiring cache of app secrets. Unknown apps are
// not cached, so an app created at runtime can be used at once.
type appCache struct {
	st  *store.Store
	ttl time.Duration
	max int

	mu sync.Mutex
	m  map[string]appEntry
}

type appEntry struct {
	secret []byte
	// open: the app lets unregistered users act (store.AppUsersAny).
	open bool
	exp  time.Time
}

func newAppCache(st *store.Store, ttl time.Duration, max int) *appCache {
	return &appCache{st: st, ttl: ttl, max: max, m: make(map[string]appEntry)}
}

// get returns what auth needs of app, or store.ErrNotFound.
func (a *appCache) get(ctx context.Context, app string) (appEntry, error) {
	now := time.Now()
	a.mu.Lock()
	e, ok := a.m[app]
	a.mu.Unlock()
	if ok && now.Before(e.exp) {
		return e, nil
	}
	rec, err := a.st.GetApp(ctx, app)
	if err != nil {
		return appEntry{}, err
	}
	e = appEntry{secret: []byte(rec.Secret), open: !rec.RequireRegistered(), exp: now.Add(a.ttl)}
	a.mu.Lock()
	defer a.mu.Unlock()
	if len(a.m) >= a.max {
		for k, e := range a.m {
			if !now.Before(e.exp) {
				delete(a.m, k)
			}
		}
		for k := range a.m {
			if len(a.m) < a.max {
				break
			}
			delete(a.m, k)
		}
	}
	a.m[app] = e
	return e, nil
}

// authenticate handles the auth frame of an unauthenticated connection. On
// failure it queues the err frame and the close with the same code and
// reports true; on success the hello is the first frame the client gets.
func (c *conn) authenticate(f *protocol.Frame) (stop bool) {
	g := c.g
	fail := func(code protocol.Code, msg string) bool {
		c.closeWithErr(f.Rid, code, msg, g.m.connects.WithLabelValues(code.String()))
		return true
	}
	unavailable := func(what string, err error) bool {
		g.log.Warn("auth: "+what, "conn", c.id, "app", f.AppID, "err", err)
		return fail(protocol.CodeUnavailable, "cannot authenticate now; retry later")
	}
	ctx, cancel := context.WithTimeout(context.Background(), redisTimeout)
	defer cancel()

	app, err := g.apps.get(ctx, f.AppID)
	if errors.Is(err, store.ErrNotFound) {
		return fail(protocol.CodeUnknownApp, "unknown app_id")
	}
	if err != nil {
		return unavailable("get app", err)
	}
	now := g.now()
	claims, err := auth.Verify(app.secret, f.AppID, f.Token, now)
	switch {
	case errors.Is(err, auth.ErrExpired):
		return fail(protocol.CodeTokenExpired, "token expired")
	case errors.Is(err, auth.ErrAppMismatch):
		return fail(protocol.CodeAppMismatch, "token belongs to another app")
	case err != nil:
		return fail(protocol.CodeAuthFailed, "invalid token")
	case claims.Role != auth.RoleUser || claims.UserID() <= 0:
		return fail(protocol.CodeAuthFailed, "user token required")
	}
	uid := claims.UserID()
	st, err := g.st.UserAuth(ctx, f.AppID, uid, app.open)
	if err != nil {
		return unavailable("user state", err)
	}
	switch err := auth.CheckUser(claims, st.Status(), !app.open); {
	case errors.Is(err, auth.ErrUserDisabled):
		return fail(protocol.CodeUserDisabled, "user is disabled")
	case errors.Is(err, auth.ErrUserUnknown):
		return fail(protocol.CodeUserUnknown, "user is not registered or was deleted")
	case errors.Is(err, auth.ErrRevoked):
		return fail(protocol.CodeTokenRevoked, "token revoked; get a new one")
	case err != nil:
		return fail(protocol.CodeAuthFailed, "invalid token")
	}
	notifier := f.Notifier
	if notifier != "" {
		// A notifier is checked like REST's notifier_name: an unknown
		// certificate is refused now, not accepted and never pushed to.
		certs, err := g.st.PushCerts(ctx, f.AppID)
		if err != nil {
			return unavailable("push certificates", err)
		}
		if notifier, err = pushcert.Canonical(certs, notifier); err != nil {
			return fail(protocol.CodeBadValue, `"notifier" names no push certificate of the app`)
		}
	}
	dev := store.Device{SN: f.DeviceSN, Platform: f.Platform, PushToken: f.PushToken, Notifier: notifier, LastSeen: now.UnixMilli()}
	if err := g.st.TouchDevice(ctx, f.AppID, uid, dev); err != nil {
		return unavailable("touch device", err)
	}
	resume, err := g.st.Cursor(ctx, f.AppID, uid, f.DeviceSN)
	if err != nil {
		return unavailable("cursor", err)
	}

	c.app, c.user, c.dev = f.AppID, uid, f.DeviceSN
	c.mu.Lock()
	if c.closing {
		c.mu.Unlock()
		return true
	}
	// Deliveries may reach the connection as soon as it is indexed; hold
	// them until the hello is queued, so the hello is always first.
	c.hold = true
	c.cursor = resume
	c.mu.Unlock()
	// Index before registering the route: once the route exists a router
	// may send this user's messages here, and none may be missed.
	g.index(c)
	route := store.Route{Device: c.dev, Node: g.node, Conn: c.id, Expires: now.Add(g.cfg.RouteTTL).UnixMilli()}
	old, err := g.st.RegisterRoute(ctx, c.app, uid, route, g.cfg.MaxDevicesPerUser, g.cfg.RouteTTL, now)
	if err != nil {
		g.unindex(c)
		if errors.Is(err, store.ErrTooManyDevices) {
			return fail(protocol.CodeTooManyDevices, "the user has the maximum number of live devices")
		}
		return unavailable("register route", err)
	}
	c.authed.Store(true)
	c.leavePreauth()
	if old != nil {
		g.kickReplaced(ctx, c.app, uid, old)
	}
	hello, err := protocol.Encode(&protocol.Frame{T: protocol.TypeHello, Rid: f.Rid, Hello: &protocol.Hello{
		Session:   c.id,
		Node:      g.node,
		UserID:    uid,
		DeviceSN:  c.dev,
		Heartbeat: int(g.cfg.Heartbeat / time.Second),
		Resume:    protocol.ID(resume),
		Limits:    g.cfg.Limits,
	}})
	if err != nil {
		g.log.Error("encode hello", "err", err)
		return fail(protocol.CodeInternal, "internal error")
	}
	c.release(hello)
	c.lastFrame.Store(time.Now().UnixNano())
	c.timer.Reset(g.cfg.IdleTimeout)
	g.m.connects.WithLabelValues("ok").Inc()
	return false
}

// release queues the hello, then the deliveries held since indexing.
func (c *conn) release(hello []byte) {
	c.mu.Lock()
	if c.closing {
		c.mu.Unlock()
		return
	}
	held := c.held
	c.held, c.hold = nil, false
	c.pushLocked(hello)
	for _, b := range held {
		c.qBytes -= len(b) // counted when held; pushLocked counts it again
		c.pushLocked(b)
	}
	start := !c.writing
	c.writing = true
	c.mu.Unlock()
	if start {
		go c.writeLoop()
	}
}

// kickReplaced closes the connection whose route a new connection of the
// same device replaced: directly when it is local, through its node's
// delivery stream otherwise.
func (g *Gateway) kickReplaced(ctx context.Context, app string, uid int64, old *store.Route) {
	if old.Node == g.node {
		if oc := g.byID(old.Conn); oc != nil {
			oc.kick(protocol.CodeKickReplaced)
		}
		return
	}
	vals, err := bus.Encode(&bus.Batch{Items: []bus.Delivery{{
		Kind: bus.KindKick, App: app, User: uid, Device: old.Device, Conn: old.Conn,
		Code: int(protocol.CodeKickReplaced), Reason: protocol.CodeKickReplaced.String(),
	}}})
	if err != nil {
		g.log.Error("encode kick", "err", err)
		return
	}
	stream := bus.DeliveryStream(old.Node)
	pipe := g.rdb.Pipeline()
	pipe.XAdd(ctx, &redis.XAddArgs{Stream: stream, Values: vals})
	pipe.PExpire(ctx, stream, kickStreamTTL)
	if _, err := pipe.Exec(ctx); err != nil {
		// The old connection lost its route anyway: it gets no more
		// deliveries and its owner node cleans it up when it closes.
		g.log.Warn("kick replaced connection on another node", "node", old.Node, "conn", old.Conn, "err", err)
	}
}
