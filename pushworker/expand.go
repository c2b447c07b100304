package pushworker

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/chatgate/chatgate/internal/bus"
	"github.com/chatgate/chatgate/internal/pushcert"
	"github.com/chatgate/chatgate/protocol"
	"github.com/chatgate/chatgate/store"
)

// deliveryTTL matches the router's: a dead gateway's stream vanishes.
const deliveryTTL = 10 * time.Minute

// PushMessageType is the type of the socket message a campaign sends to
// live devices (distribution combined / mxpush_only). Its content is the
// body; ext is {"task_id","title","body","ext","type"}.
const PushMessageType = "push"

// campaignLoop expands campaigns one at a time: first those a dead worker
// left pending, then new ones.
func (w *Worker) campaignLoop(ctx context.Context) error {
	stream := store.PushCampaignStream()
	for ctx.Err() == nil {
		msgs, err := bus.ClaimPending(ctx, w.rdb, stream, bus.PushGroup, w.node, w.cfg.ClaimIdle, 1)
		if err == nil && len(msgs) == 0 {
			msgs, err = bus.ReadGroup(ctx, w.rdb, stream, bus.PushGroup, w.node, 1, 2*time.Second)
		}
		if err != nil {
			if ctx.Err() == nil {
				w.log.Warn("read campaign stream", "err", err)
				sleepCtx(ctx, time.Second)
			}
			continue
		}
		for _, m := range msgs {
			if err := w.expand(ctx, m); err != nil && ctx.Err() == nil {
				// Left pending: retried by whoever claims it next.
				w.log.Warn("campaign expansion failed", "entry", m.ID, "err", err)
				sleepCtx(ctx, time.Second)
			}
		}
	}
	return nil
}

// page is one step of an expansion: users to reach (devices restricts
// each user to some devices, for push_token audiences).
type page struct {
	users   []int64
	devices map[int64][]int32
	next    string
	done    bool
}

// expand walks a campaign's audience page by page from its stored cursor,
// so that a campaign a killed worker was expanding resumes where its last
// page was committed (that page may be emitted twice: its jobs are
// deduplicated per device when sent).
func (w *Worker) expand(ctx context.Context, m redis.XMessage) error {
	stream := store.PushCampaignStream()
	app, _ := m.Values["app"].(string)
	taskS, _ := m.Values["task"].(string)
	task, _ := strconv.ParseInt(taskS, 10, 64)
	ackIt := func() error {
		return w.rdb.XAck(ctx, stream, bus.PushGroup, m.ID).Err()
	}
	t, err := w.st.PushTask(ctx, app, task)
	if errors.Is(err, store.ErrNotFound) || app == "" {
		return ackIt()
	}
	if err != nil {
		return err
	}
	if t.State == store.TaskExpanded {
		return ackIt()
	}
	c, err := w.campaign(ctx, app, task)
	if err != nil {
		return err
	}
	cursor := t.Cursor
	for {
		pg, err := w.nextPage(ctx, app, &c.Audience, cursor)
		if err != nil {
			return err
		}
		if err := w.emit(ctx, app, task, c, pg); err != nil {
			return err
		}
		cursor = pg.next
		if pg.done {
			break
		}
		// Still alive: keep the entry from being claimed by another worker.
		if err := w.rdb.XClaimJustID(ctx, &redis.XClaimArgs{Stream: stream, Group: bus.PushGroup, Consumer: w.node, MinIdle: 0, Messages: []string{m.ID}}).Err(); err != nil {
			return fmt.Errorf("refresh campaign claim: %w", err)
		}
		if ctx.Err() != nil {
			return nil
		}
	}
	if err := ackIt(); err != nil {
		return err
	}
	return w.rdb.XDel(ctx, stream, m.ID).Err()
}

