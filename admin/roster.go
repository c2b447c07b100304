package admin

import (
	"errors"
	"fmt"
	"slices"
	"strconv"

	"github.com/redis/go-redis/v9"

	"github.com/chatgate/chatgate/store"
)

// The /roster operations: friends, friend applications following the
// invitee's auth_mode, the blacklist (which the routers enforce on every
// one-to-one send) and user search. Every operation acts as a user: the
// user token's, or the user_id header's with an admin token; a query or
// body user_id names the other user. docs/api/rosters-messages.md is the
// reference.

// Limits of roster values and lists.
const (
	maxAliasBytes    = 128
	maxReasonBytes   = 512
	maxAnswerBytes   = 256
	maxRosterExt     = 4 << 10
	maxRosterBatch   = 100
	maxRosterDetails = 500
	maxBlocked       = 10_000
	rosterPageMax    = 1000
	rosterPageDef    = 100
)

type applyRequest struct {
	Alias      string  `json:"alias" doc:"The name the applicant gives the invitee once friends; at most 128 bytes."`
	AuthAnswer *string `json:"auth_answer" doc:"The answer to the invitee's question (auth_mode 2)."`
	Reason     string  `json:"reason" doc:"Shown to the invitee; at most 512 bytes."`
	UserID     int64   `json:"user_id" required:"true" doc:"The invitee."`
}

type rosterApplication struct {
	Alias  string `json:"alias"`
	Reason string `json:"reason"`
	UserID int64  `json:"user_id" required:"true"`
}

type failItem struct {
	Reason string `json:"reason"`
	UserID int64  `json:"user_id"`
}

type batchApplyResult struct {
	Fails   []failItem `json:"fails"`
	Success []int64    `json:"success"`
}

type applicationItem struct {
	ExpiredTime int64  `json:"expired_time" doc:"When the request expires (ms)"`
	Reason      string `json:"reason"`
	Status      int32  `json:"status" doc:"0 waiting, 1 accepted, 2 declined"`
	UserID      int64  `json:"user_id" doc:"The applicant"`
}

type declineRequest struct {
	Reason string `json:"reason" doc:"At most 512 bytes."`
	UserID int64  `json:"user_id" required:"true" doc:"The applicant whose request is declined."`
}

type rosterExtRequest struct {
	Alias            *string `json:"alias" doc:"At most 128 bytes; absent: unchanged."`
	Ext              *string `json:"ext" doc:"At most 4 KiB; absent: unchanged."`
	MuteNotification *bool   `json:"mute_notification" doc:"Absent: unchanged."`
	UserID           int64   `json:"user_id" required:"true" doc:"The friend."`
}

type idList struct {
	List []int64 `json:"list" required:"true"`
}

type rosterItem struct {
	Alias            string `json:"alias"`
	AuthMode         int32  `json:"auth_mode"`
	AuthQuestion     string `json:"auth_question"`
	Avatar           string `json:"avatar"`
	Description      string `json:"description"`
	Ext              string `json:"ext"`
	MuteNotification bool   `json:"mute_notification"`
	NickName         string `json:"nick_name"`
	PublicInfo       string `json:"public_info"`
	Relation         int32  `json:"relation" doc:"0 friend, 1 deleted friend, 2 stranger, 3 blacklisted"`
	UserID           int64  `json:"user_id"`
	Username         string `json:"username"`
}

type legacyRoster struct {
	UserID int64  `json:"user_id"`
	Name   string `json:"name" doc:"The alias the user gave the friend, else its nickname, else its username"`
}

