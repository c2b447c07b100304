package group

import (
	"context"
	"sort"
	"strconv"

	"github.com/chatgate/chatgate/store"
)

// Managing a group: info, settings, roles, bans, the blacklist, member
// lists and each member's own settings.

// View is a group as the actor sees it: the group, plus the actor's own
// push and mute modes when the actor is a member.
type View struct {
	*store.Group
	PushMode, MuteMode int32
}

// Info returns a live group. Any user of the app may read a group's info
// (to decide to apply); the modes are the actor's.
func (s *Service) Info(ctx context.Context, app string, a Actor, gid int64) (*View, error) {
	st, err := s.load(ctx, app, gid, a)
	if err != nil {
		return nil, err
	}
	vs, err := s.views(ctx, app, a, []*store.Group{st.g})
	if err != nil {
		return nil, err
	}
	return vs[0], nil
}

// Settings is Info for members only (and the backend).
func (s *Service) Settings(ctx context.Context, app string, a Actor, gid int64) (*View, error) {
	st, err := s.load(ctx, app, gid, a)
	if err != nil {
		return nil, err
	}
	if err := st.need(RoleMember); err != nil {
		return nil, err
	}
	vs, err := s.views(ctx, app, a, []*store.Group{st.g})
	if err != nil {
		return nil, err
	}
	return vs[0], nil
}

// InfoBatch returns the live groups of gids (missing and destroyed ones are
// left out), in order.
func (s *Service) InfoBatch(ctx context.Context, app string, a Actor, gids []int64) ([]*View, error) {
	if len(gids) == 0 || len(gids) > MaxInfoBatch {
		return nil, refuse(ErrBadInput, "group_list must name 1 to %d groups", MaxInfoBatch)
	}
	gs, err := s.st.GetGroups(ctx, app, gids)
	if err != nil {
		return nil, err
	}
	live := gs[:0]
	for _, g := range gs {
		if g != nil && g.Status == store.GroupLive {
			live = append(live, g)
		}
	}
	return s.views(ctx, app, a, live)
}

func (s *Service) views(ctx context.Context, app string, a Actor, gs []*store.Group) ([]*View, error) {
	out := make([]*View, len(gs))
	for i, g := range gs {
		out[i] = &View{Group: g}
		if a.Backend() {
			continue
		}
		pm, err := s.st.MemberValues(ctx, store.GroupPushModeKey(app, g.ID), []int64{a.User})
		if err != nil {
			return nil, err
		}
		mm, err := s.st.MemberValues(ctx, store.GroupMuteModeKey(app, g.ID), []int64{a.User})
		if err != nil {
			return nil, err
		}
		out[i].PushMode, out[i].MuteMode = atoi32(pm[0]), atoi32(mm[0])
	}
	return out, nil
}

// Info fields a member may change (admins always, members when
// allow_member_modify is on).
const (
	InfoName        = store.GroupFieldName
	InfoAvatar      = store.GroupFieldAvatar
	InfoDescription = store.GroupFieldDescription
	InfoExt         = store.GroupFieldExt
)

var infoMax = map[string]int{InfoName: MaxNameBytes, InfoAvatar: MaxAvatarBytes, InfoDescription: MaxDescriptionBytes, InfoExt: MaxExtBytes}

// SetInfo changes one info field (InfoName, InfoAvatar, InfoDescription,
// InfoExt).
func (s *Service) SetInfo(ctx context.Context, app string, a Actor, gid int64, field, value string) error {
	max, ok := infoMax[field]
	if !ok {
		return refuse(ErrBadInput, "unknown group field %q", field)
	}
	if err := checkLen("value", value, max); err != nil {
		return err
	}
	st, err := s.load(ctx, app, gid, a)
	if err != nil {
		return err
	}
	if err := st.canModify(); err != nil {
		return err
	}
	return s.setFields(ctx, app, a, gid, KindInfoChanged, map[string]any{field: value}, map[string]string{field: value})
}

func (s *Service) setFields(ctx context.Context, app string, a Actor, gid int64, kind string, fields map[string]any, data map[string]string) error {
	if err := s.st.SetGroupFields(ctx, app, gid, s.nowMs(), fields); err != nil {
		if err == store.ErrNotFound {
			return refuse(ErrGroupNotFound, "group %d does not exist", gid)
		}
		return err
	}
	s.emit(ctx, app, Notice{Kind: kind, Group: gid, Actor: a.User, Data: data})
	return nil
}

