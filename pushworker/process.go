package pushworker

import (
	"context"
	"encoding/json"
	"errors"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/chatgate/chatgate/internal/bus"
	"github.com/chatgate/chatgate/internal/pushcert"
	"github.com/chatgate/chatgate/store"
)

// Job outcomes (metric label and, for campaigns, task counter).
const (
	outOK            = "ok"
	outInvalid       = "invalid"
	outRetry         = "retry"
	outDead          = "dead"
	outError         = "errors"
	outNoCredentials = "no_credentials"
	outDropped       = "dropped"
	outDeduplicated  = "deduplicated"
)

// job is one stream entry being handled.
type job struct {
	id   string
	j    bus.PushJob
	camp *Campaign
	app  *appClients
	cert *certSender
	prov string
	n    notification
	res  result
	// outcome is final once set; "" means "send it".
	outcome string
	reason  string
	seen    *redis.BoolCmd
	set     *store.SettingsCmd
	mute    *store.MuteCmd // nil: not a one-to-one message
}

type userRef struct {
	app string
	uid int64
}

// process handles one batch: policy, badge, sends, then one pipeline of
// outcomes (acks, retries, dead letters, counters).
func (w *Worker) process(ctx context.Context, q int, msgs []redis.XMessage) {
	start := time.Now()
	now := w.now()
	jobs := make([]*job, 0, len(msgs))
	var poison []string
	for _, m := range msgs {
		jb := &job{id: m.ID}
		if err := bus.Decode(m, &jb.j); err != nil {
			w.log.Warn("undecodable push job dropped", "id", m.ID, "err", err)
			poison = append(poison, m.ID)
			continue
		}
		jobs = append(jobs, jb)
	}

	// 1. Read settings (recipient), sender nicknames and campaign dedupe.
	pipe := w.rdb.Pipeline()
	settings := map[userRef]*store.SettingsCmd{}
	nicks := map[userRef]*redis.StringCmd{}
	mutes := map[[2]userRef]*store.MuteCmd{}
	for _, jb := range jobs {
		j := &jb.j
		if j.Task != 0 {
			c, err := w.campaign(ctx, j.App, j.Task)
			if err != nil {
				w.log.Warn("campaign of push job unreadable", "app", j.App, "task", j.Task, "err", err)
				jb.outcome, jb.reason = outError, "campaign_missing"
				continue
			}
			jb.camp = c
			jb.seen = w.st.QueueTaskSeen(ctx, pipe, j.App, j.Task, j.User, j.Device)
		} else if j.From != 0 {
			r := userRef{j.App, j.From}
			if nicks[r] == nil {
				nicks[r] = pipe.HGet(ctx, store.UserKey(j.App, j.From), "push_nick_name")
			}
			// A one-to-one message from a friend the recipient muted
			// (roster mute_notification) is not pushed.
			if j.ToGroup == 0 {
				pair := [2]userRef{{j.App, j.User}, r}
				if mutes[pair] == nil {
					mutes[pair] = w.st.QueueFriendMuted(ctx, pipe, j.App, j.User, j.From)
				}
				jb.mute = mutes[pair]
			}
		}
		r := userRef{j.App, j.User}
		if settings[r] == nil {
			settings[r] = w.st.QueueSettings(ctx, pipe, j.App, j.User)
		}
		jb.set = settings[r]
	}
	if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
		// Leave the batch pending: it is claimed again after claim_idle.
		w.log.Warn("push batch reads failed", "err", err)
		return
	}

	// 2. Policy and providers; badge operations per user.
	type badgeOp struct {
		set      *int64
		add      int64
		touched  bool
		res      *redis.IntCmd
		jobs     []*job
		current  int64
		needRead bool
	}
	badges := map[userRef]*badgeOp{}
	for _, jb := range jobs {
		if jb.outcome != "" {
			continue
		}
		j := &jb.j
		if jb.seen != nil && jb.seen.Val() {
			jb.outcome = outDeduplicated
			continue
		}
		if jb.mute != nil && jb.mute.Muted() {
			jb.outcome, jb.reason = outDropped, "muted"
			continue
		}
		st, cur, err := jb.set.Result()
		if err != nil {
			jb.outcome, jb.reason = outError, "settings"
			continue
		}
		jb.app = w.apps[j.App]
		tz := w.tz
		if jb.app != nil {
			tz = jb.app.tz
		}
		jb.n = notification{Campaign: jb.camp, Task: j.Task, MsgID: j.MsgID, Conv: j.Conv, From: j.From, Ext: j.Ext}
		silent := jb.n.silent()
		out, generic := decide(st, w.zones.get(st.TimeZone, tz), now, silent)
		if out != outSend {
			jb.outcome, jb.reason = outDropped, out
			continue
		}
		jb.n.Generic = generic
		if jb.camp == nil {
			jb.n.Title, jb.n.Body = messageTexts(j, nicks[userRef{j.App, j.From}])
		}
		if jb.cert = w.certOf(j); jb.cert == nil {
			jb.outcome = outNoCredentials
			continue
		}
		jb.prov = jb.cert.provider
		if silent {
			continue
		}
		jb.n.HasBadge = true
		if j.Badge != nil {
			jb.n.Badge = *j.Badge
			continue
		}
		r := userRef{j.App, j.User}
		op := badges[r]
		if op == nil {
			op = &badgeOp{current: cur}
			badges[r] = op
		}
		op.jobs = append(op.jobs, jb)
		if !j.Lead {
			continue
		}
		op.touched = true
		if jb.camp == nil {
			op.add++
		} else if n, add, _ := ParseBadge(jb.camp.Message.Badge); add {
			op.add += n
		} else {
			op.set, op.add = &n, 0
		}
	}
	if len(badges) > 0 {
		pipe := w.rdb.Pipeline()
		for r, op := range badges {
			if !op.touched {
				continue
			}
			key := store.UserKey(r.app, r.uid)
			if op.set != nil {
				pipe.HSet(ctx, key, "badge", *op.set)
			}
			op.res = pipe.HIncrBy(ctx, key, "badge", op.add)
		}
		if _, err := pipe.Exec(ctx); err != nil {
			w.log.Warn("push badge update failed", "err", err)
			return
		}
		for _, op := range badges {
			b := op.current
			if op.res != nil {
				b = op.res.Val()
			}
			for _, jb := range op.jobs {
				jb.n.Badge = b
				v := b
				jb.j.Badge = &v
			}
		}
	}

	// 3. Send.
	w.send(ctx, jobs)

	// 4. Record outcomes.
	w.finish(ctx, q, jobs, poison, now)
	w.m.batchSeconds.Observe(time.Since(start).Seconds())
}