func (s *Server) rosterRoutes() []*Route {
	target := []Param{{Name: "user_id", Type: "integer", Required: true, Desc: "The other user"}}
	page := []Param{
		{Name: "cursor", Type: "string", Desc: "The cursor of the previous answer; absent for the first page"},
		{Name: "limit", Type: "int32", Desc: "1 to 1000, default 100"},
	}
	return []*Route{
		{Methods: []string{"POST"}, Path: "/roster/apply", Group: "roster", Access: AccessUser,
			Summary: "Apply to add a friend, as the invitee's auth_mode says (0 at once, 1 on consent, 2 on the right answer, 3 never)",
			Body:    applyRequest{}, Errors: []int{CodeAlreadyFriend, CodeAlreadyBlocked, CodeFriendRejected, CodeBlocked},
			Handle: s.rosterApply},
		{Methods: []string{"POST"}, Path: "/roster/apply/batch", Group: "roster", Access: AccessUser,
			Summary: "Apply to add up to 100 friends; per-user outcome in success / fails",
			Body:    []rosterApplication{}, Result: batchApplyResult{},
			Handle: s.rosterApplyBatch},
		{Methods: []string{"GET"}, Path: "/roster/apply/list", Group: "roster", Access: AccessUser,
			Summary: "Friend requests to the acting user, by applicant id; the envelope has cursor (absent on the last page) and version",
			Query:   page, Result: []applicationItem{},
			Handle: s.rosterApplyList},
		{Methods: []string{"POST", "PUT"}, Path: "/roster/accept", Group: "roster", Access: AccessUser,
			Summary: "Accept the pending friend request of user_id",
			Query:   target, Errors: []int{CodeAlreadyFriend, CodeNotFriend},
			Handle: s.rosterAccept},
		{Methods: []string{"POST", "PUT"}, Path: "/roster/decline", Group: "roster", Access: AccessUser,
			Summary: "Decline the pending friend request of user_id",
			Body:    declineRequest{}, Errors: []int{CodeNotFriend},
			Handle: s.rosterDecline},
		{Methods: []string{"POST", "DELETE"}, Path: "/roster/delete", Group: "roster", Access: AccessUser,
			Summary: "Delete a friend (both sides)",
			Query:   target, Errors: []int{CodeNotFriend},
			Handle: s.rosterDelete},
		{Methods: []string{"POST", "PUT"}, Path: "/roster/block", Group: "roster", Access: AccessUser,
			Summary: "Blacklist user_id: its one-to-one messages to the acting user are refused (10014)",
			Query:   target, Errors: []int{CodeAlreadyBlocked},
			Handle: s.rosterBlock},
		{Methods: []string{"POST", "DELETE"}, Path: "/roster/unblock", Group: "roster", Access: AccessUser,
			Summary: "Remove user_id from the blacklist",
			Query:   target,
			Handle:  s.rosterUnblock},
		{Methods: []string{"GET"}, Path: "/roster/blocked_list", Group: "roster", Access: AccessUser,
			Summary: "The acting user's blacklist, by id",
			Result:  []int64{},
			Handle:  s.rosterBlockedList},
		{Methods: []string{"POST", "PUT"}, Path: "/roster/ext", Group: "roster", Access: AccessUser,
			Summary: "Update the alias, ext or mute_notification the acting user keeps for a friend",
			Body:    rosterExtRequest{}, Errors: []int{CodeNotFriend},
			Handle: s.rosterExt},
		{Methods: []string{"GET"}, Path: "/roster/list", Group: "roster", Access: AccessUser,
			Summary: "The acting user's friend ids, by id; the envelope has cursor (absent on the last page) and version",
			Query:   page, Result: []int64{},
			Handle: s.rosterList},
		{Methods: []string{"POST"}, Path: "/roster/list", Group: "roster", Access: AccessUser,
			Summary: "Details of up to 500 users as the acting user sees them (users that do not exist are left out)",
			Body:    idList{}, Result: []rosterItem{},
			Handle: s.rosterDetails},
		{Methods: []string{"GET"}, Path: "/roster/may_message", Group: "roster", Access: AccessToken,
			Summary: "Whether user_id may send one-to-one messages to roster_id (false when roster_id blacklisted user_id)",
			Query: []Param{
				{Name: "roster_id", Type: "integer", Required: true, Desc: "The recipient"},
				{Name: "user_id", Type: "integer", Required: true, Desc: "The sender"},
			},
			Errors: []int{CodeUserNotFound},
			Handle: s.rosterMayMessage},
		{Methods: []string{"GET"}, Path: "/roster/id", Group: "roster", Access: AccessUser,
			Summary: "Find a user by id", Query: target, Result: rosterItem{},
			Handle: s.rosterByID},
		{Methods: []string{"GET"}, Path: "/roster/name", Group: "roster", Access: AccessUser,
			Summary: "Find a user by username",
			Query:   []Param{{Name: "username", Type: "string", Required: true, Desc: "Username (case-insensitive)"}},
			Result:  rosterItem{},
			Handle:  func(r *Req) (any, error) { return s.rosterByIdent(r, "username", store.IdentUsername) }},
		{Methods: []string{"GET"}, Path: "/roster/mobile", Group: "roster", Access: AccessUser,
			Summary: "Find a user by mobile number",
			Query:   []Param{{Name: "mobile", Type: "string", Required: true, Desc: "Mobile number"}},
			Result:  rosterItem{},
			Handle:  func(r *Req) (any, error) { return s.rosterByIdent(r, "mobile", store.IdentMobile) }},
		// Legacy paths of the Lanying server guide (seed 000).
		{Methods: []string{"POST"}, Path: "/user/add_roster", Group: "roster", Access: AccessUser,
			Summary: "Legacy: apply to add each user of list as a friend (as /roster/apply); true when all were applied or already friends",
			Body:    idList{}, Errors: []int{CodeFriendRejected, CodeBlocked, CodeAlreadyBlocked},
			Handle: s.legacyAddRoster},
		{Methods: []string{"GET"}, Path: "/user/rosters", Group: "roster", Access: AccessUser,
			Summary: "Legacy: the acting user's friends (first 1000 by id) with a display name",
			Result:  []legacyRoster{},
			Handle:  s.legacyRosters},
	}
}

