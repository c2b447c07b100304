// Package store owns chatgate's Redis data model: apps, users, devices, live
// routes, group membership, message bodies, conversation history, per-user
// inboxes, delivery cursors and send idempotency.
//
// Every key of one user shares the hash tag {<app>:<user_id>} and every key
// of one conversation the hash tag {<app>:<conv>}, so each operation touches
// one cluster slot and the same code runs on one Redis or on Redis Cluster.
// docs/data-model.md describes each key.
package store

import (
	"strconv"
)

// Key prefixes. Kept short: they are repeated in millions of keys.
const (
	prefix = "cg:"
)

func userTag(app string, uid int64) string {
	return "{" + app + ":" + strconv.FormatInt(uid, 10) + "}"
}

func convTag(app, conv string) string { return "{" + app + ":" + conv + "}" }

// AppKey is the hash of one app: secret, name, created.
func AppKey(app string) string { return prefix + "app:{" + app + "}" }

// AppsKey is the set of every app id.
func AppsKey() string { return prefix + "apps" }

func appTag(app string) string { return "{" + app + "}" }

// AppUsersKey is the sorted set of every user id of an app, scored by
// registration time (unix ms): /user/list pages it and "all" campaigns walk it.
func AppUsersKey(app string) string { return prefix + "a:" + appTag(app) + ":users" }

// TagKey is the set of user ids bound to one push tag.
func TagKey(app, tag string) string { return prefix + "a:" + appTag(app) + ":tag:" + tag }

// AliasKey is the set of user ids bound to one push alias.
func AliasKey(app, alias string) string { return prefix + "a:" + appTag(app) + ":alias:" + alias }

// PushTokensKey is the hash push token -> "<uid>:<dev>" of an app, for
// campaigns addressed to push tokens and for removing dead tokens.
func PushTokensKey(app string) string { return prefix + "a:" + appTag(app) + ":tok" }

// IdentKey is the hash of one unique identifier of an app's users
// ("username", "mobile", "email"): normalised value -> "<uid>:<claimed ms>".
func IdentKey(app, ident string) string { return prefix + "a:" + appTag(app) + ":id:" + ident }

// UserSeqKey is the counter user ids of an app are drawn from.
func UserSeqKey(app string) string { return prefix + "a:" + appTag(app) + ":useq" }

// UserKeys lists every key of one user (all under its hash tag), for
// /user/delete. A package that adds a per-user key adds it here.
func UserKeys(app string, uid int64) []string {
	return []string{
		UserKey(app, uid), DevicesKey(app, uid), RoutesKey(app, uid), InboxKey(app, uid),
		CursorKey(app, uid), UserTagsKey(app, uid), UserGroupsKey(app, uid),
		FriendsKey(app, uid), FriendAttrsKey(app, uid), ExFriendsKey(app, uid), BlockedKey(app, uid),
		ApplicationsKey(app, uid), ApplicationAttrsKey(app, uid), RosterVersionKey(app, uid),
		ConvsKey(app, uid), ReadMarksKey(app, uid),
		UserOwnedGroupsKey(app, uid), UserGroupInvitesKey(app, uid),
	}
}

// UserKey is the hash of one user's settings (disabled, ...).
func UserKey(app string, uid int64) string { return prefix + "u:" + userTag(app, uid) + ":info" }

// DevicesKey is the hash device_sn -> Device JSON of one user.
func DevicesKey(app string, uid int64) string { return prefix + "u:" + userTag(app, uid) + ":dev" }

// RoutesKey is the hash device_sn -> route of one user's live connections.
func RoutesKey(app string, uid int64) string { return prefix + "u:" + userTag(app, uid) + ":rt" }

// InboxKey is the sorted set (lex order) of "<id>:<conv>" a user's devices sync from.
func InboxKey(app string, uid int64) string { return prefix + "u:" + userTag(app, uid) + ":ib" }

// CursorKey is the hash device_sn -> highest message id the device acked.
func CursorKey(app string, uid int64) string { return prefix + "u:" + userTag(app, uid) + ":cur" }

