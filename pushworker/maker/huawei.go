package maker

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"time"
)

// Huawei Push Kit (HMS) server API v1: OAuth 2.0 client credentials at
// oauth-login.cloud.huawei.com, then POST /v1/{appId}/messages:send with
// up to 1000 tokens per message. Answer codes: 80000000 success,
// 80100000 partly sent (msg lists illegal_tokens), 80300007 every token
// invalid, 80200001 / 80200003 access token refused or expired, 81000001
// internal error; HTTP 503 is flow control.
type huawei struct {
	c   Config
	hc  *http.Client
	tok *tokenCache
	api string
}

func newHuawei(c Config, hc *http.Client) *huawei {
	h := &huawei{c: c, hc: hc, api: base(c.Endpoint, "https://push-api.cloud.huawei.com")}
	auth := base(c.AuthEndpoint, "https://oauth-login.cloud.huawei.com/oauth2/v3/token")
	h.tok = &tokenCache{fetch: func(ctx context.Context) (string, time.Duration, error) {
		return clientCredentials(ctx, hc, auth, c.AppID, c.AppSecret)
	}}
	return h
}

// clientCredentials is the OAuth 2.0 client-credentials grant Huawei and
// Honor use: a 4xx answer refuses the credentials.
func clientCredentials(ctx context.Context, hc *http.Client, u, id, secret string) (string, time.Duration, error) {
	var out struct {
		AccessToken string `json:"access_token"`
		ExpiresIn   int64  `json:"expires_in"`
		Error       any    `json:"error"`
	}
	resp, err := postForm(ctx, hc, u, url.Values{"grant_type": {"client_credentials"}, "client_id": {id}, "client_secret": {secret}}, nil, &out)
	if err != nil {
		return "", 0, err
	}
	switch {
	case resp.StatusCode >= 400 && resp.StatusCode < 500:
		return "", 0, errAuth
	case resp.StatusCode != http.StatusOK || out.AccessToken == "":
		return "", 0, errTokenEndpoint(resp.StatusCode)
	}
	ttl := time.Duration(out.ExpiresIn) * time.Second
	if ttl <= 0 {
		ttl = time.Hour
	}
	return out.AccessToken, ttl, nil
}

func (h *huawei) MaxTokens() int { return 1000 }

type hwClick struct {
	Type   int    `json:"type"`
	Intent string `json:"intent,omitempty"`
}

type hwBadge struct {
	Class  string `json:"class"`
	SetNum int64  `json:"set_num"`
}

type hwNotification struct {
	Title        string   `json:"title,omitempty"`
	Body         string   `json:"body"`
	Image        string   `json:"image,omitempty"`
	ClickAction  hwClick  `json:"click_action"`
	ChannelID    string   `json:"channel_id,omitempty"`
	Sound        string   `json:"sound,omitempty"`
	DefaultSound bool     `json:"default_sound"`
	Badge        *hwBadge `json:"badge,omitempty"`
	Importance   string   `json:"importance,omitempty"`
	Tag          string   `json:"tag,omitempty"`
	Style        int      `json:"style,omitempty"`
	BigTitle     string   `json:"big_title,omitempty"`
	BigBody      string   `json:"big_body,omitempty"`
}

type hwAndroid struct {
	Urgency      string          `json:"urgency"`
	Category     string          `json:"category,omitempty"`
	TTL          string          `json:"ttl"`
	Notification *hwNotification `json:"notification,omitempty"`
}

type hwMessage struct {
	Data    string    `json:"data,omitempty"`
	Android hwAndroid `json:"android"`
}

// clickType maps Lanying's click_action: an intent opens a page (type 1),
// anything else the app (type 3).
func clickType(m *Message) (intent bool) { return m.ClickAction == "intent" && m.Intent != "" }

func (h *huawei) Encode(m *Message) ([]byte, error) {
	msg := hwMessage{Data: dataJSON(m.Data), Android: hwAndroid{Urgency: "HIGH", TTL: "86400s"}}
	if m.IM {
		// Instant messages: Huawei's self-classified IM category, which
		// it does not cap per device per day once approved.
		msg.Android.Category = "IM"
	}
	if !m.Silent {
		n := &hwNotification{Title: m.Title, Body: m.Body, Image: m.Image, ChannelID: m.ChannelID, Sound: m.Sound,
			DefaultSound: m.Sound == "", Importance: "NORMAL", Tag: m.Tag, ClickAction: hwClick{Type: 3}}
		if clickType(m) {
			n.ClickAction = hwClick{Type: 1, Intent: m.Intent}
		}
		if m.HasBadge && m.BadgeClass != "" {
			n.Badge = &hwBadge{Class: m.BadgeClass, SetNum: m.Badge}
		}
		if m.BigText != "" {
			n.Style, n.BigTitle, n.BigBody = 1, m.Title, m.BigText
		}
		msg.Android.Notification = n
	}
	return encodeLimited(msg)
}

func (h *huawei) Send(ctx context.Context, body []byte, tokens []string) []Result {
	req, err := withTokens(body, "token", tokens)
	if err != nil {
		return all(len(tokens), fail("encode"))
	}
	req = []byte(`{"validate_only":false,"message":` + string(req) + `}`)
	return h.tok.send(ctx, len(tokens), func(tok string) ([]Result, string) {
		var out struct {
			Code string `json:"code"`
			Msg  string `json:"msg"`
		}
		resp, err := postJSON(ctx, h.hc, h.api+"/v1/"+url.PathEscape(h.c.AppID)+"/messages:send", req, http.Header{"Authorization": {"Bearer " + tok}}, &out)
		switch out.Code {
		case "80000000":
			return all(len(tokens), resOK), ""
		case "80100000":
			var part struct {
				Illegal []string `json:"illegal_tokens"`
			}
			_ = json.Unmarshal([]byte(out.Msg), &part)
			return marked(tokens, part.Illegal, dead("illegal_token")), ""
		case "80300007":
			return all(len(tokens), dead("invalid_token")), ""
		case "80200001", "80200003":
			return nil, "huawei_" + out.Code
		case "81000001":
			return all(len(tokens), retry("huawei_81000001")), ""
		}
		if r, ok := httpResult(err, resp); ok {
			return all(len(tokens), r), ""
		}
		return all(len(tokens), fail("huawei_"+out.Code)), ""
	})
}
