package server

import (
	"context"
	"log/slog"
	"sort"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/chatgate/chatgate/store"
)

// statusInterval is how often a process writes its report to the nodes
// hash (store.NodesKey) that the operator console's cluster page reads.
const statusInterval = 5 * time.Second

// partitionsGauge exports router.partitions from every router, so that an
// alert can compare the partitions the routers own with how many exist
// (ChatgateRouterPartitionsUnowned in deploy/prometheus/alerts.yaml).
func partitionsGauge(n int) prometheus.Collector {
	return prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "chatgate_router_partitions",
		Help: "Ingress partitions of the deployment (router.partitions); the routers together should own all of them.",
	}, func() float64 { return float64(n) })
}

// statusPublisher writes this process's report (its roles and its own
// chatgate_ gauges and counters, read from its registry: the figures its
// /metrics serves) every statusInterval until ctx ends, then deletes it.
type statusPublisher struct {
	st      *store.Store
	gather  prometheus.Gatherer
	node    string
	roles   []string
	version string
	started time.Time
	every   time.Duration
	log     *slog.Logger
}

func (p *statusPublisher) run(ctx context.Context) {
	t := time.NewTicker(p.every)
	defer t.Stop()
	for {
		p.publish(ctx)
		select {
		case <-ctx.Done():
			// The report of a process that stopped cleanly goes at once;
			// a killed one's ages out (store.NodeStatuses).
			dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
			if err := p.st.DeleteNodeStatus(dctx, p.node); err != nil {
				p.log.Warn("node status not removed", "err", err)
			}
			cancel()
			return
		case <-t.C:
		}
	}
}

func (p *statusPublisher) publish(ctx context.Context) {
	fams, err := p.gather.Gather()
	if err != nil {
		// ContinueOnError, as /metrics does: report what could be read.
		p.log.Debug("node status: gather", "err", err)
	}
	st := store.NodeStatus{Node: p.node, Roles: p.roles, Version: p.version,
		Started: p.started.UnixMilli(), Updated: time.Now().UnixMilli(), Metrics: flatten(fams)}
	wctx, cancel := context.WithTimeout(ctx, p.every)
	defer cancel()
	if err := p.st.PutNodeStatus(wctx, st); err != nil && ctx.Err() == nil {
		p.log.Warn("node status not written", "err", err)
	}
}

// flatten keeps the chatgate_ gauges and counters of fams (histograms are
// for Prometheus), keyed as the exposition format writes a sample.
func flatten(fams []*dto.MetricFamily) map[string]float64 {
	out := map[string]float64{}
	for _, f := range fams {
		name := f.GetName()
		if !strings.HasPrefix(name, "chatgate_") {
			continue
		}
		for _, m := range f.GetMetric() {
			var v float64
			switch f.GetType() {
			case dto.MetricType_GAUGE:
				v = m.GetGauge().GetValue()
			case dto.MetricType_COUNTER:
				v = m.GetCounter().GetValue()
			default:
				continue
			}
			out[sampleKey(name, m.GetLabel())] = v
		}
	}
	return out
}

func sampleKey(name string, labels []*dto.LabelPair) string {
	if len(labels) == 0 {
		return name
	}
	pairs := make([]string, 0, len(labels))
	for _, l := range labels {
		pairs = append(pairs, l.GetName()+"=\""+l.GetValue()+"\"")
	}
	sort.Strings(pairs)
	return name + "{" + strings.Join(pairs, ",") + "}"
}
