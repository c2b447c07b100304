package admin

import (
	"context"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/chatgate/chatgate/internal/bus"
	"github.com/chatgate/chatgate/protocol"
	"github.com/chatgate/chatgate/store"
)

// kickStreamTTL is how long a delivery stream written only to kick a
// connection lives, as the routers and gateways do for theirs: the stream
// of a dead gateway must not stay forever.
const kickStreamTTL = 10 * time.Minute

// userRoutes are the live routes of one user to kick.
type userRoutes struct {
	user   int64
	routes []store.Route
}

// kick closes live connections on whichever gateway holds them: one
// delivery batch of kicks per gateway node, all in one pipeline. The
// gateway closes each with a kick frame and the WebSocket close status
// code (protocol/PROTOCOL.md section 13).
func (s *Server) kick(ctx context.Context, app string, targets []userRoutes, code protocol.Code) error {
	byNode := map[string][]bus.Delivery{}
	for _, t := range targets {
		for _, rt := range t.routes {
			byNode[rt.Node] = append(byNode[rt.Node], bus.Delivery{
				Kind: bus.KindKick, App: app, User: t.user, Device: rt.Device, Conn: rt.Conn,
				Code: int(code), Reason: code.String(),
			})
		}
	}
	if len(byNode) == 0 {
		return nil
	}
	pipe := s.st.Redis().Pipeline()
	for node, items := range byNode {
		vals, err := bus.Encode(&bus.Batch{Items: items})
		if err != nil {
			return fmt.Errorf("admin: encode kick: %w", err)
		}
		stream := bus.DeliveryStream(node)
		pipe.XAdd(ctx, &redis.XAddArgs{Stream: stream, Values: vals})
		pipe.PExpire(ctx, stream, kickStreamTTL)
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return fmt.Errorf("admin: kick: %w", err)
	}
	return nil
}

// kickUsers kicks every live connection of users.
func (s *Server) kickUsers(ctx context.Context, app string, uids []int64, code protocol.Code) error {
	recips, err := s.st.LookupRecipients(ctx, app, uids, s.now())
	if err != nil {
		return err
	}
	targets := make([]userRoutes, 0, len(recips))
	for _, r := range recips {
		targets = append(targets, userRoutes{user: r.User, routes: r.Routes})
	}
	return s.kick(ctx, app, targets, code)
}
