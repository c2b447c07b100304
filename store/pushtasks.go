package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/chatgate/chatgate/internal/pushcert"
)

// Push campaign (/push/notify task) keys. All of one app share the app's
// hash tag, so a task's counters, its dedupe hash and the request-id
// records are one slot.

// PushCampaignStream is the stream of campaigns waiting to be expanded by
// a push worker (entry: {"app", "task"}). It is used alone, without a tag.
func PushCampaignStream() string { return prefix + "pcamp" }

// PushTaskKey is the hash of one campaign: spec, state, cursor, counters.
func PushTaskKey(app string, task int64) string {
	return prefix + "a:" + appTag(app) + ":pt:" + strconv.FormatInt(task, 10)
}

// PushTaskSeenKey is the hash "<uid>:<dev>" -> "1" of the devices a
// campaign's push was accepted for, so a device is counted (and pushed)
// once even when its job is emitted twice.
func PushTaskSeenKey(app string, task int64) string {
	return PushTaskKey(app, task) + ":seen"
}

func pushTaskSeqKey(app string) string { return prefix + "a:" + appTag(app) + ":pt:seq" }

func pushRequestKey(app, reqID string) string {
	return prefix + "a:" + appTag(app) + ":preq:" + reqID
}

// PushCredKey is the hash lower-case certificate name -> JSON summary (no
// secrets) of an app's push certificates, for /push/certificate and for
// checking notifier names at bind time. (Before named certificates it was
// keyed by provider; every start rewrites it whole, so no old entry
// outlives the first start of this version.)
func PushCredKey(app string) string { return prefix + "a:" + appTag(app) + ":pcred" }

// Campaign states.
const (
	TaskQueued    = "queued"
	TaskExpanding = "expanding"
	TaskExpanded  = "expanded"
)

// PushChannels are the channels a task reports, in /push/task/detail's
// order: mxpush is chatgate's own sockets, flyme is Meizu, and honor
// (which Lanying does not have) is chatgate's addition.
var PushChannels = []string{"apns", "fcm", "mxpush", "huawei", "xiaomi", "oppo", "vivo", "flyme", "honor"}

// PushTask is a campaign as stored.
type PushTask struct {
	ID    int64
	App   string
	Spec  json.RawMessage
	State string
	// Cursor is the expansion's resumable position (worker-defined).
	Cursor  string
	Created int64
	// Counters: "<channel>_target|sent|received", plus "errors",
	// "dropped" (policy), "invalid" (tokens removed), "duplicates",
	// "dead" (dead-lettered).
	Counters map[string]int64
}

// CreatePushTask stores a new campaign and queues it for the workers. A
// non-empty reqID that was seen within reqTTL returns the earlier task's
// id and created=false, queuing nothing.
func (s *Store) CreatePushTask(ctx context.Context, app string, spec []byte, reqID string, ttl, reqTTL time.Duration, now time.Time) (id int64, created bool, err error) {
	id, err = s.rdb.Incr(ctx, pushTaskSeqKey(app)).Result()
	if err != nil {
		return 0, false, fmt.Errorf("store: push task id: %w", err)
	}
	if reqID != "" {
		prev, err := s.rdb.SetArgs(ctx, pushRequestKey(app, reqID), id, redis.SetArgs{Mode: "NX", Get: true, TTL: reqTTL}).Result()
		switch {
		case err == nil:
			n, perr := strconv.ParseInt(prev, 10, 64)
			if perr != nil {
				return 0, false, fmt.Errorf("store: push request %q: bad record %q", reqID, prev)
			}
			return n, false, nil
		case !errors.Is(err, redis.Nil):
			return 0, false, fmt.Errorf("store: push request id: %w", err)
		}
	}
	key := PushTaskKey(app, id)
	pipe := s.rdb.TxPipeline()
	pipe.HSet(ctx, key, "spec", string(spec), "state", TaskQueued, "created", now.UnixMilli())
	pipe.PExpire(ctx, key, ttl)
	if _, err := pipe.Exec(ctx); err != nil {
		return 0, false, fmt.Errorf("store: create push task: %w", err)
	}
	// The stream has no tag: a separate command. A crash in between leaves
	// a queued task nobody expands; its detail reports zeros.
	if err := s.rdb.XAdd(ctx, &redis.XAddArgs{Stream: PushCampaignStream(), Values: []any{"app", app, "task", id}}).Err(); err != nil {
		return 0, false, fmt.Errorf("store: queue push task: %w", err)
	}
	return id, true, nil
}

// PushTask reads a campaign; ErrNotFound when it does not exist (expired).
func (s *Store) PushTask(ctx context.Context, app string, id int64) (*PushTask, error) {
	m, err := s.rdb.HGetAll(ctx, PushTaskKey(app, id)).Result()
	if err != nil {
		return nil, fmt.Errorf("store: push task %d: %w", id, err)
	}
	if len(m) == 0 {
		return nil, ErrNotFound
	}
	return decodeTask(app, id, m), nil
}

