package loadtest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"

	"sync/atomic"
	"time"
)

// deviceCtxKey carries a device index in a dial's context: the client
// package dials through one shared http.Client, and the dialer below needs
// to know which device a connection belongs to (its source address, its
// churn state).
type deviceCtxKey struct{}

// withDevice tags ctx with device index i.
func withDevice(ctx context.Context, i int) context.Context {
	return context.WithValue(ctx, deviceCtxKey{}, i)
}

// errOffline is what a device that churn has taken offline gets when its
// session tries to reconnect before its time: the session backs off and
// retries, as it would on a dead network.
var errOffline = errors.New("loadtest: device is offline (churn)")

// dialer opens the harness's TCP connections. It spreads them over many
// 127.0.0.x source addresses, because the kernel gives each source address
// its own ~28,000 ephemeral ports, and it remembers each device's current
// connection so that churn can cut it like a network failure would.
type dialer struct {
	sources []net.IP // nil: let the kernel pick
	// links[i] is device i's current connection.
	links   []atomic.Pointer[net.Conn]
	offline []atomic.Int64 // unix ns until which device i may not connect
	hc      *http.Client
}

// newDialer returns a dialer for n devices with the given source addresses.
func newDialer(n int, sources []net.IP) *dialer {
	d := &dialer{sources: sources, links: make([]atomic.Pointer[net.Conn], n), offline: make([]atomic.Int64, n)}
	d.hc = &http.Client{Transport: &http.Transport{
		DialContext: d.dial,
		// Upgraded WebSocket connections leave the pool; nothing else is
		// worth keeping.
		DisableKeepAlives: true,
		// Ramps queue handshakes on a loaded server; the client's own
		// DialTimeout bounds each one.
		ResponseHeaderTimeout: 0,
	}}
	return d
}

// dial is the http.Transport's DialContext.
func (d *dialer) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	i, tagged := ctx.Value(deviceCtxKey{}).(int)
	if tagged && i >= 0 && i < len(d.offline) {
		if until := d.offline[i].Load(); until > 0 && time.Now().UnixNano() < until {
			return nil, errOffline
		}
	}
	nd := net.Dialer{Timeout: connectDialTimeout, Control: bindNoPort}
	if len(d.sources) > 0 && loopbackV4(addr) {
		src := d.sources[0]
		if tagged && i >= 0 {
			src = d.sources[i%len(d.sources)]
		}
		nd.LocalAddr = &net.TCPAddr{IP: src}
	}
	c, err := nd.DialContext(ctx, network, addr)
	if err != nil {
		return nil, err
	}
	if tagged && i >= 0 && i < len(d.links) {
		d.links[i].Store(&c)
	}
	return c, nil
}

// cut closes device i's current connection abruptly (no close handshake,
// as when a phone loses its network) and keeps the device offline for
// down. It reports whether there was a connection to cut.
func (d *dialer) cut(i int, down time.Duration) bool {
	d.offline[i].Store(time.Now().Add(down).UnixNano())
	p := d.links[i].Swap(nil)
	if p == nil {
		return false
	}
	_ = (*p).Close()
	return true
}

// sourceAddrs returns n source addresses 127.0.0.2, 127.0.0.3, ... (the
// whole 127.0.0.0/8 routes to lo on Linux, no configuration needed);
// n <= 0 means none (the kernel picks 127.0.0.1).
func sourceAddrs(n int) ([]net.IP, error) {
	if n <= 0 {
		return nil, nil
	}
	if n > 250*250 {
		return nil, fmt.Errorf("at most %d source addresses", 250*250)
	}
	out := make([]net.IP, n)
	for k := range out {
		// 127.0.x.y with y in 2..251, skipping 127.0.0.1 (where the
		// servers listen) and the .0/.255 of each /24.
		out[k] = net.IPv4(127, 0, byte(k/250), byte(2+k%250))
	}
	return out, nil
}

// loopbackV4 reports whether addr (host:port) is an IPv4 loopback address:
// only there does a 127.0.0.x source address reach it.
func loopbackV4(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.To4() != nil && ip.IsLoopback()
}
