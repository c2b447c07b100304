package pushworker

import (
	"encoding/json"
	"fmt"
	"strconv"

	"firebase.google.com/go/v4/messaging"
	"github.com/sideshow/apns2"

	"github.com/chatgate/chatgate/internal/pushcert"
)

// MaxPayload is the payload limit of APNs (alert pushes) and of FCM
// (notification + data), in bytes.
const MaxPayload = 4096

// genericBody replaces the content of a push to a user with no_push_detail.
const genericBody = "You have a new message"

// notification is what one device is sent, before it is encoded for its
// provider.
type notification struct {
	// Campaign is set for /push/notify tasks, nil for messages.
	Campaign *Campaign
	Task     int64
	// Message pushes: Title (the sender's push nickname), Body, the ids.
	Title, Body string
	MsgID       int64
	Conv        string
	From        int64
	Ext         string
	// Generic is no_push_detail: title and body replaced.
	Generic  bool
	Badge    int64
	HasBadge bool
}

func (n *notification) silent() bool { return n.Campaign != nil && n.Campaign.Message.Type == "cmd" }

// texts returns title, subtitle, body and big text after no_push_detail.
func (n *notification) texts() (title, subtitle, body, big string) {
	if n.Campaign != nil {
		m := &n.Campaign.Message
		title, body, big = m.Title, m.Body, m.BigText
		if m.IOS != nil {
			subtitle = m.IOS.Subtitle
		}
	} else {
		title, body = n.Title, n.Body
	}
	if n.Generic {
		return "", "", genericBody, ""
	}
	return title, subtitle, body, big
}

// custom are the app-level keys both providers carry: the ids a client
// needs to open the right screen, and the campaign's ext object.
func (n *notification) custom() map[string]string {
	c := map[string]string{}
	if n.Campaign != nil {
		c["task_id"] = strconv.FormatInt(n.Task, 10)
		c["type"] = n.Campaign.Message.Type
		if len(n.Campaign.Message.Ext) > 0 && !n.Generic {
			c["ext"] = string(n.Campaign.Message.Ext)
		}
		if u := n.Campaign.Message.AttachmentURL; u != "" && !n.Generic {
			c["attachment_url"] = u
		}
		if a := n.Campaign.Message.Android; a != nil && a.Intent != "" {
			c["intent"] = a.Intent
		}
		if a := n.Campaign.Message.FCM; a != nil && a.Intent != "" {
			c["intent"] = a.Intent
		}
	} else {
		c["msg_id"] = strconv.FormatInt(n.MsgID, 10)
		c["conv"] = n.Conv
		c["from"] = strconv.FormatInt(n.From, 10)
		if n.Ext != "" && !n.Generic {
			c["ext"] = n.Ext
		}
	}
	return c
}

// apnsHeaders are the APNs request headers besides the topic.
type apnsHeaders struct {
	PushType   apns2.EPushType
	Priority   int
	CollapseID string
}

// apns encodes the APNs payload.
func (n *notification) apns() ([]byte, apnsHeaders, error) {
	h := apnsHeaders{PushType: apns2.PushTypeAlert, Priority: apns2.PriorityHigh}
	aps := map[string]any{}
	var ios *IOSOptions
	if n.Campaign != nil {
		ios = n.Campaign.Message.IOS
	}
	if n.silent() {
		// A pass-through push: no alert, sound or badge; the app wakes.
		aps["content-available"] = 1
		h.PushType, h.Priority = apns2.PushTypeBackground, apns2.PriorityLow
	} else {
		title, subtitle, body, _ := n.texts()
		alert := map[string]string{"body": body}
		if title != "" {
			alert["title"] = title
		}
		if subtitle != "" {
			alert["subtitle"] = subtitle
		}
		aps["alert"] = alert
		aps["sound"] = "default"
		if n.HasBadge {
			aps["badge"] = n.Badge
		}
		if n.Campaign != nil && n.Campaign.Message.AttachmentURL != "" && !n.Generic {
			aps["mutable-content"] = 1
		}
	}
	if ios != nil {
		if ios.Sound != "" && !n.silent() {
			aps["sound"] = ios.Sound
		}
		if ios.ContentAvailable {
			aps["content-available"] = 1
		}
		if ios.MutableContent {
			aps["mutable-content"] = 1
		}
		if ios.Category != "" {
			aps["category"] = ios.Category
		}
		if ios.ThreadID != "" {
			aps["thread-id"] = ios.ThreadID
		}
		h.CollapseID = ios.APNsCollapseID
	}
	if n.Campaign == nil && n.Conv != "" {
		aps["thread-id"] = n.Conv
	}
	body := map[string]any{"aps": aps}
	for k, v := range n.custom() {
		// A message's ext is opaque to the server (PROTOCOL.md): embedded
		// as JSON when it is JSON, as a string otherwise, never a payload
		// that fails to encode (found by FuzzCampaign).
		if k == "ext" && json.Valid([]byte(v)) {
			body[k] = json.RawMessage(v)
			continue
		}
		body[k] = v
	}
	b, err := json.Marshal(body)
	if err != nil {
		return nil, h, fmt.Errorf("encode apns payload: %w", err)
	}
	return b, h, nil
}

// fcm builds the FCM message for token.
func (n *notification) fcm(token string) *messaging.Message {
	m := &messaging.Message{Token: token, Data: n.custom()}
	android := &messaging.AndroidConfig{Priority: "high"}
	m.Android = android
	if n.silent() {
		// A data-only message is delivered to the app, never shown.
		return m
	}
	title, _, body, big := n.texts()
	m.Notification = &messaging.Notification{Title: title, Body: body}
	if big != "" {
		m.Data["big_text"] = big
	}
	an := &messaging.AndroidNotification{Sound: "default"}
	if n.HasBadge {
		c := int(n.Badge)
		an.NotificationCount = &c
	}
	if n.Campaign != nil {
		msg := &n.Campaign.Message
		if msg.AttachmentURL != "" && msg.Type == "image" && !n.Generic {
			m.Notification.ImageURL = msg.AttachmentURL
		}
		for _, o := range []*AndroidOptions{msg.Android, msg.FCM} {
			if o == nil {
				continue
			}
			if o.Sound != "" {
				an.Sound = o.Sound
			}
			if o.ChannelID != "" {
				an.ChannelID = o.ChannelID
			}
			if o.ClickAction != "" {
				an.ClickAction = o.ClickAction
			}
		}
	} else if n.Conv != "" {
		an.Tag = n.Conv
	}
	android.Notification = an
	return m
}

// size is the payload size the provider counts against MaxPayload.
func (n *notification) size(provider string) (int, error) {
	if provider == pushcert.APNs {
		b, _, err := n.apns()
		return len(b), err
	}
	m := n.fcm("x")
	size := 0
	if m.Notification != nil {
		b, err := json.Marshal(m.Notification)
		if err != nil {
			return 0, fmt.Errorf("encode fcm notification: %w", err)
		}
		size += len(b)
	}
	for k, v := range m.Data {
		size += len(k) + len(v)
	}
	return size, nil
}
