package admin

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/chatgate/chatgate/domain/group"
	"github.com/chatgate/chatgate/internal/bus"
	"github.com/chatgate/chatgate/internal/ids"
	"github.com/chatgate/chatgate/protocol"
	"github.com/chatgate/chatgate/store"
)

// The /message operations. Sends, notifications, recalls and read receipts
// go through the routers (sendwait.go); history, recent sessions and
// deleting a session read and write the store directly.
// docs/api/rosters-messages.md is the reference.

// Limits of /message/send beyond the protocol's content and ext limits.
const (
	maxTargets         = 500
	maxAttachmentBytes = 4 << 10
	maxConfigBytes     = 4 << 10
	maxHistoryLimit    = 100
	recentLimit        = 100
)

// contentTypes are Lanying's content_type numbers, as protocol message
// types and as the ctype names of history answers.
var contentTypes = []struct{ typ, ctype string }{
	{"text", "TEXT"}, {"image", "IMAGE"}, {"audio", "AUDIO"}, {"video", "VIDEO"},
	{"file", "FILE"}, {"location", "LOCATION"}, {"command", "COMMAND"}, {"forward", "FORWARD"},
}

func ctypeOf(typ string) string {
	for _, c := range contentTypes {
		if c.typ == typ {
			return c.ctype
		}
	}
	// "custom" (a socket-only type) is Lanying's COMMAND: a custom message.
	return "COMMAND"
}

type messageRequest struct {
	Attachment    string  `json:"attachment" doc:"Required for image (1), audio (2), video (3) and file (4): a JSON object, e.g. {\"url\":\"https://...\",\"dName\":\"a.png\",\"fLen\":1670}; at most 4 KiB."`
	Config        string  `json:"config" doc:"Extension fields used by the SDK; at most 4 KiB. For group messages, a JSON object with mentionAll (bool) and/or mentionList (user ids, at most 500) mentions users: the delivered message carries them as mentions, and members whose msg_push_mode is 2 or 4 are pushed."`
	Content       string  `json:"content" doc:"Message content; required for text (0) and location (5); at most 32 KiB."`
	ContentType   *int32  `json:"content_type" required:"true" doc:"0 TEXT, 1 IMAGE, 2 AUDIO, 3 VIDEO, 4 FILE, 5 LOCATION, 6 COMMAND, 7 FORWARD."`
	Ext           string  `json:"ext" doc:"Extension field; at most 4 KiB."`
	FromUserID    int64   `json:"from_user_id" doc:"Sender. Admin token: any user, or absent/0 for the system sender. User token: absent or the token's user."`
	Targets       []int64 `json:"targets" required:"true" doc:"1 to 500 user ids (type 1) or group ids (type 2)."`
	TransactionID int64   `json:"transaction_id" doc:"Deduplication: a repeated request with the same id (same sender, within store.idem_ttl) delivers nothing and answers 10017."`
	Type          *int32  `json:"type" required:"true" doc:"1 users, 2 groups."`
}

type recallRequest struct {
	ConversationID *int64 `json:"conversation_id" required:"true" doc:"The other user (0: the system conversation) or the group of the message."`
	MsgID          int64  `json:"msg_id" required:"true" doc:"The message to recall."`
}

type xid struct {
	UID      int64 `json:"uid"`
	DeviceSN int32 `json:"device_sn"`
}

type sessionMessage struct {
	Attachment string `json:"attachment"`
	Config     string `json:"config"`
	Content    string `json:"content"`
	CType      string `json:"ctype" doc:"TEXT, IMAGE, AUDIO, VIDEO, FILE, LOCATION, COMMAND, FORWARD"`
	Ext        string `json:"ext"`
	FromXID    xid    `json:"from_xid"`
	MsgID      int64  `json:"msg_id"`
	Status     string `json:"status" doc:"UNREAD (to the acting user, after its read mark), READ, or DELIVERED (sent by the acting user and not read yet by the peer; always for groups)"`
	Timestamp  int64  `json:"timestamp"`
	ToXID      xid    `json:"to_xid"`
}

