package store

// Keys of managed groups. Everything of one group shares the group
// conversation's hash tag {app:g:<gid>} (so a group's Lua scripts and
// MULTI/EXEC blocks touch one slot, and the router reads a group's rules in
// one round); the per-user indexes are under the user's tag and the
// app-wide ones under {app}. docs/data-model.md describes each key.

func groupKey(app string, gid int64, suffix string) string {
	return prefix + "c:" + convTag(app, GroupConv(gid)) + ":" + suffix
}

// GroupMemberListKey is the sorted set (lex order, scores 0) of the
// members' ids as 19-digit strings, for paged member lists. It holds the
// same ids as GroupMembersKey, which stays the set the router reads.
func GroupMemberListKey(app string, gid int64) string { return groupKey(app, gid, "ml") }

// GroupJoinedKey is the hash member id -> join time (unix ms): the join
// point a member's history starts at when history_visible is off.
func GroupJoinedKey(app string, gid int64) string { return groupKey(app, gid, "mj") }

// GroupAdminsKey is the set of the group's admins (the owner is not in
// it: the owner is the info hash's owner field).
func GroupAdminsKey(app string, gid int64) string { return groupKey(app, gid, "adm") }

// GroupBansKey is the hash member id -> ban (mute) expiry, unix ms; -1 is
// until unbanned. An entry whose expiry passed is no ban.
func GroupBansKey(app string, gid int64) string { return groupKey(app, gid, "ban") }

// GroupBlockedKey is the hash user id -> time the group blacklisted the
// user (unix ms). A blacklisted user cannot apply, be invited or join.
func GroupBlockedKey(app string, gid int64) string { return groupKey(app, gid, "blk") }

// GroupNamesKey is the hash member id -> the member's display name in
// the group (absent: none set).
func GroupNamesKey(app string, gid int64) string { return groupKey(app, gid, "dn") }

// GroupPushModeKey is the hash member id -> msg_push_mode (absent: 0,
// every push).
func GroupPushModeKey(app string, gid int64) string { return groupKey(app, gid, "pm") }

// GroupMuteModeKey is the hash member id -> msg_mute_mode (absent: 0, not
// muted).
func GroupMuteModeKey(app string, gid int64) string { return groupKey(app, gid, "mm") }

// GroupApplicationsKey is the hash applicant id -> GroupApplication JSON.
func GroupApplicationsKey(app string, gid int64) string { return groupKey(app, gid, "apl") }

// GroupAnnouncementsKey is the hash announcement id -> Announcement JSON.
func GroupAnnouncementsKey(app string, gid int64) string { return groupKey(app, gid, "ann") }

// GroupAnnouncementSeqKey is the counter announcement ids are drawn from.
func GroupAnnouncementSeqKey(app string, gid int64) string { return groupKey(app, gid, "anq") }

// GroupKicksKey is the hash user id -> how many times the user was kicked
// from the group (20016 once over the app's limit).
func GroupKicksKey(app string, gid int64) string { return groupKey(app, gid, "kick") }

// GroupReadKey is the hash member id -> the highest message id of the
// group the member read (group read receipts, enable_read_ack).
func GroupReadKey(app string, gid int64) string { return groupKey(app, gid, "rd") }

// GroupKeys lists every key of one group, for /group/destroy. A change
// that adds a per-group key adds it here. GroupInfoKey is not in the list:
// destroy keeps it (status 1) as the destroyed tombstone.
func GroupKeys(app string, gid int64) []string {
	return []string{
		GroupMembersKey(app, gid), GroupMemberListKey(app, gid), GroupJoinedKey(app, gid),
		GroupAdminsKey(app, gid), GroupBansKey(app, gid), GroupBlockedKey(app, gid),
		GroupNamesKey(app, gid), GroupPushModeKey(app, gid), GroupMuteModeKey(app, gid),
		GroupApplicationsKey(app, gid), GroupAnnouncementsKey(app, gid), GroupAnnouncementSeqKey(app, gid),
		GroupKicksKey(app, gid), GroupReadKey(app, gid),
	}
}

// AppGroupsKey is the sorted set of an app's live groups scored by
// creation time (unix ms): the per-app group limit counts it.
func AppGroupsKey(app string) string { return prefix + "a:" + appTag(app) + ":groups" }

// AppPublicGroupsKey is the sorted set of the app's groups that take
// applications (apply_approval 0 or 1), scored by creation time:
// /group/public_list.
func AppPublicGroupsKey(app string) string { return prefix + "a:" + appTag(app) + ":gpub" }

// GroupSeqKey is the counter group ids of an app are drawn from.
func GroupSeqKey(app string) string { return prefix + "a:" + appTag(app) + ":gseq" }

// UserOwnedGroupsKey is the set of the groups a user owns (the per-user
// limit of created groups counts it).
func UserOwnedGroupsKey(app string, uid int64) string {
	return prefix + "u:" + userTag(app, uid) + ":gown"
}

// UserGroupInvitesKey is the hash group id -> GroupInvitation JSON of the
// invitations addressed to a user.
func UserGroupInvitesKey(app string, uid int64) string {
	return prefix + "u:" + userTag(app, uid) + ":ginv"
}