// otherUser reads and checks the query user_id naming the other user.
func (s *Server) otherUser(r *Req, mustExist bool) (int64, error) {
	id, err := r.QueryInt64("user_id", 0)
	if err != nil {
		return 0, err
	}
	return s.checkOther(r, "user_id", id, mustExist)
}

func (s *Server) checkOther(r *Req, name string, id int64, mustExist bool) (int64, error) {
	switch {
	case id <= 0:
		return 0, BadParam(name, "must be a positive user id")
	case id == r.UserID:
		return 0, BadParam(name, "names the acting user itself")
	}
	if mustExist {
		st, err := s.st.UserState(r.Ctx, r.App.ID, id)
		if err != nil {
			return 0, err
		}
		if st == store.UserMissing {
			return 0, Errf(CodeUserNotFound, "user %d does not exist", id)
		}
	}
	return id, nil
}

func checkLen(name, v string, max int) error {
	if len(v) > max {
		return BadParam(name, "at most %d bytes", max)
	}
	return nil
}

// apply is one friend application of the acting user to user to.
func (s *Server) apply(r *Req, to int64, alias, reason string, answer *string) error {
	if _, err := s.checkOther(r, "user_id", to, true); err != nil {
		return err
	}
	if err := checkLen("alias", alias, maxAliasBytes); err != nil {
		return err
	}
	if err := checkLen("reason", reason, maxReasonBytes); err != nil {
		return err
	}
	if answer != nil {
		if err := checkLen("auth_answer", *answer, maxAnswerBytes); err != nil {
			return err
		}
	}
	uid, app, now := r.UserID, r.App.ID, s.now()
	p, err := s.st.RosterPair(r.Ctx, app, uid, to)
	if err != nil {
		return err
	}
	switch {
	case p.Friends():
		return Errf(CodeAlreadyFriend, "user %d is already a friend", to)
	case p.ABlocksB:
		return Errf(CodeAlreadyBlocked, "user %d is in your blacklist; unblock it first", to)
	case p.BBlocksA:
		return Errf(CodeBlocked, "user %d blacklisted you", to)
	case p.AFriend != nil || p.BFriend != nil:
		// One side of an earlier friendship was written and the other
		// not: complete it.
		return s.st.MakeFriends(r.Ctx, app, uid, to, alias, "", now)
	case p.AppBA != nil && p.AppBA.Status == store.ApplicationPending && p.AppBA.Expires > now.UnixMilli():
		// The invitee asked first: both want it.
		if err := s.st.MakeFriends(r.Ctx, app, uid, to, alias, p.AppBA.Alias, now); err != nil {
			return err
		}
		s.rosterNotice(r, KindFriendAccepted, to, nil)
		return nil
	}
	set, err := s.st.Settings(r.Ctx, app, to)
	if err != nil {
		return err
	}
	switch set.AuthMode {
	case 1:
		if err := s.st.PutApplication(r.Ctx, app, to, store.Application{
			From: uid, Reason: reason, Alias: alias, Status: store.ApplicationPending,
			Created: now.UnixMilli(), Expires: now.Add(store.ApplicationTTL).UnixMilli(),
		}); err != nil {
			return err
		}
		s.rosterNotice(r, KindFriendRequest, to, noticeData("reason", reason, "alias", alias))
		return nil
	case 2:
		if answer == nil {
			return BadParam("auth_answer", "required: user %d accepts friends who answer its question", to)
		}
		if *answer != set.AuthAnswer {
			return Errf(CodeFriendRejected, "wrong answer to the question of user %d", to)
		}
	case 3:
		return Errf(CodeFriendRejected, "user %d accepts no friend requests", to)
	}
	if err := s.st.MakeFriends(r.Ctx, app, uid, to, alias, "", now); err != nil {
		return err
	}
	s.rosterNotice(r, KindFriendAdded, to, nil)
	return nil
}