// Boolean settings (admins).
const (
	SettingMemberInvite   = store.GroupFieldMemberInvite   // allow_member_invitation
	SettingMemberModify   = store.GroupFieldMemberModify   // allow_member_modify
	SettingHistoryVisible = store.GroupFieldHistoryVisible // history_visible
	SettingReadAck        = store.GroupFieldReadAck        // enable_read_ack
)

// SetSetting changes a boolean setting (Setting* constants).
func (s *Service) SetSetting(ctx context.Context, app string, a Actor, gid int64, setting string, on bool) error {
	switch setting {
	case SettingMemberInvite, SettingMemberModify, SettingHistoryVisible, SettingReadAck:
	default:
		return refuse(ErrBadInput, "unknown group setting %q", setting)
	}
	if err := s.needAdmin(ctx, app, a, gid); err != nil {
		return err
	}
	v := "0"
	if on {
		v = "1"
	}
	return s.setFields(ctx, app, a, gid, KindSettingsChanged, map[string]any{setting: v},
		map[string]string{setting: strconv.FormatBool(on)})
}

// SetApplyApproval sets apply_approval (0 accept all, 1 admins approve, 2
// reject all). Groups that take applications are on the public list.
func (s *Service) SetApplyApproval(ctx context.Context, app string, a Actor, gid int64, v int32) error {
	if v < ApplyAcceptAll || v > ApplyRejectAll {
		return refuse(ErrBadInput, "apply_approval must be 0, 1 or 2, got %d", v)
	}
	if err := s.needAdmin(ctx, app, a, gid); err != nil {
		return err
	}
	return s.setFields(ctx, app, a, gid, KindSettingsChanged, map[string]any{store.GroupFieldApplyApproval: v},
		map[string]string{store.GroupFieldApplyApproval: strconv.Itoa(int(v))})
}

func (s *Service) needAdmin(ctx context.Context, app string, a Actor, gid int64) error {
	st, err := s.load(ctx, app, gid, a)
	if err != nil {
		return err
	}
	return st.need(RoleAdmin)
}

// banEnd turns a duration in minutes (1..MaxBanMinutes, or BanForever)
// into an expiry in unix ms (-1 for ever).
func (s *Service) banEnd(minutes int64) (int64, error) {
	if minutes == BanForever {
		return BanForever, nil
	}
	if minutes < 1 || minutes > MaxBanMinutes {
		return 0, refuse(ErrBadInput, "duration must be 1 to %d minutes, or -1 (until lifted), got %d", MaxBanMinutes, minutes)
	}
	return s.nowMs() + minutes*60_000, nil
}

// BanAll lets only admins (and the owner) send for minutes (-1: until
// UnbanAll); it returns the end in unix ms (-1 for ever).
func (s *Service) BanAll(ctx context.Context, app string, a Actor, gid, minutes int64) (int64, error) {
	end, err := s.banEnd(minutes)
	if err != nil {
		return 0, err
	}
	if err := s.needAdmin(ctx, app, a, gid); err != nil {
		return 0, err
	}
	return end, s.setFields(ctx, app, a, gid, KindSettingsChanged, map[string]any{store.GroupFieldBanExpire: end},
		map[string]string{"ban_expire_time": strconv.FormatInt(end, 10)})
}

// UnbanAll ends ban_all.
func (s *Service) UnbanAll(ctx context.Context, app string, a Actor, gid int64) error {
	if err := s.needAdmin(ctx, app, a, gid); err != nil {
		return err
	}
	return s.setFields(ctx, app, a, gid, KindSettingsChanged, map[string]any{store.GroupFieldBanExpire: 0},
		map[string]string{"ban_expire_time": "0"})
}

// Member is a member as listed.
type Member struct {
	User        int64
	Joined      int64 // unix ms
	DisplayName string
	// BanExpire is the end of the member's ban (unix ms, -1 for ever), 0
	// when not banned.
	BanExpire int64
}

// member checks that the actor may read the group's members.
func (s *Service) memberView(ctx context.Context, app string, a Actor, gid int64) (*state, error) {
	st, err := s.load(ctx, app, gid, a)
	if err != nil {
		return nil, err
	}
	return st, st.need(RoleMember)
}

