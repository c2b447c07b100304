package router

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/chatgate/chatgate/internal/bus"
	"github.com/chatgate/chatgate/internal/ids"
	"github.com/chatgate/chatgate/protocol"
	"github.com/chatgate/chatgate/store"
)

// A batch costs three pipelined round trips (one more when it holds group
// sends, whose members must be known before their routes can be read):
//
//	read:  SET NX GET of each send's idempotency key with a fresh id,
//	       SMEMBERS of each group, routes+devices of 1:1 peers and senders;
//	       then routes+devices of group members.
//	write: in entry order, body + history + inboxes and push jobs, then
//	       the live routes of every user given an inbox entry; then one
//	       XADD per gateway node of everything the batch has for it
//	       (messages, acks, errors), idempotency done, XACK+XDEL of the
//	       batch, and a non-blocking read of the next entries.
//
// Live deliveries go to the routes read in the write round, after the
// inbox writes, not to those of the read round: a device that connects
// between the rounds registers its route and then syncs its inbox, and
// the inbox write may land after that sync. Each user's routes are read
// once per batch, queued after every inbox write of the batch, and the
// routes key shares the inbox key's hash tag, so on one Redis and on a
// Redis Cluster the read runs after the writes on the same connection.
// A route registered before that read gets the live delivery; one
// registered after it was registered after the inbox write, so the
// device's sync, which follows its registration, finds the message.
// Push jobs stay decided by the read round's routes (they are written
// with the durable phase): a device that came online in between may get
// both a push and the live message, with the same id.
//
// No ack or delivery reaches Redis before the writes that make its message
// durable. When a round fails the whole batch is retried under the same ids
// (kept in memory, and in the idempotency keys), so a retry can at worst
// deliver a message twice with the same id.

// Bounds on what one pipeline or one delivery entry holds, so that a huge
// group does not build one giant request in memory.
const (
	lookupChunk     = 1000    // users per lookup pipeline
	writeChunkCmds  = 8192    // commands per write pipeline
	writeChunkBytes = 8 << 20 // payload bytes per write pipeline
	batchMaxItems   = 1024    // items per delivery stream entry
	batchMaxBytes   = 1 << 20 // payload bytes per delivery stream entry, unless one item is larger
	// maxNoticeTo bounds a notice's extra recipients (a destroyed group's
	// former members); the REST API splits larger sets.
	maxNoticeTo = 20000
	// deliveryStreamTTL lets the delivery stream of a dead gateway vanish.
	deliveryStreamTTL = 10 * time.Minute
)

// errLeaseStale aborts a batch whose lease may no longer be ours.
var errLeaseStale = errors.New("router: partition lease not renewed in time")

type outcome uint8

const (
	outRoute     outcome = iota // store and fan out
	outDuplicate                // routed before: answer the sender, deliver nothing
	outReject                   // refused: err item to the sender
	outPoison                   // unusable entry: ack it and move on
)

type entry struct {
	xid    string
	send   bus.Send
	poison bool
	// id is the server id. It is assigned once per entry and kept across
	// retries, so that a send without a cmid keeps its id too.
	id     int64
	idem   *redis.StatusCmd
	out    outcome
	code   protocol.Code
	reason string
	// blocked reads whether the recipient of a one-to-one message
	// blacklisted its sender.
	blocked *redis.BoolCmd
	// ref reads the body of the message a recall or read receipt names,
	// target is that message, mark the reader's read mark before.
	ref    *redis.StringCmd
	target *protocol.Message
	mark   *redis.StringCmd
	prev   int64
	// standing reads the sender's ban and blacklist entry in the group
	// of a group message.
	standing *store.GroupSenderCmd
	// body is the message or event the write round stores for this entry
	// and recips the users it reaches besides the sender; the announce
	// phase delivers it live. Nil body: nothing to deliver.
	body   []byte
	recips []int64
}

type userKey struct {
	app string
	uid int64
}

type groupKey struct {
	app string
	gid int64
}

// markKey names one user's read mark of one conversation.
type markKey struct {
	app  string
	uid  int64
	conv string
}

type idemKey struct {
	app  string
	uid  int64
	dev  int32
	cmid string
}

type recipient struct {
	cmd *store.RecipientCmd
	store.Recipient
}

// liveRoutes are the routes of one user read after its inbox writes.
type liveRoutes struct {
	cmd    *store.RoutesCmd
	routes []store.Route
}

