package maker

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
	"strings"
)

// Xiaomi Mi Push server API: POST /v3/message/regid, form-encoded, with
// "Authorization: key=<AppSecret>" (no token exchange) and up to 1000
// comma-separated registration ids. The answer's result is "ok" (code 0)
// with data.bad_regids listing dead ids, or "error" with a code: 21301
// authentication failed, 20301 invalid target; HTTP 429/503 throttle.
// Chat messages go on the app's approved private-message channel
// (extra.channel_id = im_channel_id), which Xiaomi does not cap per day.
type xiaomi struct {
	c   Config
	hc  *http.Client
	api string
}

func newXiaomi(c Config, hc *http.Client) *xiaomi {
	return &xiaomi{c: c, hc: hc, api: base(c.Endpoint, "https://api.xmpush.xiaomi.com")}
}

func (x *xiaomi) MaxTokens() int { return 1000 }

func (x *xiaomi) Encode(m *Message) ([]byte, error) {
	payload := dataJSON(m.Data)
	if len(payload) > MaxPayload {
		// Xiaomi's payload limit: 4 KB.
		return nil, ErrTooLarge
	}
	f := url.Values{}
	f.Set("restricted_package_name", x.c.PackageName)
	f.Set("payload", payload)
	if m.Silent {
		f.Set("pass_through", "1")
	} else {
		f.Set("pass_through", "0")
		f.Set("title", cut(m.Title, 50))
		f.Set("description", cut(m.Body, 128))
		f.Set("notify_type", "-1")
		ch := m.ChannelID
		if m.IM && x.c.IMChannelID != "" {
			ch = x.c.IMChannelID
		}
		if ch != "" {
			f.Set("extra.channel_id", ch)
		}
		if m.Sound != "" {
			f.Set("extra.sound_uri", m.Sound)
		}
		if clickType(m) {
			f.Set("extra.notify_effect", "2")
			f.Set("extra.intent_uri", m.Intent)
		} else {
			f.Set("extra.notify_effect", "1")
		}
		if m.Tag != "" {
			// One notification per conversation: the same notify_id
			// replaces the previous one.
			f.Set("notify_id", strconv.FormatUint(uint64(fnv32(m.Tag)%1_000_000), 10))
		}
	}
	return []byte(f.Encode()), nil
}

func (x *xiaomi) Send(ctx context.Context, body []byte, tokens []string) []Result {
	form, err := url.ParseQuery(string(body))
	if err != nil {
		return all(len(tokens), fail("encode"))
	}
	form.Set("registration_id", strings.Join(tokens, ","))
	var out struct {
		Result string `json:"result"`
		Code   int    `json:"code"`
		Data   struct {
			BadRegIDs string `json:"bad_regids"`
		} `json:"data"`
	}
	resp, err := postForm(ctx, x.hc, x.api+"/v3/message/regid", form, http.Header{"Authorization": {"key=" + x.c.AppSecret}}, &out)
	if r, ok := httpResult(err, resp); ok {
		return all(len(tokens), r)
	}
	switch {
	case out.Result == "ok" && out.Code == 0:
		var bad []string
		if out.Data.BadRegIDs != "" {
			bad = strings.Split(out.Data.BadRegIDs, ",")
		}
		return marked(tokens, bad, dead("bad_regid"))
	case out.Code == 21301:
		return all(len(tokens), authFail("xiaomi_21301"))
	case out.Code == 20301:
		return all(len(tokens), dead("xiaomi_20301"))
	}
	return all(len(tokens), fail("xiaomi_"+strconv.Itoa(out.Code)))
}

func fnv32(s string) uint32 {
	h := uint32(2166136261)
	for i := 0; i < len(s); i++ {
		h ^= uint32(s[i])
		h *= 16777619
	}
	return h
}
