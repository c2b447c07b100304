package gateway

import (
	"errors"
	"fmt"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/chatgate/chatgate/protocol"
)

// metrics are the gateway's Prometheus collectors. Every label value comes
// from a closed set (frame types, protocol code names), so cardinality stays
// bounded whatever clients or routers send.
type metrics struct {
	connections prometheus.Gauge
	connects    *prometheus.CounterVec
	framesIn    *prometheus.CounterVec
	errors      *prometheus.CounterVec
	deliveries  prometheus.Counter
	kicks       *prometheus.CounterVec
	queueFull   prometheus.Counter
	// queueFullBytes counts the queue overflows due to send_queue_bytes.
	queueFullBytes prometheus.Counter
	// unauthed is the number of connections not yet authenticated;
	// unauthRefused the upgrades refused over the caps, by scope.
	unauthed        prometheus.Gauge
	unauthRefused   *prometheus.CounterVec
	ingress         prometheus.Counter
	batches         prometheus.Counter
	deliveryLatency prometheus.Histogram
	ackLatency      prometheus.Histogram
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	const ns, sub = "chatgate", "gateway"
	latencyBuckets := []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5}
	m := &metrics{
		connections: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: ns, Subsystem: sub,
			Name: "connections", Help: "Open WebSocket connections, authenticated or not."}),
		connects: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: sub,
			Name: "connects_total", Help: "Connection attempts by outcome: ok or the protocol code name that refused them."}, []string{"result"}),
		framesIn: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: sub,
			Name: "frames_in_total", Help: "Client frames read, by frame type (invalid: failed to decode)."}, []string{"type"}),
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: sub,
			Name: "errors_total", Help: "err frames sent to clients, by protocol code name."}, []string{"code"}),
		deliveries: prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Subsystem: sub,
			Name: "deliveries_total", Help: "msg frames queued to sockets."}),
		kicks: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: sub,
			Name: "kicks_total", Help: "Connections closed by the server with a kick frame, by reason."}, []string{"reason"}),
		queueFull: prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Subsystem: sub,
			Name: "send_queue_full_total", Help: "Connections whose send queue overflowed (kicked as slow consumers)."}),
		queueFullBytes: prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Subsystem: sub,
			Name: "send_queue_bytes_full_total", Help: "Connections kicked as slow consumers because their queued bytes passed gateway.send_queue_bytes."}),
		unauthed: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: ns, Subsystem: sub,
			Name: "unauthenticated_connections", Help: "Open connections that have not authenticated yet."}),
		unauthRefused: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: sub,
			Name: "unauthenticated_refused_total", Help: "WebSocket upgrades refused because too many connections were unauthenticated, by scope (gateway: HTTP 503, address: HTTP 429)."}, []string{"scope"}),
		ingress: prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Subsystem: sub,
			Name: "ingress_total", Help: "Sends written to the ingress streams."}),
		batches: prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Subsystem: sub,
			Name: "delivery_batches_total", Help: "Delivery stream entries processed."}),
		deliveryLatency: prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: ns, Subsystem: sub,
			Name: "delivery_latency_seconds", Help: "From a router's write to this node's delivery stream (the entry id's time) to the frames being queued to sockets.",
			Buckets: latencyBuckets}),
		ackLatency: prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: ns, Subsystem: sub,
			Name: "send_ack_latency_seconds", Help: "From a send frame being read to its ack or error being queued to the sender.",
			Buckets: latencyBuckets}),
	}
	for _, c := range []prometheus.Collector{m.connections, m.connects, m.framesIn, m.errors, m.deliveries,
		m.kicks, m.queueFull, m.queueFullBytes, m.unauthed, m.unauthRefused, m.ingress, m.batches, m.deliveryLatency, m.ackLatency} {
		if err := reg.Register(c); err != nil {
			var are prometheus.AlreadyRegisteredError
			if errors.As(err, &are) {
				return nil, fmt.Errorf("gateway: metrics already registered (one gateway per registry): %w", err)
			}
			return nil, fmt.Errorf("gateway: register metrics: %w", err)
		}
	}
	return m, nil
}

// frameTypeLabel bounds the type label to the frame types of the protocol.
func frameTypeLabel(t string) string {
	switch t {
	case protocol.TypeAuth, protocol.TypeSend, protocol.TypeDAck, protocol.TypeSync, protocol.TypeState, protocol.TypePing:
		return t
	}
	return "invalid"
}
