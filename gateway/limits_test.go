package gateway

import (
	"net/http"
	"testing"

	"github.com/chatgate/chatgate/internal/config"
	"github.com/chatgate/chatgate/protocol"
)

// TestUnauthenticatedCaps: connections that have not authenticated are
// capped per source address (HTTP 429) and per gateway (HTTP 503), both
// with Retry-After; authenticating or closing frees the place.
func TestUnauthenticatedCaps(t *testing.T) {
	t.Run("per address", func(t *testing.T) {
		e := newEnv(t, func(c *config.Gateway) { c.MaxUnauthenticated, c.MaxUnauthenticatedPerAddress = 100, 3 })
		testPreauthCap(t, e, http.StatusTooManyRequests, "address")
	})
	t.Run("per gateway", func(t *testing.T) {
		e := newEnv(t, func(c *config.Gateway) { c.MaxUnauthenticated, c.MaxUnauthenticatedPerAddress = 3, 0 })
		testPreauthCap(t, e, http.StatusServiceUnavailable, "gateway")
	})
}

func testPreauthCap(t *testing.T, e *testEnv, status int, scope string) {
	held := []*client{e.dial(t), e.dial(t), e.dial(t)}
	waitFor(t, "3 unauthenticated connections", func() bool { return e.g.Connections() == 3 })
	if got := e.httpStatus(t, nil); got != status {
		t.Fatalf("4th unauthenticated connection: HTTP %d, want %d", got, status)
	}
	if e.counter("chatgate_gateway_unauthenticated_refused_total", "scope", scope) != 1 {
		t.Fatalf("unauthenticated_refused_total{scope=%s} not counted", scope)
	}
	// Authenticating frees a place: a new connection is accepted.
	held[0].send(authFrame(e.token(t, 7), e.app, 1, 1))
	held[0].expect(protocol.TypeHello, 0)
	waitFor(t, "a place freed by auth", func() bool { return e.counter("chatgate_gateway_unauthenticated_connections") == 2 })
	c := e.dial(t)
	if got := e.httpStatus(t, nil); got != status {
		t.Fatalf("unauthenticated connection over the cap again: HTTP %d, want %d", got, status)
	}
	// So does closing.
	c.ws.CloseNow()
	held[1].ws.CloseNow()
	waitFor(t, "places freed by close", func() bool { return e.counter("chatgate_gateway_unauthenticated_connections") == 1 })
	e.dial(t)
	e.dial(t)
	waitFor(t, "cap reached again", func() bool { return e.counter("chatgate_gateway_unauthenticated_connections") == 3 })
	if got := e.httpStatus(t, nil); got != status {
		t.Fatalf("HTTP %d, want %d", got, status)
	}
}

// TestSendQueueBytesAccounting: the queued-bytes count goes back to zero
// once the writer drained the queue, so a busy connection is never kicked
// for bytes it already sent.
func TestSendQueueBytesAccounting(t *testing.T) {
	e := newEnv(t, func(c *config.Gateway) { c.SendQueueBytes = 4 << 10 })
	c, _ := e.login(t, 8, 1)
	for i := 0; i < 50; i++ {
		c.ping(uint32(i + 1))
	}
	var conn *conn
	e.g.mu.RLock()
	for _, x := range e.g.conns {
		conn = x
	}
	e.g.mu.RUnlock()
	waitFor(t, "queue drained", func() bool {
		conn.mu.Lock()
		defer conn.mu.Unlock()
		return !conn.writing && conn.qBytes == 0
	})
}
