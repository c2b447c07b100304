package admin

import (
	"errors"
	"strconv"

	"github.com/chatgate/chatgate/domain/group"
	"github.com/chatgate/chatgate/store"
)

// The /group operations (all of the Lanying API's but the /group/file ones)
// as a thin dialect over domain/group: parse, build the actor, call the
// rule, shape the answer. Who may do what is decided in domain/group, not
// here. docs/api/groups.md is the reference.
//
// The acting user is the user token's, or with an admin token the user_id
// header's; an admin token without user_id acts as the app's backend (as
// an owner would, but not as a member). Operations that only make sense
// for a user (create, apply, leave, ...) are AccessUser.

// Group error codes (seed 000's appendix).
const (
	CodeBadPushMode          = 20003
	CodeOwnerCannotLeave     = 20004
	CodeTransferNonMember    = 20005
	CodeAppGroupLimit        = 20007
	CodeUserCreatedLimit     = 20008
	CodeUserJoinedLimit      = 20009
	CodeMemberLimit          = 20010
	CodeNeedMember           = 20011
	CodeNeedAdmin            = 20012
	CodeNeedOwner            = 20013
	CodeApplicationHandled   = 20014
	CodeInvitationHandled    = 20015
	CodeKickedTooOften       = 20016
	CodeAlreadyMember        = 20017
	CodeGroupBlacklisted     = 20018
	CodeAnnouncementNotFound = 20020
	CodeAnnouncementDisabled = 20021
	CodeQRCodeInvalid        = 20024
	CodeQRCodeExpired        = 20025
)

var groupCodes = map[group.Kind]int{
	group.ErrBadInput: CodeBadParam, group.ErrUserNotFound: CodeUserNotFound, group.ErrNoPermission: CodeNoPermission,
	group.ErrGroupNotFound: CodeGroupNotFound, group.ErrNotMember: CodeNotGroupMember, group.ErrBadPushMode: CodeBadPushMode,
	group.ErrOwnerCannotLeave: CodeOwnerCannotLeave, group.ErrTransferToNonMember: CodeTransferNonMember,
	group.ErrAppGroupLimit: CodeAppGroupLimit, group.ErrUserCreatedLimit: CodeUserCreatedLimit,
	group.ErrUserJoinedLimit: CodeUserJoinedLimit, group.ErrMemberLimit: CodeMemberLimit,
	group.ErrNeedMember: CodeNeedMember, group.ErrNeedAdmin: CodeNeedAdmin, group.ErrNeedOwner: CodeNeedOwner,
	group.ErrApplicationHandled: CodeApplicationHandled, group.ErrInvitationHandled: CodeInvitationHandled,
	group.ErrKickedTooOften: CodeKickedTooOften, group.ErrAlreadyMember: CodeAlreadyMember,
	group.ErrBlacklisted: CodeGroupBlacklisted, group.ErrAnnouncementNotFound: CodeAnnouncementNotFound,
	group.ErrAnnouncementDisabled: CodeAnnouncementDisabled, group.ErrQRCodeInvalid: CodeQRCodeInvalid,
	group.ErrQRCodeExpired: CodeQRCodeExpired,
}

// groupErr turns a refusal of the domain into the envelope's code.
func groupErr(err error) error {
	var ge *group.Error
	if errors.As(err, &ge) {
		code, ok := groupCodes[ge.Kind]
		if !ok {
			code = CodeServerError
		}
		return &Error{Code: code, Msg: ge.Msg}
	}
	return err
}

// Limits of group lists.
const (
	groupPageDef = 1000
	groupPageMax = 1000
)

// Wire types.

type groupUsersRequest struct {
	GroupID  int64   `json:"group_id" required:"true"`
	UserList []int64 `json:"user_list" required:"true" doc:"1 to 500 user ids"`
}

type groupIDRequest struct {
	GroupID int64 `json:"group_id" required:"true"`
}

type groupValueRequest struct {
	GroupID int64   `json:"group_id" required:"true"`
	Value   *string `json:"value" required:"true" doc:"The new value"`
}

type groupBoolRequest struct {
	GroupID int64 `json:"group_id" required:"true"`
	Value   *bool `json:"value" required:"true" doc:"The new setting"`
}

type groupCreateRequest struct {
	Avatar      string  `json:"avatar" doc:"Avatar URL, at most 1024 bytes"`
	Description string  `json:"description" doc:"At most 1024 bytes"`
	Name        string  `json:"name" doc:"At most 128 bytes"`
	Type        int32   `json:"type" doc:"0 private group (default), 2 chatroom"`
	UserList    []int64 `json:"user_list" doc:"Users invited as by /group/invite (up to 500)"`
}

type groupInviteRequest struct {
	GroupID  int64   `json:"group_id" required:"true"`
	Reason   string  `json:"reason" doc:"At most 512 bytes; shown to invitees who confirm invitations"`
	UserList []int64 `json:"user_list" required:"true" doc:"1 to 500 invitees"`
}