// messageTexts are a message push's title (the sender's push nickname,
// or its id) and body.
func messageTexts(j *bus.PushJob, nick *redis.StringCmd) (title, body string) {
	if nick != nil {
		title = nick.Val()
	}
	if title == "" {
		title = strconv.FormatInt(j.From, 10)
	}
	switch j.Type {
	case "text", "":
		body = j.Content
	case "image":
		body = "[image]"
	case "audio":
		body = "[audio]"
	case "video":
		body = "[video]"
	case "file":
		body = "[file]"
	case "location":
		body = "[location]"
	default:
		body = j.Content
	}
	if len(body) > 1000 {
		// Keep far below the 4 KB payload limit; cut on a rune boundary.
		cut := 1000
		for cut > 0 && body[cut]&0xC0 == 0x80 {
			cut--
		}
		body = body[:cut] + "…"
	}
	return title, body
}

// send delivers every job that has no outcome yet through its
// certificate's sender, many at a time within the worker's concurrency
// bound.
func (w *Worker) send(ctx context.Context, jobs []*job) {
	d := &dispatch{sem: w.sem, m: w.m}
	now := time.Now()
	var order []*certSender
	byCert := map[*certSender][]*job{}
	for _, jb := range jobs {
		if jb.outcome != "" {
			continue
		}
		if jb.prov == pushcert.APNs || jb.prov == pushcert.FCM {
			if n, err := jb.n.size(jb.prov); err != nil || n > MaxPayload {
				jb.outcome, jb.reason = outError, "payload_too_large"
				continue
			}
		}
		if p := jb.cert.paused(now); p > 0 {
			// The certificate is paused by a throttling answer or its
			// quota: wait without an attempt.
			jb.outcome, jb.res = outRetry, result{kind: resRetry, reason: "paused", pause: p}
			continue
		}
		if byCert[jb.cert] == nil {
			order = append(order, jb.cert)
		}
		byCert[jb.cert] = append(byCert[jb.cert], jb)
	}
	for _, cs := range order {
		cs.s.send(ctx, d, cs, byCert[cs])
	}
	d.wg.Wait()
	for _, jb := range jobs {
		if jb.outcome != "" {
			continue
		}
		switch jb.res.kind {
		case resOK:
			jb.outcome = outOK
		case resInvalid:
			jb.outcome = outInvalid
		case resRetry:
			jb.outcome = outRetry
		default:
			jb.outcome = outError
		}
		jb.reason = jb.res.reason
		w.m.sends.WithLabelValues(jb.prov, jb.outcome).Inc()
		if jb.res.throttled {
			w.m.throttled.WithLabelValues(jb.prov, jb.res.reason).Inc()
		}
		if jb.res.auth {
			w.m.authFailures.WithLabelValues(jb.prov).Inc()
		}
	}
}

// certOf is the certificate a job's device is sent with, nil when its app
// has none for it.
func (w *Worker) certOf(j *bus.PushJob) *certSender {
	ac := w.apps[j.App]
	if ac == nil {
		return nil
	}
	return ac.resolve(j.Notifier, j.Platform, j.PushToken)
}

// acceptScript records a campaign's accepted push to a device once: the
// first time it counts as received, later ones as duplicates (the device
// got it twice: at-least-once after a crash).
var acceptScript = redis.NewScript(`
if redis.call("HSETNX", KEYS[1], ARGV[1], "1") == 1 then
  redis.call("HINCRBY", KEYS[2], ARGV[2], 1)
else
  redis.call("HINCRBY", KEYS[2], "duplicates", 1)
end
redis.call("PEXPIRE", KEYS[1], ARGV[3])
return 1
`)