type groupRef struct {
	cmd      *store.MembersCmd
	members  []int64
	resolved bool
	// rules are the managed group's rules (rules.Managed false for a
	// group built from a member set only).
	rulesCmd *store.GroupRulesCmd
	rules    store.GroupRules
	// listeners are the members a message reaches: members but those
	// whose msg_mute_mode is 2 (they receive nothing from the group).
	listeners []int64
}

type nodeBatch struct {
	items []bus.Delivery
	sizes []int // estimated encoded size of each item
}

// nodeUsers is one gateway node's share of one message's recipients.
type nodeUsers struct {
	node  string
	users []int64
}

// batcher routes the batches of one partition. Only the partition's worker
// goroutine uses it; its maps and slices are reused from batch to batch.
type batcher struct {
	r      *Router
	pt     *partition
	stream string
	log    *slog.Logger

	entries []entry
	users   map[userKey]*recipient
	groups  map[groupKey]*groupRef
	seen    map[idemKey]int
	// marks are the read marks this attempt set, so that a later entry of
	// the batch compares with them rather than with what the read round saw.
	marks map[markKey]int64
	// live holds, for each user given an inbox entry, the routes read
	// after its inbox writes: the live deliveries go there.
	live   map[userKey]*liveRoutes
	nodes  map[string]*nodeBatch
	order  []string // nodes in the order of their first item
	ackIDs []string
	fan    []nodeUsers

	pipe   redis.Pipeliner
	queued int // payload bytes in pipe
	n      counts
	// high is the highest id this worker routed, for highKey at hand-off.
	high int64
	// readAhead asks the write round to read the next entries too; ahead
	// holds what it read, in stream order, for the worker's next batches.
	readAhead bool
	ahead     []redis.XMessage
}

// counts are one attempt's metrics, published only when it commits.
type counts struct {
	routed, duplicate, rejected, poison int
	deliveries, pushJobs                int
	pushSkipped                         int
}

func newBatcher(r *Router, pt *partition, stream string, log *slog.Logger) *batcher {
	return &batcher{
		r: r, pt: pt, stream: stream, log: log,
		users:  make(map[userKey]*recipient),
		groups: make(map[groupKey]*groupRef),
		seen:   make(map[idemKey]int),
		marks:  make(map[markKey]int64),
		live:   make(map[userKey]*liveRoutes),
		nodes:  make(map[string]*nodeBatch),
	}
}

// run routes one batch, retrying with backoff while the lease is valid. It
// reports false when the worker must stop: the lease went stale, or a stop
// was requested while the batch kept failing. Either way the entries stay
// pending in the group for whoever owns the partition next.
func (b *batcher) run(ctx context.Context, msgs []redis.XMessage) bool {
	start := time.Now()
	b.decode(msgs)
	// A stop request lets the batch finish: its Redis work is never cut
	// off in the middle on purpose.
	bctx := context.WithoutCancel(ctx)
	var bo backoff
	for attempt := 1; ; attempt++ {
		if !b.pt.valid(b.r) {
			b.log.Warn("lease not renewed in time; leaving the batch pending", "entries", len(msgs))
			return false
		}
		err := b.route(bctx)
		if err == nil {
			b.commit(start)
			return true
		}
		if errors.Is(err, errLeaseStale) {
			b.log.Warn("lease not renewed in time; leaving the batch pending", "entries", len(msgs))
			return false
		}
		b.log.Warn("batch failed; retrying", "attempt", attempt, "entries", len(msgs), "err", err)
		if ctx.Err() != nil || !sleepCtx(ctx, bo.next()) {
			return false
		}
	}
}

func (b *batcher) decode(msgs []redis.XMessage) {
	b.entries = slices.Grow(b.entries[:0], len(msgs))
	for _, m := range msgs {
		b.entries = append(b.entries, entry{xid: m.ID})
		e := &b.entries[len(b.entries)-1]
		if err := bus.Decode(m, &e.send); err != nil {
			b.log.Warn("undecodable ingress entry; dropping it", "id", m.ID, "err", err)
			e.poison, e.send = true, bus.Send{}
			continue
		}
		if reason := checkSend(&e.send); reason != "" {
			b.log.Warn("invalid ingress entry; dropping it", "id", m.ID, "reason", reason)
			e.poison, e.code, e.reason = true, protocol.CodeBadValue, reason
		}
	}
}

