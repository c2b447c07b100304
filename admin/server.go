// Package admin owns chatgate's server REST API: the operations of the
// Lanying IM server API (users, tokens, rosters, messages, push, groups) on
// fasthttp, with Lanying's paths, headers (app_id, access-token, user_id),
// {code, data, message} envelope and error codes, plus the OpenAPI document
// of what chatgate implements. docs/api.md is the reference.
package admin

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/valyala/fasthttp"
	"golang.org/x/sync/errgroup"
	"golang.org/x/time/rate"

	"github.com/chatgate/chatgate/domain/group"
	"github.com/chatgate/chatgate/files"
	"github.com/chatgate/chatgate/internal/auth"
	"github.com/chatgate/chatgate/internal/config"
	"github.com/chatgate/chatgate/store"
)

// Deps are what the REST API works with.
type Deps struct {
	Store   *store.Store
	Log     *slog.Logger
	Metrics prometheus.Registerer
	Now     func() time.Time
	// Node names this process; REST sends are answered through its
	// delivery stream, as a gateway's are.
	Node string
	// Partitions and PushPartitions must match the routers'.
	Partitions     int
	PushPartitions int
	// Push configures /push/notify (request_id and task retention).
	Push config.Push
	// GroupNotifier receives the notices of the /group operations. Nil:
	// the routers (notify.go), or group.LogNotifier, which only logs them,
	// in a process that cannot send.
	GroupNotifier group.Notifier
	// GroupLimits returns an app's group limits. Nil: group.DefaultLimits.
	GroupLimits func(app string) group.Limits
	// Files serves the /file and /group/file operations and runs the
	// file cleaner; nil: those operations are not served.
	Files *files.Service
}

// Server is the REST API of one process.
type Server struct {
	cfg     config.Admin
	deps    Deps
	st      *store.Store
	log     *slog.Logger
	now     func() time.Time
	routes  *routeTable
	openapi []byte
	apps    appCache
	limits  limiters
	grp     *group.Service
	metrics *metrics
	// background loops that live as long as Run (e.g. the delivery
	// stream reader that answers REST sends).
	background []func(context.Context) error
	ready      func() bool
	// notices delivers group and roster notices (notify.go); set with the
	// message routes.
	notices group.Notifier
}

// New builds the REST API.
func New(cfg config.Admin, deps Deps) (*Server, error) {
	if deps.Now == nil {
		deps.Now = time.Now
	}
	if deps.Log == nil {
		deps.Log = slog.Default()
	}
	s := &Server{
		cfg: cfg, deps: deps, st: deps.Store, log: deps.Log.With("role", config.RoleAdmin), now: deps.Now,
		apps:   appCache{ttl: cfg.AppCacheTTL, m: map[string]appEntry{}},
		limits: limiters{rps: cfg.RateLimit, burst: cfg.RateBurst, m: map[string]*rate.Limiter{}},
	}
	var all []*Route
	for _, group := range s.groups() {
		all = append(all, group()...)
	}
	t, err := newRouteTable(all)
	if err != nil {
		return nil, fmt.Errorf("admin: %w", err)
	}
	s.routes = t
	if s.openapi, err = buildOpenAPI(t); err != nil {
		return nil, fmt.Errorf("admin: openapi: %w", err)
	}
	if s.metrics, err = newMetrics(deps.Metrics); err != nil {
		return nil, fmt.Errorf("admin: metrics: %w", err)
	}
	notifier := deps.GroupNotifier
	if notifier == nil {
		// The message routes set it: the routers, or a LogNotifier.
		notifier = s.notices
	}
	s.grp = group.NewService(group.Deps{
		Store: deps.Store, Notifier: countingNotifier{next: notifier, counter: s.metrics.notices},
		Limits: deps.GroupLimits, Now: deps.Now, Log: s.log,
	})
	return s, nil
}

// groups lists the operation groups; each lives in its own file.
func (s *Server) groups() []func() []*Route {
	return []func() []*Route{
		s.userRoutes, s.tokenRoutes,
		s.rosterRoutes, s.messageRoutes,
		s.pushRoutes, s.groupRoutes, s.fileRoutes,
		s.consoleRoutes,
	}
}

