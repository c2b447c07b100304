package gateway

import (
	"context"
	"time"

	"github.com/chatgate/chatgate/store"
)

const (
	// cursorFlushEvery spaces the bulk writes of delivery cursors.
	cursorFlushEvery = time.Second
	// refreshChunk bounds one pipeline of route refreshes.
	refreshChunk = 1000
)

// refreshRoutesLoop extends the route of every authenticated connection
// every RouteTTL/3, so that a route outlives its connection by at most one
// TTL when this process dies.
func (g *Gateway) refreshRoutesLoop(ctx context.Context) {
	t := time.NewTicker(g.cfg.RouteTTL / 3)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			g.refreshRoutes(ctx)
		}
	}
}

func (g *Gateway) refreshRoutes(ctx context.Context) {
	exp := g.now().Add(g.cfg.RouteTTL).UnixMilli()
	g.mu.RLock()
	refs := make([]store.RouteRef, 0, len(g.conns))
	for app, byUser := range g.users {
		for uid, list := range byUser {
			for _, c := range list {
				c.mu.Lock()
				bg, closing := c.bg, c.closing
				c.mu.Unlock()
				if closing || !c.authed.Load() {
					continue
				}
				refs = append(refs, store.RouteRef{App: app, User: uid, Route: store.Route{
					Device: c.dev, Node: g.node, Conn: c.id, BG: bg, Expires: exp,
				}})
			}
		}
	}
	g.mu.RUnlock()
	for len(refs) > 0 {
		n := min(len(refs), refreshChunk)
		rctx, cancel := context.WithTimeout(ctx, redisTimeout)
		err := g.st.RefreshRoutes(rctx, refs[:n], g.cfg.RouteTTL)
		cancel()
		if err != nil && ctx.Err() == nil {
			g.log.Warn("refresh routes", "routes", n, "err", err)
		}
		refs = refs[n:]
	}
}

// markDirty schedules c's cursor for the next bulk flush.
func (g *Gateway) markDirty(c *conn) {
	g.dirtyMu.Lock()
	g.dirty = append(g.dirty, c)
	g.dirtyMu.Unlock()
}

// flushCursorsLoop writes the delivery cursors that moved, about once a
// second, and once more when ctx ends.
func (g *Gateway) flushCursorsLoop(ctx context.Context) {
	t := time.NewTicker(cursorFlushEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			fctx, cancel := context.WithTimeout(context.Background(), redisTimeout)
			g.flushCursors(fctx)
			cancel()
			return
		case <-t.C:
			g.flushCursors(ctx)
		}
	}
}

func (g *Gateway) flushCursors(ctx context.Context) {
	g.dirtyMu.Lock()
	conns := g.dirty
	g.dirty = nil
	g.dirtyMu.Unlock()
	if len(conns) == 0 {
		return
	}
	ups := make([]store.CursorUpdate, 0, len(conns))
	taken := conns[:0]
	for _, c := range conns {
		c.mu.Lock()
		if c.cursorDirty {
			c.cursorDirty = false
			ups = append(ups, store.CursorUpdate{App: c.app, User: c.user, Device: c.dev, ID: c.cursor})
			taken = append(taken, c)
		}
		c.mu.Unlock()
	}
	if len(ups) == 0 {
		return
	}
	rctx, cancel := context.WithTimeout(ctx, redisTimeout)
	err := g.st.SetCursors(rctx, ups)
	cancel()
	if err == nil {
		return
	}
	g.log.Warn("flush cursors", "cursors", len(ups), "err", err)
	// Try again next time; a cursor that moved meanwhile is already dirty.
	for _, c := range taken {
		c.mu.Lock()
		again := !c.cursorDirty
		c.cursorDirty = true
		c.mu.Unlock()
		if again {
			g.markDirty(c)
		}
	}
}
