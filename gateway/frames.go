package gateway

import (
	"context"
	"strconv"
	"time"

	"github.com/coder/websocket"
	"github.com/redis/go-redis/v9"

	"github.com/chatgate/chatgate/internal/bus"
	"github.com/chatgate/chatgate/protocol"
	"github.com/chatgate/chatgate/store"
)

// handle processes one client frame. It reports true when the connection
// is closing and the reader must stop.
func (c *conn) handle(typ websocket.MessageType, data []byte) (stop bool) {
	g := c.g
	c.lastFrame.Store(time.Now().UnixNano())
	if c.isClosing() {
		// Frames that cross our close frame are not answered.
		return false
	}
	var f *protocol.Frame
	var perr *protocol.Error
	var rid uint32
	if typ != websocket.MessageText {
		g.m.framesIn.WithLabelValues("binary").Inc()
		perr = protocol.Errorf(protocol.CodeBadFrame, "binary messages are not supported; send JSON text frames")
	} else {
		f, perr = protocol.Decode(data, g.cfg.Limits)
		if f != nil {
			rid = f.Rid
		}
		if perr != nil {
			g.m.framesIn.WithLabelValues("invalid").Inc()
		} else {
			g.m.framesIn.WithLabelValues(frameTypeLabel(f.T)).Inc()
		}
	}
	if !c.lim.Allow() {
		perr = protocol.Errorf(protocol.CodeRateLimited, "too many frames; frame dropped")
	}
	authed := c.authed.Load()
	if perr != nil {
		// Before authentication every rejected frame ends the connection;
		// after it only an oversize frame does.
		if !authed {
			c.closeWithErr(rid, perr.Code, perr.Detail, g.m.connects.WithLabelValues(perr.Code.String()))
			return true
		}
		if perr.Code == protocol.CodeFrameTooLarge {
			c.closeWithErr(rid, perr.Code, perr.Detail)
			return true
		}
		c.sendErr(rid, perr.Code, perr.Detail)
		return false
	}
	if !authed {
		if f.T != protocol.TypeAuth {
			c.closeWithErr(rid, protocol.CodeNotAuthed, "the first frame must be auth", g.m.connects.WithLabelValues(protocol.CodeNotAuthed.String()))
			return true
		}
		return c.authenticate(f)
	}
	switch f.T {
	case protocol.TypeAuth:
		c.sendErr(rid, protocol.CodeAlreadyAuthed, "already authenticated")
	case protocol.TypeSend:
		c.handleSend(f)
	case protocol.TypeDAck:
		c.handleDAck(int64(f.ID))
	case protocol.TypeSync:
		c.handleSync(f)
	case protocol.TypeState:
		c.handleState(f)
	case protocol.TypePing:
		c.enqueue(pongFrame(rid, g.now().UnixMilli()))
	}
	return false
}

