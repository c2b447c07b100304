package admin

import (
	"sort"
	"strconv"

	"github.com/chatgate/chatgate/domain/group"
)

// Handlers of the /group operations that need more than one call.

// pageBy pages a whole list sorted by id: the items after the cursor (an
// id), at most limit, with the list's total.
func pageBy[T any](r *Req, items []T, id func(T) int64) (*Page, error) {
	after, err := pageCursor(r)
	if err != nil {
		return nil, err
	}
	limit, err := pageLimit(r, groupPageDef, groupPageMax)
	if err != nil {
		return nil, err
	}
	total := int64(len(items))
	i := sort.Search(len(items), func(i int) bool { return id(items[i]) > after })
	items = items[i:]
	p := &Page{Data: items, Total: &total}
	if len(items) > limit {
		p.Data, p.Cursor = items[:limit], strconv.FormatInt(id(items[limit-1]), 10)
	}
	return p, nil
}

func (s *Server) groupCreate(r *Req) (any, error) {
	b, _, err := bound[groupCreateRequest](r, nil)
	if err != nil {
		return nil, err
	}
	return s.groupCall(r, func(a group.Actor) (any, error) {
		g, _, err := s.grp.Create(r.Ctx, r.App.ID, a, group.CreateInput{
			Name: b.Name, Avatar: b.Avatar, Description: b.Description, Type: b.Type, Members: b.UserList,
		})
		if err != nil {
			return nil, err
		}
		return toInfo(&group.View{Group: g}), nil
	})
}

func (s *Server) groupInvite(r *Req) (any, error) {
	b, gid, err := bound(r, func(b *groupInviteRequest) int64 { return b.GroupID })
	if err != nil {
		return nil, err
	}
	return s.groupCall(r, func(a group.Actor) (any, error) {
		rs, err := s.grp.Invite(r.Ctx, r.App.ID, a, gid, b.UserList, b.Reason)
		return toResults(rs), err
	})
}

func handleBody(r *Req) (*groupHandleRequest, int64, error) {
	b, gid, err := bound(r, func(b *groupHandleRequest) int64 { return b.GroupID })
	if err != nil {
		return nil, 0, err
	}
	if b.Approval == nil {
		return nil, 0, BadParam("approval", "required")
	}
	return b, gid, nil
}

func (s *Server) groupInviteHandle(r *Req) (any, error) {
	b, gid, err := handleBody(r)
	if err != nil {
		return nil, err
	}
	return s.groupCall(r, func(a group.Actor) (any, error) {
		return nil, s.grp.HandleInvite(r.Ctx, r.App.ID, a, gid, b.UserID, *b.Approval)
	})
}

func (s *Server) groupApplyHandle(r *Req) (any, error) {
	b, gid, err := handleBody(r)
	if err != nil {
		return nil, err
	}
	return s.groupCall(r, func(a group.Actor) (any, error) {
		return groupResult{Result: "success", UserID: b.UserID},
			s.grp.HandleApply(r.Ctx, r.App.ID, a, gid, b.UserID, *b.Approval)
	})
}

func (s *Server) groupApply(r *Req) (any, error) {
	b, gid, err := bound(r, func(b *groupApplyRequest) int64 { return b.GroupID })
	if err != nil {
		return nil, err
	}
	return s.groupCall(r, func(a group.Actor) (any, error) {
		joined, err := s.grp.Apply(r.Ctx, r.App.ID, a, gid, b.Reason)
		res := groupResult{Result: "success", UserID: a.User}
		if !joined {
			res.Reason = "waiting for an admin's approval"
		}
		return res, err
	})
}

func (s *Server) groupBan(r *Req) (any, error) {
	b, gid, err := bound(r, func(b *groupBanRequest) int64 { return b.GroupID })
	if err != nil {
		return nil, err
	}
	if b.Duration == nil {
		return nil, BadParam("duration", "required")
	}
	return s.groupCall(r, func(a group.Actor) (any, error) {
		rs, err := s.grp.Ban(r.Ctx, r.App.ID, a, gid, b.UserList, *b.Duration)
		return toResults(rs), err
	})
}

func (s *Server) groupInfoBatch(r *Req) (any, error) {
	b, _, err := bound[groupListRequest](r, nil)
	if err != nil {
		return nil, err
	}
	return s.groupCall(r, func(a group.Actor) (any, error) {
		vs, err := s.grp.InfoBatch(r.Ctx, r.App.ID, a, b.GroupList)
		out := make([]groupBrief, len(vs))
		for i, v := range vs {
			g := v.Group
			out[i] = groupBrief{ApplyApproval: g.ApplyApproval, Avatar: g.Avatar, Capacity: g.Capacity, Count: g.Count,
				GroupID: g.ID, MsgMuteMode: v.MuteMode, MsgPushMode: v.PushMode, Name: g.Name, Owner: g.Owner,
				Status: g.Status, Type: g.Type}
		}
		return out, err
	})
}