type sessionMessages struct {
	IsLast    bool             `json:"is_last"`
	Messages  []sessionMessage `json:"messages"`
	NextMsgID int64            `json:"next_msg_id"`
}

type conversationRef struct {
	UID int64 `json:"uid" doc:"The other user (0: the system sender) or the group"`
}

type unreadItem struct {
	ConversationID conversationRef `json:"conversation_id"`
	Num            int32           `json:"num" doc:"Messages after the user's read mark"`
	Type           int32           `json:"type" doc:"chatgate: 1 user conversation, 2 group"`
	Timestamp      int64           `json:"timestamp" doc:"chatgate: time of the last message (ms)"`
}

func (s *Server) messageRoutes() []*Route {
	var w *sendWaiter
	if s.deps.Node != "" && s.st != nil {
		w = newSendWaiter(s.st.Redis(), s.deps.Node, s.log)
		s.background = append(s.background, w.run)
		s.notices = routerNotifier{s: s, w: w}
	} else {
		s.notices = group.LogNotifier{Log: s.log}
	}
	sendErrors := []int{CodeBlocked, CodeGroupNotFound, CodeNotGroupMember, CodeNeedMember, CodeNeedAdmin, CodeGroupBlacklisted,
		CodeDuplicateRequest, CodeUnavailable, CodeUserDisabled, CodeUserNotFound}
	return []*Route{
		{
			Methods: []string{"POST", "PUT"}, Path: "/message/send", Group: "message", Access: AccessToken,
			Summary: "Send a message to users or groups (through the routers: durable, delivered live, synced, pushed)",
			Body:    messageRequest{}, Errors: sendErrors,
			Handle: func(r *Req) (any, error) { return s.sendMessage(r, w, false) },
		},
		{
			Methods: []string{"POST", "PUT"}, Path: "/message/notify", Group: "message", Access: AccessAdmin,
			Summary: "Send a system notification: a message from the system sender (0) to users or groups",
			Body:    messageRequest{}, Errors: sendErrors,
			Handle: func(r *Req) (any, error) { return s.sendMessage(r, w, true) },
		},
		{
			Methods: []string{"POST", "PUT"}, Path: "/message/recall", Group: "message", Access: AccessUser,
			Summary: "Recall a message: removed from history, every device gets a recall event",
			Body:    recallRequest{}, Errors: []int{CodeMessageNotFound, CodeNotGroupMember, CodeUnavailable},
			Handle: func(r *Req) (any, error) { return s.recall(r, w) },
		},
		{
			Methods: []string{"GET"}, Path: "/message/ack", Group: "message", Access: AccessUser,
			Summary: "Read receipt: the acting user read the conversation up to msg_id; the other side's devices get a read event",
			Query: []Param{
				{Name: "conversation_id", Type: "integer", Desc: "The other user or the group of the message (checked when given)"},
				{Name: "device_sn", Type: "int32", Desc: "The reading device: it gets no read event"},
				{Name: "msg_id", Type: "integer", Required: true, Desc: "The last message read"},
			},
			Errors: []int{CodeMessageNotFound, CodeUnavailable},
			Handle: func(r *Req) (any, error) { return s.readAck(r, w) },
		},
		{
			Methods: []string{"GET"}, Path: "/message/conversation", Group: "message", Access: AccessUser,
			Summary: "Page the history of a conversation, newest first",
			Query: []Param{
				{Name: "limit", Type: "int32", Required: true, Desc: "1 to 100"},
				{Name: "msg_id_start", Type: "integer", Required: true, Desc: "Return messages older than this id; 0 for the newest"},
				{Name: "opposite_id", Type: "integer", Required: true, Desc: "A group of the acting user, else a user (0: the system conversation)"},
			},
			Result: sessionMessages{}, Errors: []int{CodeNotGroupMember},
			Handle: s.conversation,
		},
		{
			Methods: []string{"DELETE"}, Path: "/message/conversation", Group: "message", Access: AccessUser,
			Summary: "Remove a conversation from the acting user's recent sessions (messages are kept)",
			Query:   []Param{{Name: "conversation_id", Type: "integer", Required: true, Desc: "The other user or the group"}},
			Handle:  s.deleteConversation,
		},
		{
			Methods: []string{"GET"}, Path: "/message/unread", Group: "message", Access: AccessUser,
			Summary: "The acting user's 100 most recent conversations, newest first, with unread counts",
			Result:  []unreadItem{},
			Handle:  s.unread,
		},
	}
}