// handleSend hands a send to the router of its conversation's partition.
// The XADD is synchronous, so the sends of one connection enter their
// partitions in the order the client sent them.
func (c *conn) handleSend(f *protocol.Frame) {
	g := c.g
	if f.From != 0 && f.From != c.user {
		c.sendErr(f.Rid, protocol.CodeForbidden, "cannot send as another user")
		return
	}
	if g.draining.Load() {
		c.sendErr(f.Rid, protocol.CodeUnavailable, "gateway is draining; resend after reconnecting")
		return
	}
	now := g.now()
	s := bus.Send{
		App: c.app, From: c.user, FromDev: c.dev, Node: g.node, Conn: c.id, Rid: f.Rid,
		CMID: f.CMID, ToUser: f.ToUser, ToGroup: f.ToGroup, Type: f.Type, Content: f.Content, Ext: f.Ext,
		Attachment: f.Attachment, TS: now.UnixMilli(), Mentions: f.Mentions,
	}
	if f.Attachment != "" && g.fileReferenced != nil {
		ctx, cancel := context.WithTimeout(context.Background(), redisTimeout)
		err := g.fileReferenced(ctx, c.app, protocol.AttachmentURL(f.Attachment))
		cancel()
		if err != nil {
			g.log.Warn("marking an attachment referenced failed", "conn", c.id, "err", err)
			c.sendErr(f.Rid, protocol.CodeUnavailable, "cannot record the attachment; retry later")
			return
		}
	}
	vals, err := bus.Encode(&s)
	if err != nil {
		c.sendErr(f.Rid, protocol.CodeInternal, "cannot encode send")
		return
	}
	stream := bus.IngressStream(bus.Partition(c.app, protocol.ConvID(c.user, f.ToUser, f.ToGroup), g.partitions))
	// Track before the XADD: the router may answer before XADD returns here.
	c.addPending(f.Rid, f.CMID)
	ctx, cancel := context.WithTimeout(context.Background(), redisTimeout)
	err = g.rdb.XAdd(ctx, &redis.XAddArgs{Stream: stream, Values: vals}).Err()
	cancel()
	if err != nil {
		c.resolvePending(f.Rid, f.CMID)
		g.log.Warn("ingress xadd failed", "stream", stream, "conn", c.id, "err", err)
		c.sendErr(f.Rid, protocol.CodeUnavailable, "cannot queue the message; retry later")
		return
	}
	g.m.ingress.Inc()
}

func (c *conn) addPending(rid uint32, cmid string) {
	c.mu.Lock()
	if len(c.pending) >= maxPending {
		// The routers are not answering; forget the oldest rather than grow.
		n := copy(c.pending, c.pending[1:])
		c.pending = c.pending[:n]
	}
	c.pending = append(c.pending, pendingSend{rid: rid, cmid: cmid, at: time.Now()})
	c.mu.Unlock()
}

// resolvePending forgets the oldest pending send matching cmid (or rid when
// the answer carries no cmid) and returns when it was sent.
func (c *conn) resolvePending(rid uint32, cmid string) (time.Time, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for i, p := range c.pending {
		if (cmid != "" && p.cmid == cmid) || (cmid == "" && p.rid == rid) {
			copy(c.pending[i:], c.pending[i+1:])
			c.pending[len(c.pending)-1] = pendingSend{}
			c.pending = c.pending[:len(c.pending)-1]
			if len(c.pending) == 0 {
				c.pending = nil
			}
			return p.at, true
		}
	}
	return time.Time{}, false
}

// handleDAck raises the connection's delivery cursor in memory; the cursor
// loop flushes dirty cursors in bulk about once a second.
func (c *conn) handleDAck(id int64) {
	c.mu.Lock()
	if id <= c.cursor {
		c.mu.Unlock()
		return
	}
	c.cursor = id
	mark := !c.cursorDirty
	c.cursorDirty = true
	c.mu.Unlock()
	if mark {
		c.g.markDirty(c)
	}
}

// handleSync answers one page of the user's inbox, splicing the stored
// message bodies into the reply as they are.
func (c *conn) handleSync(f *protocol.Frame) {
	limit := f.Limit
	if limit == 0 {
		limit = min(protocol.DefaultSyncLimit, c.g.cfg.Limits.MaxSyncLimit)
	}
	ctx, cancel := context.WithTimeout(context.Background(), redisTimeout)
	page, err := c.g.st.Sync(ctx, c.app, c.user, int64(f.After), limit)
	cancel()
	if err != nil {
		c.g.log.Warn("sync failed", "conn", c.id, "err", err)
		c.sendErr(f.Rid, protocol.CodeUnavailable, "cannot read the inbox; retry later")
		return
	}
	c.enqueue(syncResFrame(f.Rid, page))
}