func (s *Server) rosterApply(r *Req) (any, error) {
	var req applyRequest
	if err := r.Bind(&req); err != nil {
		return nil, err
	}
	return nil, s.apply(r, req.UserID, req.Alias, req.Reason, req.AuthAnswer)
}

func (s *Server) rosterApplyBatch(r *Req) (any, error) {
	var req []rosterApplication
	if err := r.Bind(&req); err != nil {
		return nil, err
	}
	switch {
	case len(req) == 0:
		return nil, BadParam("body", "at least one application")
	case len(req) > maxRosterBatch:
		return nil, BadParam("body", "at most %d applications, got %d", maxRosterBatch, len(req))
	}
	// Malformed entries fail the whole request before anything is written.
	for i, a := range req {
		name := "[" + strconv.Itoa(i) + "]."
		if a.UserID <= 0 {
			return nil, BadParam(name+"user_id", "must be a positive user id")
		}
		if err := checkLen(name+"alias", a.Alias, maxAliasBytes); err != nil {
			return nil, err
		}
		if err := checkLen(name+"reason", a.Reason, maxReasonBytes); err != nil {
			return nil, err
		}
	}
	out := batchApplyResult{Fails: []failItem{}, Success: []int64{}}
	for _, a := range req {
		err := s.apply(r, a.UserID, a.Alias, a.Reason, nil)
		var be *Error
		switch {
		case err == nil:
			out.Success = append(out.Success, a.UserID)
		case errors.As(err, &be):
			out.Fails = append(out.Fails, failItem{UserID: a.UserID, Reason: be.Msg})
		default:
			return nil, err
		}
	}
	return out, nil
}

func (s *Server) rosterApplyList(r *Req) (any, error) {
	after, err := pageCursor(r)
	if err != nil {
		return nil, err
	}
	limit, err := pageLimit(r, rosterPageDef, rosterPageMax)
	if err != nil {
		return nil, err
	}
	apps, more, err := s.st.Applications(r.Ctx, r.App.ID, r.UserID, after, limit, s.now())
	if err != nil {
		return nil, err
	}
	ver, err := s.st.RosterVersion(r.Ctx, r.App.ID, r.UserID)
	if err != nil {
		return nil, err
	}
	items := make([]applicationItem, len(apps))
	for i, a := range apps {
		reason := a.Reason
		items[i] = applicationItem{ExpiredTime: a.Expires, Reason: reason, Status: int32(a.Status), UserID: a.From}
	}
	p := &Page{Data: items, Version: ver}
	if more && len(apps) > 0 {
		p.Cursor = strconv.FormatInt(apps[len(apps)-1].From, 10)
	} else if more {
		// Every entry of the page had expired; go on after the page.
		p.Cursor = strconv.FormatInt(after+1, 10)
	}
	return p, nil
}