// Routes returns every operation, sorted by path.
func (s *Server) Routes() []*Route { return s.routes.all }

// OpenAPI returns the OpenAPI 3 document of the API.
func (s *Server) OpenAPI() []byte { return s.openapi }

// Ready reports whether the API can answer.
func (s *Server) Ready() bool { return s.ready == nil || s.ready() }

// Serve answers requests on ln until ctx ends, then stops accepting and
// waits (up to drain) for requests in flight. The background loops (e.g.
// the reader that answers REST sends) run until those requests finished.
func (s *Server) Serve(ctx context.Context, ln net.Listener, drain time.Duration) error {
	bgCtx, bgCancel := context.WithCancel(context.WithoutCancel(ctx))
	defer bgCancel()
	bg, bgCtx := errgroup.WithContext(bgCtx)
	for _, fn := range s.background {
		bg.Go(func() error { return fn(bgCtx) })
	}
	srv := &fasthttp.Server{
		Handler:            s.Handler(),
		Name:               "chatgate",
		ReadTimeout:        s.cfg.ReadTimeout,
		WriteTimeout:       s.cfg.WriteTimeout,
		IdleTimeout:        2 * time.Minute,
		MaxRequestBodySize: s.cfg.MaxBodyBytes,
		// Oversize bodies are refused by fasthttp before the handler
		// runs; ErrorHandler turns that into the envelope.
		ErrorHandler: s.transportError,
		Logger:       fasthttpLogger{s.log},
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	var err error
	select {
	case err = <-errc:
		err = fmt.Errorf("admin: serve: %w", err)
	case <-bgCtx.Done():
		err = fmt.Errorf("admin: background loop stopped: %w", context.Cause(bgCtx))
		_ = srv.Shutdown()
		<-errc
	case <-ctx.Done():
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), drain)
		if serr := srv.ShutdownWithContext(sctx); serr != nil {
			s.log.Warn("REST API shutdown did not finish", "err", serr, "timeout", drain)
		}
		cancel()
		// Shutdown only closes listeners Serve has registered; one that
		// was cancelled before Serve got going would serve on forever.
		ln.Close()
		if serr := <-errc; serr != nil && !errors.Is(serr, net.ErrClosed) {
			err = fmt.Errorf("admin: serve: %w", serr)
		}
	}
	bgCancel()
	if berr := bg.Wait(); berr != nil && !errors.Is(berr, context.Canceled) && err == nil {
		err = fmt.Errorf("admin: %w", berr)
	}
	return err
}

type fasthttpLogger struct{ log *slog.Logger }

func (l fasthttpLogger) Printf(format string, args ...any) {
	l.log.Warn("fasthttp", "msg", fmt.Sprintf(format, args...))
}

func (s *Server) transportError(ctx *fasthttp.RequestCtx, err error) {
	if errors.Is(err, fasthttp.ErrBodyTooLarge) {
		ctx.SetStatusCode(fasthttp.StatusRequestEntityTooLarge)
		writeEnvelope(ctx, CodeBodyTooLarge, nil, fmt.Sprintf("request body over %d bytes", s.cfg.MaxBodyBytes))
		return
	}
	ctx.SetStatusCode(fasthttp.StatusBadRequest)
	writeEnvelope(ctx, CodeBadParam, nil, "malformed HTTP request")
}

// Handler is the fasthttp handler of the API.
func (s *Server) Handler() fasthttp.RequestHandler {
	return s.serve
}