// handleState records foreground/background in the route, which the
// router reads to decide on push notifications. No reply on success.
func (c *conn) handleState(f *protocol.Frame) {
	g := c.g
	bg := f.BG != nil && *f.BG // absent or null: foreground (zero)
	c.mu.Lock()
	c.bg = bg
	c.mu.Unlock()
	r := store.Route{Device: c.dev, Node: g.node, Conn: c.id, BG: bg, Expires: g.now().Add(g.cfg.RouteTTL).UnixMilli()}
	ctx, cancel := context.WithTimeout(context.Background(), redisTimeout)
	_, err := g.st.UpdateRoute(ctx, c.app, c.user, r, g.cfg.RouteTTL)
	cancel()
	if err != nil {
		g.log.Warn("update route state", "conn", c.id, "err", err)
		c.sendErr(f.Rid, protocol.CodeUnavailable, "cannot record the state; retry later")
	}
}

// Server frames. Fixed-shape frames are built by hand: they are small and
// frequent, and their variable parts are numbers or JSON already encoded.

func errFrame(rid uint32, code protocol.Code, msg string) []byte {
	b, err := protocol.Encode(&protocol.Frame{T: protocol.TypeErr, Rid: rid, Code: int(code), Msg: msg})
	if err != nil {
		return []byte(`{"t":"err","code":5000,"msg":"internal"}`)
	}
	return b
}

func kickFrame(code protocol.Code, reason string) []byte {
	b, err := protocol.Encode(&protocol.Frame{T: protocol.TypeKick, Code: int(code), Reason: reason})
	if err != nil {
		return []byte(`{"t":"kick","code":` + strconv.Itoa(int(code)) + `}`)
	}
	return b
}

func pongFrame(rid uint32, ts int64) []byte {
	b := make([]byte, 0, 48)
	b = append(b, `{"t":"pong"`...)
	if rid != 0 {
		b = append(b, `,"rid":`...)
		b = strconv.AppendUint(b, uint64(rid), 10)
	}
	b = append(b, `,"ts":`...)
	b = strconv.AppendInt(b, ts, 10)
	return append(b, '}')
}

// syncResFrame splices the stored bodies into the reply. Zero members are
// omitted, as everywhere in the protocol: no msgs, has_more false, next 0.
func syncResFrame(rid uint32, p *store.SyncPage) []byte {
	n := 80
	for _, m := range p.Bodies {
		n += len(m) + 1
	}
	b := make([]byte, 0, n)
	b = append(b, `{"t":"sync_res"`...)
	if rid != 0 {
		b = append(b, `,"rid":`...)
		b = strconv.AppendUint(b, uint64(rid), 10)
	}
	if len(p.Bodies) > 0 {
		b = append(b, `,"msgs":[`...)
		for i, m := range p.Bodies {
			if i > 0 {
				b = append(b, ',')
			}
			b = append(b, m...)
		}
		b = append(b, ']')
	}
	if p.HasMore {
		b = append(b, `,"has_more":true`...)
	}
	if p.Next != 0 {
		b = append(b, `,"next":"`...)
		b = strconv.AppendInt(b, p.Next, 10)
		b = append(b, '"')
	}
	return append(b, '}')
}

// msgFramePrefix and msgFrameSuffix wrap a stored message body into a msg
// frame; the frame is built once per delivery item, whatever the number of
// recipient connections.
const (
	msgFramePrefix = `{"t":"msg","message":`
	msgFrameSuffix = `}`
)

func msgFrame(body []byte) []byte {
	b := make([]byte, 0, len(msgFramePrefix)+len(body)+len(msgFrameSuffix))
	b = append(b, msgFramePrefix...)
	b = append(b, body...)
	return append(b, msgFrameSuffix...)
}

func ackFrame(d *bus.Delivery) []byte {
	b, err := protocol.Encode(&protocol.Frame{T: protocol.TypeAck, Rid: d.Rid, CMID: d.CMID, ID: protocol.ID(d.ID), TS: d.TS})
	if err != nil {
		return errFrame(d.Rid, protocol.CodeInternal, "cannot encode ack")
	}
	return b
}