func (s *Server) rosterAccept(r *Req) (any, error) {
	from, err := s.otherUser(r, true)
	if err != nil {
		return nil, err
	}
	p, err := s.st.RosterPair(r.Ctx, r.App.ID, r.UserID, from)
	if err != nil {
		return nil, err
	}
	now := s.now()
	switch {
	case p.Friends():
		return nil, Errf(CodeAlreadyFriend, "user %d is already a friend", from)
	case p.AppBA == nil || p.AppBA.Status != store.ApplicationPending || p.AppBA.Expires <= now.UnixMilli():
		return nil, Errf(CodeNotFriend, "no pending friend request from user %d (it may have expired)", from)
	}
	if err := s.st.MakeFriends(r.Ctx, r.App.ID, r.UserID, from, "", p.AppBA.Alias, now); err != nil {
		return nil, err
	}
	s.rosterNotice(r, KindFriendAccepted, from, nil)
	return nil, nil
}

func (s *Server) rosterDecline(r *Req) (any, error) {
	var req declineRequest
	if err := r.Bind(&req); err != nil {
		return nil, err
	}
	from, err := s.checkOther(r, "user_id", req.UserID, true)
	if err != nil {
		return nil, err
	}
	if err := checkLen("reason", req.Reason, maxReasonBytes); err != nil {
		return nil, err
	}
	err = s.st.DeclineApplication(r.Ctx, r.App.ID, r.UserID, from, req.Reason, s.now())
	if errors.Is(err, store.ErrNotFound) {
		return nil, Errf(CodeNotFriend, "no pending friend request from user %d (it may have expired)", from)
	}
	if err != nil {
		return nil, err
	}
	s.rosterNotice(r, KindFriendDeclined, from, noticeData("reason", req.Reason))
	return nil, nil
}

func (s *Server) rosterDelete(r *Req) (any, error) {
	other, err := s.otherUser(r, false)
	if err != nil {
		return nil, err
	}
	p, err := s.st.RosterPair(r.Ctx, r.App.ID, r.UserID, other)
	if err != nil {
		return nil, err
	}
	if p.AFriend == nil && p.BFriend == nil {
		return nil, Errf(CodeNotFriend, "user %d is not a friend", other)
	}
	if err := s.st.RemoveFriends(r.Ctx, r.App.ID, r.UserID, other); err != nil {
		return nil, err
	}
	s.rosterNotice(r, KindFriendDeleted, other, nil)
	return nil, nil
}

func (s *Server) rosterBlock(r *Req) (any, error) {
	other, err := s.otherUser(r, true)
	if err != nil {
		return nil, err
	}
	n, err := s.st.BlockedCount(r.Ctx, r.App.ID, r.UserID)
	if err != nil {
		return nil, err
	}
	if n >= maxBlocked {
		return nil, BadParam("user_id", "the blacklist is full (%d users)", maxBlocked)
	}
	added, err := s.st.Block(r.Ctx, r.App.ID, r.UserID, other)
	if err != nil {
		return nil, err
	}
	if !added {
		return nil, Errf(CodeAlreadyBlocked, "user %d is already in the blacklist", other)
	}
	return nil, nil
}

func (s *Server) rosterUnblock(r *Req) (any, error) {
	other, err := s.otherUser(r, false)
	if err != nil {
		return nil, err
	}
	removed, err := s.st.Unblock(r.Ctx, r.App.ID, r.UserID, other)
	if err != nil {
		return nil, err
	}
	if !removed {
		return nil, BadParam("user_id", "user %d is not in the blacklist", other)
	}
	return nil, nil
}

func (s *Server) rosterBlockedList(r *Req) (any, error) {
	return s.st.BlockedIDs(r.Ctx, r.App.ID, r.UserID)
}

