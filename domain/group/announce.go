package group

import (
	"context"
	"errors"
	"sort"
	"strconv"

	"github.com/chatgate/chatgate/store"
)

// Announcements and read receipts.

// Announcement is a group announcement.
type Announcement = store.Announcement

// PostAnnouncement publishes an announcement (Lanying's "edit" publishes a
// new one): admins may; members only while allow_member_modify is on
// (20021 otherwise). The group keeps the newest MaxAnnouncements.
func (s *Service) PostAnnouncement(ctx context.Context, app string, a Actor, gid int64, title, content string) (*Announcement, error) {
	if err := checkLen("title", title, MaxTitleBytes); err != nil {
		return nil, err
	}
	if err := checkLen("content", content, MaxContentBytes); err != nil {
		return nil, err
	}
	st, err := s.load(ctx, app, gid, a)
	if err != nil {
		return nil, err
	}
	if err := st.need(RoleMember); err != nil {
		return nil, err
	}
	if st.canModify() != nil {
		return nil, refuse(ErrAnnouncementDisabled, "members may not post announcements in group %d", gid)
	}
	n, err := s.st.IncrGroupSeq(ctx, store.GroupAnnouncementSeqKey(app, gid))
	if err != nil {
		return nil, err
	}
	an := &Announcement{ID: n, Group: gid, Author: a.User, Title: title, Content: content, Created: s.nowMs()}
	key := store.GroupAnnouncementsKey(app, gid)
	if err := s.st.PutRecord(ctx, key, n, an); err != nil {
		return nil, err
	}
	if n > MaxAnnouncements {
		if _, err := s.st.DeleteRecord(ctx, key, n-MaxAnnouncements); err != nil {
			return nil, err
		}
	}
	s.emit(ctx, app, Notice{Kind: KindAnnouncementPosted, Group: gid, Actor: a.User,
		Data: map[string]string{"announcement_id": strconv.FormatInt(n, 10), "title": title}})
	return an, nil
}

// DeleteAnnouncement removes an announcement (admins, or its author).
func (s *Service) DeleteAnnouncement(ctx context.Context, app string, a Actor, gid, aid int64) error {
	an, st, err := s.announcement(ctx, app, a, gid, aid)
	if err != nil {
		return err
	}
	if an.Author != a.User || a.Backend() {
		if err := st.need(RoleAdmin); err != nil {
			return err
		}
	}
	if _, err := s.st.DeleteRecord(ctx, store.GroupAnnouncementsKey(app, gid), aid); err != nil {
		return err
	}
	s.emit(ctx, app, Notice{Kind: KindAnnouncementDeleted, Group: gid, Actor: a.User,
		Data: map[string]string{"announcement_id": strconv.FormatInt(aid, 10)}})
	return nil
}

func (s *Service) announcement(ctx context.Context, app string, a Actor, gid, aid int64) (*Announcement, *state, error) {
	st, err := s.memberView(ctx, app, a, gid)
	if err != nil {
		return nil, nil, err
	}
	var an Announcement
	err = s.st.GetRecord(ctx, store.GroupAnnouncementsKey(app, gid), aid, &an)
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil, refuse(ErrAnnouncementNotFound, "group %d has no announcement %d", gid, aid)
	}
	if err != nil {
		return nil, nil, err
	}
	return &an, st, nil
}

// GetAnnouncement returns one announcement (members).
func (s *Service) GetAnnouncement(ctx context.Context, app string, a Actor, gid, aid int64) (*Announcement, error) {
	an, _, err := s.announcement(ctx, app, a, gid, aid)
	return an, err
}

// Announcements lists the group's announcements, newest first (members).
func (s *Service) Announcements(ctx context.Context, app string, a Actor, gid int64) ([]Announcement, error) {
	if _, err := s.memberView(ctx, app, a, gid); err != nil {
		return nil, err
	}
	all, err := store.AllRecords[Announcement](ctx, s.st, store.GroupAnnouncementsKey(app, gid))
	if err != nil {
		return nil, err
	}
	out := make([]Announcement, 0, len(all))
	for _, an := range all {
		out = append(out, an)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID > out[j].ID })
	return out, nil
}

// LastAnnouncement returns the newest announcement (20020 when none).
func (s *Service) LastAnnouncement(ctx context.Context, app string, a Actor, gid int64) (*Announcement, error) {
	all, err := s.Announcements(ctx, app, a, gid)
	if err != nil {
		return nil, err
	}
	if len(all) == 0 {
		return nil, refuse(ErrAnnouncementNotFound, "group %d has no announcement", gid)
	}
	return &all[0], nil
}

// MarkRead records that member uid read the group up to message msgID,
// when the group has enable_read_ack on; it reports whether it recorded.
// The message path calls it for a member's read receipt in a group.
func (s *Service) MarkRead(ctx context.Context, app string, gid, uid, msgID int64) (bool, error) {
	st, err := s.load(ctx, app, gid, Actor{User: uid})
	if err != nil {
		return false, err
	}
	if st.role == RoleNone || !st.g.ReadAck {
		return false, nil
	}
	return true, s.st.MarkGroupRead(ctx, app, gid, uid, msgID)
}

// Readers returns the members who read message msgID of the group (the
// actor must be a member), by id.
func (s *Service) Readers(ctx context.Context, app string, a Actor, gid, msgID int64) ([]int64, error) {
	if _, err := s.memberView(ctx, app, a, gid); err != nil {
		return nil, err
	}
	ids, err := s.st.GroupReaders(ctx, app, gid, msgID)
	sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
	return ids, err
}