func (s *Server) serve(hc *fasthttp.RequestCtx) {
	start := time.Now()
	method, path := string(hc.Method()), string(hc.Path())
	if s.serveConsole(hc, method, path) {
		return
	}
	if path == openAPIPath && method == fasthttp.MethodGet {
		hc.SetContentType("application/json")
		hc.SetBody(s.openapi)
		return
	}
	rt := s.routes.byKey[method+" "+path]
	if rt == nil {
		if methods, ok := s.routes.byPath[path]; ok {
			hc.Response.Header.Set("Allow", joinMethods(methods))
			hc.SetStatusCode(fasthttp.StatusMethodNotAllowed)
			writeEnvelope(hc, CodeNotFound, nil, method+" is not allowed on "+path)
		} else {
			hc.SetStatusCode(fasthttp.StatusNotFound)
			writeEnvelope(hc, CodeNotFound, nil, "no operation "+method+" "+path)
		}
		s.metrics.observe("unknown", CodeNotFound, start)
		return
	}
	// Not derived from hc: fasthttp ends a RequestCtx's Done at the start
	// of a shutdown, and a request in flight then must still finish (the
	// drain waits for it), not fail half-way.
	ctx, cancel := context.WithTimeout(context.Background(), s.cfg.RequestTimeout)
	defer cancel()
	data, err := s.dispatch(ctx, hc, rt)
	code := CodeOK
	if err != nil {
		e, business := asError(err)
		switch {
		case business:
		case errors.Is(err, context.DeadlineExceeded):
			// Expected while a router fails over: the caller gets the
			// documented 40503 and may resend (same transaction_id).
			s.log.Warn("request timed out", "op", method+" "+path, "err", err)
			e = &Error{Code: CodeUnavailable, Msg: "timed out; the operation may or may not have taken effect"}
		default:
			s.log.Error("request failed", "op", method+" "+path, "err", err)
		}
		code = e.Code
		if code == CodeRateLimited {
			hc.Response.Header.Set("Retry-After", "1")
		}
		writeEnvelope(hc, code, nil, e.Msg)
	} else {
		if data == nil {
			data = true
		}
		if p, ok := data.(*Page); ok {
			writePage(hc, p)
		} else {
			writeEnvelope(hc, CodeOK, data, "")
		}
	}
	s.metrics.observe(rt.Path, code, start)
}

// dispatch authenticates the request as the route demands and runs it.
func (s *Server) dispatch(ctx context.Context, hc *fasthttp.RequestCtx, rt *Route) (any, error) {
	appID := string(hc.Request.Header.Peek("app_id"))
	if appID == "" {
		return nil, Errf(CodeAppNotFound, "app_id header is required")
	}
	app, err := s.apps.get(ctx, s.st, appID, s.now())
	if err != nil {
		return nil, err
	}
	if !s.limits.allow(appID) {
		return nil, Errf(CodeRateLimited, "request rate limit of app %s exceeded (%g/s); retry later", appID, s.cfg.RateLimit)
	}
	r := &Req{Ctx: ctx, HTTP: hc, App: app, Route: rt}
	if rt.Access != AccessPublic {
		if err := s.authenticate(r); err != nil {
			return nil, err
		}
	}
	if rt.Access == AccessAdmin && !r.Admin {
		return nil, Errf(CodeNoPermission, "this operation needs an admin token")
	}
	if r.Claims != nil && !r.Admin {
		// A user token: its user must still be allowed to act, and the
		// token must not be revoked. This read also answers AccessUser.
		if err := s.checkUserToken(ctx, r); err != nil {
			return nil, err
		}
	} else if rt.Access == AccessUser {
		uid, err := r.User()
		if err != nil {
			return nil, err
		}
		if err := s.checkUser(ctx, app.ID, uid); err != nil {
			return nil, err
		}
	}
	return rt.Handle(r)
}

// checkUserToken refuses a user token whose user is missing, deleted or
// disabled, or that was revoked (auth.CheckUser, the gateway's rule).
func (s *Server) checkUserToken(ctx context.Context, r *Req) error {
	uid := r.UserID
	st, err := s.st.UserAuth(ctx, r.App.ID, uid, !r.App.RequireRegistered())
	if err != nil {
		return err
	}
	err = auth.CheckUser(r.Claims, st.Status(), r.App.RequireRegistered())
	switch {
	case errors.Is(err, auth.ErrRevoked):
		return Errf(CodeInvalidToken, "access-token revoked; log in again")
	case errors.Is(err, auth.ErrUserDisabled):
		return Errf(CodeUserDisabled, "user %d is disabled", uid)
	case err != nil, st.State == store.UserMissing && r.Route.Access == AccessUser:
		return Errf(CodeUserNotFound, "user %d does not exist", uid)
	}
	return nil
}