func (s *Service) describe(ctx context.Context, app string, gid int64, uids []int64) ([]Member, error) {
	joined, err := s.st.MemberValues(ctx, store.GroupJoinedKey(app, gid), uids)
	if err != nil {
		return nil, err
	}
	names, err := s.st.MemberValues(ctx, store.GroupNamesKey(app, gid), uids)
	if err != nil {
		return nil, err
	}
	bans, err := s.st.MemberValues(ctx, store.GroupBansKey(app, gid), uids)
	if err != nil {
		return nil, err
	}
	now := s.nowMs()
	out := make([]Member, 0, len(uids))
	for i, u := range uids {
		if joined[i] == "" {
			continue // not a member
		}
		m := Member{User: u, Joined: atoi64(joined[i]), DisplayName: names[i]}
		if b := atoi64(bans[i]); b == BanForever || b > now {
			m.BanExpire = b
		}
		out = append(out, m)
	}
	return out, nil
}

// Members pages the members by id after the cursor.
func (s *Service) Members(ctx context.Context, app string, a Actor, gid, after int64, limit int) ([]Member, bool, int64, error) {
	st, err := s.memberView(ctx, app, a, gid)
	if err != nil {
		return nil, false, 0, err
	}
	ids, more, err := s.st.MemberPage(ctx, app, gid, after, limit)
	if err != nil {
		return nil, false, 0, err
	}
	ms, err := s.describe(ctx, app, gid, ids)
	return ms, more, st.g.Count, err
}

// MemberDetails describes the members among uids (others are left out).
func (s *Service) MemberDetails(ctx context.Context, app string, a Actor, gid int64, uids []int64) ([]Member, error) {
	uids, err := checkUsers(uids)
	if err != nil {
		return nil, err
	}
	if _, err := s.memberView(ctx, app, a, gid); err != nil {
		return nil, err
	}
	return s.describe(ctx, app, gid, uids)
}

// Admins lists the admins (owner not included).
func (s *Service) Admins(ctx context.Context, app string, a Actor, gid int64) ([]Member, error) {
	if _, err := s.memberView(ctx, app, a, gid); err != nil {
		return nil, err
	}
	ids, err := s.st.GroupAdmins(ctx, app, gid)
	if err != nil {
		return nil, err
	}
	sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
	return s.describe(ctx, app, gid, ids)
}

// Banned lists the members whose ban has not ended, by id.
func (s *Service) Banned(ctx context.Context, app string, a Actor, gid int64) ([]Member, error) {
	if _, err := s.memberView(ctx, app, a, gid); err != nil {
		return nil, err
	}
	all, err := s.st.AllMemberValues(ctx, store.GroupBansKey(app, gid))
	if err != nil {
		return nil, err
	}
	ids := sortedKeys(all)
	ms, err := s.describe(ctx, app, gid, ids)
	if err != nil {
		return nil, err
	}
	out := ms[:0]
	for _, m := range ms {
		if m.BanExpire != 0 {
			out = append(out, m)
		}
	}
	return out, nil
}

// Blocked is a blacklist entry.
type Blocked struct {
	User    int64
	Created int64 // unix ms
}

// BlockedList lists the group's blacklist by id (admins).
func (s *Service) BlockedList(ctx context.Context, app string, a Actor, gid int64) ([]Blocked, error) {
	if err := s.needAdmin(ctx, app, a, gid); err != nil {
		return nil, err
	}
	all, err := s.st.AllMemberValues(ctx, store.GroupBlockedKey(app, gid))
	if err != nil {
		return nil, err
	}
	var out []Blocked
	for _, u := range sortedKeys(all) {
		out = append(out, Blocked{User: u, Created: atoi64(all[u])})
	}
	return out, nil
}

