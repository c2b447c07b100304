package pushworker

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	"github.com/chatgate/chatgate/internal/pushcert"
)

// MaxAudienceList is the longest tag / alias / user_id / push_token list
// of a campaign (Lanying's 12005).
const MaxAudienceList = 500

// Distribution strategies of a campaign.
const (
	Combined   = "combined"
	MxpushOnly = "mxpush_only"
	OspushOnly = "ospush_only"
)

// Campaign is a /push/notify request as stored with its task and read by
// the workers that expand and send it.
type Campaign struct {
	Audience Audience        `json:"audience"`
	Setting  CampaignSetting `json:"setting"`
	Message  CampaignMessage `json:"message"`
}

// Audience is "all" or one of the lists.
type Audience struct {
	All       bool     `json:"all,omitempty"`
	Tags      []string `json:"tag,omitempty"`
	Aliases   []string `json:"alias,omitempty"`
	Users     []int64  `json:"user_id,omitempty"`
	PushToken []string `json:"push_token,omitempty"`
}

// CampaignSetting are the campaign's settings.
type CampaignSetting struct {
	RequestID            string   `json:"request_id,omitempty"`
	DistributionStrategy string   `json:"distribution_strategy,omitempty"`
	OspushSequence       []string `json:"ospush_sequence,omitempty"`
}

// CampaignMessage is what a campaign pushes (push.md's message object).
type CampaignMessage struct {
	Type          string          `json:"type,omitempty"`
	Title         string          `json:"title,omitempty"`
	Body          string          `json:"body,omitempty"`
	AttachmentURL string          `json:"attachment_url,omitempty"`
	BigText       string          `json:"big_text,omitempty"`
	Badge         string          `json:"badge,omitempty"`
	Ext           json.RawMessage `json:"ext,omitempty"`
	ShowBeginTime int64           `json:"show_begin_time,omitempty"`
	ShowEndTime   int64           `json:"show_end_time,omitempty"`
	IOS           *IOSOptions     `json:"ios,omitempty"`
	Android       *AndroidOptions `json:"android,omitempty"`
	FCM           *AndroidOptions `json:"fcm,omitempty"`
	// The phone makers' blocks; honor is chatgate's (Lanying has no
	// Honor channel).
	Huawei *VendorOptions `json:"huawei,omitempty"`
	Honor  *VendorOptions `json:"honor,omitempty"`
	Xiaomi *VendorOptions `json:"xiaomi,omitempty"`
	OPPO   *VendorOptions `json:"oppo,omitempty"`
	Vivo   *VendorOptions `json:"vivo,omitempty"`
	Flyme  *VendorOptions `json:"flyme,omitempty"`
}

// IOSOptions are the APNs-specific fields.
type IOSOptions struct {
	Sound            string `json:"sound,omitempty"`
	ContentAvailable bool   `json:"content_available,omitempty"`
	MutableContent   bool   `json:"mutable_content,omitempty"`
	Category         string `json:"category,omitempty"`
	ThreadID         string `json:"thread_id,omitempty"`
	Subtitle         string `json:"subtitle,omitempty"`
	APNsCollapseID   string `json:"apns_collapse_id,omitempty"`
}

// AndroidOptions are the Android / FCM fields.
type AndroidOptions struct {
	Sound       string `json:"sound,omitempty"`
	ChannelID   string `json:"channel_id,omitempty"`
	ClickAction string `json:"click_action,omitempty"`
	Intent      string `json:"intent,omitempty"`
}

// ParseAudience reads push.md's audience: the string "all" or an object
// with exactly one list. It returns the field name and message of the
// first problem; tooLong reports a list over MaxAudienceList (12005).
func ParseAudience(raw json.RawMessage) (a Audience, tooLong bool, err error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return a, false, fmt.Errorf("required: \"all\" or an object with one of tag, alias, user_id, push_token")
	}
	if raw[0] == '"' {
		var s string
		if err := json.Unmarshal(raw, &s); err != nil || s != "all" {
			return a, false, fmt.Errorf("the only string audience is \"all\"")
		}
		return Audience{All: true}, false, nil
	}
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(raw, &obj); err != nil {
		return a, false, fmt.Errorf("must be \"all\" or an object")
	}
	if len(obj) != 1 {
		return a, false, fmt.Errorf("must name exactly one of tag, alias, user_id, push_token")
	}
	for k, v := range obj {
		var n int
		switch k {
		case "tag":
			err, n = decodeStrings(v, &a.Tags), len(a.Tags)
		case "alias":
			err, n = decodeStrings(v, &a.Aliases), len(a.Aliases)
		case "push_token":
			err, n = decodeStrings(v, &a.PushToken), len(a.PushToken)
		case "user_id":
			var ids []json.Number
			if err = json.Unmarshal(v, &ids); err == nil {
				for _, id := range ids {
					u, perr := strconv.ParseInt(id.String(), 10, 64)
					if perr != nil || u <= 0 {
						return a, false, fmt.Errorf("user_id: %q is not a positive user id", id)
					}
					a.Users = append(a.Users, u)
				}
			}
			n = len(a.Users)
		default:
			return a, false, fmt.Errorf("unknown audience %q (tag, alias, user_id or push_token)", k)
		}
		if err != nil {
			return a, false, fmt.Errorf("%s: must be a list: %v", k, err)
		}
		if n == 0 {
			return a, false, fmt.Errorf("%s: the list is empty", k)
		}
		if n > MaxAudienceList {
			return a, true, fmt.Errorf("%s: %d entries, at most %d", k, n, MaxAudienceList)
		}
	}
	return a, false, nil
}