// sendMessage is /message/send and, with notify, /message/notify.
func (s *Server) sendMessage(r *Req, w *sendWaiter, notify bool) (any, error) {
	var req messageRequest
	if err := r.Bind(&req); err != nil {
		return nil, err
	}
	switch {
	case req.Type == nil:
		return nil, BadParam("type", "required: 1 users, 2 groups")
	case *req.Type != 1 && *req.Type != 2:
		return nil, BadParam("type", "must be 1 (users) or 2 (groups), got %d", *req.Type)
	case req.ContentType == nil:
		return nil, BadParam("content_type", "required: 0 to 7")
	case *req.ContentType < 0 || int(*req.ContentType) >= len(contentTypes):
		return nil, BadParam("content_type", "must be 0 to 7, got %d", *req.ContentType)
	case len(req.Targets) == 0:
		return nil, BadParam("targets", "required: at least one id")
	case len(req.Targets) > maxTargets:
		return nil, BadParam("targets", "at most %d ids, got %d", maxTargets, len(req.Targets))
	case req.TransactionID < 0:
		return nil, BadParam("transaction_id", "must not be negative")
	}
	if err := checkContent(&req); err != nil {
		return nil, err
	}
	mentions, err := configMentions(req.Config, *req.Type == 2)
	if err != nil {
		return nil, err
	}
	targets := make([]int64, 0, len(req.Targets))
	for _, t := range req.Targets {
		if t <= 0 {
			return nil, BadParam("targets", "ids must be positive, got %d", t)
		}
		if !slices.Contains(targets, t) {
			targets = append(targets, t)
		}
	}
	from, err := s.sender(r, req.FromUserID, notify)
	if err != nil {
		return nil, err
	}
	group := *req.Type == 2
	if err := s.checkTargets(r, targets, group); err != nil {
		return nil, err
	}
	typ := contentTypes[*req.ContentType].typ
	sends := make([]bus.Send, len(targets))
	for i, t := range targets {
		snd := bus.Send{
			From: from, Type: typ, Content: req.Content, Ext: req.Ext,
			Attachment: req.Attachment, Config: req.Config, Admin: r.Admin, Mentions: mentions,
		}
		if group {
			snd.ToGroup = t
		} else {
			snd.ToUser = t
		}
		if req.TransactionID != 0 {
			// One idempotency record per target, under the sender and the
			// REST API's device number 0, which no client can use.
			kind := "u"
			if group {
				kind = "g"
			}
			snd.CMID = "tx-" + strconv.FormatInt(req.TransactionID, 10) + "-" + kind + strconv.FormatInt(t, 10)
		}
		sends[i] = snd
	}
	if req.Attachment != "" && s.deps.Files != nil {
		// Before the send: once a message names the file, it must never
		// be removed as an orphan.
		if err := s.deps.Files.Referenced(r.Ctx, r.App.ID, protocol.AttachmentURL(req.Attachment)); err != nil {
			return nil, err
		}
	}
	answers, err := s.routeSends(r, w, sends)
	if err != nil {
		return nil, err
	}
	var refused []string
	var first *Error
	dups := 0
	for i := range answers {
		a := &answers[i]
		if a.Kind == bus.KindErr {
			e := answerError(a)
			if first == nil {
				first = e
			}
			refused = append(refused, strconv.FormatInt(targets[i], 10)+" ("+e.Msg+")")
			continue
		}
		if a.Dup {
			dups++
		}
	}
	switch {
	case first != nil && len(refused) == len(targets):
		return nil, first
	case first != nil:
		return nil, &Error{Code: first.Code, Msg: clip(fmt.Sprintf("sent to %d of %d targets; refused: %s",
			len(targets)-len(refused), len(targets), strings.Join(refused, ", ")))}
	case req.TransactionID != 0 && dups == len(targets):
		return nil, Errf(CodeDuplicateRequest, "transaction_id %d was sent before; nothing was sent again", req.TransactionID)
	}
	return true, nil
}

