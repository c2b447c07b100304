package client

import "github.com/chatgate/chatgate/protocol"

// Events (protocol/PROTOCOL.md section 7.1) arrive among the messages of a
// Conn or Session, deduplicated and ordered like them: a recall of a
// message, or another device's or user's read receipt. These helpers tell
// them apart from chat messages.

// Recall reports whether m is a recall event, and the id of the message
// recalled: remove it from the conversation m.Conv.
func Recall(m *protocol.Message) (protocol.ID, bool) {
	if m == nil || m.Type != protocol.EventRecall {
		return 0, false
	}
	return m.Ref, true
}

// ReadReceipt reports whether m is a read event, and the id up to which
// m.From read the conversation m.Conv.
func ReadReceipt(m *protocol.Message) (protocol.ID, bool) {
	if m == nil || m.Type != protocol.EventRead {
		return 0, false
	}
	return m.Ref, true
}
