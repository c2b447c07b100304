package admin

import (
	"context"
	"fmt"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/chatgate/chatgate/domain/group"
	"github.com/chatgate/chatgate/internal/bus"
	"github.com/chatgate/chatgate/protocol"
)

// Notices (group and roster changes) go through the routers like REST
// sends (sendwait.go): a notice of a group is one ingress entry in the
// group conversation's partition, so that it is ordered with the group's
// messages and reaches the members the router reads then (plus To); a
// notice addressed to users (Group 0) is one entry per user, in the user's
// system conversation u:0:<user>. Notify returns once the routers stored
// them (their ack), as /message/send does. PROTOCOL.md section 7.2 is the
// clients' side of it.

// noticeChunk bounds the extra recipients of one ingress entry (the former
// members of a destroyed group can be many); it is the router's limit.
const noticeChunk = 20000

// pushedKinds are the notices that also become push notifications: the
// ones a user expects on a locked phone.
var pushedKinds = map[string]bool{group.KindInvited: true, KindFriendRequest: true}

// Roster notice kinds (PROTOCOL.md section 7.2).
const (
	KindFriendRequest  = "friend_request_received" // To [target]; Users [applicant]; Data: reason, alias
	KindFriendAccepted = "friend_request_accepted" // To [applicant]; Users [who accepted]
	KindFriendDeclined = "friend_request_declined" // To [applicant]; Users [who declined]; Data: reason
	KindFriendAdded    = "friend_added"            // To [the other user]; Users [who added]: no approval needed
	KindFriendDeleted  = "friend_deleted"          // To [the former friend]; Users [who deleted]
)

// routerNotifier is the group.Notifier of a process that can send.
type routerNotifier struct {
	s *Server
	w *sendWaiter
}

// Notify routes n and waits for the routers' ack.
func (rn routerNotifier) Notify(ctx context.Context, app string, n group.Notice) error {
	sends := noticeSends(n)
	if len(sends) == 0 {
		return nil
	}
	answers, err := rn.s.enqueue(ctx, app, rn.w, sends)
	if err != nil {
		rn.s.metrics.noticeSends.WithLabelValues("failed").Inc()
		return fmt.Errorf("admin: notice %s: %w", n.Kind, err)
	}
	for i := range answers {
		if a := &answers[i]; a.Kind == bus.KindErr {
			rn.s.metrics.noticeSends.WithLabelValues("refused").Inc()
			return fmt.Errorf("admin: notice %s refused: %s", n.Kind, answerError(a).Msg)
		}
	}
	rn.s.metrics.noticeSends.WithLabelValues("ok").Inc()
	return nil
}

// noticeSends are the ingress entries of n.
func noticeSends(n group.Notice) []bus.Send {
	body := &protocol.Notice{Kind: n.Kind, Group: n.Group, Actor: n.Actor, Users: n.Users, Data: n.Data}
	base := bus.Send{Kind: bus.SendNotice, Admin: true, Type: protocol.EventNotice, Notice: body}
	if pushedKinds[n.Kind] {
		base.Push, base.Content = true, noticeText(n)
	}
	var out []bus.Send
	if n.Group != 0 {
		to := n.To
		for {
			s := base
			s.ToGroup, s.To = n.Group, to[:min(len(to), noticeChunk)]
			out = append(out, s)
			if to = to[len(s.To):]; len(to) == 0 {
				return out
			}
		}
	}
	for _, u := range n.To {
		if u > 0 {
			s := base
			s.ToUser = u
			out = append(out, s)
		}
	}
	return out
}

// noticeText is the push text of a pushed notice; the push's title is the
// actor's push nickname.
func noticeText(n group.Notice) string {
	switch n.Kind {
	case group.KindInvited:
		t := "invited you to group " + n.Data["group_id"]
		if r := n.Data["reason"]; r != "" {
			t += ": " + r
		}
		return t
	case KindFriendRequest:
		t := "sent you a friend request"
		if r := n.Data["reason"]; r != "" {
			t += ": " + r
		}
		return t
	}
	return n.Kind
}

// notify sends a notice of a change that is already stored. A failure is
// logged and counted, not answered: the change happened, and the caller
// repeating it would fail on the changed state.
func (s *Server) notify(ctx context.Context, app string, n group.Notice) {
	if err := s.notices.Notify(ctx, app, n); err != nil {
		s.log.Warn("notice not delivered", "app", app, "kind", n.Kind, "err", err)
	}
}

// rosterNotice notifies user to of a roster change made by the acting
// user of r.
func (s *Server) rosterNotice(r *Req, kind string, to int64, data map[string]string) {
	uid := r.UserID
	s.notify(r.Ctx, r.App.ID, group.Notice{Kind: kind, Actor: uid, Users: []int64{uid}, To: []int64{to}, Data: data})
}

func newNoticeCounter() *prometheus.CounterVec {
	return prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "chatgate_admin_notices_total",
		Help: "Group and roster notices the REST API sent through the routers, by result (ok, refused, failed).",
	}, []string{"result"})
}

// noticeData is the Data of a notice from key, value pairs; empty values
// are left out.
func noticeData(kv ...string) map[string]string {
	var d map[string]string
	for i := 0; i+1 < len(kv); i += 2 {
		if kv[i+1] == "" {
			continue
		}
		if d == nil {
			d = map[string]string{}
		}
		d[kv[i]] = kv[i+1]
	}
	return d
}