func checkContent(req *messageRequest) error {
	ct := *req.ContentType
	lim := protocol.DefaultLimits()
	switch {
	case req.Content == "" && (ct == 0 || ct == 5):
		return BadParam("content", "required for %s messages", contentTypes[ct].ctype)
	case len(req.Content) > lim.MaxContentBytes:
		return BadParam("content", "at most %d bytes", lim.MaxContentBytes)
	case len(req.Ext) > lim.MaxExtBytes:
		return BadParam("ext", "at most %d bytes", lim.MaxExtBytes)
	case len(req.Config) > maxConfigBytes:
		return BadParam("config", "at most %d bytes", maxConfigBytes)
	case len(req.Attachment) > maxAttachmentBytes:
		return BadParam("attachment", "at most %d bytes", maxAttachmentBytes)
	case req.Attachment == "" && ct >= 1 && ct <= 4:
		return BadParam("attachment", "required for %s messages: a JSON object with the file's url", contentTypes[ct].ctype)
	}
	if req.Attachment != "" {
		var obj map[string]json.RawMessage
		if json.Unmarshal([]byte(req.Attachment), &obj) != nil {
			return BadParam("attachment", "must be a JSON object in a string")
		}
	}
	return nil
}

// configMentions reads the @mentions of a group message from its config,
// the SDK's message config: {"mentionAll":true} or {"mentionList":[ids]}.
// A config that is not a JSON object, or names neither, mentions nobody;
// mentions in a message to users are refused.
func configMentions(config string, group bool) (*protocol.Mentions, error) {
	if config == "" || config[0] != '{' {
		return nil, nil
	}
	var c struct {
		All  *bool            `json:"mentionAll"`
		List *json.RawMessage `json:"mentionList"`
	}
	if json.Unmarshal([]byte(config), &c) != nil || (c.All == nil && c.List == nil) {
		return nil, nil
	}
	var m protocol.Mentions
	if c.All != nil {
		m.All = *c.All
	}
	if c.List != nil {
		// Ids as numbers or as decimal strings, as SDKs write them.
		var ids []protocol.ID
		if err := json.Unmarshal(*c.List, &ids); err != nil {
			return nil, BadParam("config", "mentionList must be an array of user ids")
		}
		for _, id := range ids {
			m.Users = append(m.Users, int64(id))
		}
	}
	if !m.All && len(m.Users) == 0 {
		return nil, nil
	}
	if !group {
		return nil, BadParam("config", "mentions are for group messages (type 2)")
	}
	if reason := m.Check(); reason != "" {
		return nil, BadParam("config", "mentionList: %s", reason)
	}
	return &m, nil
}

// sender works out who a send comes from.
func (s *Server) sender(r *Req, from int64, notify bool) (int64, error) {
	switch {
	case from < 0:
		return 0, BadParam("from_user_id", "must not be negative")
	case notify && from != 0:
		return 0, BadParam("from_user_id", "system notifications come from the system sender; leave it out")
	case !r.Admin && from != 0 && from != r.UserID:
		return 0, Errf(CodeNoPermission, "a user token sends only as its own user")
	case !r.Admin:
		from = r.UserID
	case from == 0:
		return 0, nil
	}
	if err := s.checkUser(r.Ctx, r.App.ID, from); err != nil {
		return 0, err
	}
	return from, nil
}

