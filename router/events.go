package router

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"

	"github.com/redis/go-redis/v9"

	"github.com/chatgate/chatgate/internal/bus"
	"github.com/chatgate/chatgate/internal/ids"
	"github.com/chatgate/chatgate/protocol"
	"github.com/chatgate/chatgate/store"
)

// Recalls and read receipts are ingress entries of their conversation's
// partition, so they are ordered with its messages: a recall that follows
// a send finds the message stored. Each becomes an event (a message object
// of type recall or read with ref) that is stored, put in the inboxes of
// the users it concerns and delivered live like a message, without push
// jobs and without a history entry.

// resolveRef reads the message an event names and decides the entry's
// outcome: the message must exist (a recalled one does not, unless this
// very entry recalled it in an attempt that did not finish), a recall must
// come from the message's sender or an admin, and a read receipt must name
// a chat message.
func (b *batcher) resolveRef(e *entry) error {
	s := &e.send
	raw, err := e.ref.Bytes()
	if errors.Is(err, redis.Nil) {
		b.rejectRef(e, "message "+strconv.FormatInt(s.Ref, 10)+" does not exist")
		return nil
	}
	if err != nil {
		return fmt.Errorf("message %d: %w", s.Ref, err)
	}
	var m protocol.Message
	if err := json.Unmarshal(raw, &m); err != nil {
		b.log.Warn("undecodable stored message", "id", s.Ref, "err", err)
		b.rejectRef(e, "message "+strconv.FormatInt(s.Ref, 10)+" is unreadable")
		return nil
	}
	switch {
	case m.Type == protocol.EventRecall && s.Kind == bus.SendRecall && int64(m.ID) == e.id:
		// This entry's own recall, written by an attempt that failed
		// later: every write of a recall is idempotent, so do it again.
	case m.Type == protocol.EventRecall:
		b.rejectRef(e, "message "+strconv.FormatInt(s.Ref, 10)+" was recalled")
		return nil
	case m.IsEvent():
		b.rejectRef(e, "message "+strconv.FormatInt(s.Ref, 10)+" is not a chat message")
		return nil
	case s.Kind == bus.SendRecall && !s.Admin && m.From != s.From:
		e.out, e.code, e.reason = outReject, protocol.CodeForbidden, "only the sender or an admin may recall a message"
		return nil
	}
	if e.mark != nil {
		if e.prev, err = store.ReadMark(e.mark); err != nil {
			return err
		}
	}
	e.target = &m
	return nil
}

func (b *batcher) rejectRef(e *entry, reason string) {
	e.out, e.code, e.reason = outReject, protocol.CodeMessageNotFound, reason
}

// event encodes the event of an entry.
func event(e *entry, typ, conv string, ts int64) ([]byte, error) {
	s := &e.send
	body, err := json.Marshal(&protocol.Message{
		ID: protocol.ID(e.id), Conv: conv, From: s.From, FromDev: s.FromDev,
		ToUser: s.ToUser, ToGroup: s.ToGroup, Type: typ, Ref: protocol.ID(s.Ref), TS: ts,
	})
	if err != nil {
		return nil, fmt.Errorf("encode %s event %d: %w", typ, e.id, err)
	}
	return body, nil
}

// routeRecall removes the message from the conversation (history entry
// gone, body replaced by the event) and spreads the recall event to every
// user of the conversation.
func (b *batcher) routeRecall(ctx context.Context, e *entry) error {
	s := &e.send
	conv := protocol.ConvID(s.From, s.ToUser, s.ToGroup)
	ts := ids.Time(e.id).UnixMilli()
	body, err := event(e, protocol.EventRecall, conv, ts)
	if err != nil {
		return err
	}
	b.r.st.QueueRecall(ctx, b.pipe, s.App, conv, s.Ref, body)
	b.r.st.QueueStoreEvent(ctx, b.pipe, s.App, conv, e.id, body)
	b.queued += 2 * len(body)
	recips := b.recipients(e)
	if a := e.target.From; s.ToGroup == 0 && a > 0 && a != s.From && a != s.ToUser {
		// Only an admin recalls another user's message; its author always
		// hears of it.
		recips = append(recips, a)
	}
	return b.spread(ctx, e, conv, ts, body, recips, false)
}

