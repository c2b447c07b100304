package maker

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
	"time"
)

// Honor Push server API: OAuth 2.0 client credentials at
// iam.developer.honor.com/auth/token, then POST
// /api/v1/{appId}/sendMessage (a "timestamp" header in ms) with up to 1000
// tokens. The answer's code is 200 on success, data.expireTokens are dead
// tokens and data.failTokens tokens Honor could not send to; 80200001 /
// 80200003 refuse or expire the access token; HTTP 429/503 throttle.
// Honor classifies by importance: NORMAL for service and communication
// messages, LOW for marketing.
type honor struct {
	c   Config
	hc  *http.Client
	tok *tokenCache
	api string
}

func newHonor(c Config, hc *http.Client) *honor {
	h := &honor{c: c, hc: hc, api: base(c.Endpoint, "https://push-api.cloud.honor.com")}
	auth := base(c.AuthEndpoint, "https://iam.developer.honor.com/auth/token")
	h.tok = &tokenCache{fetch: func(ctx context.Context) (string, time.Duration, error) {
		return clientCredentials(ctx, hc, auth, c.ClientID, c.ClientSecret)
	}}
	return h
}

func (h *honor) MaxTokens() int { return 1000 }

type hnClick struct {
	Type   int    `json:"type"`
	Intent string `json:"intent,omitempty"`
}

type hnBadge struct {
	BadgeClass string `json:"badgeClass"`
	SetNum     int64  `json:"setNum"`
}

type hnNotification struct {
	Title       string   `json:"title,omitempty"`
	Body        string   `json:"body"`
	Image       string   `json:"image,omitempty"`
	ClickAction hnClick  `json:"clickAction"`
	Badge       *hnBadge `json:"badge,omitempty"`
	Importance  string   `json:"importance"`
	Tag         string   `json:"tag,omitempty"`
	Style       int      `json:"style,omitempty"`
	BigTitle    string   `json:"bigTitle,omitempty"`
	BigBody     string   `json:"bigBody,omitempty"`
}

type hnAndroid struct {
	TTL            string          `json:"ttl"`
	TargetUserType int             `json:"targetUserType"`
	Data           string          `json:"data,omitempty"`
	Notification   *hnNotification `json:"notification,omitempty"`
}

type hnMessage struct {
	Data    string    `json:"data,omitempty"`
	Android hnAndroid `json:"android"`
}

func (h *honor) Encode(m *Message) ([]byte, error) {
	msg := hnMessage{Android: hnAndroid{TTL: "86400s", Data: dataJSON(m.Data)}}
	if !h.c.Production {
		msg.Android.TargetUserType = 1 // test message
	}
	if m.Silent {
		msg.Data, msg.Android.Data = dataJSON(m.Data), ""
		return encodeLimited(msg)
	}
	n := &hnNotification{Title: m.Title, Body: m.Body, Image: m.Image, Tag: m.Tag, Importance: "LOW", ClickAction: hnClick{Type: 3}}
	if m.IM {
		n.Importance = "NORMAL"
	}
	if clickType(m) {
		n.ClickAction = hnClick{Type: 1, Intent: m.Intent}
	}
	if m.HasBadge && m.BadgeClass != "" {
		n.Badge = &hnBadge{BadgeClass: m.BadgeClass, SetNum: m.Badge}
	}
	if m.BigText != "" {
		n.Style, n.BigTitle, n.BigBody = 1, m.Title, m.BigText
	}
	msg.Android.Notification = n
	return encodeLimited(msg)
}

func (h *honor) Send(ctx context.Context, body []byte, tokens []string) []Result {
	req, err := withTokens(body, "token", tokens)
	if err != nil {
		return all(len(tokens), fail("encode"))
	}
	return h.tok.send(ctx, len(tokens), func(tok string) ([]Result, string) {
		var out struct {
			Code int `json:"code"`
			Data struct {
				FailTokens   []string `json:"failTokens"`
				ExpireTokens []string `json:"expireTokens"`
			} `json:"data"`
		}
		hdr := http.Header{"Authorization": {"Bearer " + tok}, "Timestamp": {strconv.FormatInt(time.Now().UnixMilli(), 10)}}
		resp, err := postJSON(ctx, h.hc, h.api+"/api/v1/"+url.PathEscape(h.c.AppID)+"/sendMessage", req, hdr, &out)
		if err == nil && resp.StatusCode == http.StatusOK && out.Code == 200 {
			res := marked(tokens, out.Data.ExpireTokens, dead("expired_token"))
			failed := map[string]bool{}
			for _, t := range out.Data.FailTokens {
				failed[t] = true
			}
			for i, t := range tokens {
				if failed[t] && res[i].Kind == OK {
					res[i] = fail("fail_token")
				}
			}
			return res, ""
		}
		switch out.Code {
		case 80200001, 80200003:
			return nil, "honor_" + strconv.Itoa(out.Code)
		case 80300007:
			return all(len(tokens), dead("invalid_token")), ""
		}
		if r, ok := httpResult(err, resp); ok {
			return all(len(tokens), r), ""
		}
		return all(len(tokens), fail("honor_"+strconv.Itoa(out.Code))), ""
	})
}