// checkSend catches entries no gateway should have written; routing them
// could write keys of an app that does not exist.
func checkSend(s *bus.Send) string {
	notice := s.Kind == bus.SendNotice
	switch {
	case !protocol.ValidAppID(s.App):
		return "bad app id"
	case s.Kind != "" && s.Kind != bus.SendRecall && s.Kind != bus.SendRead && !notice:
		return "unknown kind"
	case s.From < 0 || (s.From == 0 && (!s.Admin || (s.Kind != "" && !notice))):
		// Only the REST API's admin sends come from the system sender 0.
		return "bad sender"
	case notice && s.From != 0:
		return "notices come from the system sender"
	case notice && (s.Notice == nil || !protocol.ValidNoticeKind(s.Notice.Kind)):
		return "a notice needs a kind of 1 to 64 characters a-z, 0-9 and _"
	case notice && len(s.To) > maxNoticeTo:
		return "too many notice recipients"
	case !notice && len(s.To) > 0:
		return "only notices have extra recipients"
	case s.Mentions != nil && (s.ToGroup == 0 || s.Kind != ""):
		return "only group messages mention users"
	case s.Mentions != nil && s.Mentions.Check() != "":
		return s.Mentions.Check()
	case s.ToUser < 0 || s.ToGroup < 0 || (s.ToUser != 0 && s.ToGroup != 0):
		return "exactly one positive recipient (to_user or to_group) is required"
	case (s.Kind == "" || notice) && s.ToUser == 0 && s.ToGroup == 0:
		// Recalls and read receipts may name the system conversation
		// u:0:<from> (neither).
		return "exactly one positive recipient (to_user or to_group) is required"
	case s.Kind != "" && !notice && s.Ref <= 0:
		return "a recall or read receipt names no message"
	}
	return ""
}

func (b *batcher) reset() {
	clear(b.users)
	clear(b.groups)
	clear(b.seen)
	clear(b.marks)
	clear(b.live)
	clear(b.nodes)
	b.order = b.order[:0]
	b.ackIDs = b.ackIDs[:0]
	b.n = counts{}
}

// route is one attempt at the batch.
func (b *batcher) route(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, b.r.cfg.LeaseTTL)
	defer cancel()
	b.reset()
	if err := b.readRound(ctx); err != nil {
		return fmt.Errorf("read round: %w", err)
	}
	if b.r.afterRead != nil {
		b.r.afterRead()
	}
	if err := b.writeRound(ctx); err != nil {
		return fmt.Errorf("write round: %w", err)
	}
	return nil
}

func (b *batcher) queueUser(ctx context.Context, pipe redis.Pipeliner, app string, uid int64) bool {
	k := userKey{app, uid}
	if _, ok := b.users[k]; ok {
		return false
	}
	b.users[k] = &recipient{cmd: b.r.st.QueueLookupRecipient(ctx, pipe, app, uid)}
	return true
}

// queueUsers queues the lookups of users on *pipe, executing it and
// starting another whenever it holds lookupChunk users.
func (b *batcher) queueUsers(ctx context.Context, pipe *redis.Pipeliner, app string, users []int64) error {
	for _, u := range users {
		if b.queueUser(ctx, *pipe, app, u) && (*pipe).Len() >= 2*lookupChunk {
			if err := execPipe(ctx, *pipe); err != nil {
				return err
			}
			*pipe = b.r.rdb.Pipeline()
		}
	}
	return nil
}