// PushTasks reads many campaigns in one round trip; missing ones are nil.
func (s *Store) PushTasks(ctx context.Context, app string, ids []int64) ([]*PushTask, error) {
	pipe := s.rdb.Pipeline()
	cmds := make([]*redis.MapStringStringCmd, len(ids))
	for i, id := range ids {
		cmds[i] = pipe.HGetAll(ctx, PushTaskKey(app, id))
	}
	if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
		return nil, fmt.Errorf("store: push tasks: %w", err)
	}
	out := make([]*PushTask, len(ids))
	for i, c := range cmds {
		if m := c.Val(); len(m) > 0 {
			out[i] = decodeTask(app, ids[i], m)
		}
	}
	return out, nil
}

func decodeTask(app string, id int64, m map[string]string) *PushTask {
	t := &PushTask{ID: id, App: app, Spec: json.RawMessage(m["spec"]), State: m["state"], Cursor: m["cursor"], Counters: map[string]int64{}}
	t.Created, _ = strconv.ParseInt(m["created"], 10, 64)
	for k, v := range m {
		switch k {
		case "spec", "state", "cursor", "created":
			continue
		}
		if n, err := strconv.ParseInt(v, 10, 64); err == nil {
			t.Counters[k] = n
		}
	}
	return t
}

// QueueTaskProgress queues, on pipe, a campaign's new cursor and state
// together with counter increments, so a page's targets are counted
// exactly when its cursor moves.
func (s *Store) QueueTaskProgress(ctx context.Context, pipe redis.Pipeliner, app string, id int64, state, cursor string, incr map[string]int64) {
	key := PushTaskKey(app, id)
	pipe.HSet(ctx, key, "state", state, "cursor", cursor)
	s.QueueTaskCounters(ctx, pipe, app, id, incr)
}

// QueueTaskCounters queues counter increments of a campaign.
func (s *Store) QueueTaskCounters(ctx context.Context, pipe redis.Pipeliner, app string, id int64, incr map[string]int64) {
	key := PushTaskKey(app, id)
	for k, n := range incr {
		if n != 0 {
			pipe.HIncrBy(ctx, key, k, n)
		}
	}
}

// QueueTaskSeen queues the check of whether a campaign's push to a device
// was already accepted.
func (s *Store) QueueTaskSeen(ctx context.Context, pipe redis.Pipeliner, app string, id int64, uid int64, dev int32) *redis.BoolCmd {
	return pipe.HExists(ctx, PushTaskSeenKey(app, id), tokenOwner(uid, dev))
}

// QueueTaskAccepted queues the record that a campaign's push to a device
// was accepted; the reply is true the first time (a new device), false
// for a duplicate. The dedupe hash lives for ttl.
func (s *Store) QueueTaskAccepted(ctx context.Context, pipe redis.Pipeliner, app string, id int64, uid int64, dev int32, ttl time.Duration) *redis.BoolCmd {
	key := PushTaskSeenKey(app, id)
	cmd := pipe.HSetNX(ctx, key, tokenOwner(uid, dev), "1")
	pipe.PExpire(ctx, key, ttl)
	return cmd
}

// PushCredential is the public summary of one push certificate.
type PushCredential struct {
	// Name is the certificate name devices bind with (notifier_name).
	Name     string `json:"name"`
	Provider string `json:"provider"`
	// Default: the app's default certificate for its platform.
	Default    bool `json:"default,omitempty"`
	Production bool `json:"production"`
	// Key is the public identifier: APNs key id, FCM project, the
	// maker's app id or app key.
	Key string `json:"key"`
	// Label is what Lanying's certificate "name" field shows: the APNs
	// topic, the FCM project, the maker's package or app id.
	Label       string `json:"label,omitempty"`
	Certificate string `json:"certificate,omitempty"`
	// Order is the certificate's position in the configuration.
	Order int `json:"order"`
}

// PutPushCredentials replaces the summaries of an app's certificates.
func (s *Store) PutPushCredentials(ctx context.Context, app string, creds []PushCredential) error {
	pipe := s.rdb.TxPipeline()
	pipe.Del(ctx, PushCredKey(app))
	for i, c := range creds {
		c.Order = i
		b, err := json.Marshal(c)
		if err != nil {
			return fmt.Errorf("store: push credentials: %w", err)
		}
		pipe.HSet(ctx, PushCredKey(app), strings.ToLower(c.Name), string(b))
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return fmt.Errorf("store: push credentials of %s: %w", app, err)
	}
	return nil
}

// PushCredentials returns the summaries of an app's certificates in
// configuration order (none: an empty list).
func (s *Store) PushCredentials(ctx context.Context, app string) ([]PushCredential, error) {
	m, err := s.rdb.HGetAll(ctx, PushCredKey(app)).Result()
	if err != nil {
		return nil, fmt.Errorf("store: push credentials of %s: %w", app, err)
	}
	out := make([]PushCredential, 0, len(m))
	for _, v := range m {
		var c PushCredential
		if err := json.Unmarshal([]byte(v), &c); err != nil {
			return nil, fmt.Errorf("store: push credentials of %s: %w", app, err)
		}
		out = append(out, c)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Order < out[j].Order })
	return out, nil
}

// PushCerts are an app's certificates as pushcert resolves them.
func (s *Store) PushCerts(ctx context.Context, app string) ([]pushcert.Cert, error) {
	creds, err := s.PushCredentials(ctx, app)
	if err != nil {
		return nil, err
	}
	out := make([]pushcert.Cert, len(creds))
	for i, c := range creds {
		out[i] = pushcert.Cert{Name: c.Name, Provider: c.Provider, Default: c.Default}
	}
	return out, nil
}
