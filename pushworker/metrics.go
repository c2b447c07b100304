package pushworker

import (
	"errors"

	"github.com/prometheus/client_golang/prometheus"
)

type metrics struct {
	jobs          *prometheus.CounterVec
	sends         *prometheus.CounterVec
	dropped       *prometheus.CounterVec
	tokensRemoved *prometheus.CounterVec
	throttled     *prometheus.CounterVec
	authFailures  *prometheus.CounterVec
	sendSeconds   *prometheus.HistogramVec
	batchSeconds  prometheus.Histogram
	claimed       prometheus.Counter
	campaignDevs  *prometheus.CounterVec
	backlog       *prometheus.GaugeVec
	delayed       *prometheus.GaugeVec
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	const ns, sub = "chatgate", "push"
	m := &metrics{
		jobs: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "jobs_total",
			Help: "Push jobs by outcome: ok, invalid (token removed), retry, dead (dead-lettered), errors, no_credentials, dropped (policy), deduplicated."}, []string{"outcome"}),
		sends: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "sends_total",
			Help: "Pushes by provider (apns, fcm, huawei, honor, xiaomi, oppo, vivo, meizu) and outcome (ok, invalid, retry, errors)."}, []string{"provider", "outcome"}),
		throttled: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "throttled_total",
			Help: "Pushes held back by a rate limit or quota, by provider and reason: the provider's answer (e.g. http_429, oppo_33, vivo_10070) or the certificate's own local_rate / local_quota."}, []string{"provider", "reason"}),
		authFailures: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "auth_failures_total",
			Help: "Pushes failed because the provider refused the certificate's credentials (not retried; the token endpoint is asked again after 30 s at most once)."}, []string{"provider"}),
		dropped: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "dropped_total",
			Help: "Pushes dropped by the user's policy: no_push, quiet_hours."}, []string{"reason"}),
		tokensRemoved: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "tokens_removed_total",
			Help: "Push tokens removed because the provider said they are dead."}, []string{"provider"}),
		sendSeconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: ns, Subsystem: sub, Name: "send_seconds",
			Help: "Time of one provider request (APNs: one device; FCM: one SendEach call; makers: one batch).", Buckets: prometheus.ExponentialBuckets(0.001, 2, 14)}, []string{"provider"}),
		batchSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: ns, Subsystem: sub, Name: "batch_seconds",
			Help: "Time to handle one batch of push jobs.", Buckets: prometheus.ExponentialBuckets(0.001, 2, 14)}),
		claimed: prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "claimed_total",
			Help: "Push jobs claimed from a worker that stopped handling them."}),
		campaignDevs: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "campaign_devices_total",
			Help: "Devices reached by campaign expansion, by channel."}, []string{"channel"}),
		backlog: prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: ns, Subsystem: sub, Name: "stream_backlog_entries",
			Help: "Push jobs waiting or in flight on a push stream (entries are deleted once final), sampled every 5 s."}, []string{"partition"}),
		delayed: prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: ns, Subsystem: sub, Name: "delayed_jobs",
			Help: "Push jobs waiting for a retry in a partition's delay set, sampled every 5 s."}, []string{"partition"}),
	}
	if reg == nil {
		return m, nil
	}
	for _, c := range []prometheus.Collector{m.jobs, m.sends, m.dropped, m.tokensRemoved, m.throttled, m.authFailures, m.sendSeconds, m.batchSeconds, m.claimed, m.campaignDevs, m.backlog, m.delayed} {
		if err := reg.Register(c); err != nil {
			var are prometheus.AlreadyRegisteredError
			if !errors.As(err, &are) {
				return nil, err
			}
		}
	}
	return m, nil
}
