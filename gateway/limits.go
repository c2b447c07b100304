package gateway

import (
	"net"
	"net/http"
	"sync"

	"github.com/chatgate/chatgate/protocol"
)

// preauthCount counts the connections that have not authenticated yet, in
// all and per source address, against gateway.max_unauthenticated and
// gateway.max_unauthenticated_per_address. A connection is counted from
// before its upgrade until it authenticates or closes, so a flood of
// sockets that never authenticate is bounded however fast it comes; each
// of them costs what an idle authenticated connection costs (serve parks
// it in idleWait) for at most gateway.auth_timeout.
type preauthCount struct {
	mu    sync.Mutex
	total int
	by    map[string]int // source address -> count; entries at 0 are removed
}

// sourceAddr is the address a connection's limit is counted under: the
// peer's IP (behind a proxy, the proxy's: raise or disable the per-address
// cap there).
func sourceAddr(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// takePreauth counts one more unauthenticated connection from addr, or
// answers the upgrade request itself (503 over the gateway's cap, 429 over
// the address's, both with Retry-After) and reports false.
func (g *Gateway) takePreauth(w http.ResponseWriter, addr string) bool {
	p := &g.preauth
	p.mu.Lock()
	scope := ""
	switch {
	case g.cfg.MaxUnauthenticated > 0 && p.total >= g.cfg.MaxUnauthenticated:
		scope = "gateway"
	case g.cfg.MaxUnauthenticatedPerAddress > 0 && p.by[addr] >= g.cfg.MaxUnauthenticatedPerAddress:
		scope = "address"
	default:
		p.total++
		p.by[addr]++
	}
	p.mu.Unlock()
	if scope == "" {
		g.m.unauthed.Inc()
		return true
	}
	g.m.unauthRefused.WithLabelValues(scope).Inc()
	g.m.connects.WithLabelValues(protocol.CodeUnavailable.String()).Inc()
	w.Header().Set("Retry-After", "1")
	if scope == "gateway" {
		http.Error(w, "too many unauthenticated connections", http.StatusServiceUnavailable)
	} else {
		http.Error(w, "too many unauthenticated connections from this address", http.StatusTooManyRequests)
	}
	return false
}

// releasePreauth uncounts an unauthenticated connection from addr.
func (g *Gateway) releasePreauth(addr string) {
	p := &g.preauth
	p.mu.Lock()
	p.total--
	if p.by[addr]--; p.by[addr] <= 0 {
		delete(p.by, addr)
	}
	p.mu.Unlock()
	g.m.unauthed.Dec()
}

// leavePreauth uncounts the connection once, when it authenticates or
// closes, whichever comes first.
func (c *conn) leavePreauth() {
	if c.preauth.CompareAndSwap(true, false) {
		c.g.releasePreauth(c.src)
	}
}
