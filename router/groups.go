package router

import (
	"slices"
	"strconv"
	"time"

	"github.com/chatgate/chatgate/internal/bus"
	"github.com/chatgate/chatgate/protocol"
	"github.com/chatgate/chatgate/store"
)

// The rules of a managed group hold in the read round, in conversation
// order: the REST API writes membership, bans, the blacklist and the
// group's settings before it answers, and the router reads them with the
// batch's other reads, so a send routed after a kick, a ban or a destroy
// sees it. A group without an info hash (built from a member set only)
// keeps the older rule: members may send.

// resolveGroup reads what the read round queued for a group, once per
// batch.
func (g *groupRef) resolve() error {
	if g.resolved {
		return nil
	}
	rules, err := g.rulesCmd.Rules()
	if err != nil {
		return err
	}
	g.rules = rules
	if g.cmd != nil {
		if g.members, err = g.cmd.Members(); err != nil {
			return err
		}
	}
	g.listeners = g.members
	if len(rules.MuteMode) > 0 {
		g.listeners = make([]int64, 0, len(g.members))
		for _, u := range g.members {
			if rules.MuteMode[u] != 2 {
				g.listeners = append(g.listeners, u)
			}
		}
	}
	g.resolved = true
	return nil
}

// checkGroup decides whether an entry to a group may be routed: a
// destroyed group takes nothing but notices; a message from a user (not
// the REST API's admin token) needs a member that is not banned, and an
// admin while ban_all is on.
func (b *batcher) checkGroup(e *entry, now time.Time) error {
	s := &e.send
	g := b.groups[groupKey{s.App, s.ToGroup}]
	if err := g.resolve(); err != nil {
		return err
	}
	gid := strconv.FormatInt(s.ToGroup, 10)
	if g.rules.Destroyed && s.Kind != bus.SendNotice {
		e.out, e.code, e.reason = outReject, protocol.CodeGroupNotFound, "group "+gid+" was destroyed"
		return nil
	}
	// Admin sends of the REST API (and sends without a node, as older
	// REST code wrote them) act for the app: any group.
	if s.Kind != "" || s.Admin || s.Node == "" {
		return nil
	}
	var muted, blocked bool
	if e.standing != nil {
		var err error
		if muted, blocked, err = e.standing.Standing(now.UnixMilli()); err != nil {
			return err
		}
	}
	switch {
	case blocked:
		e.out, e.code, e.reason = outReject, protocol.CodeGroupBlacklist, "group "+gid+" blacklisted the sender"
	case !slices.Contains(g.members, s.From):
		e.out, e.code, e.reason = outReject, protocol.CodeNotGroupMember, "not a member of group "+gid
	case muted:
		e.out, e.code, e.reason = outReject, protocol.CodeMemberMuted, "the sender is banned in group "+gid
	case g.rules.BanAll(now.UnixMilli()) && !g.rules.IsAdmin(s.From):
		e.out, e.code, e.reason = outReject, protocol.CodeGroupMuted, "only admins may send to group "+gid+" (ban_all)"
	}
	return nil
}

// wantsPush applies member u's msg_mute_mode and msg_push_mode to a push of
// message s: mute mode 1 or 2, push mode 1: never; 2: from an admin or
// mentioning u; 3: from an admin; 4: mentioning u. The owner, the group's
// admins and the REST API's admin token count as admins. The user's own
// push settings (no_push, hours, detail) apply after this, in the push
// worker.
func wantsPush(g *store.GroupRules, s *bus.Send, u int64) bool {
	if g.MuteMode[u] != 0 {
		return false
	}
	admin := func() bool { return s.Admin || s.From == 0 || g.IsAdmin(s.From) }
	switch g.PushMode[u] {
	case 0:
		return true
	case 2:
		return admin() || s.Mentions.Mentioned(u)
	case 3:
		return admin()
	case 4:
		return s.Mentions.Mentioned(u)
	}
	return false
}