func (b *batcher) readRound(ctx context.Context) error {
	r := b.r
	pipe := r.rdb.Pipeline()
	for i := range b.entries {
		e := &b.entries[i]
		e.idem = nil
		if e.poison {
			continue
		}
		s := &e.send
		if e.id == 0 {
			e.id = r.ids.Next()
		}
		if s.CMID != "" {
			e.idem = r.st.QueueReserveIdem(ctx, pipe, s.App, s.From, s.FromDev, s.CMID, e.id)
		}
		e.blocked, e.ref, e.mark, e.target, e.standing = nil, nil, nil, nil, nil
		if s.Kind == bus.SendRecall || s.Kind == bus.SendRead {
			conv := protocol.ConvID(s.From, s.ToUser, s.ToGroup)
			e.ref = r.st.QueueGetBody(ctx, pipe, s.App, conv, s.Ref)
			if s.Kind == bus.SendRead {
				e.mark = r.st.QueueGetReadMark(ctx, pipe, s.App, s.From, conv)
			}
		}
		switch {
		case s.ToGroup != 0:
			k := groupKey{s.App, s.ToGroup}
			g := b.groups[k]
			if g == nil {
				g = &groupRef{rulesCmd: r.st.QueueGroupRules(ctx, pipe, s.App, s.ToGroup)}
				b.groups[k] = g
			}
			// A read receipt in a group reaches the reader and the author
			// only (queued once the author is known): no member list.
			if g.cmd == nil && s.Kind != bus.SendRead {
				g.cmd = r.st.QueueGroupMembers(ctx, pipe, s.App, s.ToGroup)
			}
			if s.Kind == "" && !s.Admin && s.Node != "" && s.From != 0 {
				e.standing = r.st.QueueGroupSender(ctx, pipe, s.App, s.ToGroup, s.From)
			}
		case s.ToUser != 0:
			b.queueUser(ctx, pipe, s.App, s.ToUser)
			if s.Kind == "" && s.From != 0 && s.ToUser != s.From {
				e.blocked = r.st.QueueIsBlocked(ctx, pipe, s.App, s.ToUser, s.From)
			}
		}
		if s.From != 0 {
			b.queueUser(ctx, pipe, s.App, s.From)
		}
	}
	if err := execPipe(ctx, pipe); err != nil {
		return err
	}

	// Outcomes, then the routes of the members of groups being sent to.
	pipe = r.rdb.Pipeline()
	now := r.now()
	for i := range b.entries {
		e := &b.entries[i]
		if e.poison {
			e.out = outPoison
			continue
		}
		s := &e.send
		e.out = outRoute
		if e.idem != nil {
			state, id, err := store.IdemResult(e.idem, e.id)
			if err != nil {
				return err
			}
			e.id = id
			if state == store.IdemDone {
				e.out = outDuplicate
				continue
			}
			// The same client message twice in one batch (a quick resend):
			// the second reserved nothing new; route the message once.
			k := idemKey{s.App, s.From, s.FromDev, s.CMID}
			if j, ok := b.seen[k]; ok && b.entries[j].out == outRoute {
				e.out, e.id = outDuplicate, b.entries[j].id
				continue
			}
			b.seen[k] = i
		}
		if s.ToGroup != 0 {
			if err := b.checkGroup(e, now); err != nil {
				return err
			}
			if e.out != outRoute {
				continue
			}
		}
		if s.Kind == bus.SendRecall || s.Kind == bus.SendRead {
			if err := b.resolveRef(e); err != nil {
				return err
			}
			if e.out != outRoute {
				continue
			}
			if s.Kind == bus.SendRead {
				if a := e.target.From; s.ToGroup != 0 && a > 0 && a != s.From {
					b.queueUser(ctx, pipe, s.App, a)
				}
				continue
			}
		}
		if s.Kind == bus.SendNotice {
			// Notices are the system's: no membership or blacklist check.
			// Their extra recipients' routes are read with the members'.
			if err := b.queueUsers(ctx, &pipe, s.App, s.To); err != nil {
				return err
			}
		}
		if s.ToGroup == 0 {
			if e.blocked != nil {
				blocked, err := e.blocked.Result()
				if err != nil {
					return fmt.Errorf("blacklist of %d: %w", s.ToUser, err)
				}
				if blocked {
					e.out, e.code = outReject, protocol.CodeBlocked
					e.reason = "user " + strconv.FormatInt(s.ToUser, 10) + " blacklisted the sender"
				}
			}
			continue
		}
		g := b.groups[groupKey{s.App, s.ToGroup}]
		if err := b.queueUsers(ctx, &pipe, s.App, g.members); err != nil {
			return err
		}
	}
	if pipe.Len() > 0 {
		if err := execPipe(ctx, pipe); err != nil {
			return err
		}
	}
	for _, rc := range b.users {
		rec, err := rc.cmd.Recipient(now)
		if err != nil {
			return err
		}
		rc.Recipient = rec
	}
	return nil
}

