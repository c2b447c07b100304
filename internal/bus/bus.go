// Package bus owns the Redis streams that connect the roles and the format
// of their entries: ingress streams (gateway/admin -> router), per-gateway
// delivery streams (router -> gateway) and push streams (router/admin ->
// push worker), plus the consumer-group plumbing they share.
//
// Each entry carries one JSON document in the field "d".
package bus

import (
	"encoding/json"
	"fmt"
	"hash/fnv"
	"strconv"

	"github.com/redis/go-redis/v9"

	"github.com/chatgate/chatgate/protocol"
)

// Consumer groups.
const (
	RouterGroup = "routers"
	PushGroup   = "pushers"
)

// Field is the stream entry field that holds the JSON document.
const Field = "d"

// IngressStream is ingress partition p. The partition is the hash tag, so
// each partition can live on its own cluster node.
func IngressStream(p int) string { return "cg:in:{" + strconv.Itoa(p) + "}" }

// DeliveryStream is the stream a gateway node reads its deliveries from.
func DeliveryStream(node string) string { return "cg:dl:{" + node + "}" }

// PushStream is push partition p.
func PushStream(p int) string { return "cg:push:{" + strconv.Itoa(p) + "}" }

// Partition maps a conversation to one of n partitions. Every message of a
// conversation goes to the same partition, so one router at a time handles
// it, in order.
func Partition(app, conv string, n int) int {
	h := fnv.New32a()
	h.Write([]byte(app))
	h.Write([]byte{0})
	h.Write([]byte(conv))
	return int(h.Sum32() % uint32(n))
}

// Send is an ingress entry: one message a user (or an admin) sent.
type Send struct {
	App     string `json:"app"`
	From    int64  `json:"from"`
	FromDev int32  `json:"dev,omitempty"`
	// Node and Conn name the connection that sent it, so the router can
	// answer with an ack or an error; empty for REST sends.
	Node    string `json:"node,omitempty"`
	Conn    string `json:"conn,omitempty"`
	Rid     uint32 `json:"rid,omitempty"`
	CMID    string `json:"cmid"`
	ToUser  int64  `json:"to_user,omitempty"`
	ToGroup int64  `json:"to_group,omitempty"`
	Type    string `json:"type"`
	Content string `json:"content"`
	Ext     string `json:"ext,omitempty"`
	// Attachment and Config are stored with the message as they are
	// (REST sends: Lanying's attachment and config).
	Attachment string `json:"attachment,omitempty"`
	Config     string `json:"config,omitempty"`
	// TS is when the gateway received it (unix ms), for latency metrics.
	TS int64 `json:"ts"`
	// Kind is what the entry asks for: "" a message, SendRecall or
	// SendRead. Recalls and read receipts go through the partition of
	// their conversation so that they are ordered with its messages.
	Kind string `json:"kind,omitempty"`
	// Ref is the message a recall or read receipt is about.
	Ref int64 `json:"ref,omitempty"`
	// Admin marks a send of the REST API under an admin token: it may come
	// from the system sender (From 0), post to any group, and recall any
	// message. The blacklist applies to it all the same.
	Admin bool `json:"admin,omitempty"`
	// Notice is the change a SendNotice entry announces. It comes from the
	// system sender (From 0): in group ToGroup it reaches the members the
	// router reads and the users of To; to ToUser it goes in the user's
	// system conversation u:0:<ToUser>.
	Notice *protocol.Notice `json:"notice,omitempty"`
	To     []int64          `json:"to,omitempty"`
	// Mentions are the users a group message mentions.
	Mentions *protocol.Mentions `json:"mentions,omitempty"`
	// Push asks for a push notification of a notice to its recipients'
	// offline devices, with Content as its text (an invitation, a friend
	// request); other notices are delivered and synced only.
	Push bool `json:"push,omitempty"`
}

// Ingress kinds besides plain messages.
const (
	SendRecall = "recall" // recall message Ref of the conversation
	SendRead   = "read"   // From read the conversation up to Ref
	SendNotice = "notice" // announce Notice in the conversation
)

