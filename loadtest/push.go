package loadtest

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/chatgate/chatgate/internal/fakepush"
)

// The push scenario is a /push/notify campaign against fake APNs and FCM.
//
// The fake runs inside the harness (Config.FakePush, or one the harness
// starts and describes in Config.FakePushDir), because the ledger needs
// what the fake received per token and internal/fakepush keeps those
// counters in memory only: `chatgate fakepush` has no counters endpoint.
// The push worker under test must therefore be configured with the fake's
// credentials: a test starts the fake and the server itself; from the
// command line the harness writes ca.pem, apns.p8, fcm.json and a
// push.yaml snippet for apps[].push, then waits (-api-wait) for the REST
// API to answer with FCM credentials for the app, so a script can start
// chatgate once push.yaml exists (scripts/bench-core.sh does).
//
// Devices are set up through the REST API the way an app backend would:
// /user/register/batch (admin), then per user /user/token/bind for each
// device and /user/push/tag, acting as the user with the admin token's
// user_id header. Half of the devices get 64-hex APNs tokens (notifier
// "apns"), half FCM-like tokens (notifier "fcm"). Users and tokens carry a
// run id, so runs never collide in a Redis that outlives them; the
// audience is the run's tag (or "all" with -push-audience all, which also
// reaches older runs' devices: those pushes are reported as unexpected).
//
// Then one /push/notify is timed until the task reports every target
// accounted for (received, or given up as errors) and the fake has seen
// every token: each device must have received at least once (lost fails
// the run), duplicates are counted.

// Push audiences.
const (
	PushAudienceTag = "tag"
	PushAudienceAll = "all"
)

// pushPoll is how often the campaign's progress is read: the fake's
// counters (in process, cheap) at this period, /push/task/detail at 5x.
const pushPoll = 20 * time.Millisecond

// pushDevice is one device of the run.
type pushDevice struct {
	user     int64
	sn       int32
	provider string // fakepush.APNs or fakepush.FCM
	token    string
}

// PushReport is how a push campaign went.
type PushReport struct {
	Audience string `json:"audience"`
	TaskID   int64  `json:"task_id"`
	Devices  int    `json:"devices"`
	APNs     int    `json:"apns_devices"`
	FCM      int    `json:"fcm_devices"`
	// SetupSeconds is registering users, binding tokens and tagging.
	SetupSeconds float64 `json:"setup_seconds"`
	// NotifyMs is the /push/notify answer time.
	NotifyMs float64 `json:"notify_ms"`
	// Seconds is from sending /push/notify to the last device's first push
	// reaching the fake (or to giving up).
	Seconds float64 `json:"seconds"`
	// PushRate is devices reached per second over Seconds; per provider
	// over the same window.
	PushRate float64 `json:"push_rate"`
	APNsRate float64 `json:"apns_rate"`
	FCMRate  float64 `json:"fcm_rate"`
	// Reached is the devices whose token the fake accepted at least once;
	// Lost those it never did; Duplicates extra accepted pushes to them.
	Reached    int   `json:"reached"`
	Lost       int   `json:"lost"`
	Duplicates int64 `json:"duplicates"`
	// Unexpected are accepted pushes to tokens that are not the run's.
	Unexpected int64 `json:"unexpected"`
	// Fake is what the fake answered, per provider.
	Fake map[string]FakeCounts `json:"fake"`
	// Task are the /push/task/detail counters at the end.
	Task map[string]any `json:"task,omitempty"`
	// Reach is the time from /push/notify until a device's first push was
	// accepted by the fake (20 ms resolution).
	Reach Summary `json:"reach"`
	// LostExamples name a few devices that got nothing.
	LostExamples []string `json:"lost_examples,omitempty"`
}

// FakeCounts are one provider's counters in the fake.
type FakeCounts struct {
	Requests int64         `json:"requests"`
	Accepted int64         `json:"accepted"`
	ByStatus map[int]int64 `json:"by_status,omitempty"`
	Tokens   int           `json:"tokens"`
}

// errNoFake is the configuration error of a push run that could not point
// a server at its fake.
var errNoFake = errors.New("push: the harness runs the fake APNs/FCM itself; set -fakepush-dir so the server can be configured from the files it writes")

