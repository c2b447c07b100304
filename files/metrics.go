package files

import (
	"github.com/prometheus/client_golang/prometheus"
)

type metrics struct {
	issued    *prometheus.CounterVec
	downloads *prometheus.CounterVec
	thumbs    prometheus.Histogram
	removed   *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		issued: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "chatgate_files_uploads_issued_total",
			Help: "Upload URLs issued, by kind (user_avatar, group_avatar, chat).",
		}, []string{"kind"}),
		downloads: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "chatgate_files_downloads_total",
			Help: "Download URLs issued, by variant (original, thumbnail).",
		}, []string{"variant"}),
		thumbs: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "chatgate_files_thumbnail_seconds",
			Help:    "Time to make one thumbnail (decode, scale, encode, store).",
			Buckets: prometheus.ExponentialBuckets(0.005, 2, 12),
		}),
		removed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "chatgate_files_removed_total",
			Help: "Objects removed by the cleaner, by reason (orphan, scheduled).",
		}, []string{"reason"}),
	}
	if reg != nil {
		for _, c := range []prometheus.Collector{m.issued, m.downloads, m.thumbs, m.removed} {
			if err := reg.Register(c); err != nil {
				return nil, err
			}
		}
	}
	return m, nil
}
