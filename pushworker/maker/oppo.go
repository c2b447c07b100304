package maker

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"
	"time"
)

// OPPO Push server API: POST /server/v1/auth with app_key, timestamp and
// sign = sha256(app_key + timestamp + master_secret) for an auth_token
// valid 24 h, then POST /server/v1/message/notification/unicast_batch
// (form field "messages": up to 1000 single messages) with the auth_token
// header. Answer codes: 0 success (per message errorCode 10000: invalid
// registration id), 11 invalid auth_token, 33 over the daily quota,
// -2 flow control, -1 service unavailable. Chat messages use category
// "IM" with notify_level 16 on the app's IM channel; campaigns
// "MARKETING", which OPPO caps per device per day.
type oppo struct {
	c   Config
	hc  *http.Client
	tok *tokenCache
	api string
}

func newOPPO(c Config, hc *http.Client) *oppo {
	o := &oppo{c: c, hc: hc, api: base(c.Endpoint, "https://api.push.oppomobile.com")}
	o.tok = &tokenCache{fetch: o.auth}
	return o
}

func (o *oppo) auth(ctx context.Context) (string, time.Duration, error) {
	ts := strconv.FormatInt(time.Now().UnixMilli(), 10)
	sum := sha256.Sum256([]byte(o.c.AppKey + ts + o.c.MasterSecret))
	var out struct {
		Code int `json:"code"`
		Data struct {
			AuthToken string `json:"auth_token"`
		} `json:"data"`
	}
	resp, err := postForm(ctx, o.hc, o.api+"/server/v1/auth", url.Values{"app_key": {o.c.AppKey}, "timestamp": {ts}, "sign": {hex.EncodeToString(sum[:])}}, nil, &out)
	if err != nil {
		return "", 0, err
	}
	switch {
	case resp.StatusCode == http.StatusOK && out.Code == 0 && out.Data.AuthToken != "":
		return out.Data.AuthToken, 24 * time.Hour, nil
	case resp.StatusCode >= 500 || out.Code == -1 || out.Code == -2:
		return "", 0, errTokenEndpoint(resp.StatusCode)
	}
	return "", 0, errAuth
}

func (o *oppo) MaxTokens() int { return 1000 }

type opNotification struct {
	Title             string `json:"title"`
	Content           string `json:"content"`
	ClickActionType   int    `json:"click_action_type"`
	ClickActionURL    string `json:"click_action_url,omitempty"`
	ActionParameters  string `json:"action_parameters,omitempty"`
	ChannelID         string `json:"channel_id,omitempty"`
	Category          string `json:"category"`
	NotifyLevel       int    `json:"notify_level"`
	Style             int    `json:"style,omitempty"`
	OffLineTTL        int    `json:"off_line_ttl"`
	ShowTimeType      int    `json:"show_time_type"`
	OffLine           bool   `json:"off_line"`
	BigText           string `json:"big_content,omitempty"`
	CallBackParameter string `json:"call_back_parameter,omitempty"`
}

func (o *oppo) Encode(m *Message) ([]byte, error) {
	if m.Silent {
		return nil, ErrSilentUnsupported
	}
	n := opNotification{Title: cut(m.Title, 50), Content: cut(m.Body, 200), ActionParameters: dataJSON(m.Data),
		ChannelID: m.ChannelID, Category: "MARKETING", NotifyLevel: 2, OffLineTTL: 86400, OffLine: true}
	if m.IM {
		n.Category, n.NotifyLevel = "IM", 16
		if o.c.IMChannelID != "" {
			n.ChannelID = o.c.IMChannelID
		}
	}
	if clickType(m) {
		n.ClickActionType, n.ClickActionURL = 5, m.Intent
	}
	if m.BigText != "" {
		n.Style, n.BigText = 2, cut(m.BigText, 1000)
	}
	return encodeLimited(n)
}

func (o *oppo) Send(ctx context.Context, body []byte, tokens []string) []Result {
	msgs := make([]json.RawMessage, len(tokens))
	for i, t := range tokens {
		tv, _ := json.Marshal(t)
		msgs[i] = json.RawMessage(`{"target_type":2,"target_value":` + string(tv) + `,"notification":` + string(body) + `}`)
	}
	list, err := json.Marshal(msgs)
	if err != nil {
		return all(len(tokens), fail("encode"))
	}
	return o.tok.send(ctx, len(tokens), func(tok string) ([]Result, string) {
		var out struct {
			Code int `json:"code"`
			Data []struct {
				RegistrationID string `json:"registrationId"`
				ErrorCode      int    `json:"errorCode"`
			} `json:"data"`
		}
		resp, err := postForm(ctx, o.hc, o.api+"/server/v1/message/notification/unicast_batch", url.Values{"messages": {string(list)}},
			http.Header{"Auth_token": {tok}}, &out)
		if r, ok := httpResult(err, resp); ok {
			return all(len(tokens), r), ""
		}
		switch out.Code {
		case 0:
			return o.perMessage(tokens, out.Data), ""
		case 11:
			return nil, "oppo_11"
		case 33:
			return all(len(tokens), quota("oppo_33", time.Now())), ""
		case -2:
			return all(len(tokens), throttled("oppo_-2", 0)), ""
		case -1:
			return all(len(tokens), retry("oppo_-1")), ""
		}
		return all(len(tokens), fail("oppo_"+strconv.Itoa(out.Code))), ""
	})
}

// perMessage reads unicast_batch's per-message answers.
func (o *oppo) perMessage(tokens []string, data []struct {
	RegistrationID string `json:"registrationId"`
	ErrorCode      int    `json:"errorCode"`
}) []Result {
	res := all(len(tokens), resOK)
	idx := make(map[string]int, len(tokens))
	for i, t := range tokens {
		idx[t] = i
	}
	for _, d := range data {
		i, ok := idx[d.RegistrationID]
		if !ok || d.ErrorCode == 0 {
			continue
		}
		switch d.ErrorCode {
		case 10000:
			res[i] = dead("oppo_10000")
		case 33:
			res[i] = quota("oppo_33", time.Now())
		default:
			res[i] = fail("oppo_" + strconv.Itoa(d.ErrorCode))
		}
	}
	return res
}