func (s *Server) rosterExt(r *Req) (any, error) {
	var req rosterExtRequest
	if err := r.Bind(&req); err != nil {
		return nil, err
	}
	friend, err := s.checkOther(r, "user_id", req.UserID, false)
	if err != nil {
		return nil, err
	}
	if req.Alias != nil {
		if err := checkLen("alias", *req.Alias, maxAliasBytes); err != nil {
			return nil, err
		}
	}
	if req.Ext != nil {
		if err := checkLen("ext", *req.Ext, maxRosterExt); err != nil {
			return nil, err
		}
	}
	err = s.st.UpdateFriend(r.Ctx, r.App.ID, r.UserID, friend, func(f *store.Friend) {
		if req.Alias != nil {
			f.Alias = *req.Alias
		}
		if req.Ext != nil {
			f.Ext = *req.Ext
		}
		if req.MuteNotification != nil {
			f.Mute = *req.MuteNotification
		}
	})
	if errors.Is(err, store.ErrNotFound) {
		return nil, Errf(CodeNotFriend, "user %d is not a friend", friend)
	}
	return nil, err
}

func (s *Server) rosterList(r *Req) (any, error) {
	after, err := pageCursor(r)
	if err != nil {
		return nil, err
	}
	limit, err := pageLimit(r, rosterPageDef, rosterPageMax)
	if err != nil {
		return nil, err
	}
	ids, more, err := s.st.FriendIDs(r.Ctx, r.App.ID, r.UserID, after, limit)
	if err != nil {
		return nil, err
	}
	ver, err := s.st.RosterVersion(r.Ctx, r.App.ID, r.UserID)
	if err != nil {
		return nil, err
	}
	p := &Page{Data: ids, Version: ver}
	if more {
		p.Cursor = strconv.FormatInt(ids[len(ids)-1], 10)
	}
	return p, nil
}

// rosterItems describes users as the acting user sees them; users that do
// not exist are left out.
func (s *Server) rosterItems(r *Req, ids []int64) ([]rosterItem, error) {
	app, uid := r.App.ID, r.UserID
	users, err := s.st.GetUsers(r.Ctx, app, ids)
	if err != nil {
		return nil, err
	}
	rel, friends, err := s.st.Relations(r.Ctx, app, uid, ids)
	if err != nil {
		return nil, err
	}
	pipe := s.st.Redis().Pipeline()
	sets := make([]*store.SettingsCmd, len(ids))
	for i, id := range ids {
		if users[i] != nil {
			sets[i] = s.st.QueueSettings(r.Ctx, pipe, app, id)
		}
	}
	if _, err := pipe.Exec(r.Ctx); err != nil && !errors.Is(err, redis.Nil) {
		return nil, fmt.Errorf("admin: settings of %d users: %w", len(ids), err)
	}
	out := make([]rosterItem, 0, len(ids))
	for i, u := range users {
		if u == nil {
			continue
		}
		set, _, err := sets[i].Result()
		if err != nil {
			return nil, err
		}
		it := rosterItem{
			AuthMode: int32(set.AuthMode), AuthQuestion: set.AuthQuestion, Avatar: u.Avatar,
			Description: u.Description, NickName: u.Nickname, PublicInfo: u.PublicInfo,
			Relation: int32(rel[i]), UserID: u.ID, Username: u.Username,
		}
		if f := friends[i]; f != nil {
			it.Alias, it.Ext, it.MuteNotification = f.Alias, f.Ext, f.Mute
		}
		out = append(out, it)
	}
	return out, nil
}

func (s *Server) rosterDetails(r *Req) (any, error) {
	var req idList
	if err := r.Bind(&req); err != nil {
		return nil, err
	}
	ids, err := checkIDList(req.List, maxRosterDetails)
	if err != nil {
		return nil, err
	}
	return s.rosterItems(r, ids)
}

// checkIDList validates a list of user ids and drops repeats.
func checkIDList(list []int64, max int) ([]int64, error) {
	switch {
	case len(list) == 0:
		return nil, BadParam("list", "required: at least one user id")
	case len(list) > max:
		return nil, BadParam("list", "at most %d user ids, got %d", max, len(list))
	}
	out := make([]int64, 0, len(list))
	for _, id := range list {
		if id <= 0 {
			return nil, BadParam("list", "user ids must be positive, got %d", id)
		}
		if !slices.Contains(out, id) {
			out = append(out, id)
		}
	}
	return out, nil
}

func (s *Server) rosterByID(r *Req) (any, error) {
	id, err := r.QueryInt64("user_id", 0)
	if err != nil {
		return nil, err
	}
	if id <= 0 {
		return nil, BadParam("user_id", "must be a positive user id")
	}
	return s.oneItem(r, id)
}

