package pushworker

import (
	"context"
	"errors"
	"strconv"
	"time"

	"github.com/chatgate/chatgate/pushworker/maker"
)

// VendorOptions are a /push/notify phone-maker block (huawei, honor,
// xiaomi, oppo, vivo, flyme): each maker reads the fields it has.
type VendorOptions struct {
	Sound       string `json:"sound,omitempty"`
	ChannelID   string `json:"channel_id,omitempty"`
	ClickAction string `json:"click_action,omitempty"`
	Intent      string `json:"intent,omitempty"`
	// BadgeClass is the launcher activity class Huawei and Honor need to
	// set the badge.
	BadgeClass string `json:"badge_class,omitempty"`
	// PushMode (vivo): 0 production, 1 test. Classification (vivo): 0
	// operational message, 1 system message.
	PushMode       *int `json:"push_mode,omitempty"`
	Classification *int `json:"classification,omitempty"`
}

// validate checks a maker block; field is its name in the message.
func (o *VendorOptions) validate(field string) (string, error) {
	if o == nil {
		return "", nil
	}
	switch o.ClickAction {
	case "", "intent", "open_app":
	default:
		return field + ".click_action", errors.New(`must be "intent" or "open_app"`)
	}
	if o.ClickAction == "intent" && o.Intent == "" {
		return field + ".intent", errors.New(`required when click_action is "intent"`)
	}
	for _, f := range []struct {
		name string
		v    *int
	}{{"push_mode", o.PushMode}, {"classification", o.Classification}} {
		if f.v != nil && *f.v != 0 && *f.v != 1 {
			return field + "." + f.name, errors.New("must be 0 or 1")
		}
	}
	return "", nil
}

// vendorBlock is the campaign's block for provider.
func (m *CampaignMessage) vendorBlock(provider string) *VendorOptions {
	switch provider {
	case "huawei":
		return m.Huawei
	case "honor":
		return m.Honor
	case "xiaomi":
		return m.Xiaomi
	case "oppo":
		return m.OPPO
	case "vivo":
		return m.Vivo
	case "meizu":
		return m.Flyme
	}
	return nil
}

// maker renders n for a phone maker: the android block applies to every
// maker, its own block over it.
func (n *notification) maker(provider string) *maker.Message {
	title, _, body, big := n.texts()
	m := &maker.Message{Title: title, Body: body, BigText: big, Silent: n.silent(), Badge: n.Badge, HasBadge: n.HasBadge,
		Data: n.custom(), PushMode: -1, Classification: -1}
	if n.Campaign == nil {
		// A chat message: the maker's instant-message class.
		m.IM, m.Tag, m.ID = true, n.Conv, "m"+strconv.FormatInt(n.MsgID, 36)
		return m
	}
	c := &n.Campaign.Message
	m.ID = "t" + strconv.FormatInt(n.Task, 36)
	if c.Type == "image" && c.AttachmentURL != "" && !n.Generic {
		m.Image = c.AttachmentURL
	}
	for _, o := range []*VendorOptions{androidAsVendor(c.Android), c.vendorBlock(provider)} {
		if o == nil {
			continue
		}
		if o.Sound != "" {
			m.Sound = o.Sound
		}
		if o.ChannelID != "" {
			m.ChannelID = o.ChannelID
		}
		if o.ClickAction != "" {
			m.ClickAction = o.ClickAction
		}
		if o.Intent != "" {
			m.Intent = o.Intent
		}
		if o.BadgeClass != "" {
			m.BadgeClass = o.BadgeClass
		}
		if o.PushMode != nil {
			m.PushMode = *o.PushMode
		}
		if o.Classification != nil {
			m.Classification = *o.Classification
		}
	}
	return m
}

func androidAsVendor(a *AndroidOptions) *VendorOptions {
	if a == nil {
		return nil
	}
	return &VendorOptions{Sound: a.Sound, ChannelID: a.ChannelID, ClickAction: a.ClickAction, Intent: a.Intent}
}

// makerSender sends through one phone maker's client: jobs with the same
// rendered message share requests of up to the maker's batch limit, each
// admitted by the certificate's rate and quota first.
type makerSender struct {
	client   maker.Client
	provider string
}

func (s *makerSender) send(ctx context.Context, d *dispatch, cs *certSender, jobs []*job) {
	type group struct {
		body []byte
		jobs []*job
	}
	var order []string
	groups := map[string]*group{}
	for _, jb := range jobs {
		body, err := s.client.Encode(jb.n.maker(s.provider))
		switch {
		case errors.Is(err, maker.ErrTooLarge):
			jb.outcome, jb.reason = outError, "payload_too_large"
			continue
		case errors.Is(err, maker.ErrSilentUnsupported):
			jb.outcome, jb.reason = outError, "silent_unsupported"
			continue
		case err != nil:
			jb.outcome, jb.reason = outError, "encode"
			continue
		}
		k := string(body)
		g := groups[k]
		if g == nil {
			g = &group{body: body}
			groups[k] = g
			order = append(order, k)
		}
		g.jobs = append(g.jobs, jb)
	}
	for _, k := range order {
		g := groups[k]
		for list := g.jobs; len(list) > 0; {
			part := list[:min(s.client.MaxTokens(), len(list))]
			list = list[len(part):]
			if r, ok := cs.admit(ctx, len(part)); !ok {
				for _, jb := range part {
					jb.res = r
				}
				continue
			}
			body := g.body
			if !d.run(ctx, len(part), func() {
				tokens := make([]string, len(part))
				for i, jb := range part {
					tokens[i] = jb.j.PushToken
				}
				t := time.Now()
				res := s.client.Send(ctx, body, tokens)
				d.m.sendSeconds.WithLabelValues(s.provider).Observe(time.Since(t).Seconds())
				for i, jb := range part {
					r := res[i]
					jb.res = result{kind: makerKind(r.Kind), reason: r.Reason, pause: r.Pause, throttled: r.Throttled, auth: r.Auth}
					if r.Pause > 0 {
						cs.pause(r.Pause)
					}
				}
			}) {
				for _, jb := range part {
					jb.res = result{kind: resRetry, reason: "shutdown"}
				}
			}
		}
	}
}

func makerKind(k maker.Kind) int {
	switch k {
	case maker.OK:
		return resOK
	case maker.Invalid:
		return resInvalid
	case maker.Retry:
		return resRetry
	}
	return resFail
}
