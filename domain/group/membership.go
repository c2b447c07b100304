package group

import (
	"context"
	"errors"
	"slices"
	"sort"
	"strconv"

	"github.com/chatgate/chatgate/store"
)

// Membership: creating a group, joining it (invitation with the invitee's
// group_confirm, application with the group's apply_approval, QR code),
// leaving, kicking, transferring and destroying it.

// CreateInput is a new group.
type CreateInput struct {
	Name, Avatar, Description string
	Type                      int32
	// Members are invited by the owner as /group/invite would.
	Members []int64
}

// Create makes the actor the owner of a new group (with the settings of a
// new Lanying group: members may invite, applications need an admin,
// history hidden from new members, read receipts off), then invites
// Members. It refuses the app's backend: a group needs an owner.
func (s *Service) Create(ctx context.Context, app string, a Actor, in CreateInput) (*store.Group, []Result, error) {
	if a.Backend() {
		return nil, nil, refuse(ErrBadInput, "user_id: header required: a group needs an owner")
	}
	if in.Type != TypePrivate && in.Type != TypeChatroom {
		return nil, nil, refuse(ErrBadInput, "type must be 0 (private group) or 2 (chatroom), got %d", in.Type)
	}
	for _, c := range []struct {
		n, v string
		max  int
	}{{"name", in.Name, MaxNameBytes}, {"avatar", in.Avatar, MaxAvatarBytes}, {"description", in.Description, MaxDescriptionBytes}} {
		if err := checkLen(c.n, c.v, c.max); err != nil {
			return nil, nil, err
		}
	}
	var members []int64
	if len(in.Members) > 0 {
		var err error
		if members, err = checkUsers(in.Members); err != nil {
			return nil, nil, err
		}
	}
	lim := s.limits(app)
	c, err := s.st.CountGroups(ctx, app, a.User)
	if err != nil {
		return nil, nil, err
	}
	switch {
	case lim.MaxGroupsPerApp > 0 && c.App >= lim.MaxGroupsPerApp:
		return nil, nil, refuse(ErrAppGroupLimit, "the app has %d groups, its limit", c.App)
	case lim.MaxCreatedPerUser > 0 && c.Owned >= lim.MaxCreatedPerUser:
		return nil, nil, refuse(ErrUserCreatedLimit, "user %d owns %d groups, the limit", a.User, c.Owned)
	case lim.MaxJoinedPerUser > 0 && c.Joined >= lim.MaxJoinedPerUser:
		return nil, nil, refuse(ErrUserJoinedLimit, "user %d is in %d groups, the limit", a.User, c.Joined)
	}
	now := s.nowMs()
	g := &store.Group{
		Name: in.Name, Avatar: in.Avatar, Description: in.Description, Type: in.Type, Owner: a.User,
		Capacity: lim.MaxMembers, Created: now, Updated: now,
		MemberInvite: true, ApplyApproval: ApplyApprove,
	}
	if err := s.st.CreateGroup(ctx, app, g); err != nil {
		return nil, nil, err
	}
	s.emit(ctx, app, Notice{Kind: KindCreated, Group: g.ID, Actor: a.User, Users: []int64{a.User},
		Data: map[string]string{"name": g.Name}})
	var res []Result
	members = slices.DeleteFunc(members, func(u int64) bool { return u == a.User })
	if len(members) > 0 {
		st := &state{g: g, role: RoleOwner}
		if res, err = s.invite(ctx, app, st, a, members, ""); err != nil {
			return g, nil, err
		}
		if g, err = s.st.GetGroup(ctx, app, g.ID); err != nil {
			return nil, nil, err
		}
	}
	return g, res, nil
}

