package router

import (
	"encoding/json"
	"fmt"

	"github.com/chatgate/chatgate/internal/bus"
	"github.com/chatgate/chatgate/store"
)

// pushJob encodes the bus.PushJob entries of one message. A job is the
// device's half (small) spliced with the message's half, which is encoded
// once per message: a group message to thousands of offline devices would
// otherwise escape its content thousands of times. The field names are
// bus.PushJob's halves, bus.PushDevice and bus.PushMessage.
type pushJob struct {
	msg []byte
	// led is the last user a job was encoded for: the first job of each
	// user is its lead (the one that counts towards the badge). fanOut
	// encodes one user's devices one after the other.
	led    int64
	anyLed bool
}

func (pj *pushJob) encode(e *entry, conv string, ts int64, user int64, d *store.Device) ([]byte, error) {
	s := &e.send
	if pj.msg == nil {
		m, err := json.Marshal(&bus.PushMessage{
			MsgID: e.id, Conv: conv, From: s.From, ToGroup: s.ToGroup,
			Type: s.Type, Content: s.Content, Ext: s.Ext, TS: ts,
		})
		if err != nil {
			return nil, fmt.Errorf("encode push job of %d: %w", e.id, err)
		}
		pj.msg = m
	}
	lead := !pj.anyLed || pj.led != user
	pj.led, pj.anyLed = user, true
	dev, err := json.Marshal(&bus.PushDevice{
		App: s.App, User: user, Device: d.SN, Platform: d.Platform,
		PushToken: d.PushToken, Notifier: d.Notifier, TokenAt: d.TokenAt, Lead: lead,
	})
	if err != nil {
		return nil, fmt.Errorf("encode push job of %d: %w", e.id, err)
	}
	// Both halves are non-empty objects: "{dev...}" + "{msg...}" becomes
	// "{dev...,msg...}". The pipeline keeps the result until it is sent,
	// so each job gets its own buffer.
	out := make([]byte, 0, len(dev)+len(pj.msg))
	out = append(out, dev[:len(dev)-1]...)
	out = append(out, ',')
	return append(out, pj.msg[1:]...), nil
}