// SetAdmins adds (or removes) admins among the members (the owner only).
func (s *Service) SetAdmins(ctx context.Context, app string, a Actor, gid int64, uids []int64, add bool) ([]Result, error) {
	uids, err := checkUsers(uids)
	if err != nil {
		return nil, err
	}
	st, err := s.load(ctx, app, gid, a)
	if err != nil {
		return nil, err
	}
	if err := st.need(RoleOwner); err != nil {
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
			res[i] = fail(u, "the owner")
		case !member[i]:
			res[i] = fail(u, "not a member")
		case add && admin[i]:
			res[i] = fail(u, "already an admin")
		case !add && !admin[i]:
			res[i] = fail(u, "not an admin")
		default:
			res[i] = Result{User: u, OK: true}
			ok = append(ok, u)
		}
	}
	if len(ok) == 0 {
		return res, nil
	}
	if err := s.st.SetGroupAdmins(ctx, app, gid, ok, add); err != nil {
		return nil, err
	}
	kind := KindAdminsAdded
	if !add {
		kind = KindAdminsRemoved
	}
	s.emit(ctx, app, Notice{Kind: kind, Group: gid, Actor: a.User, Users: ok})
	return res, nil
}

// Ban mutes members for minutes (-1: until unbanned); the rules of Kick
// say who may ban whom.
func (s *Service) Ban(ctx context.Context, app string, a Actor, gid int64, uids []int64, minutes int64) ([]Result, error) {
	end, err := s.banEnd(minutes)
	if err != nil {
		return nil, err
	}
	return s.removeOthers(ctx, app, a, gid, uids, "banned", func(ok []int64) error {
		vals := map[int64]string{}
		for _, u := range ok {
			vals[u] = strconv.FormatInt(end, 10)
		}
		if err := s.st.SetMemberValues(ctx, store.GroupBansKey(app, gid), vals); err != nil {
			return err
		}
		s.emit(ctx, app, Notice{Kind: KindMemberBanned, Group: gid, Actor: a.User, Users: ok,
			Data: map[string]string{"expire_time": strconv.FormatInt(end, 10)}})
		return nil
	})
}

// Unban lifts members' bans (admins).
func (s *Service) Unban(ctx context.Context, app string, a Actor, gid int64, uids []int64) ([]Result, error) {
	return s.removeOthers(ctx, app, a, gid, uids, "unbanned", func(ok []int64) error {
		vals := map[int64]string{}
		for _, u := range ok {
			vals[u] = ""
		}
		if err := s.st.SetMemberValues(ctx, store.GroupBansKey(app, gid), vals); err != nil {
			return err
		}
		s.emit(ctx, app, Notice{Kind: KindMemberUnbanned, Group: gid, Actor: a.User, Users: ok})
		return nil
	})
}

// Block blacklists users (admins; the rules of Kick for members): a
// blacklisted member is removed, and no blacklisted user can apply, be
// invited or join until unblocked.
func (s *Service) Block(ctx context.Context, app string, a Actor, gid int64, uids []int64) ([]Result, error) {
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
	states, err := s.st.UserStates(ctx, app, uids)
	if err != nil {
		return nil, err
	}
	member, admin, err := s.st.Memberships(ctx, app, gid, uids)
	if err != nil {
		return nil, err
	}
	blocked, err := s.st.MemberValues(ctx, store.GroupBlockedKey(app, gid), uids)
	if err != nil {
		return nil, err
	}
	res := make([]Result, len(uids))
	vals := map[int64]string{}
	var ok, members []int64
	now := strconv.FormatInt(s.nowMs(), 10)
	for i, u := range uids {
		switch {
		case states[i] == store.UserMissing:
			res[i] = fail(u, "the user does not exist")
		case u == st.g.Owner:
			res[i] = fail(u, "the owner cannot be blacklisted")
		case blocked[i] != "":
			res[i] = fail(u, "already blacklisted")
		case admin[i] && member[i] && st.role != RoleOwner:
			res[i] = fail(u, "only the owner may act on an admin")
		default:
			res[i] = Result{User: u, OK: true}
			ok = append(ok, u)
			vals[u] = now
			if member[i] {
				members = append(members, u)
			}
		}
	}
	if len(ok) == 0 {
		return res, nil
	}
	if err := s.st.SetMemberValues(ctx, store.GroupBlockedKey(app, gid), vals); err != nil {
		return nil, err
	}
	if err := s.st.RemoveMembers(ctx, app, gid, members, false); err != nil {
		return nil, err
	}
	s.emit(ctx, app, Notice{Kind: KindMemberBlocked, Group: gid, Actor: a.User, Users: ok, To: ok})
	return res, nil
}