// nextPage reads the audience page after cursor.
func (w *Worker) nextPage(ctx context.Context, app string, a *Audience, cursor string) (page, error) {
	size := w.cfg.CampaignPage
	idx, sub := 0, uint64(0)
	if cursor != "" {
		i, s, _ := strings.Cut(cursor, ":")
		idx, _ = strconv.Atoi(i)
		sub, _ = strconv.ParseUint(s, 10, 64)
	}
	pos := func(i int, s uint64) string { return strconv.Itoa(i) + ":" + strconv.FormatUint(s, 10) }
	switch {
	case a.All:
		vals, next, err := w.rdb.ZScan(ctx, store.AppUsersKey(app), sub, "", int64(size)).Result()
		if err != nil {
			return page{}, fmt.Errorf("scan app users: %w", err)
		}
		var users []int64
		for i := 0; i < len(vals); i += 2 {
			if u, err := strconv.ParseInt(vals[i], 10, 64); err == nil {
				users = append(users, u)
			}
		}
		return page{users: users, next: pos(0, next), done: next == 0}, nil
	case len(a.Tags) > 0:
		if idx >= len(a.Tags) {
			return page{next: cursor, done: true}, nil
		}
		vals, next, err := w.rdb.SScan(ctx, store.TagKey(app, a.Tags[idx]), sub, "", int64(size)).Result()
		if err != nil {
			return page{}, fmt.Errorf("scan tag: %w", err)
		}
		pg := page{users: parseIDs(vals)}
		if next == 0 {
			idx++
		}
		pg.next, pg.done = pos(idx, next), next == 0 && idx >= len(a.Tags)
		return pg, nil
	case len(a.Aliases) > 0:
		if idx >= len(a.Aliases) {
			return page{next: cursor, done: true}, nil
		}
		users, err := w.st.AliasUsers(ctx, app, a.Aliases[idx])
		if err != nil {
			return page{}, err
		}
		// The index is a hint: only users whose alias field still says so.
		pipe := w.rdb.Pipeline()
		cmds := make([]*redis.StringCmd, len(users))
		for i, u := range users {
			cmds[i] = pipe.HGet(ctx, store.UserKey(app, u), "alias")
		}
		if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
			return page{}, fmt.Errorf("check aliases: %w", err)
		}
		pg := page{}
		for i, u := range users {
			if cmds[i].Val() == a.Aliases[idx] {
				pg.users = append(pg.users, u)
			}
		}
		idx++
		pg.next, pg.done = pos(idx, 0), idx >= len(a.Aliases)
		return pg, nil
	case len(a.Users) > 0:
		end := min(idx+size, len(a.Users))
		return page{users: a.Users[idx:end], next: pos(end, 0), done: end >= len(a.Users)}, nil
	case len(a.PushToken) > 0:
		end := min(idx+size, len(a.PushToken))
		pg := page{devices: map[int64][]int32{}, next: pos(end, 0), done: end >= len(a.PushToken)}
		for _, tok := range a.PushToken[idx:end] {
			uid, dev, err := w.st.PushTokenOwner(ctx, app, tok)
			if errors.Is(err, store.ErrNotFound) {
				continue
			}
			if err != nil {
				return page{}, err
			}
			if _, ok := pg.devices[uid]; !ok {
				pg.users = append(pg.users, uid)
			}
			pg.devices[uid] = append(pg.devices[uid], dev)
		}
		return pg, nil
	}
	return page{done: true}, nil
}

func parseIDs(ss []string) []int64 {
	out := make([]int64, 0, len(ss))
	for _, s := range ss {
		if id, err := strconv.ParseInt(s, 10, 64); err == nil {
			out = append(out, id)
		}
	}
	return out
}