// authenticate verifies the access-token and works out the acting user.
func (s *Server) authenticate(r *Req) error {
	tok := string(r.HTTP.Request.Header.Peek("access-token"))
	if tok == "" {
		return Errf(CodeMissingToken, "access-token header is required")
	}
	claims, err := auth.Verify([]byte(r.App.Secret), r.App.ID, tok, s.now())
	if err != nil {
		msg := "invalid access-token"
		switch {
		case errors.Is(err, auth.ErrExpired):
			msg = "access-token expired"
		case errors.Is(err, auth.ErrAppMismatch):
			msg = "access-token belongs to another app"
		}
		return Errf(CodeInvalidToken, "%s", msg)
	}
	r.Claims = claims
	r.Admin = claims.Role == auth.RoleAdmin
	var header int64
	if v := r.HTTP.Request.Header.Peek("user_id"); len(v) > 0 {
		header, err = strconv.ParseInt(string(v), 10, 64)
		if err != nil || header <= 0 {
			return BadParam("user_id", "header must be a positive integer")
		}
	}
	switch {
	case r.Admin:
		r.UserID = header
	case header != 0 && header != claims.UserID():
		return Errf(CodeNoPermission, "a user token acts only as its own user")
	default:
		r.UserID = claims.UserID()
	}
	return nil
}

// checkUser refuses a user that does not exist or is disabled.
func (s *Server) checkUser(ctx context.Context, app string, uid int64) error {
	state, err := s.st.UserState(ctx, app, uid)
	if err != nil {
		return err
	}
	switch state {
	case store.UserMissing:
		return Errf(CodeUserNotFound, "user %d does not exist", uid)
	case store.UserDisabled:
		return Errf(CodeUserDisabled, "user %d is disabled", uid)
	}
	return nil
}

// envelope is Lanying's response body.
type envelope struct {
	Code    int    `json:"code"`
	Data    any    `json:"data,omitempty"`
	Message string `json:"message,omitempty"`
}

func writeEnvelope(hc *fasthttp.RequestCtx, code int, data any, msg string) {
	hc.SetContentType("application/json; charset=utf-8")
	b, err := json.Marshal(envelope{Code: code, Data: data, Message: msg})
	if err != nil {
		b = []byte(`{"code":20000,"message":"server error: cannot encode the result"}`)
	}
	hc.SetBody(b)
}

func joinMethods(ms []string) string {
	out := ""
	for i, m := range ms {
		if i > 0 {
			out += ", "
		}
		out += m
	}
	return out
}

// appCache keeps apps (their secrets) for a short time: every request needs
// its app, and reading it from Redis each time would double the cost of a
// cheap operation. A rotated secret takes effect within admin.app_cache_ttl.
type appCache struct {
	ttl time.Duration
	mu  sync.Mutex
	m   map[string]appEntry
}

type appEntry struct {
	app     *store.App
	expires time.Time
}

func (c *appCache) get(ctx context.Context, st *store.Store, id string, now time.Time) (*store.App, error) {
	c.mu.Lock()
	e, ok := c.m[id]
	c.mu.Unlock()
	if ok && now.Before(e.expires) {
		if e.app == nil {
			return nil, Errf(CodeAppNotFound, "app_id %s does not exist", clip(id))
		}
		return e.app, nil
	}
	app, err := st.GetApp(ctx, id)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return nil, err
	}
	c.mu.Lock()
	// Unknown apps are remembered too, so a flood of bad app ids costs
	// no Redis; the map is bounded so that it cannot be grown without end.
	if len(c.m) > 10_000 {
		clear(c.m)
	}
	c.m[id] = appEntry{app: app, expires: now.Add(c.ttl)}
	c.mu.Unlock()
	if app == nil {
		return nil, Errf(CodeAppNotFound, "app_id %s does not exist", clip(id))
	}
	return app, nil
}

// limiters are the per-app token buckets of this process.
type limiters struct {
	rps   float64
	burst int
	mu    sync.Mutex
	m     map[string]*rate.Limiter
}

func (l *limiters) allow(app string) bool {
	if l.rps <= 0 {
		return true
	}
	l.mu.Lock()
	lim := l.m[app]
	if lim == nil {
		lim = rate.NewLimiter(rate.Limit(l.rps), l.burst)
		l.m[app] = lim
	}
	l.mu.Unlock()
	return lim.Allow()
}
