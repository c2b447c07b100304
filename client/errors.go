package client

import (
	"errors"
	"fmt"

	"github.com/chatgate/chatgate/protocol"
)

var (
	// ErrClosed is the end of a Conn or Session that its owner closed.
	ErrClosed = errors.New("client: closed")
	// ErrDisconnected wraps the error of a request whose connection ended
	// before the reply came; the request may or may not have reached the
	// server. errors.Is(err, ErrDisconnected) tells it apart from a refusal.
	ErrDisconnected = errors.New("client: connection ended before the reply")
	// ErrSlowConsumer ends a Conn whose Messages channel was full when a
	// message arrived: the client's answer to the server's 4105, without
	// silently losing a message. Reconnect and sync.
	ErrSlowConsumer = errors.New("client: messages not consumed fast enough")
	// ErrHeartbeatTimeout ends a Conn on which nothing arrived for two
	// heartbeat intervals although it kept pinging: the connection is dead
	// even if TCP has not noticed.
	ErrHeartbeatTimeout = errors.New("client: no frame from the server within two heartbeat intervals")
)

// KickError is the end of a connection the server closed with a kick code
// (4101-4107, protocol/PROTOCOL.md section 13).
type KickError struct {
	Code   protocol.Code
	Reason string
}

// Final reports whether the kick ends the Session instead of being
// followed by a reconnect: the device was replaced, or an administrator
// kicked, disabled or deleted the user.
func (e *KickError) Final() bool { return final(e.Code) }

func (e *KickError) Error() string {
	return fmt.Sprintf("client: kicked by the server: %d %s", int(e.Code), e.Reason)
}

// disconnected wraps the reason a connection ended for a request that was
// waiting on it.
func disconnected(reason error) error {
	return fmt.Errorf("%w: %w", ErrDisconnected, reason)
}

// isKickCode reports whether a close status is one of the kick codes.
func isKickCode(c protocol.Code) bool { return c >= 4100 && c < 4200 }