// join adds existing users to a live group: the per-user joined limit,
// then the group's checks in one script (blacklist, kicks, capacity).
// Joined users get one group_member_joined notice.
func (s *Service) join(ctx context.Context, app string, st *state, actor int64, uids []int64, via string) ([]Result, error) {
	lim := s.limits(app)
	res := make([]Result, len(uids))
	var try []int64
	var at []int
	if lim.MaxJoinedPerUser > 0 {
		counts, err := s.st.JoinedCounts(ctx, app, uids)
		if err != nil {
			return nil, err
		}
		for i, u := range uids {
			if counts[i] >= lim.MaxJoinedPerUser {
				res[i] = Result{User: u, Reason: "the user is in too many groups", kind: ErrUserJoinedLimit}
				continue
			}
			try, at = append(try, u), append(at, i)
		}
	} else {
		try = uids
		for i := range uids {
			at = append(at, i)
		}
	}
	capacity := st.g.Capacity
	if lim.MaxMembers > 0 && (capacity <= 0 || capacity > lim.MaxMembers) {
		capacity = lim.MaxMembers
	}
	outs, err := s.st.JoinGroup(ctx, app, st.g.ID, try, s.nowMs(), capacity, lim.MaxKicks)
	if errors.Is(err, store.ErrGroupGone) {
		return nil, refuse(ErrGroupNotFound, "group %d does not exist", st.g.ID)
	}
	if err != nil {
		return nil, err
	}
	for j, o := range outs {
		u := try[j]
		r := Result{User: u}
		switch o {
		case store.JoinOK:
			r.OK = true
		case store.JoinAlreadyMember:
			r.Reason, r.kind = "already a member", ErrAlreadyMember
		case store.JoinBlocked:
			r.Reason, r.kind = "the group blacklisted the user", ErrBlacklisted
		case store.JoinKickedOften:
			r.Reason, r.kind = "kicked from the group too often to join again", ErrKickedTooOften
		default:
			r.Reason, r.kind = "the group is full", ErrMemberLimit
		}
		res[at[j]] = r
	}
	if joined := okUsers(res); len(joined) > 0 {
		s.emit(ctx, app, Notice{Kind: KindMemberJoined, Group: st.g.ID, Actor: actor, Users: joined,
			Data: map[string]string{"via": via}})
	}
	return res, nil
}

// Invite invites users: admins may, members when allow_member_invitation
// is on. A user with group_confirm on gets an invitation to answer
// (group_invited); the others join at once. Per-user failures (no such
// user, already a member, blacklisted, kicked too often, over a limit) are
// results, not errors.
func (s *Service) Invite(ctx context.Context, app string, a Actor, gid int64, uids []int64, reason string) ([]Result, error) {
	uids, err := checkUsers(uids)
	if err != nil {
		return nil, err
	}
	if err := checkLen("reason", reason, MaxReasonBytes); err != nil {
		return nil, err
	}
	st, err := s.load(ctx, app, gid, a)
	if err != nil {
		return nil, err
	}
	if err := st.canInvite(); err != nil {
		return nil, err
	}
	return s.invite(ctx, app, st, a, uids, reason)
}

func (s *Service) invite(ctx context.Context, app string, st *state, a Actor, uids []int64, reason string) ([]Result, error) {
	states, confirm, err := s.st.Invitees(ctx, app, uids)
	if err != nil {
		return nil, err
	}
	member, _, err := s.st.Memberships(ctx, app, st.g.ID, uids)
	if err != nil {
		return nil, err
	}
	blocked, err := s.st.MemberValues(ctx, store.GroupBlockedKey(app, st.g.ID), uids)
	if err != nil {
		return nil, err
	}
	res := make([]Result, len(uids))
	var direct []int64
	var at []int
	now := s.nowMs()
	ttl := s.limits(app).InvitationTTL.Milliseconds()
	for i, u := range uids {
		switch {
		case states[i] != store.UserActive:
			res[i] = fail(u, "the user does not exist or is disabled")
		case member[i]:
			res[i] = fail(u, "already a member")
		case blocked[i] != "":
			res[i] = fail(u, "the group blacklisted the user")
		case confirm[i]:
			inv := store.GroupInvitation{Group: st.g.ID, Inviter: a.User, Reason: reason, Updated: now, Expires: now + ttl}
			if err := s.st.PutRecord(ctx, store.UserGroupInvitesKey(app, u), st.g.ID, inv); err != nil {
				return nil, err
			}
			res[i] = Result{User: u, OK: true}
			s.emit(ctx, app, Notice{Kind: KindInvited, Actor: a.User, Users: []int64{u}, To: []int64{u},
				Data: map[string]string{"group_id": id(st.g.ID), "reason": reason, "expire_time": id(inv.Expires), "name": st.g.Name}})
		default:
			direct, at = append(direct, u), append(at, i)
		}
	}
	if len(direct) > 0 {
		jr, err := s.join(ctx, app, st, a.User, direct, "invite")
		if err != nil {
			return nil, err
		}
		for j, r := range jr {
			res[at[j]] = r
		}
	}
	return res, nil
}