func decodeStrings(v json.RawMessage, out *[]string) error {
	if err := json.Unmarshal(v, out); err != nil {
		return err
	}
	for _, s := range *out {
		if strings.TrimSpace(s) == "" || len(s) > 512 {
			return fmt.Errorf("entries must be non-empty strings of at most 512 bytes")
		}
	}
	return nil
}

// Validate checks the campaign's message and settings; it returns the
// offending field and what is wrong.
func (c *Campaign) Validate() (field string, err error) {
	m := &c.Message
	switch m.Type {
	case "":
		m.Type = "text"
	case "text", "image", "cmd":
	default:
		return "message.type", fmt.Errorf("unknown type %q (text, image or cmd)", m.Type)
	}
	if m.Type != "cmd" && m.Title == "" && m.Body == "" && m.BigText == "" {
		return "message", fmt.Errorf("a %s push needs a title or a body", m.Type)
	}
	if m.Type == "image" && m.AttachmentURL == "" {
		return "message.attachment_url", fmt.Errorf("required for an image push")
	}
	if m.AttachmentURL != "" && !strings.HasPrefix(m.AttachmentURL, "https://") && !strings.HasPrefix(m.AttachmentURL, "http://") {
		return "message.attachment_url", fmt.Errorf("must be an http(s) URL")
	}
	if _, _, err := ParseBadge(m.Badge); err != nil {
		return "message.badge", err
	}
	if len(m.Ext) > 0 {
		var obj map[string]any
		if err := json.Unmarshal(m.Ext, &obj); err != nil {
			return "message.ext", fmt.Errorf("must be a JSON object")
		}
	}
	for _, b := range []struct {
		name string
		o    *VendorOptions
	}{{"huawei", m.Huawei}, {"honor", m.Honor}, {"xiaomi", m.Xiaomi}, {"oppo", m.OPPO}, {"vivo", m.Vivo}, {"flyme", m.Flyme}} {
		if field, err := b.o.validate("message." + b.name); err != nil {
			return field, err
		}
	}
	if m.ShowEndTime != 0 && m.ShowEndTime < m.ShowBeginTime {
		return "message.show_end_time", fmt.Errorf("before show_begin_time")
	}
	switch c.Setting.DistributionStrategy {
	case "":
		c.Setting.DistributionStrategy = Combined
	case Combined, MxpushOnly, OspushOnly:
	default:
		return "setting.distribution_strategy", fmt.Errorf("unknown strategy %q (combined, mxpush_only, ospush_only)", c.Setting.DistributionStrategy)
	}
	if len(c.Setting.RequestID) > 128 {
		return "setting.request_id", fmt.Errorf("at most 128 bytes")
	}
	// The largest payload a device can get: a ten-digit badge.
	probe := &notification{Campaign: c, Task: 1 << 53, Badge: 9_999_999_999, HasBadge: true}
	for _, p := range []string{pushcert.APNs, pushcert.FCM} {
		if n, err := probe.size(p); err != nil {
			return "message", err
		} else if n > MaxPayload {
			return "message", fmt.Errorf("the %s payload would be %d bytes, over the %d-byte limit", p, n, MaxPayload)
		}
	}
	return "", nil
}

// ParseBadge reads push.md's badge: "N" sets the badge to N, "+N" adds N,
// "" means "+1".
func ParseBadge(s string) (n int64, add bool, err error) {
	if s == "" {
		return 1, true, nil
	}
	add = strings.HasPrefix(s, "+")
	n, err = strconv.ParseInt(strings.TrimPrefix(s, "+"), 10, 64)
	if err != nil || n < 0 || n > 99_999 {
		return 0, false, fmt.Errorf("must be \"N\" (set) or \"+N\" (add), 0-99999, got %q", s)
	}
	return n, add, nil
}