// routeRead raises the reader's read mark and tells the other side (the
// peer, or the author of the message in a group) and the reader's other
// devices. A receipt at or below the mark changes nothing: the announce
// phase only acknowledges it.
func (b *batcher) routeRead(ctx context.Context, e *entry) error {
	s := &e.send
	conv := protocol.ConvID(s.From, s.ToUser, s.ToGroup)
	k := markKey{s.App, s.From, conv}
	if cur, ok := b.marks[k]; ok {
		e.prev = max(e.prev, cur)
	}
	if s.Ref <= e.prev {
		return nil
	}
	b.marks[k] = s.Ref
	b.r.st.QueueReadMark(ctx, b.pipe, s.App, s.From, conv, s.Ref)
	ts := ids.Time(e.id).UnixMilli()
	body, err := event(e, protocol.EventRead, conv, ts)
	if err != nil {
		return err
	}
	b.r.st.QueueStoreEvent(ctx, b.pipe, s.App, conv, e.id, body)
	b.queued += len(body)
	recips := b.recipients(e)
	if s.ToGroup != 0 {
		// A managed group records its members' read marks, and tells the
		// author only where enable_read_ack is on.
		if g := b.groups[groupKey{s.App, s.ToGroup}]; g.rules.Managed {
			b.r.st.QueueMarkGroupRead(ctx, b.pipe, s.App, s.ToGroup, s.From, s.Ref)
			if !g.rules.ReadAck {
				recips = nil
			}
		}
	}
	return b.spread(ctx, e, conv, ts, body, recips, false)
}

// Notices (group and roster changes) come from the system sender (0) on
// the partition of the conversation they belong to: a group's, so that a
// notice and the group's messages are in one order, or the system
// conversation u:0:<user> of the one user it is addressed to. A group
// notice reaches the members the read round saw, which already reflect
// the change (the REST API writes membership before it sends the notice),
// and the extra users of To: the kicked or departed member, the former
// members of a destroyed group. Like recalls, a notice is stored as an
// event (no history entry) and put in every recipient's inbox; only
// notices marked Push (an invitation, a friend request) become push
// notifications, with Content as their text.

// noticeRecipients is members followed by the users of to who are not
// members, each once.
func noticeRecipients(members, to []int64) []int64 {
	if len(to) == 0 {
		return members
	}
	out := make([]int64, 0, len(members)+len(to))
	out = append(out, members...)
	seen := make(map[int64]bool, len(members)+len(to))
	for _, u := range members {
		seen[u] = true
	}
	for _, u := range to {
		if u > 0 && !seen[u] {
			seen[u] = true
			out = append(out, u)
		}
	}
	return out
}

// routeNotice stores a notice event and spreads it to its recipients, with
// push jobs when the notice asks for them.
func (b *batcher) routeNotice(ctx context.Context, e *entry) error {
	s := &e.send
	conv := protocol.ConvID(s.From, s.ToUser, s.ToGroup)
	ts := ids.Time(e.id).UnixMilli()
	body, err := json.Marshal(&protocol.Message{
		ID: protocol.ID(e.id), Conv: conv, ToUser: s.ToUser, ToGroup: s.ToGroup,
		Type: protocol.EventNotice, Notice: s.Notice, TS: ts,
	})
	if err != nil {
		return fmt.Errorf("encode notice %d: %w", e.id, err)
	}
	b.r.st.QueueStoreEvent(ctx, b.pipe, s.App, conv, e.id, body)
	b.queued += len(body)
	recips := b.recipients(e)
	if err := b.spread(ctx, e, conv, ts, body, recips, false); err != nil {
		return err
	}
	if !s.Push {
		return nil
	}
	// The push names the actor as its sender, so that its title is the
	// actor's push nickname.
	msg, err := json.Marshal(&bus.PushMessage{
		MsgID: e.id, Conv: conv, From: s.Notice.Actor, ToGroup: s.ToGroup,
		Type: protocol.EventNotice, Content: s.Content, TS: ts,
	})
	if err != nil {
		return fmt.Errorf("encode push job of %d: %w", e.id, err)
	}
	pj := pushJob{msg: msg}
	for _, u := range recips {
		if err := b.pushJobs(ctx, e, u, conv, ts, &pj); err != nil {
			return err
		}
	}
	return nil
}