// HandleInvite answers the acting user's invitation into gid (from
// inviter, or from anyone when inviter is 0).
func (s *Service) HandleInvite(ctx context.Context, app string, a Actor, gid, inviter int64, approve bool) error {
	if a.Backend() {
		return refuse(ErrBadInput, "user_id: header required: the invitee answers")
	}
	key := store.UserGroupInvitesKey(app, a.User)
	var inv store.GroupInvitation
	err := s.st.GetRecord(ctx, key, gid, &inv)
	now := s.nowMs()
	switch {
	case errors.Is(err, store.ErrNotFound):
		return refuse(ErrInvitationHandled, "no invitation into group %d", gid)
	case err != nil:
		return err
	case inv.Status != store.ApplicationPending || inv.Expires < now || (inviter != 0 && inviter != inv.Inviter):
		return refuse(ErrInvitationHandled, "the invitation into group %d expired or was answered", gid)
	}
	st, err := s.load(ctx, app, gid, Actor{User: inv.Inviter})
	if err != nil {
		return err
	}
	if approve {
		res, err := s.join(ctx, app, st, a.User, []int64{a.User}, "invite")
		if err != nil {
			return err
		}
		if err := res[0].Err(); err != nil {
			return err
		}
		inv.Status = store.ApplicationAccepted
	} else {
		inv.Status = store.ApplicationDeclined
	}
	inv.Updated = now
	if err := s.st.PutRecord(ctx, key, gid, inv); err != nil {
		return err
	}
	if !approve {
		s.emit(ctx, app, Notice{Kind: KindInvitationDeclined, Actor: a.User, Users: []int64{a.User},
			To: []int64{inv.Inviter}, Data: map[string]string{"group_id": id(gid)}})
	}
	return nil
}

// Invitation is an invitation as listed.
type Invitation = store.GroupInvitation

// Invitations lists the invitations to the acting user, by group id,
// after the group id cursor.
func (s *Service) Invitations(ctx context.Context, app string, a Actor, after int64, limit int) ([]Invitation, bool, error) {
	if a.Backend() {
		return nil, false, refuse(ErrBadInput, "user_id: header required: the invitee lists")
	}
	all, err := store.AllRecords[store.GroupInvitation](ctx, s.st, store.UserGroupInvitesKey(app, a.User))
	if err != nil {
		return nil, false, err
	}
	out := make([]Invitation, 0, len(all))
	for gid, inv := range all {
		if gid > after {
			inv.Group = gid
			out = append(out, inv)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Group < out[j].Group })
	more := len(out) > limit
	if more {
		out = out[:limit]
	}
	return out, more, nil
}

// Apply asks for membership as the group's apply_approval says: 0 joins at
// once, 1 files an application the admins answer (group_application to the
// owner and admins), 2 refuses.
func (s *Service) Apply(ctx context.Context, app string, a Actor, gid int64, reason string) (joined bool, err error) {
	if a.Backend() {
		return false, refuse(ErrBadInput, "user_id: header required: the applicant applies")
	}
	if err := checkLen("reason", reason, MaxReasonBytes); err != nil {
		return false, err
	}
	st, err := s.load(ctx, app, gid, a)
	if err != nil {
		return false, err
	}
	if st.role != RoleNone {
		return false, refuse(ErrAlreadyMember, "user %d is already a member of group %d", a.User, gid)
	}
	blocked, err := s.st.MemberValues(ctx, store.GroupBlockedKey(app, gid), []int64{a.User})
	if err != nil {
		return false, err
	}
	if blocked[0] != "" {
		return false, refuse(ErrBlacklisted, "group %d blacklisted user %d", gid, a.User)
	}
	switch st.g.ApplyApproval {
	case ApplyRejectAll:
		return false, refuse(ErrNoPermission, "group %d takes no applications", gid)
	case ApplyAcceptAll:
		res, err := s.join(ctx, app, st, a.User, []int64{a.User}, "apply")
		if err != nil {
			return false, err
		}
		return true, res[0].Err()
	}
	now := s.nowMs()
	ap := store.GroupApplication{Applicant: a.User, Reason: reason, Created: now,
		Expires: now + s.limits(app).ApplicationTTL.Milliseconds()}
	if err := s.st.PutRecord(ctx, store.GroupApplicationsKey(app, gid), a.User, ap); err != nil {
		return false, err
	}
	admins, err := s.st.GroupAdmins(ctx, app, gid)
	if err != nil {
		return false, err
	}
	s.emit(ctx, app, Notice{Kind: KindApplication, Actor: a.User, Users: []int64{a.User},
		To: append([]int64{st.g.Owner}, admins...), Data: map[string]string{"group_id": id(gid), "reason": reason}})
	return false, nil
}

