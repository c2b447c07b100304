package loadtest

import (
	"context"
	"sync/atomic"
	"time"
)

// ChurnReport is how the reconnect storms of a churn or mixed run went.
type ChurnReport struct {
	Waves int `json:"waves"`
	// DevicesCut counts connections the harness cut (a device cut in two
	// waves counts twice); Recovered of them were connected and caught up
	// again by the end of the run.
	DevicesCut int64 `json:"devices_cut"`
	Recovered  int64 `json:"recovered"`
	// DownSeconds is how long each cut device was kept offline.
	DownSeconds float64 `json:"down_seconds"`
	// Reconnect is, per device, from the end of its offline time to the
	// end of its catch-up sync: what the client and the server take to
	// bring a device back (the client's reconnect backoff included).
	Reconnect Summary `json:"reconnect"`
	// WaveRecovery is, per wave, from the cut to the moment the last
	// device of the wave was caught up: the storm's recovery time,
	// offline time included.
	WaveRecovery Summary `json:"wave_recovery"`
	// SyncedDeliveries are the messages that reached a device by its
	// catch-up sync rather than live; SyncLatency is their send->delivery.
	SyncedDeliveries int64   `json:"synced_deliveries"`
	SyncLatency      Summary `json:"sync_latency"`
}

// churnWave is one reconnect storm: the devices cut at once.
type churnWave struct {
	start   time.Time
	back    time.Time // when its devices may reconnect
	pending atomic.Int64
	last    atomic.Int64 // unix ns when the latest device was caught up
}

// churner cuts the connections of a fleet in waves and follows each device
// back to "connected and synced".
type churner struct {
	fl       *fleet
	fraction float64
	interval time.Duration
	down     time.Duration
	// waveOf[i] is the wave device i was cut in, until it is back.
	waveOf []atomic.Pointer[churnWave]
}

func newChurner(fl *fleet, fraction float64, interval, down time.Duration) *churner {
	return &churner{fl: fl, fraction: fraction, interval: interval, down: down, waveOf: make([]atomic.Pointer[churnWave], len(fl.sessions))}
}

// run cuts a wave every interval from start until end or ctx's end. The
// first wave comes half an interval in, so that every wave has traffic
// before and after it.
func (c *churner) run(ctx context.Context, start, end time.Time) {
	for k := int64(0); ; k++ {
		at := start.Add(c.interval/2 + time.Duration(k)*c.interval)
		if at.After(end) {
			return
		}
		if !sleepCtx(ctx, time.Until(at)) {
			return
		}
		c.wave(k)
	}
}

// wave cuts every device of this process that the wave picks. Devices are
// picked by a hash of (device, wave), so that each wave takes a different
// fraction and every worker process picks the same devices as a single
// process would.
func (c *churner) wave(k int64) {
	w := &churnWave{start: time.Now(), back: time.Now().Add(c.down)}
	f := c.fl
	threshold := uint64(c.fraction * float64(^uint64(0)>>1))
	n := int64(0)
	w.pending.Store(1) // held by this loop until every cut is counted
	for i := f.lo; i < f.hi; i++ {
		if splitmix(uint64(i)<<20^uint64(k))>>1 >= threshold {
			continue
		}
		if c.waveOf[i].Load() != nil {
			continue // still coming back from the last wave
		}
		w.pending.Add(1)
		c.waveOf[i].Store(w)
		if !f.dial.cut(i, c.down) {
			// Not connected right now (reconnecting anyway): not this
			// wave's business.
			c.waveOf[i].Store(nil)
			w.pending.Add(-1)
			continue
		}
		n++
	}
	c.fl.st.churnWaves.Add(1)
	c.fl.st.churnCut.Add(n)
	c.done(w)
}

// onConnect is called when device i connected; if it was cut, it waits for
// its catch-up sync and records how long the way back took.
func (c *churner) onConnect(ctx context.Context, i int) {
	w := c.waveOf[i].Load()
	if w == nil {
		return
	}
	s := c.fl.sessions[i]
	go func() {
		if err := s.Ready(ctx); err != nil {
			return
		}
		if !c.waveOf[i].CompareAndSwap(w, nil) {
			return
		}
		now := time.Now()
		c.fl.st.recoverLat.Record(i, now.Sub(w.back))
		c.fl.st.churnBack.Add(1)
		storeMax(&w.last, now.UnixNano())
		c.done(w)
	}()
}

// done releases one hold on w; the last one records the wave's recovery.
func (c *churner) done(w *churnWave) {
	if w.pending.Add(-1) != 0 {
		return
	}
	if last := w.last.Load(); last > 0 {
		c.fl.st.waveLat.Record(0, time.Unix(0, last).Sub(w.start))
	}
}

// isCut reports whether device i is down or coming back because the
// harness cut it: its disconnect is planned, not an error.
func (c *churner) isCut(i int) bool {
	return c != nil && c.waveOf[i].Load() != nil
}

// churnReport reads the churn counters and latencies of st.
func churnReport(st *stats, down time.Duration) *ChurnReport {
	return &ChurnReport{
		Waves: int(st.churnWaves.Load()), DevicesCut: st.churnCut.Load(), Recovered: st.churnBack.Load(),
		DownSeconds:      down.Seconds(),
		Reconnect:        summarize(st.recoverLat.Total()),
		WaveRecovery:     summarize(st.waveLat.Total()),
		SyncLatency:      summarize(st.syncLat.Total()),
		SyncedDeliveries: st.synced.Load(),
	}
}

// splitmix is SplitMix64's finaliser: a cheap, well-mixed hash.
func splitmix(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
	x = (x ^ (x >> 27)) * 0x94d049bb133111eb
	return x ^ (x >> 31)
}
