package group

import (
	"context"
	"log/slog"
)

// Notice is a change clients must see without polling. Every successful
// change of a group (and every invitation or application addressed to a
// user) produces one, handed to the Notifier after the change is stored.
type Notice struct {
	// Kind is one of the Kind* constants; PROTOCOL.md lists them with
	// their Data fields.
	Kind string
	// Group is the group conversation the event belongs to (0 for
	// user-addressed-only events).
	Group int64
	// Actor is who did it (0 = the app's admin token / backend).
	Actor int64
	// Users are the users it is about (joined, kicked, new admins, ...).
	Users []int64
	// To are extra recipients besides the group's members (the kicked
	// user, the invitee of an invitation, the admins of an application);
	// for Group == 0 the only recipients.
	To []int64
	// Data holds kind-specific fields (name, announcement id/title, ban
	// expiry ms, ...), all strings.
	Data map[string]string
}

// Notifier delivers notices. The message path implements it (as
// conversation events ordered with the group's messages); an error means
// the notice may not have been delivered, while the change itself is
// already stored.
type Notifier interface {
	Notify(ctx context.Context, app string, n Notice) error
}

// Notice kinds. Events with Group != 0 go to every member of the group
// (plus To); the others only to To.
const (
	KindCreated             = "group_created"              // Users: the initial members (owner first)
	KindMemberJoined        = "group_member_joined"        // Users: who joined; Data["via"]: invite, apply, qrcode, create
	KindMemberLeft          = "group_member_left"          // Users: who left
	KindMemberKicked        = "group_member_kicked"        // Users: who was kicked; To: the same users
	KindAdminsAdded         = "group_admins_added"         // Users: the new admins
	KindAdminsRemoved       = "group_admins_removed"       // Users: the former admins
	KindOwnerTransferred    = "group_owner_transferred"    // Users: [new owner]; Data["old_owner"]
	KindInfoChanged         = "group_info_changed"         // Data: the changed field (name, avatar, description, ext) and its value
	KindSettingsChanged     = "group_settings_changed"     // Data: the changed setting and its value (ban_expire_time for ban_all/unban_all)
	KindAnnouncementPosted  = "group_announcement_posted"  // Data: announcement_id, title
	KindAnnouncementDeleted = "group_announcement_deleted" // Data: announcement_id
	KindMemberBanned        = "group_member_banned"        // Users: the banned members; Data["expire_time"] ms (-1 until unbanned)
	KindMemberUnbanned      = "group_member_unbanned"      // Users: the unbanned members
	KindMemberBlocked       = "group_member_blocked"       // Users: the blacklisted users; To: the same users
	KindMemberUnblocked     = "group_member_unblocked"     // Users: the users taken off the blacklist (admins only: To)
	KindDestroyed           = "group_destroyed"            // To: every former member (the group has none left)
	KindInvited             = "group_invited"              // Group 0 addressed: To [invitee]; Data: group_id, reason, expire_time
	KindInvitationDeclined  = "group_invitation_declined"  // Group 0: To [inviter]; Users [invitee]; Data: group_id
	KindApplication         = "group_application"          // Group 0: To the owner and admins; Users [applicant]; Data: group_id, reason
	KindApplicationAccepted = "group_application_accepted" // Group 0: To [applicant]; Data: group_id
	KindApplicationDeclined = "group_application_declined" // Group 0: To [applicant]; Data: group_id
	KindMemberDisplayName   = "group_member_display_name"  // Users: [member]; Data["display_name"]
)

// LogNotifier is the Notifier of a process wired without the message path's
// one: it only logs each notice at debug level, so clients learn nothing
// until the real Notifier is wired in. It never fails.
type LogNotifier struct{ Log *slog.Logger }

// Notify logs n.
func (l LogNotifier) Notify(ctx context.Context, app string, n Notice) error {
	if l.Log != nil {
		l.Log.DebugContext(ctx, "group notice not delivered (no notifier wired)", "app", app, "kind", n.Kind,
			"group", n.Group, "actor", n.Actor, "users", n.Users, "to", n.To)
	}
	return nil
}
