package maker

import (
	"context"
	"crypto/md5"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"net/url"
	"sort"
	"strings"
)

// Meizu Flyme Push server API: POST
// /garcia/api/server/push/varnished/pushByPushId, form-encoded, with up
// to 1000 comma-separated pushIds and sign = md5 of the parameters as
// sorted "k=v" pairs followed by the app secret (no token exchange). The
// answer's code is a string: "200" success with value mapping error codes
// to pushIds (110002 unsubscribed, 110003 invalid: dead tokens), "1006"
// signature refused, "518" / "110010" over the push rate, "519" / "1003"
// overloaded or busy. Meizu's API has no message class; its pass-through
// messages are restricted, so cmd pushes are not sent.
type meizu struct {
	c   Config
	hc  *http.Client
	api string
}

func newMeizu(c Config, hc *http.Client) *meizu {
	return &meizu{c: c, hc: hc, api: base(c.Endpoint, "https://server-api-push.meizu.com")}
}

func (z *meizu) MaxTokens() int { return 1000 }

func (z *meizu) Encode(m *Message) ([]byte, error) {
	if m.Silent {
		return nil, ErrSilentUnsupported
	}
	click := map[string]any{"clickType": 0, "parameters": m.Data}
	if clickType(m) {
		click = map[string]any{"clickType": 1, "activity": m.Intent, "parameters": m.Data}
	}
	msg := map[string]any{
		"noticeBarInfo": map[string]any{"noticeBarType": 0, "title": cut(m.Title, 32), "content": cut(m.Body, 100)},
		"clickTypeInfo": click,
		"pushTimeInfo":  map[string]any{"offLine": 1, "validTime": 24},
		"advanceInfo":   map[string]any{"suspend": 1, "clearNoticeBar": 1, "notificationType": map[string]int{"vibrate": 1, "lights": 1, "sound": 1}},
	}
	if m.BigText != "" {
		msg["noticeExpandInfo"] = map[string]any{"noticeExpandType": 1, "noticeExpandContent": m.BigText}
	}
	return encodeLimited(msg)
}

// Sign is Meizu's request signature: md5 of the sorted k=v pairs then the
// secret.
func Sign(form url.Values, secret string) string {
	keys := make([]string, 0, len(form))
	for k := range form {
		if k != "sign" {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	var b strings.Builder
	for _, k := range keys {
		b.WriteString(k)
		b.WriteByte('=')
		b.WriteString(form.Get(k))
	}
	b.WriteString(secret)
	sum := md5.Sum([]byte(b.String()))
	return hex.EncodeToString(sum[:])
}

func (z *meizu) Send(ctx context.Context, body []byte, tokens []string) []Result {
	form := url.Values{"appId": {z.c.AppID}, "pushIds": {strings.Join(tokens, ",")}, "messageJson": {string(body)}}
	form.Set("sign", Sign(form, z.c.AppSecret))
	var out struct {
		Code  string          `json:"code"`
		Value json.RawMessage `json:"value"`
	}
	resp, err := postForm(ctx, z.hc, z.api+"/garcia/api/server/push/varnished/pushByPushId", form, nil, &out)
	if r, ok := httpResult(err, resp); ok {
		return all(len(tokens), r)
	}
	switch out.Code {
	case "200":
		var byCode map[string][]string
		_ = json.Unmarshal(out.Value, &byCode)
		return marked(tokens, append(byCode["110002"], byCode["110003"]...), dead("unsubscribed"))
	case "1006":
		return all(len(tokens), authFail("meizu_1006"))
	case "518", "110010":
		return all(len(tokens), throttled("meizu_"+out.Code, 0))
	case "519", "1003", "1001", "500", "501", "513":
		return all(len(tokens), retry("meizu_"+out.Code))
	}
	return all(len(tokens), fail("meizu_"+out.Code))
}