// runPush performs the push scenario.
func (r *runner) runPush(ctx context.Context) error {
	cfg := r.cfg
	fake := cfg.FakePush
	if fake == nil {
		var err error
		if fake, err = startFake(ctx, cfg); err != nil {
			return err
		}
		defer fake.Close()
	}
	api, err := newAPIClient(cfg, r.res.Started)
	if err != nil {
		return err
	}
	r.phase.Store("wait")
	if err := api.waitReady(ctx, cfg.APIWait); err != nil {
		return err
	}

	r.phase.Store("setup")
	setup := time.Now()
	runID := strconv.FormatInt(r.res.Started.UnixMilli(), 36)
	devs, err := r.setupPushDevices(ctx, api, runID)
	if err != nil {
		return err
	}
	rep := &PushReport{Audience: cfg.PushAudience, Devices: len(devs), SetupSeconds: time.Since(setup).Seconds(), Fake: map[string]FakeCounts{}}
	for _, d := range devs {
		if d.provider == fakepush.APNs {
			rep.APNs++
		} else {
			rep.FCM++
		}
	}
	r.res.Push = rep

	// The fake's counters are zeroed so that they describe this campaign
	// only; a fake given by a test belongs to this run.
	fake.Reset()
	before := r.obs.observe(ctx)
	r.phase.Store("push")
	r.st.expected.Store(int64(len(devs)))
	audience := any(PushAudienceAll)
	if cfg.PushAudience != PushAudienceAll {
		audience = map[string][]string{"tag": {pushTag(runID)}}
	}
	notify := map[string]any{
		"audience": audience,
		"setting":  map[string]any{"request_id": "loadtest-" + runID},
		"message":  map[string]any{"type": "text", "title": "chatgate loadtest", "body": "push campaign " + runID},
	}
	t0 := time.Now()
	var nr struct {
		TaskID int64 `json:"task_id"`
	}
	if err := api.call(ctx, "POST", "/push/notify", 0, notify, &nr); err != nil {
		r.st.addError("push/notify", err)
		return fmt.Errorf("push: /push/notify: %w", err)
	}
	rep.NotifyMs = float64(time.Since(t0).Microseconds()) / 1000
	r.st.ackLat.Record(0, time.Since(t0))
	r.st.acked.Add(1)
	rep.TaskID = nr.TaskID

	last := r.followCampaign(ctx, api, fake, devs, rep, t0)
	rep.Seconds = last.Sub(t0).Seconds()
	rep.Task = r.finalTask(ctx, api, rep.TaskID, len(devs))
	after := r.obs.observe(ctx)
	r.judgePush(fake, devs, rep)
	r.res.Window = "from /push/notify to the campaign's end (every device accounted for, or the -duration bound)"
	r.res.Servers, r.res.Redis = r.obs.report(before, after)
	r.res.Machine = r.obs.machine(before, after, r.res.Servers, r.res.Redis)
	return nil
}

// pushTag is the tag of one run's devices.
func pushTag(runID string) string { return "loadtest_" + runID }

// startFake starts the harness's own fake and writes what a server needs
// to use it into cfg.FakePushDir.
func startFake(ctx context.Context, cfg Config) (*fakepush.Server, error) {
	if cfg.FakePushDir == "" {
		return nil, errNoFake
	}
	f, err := fakepush.Start(ctx, fakepush.Options{Addr: cfg.FakePushAddr, Latency: cfg.FakePushLatency})
	if err != nil {
		return nil, fmt.Errorf("push: start the fake APNs/FCM: %w", err)
	}
	if err := writeFakeFiles(cfg.FakePushDir, f); err != nil {
		f.Close()
		return nil, err
	}
	cfg.Log.Warn("fake APNs/FCM running; configure the app's push section from push.yaml", "url", f.URL, "dir", cfg.FakePushDir)
	return f, nil
}

// writeFakeFiles writes the fake's CA, keys and an apps[].push snippet
// (push.yaml, written last: a script waiting for it finds the rest).
func writeFakeFiles(dir string, f *fakepush.Server) error {
	if _, err := f.WriteCredentials(dir); err != nil {
		return fmt.Errorf("push: %w", err)
	}
	return nil
}

// pushTokenOf makes device i's token: 64 hex digits for APNs (what Apple
// issues and the fake checks), an FCM-registration-like string for FCM.
// The run id keeps tokens of different runs apart (tokens are unique per
// app: binding one takes it from its previous device).
func pushTokenOf(runID string, i int, provider string) string {
	if provider == fakepush.APNs {
		id, _ := strconv.ParseUint(runID, 36, 64)
		return fmt.Sprintf("%024x%040x", id, i)
	}
	return fmt.Sprintf("lt%s:APA91b%012d", runID, i)
}