// HandleApply answers applicant's pending application (admins).
func (s *Service) HandleApply(ctx context.Context, app string, a Actor, gid, applicant int64, approve bool) error {
	if applicant <= 0 {
		return refuse(ErrBadInput, "user_id must be the applicant's id")
	}
	st, err := s.load(ctx, app, gid, a)
	if err != nil {
		return err
	}
	if err := st.need(RoleAdmin); err != nil {
		return err
	}
	key := store.GroupApplicationsKey(app, gid)
	var ap store.GroupApplication
	err = s.st.GetRecord(ctx, key, applicant, &ap)
	now := s.nowMs()
	switch {
	case errors.Is(err, store.ErrNotFound):
		return refuse(ErrApplicationHandled, "user %d has no application to group %d", applicant, gid)
	case err != nil:
		return err
	case ap.Status != store.ApplicationPending || ap.Expires < now:
		return refuse(ErrApplicationHandled, "the application of user %d expired or was answered", applicant)
	}
	kind := KindApplicationDeclined
	ap.Status = store.ApplicationDeclined
	if approve {
		res, err := s.join(ctx, app, st, a.User, []int64{applicant}, "apply")
		if err != nil {
			return err
		}
		if err := res[0].Err(); err != nil {
			return err
		}
		kind, ap.Status = KindApplicationAccepted, store.ApplicationAccepted
	}
	if err := s.st.PutRecord(ctx, key, applicant, ap); err != nil {
		return err
	}
	s.emit(ctx, app, Notice{Kind: kind, Actor: a.User, Users: []int64{applicant}, To: []int64{applicant},
		Data: map[string]string{"group_id": id(gid)}})
	return nil
}

// Application is an application as listed.
type Application struct {
	Group int64
	store.GroupApplication
}

// Applications lists the applications to groups the actor administers,
// by (group, applicant), from offset.
func (s *Service) Applications(ctx context.Context, app string, a Actor, gids []int64, offset, limit int) ([]Application, int, error) {
	if len(gids) == 0 || len(gids) > MaxApplicationGroups {
		return nil, 0, refuse(ErrBadInput, "group_list must name 1 to %d groups", MaxApplicationGroups)
	}
	var out []Application
	for _, gid := range gids {
		st, err := s.load(ctx, app, gid, a)
		if err != nil {
			return nil, 0, err
		}
		if err := st.need(RoleAdmin); err != nil {
			return nil, 0, err
		}
		all, err := store.AllRecords[store.GroupApplication](ctx, s.st, store.GroupApplicationsKey(app, gid))
		if err != nil {
			return nil, 0, err
		}
		for u, ap := range all {
			ap.Applicant = u
			out = append(out, Application{Group: gid, GroupApplication: ap})
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Group != out[j].Group {
			return out[i].Group < out[j].Group
		}
		return out[i].Applicant < out[j].Applicant
	})
	total := len(out)
	if offset > total {
		offset = total
	}
	out = out[offset:]
	if len(out) > limit {
		out = out[:limit]
	}
	return out, total, nil
}

// JoinByQRCode joins the acting user to the group a QR code (signed by
// SignQRCode with the app's secret) invites to, while the code is valid
// and its signer may still invite.
func (s *Service) JoinByQRCode(ctx context.Context, app string, secret []byte, a Actor, info string) (int64, error) {
	if a.Backend() {
		return 0, refuse(ErrBadInput, "user_id: header required: the user who scanned the code joins")
	}
	q, err := DecodeQRCode(secret, app, info)
	if err != nil {
		return 0, err
	}
	if q.Expires < s.nowMs() {
		return 0, refuse(ErrQRCodeExpired, "the QR code expired")
	}
	signer, err := s.load(ctx, app, q.Group, Actor{User: q.Inviter})
	if err != nil {
		return 0, err
	}
	if signer.canInvite() != nil {
		return 0, refuse(ErrQRCodeInvalid, "the QR code's signer may no longer invite to group %d", q.Group)
	}
	res, err := s.join(ctx, app, signer, a.User, []int64{a.User}, "qrcode")
	if err != nil {
		return 0, err
	}
	return q.Group, res[0].Err()
}

// Kick removes members: admins kick members, only the owner (or the
// backend) kicks admins, nobody kicks the owner. Each kick counts towards
// the app's MaxKicks for that user and group.
func (s *Service) Kick(ctx context.Context, app string, a Actor, gid int64, uids []int64) ([]Result, error) {
	return s.removeOthers(ctx, app, a, gid, uids, "kicked", func(ok []int64) error {
		if err := s.st.RemoveMembers(ctx, app, gid, ok, true); err != nil {
			return err
		}
		s.emit(ctx, app, Notice{Kind: KindMemberKicked, Group: gid, Actor: a.User, Users: ok, To: ok})
		return nil
	})
}

