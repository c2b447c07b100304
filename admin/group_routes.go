package admin

import (
	"strconv"

	"github.com/chatgate/chatgate/domain/group"
)

func (s *Server) groupRoutes() []*Route {
	gq := Param{Name: "group_id", Type: "integer", Required: true, Desc: "The group"}
	page := []Param{
		{Name: "cursor", Type: "string", Desc: "The cursor of the previous answer; absent for the first page"},
		{Name: "limit", Type: "int32", Desc: "1 to 1000, default 1000"},
		{Name: "version", Type: "integer", Desc: "Ignored (reserved by the reference)"},
	}
	gpage := append([]Param{gq}, page...)
	ann := []Param{{Name: "announcement_id", Type: "integer", Required: true, Desc: "The announcement"}, gq}
	both := func(ms ...string) []string { return ms }
	write := []int{CodeGroupNotFound, CodeNeedAdmin}
	batch := func(path, summary string, errs []int, fn func(r *Req, a group.Actor, gid int64, uids []int64) ([]group.Result, error), methods ...string) *Route {
		return &Route{Methods: methods, Path: path, Group: "group", Access: AccessToken, Summary: summary,
			Body: groupUsersRequest{}, Result: []groupResult{}, Errors: errs,
			Handle: func(r *Req) (any, error) {
				b, gid, err := bound(r, func(b *groupUsersRequest) int64 { return b.GroupID })
				if err != nil {
					return nil, err
				}
				return s.groupCall(r, func(a group.Actor) (any, error) {
					rs, err := fn(r, a, gid, b.UserList)
					return toResults(rs), err
				})
			}}
	}
	info := func(path, field, what string) *Route {
		return &Route{Methods: both("POST", "PUT"), Path: path, Group: "group", Access: AccessToken,
			Summary: "Update the group's " + what + " (admins; members when allow_member_modify is on)",
			Body:    groupValueRequest{}, Errors: write,
			Handle: func(r *Req) (any, error) {
				b, gid, err := bound(r, func(b *groupValueRequest) int64 { return b.GroupID })
				if err != nil {
					return nil, err
				}
				if b.Value == nil {
					return nil, BadParam("value", "required")
				}
				return s.groupCall(r, func(a group.Actor) (any, error) {
					return nil, s.grp.SetInfo(r.Ctx, r.App.ID, a, gid, field, *b.Value)
				})
			}}
	}
	setting := func(path, field, what string) *Route {
		return &Route{Methods: both("POST", "PUT"), Path: path, Group: "group", Access: AccessToken,
			Summary: what + " (admins)", Body: groupBoolRequest{}, Errors: write,
			Handle: func(r *Req) (any, error) {
				b, gid, err := bound(r, func(b *groupBoolRequest) int64 { return b.GroupID })
				if err != nil {
					return nil, err
				}
				if b.Value == nil {
					return nil, BadParam("value", "required")
				}
				return s.groupCall(r, func(a group.Actor) (any, error) {
					return nil, s.grp.SetSetting(r.Ctx, r.App.ID, a, gid, field, *b.Value)
				})
			}}
	}
	byQuery := func(methods []string, path, summary string, access Access, query []Param, result any, errs []int,
		fn func(r *Req, a group.Actor, gid int64) (any, error)) *Route {
		return &Route{Methods: methods, Path: path, Group: "group", Access: access, Summary: summary,
			Query: query, Result: result, Errors: errs,
			Handle: func(r *Req) (any, error) {
				gid, err := queryGroup(r)
				if err != nil {
					return nil, err
				}
				return s.groupCall(r, func(a group.Actor) (any, error) { return fn(r, a, gid) })
			}}
	}
	read := []int{CodeGroupNotFound, CodeNeedMember}
	joinErrs := []int{CodeGroupNotFound, CodeAlreadyMember, CodeGroupBlacklisted, CodeKickedTooOften, CodeMemberLimit, CodeUserJoinedLimit}
	return []*Route{
		batch("/group/admin/add", "Make members admins (the owner)", []int{CodeGroupNotFound, CodeNeedOwner},
			func(r *Req, a group.Actor, gid int64, u []int64) ([]group.Result, error) {
				return s.grp.SetAdmins(r.Ctx, r.App.ID, a, gid, u, true)
			}, "POST"),
		batch("/group/admin/remove", "Make admins plain members again (the owner)", []int{CodeGroupNotFound, CodeNeedOwner},
			func(r *Req, a group.Actor, gid int64, u []int64) ([]group.Result, error) {
				return s.grp.SetAdmins(r.Ctx, r.App.ID, a, gid, u, false)
			}, "POST", "DELETE"),
		byQuery(both("GET"), "/group/admin_list", "The group's admins (members)", AccessToken, []Param{gq}, []groupMember{}, read,
			func(r *Req, a group.Actor, gid int64) (any, error) {
				ms, err := s.grp.Admins(r.Ctx, r.App.ID, a, gid)
				return toMembers(ms), err
			}),
		{Methods: both("GET"), Path: "/group/announcement", Group: "group", Access: AccessToken,
			Summary: "One announcement (members)", Query: ann, Result: groupAnnouncement{},
			Errors: []int{CodeGroupNotFound, CodeNeedMember, CodeAnnouncementNotFound},
			Handle: func(r *Req) (any, error) { return s.announcementOp(r, false) }},
		{Methods: both("POST", "DELETE"), Path: "/group/announcement/delete", Group: "group", Access: AccessToken,
			Summary: "Delete an announcement (admins, or its author)", Query: ann,
			Errors: []int{CodeGroupNotFound, CodeNeedMember, CodeNeedAdmin, CodeAnnouncementNotFound},
			Handle: func(r *Req) (any, error) { return s.announcementOp(r, true) }},
		{Methods: both("POST"), Path: "/group/announcement/edit", Group: "group", Access: AccessToken,
			Summary: "Publish an announcement (admins; members while allow_member_modify is on)",
			Body:    groupAnnouncementRequest{}, Result: groupAnnouncement{},
			Errors: []int{CodeGroupNotFound, CodeNeedMember, CodeAnnouncementDisabled},
			Handle: s.groupAnnounce},
		byQuery(both("GET"), "/group/announcement/last", "The newest announcement (members)", AccessToken, []Param{gq},
			groupAnnouncement{}, []int{CodeGroupNotFound, CodeNeedMember, CodeAnnouncementNotFound},
			func(r *Req, a group.Actor, gid int64) (any, error) {
				an, err := s.grp.LastAnnouncement(r.Ctx, r.App.ID, a, gid)
				if err != nil {
					return nil, err
				}
				return toAnnouncement(an), nil
			}),
		byQuery(both("GET"), "/group/announcement/list", "The announcements, newest first (members)", AccessToken, []Param{gq},
			[]groupAnnouncement{}, read,
			func(r *Req, a group.Actor, gid int64) (any, error) {
				all, err := s.grp.Announcements(r.Ctx, r.App.ID, a, gid)
				out := make([]groupAnnouncement, len(all))
				for i := range all {
					out[i] = toAnnouncement(&all[i])
				}
				return out, err
			}),
		{Methods: both("POST"), Path: "/group/application_list", Group: "group", Access: AccessToken,
			Summary: "Membership applications to groups the actor administers; the envelope has cursor, total and version",
			Query:   page, Body: groupListRequest{}, Result: []groupApplication{}, Errors: write,
			Handle: s.groupApplications},
		{Methods: both("POST"), Path: "/group/apply", Group: "group", Access: AccessUser,
			Summary: "Apply for membership: joins at once (apply_approval 0), waits for an admin (1) or is refused (2: 10010)",
			Body:    groupApplyRequest{}, Result: groupResult{}, Errors: append([]int{CodeNoPermission}, joinErrs...),
			Handle: s.groupApply},
		{Methods: both("POST", "PUT"), Path: "/group/apply/handle", Group: "group", Access: AccessToken,
			Summary: "Accept or decline a membership application (admins)",
			Body:    groupHandleRequest{}, Result: groupResult{}, Errors: append([]int{CodeNeedAdmin, CodeApplicationHandled}, joinErrs...),
			Handle: s.groupApplyHandle},
		{Methods: both("POST"), Path: "/group/ban", Group: "group", Access: AccessToken,
			Summary: "Ban (mute) members for duration minutes (admins; only the owner bans admins)",
			Body:    groupBanRequest{}, Result: []groupResult{}, Errors: write,
			Handle: s.groupBan},
		byQuery(both("GET"), "/group/banned_list", "Banned members, by id (members); the envelope has cursor, total and version",
			AccessToken, gpage, []groupMember{}, read,
			func(r *Req, a group.Actor, gid int64) (any, error) {
				ms, err := s.grp.Banned(r.Ctx, r.App.ID, a, gid)
				if err != nil {
					return nil, err
				}
				return pageBy(r, toMembers(ms), func(m groupMember) int64 { return m.UserID })
			}),
		batch("/group/block", "Blacklist users (admins): members among them are removed", write,
			func(r *Req, a group.Actor, gid int64, u []int64) ([]group.Result, error) {
				return s.grp.Block(r.Ctx, r.App.ID, a, gid, u)
			}, "POST"),
		byQuery(both("GET"), "/group/blocked_list", "The group's blacklist, by id (admins); the envelope has cursor, total and version",
			AccessToken, gpage, []groupBlocked{}, write,
			func(r *Req, a group.Actor, gid int64) (any, error) {
				bs, err := s.grp.BlockedList(r.Ctx, r.App.ID, a, gid)
				if err != nil {
					return nil, err
				}
				out := make([]groupBlocked, len(bs))
				for i, b := range bs {
					out[i] = groupBlocked{CreatedAt: strconv.FormatInt(b.Created, 10), GroupID: gid, UserID: b.User}
				}
				return pageBy(r, out, func(b groupBlocked) int64 { return b.UserID })
			}),
		{Methods: both("POST"), Path: "/group/create", Group: "group", Access: AccessUser,
			Summary: "Create a group owned by the acting user; user_list is invited as by /group/invite",
			Body:    groupCreateRequest{}, Result: groupInfo{},
			Errors: []int{CodeAppGroupLimit, CodeUserCreatedLimit, CodeUserJoinedLimit},
			Handle: s.groupCreate},
		byQuery(both("POST", "DELETE"), "/group/destroy", "Dissolve the group (the owner)", AccessToken, []Param{gq}, nil,
			[]int{CodeGroupNotFound, CodeNeedOwner},
			func(r *Req, a group.Actor, gid int64) (any, error) {
				return nil, s.grp.Destroy(r.Ctx, r.App.ID, a, gid)
			}),
		{Methods: both("POST", "PUT"), Path: "/group/display_name", Group: "group", Access: AccessUser,
			Summary: "Set the acting member's display name in the group", Body: groupValueRequest{}, Errors: read,
			Handle: func(r *Req) (any, error) {
				b, gid, err := bound(r, func(b *groupValueRequest) int64 { return b.GroupID })
				if err != nil {
					return nil, err
				}
				if b.Value == nil {
					return nil, BadParam("value", "required")
				}
				return s.groupCall(r, func(a group.Actor) (any, error) {
					return nil, s.grp.SetDisplayName(r.Ctx, r.App.ID, a, gid, *b.Value)
				})
			}},
		byQuery(both("GET"), "/group/info", "A group's information (any user of the app)", AccessToken, []Param{gq}, groupInfo{},
			[]int{CodeGroupNotFound},
			func(r *Req, a group.Actor, gid int64) (any, error) {
				v, err := s.grp.Info(r.Ctx, r.App.ID, a, gid)
				if err != nil {
					return nil, err
				}
				return toInfo(v), nil
			}),
		info("/group/info/avatar", group.InfoAvatar, "avatar URL"),
		{Methods: both("POST"), Path: "/group/info/batch", Group: "group", Access: AccessToken,
			Summary: "Information of up to 100 groups (missing and dissolved ones are left out)",
			Body:    groupListRequest{}, Result: []groupBrief{},
			Handle: s.groupInfoBatch},
		info("/group/info/description", group.InfoDescription, "description"),
		info("/group/info/ext", group.InfoExt, "extension"),
		info("/group/info/name", group.InfoName, "name"),
		{Methods: both("GET"), Path: "/group/invitation_list", Group: "group", Access: AccessUser,
			Summary: "Invitations to the acting user, by group; the envelope has cursor, total and version",
			Query:   page, Result: []groupInvitation{},
			Handle: s.groupInvitations},
		{Methods: both("POST"), Path: "/group/invite", Group: "group", Access: AccessToken,
			Summary: "Invite users (admins; members when allow_member_invitation is on): users with group_confirm get an invitation, the others join",
			Body:    groupInviteRequest{}, Result: []groupResult{}, Errors: write,
			Handle: s.groupInvite},
		{Methods: both("POST", "PUT"), Path: "/group/invite/handle", Group: "group", Access: AccessUser,
			Summary: "Accept or decline an invitation (the invitee)", Body: groupHandleRequest{},
			Errors: append([]int{CodeInvitationHandled}, joinErrs...),
			Handle: s.groupInviteHandle},
		batch("/group/kick", "Remove members (admins; only the owner kicks admins)", write,
			func(r *Req, a group.Actor, gid int64, u []int64) ([]group.Result, error) {
				return s.grp.Kick(r.Ctx, r.App.ID, a, gid, u)
			}, "POST", "DELETE"),
		byQuery(both("POST", "DELETE"), "/group/leave", "The acting member leaves (not the owner: 20004)", AccessUser, []Param{gq}, nil,
			[]int{CodeGroupNotFound, CodeNotGroupMember, CodeOwnerCannotLeave},
			func(r *Req, a group.Actor, gid int64) (any, error) {
				return nil, s.grp.Leave(r.Ctx, r.App.ID, a, gid)
			}),
		byQuery(both("GET"), "/group/member_list", "Members by id (members); the envelope has cursor, total and version",
			AccessToken, gpage, []groupMember{}, read, s.groupMembers),
		{Methods: both("POST"), Path: "/group/members/display_name", Group: "group", Access: AccessToken,
			Summary: "Display names and join times of members among user_list (members)",
			Body:    groupUsersRequest{}, Result: []groupMember{}, Errors: read,
			Handle: func(r *Req) (any, error) {
				b, gid, err := bound(r, func(b *groupUsersRequest) int64 { return b.GroupID })
				if err != nil {
					return nil, err
				}
				return s.groupCall(r, func(a group.Actor) (any, error) {
					ms, err := s.grp.MemberDetails(r.Ctx, r.App.ID, a, gid, b.UserList)
					return toMembers(ms), err
				})
			}},
		{Methods: both("POST", "PUT"), Path: "/group/msg/mute_mode", Group: "group", Access: AccessUser,
			Summary: "Set the acting member's msg_mute_mode: 0 none, 1 no notification, 2 no messages",
			Body:    groupMuteModeRequest{}, Result: map[string]int64{}, Errors: read,
			Handle: func(r *Req) (any, error) {
				b, gid, err := bound(r, func(b *groupMuteModeRequest) int64 { return b.GroupID })
				if err != nil {
					return nil, err
				}
				if b.MsgMuteMode == nil {
					return nil, BadParam("msg_mute_mode", "required")
				}
				return s.groupCall(r, func(a group.Actor) (any, error) {
					return map[string]int64{"group_id": gid, "msg_mute_mode": int64(*b.MsgMuteMode)},
						s.grp.SetMuteMode(r.Ctx, r.App.ID, a, gid, *b.MsgMuteMode)
				})
			}},
		{Methods: both("POST", "PUT"), Path: "/group/msg/push_mode", Group: "group", Access: AccessUser,
			Summary: "Set the acting member's msg_push_mode: 0 all, 1 none, 2 admins and @, 3 admins, 4 @",
			Body:    groupPushModeRequest{}, Result: map[string]int64{}, Errors: append([]int{CodeBadPushMode}, read...),
			Handle: func(r *Req) (any, error) {
				b, gid, err := bound(r, func(b *groupPushModeRequest) int64 { return b.GroupID })
				if err != nil {
					return nil, err
				}
				if b.MsgPushMode == nil {
					return nil, Errf(CodeBadPushMode, "msg_push_mode: required")
				}
				return s.groupCall(r, func(a group.Actor) (any, error) {
					return map[string]int64{"group_id": gid, "msg_push_mode": int64(*b.MsgPushMode)},
						s.grp.SetPushMode(r.Ctx, r.App.ID, a, gid, *b.MsgPushMode)
				})
			}},
		{Methods: both("GET"), Path: "/group/public_list", Group: "group", Access: AccessToken,
			Summary: "Ids of the app's groups that take applications (apply_approval 0 or 1), oldest first, at most 1000",
			Result:  []int64{},
			Handle: func(r *Req) (any, error) {
				return s.groupCall(r, func(group.Actor) (any, error) { return s.grp.PublicList(r.Ctx, r.App.ID) })
			}},
		{Methods: both("POST"), Path: "/group/qrcode/invite", Group: "group", Access: AccessUser,
			Summary: "Join the group of a QR code from /group/qrcode/sign",
			Body:    groupQRInviteRequest{}, Result: map[string]int64{},
			Errors: append([]int{CodeQRCodeInvalid, CodeQRCodeExpired}, joinErrs...),
			Handle: s.groupQRInvite},
		byQuery(both("GET"), "/group/qrcode/sign", "A signed QR-code invitation into the group (members who may invite)", AccessUser,
			[]Param{gq}, groupQRCode{}, append([]int{CodeNeedAdmin}, read...),
			func(r *Req, a group.Actor, gid int64) (any, error) {
				code, created, expires, err := s.grp.SignQRCode(r.Ctx, r.App.ID, []byte(r.App.Secret), a, gid)
				return groupQRCode{CreateAt: created, ExpireAt: expires, QRInfo: code}, err
			}),
		byQuery(both("GET"), "/group/settings", "A group's information and settings (members)", AccessToken, []Param{gq}, groupInfo{}, read,
			func(r *Req, a group.Actor, gid int64) (any, error) {
				v, err := s.grp.Settings(r.Ctx, r.App.ID, a, gid)
				if err != nil {
					return nil, err
				}
				return toInfo(v), nil
			}),
		setting("/group/settings/allow_member_invitation", group.SettingMemberInvite, "Whether members may invite"),
		setting("/group/settings/allow_member_modify", group.SettingMemberModify, "Whether members may change the group's info and post announcements"),
		{Methods: both("POST"), Path: "/group/settings/ban_all", Group: "group", Access: AccessToken,
			Summary: "Only admins and the owner may send for duration minutes (-1: until unban_all) (admins)",
			Body:    groupBanAllRequest{}, Result: groupBanAll{}, Errors: write,
			Handle: func(r *Req) (any, error) {
				b, gid, err := bound(r, func(b *groupBanAllRequest) int64 { return b.GroupID })
				if err != nil {
					return nil, err
				}
				if b.Duration == nil {
					return nil, BadParam("duration", "required")
				}
				return s.groupCall(r, func(a group.Actor) (any, error) {
					end, err := s.grp.BanAll(r.Ctx, r.App.ID, a, gid, *b.Duration)
					return groupBanAll{BanExpireTime: banSeconds(end)}, err
				})
			}},
		setting("/group/settings/enable_read_ack", group.SettingReadAck, "Whether members' read receipts are recorded"),
		setting("/group/settings/history_visible", group.SettingHistoryVisible, "Whether new members see the history from before they joined"),
		{Methods: both("POST", "PUT"), Path: "/group/settings/require_admin_approval", Group: "group", Access: AccessToken,
			Summary: "How applications are handled: 0 accepted, 1 admins approve, 2 refused (admins)",
			Body:    groupApprovalRequest{}, Errors: write,
			Handle: func(r *Req) (any, error) {
				b, gid, err := bound(r, func(b *groupApprovalRequest) int64 { return b.GroupID })
				if err != nil {
					return nil, err
				}
				if b.ApplyApproval == nil {
					return nil, BadParam("apply_approval", "required")
				}
				return s.groupCall(r, func(a group.Actor) (any, error) {
					return nil, s.grp.SetApplyApproval(r.Ctx, r.App.ID, a, gid, *b.ApplyApproval)
				})
			}},
		{Methods: both("POST"), Path: "/group/settings/unban_all", Group: "group", Access: AccessToken,
			Summary: "End ban_all (admins)", Body: groupIDRequest{}, Errors: write,
			Handle: func(r *Req) (any, error) {
				_, gid, err := bound(r, func(b *groupIDRequest) int64 { return b.GroupID })
				if err != nil {
					return nil, err
				}
				return s.groupCall(r, func(a group.Actor) (any, error) { return nil, s.grp.UnbanAll(r.Ctx, r.App.ID, a, gid) })
			}},
		{Methods: both("POST", "PUT"), Path: "/group/transfer", Group: "group", Access: AccessToken,
			Summary: "Make a member the owner (the owner); the old owner stays a member",
			Body:    groupTransferRequest{}, Result: groupResult{},
			Errors: []int{CodeGroupNotFound, CodeNeedOwner, CodeTransferNonMember, CodeUserCreatedLimit},
			Handle: func(r *Req) (any, error) {
				b, gid, err := bound(r, func(b *groupTransferRequest) int64 { return b.GroupID })
				if err != nil {
					return nil, err
				}
				return s.groupCall(r, func(a group.Actor) (any, error) {
					return groupResult{Result: "success", UserID: b.NewOwner}, s.grp.Transfer(r.Ctx, r.App.ID, a, gid, b.NewOwner)
				})
			}},
		batch("/group/unban", "Lift members' bans (admins)", write,
			func(r *Req, a group.Actor, gid int64, u []int64) ([]group.Result, error) {
				return s.grp.Unban(r.Ctx, r.App.ID, a, gid, u)
			}, "POST"),
		batch("/group/unblock", "Take users off the blacklist (admins)", write,
			func(r *Req, a group.Actor, gid int64, u []int64) ([]group.Result, error) {
				return s.grp.Unblock(r.Ctx, r.App.ID, a, gid, u)
			}, "POST", "DELETE"),
		{Methods: both("GET"), Path: "/group/user_joined", Group: "group", Access: AccessUser,
			Summary: "Ids of the groups the acting user is a member of", Result: []int64{},
			Handle: func(r *Req) (any, error) {
				return s.groupCall(r, func(a group.Actor) (any, error) { return s.grp.UserJoined(r.Ctx, r.App.ID, a) })
			}},
	}
}