type groupHandleRequest struct {
	Approval *bool `json:"approval" required:"true" doc:"true accepts, false declines"`
	GroupID  int64 `json:"group_id" required:"true"`
	UserID   int64 `json:"user_id" required:"true" doc:"invite/handle: the inviter; apply/handle: the applicant"`
}

type groupApplyRequest struct {
	GroupID int64  `json:"group_id" required:"true"`
	Reason  string `json:"reason" doc:"At most 512 bytes"`
}

type groupBanRequest struct {
	Duration *int64  `json:"duration" required:"true" doc:"Minutes (1 to 5256000), or -1 until unbanned"`
	GroupID  int64   `json:"group_id" required:"true"`
	UserList []int64 `json:"user_list" required:"true"`
}

type groupBanAllRequest struct {
	Duration *int64 `json:"duration" required:"true" doc:"Minutes (1 to 5256000), or -1 until unban_all"`
	GroupID  int64  `json:"group_id" required:"true"`
}

type groupApprovalRequest struct {
	ApplyApproval *int32 `json:"apply_approval" required:"true" doc:"0 accept every application, 1 admins approve, 2 reject every application"`
	GroupID       int64  `json:"group_id" required:"true"`
}

type groupPushModeRequest struct {
	GroupID     int64  `json:"group_id" required:"true"`
	MsgPushMode *int32 `json:"msg_push_mode" required:"true" doc:"0 all, 1 none, 2 admins and @, 3 admins only, 4 @ only"`
}

type groupMuteModeRequest struct {
	GroupID     int64  `json:"group_id" required:"true"`
	MsgMuteMode *int32 `json:"msg_mute_mode" required:"true" doc:"0 none, 1 no notification, 2 no messages"`
}

type groupTransferRequest struct {
	GroupID  int64 `json:"group_id" required:"true"`
	NewOwner int64 `json:"new_owner" required:"true" doc:"A member"`
}

type groupAnnouncementRequest struct {
	Content *string `json:"content" required:"true" doc:"At most 4 KiB"`
	GroupID int64   `json:"group_id" required:"true"`
	Title   *string `json:"title" required:"true" doc:"At most 256 bytes"`
}

type groupListRequest struct {
	GroupList []int64 `json:"group_list" required:"true"`
}

type groupQRInviteRequest struct {
	QRInfo string `json:"qr_info" required:"true" doc:"As /group/qrcode/sign returned it"`
}

type groupResult struct {
	Reason string `json:"reason,omitempty"`
	Result string `json:"result" doc:"success or fail"`
	UserID int64  `json:"user_id"`
}

type groupInfo struct {
	ApplyApproval  int32  `json:"apply_approval"`
	Avatar         string `json:"avatar"`
	BanExpireTime  int64  `json:"ban_expire_time" doc:"End of ban_all, unix seconds; 0 none, -1 until unban_all"`
	Capacity       int64  `json:"capacity"`
	Count          int64  `json:"count"`
	CreatedAt      int64  `json:"created_at"`
	Description    string `json:"description"`
	Ext            string `json:"ext"`
	GroupID        int64  `json:"group_id"`
	HistoryVisible bool   `json:"history_visible"`
	MemberInvite   bool   `json:"member_invite"`
	MemberModify   bool   `json:"member_modify"`
	MsgMuteMode    int32  `json:"msg_mute_mode" doc:"The acting member's"`
	MsgPushMode    int32  `json:"msg_push_mode" doc:"The acting member's"`
	Name           string `json:"name"`
	OwnerID        int64  `json:"owner_id"`
	ReadAck        bool   `json:"read_ack"`
	Status         int32  `json:"status" doc:"0 normal, 1 dissolved"`
	Type           int32  `json:"type"`
	UpdatedAt      int64  `json:"updated_at"`
}

type groupBrief struct {
	ApplyApproval int32  `json:"apply_approval"`
	Avatar        string `json:"avatar"`
	Capacity      int64  `json:"capacity"`
	Count         int64  `json:"count"`
	GroupID       int64  `json:"group_id"`
	MsgMuteMode   int32  `json:"msg_mute_mode"`
	MsgPushMode   int32  `json:"msg_push_mode"`
	Name          string `json:"name"`
	Owner         int64  `json:"owner"`
	Status        int32  `json:"status"`
	Type          int32  `json:"type"`
}

type groupMember struct {
	DisplayName string `json:"display_name"`
	ExpiredTime int64  `json:"expired_time" doc:"End of the member's ban (ms); 0 not banned, -1 until unbanned"`
	JoinTime    int64  `json:"join_time"`
	UserID      int64  `json:"user_id"`
}

type groupAnnouncement struct {
	Author    int64  `json:"author"`
	Content   string `json:"content"`
	CreatedAt int64  `json:"created_at"`
	GroupID   int64  `json:"group_id"`
	ID        int64  `json:"id"`
	Title     string `json:"title"`
}

type groupApplication struct {
	ApplicantID int64  `json:"applicant_id"`
	ExpiredTime int64  `json:"expired_time"`
	GroupID     int64  `json:"group_id"`
	Reason      string `json:"reason"`
	Status      int32  `json:"status" doc:"0 pending, 1 accepted, 2 declined"`
}

