package group

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"github.com/chatgate/chatgate/store"
)

// Deps are what a Service works with.
type Deps struct {
	Store *store.Store
	// Notifier receives a Notice after every successful change. Nil: a
	// LogNotifier on Log.
	Notifier Notifier
	// Limits returns an app's limits. Nil: DefaultLimits for every app.
	Limits func(app string) Limits
	Now    func() time.Time
	Log    *slog.Logger
}

// Service applies the group rules. It is safe for concurrent use.
type Service struct {
	st     *store.Store
	notify Notifier
	limits func(string) Limits
	now    func() time.Time
	log    *slog.Logger
}

// NewService returns a Service over d.
func NewService(d Deps) *Service {
	if d.Log == nil {
		d.Log = slog.Default()
	}
	if d.Notifier == nil {
		d.Notifier = LogNotifier{Log: d.Log}
	}
	if d.Limits == nil {
		d.Limits = func(string) Limits { return DefaultLimits() }
	}
	if d.Now == nil {
		d.Now = time.Now
	}
	return &Service{st: d.Store, notify: d.Notifier, limits: d.Limits, now: d.Now, log: d.Log}
}

// Limits returns the limits of app.
func (s *Service) Limits(app string) Limits { return s.limits(app) }

func (s *Service) nowMs() int64 { return s.now().UnixMilli() }

// emit hands a notice to the Notifier. The change is already stored, so a
// failed notice does not undo or fail the call: it is logged (clients
// still see the state by reading it).
func (s *Service) emit(ctx context.Context, app string, n Notice) {
	if err := s.notify.Notify(ctx, app, n); err != nil {
		s.log.WarnContext(ctx, "group notice not delivered", "app", app, "kind", n.Kind, "group", n.Group, "err", err)
	}
}

// state is a live group as one actor sees it.
type state struct {
	g    *store.Group
	role Role // the actor's; RoleOwner for the backend
	// backend is the app's backend acting (not a member).
	backend bool
}

// load reads a live group and the actor's role in it.
func (s *Service) load(ctx context.Context, app string, gid int64, a Actor) (*state, error) {
	if gid <= 0 {
		return nil, refuse(ErrBadInput, "group_id must be a positive group id")
	}
	g, err := s.st.GetGroup(ctx, app, gid)
	if errors.Is(err, store.ErrNotFound) || (err == nil && g.Status != store.GroupLive) {
		return nil, refuse(ErrGroupNotFound, "group %d does not exist", gid)
	}
	if err != nil {
		return nil, err
	}
	st := &state{g: g}
	if a.Backend() {
		st.role, st.backend = RoleOwner, true
		return st, nil
	}
	st.role, err = s.roleOf(ctx, app, g, a.User)
	return st, err
}

func (s *Service) roleOf(ctx context.Context, app string, g *store.Group, uid int64) (Role, error) {
	if uid == g.Owner {
		return RoleOwner, nil
	}
	m, adm, err := s.st.Memberships(ctx, app, g.ID, []int64{uid})
	switch {
	case err != nil:
		return RoleNone, err
	case adm[0] && m[0]:
		return RoleAdmin, nil
	case m[0]:
		return RoleMember, nil
	}
	return RoleNone, nil
}

// need refuses an actor below min.
func (st *state) need(min Role) error {
	if st.role >= min {
		return nil
	}
	switch min {
	case RoleOwner:
		return refuse(ErrNeedOwner, "only the owner of group %d may do this", st.g.ID)
	case RoleAdmin:
		return refuse(ErrNeedAdmin, "only an admin of group %d may do this", st.g.ID)
	}
	return refuse(ErrNeedMember, "only a member of group %d may do this", st.g.ID)
}

// canInvite: admins always, members when allow_member_invitation is on.
func (st *state) canInvite() error {
	if st.role == RoleMember && st.g.MemberInvite {
		return nil
	}
	return st.need(RoleAdmin)
}

// canModify: admins always, members when allow_member_modify is on.
func (st *state) canModify() error {
	if st.role == RoleMember && st.g.MemberModify {
		return nil
	}
	return st.need(RoleAdmin)
}

// Result is the outcome of a batch operation for one user.
type Result struct {
	User   int64
	OK     bool
	Reason string
	// kind is why it failed, for the single-user operations that answer
	// a failure as an error.
	kind Kind
}

// Err returns the failure as an *Error (nil for a success).
func (r Result) Err() error {
	if r.OK {
		return nil
	}
	k := r.kind
	if k == 0 {
		k = ErrBadInput
	}
	return refuse(k, "user %d: %s", r.User, r.Reason)
}

func fail(u int64, format string, args ...any) Result {
	return Result{User: u, Reason: fmt.Sprintf(format, args...)}
}

// checkUsers validates a batch of user ids: positive, at most MaxBatch,
// no duplicates (kept in order).
func checkUsers(uids []int64) ([]int64, error) {
	if len(uids) == 0 {
		return nil, refuse(ErrBadInput, "user_list must name at least one user")
	}
	if len(uids) > MaxBatch {
		return nil, refuse(ErrBadInput, "user_list has %d users, at most %d", len(uids), MaxBatch)
	}
	out := make([]int64, 0, len(uids))
	for _, u := range uids {
		if u <= 0 {
			return nil, refuse(ErrBadInput, "user_list: %d is not a user id", u)
		}
		if !slices.Contains(out, u) {
			out = append(out, u)
		}
	}
	return out, nil
}

func checkLen(name, v string, max int) error {
	if len(v) > max {
		return refuse(ErrBadInput, "%s is %d bytes, at most %d", name, len(v), max)
	}
	return nil
}

func okUsers(rs []Result) []int64 {
	var out []int64
	for _, r := range rs {
		if r.OK {
			out = append(out, r.User)
		}
	}
	return out
}