// Unblock takes users off the blacklist (admins).
func (s *Service) Unblock(ctx context.Context, app string, a Actor, gid int64, uids []int64) ([]Result, error) {
	uids, err := checkUsers(uids)
	if err != nil {
		return nil, err
	}
	if err := s.needAdmin(ctx, app, a, gid); err != nil {
		return nil, err
	}
	blocked, err := s.st.MemberValues(ctx, store.GroupBlockedKey(app, gid), uids)
	if err != nil {
		return nil, err
	}
	res := make([]Result, len(uids))
	vals := map[int64]string{}
	var ok []int64
	for i, u := range uids {
		if blocked[i] == "" {
			res[i] = fail(u, "not blacklisted")
			continue
		}
		res[i] = Result{User: u, OK: true}
		vals[u] = ""
		ok = append(ok, u)
	}
	if len(ok) == 0 {
		return res, nil
	}
	if err := s.st.SetMemberValues(ctx, store.GroupBlockedKey(app, gid), vals); err != nil {
		return nil, err
	}
	s.emit(ctx, app, Notice{Kind: KindMemberUnblocked, Group: gid, Actor: a.User, Users: ok, To: ok})
	return res, nil
}

// ownSetting writes one of the acting member's own per-group values.
func (s *Service) ownSetting(ctx context.Context, app string, a Actor, gid int64, key func(string, int64) string, v string) error {
	if a.Backend() {
		return refuse(ErrBadInput, "user_id: header required: a member sets its own value")
	}
	if _, err := s.memberView(ctx, app, a, gid); err != nil {
		return err
	}
	return s.st.SetMemberValues(ctx, key(app, gid), map[int64]string{a.User: v})
}

// SetDisplayName sets the acting member's display name in the group
// (empty: none); the members get group_member_display_name.
func (s *Service) SetDisplayName(ctx context.Context, app string, a Actor, gid int64, name string) error {
	if err := checkLen("value", name, MaxDisplayNameBytes); err != nil {
		return err
	}
	if err := s.ownSetting(ctx, app, a, gid, store.GroupNamesKey, name); err != nil {
		return err
	}
	s.emit(ctx, app, Notice{Kind: KindMemberDisplayName, Group: gid, Actor: a.User, Users: []int64{a.User},
		Data: map[string]string{"display_name": name}})
	return nil
}

// SetPushMode sets the acting member's msg_push_mode (0-4). A personal
// setting: no notice.
func (s *Service) SetPushMode(ctx context.Context, app string, a Actor, gid int64, mode int32) error {
	if mode < PushAll || mode > PushAtOnly {
		return refuse(ErrBadPushMode, "msg_push_mode must be 0 to 4, got %d", mode)
	}
	return s.ownSetting(ctx, app, a, gid, store.GroupPushModeKey, modeValue(mode))
}

// SetMuteMode sets the acting member's msg_mute_mode (0-2). A personal
// setting: no notice.
func (s *Service) SetMuteMode(ctx context.Context, app string, a Actor, gid int64, mode int32) error {
	if mode < MuteNone || mode > MuteMessages {
		return refuse(ErrBadInput, "msg_mute_mode must be 0, 1 or 2, got %d", mode)
	}
	return s.ownSetting(ctx, app, a, gid, store.GroupMuteModeKey, modeValue(mode))
}

// modeValue stores mode 0 as no entry.
func modeValue(m int32) string {
	if m == 0 {
		return ""
	}
	return strconv.Itoa(int(m))
}

// PublicList returns the app's groups that take applications, oldest
// first (at most MaxPublicList).
func (s *Service) PublicList(ctx context.Context, app string) ([]int64, error) {
	return s.st.PublicGroups(ctx, app, MaxPublicList)
}

// UserJoined returns the groups the acting user is a member of, by id.
func (s *Service) UserJoined(ctx context.Context, app string, a Actor) ([]int64, error) {
	if a.Backend() {
		return nil, refuse(ErrBadInput, "user_id: header required: whose groups?")
	}
	ids, err := s.st.UserGroups(ctx, app, a.User)
	sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
	return ids, err
}

func sortedKeys(m map[int64]string) []int64 {
	out := make([]int64, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}

func atoi64(s string) int64 { n, _ := strconv.ParseInt(s, 10, 64); return n }

func atoi32(s string) int32 { n, _ := strconv.ParseInt(s, 10, 32); return int32(n) }
