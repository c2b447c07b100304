package pushworker

import (
	"context"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/semaphore"
	"golang.org/x/time/rate"

	"github.com/chatgate/chatgate/internal/config"
	"github.com/chatgate/chatgate/internal/pushcert"
)

// sender is one provider's client for one certificate: APNs, FCM and each
// phone maker implement it. send delivers jobs (all bound to the
// certificate) and sets each job's res; requests run through d, which
// bounds the worker's requests in flight.
type sender interface {
	send(ctx context.Context, d *dispatch, cs *certSender, jobs []*job)
}

// dispatch runs a batch's requests concurrently within the worker's
// concurrency bound and waits for them.
type dispatch struct {
	sem *semaphore.Weighted
	m   *metrics
	wg  sync.WaitGroup
}

// run runs fn holding weight permits; false when ctx ended first (the
// worker is stopping).
func (d *dispatch) run(ctx context.Context, weight int, fn func()) bool {
	if err := d.sem.Acquire(ctx, int64(weight)); err != nil {
		return false
	}
	d.wg.Add(1)
	go func() {
		defer d.wg.Done()
		defer d.sem.Release(int64(weight))
		fn()
	}()
	return true
}

// maxLocalWait is the longest a request waits for the certificate's own
// rate limit within a batch; beyond it the jobs are retried later rather
// than holding the batch.
const maxLocalWait = 2 * time.Second

// certSender is one configured certificate: its provider's sender and what
// the worker enforces around it — a pause after a throttling answer, the
// configured rate (qps) and daily quota.
type certSender struct {
	name     string
	provider string
	s        sender
	// pausedUntil (unix ms): nothing is sent with the certificate before
	// it (the provider throttled, or the quota is spent).
	pausedUntil atomic.Int64
	lim         *rate.Limiter // nil: no rate of its own
	quota       int64         // 0: no daily cap

	mu   sync.Mutex
	day  int // yyyymmdd in China Standard Time: the makers' day
	used int64
}

// defaultQPS are the makers' documented sending rates where one is
// published (Huawei: 3000 tokens a second per app); others are set per
// certificate from what the maker's console grants the app.
var defaultQPS = map[string]float64{pushcert.Huawei: 3000}

func newCertSender(c config.PushCertificate, s sender) *certSender {
	cs := &certSender{name: c.Name, provider: c.Provider, s: s, quota: c.DailyQuota}
	qps := c.QPS
	if qps == 0 {
		qps = defaultQPS[c.Provider]
	}
	if qps > 0 {
		cs.lim = rate.NewLimiter(rate.Limit(qps), max(int(qps), 1000))
	}
	return cs
}

// paused reports how long the certificate stays paused (0: not paused).
func (cs *certSender) paused(now time.Time) time.Duration {
	if until := cs.pausedUntil.Load(); until > now.UnixMilli() {
		return time.Duration(until-now.UnixMilli()) * time.Millisecond
	}
	return 0
}

// pause stops sends with the certificate for d.
func (cs *certSender) pause(d time.Duration) {
	until := time.Now().Add(d).UnixMilli()
	for {
		cur := cs.pausedUntil.Load()
		if until <= cur || cs.pausedUntil.CompareAndSwap(cur, until) {
			return
		}
	}
}

var cst = time.FixedZone("CST", 8*3600)

// admit takes n pushes from the certificate's rate and daily quota; when
// it cannot within maxLocalWait it returns the result the n jobs get (a
// retry after the wait). It sleeps for a short wait.
func (cs *certSender) admit(ctx context.Context, n int) (result, bool) {
	if cs.quota > 0 {
		now := time.Now().In(cst)
		day := now.Year()*10000 + int(now.Month())*100 + now.Day()
		cs.mu.Lock()
		if cs.day != day {
			cs.day, cs.used = day, 0
		}
		over := cs.used+int64(n) > cs.quota
		if !over {
			cs.used += int64(n)
		}
		cs.mu.Unlock()
		if over {
			next := time.Date(now.Year(), now.Month(), now.Day()+1, 0, 0, 0, 0, cst)
			return result{kind: resRetry, reason: "local_quota", pause: next.Sub(now), throttled: true}, false
		}
	}
	if cs.lim == nil {
		return result{}, true
	}
	r := cs.lim.ReserveN(time.Now(), min(n, cs.lim.Burst()))
	d := r.Delay()
	if !r.OK() || d > maxLocalWait {
		r.Cancel()
		return result{kind: resRetry, reason: "local_rate", pause: max(d, time.Second), throttled: true}, false
	}
	if d > 0 {
		sleepCtx(ctx, d)
	}
	return result{}, true
}

// resolve is the certificate a device is sent with, nil when the app has
// none for it.
func (a *appClients) resolve(notifier string, platform int, token string) *certSender {
	c, err := pushcert.Resolve(a.certs, notifier, platform, token)
	if err != nil {
		return nil
	}
	return a.senders[strings.ToLower(c.Name)]
}