// setupPushDevices registers the run's users and binds and tags their
// devices through the REST API.
func (r *runner) setupPushDevices(ctx context.Context, api *apiClient, runID string) ([]pushDevice, error) {
	cfg := r.cfg
	users := cfg.Users()
	uids := make([]int64, 0, users)
	for lo := 0; lo < users; lo += pushRegisterBatch {
		hi := min(lo+pushRegisterBatch, users)
		list := make([]map[string]string, 0, hi-lo)
		for i := lo; i < hi; i++ {
			list = append(list, map[string]string{"username": fmt.Sprintf("lp%s_%d", runID, i), "password": "lp" + runID})
		}
		var out []struct {
			UserID  int64  `json:"user_id"`
			Success bool   `json:"success"`
			Reason  string `json:"reason"`
		}
		if err := api.call(ctx, "POST", "/user/register/batch", 0, map[string]any{"list": list}, &out); err != nil {
			r.st.addError("setup: register", err)
			return nil, fmt.Errorf("push: /user/register/batch: %w", err)
		}
		for i, o := range out {
			if !o.Success {
				return nil, fmt.Errorf("push: register user %d of the run: %s", lo+i, o.Reason)
			}
			uids = append(uids, o.UserID)
		}
	}
	if len(uids) != users {
		return nil, fmt.Errorf("push: registered %d users of %d", len(uids), users)
	}

	devs := make([]pushDevice, 0, cfg.Connections)
	for u, uid := range uids {
		for d := range cfg.DevicesPerUser {
			i := u*cfg.DevicesPerUser + d
			p := fakepush.APNs
			if i%2 == 1 {
				p = fakepush.FCM
			}
			devs = append(devs, pushDevice{user: uid, sn: int32(d + 1), provider: p, token: pushTokenOf(runID, i, p)})
		}
	}
	tag := pushTag(runID)
	jobs := make(chan int)
	errc := make(chan error, 1)
	var wg sync.WaitGroup
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	for range pushSetupConcurrency {
		wg.Go(func() {
			for u := range jobs {
				if err := r.setupUser(sctx, api, uids[u], devs[u*cfg.DevicesPerUser:(u+1)*cfg.DevicesPerUser], tag); err != nil {
					select {
					case errc <- err:
					default:
					}
					cancel()
				}
			}
		})
	}
feed:
	for u := range uids {
		select {
		case jobs <- u:
		case <-sctx.Done():
			break feed
		}
	}
	close(jobs)
	wg.Wait()
	select {
	case err := <-errc:
		return nil, err
	default:
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("push: setup: %w", err)
	}
	return devs, nil
}

// Setup knobs: the batch register's list limit, and requests in flight.
const (
	pushRegisterBatch    = 500
	pushSetupConcurrency = 16
)

// setupUser binds each device's token and tags the user.
func (r *runner) setupUser(ctx context.Context, api *apiClient, uid int64, devs []pushDevice, tag string) error {
	for _, d := range devs {
		body := map[string]any{"device_sn": d.sn, "device_token": d.token, "notifier_name": d.provider}
		if err := api.call(ctx, "POST", "/user/token/bind", uid, body, nil); err != nil {
			r.st.addError("setup: token/bind", err)
			return fmt.Errorf("push: bind the token of user %d device %d: %w", uid, d.sn, err)
		}
	}
	if err := api.call(ctx, "POST", "/user/push/tag", uid, map[string]any{"tags": []string{tag}}, nil); err != nil {
		r.st.addError("setup: push/tag", err)
		return fmt.Errorf("push: tag user %d: %w", uid, err)
	}
	return nil
}