func (s *Server) groupMembers(r *Req, a group.Actor, gid int64) (any, error) {
	after, err := pageCursor(r)
	if err != nil {
		return nil, err
	}
	limit, err := pageLimit(r, groupPageDef, groupPageMax)
	if err != nil {
		return nil, err
	}
	ms, more, total, err := s.grp.Members(r.Ctx, r.App.ID, a, gid, after, limit)
	if err != nil {
		return nil, err
	}
	p := &Page{Data: toMembers(ms), Total: &total}
	if more && len(ms) > 0 {
		p.Cursor = strconv.FormatInt(ms[len(ms)-1].User, 10)
	}
	return p, nil
}

func (s *Server) groupInvitations(r *Req) (any, error) {
	after, err := pageCursor(r)
	if err != nil {
		return nil, err
	}
	limit, err := pageLimit(r, groupPageDef, groupPageMax)
	if err != nil {
		return nil, err
	}
	return s.groupCall(r, func(a group.Actor) (any, error) {
		invs, more, err := s.grp.Invitations(r.Ctx, r.App.ID, a, after, limit)
		if err != nil {
			return nil, err
		}
		out := make([]groupInvitation, len(invs))
		for i, v := range invs {
			out[i] = groupInvitation{ExpiredTime: v.Expires, GroupID: v.Group, InviteeID: a.User, InviterID: v.Inviter,
				Reason: v.Reason, Status: int32(v.Status), UpdatedAt: strconv.FormatInt(v.Updated, 10)}
		}
		total := int64(len(out))
		p := &Page{Data: out, Total: &total}
		if more && len(out) > 0 {
			p.Cursor = strconv.FormatInt(out[len(out)-1].GroupID, 10)
		}
		return p, nil
	})
}

// groupApplications pages by offset: the list spans several groups.
func (s *Server) groupApplications(r *Req) (any, error) {
	offset, err := pageCursor(r)
	if err != nil {
		return nil, err
	}
	limit, err := pageLimit(r, groupPageDef, groupPageMax)
	if err != nil {
		return nil, err
	}
	b, _, err := bound[groupListRequest](r, nil)
	if err != nil {
		return nil, err
	}
	return s.groupCall(r, func(a group.Actor) (any, error) {
		aps, total, err := s.grp.Applications(r.Ctx, r.App.ID, a, b.GroupList, int(offset), limit)
		if err != nil {
			return nil, err
		}
		out := make([]groupApplication, len(aps))
		for i, ap := range aps {
			out[i] = groupApplication{ApplicantID: ap.Applicant, ExpiredTime: ap.Expires, GroupID: ap.Group,
				Reason: ap.Reason, Status: int32(ap.Status)}
		}
		t := int64(total)
		p := &Page{Data: out, Total: &t}
		if next := int(offset) + len(out); next < total {
			p.Cursor = strconv.Itoa(next)
		}
		return p, nil
	})
}

func (s *Server) announcementOp(r *Req, del bool) (any, error) {
	aid, err := r.QueryInt64("announcement_id", 0)
	if err != nil {
		return nil, err
	}
	if aid <= 0 {
		return nil, BadParam("announcement_id", "must be a positive announcement id")
	}
	gid, err := queryGroup(r)
	if err != nil {
		return nil, err
	}
	return s.groupCall(r, func(a group.Actor) (any, error) {
		if del {
			return nil, s.grp.DeleteAnnouncement(r.Ctx, r.App.ID, a, gid, aid)
		}
		an, err := s.grp.GetAnnouncement(r.Ctx, r.App.ID, a, gid, aid)
		if err != nil {
			return nil, err
		}
		return toAnnouncement(an), nil
	})
}

func (s *Server) groupAnnounce(r *Req) (any, error) {
	b, gid, err := bound(r, func(b *groupAnnouncementRequest) int64 { return b.GroupID })
	if err != nil {
		return nil, err
	}
	if b.Title == nil || b.Content == nil {
		return nil, BadParam("title", "title and content are required")
	}
	return s.groupCall(r, func(a group.Actor) (any, error) {
		an, err := s.grp.PostAnnouncement(r.Ctx, r.App.ID, a, gid, *b.Title, *b.Content)
		if err != nil {
			return nil, err
		}
		return toAnnouncement(an), nil
	})
}

func (s *Server) groupQRInvite(r *Req) (any, error) {
	b, _, err := bound[groupQRInviteRequest](r, nil)
	if err != nil {
		return nil, err
	}
	return s.groupCall(r, func(a group.Actor) (any, error) {
		gid, err := s.grp.JoinByQRCode(r.Ctx, r.App.ID, []byte(r.App.Secret), a, b.QRInfo)
		return map[string]int64{"group_id": gid}, err
	})
}
