//go:build !linux

package loadtest

import "syscall"

// bindNoPort has nothing to set outside Linux.
func bindNoPort(_, _ string, _ syscall.RawConn) error { return nil }
