package gateway

import (
	"github.com/chatgate/chatgate/protocol"
)

// Lock order: g.mu before c.mu, never the reverse. The delivery reader holds
// g.mu for reading while it queues frames, which only ever takes c.mu.

// register adds a freshly accepted connection. It fails while draining, so
// a connection accepted during the switch to draining is not left behind.
func (g *Gateway) register(c *conn) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.draining.Load() {
		return false
	}
	g.conns[c.id] = c
	g.m.connections.Inc()
	return true
}

// unregister forgets a connection and its place in the user index.
func (g *Gateway) unregister(c *conn) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if _, ok := g.conns[c.id]; ok {
		delete(g.conns, c.id)
		g.m.connections.Dec()
	}
	g.unindexLocked(c)
}

// index makes an authenticated connection reachable by deliveries. Another
// local connection of the same device is a stale one whose route lapsed or
// is about to be replaced: it is kicked as replaced.
func (g *Gateway) index(c *conn) {
	g.mu.Lock()
	defer g.mu.Unlock()
	byUser := g.users[c.app]
	if byUser == nil {
		byUser = make(map[int64][]*conn)
		g.users[c.app] = byUser
	}
	list := byUser[c.user]
	for _, o := range list {
		if o.dev == c.dev {
			o.kick(protocol.CodeKickReplaced)
		}
	}
	byUser[c.user] = append(list, c)
	c.indexed = true
}

func (g *Gateway) unindex(c *conn) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.unindexLocked(c)
}

func (g *Gateway) unindexLocked(c *conn) {
	if !c.indexed {
		return
	}
	c.indexed = false
	byUser := g.users[c.app]
	list := byUser[c.user]
	for i, o := range list {
		if o == c {
			last := len(list) - 1
			list[i] = list[last]
			list[last] = nil
			list = list[:last]
			break
		}
	}
	switch {
	case len(list) > 0:
		byUser[c.user] = list
	case len(byUser) > 1:
		delete(byUser, c.user)
	default:
		delete(g.users, c.app)
	}
}

// byID returns the open connection with id, or nil.
func (g *Gateway) byID(id string) *conn {
	g.mu.RLock()
	defer g.mu.RUnlock()
	return g.conns[id]
}