type groupInvitation struct {
	ExpiredTime int64  `json:"expired_time"`
	GroupID     int64  `json:"group_id"`
	InviteeID   int64  `json:"invitee_id"`
	InviterID   int64  `json:"inviter_id"`
	Reason      string `json:"reason"`
	Status      int32  `json:"status" doc:"0 pending, 1 accepted, 2 declined"`
	UpdatedAt   string `json:"updated_at" doc:"Unix ms, as a string (the reference's type)"`
}

type groupBlocked struct {
	CreatedAt string `json:"created_at" doc:"Unix ms, as a string (the reference's type)"`
	GroupID   int64  `json:"group_id"`
	UserID    int64  `json:"user_id"`
}

type groupBanAll struct {
	BanExpireTime int64 `json:"ban_expire_time" doc:"Unix seconds; -1 until unban_all"`
}

type groupQRCode struct {
	CreateAt int64  `json:"create_at"`
	ExpireAt int64  `json:"expire_at"`
	QRInfo   string `json:"qr_info"`
}

// Wire shapers.

func toResults(rs []group.Result) []groupResult {
	out := make([]groupResult, len(rs))
	for i, r := range rs {
		out[i] = groupResult{UserID: r.User, Result: "success"}
		if !r.OK {
			out[i].Result, out[i].Reason = "fail", r.Reason
		}
	}
	return out
}

// banSeconds renders a ban_all end (unix ms, -1 for ever) in the
// reference's seconds.
func banSeconds(ms int64) int64 {
	if ms <= 0 {
		return ms
	}
	return ms / 1000
}

func toInfo(v *group.View) groupInfo {
	g := v.Group
	return groupInfo{
		ApplyApproval: g.ApplyApproval, Avatar: g.Avatar, BanExpireTime: banSeconds(g.BanExpire), Capacity: g.Capacity,
		Count: g.Count, CreatedAt: g.Created, Description: g.Description, Ext: g.Ext, GroupID: g.ID,
		HistoryVisible: g.HistoryVisible, MemberInvite: g.MemberInvite, MemberModify: g.MemberModify,
		MsgMuteMode: v.MuteMode, MsgPushMode: v.PushMode, Name: g.Name, OwnerID: g.Owner, ReadAck: g.ReadAck,
		Status: g.Status, Type: g.Type, UpdatedAt: g.Updated,
	}
}

func toMembers(ms []group.Member) []groupMember {
	out := make([]groupMember, len(ms))
	for i, m := range ms {
		out[i] = groupMember{DisplayName: m.DisplayName, ExpiredTime: m.BanExpire, JoinTime: m.Joined, UserID: m.User}
	}
	return out
}

func toAnnouncement(a *store.Announcement) groupAnnouncement {
	return groupAnnouncement{Author: a.Author, Content: a.Content, CreatedAt: a.Created, GroupID: a.Group, ID: a.ID, Title: a.Title}
}

// groupActor is the actor of a request; with an admin token and a user_id
// header the user must exist and be enabled (AccessUser routes had that
// checked already).
func (s *Server) groupActor(r *Req) (group.Actor, error) {
	if r.UserID != 0 && r.Route.Access != AccessUser {
		if err := s.checkUser(r.Ctx, r.App.ID, r.UserID); err != nil {
			return group.Actor{}, err
		}
	}
	return group.Actor{User: r.UserID}, nil
}

// bodyGroup is the body's group_id, or with an admin token the group_id
// header's (group.md: "call this interface as an Admin for this group").
func bodyGroup(r *Req, gid int64) (int64, error) {
	if gid != 0 {
		if gid < 0 {
			return 0, BadParam("group_id", "must be a positive group id")
		}
		return gid, nil
	}
	if v := r.HTTP.Request.Header.Peek("group_id"); len(v) > 0 && r.Admin {
		n, err := strconv.ParseInt(string(v), 10, 64)
		if err != nil || n <= 0 {
			return 0, BadParam("group_id", "header must be a positive group id")
		}
		return n, nil
	}
	return 0, BadParam("group_id", "required")
}

// queryGroup is the group_id query parameter.
func queryGroup(r *Req) (int64, error) {
	gid, err := r.QueryInt64("group_id", 0)
	if err != nil {
		return 0, err
	}
	if gid <= 0 {
		return 0, BadParam("group_id", "must be a positive group id")
	}
	return gid, nil
}

// groupCall runs fn with the actor, mapping domain refusals.
func (s *Server) groupCall(r *Req, fn func(a group.Actor) (any, error)) (any, error) {
	a, err := s.groupActor(r)
	if err != nil {
		return nil, err
	}
	out, err := fn(a)
	if err != nil {
		return nil, groupErr(err)
	}
	return out, nil
}

// bound binds the route's body type T and resolves its group id.
func bound[T any](r *Req, gid func(*T) int64) (*T, int64, error) {
	var body T
	if err := r.Bind(&body); err != nil {
		return nil, 0, err
	}
	if gid == nil {
		return &body, 0, nil
	}
	g, err := bodyGroup(r, gid(&body))
	return &body, g, err
}