// checkTargets refuses users that do not exist and groups without members.
func (s *Server) checkTargets(r *Req, targets []int64, group bool) error {
	if !group {
		states, err := s.st.UserStates(r.Ctx, r.App.ID, targets)
		if err != nil {
			return err
		}
		for i, st := range states {
			if st == store.UserMissing {
				return Errf(CodeUserNotFound, "user %d does not exist", targets[i])
			}
		}
		return nil
	}
	for _, g := range targets {
		ok, err := s.st.GroupExists(r.Ctx, r.App.ID, g)
		if err != nil {
			return err
		}
		if !ok {
			return Errf(CodeGroupNotFound, "group %d does not exist", g)
		}
	}
	return nil
}

// messageConv finds the conversation of a message in the acting user's
// inbox (the user sent or received it) and checks it against the
// conversation id the caller named, if any: the other user (0: system) or
// the group. It returns the send that addresses that conversation.
func (s *Server) messageConv(r *Req, msgID int64, convID *int64) (bus.Send, error) {
	uid := r.UserID
	conv, ok, err := s.st.InboxConv(r.Ctx, r.App.ID, uid, msgID)
	if err != nil {
		return bus.Send{}, err
	}
	if !ok {
		return bus.Send{}, Errf(CodeMessageNotFound, "message %d is not in a conversation of user %d", msgID, uid)
	}
	snd := bus.Send{From: uid, Ref: msgID, Admin: r.Admin}
	other, group, ok := parseConv(conv, uid)
	if !ok {
		return bus.Send{}, fmt.Errorf("admin: inbox of %d holds conversation %q", uid, conv)
	}
	if convID != nil && *convID != other {
		return bus.Send{}, Errf(CodeMessageNotFound, "message %d is not in conversation %d", msgID, *convID)
	}
	if group {
		snd.ToGroup = other
	} else {
		snd.ToUser = other
	}
	return snd, nil
}

// parseConv returns the other party of conv for uid: the peer (uid itself
// for notes to self, 0 for the system sender) or the group.
func parseConv(conv string, uid int64) (other int64, group, ok bool) {
	if g, found := strings.CutPrefix(conv, "g:"); found {
		id, err := strconv.ParseInt(g, 10, 64)
		return id, true, err == nil
	}
	rest, found := strings.CutPrefix(conv, "u:")
	a, b, found2 := strings.Cut(rest, ":")
	if !found || !found2 {
		return 0, false, false
	}
	lo, err1 := strconv.ParseInt(a, 10, 64)
	hi, err2 := strconv.ParseInt(b, 10, 64)
	if err1 != nil || err2 != nil {
		return 0, false, false
	}
	if lo == uid {
		return hi, false, true
	}
	return lo, false, true
}

func (s *Server) recall(r *Req, w *sendWaiter) (any, error) {
	var req recallRequest
	if err := r.Bind(&req); err != nil {
		return nil, err
	}
	switch {
	case req.MsgID <= 0:
		return nil, BadParam("msg_id", "required: a positive message id")
	case req.ConversationID == nil:
		return nil, BadParam("conversation_id", "required")
	case *req.ConversationID < 0:
		return nil, BadParam("conversation_id", "must not be negative")
	}
	snd, err := s.messageConv(r, req.MsgID, req.ConversationID)
	if err != nil {
		return nil, err
	}
	snd.Kind = bus.SendRecall
	// Recalling the same message again as the same user is answered as
	// the first time (the router's idempotency record).
	snd.CMID = "rc-" + strconv.FormatInt(req.MsgID, 10)
	answers, err := s.routeSends(r, w, []bus.Send{snd})
	if err != nil {
		return nil, err
	}
	if answers[0].Kind == bus.KindErr {
		return nil, answerError(&answers[0])
	}
	return true, nil
}

