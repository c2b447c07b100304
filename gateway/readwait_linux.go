//go:build linux

package gateway

import (
	"net"
	"syscall"
)

// readWaiter returns a way to wait until the socket under raw is readable
// without reading from it, or nil when raw is not a bare socket (TLS, for
// instance, buffers decrypted bytes the socket no longer shows).
func readWaiter(raw net.Conn) syscall.RawConn {
	var sc syscall.Conn
	switch c := raw.(type) {
	case *net.TCPConn:
		sc = c
	case *net.UnixConn:
		sc = c
	default:
		return nil
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return nil
	}
	return rc
}

// waitReadable parks until the socket has bytes (or EOF, or an error) for
// the next read. It parks the connection's goroutine a few frames deep
// instead of deep inside the WebSocket library, so that the garbage
// collector can shrink an idle connection's stack to its minimum. MSG_PEEK
// makes spurious wake-ups harmless: the callback only reports readiness
// that is real.
func waitReadable(rc syscall.RawConn) error {
	return rc.Read(func(fd uintptr) bool {
		var b [1]byte
		_, _, err := syscall.Recvfrom(int(fd), b[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
		return err != syscall.EAGAIN
	})
}