// writeRound writes the batch in two phases: first what makes the messages
// durable (bodies, history, inboxes) and the push jobs, with the routes of
// the users given inbox entries read last, then what tells anyone they
// exist (delivery entries, acks, idempotency done) and the XACK.
// The durable phase is executed before the second is sent, even on one
// Redis where a pipeline runs in order: a Redis at maxmemory refuses the
// writes of the first phase but still accepts XACK, and an entry must never
// be acknowledged whose message is not stored. A Redis Cluster client also
// runs the parts of one pipeline on their nodes concurrently, so one
// pipeline could not order the phases there anyway. The price is one more
// round trip per batch, not per message.
func (b *batcher) writeRound(ctx context.Context) error {
	b.pipe, b.queued = b.r.rdb.Pipeline(), 0
	for i := range b.entries {
		e := &b.entries[i]
		s := &e.send
		b.ackIDs = append(b.ackIDs, e.xid)
		e.body, e.recips = nil, nil
		switch e.out {
		case outPoison:
			b.n.poison++
		case outDuplicate:
			b.n.duplicate++
		case outReject:
			b.n.rejected++
			if s.CMID != "" {
				b.r.st.QueueForgetIdem(ctx, b.pipe, s.App, s.From, s.FromDev, s.CMID)
			}
		case outRoute:
			b.n.routed++
			var err error
			switch s.Kind {
			case bus.SendRecall:
				err = b.routeRecall(ctx, e)
			case bus.SendRead:
				err = b.routeRead(ctx, e)
			case bus.SendNotice:
				err = b.routeNotice(ctx, e)
			default:
				err = b.routeMessage(ctx, e)
			}
			if err != nil {
				return err
			}
		}
		if err := b.maybeFlush(ctx); err != nil {
			return err
		}
	}
	// After every inbox write of the batch (queued before, or executed in
	// an earlier chunk): see the top of this file.
	for k, lr := range b.live {
		lr.cmd = b.r.st.QueueRoutes(ctx, b.pipe, k.app, k.uid)
		if err := b.maybeFlush(ctx); err != nil {
			return err
		}
	}
	if err := b.flush(ctx); err != nil {
		return err
	}

	if err := b.announce(); err != nil {
		return err
	}
	for _, node := range b.order {
		if err := b.queueNode(ctx, node); err != nil {
			return err
		}
	}
	// Done only after the deliveries: a retry of a batch whose connection
	// dropped half-way must not take a message as finished whose live
	// deliveries were never written.
	high := b.high
	for i := range b.entries {
		e := &b.entries[i]
		if e.out != outRoute {
			continue
		}
		high = max(high, e.id)
		if s := &e.send; s.CMID != "" {
			b.r.st.QueueIdemDone(ctx, b.pipe, s.App, s.From, s.FromDev, s.CMID, e.id)
		}
	}
	bus.QueueAck(ctx, b.pipe, b.stream, bus.RouterGroup, b.ackIDs...)
	// Read the next batch in the same round trip. Under load this saves
	// the worker a round trip per batch; when the stream is idle it costs
	// one command, and the worker goes on to a blocking read.
	var ahead *redis.XStreamSliceCmd
	if b.readAhead {
		ahead = b.pipe.XReadGroup(ctx, &redis.XReadGroupArgs{
			Group: bus.RouterGroup, Consumer: b.r.node, Streams: []string{b.stream, ">"},
			Count: int64(b.r.cfg.Batch), Block: -1,
		})
	}
	err := b.flush(ctx)
	// Even when the batch failed, entries the read delivered are now
	// pending for this consumer: keep them, after anything kept before.
	if ahead != nil {
		if res, rerr := ahead.Result(); rerr == nil && len(res) > 0 {
			b.ahead = append(b.ahead, res[0].Messages...)
		}
	}
	if err != nil {
		return err
	}
	b.high = high
	return nil
}

