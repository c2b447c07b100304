// Package protocol owns the chatgate client<->gateway wire protocol v1: the
// frame types, their fields, the numeric error and kick codes and the limits
// every frame is checked against. PROTOCOL.md in this directory is the
// normative spec; this package is its Go implementation, shared by the
// gateway, the bundled client and the load-test harness.
package protocol

import (
	"encoding/json"
	"strconv"
)

// Subprotocol is the WebSocket subprotocol a client must offer. The version
// is in the name so that a future v2 can be negotiated side by side.
const Subprotocol = "chatgate.v1.json"

// Frame types sent by clients.
const (
	TypeAuth  = "auth"
	TypeSend  = "send"
	TypeDAck  = "dack"
	TypeSync  = "sync"
	TypeState = "state"
	TypePing  = "ping"
)

// Frame types sent by the server.
const (
	TypeHello   = "hello"
	TypeAck     = "ack"
	TypeErr     = "err"
	TypeMsg     = "msg"
	TypeSyncRes = "sync_res"
	TypeKick    = "kick"
	TypePong    = "pong"
)

// Platforms a device may declare in its auth frame.
const (
	PlatformIOS     = 1
	PlatformAndroid = 2
	PlatformWindows = 3
	PlatformMac     = 4
	PlatformLinux   = 5
	PlatformWeb     = 6
)

// Frame is every frame of protocol v1, client or server, flattened into one
// struct: a frame is a JSON object whose "t" names its type and whose other
// members are the fields that type uses. One struct keeps decoding to a
// single pass; Validate says which fields each client type requires.
type Frame struct {
	T   string `json:"t"`
	Rid uint32 `json:"rid,omitempty"`

	// auth
	Token     string `json:"token,omitempty"`
	AppID     string `json:"app_id,omitempty"`
	DeviceSN  int32  `json:"device_sn,omitempty"`
	Platform  int    `json:"platform,omitempty"`
	PushToken string `json:"push_token,omitempty"`
	Notifier  string `json:"notifier,omitempty"`

	// send
	CMID    string `json:"cmid,omitempty"`
	From    int64  `json:"from,omitempty"`
	ToUser  int64  `json:"to_user,omitempty"`
	ToGroup int64  `json:"to_group,omitempty"`
	Type    string `json:"type,omitempty"`
	Content string `json:"content,omitempty"`
	Ext     string `json:"ext,omitempty"`
	// Attachment is the file of an image, audio, video or file message: a
	// JSON object in a string (PROTOCOL.md "Attachments").
	Attachment string `json:"attachment,omitempty"`
	// Mentions are the users a group message mentions (send to_group only).
	Mentions *Mentions `json:"mentions,omitempty"`

	// dack, sync, ack
	ID    ID  `json:"id,omitempty"`
	After ID  `json:"after,omitempty"`
	Limit int `json:"limit,omitempty"`

	// state
	BG *bool `json:"bg,omitempty"`

	// server frames
	TS      int64      `json:"ts,omitempty"`
	Code    int        `json:"code,omitempty"`
	Msg     string     `json:"msg,omitempty"`
	Reason  string     `json:"reason,omitempty"`
	Message *Message   `json:"message,omitempty"`
	Msgs    []*Message `json:"msgs,omitempty"`
	HasMore bool       `json:"has_more,omitempty"`
	Next    ID         `json:"next,omitempty"`
	Hello   *Hello     `json:"hello,omitempty"`
}

// Hello is the body of the server's hello frame.
type Hello struct {
	Session   string `json:"session"`
	Node      string `json:"node"`
	UserID    int64  `json:"user_id"`
	DeviceSN  int32  `json:"device_sn"`
	Heartbeat int    `json:"heartbeat"`
	Resume    ID     `json:"resume"`
	Limits    Limits `json:"limits"`
}

// Message is a chat message as stored, delivered and synced. Conv names the
// conversation: "u:<low>:<high>" for two users, "g:<group_id>" for a group.
type Message struct {
	ID      ID     `json:"id"`
	Conv    string `json:"conv"`
	From    int64  `json:"from,omitempty"`
	FromDev int32  `json:"from_dev,omitempty"`
	ToUser  int64  `json:"to_user,omitempty"`
	ToGroup int64  `json:"to_group,omitempty"`
	Type    string `json:"type"`
	Content string `json:"content,omitempty"`
	Ext     string `json:"ext,omitempty"`
	// Attachment (the file of an image, audio, video or file message) and
	// Config (SDK-level extension) are opaque strings, set by REST sends.
	Attachment string `json:"attachment,omitempty"`
	Config     string `json:"config,omitempty"`
	CMID       string `json:"cmid,omitempty"`
	TS         int64  `json:"ts"`
	// Ref is the message an event is about: the recalled message of a
	// recall event, the last message read of a read event.
	Ref ID `json:"ref,omitempty"`
	// Notice is the body of a notice event (type EventNotice).
	Notice *Notice `json:"notice,omitempty"`
	// Mentions are the users a group message mentions.
	Mentions *Mentions `json:"mentions,omitempty"`
}