// finish records every outcome in one pipeline: counters first, then the
// acknowledgements, so a crash in between repeats work rather than
// losing it.
func (w *Worker) finish(ctx context.Context, q int, jobs []*job, poison []string, now time.Time) {
	stream := bus.PushStream(q)
	pipe := w.rdb.Pipeline()
	ack := append([]string(nil), poison...)
	var clears []*job
	for _, jb := range jobs {
		j := &jb.j
		w.m.jobs.WithLabelValues(jb.outcome).Inc()
		if jb.outcome == outDropped {
			w.m.dropped.WithLabelValues(jb.reason).Inc()
		}
		incr := map[string]int64{}
		sent := jb.prov != "" && (jb.outcome == outOK || jb.outcome == outInvalid || jb.outcome == outError && jb.res.kind == resFail ||
			jb.outcome == outRetry && !notSent(jb.res.reason))
		ch := pushcert.Channel(jb.prov)
		if sent && jb.res.reason != "local_rate" && jb.res.reason != "local_quota" {
			incr[ch+"_sent"] = 1
		}
		switch jb.outcome {
		case outOK:
			if j.Task != 0 {
				acceptScript.Run(ctx, pipe, []string{store.PushTaskSeenKey(j.App, j.Task), store.PushTaskKey(j.App, j.Task)},
					strconv.FormatInt(j.User, 10)+":"+strconv.FormatInt(int64(j.Device), 10), ch+"_received", w.cfg.RequestIDTTL.Milliseconds())
			}
		case outInvalid:
			incr["invalid"] = 1
			clears = append(clears, jb)
		case outRetry:
			j.Attempt++
			if notSent(jb.res.reason) {
				j.Attempt-- // not sent: no attempt used
			}
			if j.Attempt >= w.cfg.MaxAttempts {
				jb.outcome = outDead
				incr["dead"] = 1
				v, _ := json.Marshal(j)
				pipe.XAdd(ctx, &redis.XAddArgs{Stream: DeadLetterStream(), Values: []any{bus.Field, v, "reason", jb.res.reason}})
				w.m.jobs.WithLabelValues(outDead).Inc()
				break
			}
			delay := w.backoff(j.Attempt)
			if jb.res.pause > delay {
				delay = jb.res.pause
			}
			// Scheduling runs on the wall clock; Deps.Now only drives policy.
			j.NotBefore = time.Now().Add(delay).UnixMilli()
			v, _ := json.Marshal(j)
			pipe.ZAdd(ctx, DelayKey(q), redis.Z{Score: float64(j.NotBefore), Member: string(v)})
		case outError, outNoCredentials:
			incr["errors"] = 1
			if jb.outcome == outNoCredentials {
				incr["no_credentials"] = 1
			}
			w.log.Debug("push failed", "app", j.App, "user", j.User, "dev", j.Device, "outcome", jb.outcome, "reason", jb.reason)
		case outDropped:
			incr["dropped"] = 1
		case outDeduplicated:
			incr["deduplicated"] = 1
		}
		if j.Task != 0 {
			w.st.QueueTaskCounters(ctx, pipe, j.App, j.Task, incr)
		}
		ack = append(ack, jb.id)
	}
	bus.QueueAck(ctx, pipe, stream, bus.PushGroup, ack...)
	_, err := pipe.Exec(ctx)
	if err != nil && isNoScript(err) {
		if lerr := acceptScript.Load(ctx, w.rdb).Err(); lerr == nil {
			w.finish(ctx, q, reset(jobs), poison, now)
			return
		}
	}
	if err != nil {
		// Unacknowledged: claimed again after claim_idle (and sent again:
		// at-least-once).
		w.log.Warn("push batch outcome write failed", "err", err)
		return
	}
	for _, jb := range clears {
		j := &jb.j
		removed, err := w.st.ClearPushToken(ctx, j.App, j.User, j.Device, j.PushToken, jb.res.invalidAt)
		if err != nil {
			w.log.Warn("remove dead push token", "app", j.App, "user", j.User, "err", err)
			continue
		}
		if removed {
			w.m.tokensRemoved.WithLabelValues(jb.prov).Inc()
		}
	}
}

// notSent reports a retry that never reached the provider: the
// certificate was paused, its own rate or quota held the job, or the
// worker was stopping. It costs no attempt and counts as not sent.
func notSent(reason string) bool {
	switch reason {
	case "paused", "shutdown", "local_rate", "local_quota":
		return true
	}
	return false
}

// reset undoes finish's bookkeeping on jobs so it can run again after the
// script was loaded.
func reset(jobs []*job) []*job {
	for _, jb := range jobs {
		if jb.outcome == outDead {
			jb.outcome = outRetry
		}
		if jb.outcome == outRetry && !notSent(jb.res.reason) {
			jb.j.Attempt--
		}
	}
	return jobs
}