// removeOthers checks the actor may act on each member of uids (kick, ban,
// blacklist) and runs apply on those it may.
func (s *Service) removeOthers(ctx context.Context, app string, a Actor, gid int64, uids []int64, verb string, apply func([]int64) error) ([]Result, error) {
	uids, err := checkUsers(uids)
	if err != nil {
		return nil, err
	}
	st, err := s.load(ctx, app, gid, a)
	if err != nil {
		return nil, err
	}
	if err := st.need(RoleAdmin); err != nil {
		return nil, err
	}
	member, admin, err := s.st.Memberships(ctx, app, gid, uids)
	if err != nil {
		return nil, err
	}
	res := make([]Result, len(uids))
	var ok []int64
	for i, u := range uids {
		switch {
		case u == st.g.Owner:
			res[i] = fail(u, "the owner cannot be %s", verb)
			res[i].kind = ErrNeedOwner
		case !member[i]:
			res[i] = fail(u, "not a member")
			res[i].kind = ErrNotMember
		case admin[i] && st.role != RoleOwner:
			res[i] = fail(u, "only the owner may act on an admin")
			res[i].kind = ErrNeedOwner
		default:
			res[i] = Result{User: u, OK: true}
			ok = append(ok, u)
		}
	}
	if len(ok) > 0 {
		if err := apply(ok); err != nil {
			return nil, err
		}
	}
	return res, nil
}

// Leave takes the acting member out of the group; the owner must transfer
// the group first.
func (s *Service) Leave(ctx context.Context, app string, a Actor, gid int64) error {
	if a.Backend() {
		return refuse(ErrBadInput, "user_id: header required: the member leaves")
	}
	st, err := s.load(ctx, app, gid, a)
	if err != nil {
		return err
	}
	switch st.role {
	case RoleNone:
		return refuse(ErrNotMember, "user %d is not a member of group %d", a.User, gid)
	case RoleOwner:
		return refuse(ErrOwnerCannotLeave, "the owner cannot leave group %d: transfer it first", gid)
	}
	if err := s.st.RemoveMembers(ctx, app, gid, []int64{a.User}, false); err != nil {
		return err
	}
	s.emit(ctx, app, Notice{Kind: KindMemberLeft, Group: gid, Actor: a.User, Users: []int64{a.User}, To: []int64{a.User}})
	return nil
}

// Transfer makes a member the owner (the owner or the backend may); the
// old owner stays a member.
func (s *Service) Transfer(ctx context.Context, app string, a Actor, gid, newOwner int64) error {
	if newOwner <= 0 {
		return refuse(ErrBadInput, "new_owner must be a user id")
	}
	st, err := s.load(ctx, app, gid, a)
	if err != nil {
		return err
	}
	if err := st.need(RoleOwner); err != nil {
		return err
	}
	if newOwner == st.g.Owner {
		return refuse(ErrBadInput, "new_owner is already the owner")
	}
	role, err := s.roleOf(ctx, app, st.g, newOwner)
	if err != nil {
		return err
	}
	if role == RoleNone {
		return refuse(ErrTransferToNonMember, "user %d is not a member of group %d", newOwner, gid)
	}
	if lim := s.limits(app).MaxCreatedPerUser; lim > 0 {
		c, err := s.st.CountGroups(ctx, app, newOwner)
		if err != nil {
			return err
		}
		if c.Owned >= lim {
			return refuse(ErrUserCreatedLimit, "user %d owns %d groups, the limit", newOwner, c.Owned)
		}
	}
	if err := s.st.TransferGroup(ctx, app, gid, st.g.Owner, newOwner, s.nowMs()); err != nil {
		return err
	}
	s.emit(ctx, app, Notice{Kind: KindOwnerTransferred, Group: gid, Actor: a.User, Users: []int64{newOwner},
		Data: map[string]string{"old_owner": id(st.g.Owner)}})
	return nil
}

// Destroy dissolves the group (owner or backend): every member is out, and
// the group answers 20001 from then on.
func (s *Service) Destroy(ctx context.Context, app string, a Actor, gid int64) error {
	st, err := s.load(ctx, app, gid, a)
	if err != nil {
		return err
	}
	if err := st.need(RoleOwner); err != nil {
		return err
	}
	members, err := s.st.DestroyGroup(ctx, app, gid, s.nowMs())
	if err != nil {
		return err
	}
	s.emit(ctx, app, Notice{Kind: KindDestroyed, Group: gid, Actor: a.User, To: members})
	return nil
}

func id(n int64) string { return strconv.FormatInt(n, 10) }