// UserTagsKey is the set of push tags bound to a user.
func UserTagsKey(app string, uid int64) string { return prefix + "u:" + userTag(app, uid) + ":tags" }

// UserGroupsKey is the set of group ids a user belongs to.
func UserGroupsKey(app string, uid int64) string {
	return prefix + "u:" + userTag(app, uid) + ":groups"
}

// IdemKey records the server id given to one client message id of one device.
func IdemKey(app string, uid int64, dev int32, cmid string) string {
	return prefix + "u:" + userTag(app, uid) + ":idem:" + strconv.FormatInt(int64(dev), 10) + ":" + cmid
}

// HistoryKey is the sorted set (lex order) of message ids of one conversation.
func HistoryKey(app, conv string) string { return prefix + "c:" + convTag(app, conv) + ":h" }

// BodyKey holds one message's JSON, stored once whatever the recipient count.
func BodyKey(app, conv string, id int64) string {
	return prefix + "c:" + convTag(app, conv) + ":m:" + strconv.FormatInt(id, 10)
}

// GroupConv is the conversation id of a group.
func GroupConv(gid int64) string { return "g:" + strconv.FormatInt(gid, 10) }

// GroupMembersKey is the set of member user ids of a group.
func GroupMembersKey(app string, gid int64) string {
	return prefix + "c:" + convTag(app, GroupConv(gid)) + ":mem"
}

// GroupInfoKey is the hash of a group's attributes.
func GroupInfoKey(app string, gid int64) string {
	return prefix + "c:" + convTag(app, GroupConv(gid)) + ":info"
}

// lexID renders an id as a fixed-width decimal so that the lexicographic
// order of sorted-set members is the numeric order of ids. Sorted-set scores
// are doubles and would round 63-bit ids.
func lexID(id int64) string {
	const width = 19
	s := strconv.FormatInt(id, 10)
	if len(s) >= width {
		return s
	}
	b := make([]byte, width)
	pad := width - len(s)
	for i := 0; i < pad; i++ {
		b[i] = '0'
	}
	copy(b[pad:], s)
	return string(b)
}

// FriendsKey is the sorted set (lex order, scores 0) of a user's friends'
// ids as 19-digit strings, for paged friend lists.
func FriendsKey(app string, uid int64) string { return prefix + "u:" + userTag(app, uid) + ":fr" }

// FriendAttrsKey is the hash friend id -> JSON (alias, ext, mute) of a user's friends.
func FriendAttrsKey(app string, uid int64) string { return prefix + "u:" + userTag(app, uid) + ":frx" }

// ExFriendsKey is the set of users who were a user's friends and were deleted.
func ExFriendsKey(app string, uid int64) string { return prefix + "u:" + userTag(app, uid) + ":frd" }

// BlockedKey is the set of users a user blacklisted.
func BlockedKey(app string, uid int64) string { return prefix + "u:" + userTag(app, uid) + ":blk" }

// ApplicationsKey is the sorted set (lex order) of the ids of users who
// asked to become a user's friend; ApplicationAttrsKey holds their JSON.
func ApplicationsKey(app string, uid int64) string { return prefix + "u:" + userTag(app, uid) + ":ap" }

// ApplicationAttrsKey is the hash applicant id -> application JSON.
func ApplicationAttrsKey(app string, uid int64) string {
	return prefix + "u:" + userTag(app, uid) + ":apx"
}

// RosterVersionKey counts the changes of a user's roster (the version of
// Lanying's list answers).
func RosterVersionKey(app string, uid int64) string { return prefix + "u:" + userTag(app, uid) + ":rv" }

// ConvsKey is the sorted set conv -> time of its last message (unix ms) of
// a user: the recent sessions of /message/unread.
func ConvsKey(app string, uid int64) string { return prefix + "u:" + userTag(app, uid) + ":cv" }

// ReadMarksKey is the hash conv -> the highest message id the user read.
func ReadMarksKey(app string, uid int64) string { return prefix + "u:" + userTag(app, uid) + ":rd" }
