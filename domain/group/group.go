// Package group owns the rules of managed groups, whatever REST dialect
// drives them: roles (owner, admins, members), who may do what, what each
// group setting changes, invitations and applications with their consent
// and expiry, the blacklist, bans, per-app limits, announcements and
// signed QR-code invitations. It stores through store/ and reports every
// change as a Notice to a Notifier.
//
// A dialect handler (admin/ for the Lanying API; JMessage, RongCloud and
// Tencent IM facades later) parses its wire format, builds an Actor and
// calls a Service method; a refused call returns an *Error whose Kind the
// handler maps to its own error code. The package imports no HTTP code.
//
//	svc := group.NewService(group.Deps{Store: st, Notifier: n, Limits: lim})
//	res, err := svc.Invite(ctx, "app", group.Actor{User: owner}, gid, []int64{a, b}, "")
package group

import (
	"fmt"
	"time"
)

// Role is what a user is in a group.
type Role int

const (
	RoleNone   Role = iota // not a member
	RoleMember             // a member
	RoleAdmin              // an admin (a member)
	RoleOwner              // the owner (a member)
)

func (r Role) String() string {
	return [...]string{"none", "member", "admin", "owner"}[r]
}

// Actor is who calls: a user (User > 0), or the app's backend (an admin
// token acting as nobody: User == 0), which may do whatever an owner may
// but is not a member.
type Actor struct {
	User int64
}

// Backend reports whether the actor is the app's backend.
func (a Actor) Backend() bool { return a.User == 0 }

// Kind classifies a refused call; a dialect maps it to its error code.
type Kind int

// Kinds of refusals. The comment gives the Lanying code admin/ answers.
const (
	ErrBadInput             Kind = iota + 1 // 10002
	ErrUserNotFound                         // 10000
	ErrNoPermission                         // 10010: the group takes no applications, a user acting for another
	ErrGroupNotFound                        // 20001 (also a destroyed group)
	ErrNotMember                            // 20002: the user named is not a member
	ErrBadPushMode                          // 20003
	ErrOwnerCannotLeave                     // 20004
	ErrTransferToNonMember                  // 20005
	ErrAppGroupLimit                        // 20007
	ErrUserCreatedLimit                     // 20008
	ErrUserJoinedLimit                      // 20009
	ErrMemberLimit                          // 20010
	ErrNeedMember                           // 20011: the actor must be a member
	ErrNeedAdmin                            // 20012: the actor must be an admin or the owner
	ErrNeedOwner                            // 20013: the actor must be the owner
	ErrApplicationHandled                   // 20014: expired or already handled
	ErrInvitationHandled                    // 20015: expired or already handled
	ErrKickedTooOften                       // 20016
	ErrAlreadyMember                        // 20017
	ErrBlacklisted                          // 20018: already blacklisted, or blacklisted by the group
	ErrAnnouncementNotFound                 // 20020
	ErrAnnouncementDisabled                 // 20021: members may not post while allow_member_modify is off
	ErrQRCodeInvalid                        // 20024
	ErrQRCodeExpired                        // 20025
)

// Error is a refused call.
type Error struct {
	Kind Kind
	Msg  string
}

func (e *Error) Error() string { return "group: " + e.Msg }

func refuse(k Kind, format string, args ...any) *Error {
	return &Error{Kind: k, Msg: fmt.Sprintf(format, args...)}
}

// Limits are one app's group limits; 0 means no limit.
type Limits struct {
	// MaxMembers caps the members of one group (and is the capacity a
	// new group gets).
	MaxMembers int64
	// MaxCreatedPerUser caps the groups one user owns.
	MaxCreatedPerUser int64
	// MaxJoinedPerUser caps the groups one user is a member of.
	MaxJoinedPerUser int64
	// MaxGroupsPerApp caps the live groups of an app.
	MaxGroupsPerApp int64
	// MaxKicks is how many kicks from one group a user may take; at the
	// limit the user can no longer join that group (20016).
	MaxKicks int64
	// InvitationTTL and ApplicationTTL are how long an invitation or an
	// application may be answered; QRCodeTTL how long a QR code is valid.
	InvitationTTL  time.Duration
	ApplicationTTL time.Duration
	QRCodeTTL      time.Duration
}

// DefaultLimits are the limits of an app that sets none.
func DefaultLimits() Limits {
	return Limits{
		MaxMembers: 10_000, MaxCreatedPerUser: 100, MaxJoinedPerUser: 1000, MaxGroupsPerApp: 0,
		MaxKicks:      10,
		InvitationTTL: 7 * 24 * time.Hour, ApplicationTTL: 7 * 24 * time.Hour, QRCodeTTL: 7 * 24 * time.Hour,
	}
}

// Apply approvals (the apply_approval setting).
const (
	ApplyAcceptAll = 0
	ApplyApprove   = 1
	ApplyRejectAll = 2
)

// Group types.
const (
	TypePrivate  = 0
	TypeChatroom = 2
)

// Push and mute modes of a member.
const (
	PushAll          = 0
	PushNone         = 1
	PushAdminsAndAt  = 2
	PushAdminsOnly   = 3
	PushAtOnly       = 4
	MuteNone         = 0
	MuteNotification = 1
	MuteMessages     = 2
)

// Value limits.
const (
	MaxNameBytes         = 128
	MaxAvatarBytes       = 1024
	MaxDescriptionBytes  = 1024
	MaxExtBytes          = 4 << 10
	MaxDisplayNameBytes  = 128
	MaxReasonBytes       = 512
	MaxTitleBytes        = 256
	MaxContentBytes      = 4 << 10
	MaxBatch             = 500 // users per batch operation
	MaxAnnouncements     = 100 // kept per group; the oldest go first
	MaxBanMinutes        = 10 * 365 * 24 * 60
	BanForever           = -1
	MaxInfoBatch         = 100
	MaxPublicList        = 1000
	MaxApplicationGroups = 100
)