func (s *Server) readAck(r *Req, w *sendWaiter) (any, error) {
	msgID, err := r.QueryInt64("msg_id", 0)
	if err != nil {
		return nil, err
	}
	if msgID <= 0 {
		return nil, BadParam("msg_id", "must be a positive message id")
	}
	dev, err := r.QueryInt32("device_sn", 0)
	if err != nil {
		return nil, err
	}
	if dev < 0 {
		return nil, BadParam("device_sn", "must not be negative")
	}
	var convID *int64
	if r.HTTP.QueryArgs().Has("conversation_id") {
		c, err := r.QueryInt64("conversation_id", 0)
		if err != nil {
			return nil, err
		}
		if c < 0 {
			return nil, BadParam("conversation_id", "must not be negative")
		}
		convID = &c
	}
	snd, err := s.messageConv(r, msgID, convID)
	if err != nil {
		return nil, err
	}
	snd.Kind, snd.FromDev = bus.SendRead, dev
	answers, err := s.routeSends(r, w, []bus.Send{snd})
	if err != nil {
		return nil, err
	}
	if answers[0].Kind == bus.KindErr {
		return nil, answerError(&answers[0])
	}
	return true, nil
}

// resolveConversation names the conversation of the acting user with id:
// 0 is the system conversation; a group the user belongs to; else a user;
// else (admin tokens only) a group the user is not in.
func (s *Server) resolveConversation(r *Req, id int64) (conv string, group bool, err error) {
	uid := r.UserID
	if id == 0 {
		return protocol.ConvID(uid, 0, 0), false, nil
	}
	in, err := s.st.InGroups(r.Ctx, r.App.ID, uid, []int64{id})
	if err != nil {
		return "", false, err
	}
	if in[0] {
		return store.GroupConv(id), true, nil
	}
	st, err := s.st.UserState(r.Ctx, r.App.ID, id)
	if err != nil {
		return "", false, err
	}
	if st != store.UserMissing {
		return protocol.ConvID(uid, id, 0), false, nil
	}
	exists, err := s.st.GroupExists(r.Ctx, r.App.ID, id)
	switch {
	case err != nil:
		return "", false, err
	case exists && r.Admin:
		return store.GroupConv(id), true, nil
	case exists:
		return "", false, Errf(CodeNotGroupMember, "user %d is not a member of group %d", uid, id)
	}
	return "", false, Errf(CodeUserNotFound, "no user or group %d", id)
}

