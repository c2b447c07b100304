//go:build !linux

package gateway

import (
	"net"
	"syscall"
)

// readWaiter is only implemented on Linux; elsewhere the reader parks
// inside the WebSocket library, which costs a larger idle stack.
func readWaiter(net.Conn) syscall.RawConn { return nil }

func waitReadable(syscall.RawConn) error { return nil }
