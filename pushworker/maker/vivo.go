package maker

import (
	"context"
	"crypto/md5"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"strconv"
	"time"
)

// vivo Push server API: POST /message/auth with appId, appKey, timestamp
// and sign = md5(appId + appKey + timestamp + appSecret) for an authToken
// valid a day, then POST /message/send (one regId per request; vivo's
// list push needs a stored payload first, which suits campaigns of
// identical content only) with the authToken header. Answer result
// codes: 0 success, 10000 authToken invalid, 10302 regId invalid,
// 10070 over the daily total, 10071 flow control (too frequent).
// Chat messages are classification 1 (system message, with category
// "IM"), which vivo does not cap per device per day; campaigns default to
// 0 (operational), which vivo caps.
type vivo struct {
	c   Config
	hc  *http.Client
	tok *tokenCache
	api string
}

func newVivo(c Config, hc *http.Client) *vivo {
	v := &vivo{c: c, hc: hc, api: base(c.Endpoint, "https://api-push.vivo.com.cn")}
	v.tok = &tokenCache{fetch: v.auth}
	return v
}

func (v *vivo) auth(ctx context.Context) (string, time.Duration, error) {
	ts := strconv.FormatInt(time.Now().UnixMilli(), 10)
	sum := md5.Sum([]byte(v.c.AppID + v.c.AppKey + ts + v.c.AppSecret))
	body, _ := json.Marshal(map[string]string{"appId": v.c.AppID, "appKey": v.c.AppKey, "timestamp": ts, "sign": hex.EncodeToString(sum[:])})
	var out struct {
		Result    int    `json:"result"`
		AuthToken string `json:"authToken"`
	}
	resp, err := postJSON(ctx, v.hc, v.api+"/message/auth", body, nil, &out)
	if err != nil {
		return "", 0, err
	}
	switch {
	case resp.StatusCode == http.StatusOK && out.Result == 0 && out.AuthToken != "":
		return out.AuthToken, 24 * time.Hour, nil
	case resp.StatusCode >= 500 || resp.StatusCode == http.StatusTooManyRequests:
		return "", 0, errTokenEndpoint(resp.StatusCode)
	}
	return "", 0, errAuth
}

func (v *vivo) MaxTokens() int { return 1 }

type vvMessage struct {
	AppID           string            `json:"appId"`
	NotifyType      int               `json:"notifyType"`
	Title           string            `json:"title"`
	Content         string            `json:"content"`
	SkipType        int               `json:"skipType"`
	SkipContent     string            `json:"skipContent,omitempty"`
	NetworkType     int               `json:"networkType"`
	Classification  int               `json:"classification"`
	Category        string            `json:"category,omitempty"`
	PushMode        int               `json:"pushMode"`
	TimeToLive      int               `json:"timeToLive"`
	ClientCustomMap map[string]string `json:"clientCustomMap,omitempty"`
	RequestID       string            `json:"requestId"`
}

func (v *vivo) Encode(m *Message) ([]byte, error) {
	if m.Silent {
		return nil, ErrSilentUnsupported
	}
	msg := vvMessage{AppID: v.c.AppID, NotifyType: 4, Title: cut(m.Title, 40), Content: cut(m.Body, 100), SkipType: 1,
		NetworkType: -1, TimeToLive: 86400, ClientCustomMap: m.Data, RequestID: m.ID}
	if msg.Title == "" {
		// vivo requires a title.
		msg.Title = cut(m.Body, 40)
	}
	if !v.c.Production {
		msg.PushMode = 1
	}
	if m.PushMode >= 0 {
		msg.PushMode = m.PushMode
	}
	if m.Classification >= 0 {
		msg.Classification = m.Classification
	}
	if m.IM {
		msg.Classification, msg.Category = 1, "IM"
	}
	if clickType(m) {
		msg.SkipType, msg.SkipContent = 4, m.Intent
	}
	return encodeLimited(msg)
}

func (v *vivo) Send(ctx context.Context, body []byte, tokens []string) []Result {
	if len(tokens) != 1 {
		return all(len(tokens), fail("batch"))
	}
	var msg map[string]json.RawMessage
	if err := json.Unmarshal(body, &msg); err != nil {
		return all(1, fail("encode"))
	}
	msg["regId"], _ = json.Marshal(tokens[0])
	// requestId must be unique per request: the push's id and the device.
	var id string
	_ = json.Unmarshal(msg["requestId"], &id)
	msg["requestId"], _ = json.Marshal(id + "-" + strconv.FormatUint(uint64(fnv32(tokens[0])), 36))
	req, err := json.Marshal(msg)
	if err != nil {
		return all(1, fail("encode"))
	}
	return v.tok.send(ctx, 1, func(tok string) ([]Result, string) {
		var out struct {
			Result int `json:"result"`
		}
		resp, err := postJSON(ctx, v.hc, v.api+"/message/send", req, http.Header{"AuthToken": {tok}}, &out)
		if r, ok := httpResult(err, resp); ok {
			return all(1, r), ""
		}
		switch out.Result {
		case 0:
			return all(1, resOK), ""
		case 10000:
			return nil, "vivo_10000"
		case 10302:
			return all(1, dead("vivo_10302")), ""
		case 10070:
			return all(1, quota("vivo_10070", time.Now())), ""
		case 10071:
			return all(1, throttled("vivo_10071", 0)), ""
		}
		return all(1, fail("vivo_"+strconv.Itoa(out.Result))), ""
	})
}