// routeMessage queues the writes that make one message durable and its
// push jobs; the announce phase delivers it and acks the sender.
func (b *batcher) routeMessage(ctx context.Context, e *entry) error {
	r, s := b.r, &e.send
	conv := protocol.ConvID(s.From, s.ToUser, s.ToGroup)
	ts := ids.Time(e.id).UnixMilli()
	body, err := json.Marshal(&protocol.Message{
		ID: protocol.ID(e.id), Conv: conv, From: s.From, FromDev: s.FromDev,
		ToUser: s.ToUser, ToGroup: s.ToGroup, Type: s.Type, Content: s.Content,
		Ext: s.Ext, Attachment: s.Attachment, Config: s.Config, CMID: s.CMID, TS: ts,
		Mentions: s.Mentions,
	})
	if err != nil {
		return fmt.Errorf("encode message %d: %w", e.id, err)
	}
	r.st.QueueStoreMessage(ctx, b.pipe, s.App, conv, e.id, body)
	b.queued += len(body)
	if s.From != 0 {
		// Sending reads the conversation: the sender's own messages never
		// count as unread, and what came before them is read.
		r.st.QueueReadMark(ctx, b.pipe, s.App, s.From, conv, e.id)
		b.marks[markKey{s.App, s.From, conv}] = e.id
	}
	return b.spread(ctx, e, conv, ts, body, b.recipients(e), true)
}

// recipients are the users an entry reaches besides its sender: the peer
// or the group's members; for a read receipt in a group, the author of the
// message read.
func (b *batcher) recipients(e *entry) []int64 {
	s := &e.send
	switch {
	case s.Kind == bus.SendRead && s.ToGroup != 0:
		if a := e.target.From; a > 0 && a != s.From {
			return []int64{a}
		}
		return nil
	case s.Kind == bus.SendNotice && s.ToGroup != 0:
		return noticeRecipients(b.groups[groupKey{s.App, s.ToGroup}].members, s.To)
	case s.ToGroup != 0 && s.Kind == "":
		return b.groups[groupKey{s.App, s.ToGroup}].listeners
	case s.ToGroup != 0:
		return b.groups[groupKey{s.App, s.ToGroup}].members
	case s.ToUser > 0:
		return []int64{s.ToUser}
	}
	return nil
}

// spread queues what makes body (a message, or an event when push is
// false) reach recips and the sender's other devices: an inbox entry each
// (so every device syncs it), a recent-session entry for messages, and push
// jobs for messages. The announce phase delivers it live to every node
// holding one of their devices, from routes read after these writes.
func (b *batcher) spread(ctx context.Context, e *entry, conv string, ts int64, body []byte, recips []int64, push bool) error {
	r, s := b.r, &e.send
	// The system sender (0) has no inbox or devices.
	fromIsRecipient := s.From == 0
	for _, u := range recips {
		r.st.QueueInbox(ctx, b.pipe, s.App, u, conv, e.id)
		if push {
			r.st.QueueRecent(ctx, b.pipe, s.App, u, conv, e.id, ts)
		}
		b.watch(s.App, u)
		fromIsRecipient = fromIsRecipient || u == s.From
		if err := b.maybeFlush(ctx); err != nil {
			return err
		}
	}
	if !fromIsRecipient {
		r.st.QueueInbox(ctx, b.pipe, s.App, s.From, conv, e.id)
		if push {
			r.st.QueueRecent(ctx, b.pipe, s.App, s.From, conv, e.id, ts)
		}
		b.watch(s.App, s.From)
	}
	e.body, e.recips = body, recips
	if !push {
		return nil
	}
	var pj pushJob
	var g *groupRef
	if s.ToGroup != 0 {
		g = b.groups[groupKey{s.App, s.ToGroup}]
	}
	for _, u := range recips {
		if g != nil && !wantsPush(&g.rules, s, u) {
			b.n.pushSkipped++
			continue
		}
		if err := b.pushJobs(ctx, e, u, conv, ts, &pj); err != nil {
			return err
		}
	}
	if !fromIsRecipient {
		return b.pushJobs(ctx, e, s.From, conv, ts, &pj)
	}
	return nil
}

// watch notes that user u gets an inbox entry in this batch, so that the
// end of the durable phase reads its routes.
func (b *batcher) watch(app string, u int64) {
	if k := (userKey{app, u}); b.live[k] == nil {
		b.live[k] = &liveRoutes{}
	}
}