func (s *Server) conversation(r *Req) (any, error) {
	limit, err := r.QueryInt32("limit", 0)
	if err != nil {
		return nil, err
	}
	if limit < 1 || limit > maxHistoryLimit {
		return nil, BadParam("limit", "must be between 1 and %d, got %d", maxHistoryLimit, limit)
	}
	start, err := r.QueryInt64("msg_id_start", 0)
	if err != nil {
		return nil, err
	}
	if start < 0 {
		return nil, BadParam("msg_id_start", "must not be negative")
	}
	opp, err := r.QueryInt64("opposite_id", 0)
	if err != nil {
		return nil, err
	}
	if opp < 0 {
		return nil, BadParam("opposite_id", "must not be negative")
	}
	conv, group, err := s.resolveConversation(r, opp)
	if err != nil {
		return nil, err
	}
	bodies, more, err := s.st.HistoryPage(r.Ctx, r.App.ID, conv, start, int(limit))
	if err != nil {
		return nil, err
	}
	if group {
		floor, err := s.historyFloor(r, opp)
		if err != nil {
			return nil, err
		}
		for i, b := range bodies {
			var m protocol.Message
			if json.Unmarshal(b, &m) == nil && int64(m.ID) < floor {
				// Newest first: everything from here on is older.
				bodies, more = bodies[:i], false
				break
			}
		}
	}
	readers := []int64{r.UserID}
	if !group {
		readers = append(readers, opp)
	}
	marks, err := s.st.ReadMarks(r.Ctx, r.App.ID, conv, readers)
	if err != nil {
		return nil, err
	}
	out := sessionMessages{IsLast: !more, Messages: make([]sessionMessage, 0, len(bodies))}
	for _, b := range bodies {
		var m protocol.Message
		if err := json.Unmarshal(b, &m); err != nil || m.IsEvent() {
			continue
		}
		id := int64(m.ID)
		sm := sessionMessage{
			Attachment: m.Attachment, Config: m.Config, Content: m.Content, CType: ctypeOf(m.Type), Ext: m.Ext,
			FromXID: xid{UID: m.From, DeviceSN: m.FromDev}, MsgID: id, Timestamp: m.TS,
			ToXID: xid{UID: m.ToUser + m.ToGroup},
		}
		switch {
		case m.From != r.UserID && id <= marks[0]:
			sm.Status = "READ"
		case m.From != r.UserID:
			sm.Status = "UNREAD"
		case !group && id <= marks[1]:
			sm.Status = "READ"
		default:
			sm.Status = "DELIVERED"
		}
		out.Messages = append(out.Messages, sm)
		out.NextMsgID = id
	}
	if len(bodies) > 0 && len(out.Messages) == 0 {
		// Every body of the page was unreadable; still let the caller go on.
		var m protocol.Message
		if json.Unmarshal(bodies[len(bodies)-1], &m) == nil {
			out.NextMsgID = int64(m.ID)
		}
	}
	return out, nil
}

// historyFloor is the lowest message id of group gid the acting user may
// read: with history_visible off, a member reads from its join on; 0
// otherwise (and for a caller that is not a member, i.e. an admin token).
func (s *Server) historyFloor(r *Req, gid int64) (int64, error) {
	g, err := s.st.GetGroup(r.Ctx, r.App.ID, gid)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return 0, nil // an unmanaged group: no setting
	case err != nil:
		return 0, err
	case g.HistoryVisible:
		return 0, nil
	}
	joined, err := s.st.MemberValues(r.Ctx, store.GroupJoinedKey(r.App.ID, gid), []int64{r.UserID})
	if err != nil {
		return 0, err
	}
	ms, err := strconv.ParseInt(joined[0], 10, 64)
	if err != nil || ms <= 0 {
		return 0, nil
	}
	return ids.FloorAt(time.UnixMilli(ms)), nil
}

func (s *Server) deleteConversation(r *Req) (any, error) {
	id, err := r.QueryInt64("conversation_id", 0)
	if err != nil {
		return nil, err
	}
	if id < 0 {
		return nil, BadParam("conversation_id", "must not be negative")
	}
	convs := []string{protocol.ConvID(r.UserID, id, 0)}
	if id > 0 {
		// Users and groups may share an id: both sessions go.
		convs = append(convs, store.GroupConv(id))
	}
	return nil, s.st.DeleteRecent(r.Ctx, r.App.ID, r.UserID, convs...)
}

func (s *Server) unread(r *Req) (any, error) {
	rec, err := s.st.RecentSessions(r.Ctx, r.App.ID, r.UserID, recentLimit)
	if err != nil {
		return nil, err
	}
	out := make([]unreadItem, 0, len(rec))
	for _, c := range rec {
		other, group, ok := parseConv(c.Conv, r.UserID)
		if !ok {
			continue
		}
		it := unreadItem{ConversationID: conversationRef{UID: other}, Num: int32(min(c.Unread, 1<<31-1)), Type: 1, Timestamp: c.TS}
		if group {
			it.Type = 2
		}
		out = append(out, it)
	}
	return out, nil
}