// followCampaign waits until the campaign is over, recording each device's
// reach time from the fake's counters and feeding the progress line. It
// returns when the last device was reached, or when it gave up.
func (r *runner) followCampaign(ctx context.Context, api *apiClient, fake *fakepush.Server, devs []pushDevice, rep *PushReport, t0 time.Time) time.Time {
	cfg := r.cfg
	deadline := t0.Add(cfg.Duration)
	tick := time.NewTicker(pushPoll)
	defer tick.Stop()
	var seen int64
	lastReach := t0
	var settledAt time.Time
	for n := 0; ; n++ {
		a, f := fake.Stats(fakepush.APNs), fake.Stats(fakepush.FCM)
		now := time.Now()
		r.st.sent.Store(a.Requests + f.Requests)
		// A token counts once: Tokens is distinct tokens accepted, so a
		// duplicate is not mistaken for a new device reached.
		reached := int64(a.Tokens + f.Tokens)
		if reached > seen {
			r.st.deliveryLat.recordRaw(0, now.Sub(t0).Microseconds(), reached-seen)
			r.st.received.Add(reached - seen)
			r.st.lastRecv.Store(now.UnixNano())
			seen, lastReach = reached, now
		}
		done := seen >= int64(len(devs))
		if !done && n%5 == 0 {
			// Every target accounted for by the task (some as errors, so
			// they will never reach the fake): no point waiting longer
			// than the drain for stragglers.
			if d, err := api.taskDetail(ctx, rep.TaskID); err == nil && taskFinished(d, len(devs)) {
				if settledAt.IsZero() {
					settledAt = now
				}
				done = now.Sub(settledAt) > min(cfg.Drain, time.Second)
			} else if err != nil {
				r.st.addError("push/task/detail", err)
			}
		}
		if done || now.After(deadline) {
			break
		}
		select {
		case <-ctx.Done():
			return lastReach
		case <-tick.C:
		}
	}
	return lastReach
}

// finalTask reads the task's counters once it accounted for every target:
// the worker records a push as received after the provider accepted it, so
// the fake can see the last push a moment before the task says so. It
// waits at most the drain.
func (r *runner) finalTask(ctx context.Context, api *apiClient, id int64, devices int) map[string]any {
	deadline := time.Now().Add(r.cfg.Drain)
	for {
		d, err := api.taskDetail(ctx, id)
		if err != nil {
			r.st.addError("push/task/detail", err)
			return nil
		}
		if taskFinished(d, devices) || time.Now().After(deadline) || !sleepCtx(ctx, 5*pushPoll) {
			return d
		}
	}
}

// taskFinished reports whether the task expanded its whole audience and
// every target has its final outcome.
func taskFinished(d map[string]any, devices int) bool {
	if s, _ := d["state"].(string); s != "expanded" {
		return false
	}
	num := func(k string) int64 {
		v, _ := d[k].(float64)
		return int64(v)
	}
	target := num("apns_target") + num("fcm_target")
	final := num("apns_received") + num("fcm_received") + num("errors") + num("invalid") + num("dead") + num("dropped")
	return target >= int64(devices) && final >= target
}

// judgePush compares what the fake received per token with the run's
// devices and fills the report, the ledger and the verdict.
func (r *runner) judgePush(fake *fakepush.Server, devs []pushDevice, rep *PushReport) {
	var mine [2]int64 // accepted pushes to the run's tokens, by provider
	var reachedBy [2]int
	for _, d := range devs {
		k := 0
		if d.provider == fakepush.FCM {
			k = 1
		}
		c := int64(fake.Count(d.provider, d.token))
		mine[k] += c
		if c == 0 {
			rep.Lost++
			if len(rep.LostExamples) < 5 {
				rep.LostExamples = append(rep.LostExamples, fmt.Sprintf("user %d device %d (%s %s)", d.user, d.sn, d.provider, d.token))
			}
			continue
		}
		reachedBy[k]++
		rep.Duplicates += c - 1
	}
	rep.Reached = reachedBy[0] + reachedBy[1]
	for k, p := range []string{fakepush.APNs, fakepush.FCM} {
		s := fake.Stats(p)
		rep.Fake[p] = FakeCounts{Requests: s.Requests, Accepted: s.Accepted, ByStatus: s.ByStatus, Tokens: s.Tokens}
		rep.Unexpected += s.Accepted - mine[k]
	}
	if rep.Seconds > 0 {
		rep.PushRate = float64(rep.Reached) / rep.Seconds
		rep.APNsRate = float64(reachedBy[0]) / rep.Seconds
		rep.FCMRate = float64(reachedBy[1]) / rep.Seconds
	}
	rep.Reach = summarize(r.st.deliveryLat.Total())

	// The ledger of a push run: one campaign acknowledged, one push owed
	// per device.
	lr := Report{Acked: 1, Expected: len(devs), Delivered: rep.Reached, Lost: rep.Lost, Duplicated: int(rep.Duplicates),
		Unexpected: int(rep.Unexpected), Examples: rep.LostExamples}
	r.res.Ledger = &lr
	// Operations of a push run are the devices owed a push; a device
	// without one is a failed operation.
	r.st.sent.Store(int64(len(devs)))
	r.st.sendErrors.Store(int64(rep.Lost))
	if rep.Lost > 0 {
		r.res.fail("%d of %d devices received no push", rep.Lost, len(devs))
	}
}