// Delivery kinds.
const (
	KindMsg  = "msg"  // deliver Msg to every local device of Users
	KindAck  = "ack"  // answer a send on connection Conn
	KindErr  = "err"  // refuse a send on connection Conn
	KindKick = "kick" // close connection Conn (or every connection of User/Device when Conn is empty)
)

// Delivery is one item of a delivery batch.
type Delivery struct {
	Kind string `json:"k"`
	App  string `json:"app"`

	// KindMsg
	Users []int64         `json:"users,omitempty"`
	Msg   json.RawMessage `json:"msg,omitempty"`
	// SkipUser/SkipDev is the device that sent the message: it gets an
	// ack, not a copy.
	SkipUser int64 `json:"skip_user,omitempty"`
	SkipDev  int32 `json:"skip_dev,omitempty"`

	// KindAck, KindErr, KindKick
	User   int64  `json:"user,omitempty"`
	Device int32  `json:"dev,omitempty"`
	Conn   string `json:"conn,omitempty"`
	Rid    uint32 `json:"rid,omitempty"`
	CMID   string `json:"cmid,omitempty"`
	ID     int64  `json:"id,omitempty"`
	TS     int64  `json:"ts,omitempty"`
	Code   int    `json:"code,omitempty"`
	Reason string `json:"reason,omitempty"`
	// Dup marks the ack of a send whose cmid was routed before: nothing
	// was delivered this time (the REST API answers 10017 for it).
	Dup bool `json:"dup,omitempty"`
}

// Batch is a delivery stream entry: everything one router batch has for one
// gateway, so that a group message costs one stream write per gateway.
type Batch struct {
	Items []Delivery `json:"i"`
}

// PushJob is a push stream entry: everything a push worker needs to notify
// one device without reading anything else. Its two halves are separate
// types so that a router encodes the message half once per message and
// splices it with each device's half (router/push.go); JSON flattens them.
type PushJob struct {
	PushDevice
	PushMessage

	// Task is the /push/notify campaign a job belongs to (0: a message).
	Task int64 `json:"task,omitempty"`
	// Badge is the badge the first attempt computed, so that retries do
	// not count the push again.
	Badge *int64 `json:"badge,omitempty"`

	Attempt   int   `json:"attempt,omitempty"`
	NotBefore int64 `json:"not_before,omitempty"`
}

// PushDevice is the device half of a push job.
type PushDevice struct {
	App       string `json:"app"`
	User      int64  `json:"user"`
	Device    int32  `json:"dev"`
	Platform  int    `json:"platform"`
	PushToken string `json:"push_token"`
	Notifier  string `json:"notifier,omitempty"`
	TokenAt   int64  `json:"token_at,omitempty"`
	// Lead marks the first job of a message for one user: only it counts
	// towards the user's badge, however many devices the user has.
	Lead bool `json:"lead,omitempty"`
}

// PushMessage is the message half of a push job.
type PushMessage struct {
	MsgID   int64  `json:"msg_id"`
	Conv    string `json:"conv"`
	From    int64  `json:"from"`
	ToGroup int64  `json:"to_group,omitempty"`
	Type    string `json:"type"`
	Content string `json:"content"`
	Ext     string `json:"ext,omitempty"`
	TS      int64  `json:"ts"`
}

// Encode marshals v into the values of an XADD.
func Encode(v any) (map[string]any, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("bus: encode %T: %w", v, err)
	}
	return map[string]any{Field: b}, nil
}

// Decode unmarshals the document of a stream entry into v.
func Decode(m redis.XMessage, v any) error {
	s, ok := m.Values[Field].(string)
	if !ok {
		return fmt.Errorf("bus: entry %s has no %q field", m.ID, Field)
	}
	if err := json.Unmarshal([]byte(s), v); err != nil {
		return fmt.Errorf("bus: decode entry %s: %w", m.ID, err)
	}
	return nil
}