// MaxMentions bounds the users one message mentions.
const MaxMentions = 500

// Mentions are the @mentions of a group message: every member (All) or
// some users. A mentioned member is notified even when its push mode asks
// for mentions only.
type Mentions struct {
	All   bool    `json:"all,omitempty"`
	Users []int64 `json:"users,omitempty"`
}

// Check reports what is wrong with m, or "" when it is well-formed.
func (m *Mentions) Check() string {
	if len(m.Users) > MaxMentions {
		return "at most " + strconv.Itoa(MaxMentions) + " mentioned users"
	}
	for _, u := range m.Users {
		if u <= 0 {
			return "mentioned user ids must be positive"
		}
	}
	return ""
}

// Mentioned reports whether m mentions uid.
func (m *Mentions) Mentioned(uid int64) bool {
	if m == nil {
		return false
	}
	if m.All {
		return true
	}
	for _, u := range m.Users {
		if u == uid {
			return true
		}
	}
	return false
}

// Notice is a change of a group or of a user's roster that clients learn
// about without polling: the body of a message object of type
// EventNotice. PROTOCOL.md section 7.2 lists the kinds and their fields.
type Notice struct {
	Kind string `json:"kind"`
	// Group is the group the change is about (0: none, e.g. roster kinds).
	Group int64 `json:"group,omitempty"`
	// Actor is the user who made the change; 0 the application's backend.
	Actor int64 `json:"actor,omitempty"`
	// Users are the users the change is about (joined, kicked, ...).
	Users []int64 `json:"users,omitempty"`
	// Data are the kind's own fields, all strings.
	Data map[string]string `json:"data,omitempty"`
}

// Event types: message objects the server makes about other messages.
// They carry Ref, are delivered and synced like messages, and are never
// part of conversation history.
const (
	// EventRecall: message Ref of conversation Conv was recalled by From.
	EventRecall = "recall"
	// EventRead: From read conversation Conv up to and including Ref.
	EventRead = "read"
	// EventNotice: member Notice describes a change of a group or roster.
	EventNotice = "notice"
)

// MaxNoticeKindBytes bounds a notice's kind.
const MaxNoticeKindBytes = 64

// ValidNoticeKind reports whether k is a well-formed notice kind: 1 to
// MaxNoticeKindBytes characters a-z, 0-9 and _.
func ValidNoticeKind(k string) bool {
	if k == "" || len(k) > MaxNoticeKindBytes {
		return false
	}
	for i := 0; i < len(k); i++ {
		c := k[i]
		if (c < 'a' || c > 'z') && (c < '0' || c > '9') && c != '_' {
			return false
		}
	}
	return true
}

// IsEvent reports whether the message is an event rather than a chat
// message.
func (m *Message) IsEvent() bool {
	return m.Type == EventRecall || m.Type == EventRead || m.Type == EventNotice
}

// ID is a server message id. It travels as a JSON string of decimal digits
// because ids use all 63 bits and JavaScript numbers hold only 53.
type ID int64

// MarshalJSON encodes the id as a decimal string.
func (id ID) MarshalJSON() ([]byte, error) {
	b := make([]byte, 0, 22)
	b = append(b, '"')
	b = strconv.AppendInt(b, int64(id), 10)
	return append(b, '"'), nil
}

// UnmarshalJSON accepts a decimal string (the documented form) or a bare
// number, so that hand-written clients that send numbers still work.
func (id *ID) UnmarshalJSON(b []byte) error {
	s := string(b)
	if len(s) >= 2 && s[0] == '"' && s[len(s)-1] == '"' {
		s = s[1 : len(s)-1]
	}
	if s == "" || s == "null" {
		*id = 0
		return nil
	}
	// ParseInt alone would also take "+5", "-0" and "007"; the spec says
	// canonical decimal digits, so every id has one spelling (clients
	// deduplicate by the string).
	v, err := strconv.ParseInt(s, 10, 64)
	if err != nil || v < 0 || s[0] < '0' || s[0] > '9' || (s[0] == '0' && len(s) > 1) {
		return &json.UnsupportedValueError{Str: "message id must be a non-negative decimal int64"}
	}
	*id = ID(v)
	return nil
}

// String is the decimal form of the id.
func (id ID) String() string { return strconv.FormatInt(int64(id), 10) }