// pushJobs queues a push job for each device of user u that has a push
// token and is offline or in background, as the read round saw it. The
// sending device gets none.
func (b *batcher) pushJobs(ctx context.Context, e *entry, u int64, conv string, ts int64, pj *pushJob) error {
	s := &e.send
	rc := b.users[userKey{s.App, u}]
	if rc == nil {
		return nil
	}
	for i := range rc.Devices {
		d := &rc.Devices[i]
		if d.PushToken == "" || (u == s.From && d.SN == s.FromDev) {
			continue
		}
		if rt := routeOf(rc.Routes, d.SN); rt != nil && !rt.BG {
			continue
		}
		payload, err := pj.encode(e, conv, ts, u, d)
		if err != nil {
			return err
		}
		q := bus.PushPartition(s.App, u, b.r.cfg.PushPartitions)
		// Approximate MAXLEN: a whole-node trim now and then, nearly free.
		b.pipe.XAdd(ctx, &redis.XAddArgs{Stream: bus.PushStream(q), MaxLen: b.r.pushMaxLen, Approx: true, Values: []any{bus.Field, payload}})
		b.queued += len(payload)
		b.n.pushJobs++
		if err := b.maybeFlush(ctx); err != nil {
			return err
		}
	}
	return nil
}

// announce adds to the node entries, in entry order, each sender's answer
// and the live deliveries of each stored message or event. It runs once the
// durable phase, and with it the reads of the live routes, executed.
func (b *batcher) announce() error {
	now := b.r.now()
	for _, lr := range b.live {
		rs, err := lr.cmd.Routes(now)
		if err != nil {
			return err
		}
		lr.routes = rs
	}
	for i := range b.entries {
		e := &b.entries[i]
		switch e.out {
		case outPoison:
			if e.code != 0 {
				b.refuse(e)
			}
		case outReject:
			b.refuse(e)
		case outDuplicate:
			b.ack(e)
		case outRoute:
			if e.body != nil {
				b.deliverLive(e)
			}
			b.ack(e)
		}
	}
	return nil
}

// deliverLive adds e's body to the delivery of every node holding a live
// device of its recipients or of its sender, in background or not; the
// sending device is skipped.
func (b *batcher) deliverLive(e *entry) {
	s := &e.send
	b.fan = b.fan[:0]
	fromIsRecipient := s.From == 0
	for _, u := range e.recips {
		b.fanOut(e, u)
		fromIsRecipient = fromIsRecipient || u == s.From
	}
	if !fromIsRecipient {
		b.fanOut(e, s.From)
	}
	for i := range b.fan {
		f := &b.fan[i]
		b.deliver(f.node, bus.Delivery{
			Kind: bus.KindMsg, App: s.App, Users: slices.Clone(f.users), Msg: e.body,
			SkipUser: s.From, SkipDev: s.FromDev,
		}, len(e.body)+8*len(f.users))
	}
}

// fanOut adds user u to the delivery of every node holding one of its live
// devices, but for the sending device.
func (b *batcher) fanOut(e *entry, u int64) {
	s := &e.send
	lr := b.live[userKey{s.App, u}]
	if lr == nil {
		return
	}
	for _, rt := range lr.routes {
		if u == s.From && rt.Device == s.FromDev {
			continue
		}
		b.addFan(rt.Node, u)
	}
}

func routeOf(rs []store.Route, dev int32) *store.Route {
	for i := range rs {
		if rs[i].Device == dev {
			return &rs[i]
		}
	}
	return nil
}

func (b *batcher) addFan(node string, u int64) {
	for i := range b.fan {
		if f := &b.fan[i]; f.node == node {
			// Routes come user by user, so a repeat is always the last one.
			if n := len(f.users); n == 0 || f.users[n-1] != u {
				f.users = append(f.users, u)
			}
			return
		}
	}
	if len(b.fan) < cap(b.fan) {
		b.fan = b.fan[:len(b.fan)+1]
		f := &b.fan[len(b.fan)-1]
		f.node, f.users = node, append(f.users[:0], u)
		return
	}
	b.fan = append(b.fan, nodeUsers{node: node, users: []int64{u}})
}

// ack answers the sender's connection with the message's server id.
func (b *batcher) ack(e *entry) {
	s := &e.send
	if s.Node == "" {
		return
	}
	b.deliver(s.Node, bus.Delivery{
		Kind: bus.KindAck, App: s.App, User: s.From, Device: s.FromDev,
		Conn: s.Conn, Rid: s.Rid, CMID: s.CMID, ID: e.id, TS: ids.Time(e.id).UnixMilli(),
		Dup: e.out == outDuplicate,
	}, 128)
}

