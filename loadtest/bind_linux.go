package loadtest

import "syscall"

// ipBindAddressNoPort is IP_BIND_ADDRESS_NO_PORT (linux/in.h): it lets
// the kernel choose the source port at connect time instead of at bind
// time, so that one source address can reuse a port towards different
// gateways. Without it every bound source address is limited to one
// ephemeral port range for all destinations together.
const ipBindAddressNoPort = 24

// bindNoPort is the net.Dialer Control of the harness's sockets.
func bindNoPort(_, _ string, c syscall.RawConn) error {
	var serr error
	err := c.Control(func(fd uintptr) {
		serr = syscall.SetsockoptInt(int(fd), syscall.IPPROTO_IP, ipBindAddressNoPort, 1)
	})
	if err != nil {
		return err
	}
	// An old kernel without the option still works, with fewer ports.
	_ = serr
	return nil
}