// emit turns one page into push jobs and socket deliveries and commits the
// cursor with the page's target counts, in one pipeline.
func (w *Worker) emit(ctx context.Context, app string, task int64, c *Campaign, pg page) error {
	now := w.now()
	state := store.TaskExpanding
	if pg.done {
		state = store.TaskExpanded
	}
	incr := map[string]int64{}
	pipe := w.rdb.Pipeline()
	if len(pg.users) > 0 {
		recips, err := w.st.LookupRecipients(ctx, app, pg.users, now)
		if err != nil {
			return err
		}
		strategy := c.Setting.DistributionStrategy
		byNode := map[string][]int64{}
		devices := 0
		for _, rc := range recips {
			only := pg.devices[rc.User]
			lead := true
			live := map[string]bool{}
			for _, d := range rc.Devices {
				if only != nil && !containsDev(only, d.SN) {
					continue
				}
				rt := routeOf(rc.Routes, d.SN)
				switch {
				case rt != nil && strategy == MxpushOnly, rt != nil && !rt.BG && strategy == Combined:
					incr["mxpush_target"]++
					if !live[rt.Node] {
						live[rt.Node] = true
						byNode[rt.Node] = append(byNode[rt.Node], rc.User)
					}
					devices++
				case strategy == MxpushOnly || d.PushToken == "":
				default:
					cert := w.certOf(&bus.PushJob{PushDevice: bus.PushDevice{App: app, Notifier: d.Notifier, Platform: d.Platform, PushToken: d.PushToken}})
					if cert == nil {
						// The app has no certificate for the device.
						continue
					}
					incr[pushcert.Channel(cert.provider)+"_target"]++
					job := bus.PushJob{
						PushDevice: bus.PushDevice{App: app, User: rc.User, Device: d.SN, Platform: d.Platform, PushToken: d.PushToken,
							Notifier: d.Notifier, TokenAt: d.TokenAt, Lead: lead},
						PushMessage: bus.PushMessage{Type: c.Message.Type, TS: now.UnixMilli()},
						Task:        task,
					}
					lead = false
					v, err := json.Marshal(&job)
					if err != nil {
						return fmt.Errorf("encode campaign job: %w", err)
					}
					q := bus.PushPartition(app, rc.User, w.parts)
					pipe.XAdd(ctx, &redis.XAddArgs{Stream: bus.PushStream(q), MaxLen: w.cfg.StreamMaxLen, Approx: true, Values: []any{bus.Field, v}})
					devices++
				}
			}
		}
		if devices > 0 {
			if err := w.wait(ctx, app, devices); err != nil {
				return err
			}
		}
		if len(byNode) > 0 {
			msg, err := socketMessage(c, task, now)
			if err != nil {
				return err
			}
			for node, users := range byNode {
				v, err := bus.Encode(bus.Batch{Items: []bus.Delivery{{Kind: bus.KindMsg, App: app, Users: users, Msg: msg}}})
				if err != nil {
					return err
				}
				pipe.XAdd(ctx, &redis.XAddArgs{Stream: bus.DeliveryStream(node), Values: v})
				pipe.PExpire(ctx, bus.DeliveryStream(node), deliveryTTL)
			}
			// A delivery written to the live gateway's stream is as far as
			// the socket channel can be followed: sent and received.
			incr["mxpush_sent"] = incr["mxpush_target"]
			incr["mxpush_received"] = incr["mxpush_target"]
		}
		for _, ch := range store.PushChannels {
			if n := incr[ch+"_target"]; n > 0 {
				w.m.campaignDevs.WithLabelValues(ch).Add(float64(n))
			}
		}
	}
	w.st.QueueTaskProgress(ctx, pipe, app, task, state, pg.next, incr)
	if _, err := pipe.Exec(ctx); err != nil {
		return fmt.Errorf("emit campaign page: %w", err)
	}
	return nil
}

// wait applies the app's campaign rate, in chunks the limiter can grant.
func (w *Worker) wait(ctx context.Context, app string, n int) error {
	l := w.limiter(app)
	for n > 0 {
		k := min(n, l.Burst())
		if err := l.WaitN(ctx, k); err != nil {
			return fmt.Errorf("campaign rate: %w", err)
		}
		n -= k
	}
	return nil
}

func containsDev(ds []int32, d int32) bool {
	for _, x := range ds {
		if x == d {
			return true
		}
	}
	return false
}

func routeOf(rs []store.Route, dev int32) *store.Route {
	for i := range rs {
		if rs[i].Device == dev {
			return &rs[i]
		}
	}
	return nil
}

// socketMessage is the message live devices get for a campaign: a system
// message (from 0) in the conversation "push:<task>" whose id is the task
// id, so a device that gets it twice drops the copy.
func socketMessage(c *Campaign, task int64, now time.Time) (json.RawMessage, error) {
	ext := map[string]any{"task_id": strconv.FormatInt(task, 10), "title": c.Message.Title, "body": c.Message.Body, "type": c.Message.Type}
	if len(c.Message.Ext) > 0 {
		ext["ext"] = c.Message.Ext
	}
	if c.Message.AttachmentURL != "" {
		ext["attachment_url"] = c.Message.AttachmentURL
	}
	e, err := json.Marshal(ext)
	if err != nil {
		return nil, fmt.Errorf("encode campaign message: %w", err)
	}
	b, err := json.Marshal(protocol.Message{ID: protocol.ID(task), Conv: "push:" + strconv.FormatInt(task, 10),
		Type: PushMessageType, Content: c.Message.Body, Ext: string(e), TS: now.UnixMilli()})
	if err != nil {
		return nil, fmt.Errorf("encode campaign message: %w", err)
	}
	return b, nil
}