// refuse answers the sender's connection with an error; Reason carries the
// human-readable detail for the err frame's msg.
func (b *batcher) refuse(e *entry) {
	s := &e.send
	if s.Node == "" {
		return
	}
	b.deliver(s.Node, bus.Delivery{
		Kind: bus.KindErr, App: s.App, User: s.From, Device: s.FromDev,
		Conn: s.Conn, Rid: s.Rid, CMID: s.CMID, Code: int(e.code), Reason: e.reason,
	}, 128+len(e.reason))
}

// deliver appends an item to the node's delivery entry.
func (b *batcher) deliver(node string, d bus.Delivery, size int) {
	nb := b.nodes[node]
	if nb == nil {
		nb = &nodeBatch{}
		b.nodes[node] = nb
		b.order = append(b.order, node)
	}
	nb.items = append(nb.items, d)
	nb.sizes = append(nb.sizes, size)
}

// queueNode queues the XADD of a node's items: one stream entry, or a few
// when they are many or large, so that no entry is huge for the gateway.
func (b *batcher) queueNode(ctx context.Context, node string) error {
	nb := b.nodes[node]
	stream := bus.DeliveryStream(node)
	for first := 0; first < len(nb.items); {
		end, size := first, 0
		for end < len(nb.items) && end-first < batchMaxItems && (end == first || size+nb.sizes[end] <= batchMaxBytes) {
			size += nb.sizes[end]
			end++
		}
		payload, err := json.Marshal(bus.Batch{Items: nb.items[first:end]})
		if err != nil {
			return fmt.Errorf("encode delivery batch for %s: %w", node, err)
		}
		b.pipe.XAdd(ctx, &redis.XAddArgs{Stream: stream, Values: []any{bus.Field, payload}})
		b.pipe.PExpire(ctx, stream, deliveryStreamTTL)
		b.queued += len(payload)
		b.n.deliveries += end - first
		first = end
		// Every message of this batch is durable by now (queued before,
		// or executed): sending part of the deliveries early is safe.
		if err := b.maybeFlush(ctx); err != nil {
			return err
		}
	}
	return nil
}

func (b *batcher) maybeFlush(ctx context.Context) error {
	if b.pipe.Len() < writeChunkCmds && b.queued < writeChunkBytes {
		return nil
	}
	return b.flush(ctx)
}

// flush sends what is queued. It re-checks the lease first: nothing is
// written for a partition that another router may own by now.
func (b *batcher) flush(ctx context.Context) error {
	if !b.pt.valid(b.r) {
		return errLeaseStale
	}
	err := execPipe(ctx, b.pipe)
	b.pipe, b.queued = b.r.rdb.Pipeline(), 0
	return err
}

// execPipe runs a pipeline and returns the first real error of its
// commands: nil replies (SET NX GET of a new key, SET XX of an expired
// one) are answers, not failures.
func execPipe(ctx context.Context, pipe redis.Pipeliner) error {
	cmds, err := pipe.Exec(ctx)
	if err == nil {
		return nil
	}
	for _, c := range cmds {
		cerr := c.Err()
		switch {
		case cerr == nil || errors.Is(cerr, redis.Nil):
		case c.Name() == "xack" && bus.IsNoGroup(cerr):
			// The group vanished under us (and is recreated by the next
			// read); the XDEL that follows removes the entries anyway.
		case c.Name() == "xreadgroup":
			// A read-ahead: its caller looks at it; a failed read is
			// simply done again by the worker's next read.
		default:
			return fmt.Errorf("%s: %w", c.Name(), cerr)
		}
	}
	if len(cmds) == 0 && !errors.Is(err, redis.Nil) {
		return err
	}
	return nil
}

// commit publishes the metrics of a batch that went through.
func (b *batcher) commit(start time.Time) {
	m, n := b.r.m, &b.n
	m.routed.Add(float64(n.routed))
	m.duplicate.Add(float64(n.duplicate))
	m.rejected.Add(float64(n.rejected))
	m.poison.Add(float64(n.poison))
	m.deliveries.Add(float64(n.deliveries))
	m.pushJobs.Add(float64(n.pushJobs))
	m.pushSkipped.Add(float64(n.pushSkipped))
	m.batchSize.Observe(float64(len(b.entries)))
	m.batchSeconds.Observe(time.Since(start).Seconds())
	nowMS := b.r.now().UnixMilli()
	for i := range b.entries {
		if ts := b.entries[i].send.TS; ts > 0 {
			m.latency.Observe(float64(max(nowMS-ts, 0)) / 1000)
		}
	}
}