func (s *Server) oneItem(r *Req, id int64) (any, error) {
	items, err := s.rosterItems(r, []int64{id})
	if err != nil {
		return nil, err
	}
	if len(items) == 0 {
		return nil, Errf(CodeUserNotFound, "user %d does not exist", id)
	}
	return items[0], nil
}

func (s *Server) rosterByIdent(r *Req, param, ident string) (any, error) {
	v, err := r.QueryString(param, "")
	if err != nil {
		return nil, err
	}
	if v == "" || len(v) > 128 {
		return nil, BadParam(param, "must be 1 to 128 bytes")
	}
	id, err := s.st.LookupIdent(r.Ctx, r.App.ID, ident, v)
	if errors.Is(err, store.ErrNotFound) {
		return nil, Errf(CodeUserNotFound, "no user with %s %q", param, clip(v))
	}
	if err != nil {
		return nil, err
	}
	return s.oneItem(r, id)
}

func (s *Server) rosterMayMessage(r *Req) (any, error) {
	from, err := r.QueryInt64("user_id", 0)
	if err != nil {
		return nil, err
	}
	to, err := r.QueryInt64("roster_id", 0)
	if err != nil {
		return nil, err
	}
	switch {
	case from <= 0:
		return nil, BadParam("user_id", "must be a positive user id")
	case to <= 0:
		return nil, BadParam("roster_id", "must be a positive user id")
	case !r.Admin && from != r.UserID && to != r.UserID:
		return nil, Errf(CodeNoPermission, "a user token asks only about its own messages")
	}
	states, err := s.st.UserStates(r.Ctx, r.App.ID, []int64{from, to})
	if err != nil {
		return nil, err
	}
	for i, st := range states {
		if st == store.UserMissing {
			return nil, Errf(CodeUserNotFound, "user %d does not exist", []int64{from, to}[i])
		}
	}
	if from == to {
		return true, nil
	}
	blocked, err := s.st.IsBlocked(r.Ctx, r.App.ID, to, from)
	if err != nil {
		return nil, err
	}
	return !blocked, nil
}

func (s *Server) legacyAddRoster(r *Req) (any, error) {
	var req idList
	if err := r.Bind(&req); err != nil {
		return nil, err
	}
	ids, err := checkIDList(req.List, maxRosterBatch)
	if err != nil {
		return nil, err
	}
	if slices.Contains(ids, r.UserID) {
		return nil, BadParam("list", "names the acting user itself")
	}
	states, err := s.st.UserStates(r.Ctx, r.App.ID, ids)
	if err != nil {
		return nil, err
	}
	for i, st := range states {
		if st == store.UserMissing {
			return nil, Errf(CodeUserNotFound, "user %d does not exist", ids[i])
		}
	}
	var first error
	for _, id := range ids {
		err := s.apply(r, id, "", "", nil)
		var be *Error
		switch {
		case err == nil:
		case errors.As(err, &be) && be.Code == CodeAlreadyFriend:
		case errors.As(err, &be):
			if first == nil {
				first = err
			}
		default:
			return nil, err
		}
	}
	return nil, first
}

func (s *Server) legacyRosters(r *Req) (any, error) {
	ids, _, err := s.st.FriendIDs(r.Ctx, r.App.ID, r.UserID, 0, rosterPageMax)
	if err != nil {
		return nil, err
	}
	out := make([]legacyRoster, 0, len(ids))
	if len(ids) == 0 {
		return out, nil
	}
	users, err := s.st.GetUsers(r.Ctx, r.App.ID, ids)
	if err != nil {
		return nil, err
	}
	friends, err := s.st.FriendsOf(r.Ctx, r.App.ID, r.UserID, ids)
	if err != nil {
		return nil, err
	}
	for i, id := range ids {
		it := legacyRoster{UserID: id}
		switch {
		case friends[i] != nil && friends[i].Alias != "":
			it.Name = friends[i].Alias
		case users[i] != nil && users[i].Nickname != "":
			it.Name = users[i].Nickname
		case users[i] != nil:
			it.Name = users[i].Username
		}
		out = append(out, it)
	}
	return out, nil
}
