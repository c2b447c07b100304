package fakepush

import (
	"crypto/md5"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"golang.org/x/time/rate"

	"github.com/chatgate/chatgate/internal/pushcert"
	"github.com/chatgate/chatgate/pushworker/maker"
)

// The phone makers' providers. Each fake lives under its own path prefix
// of the server (URL + "/" + provider) and answers as the maker's
// documented server API does (pushworker/maker describes each).
const (
	Huawei = pushcert.Huawei
	Honor  = pushcert.Honor
	Xiaomi = pushcert.Xiaomi
	OPPO   = pushcert.OPPO
	Vivo   = pushcert.Vivo
	Meizu  = pushcert.Meizu
)

// Makers are the phone makers' providers the fake serves.
var Makers = []string{Huawei, Honor, Xiaomi, OPPO, Vivo, Meizu}

// Providers are every provider the fake serves.
var Providers = append([]string{APNs, FCM}, Makers...)

// MakerCredentials are the credentials the makers' fakes accept: one set
// per maker, in the fields the configuration names them.
type MakerCredentials struct {
	AppID, AppKey, AppSecret, MasterSecret, ClientID, ClientSecret, PackageName string
}

// Credentials returns what provider's fake accepts.
func (s *Server) Credentials(provider string) MakerCredentials {
	switch provider {
	case Huawei:
		return MakerCredentials{AppID: "100001", AppSecret: "huawei-secret"}
	case Honor:
		return MakerCredentials{AppID: "200001", ClientID: "honor-client", ClientSecret: "honor-secret"}
	case Xiaomi:
		return MakerCredentials{AppSecret: "xiaomi-secret", PackageName: s.opts.Topic}
	case OPPO:
		return MakerCredentials{AppKey: "oppo-key", MasterSecret: "oppo-master"}
	case Vivo:
		return MakerCredentials{AppID: "300001", AppKey: "vivo-key", AppSecret: "vivo-secret"}
	case Meizu:
		return MakerCredentials{AppID: "400001", AppSecret: "meizu-secret"}
	}
	return MakerCredentials{}
}

// Endpoint is the API base URL of provider's fake; AuthEndpoint its token
// URL where the maker has a separate one (Huawei, Honor).
func (s *Server) Endpoint(provider string) string { return s.URL + "/" + provider }

// AuthEndpoint is the token URL of Huawei's and Honor's fakes ("" for the
// others, whose authentication lives under Endpoint).
func (s *Server) AuthEndpoint(provider string) string {
	switch provider {
	case Huawei:
		return s.URL + "/huawei/oauth2/v3/token"
	case Honor:
		return s.URL + "/honor/auth/token"
	}
	return ""
}

// SetRate makes provider's fake throttle (with the maker's own answer)
// beyond perSecond device tokens per second, bursts of burst; 0 removes
// the limit.
func (s *Server) SetRate(provider string, perSecond float64, burst int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if perSecond <= 0 {
		delete(s.limits, provider)
		return
	}
	s.limits[provider] = rate.NewLimiter(rate.Limit(perSecond), max(burst, 1))
}

// SetQuota makes provider's fake answer "daily quota exceeded" once it has
// accepted n more pushes; 0 removes the quota.
func (s *Server) SetQuota(provider string, n int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if n <= 0 {
		delete(s.quotas, provider)
		return
	}
	s.quotas[provider] = n
}

func (s *Server) routeMakers(mux *http.ServeMux) {
	mux.HandleFunc("POST /huawei/oauth2/v3/token", s.clientCredentials(Huawei))
	mux.HandleFunc("POST /huawei/v1/{app}/messages:send", s.huawei)
	mux.HandleFunc("POST /honor/auth/token", s.clientCredentials(Honor))
	mux.HandleFunc("POST /honor/api/v1/{app}/sendMessage", s.honor)
	mux.HandleFunc("POST /xiaomi/v3/message/regid", s.xiaomi)
	mux.HandleFunc("POST /oppo/server/v1/auth", s.oppoAuth)
	mux.HandleFunc("POST /oppo/server/v1/message/notification/unicast_batch", s.oppo)
	mux.HandleFunc("POST /vivo/message/auth", s.vivoAuth)
	mux.HandleFunc("POST /vivo/message/send", s.vivo)
	mux.HandleFunc("POST /meizu/garcia/api/server/push/varnished/pushByPushId", s.meizu)
}

// verdict is the fake's decision on one maker request.
type verdict struct {
	// whole, when set, fails the whole request: Status 429 throttles
	// (Reason "quota": the daily quota), 401 refuses the access token,
	// other statuses are server errors; Hang holds it.
	whole *Fault
	// dead are the tokens answered as invalid.
	dead []string
}

// judge applies the rate limit, the quota and the injected faults to a
// request for tokens.
func (s *Server) judge(provider string, tokens []string) verdict {
	s.mu.Lock()
	lim := s.limits[provider]
	q, hasQuota := s.quotas[provider]
	used := s.stats[provider].Accepted
	s.mu.Unlock()
	if hasQuota && used+int64(len(tokens)) > q {
		return verdict{whole: &Fault{Status: http.StatusTooManyRequests, Reason: "quota"}}
	}
	if lim != nil && !lim.AllowN(time.Now(), len(tokens)) {
		return verdict{whole: &Fault{Status: http.StatusTooManyRequests}}
	}
	if f := s.fault(provider, ""); f != nil {
		return verdict{whole: f}
	}
	var v verdict
	for _, t := range tokens {
		f := s.fault(provider, t)
		switch {
		case f == nil:
		case f.Status == http.StatusGone || f.Status == http.StatusNotFound || f.Status == http.StatusBadRequest:
			v.dead = append(v.dead, t)
		default:
			return verdict{whole: f}
		}
	}
	return v
}

// accept records the accepted tokens of a request.
func (s *Server) accept(provider string, tokens, dead []string, payload json.RawMessage) {
	bad := map[string]bool{}
	for _, t := range dead {
		bad[t] = true
	}
	now := time.Now()
	for _, t := range tokens {
		if bad[t] {
			s.record(provider, http.StatusOK, nil)
			continue
		}
		s.record(provider, http.StatusOK, &Notification{Provider: provider, Token: t, Payload: payload, At: now})
	}
}

// hang holds a request until the client gives up.
func hang(r *http.Request) { <-r.Context().Done() }

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json;charset=UTF-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// newAccess issues an access token of provider.
func (s *Server) newAccess(provider string) string {
	tok := provider + "-" + newUUID()
	s.mu.Lock()
	s.tokens[tok] = true
	s.mu.Unlock()
	return tok
}

// authAsked counts a request to provider's token endpoint.
func (s *Server) authAsked(provider string) {
	s.mu.Lock()
	s.authRequests[provider]++
	s.mu.Unlock()
}

// AuthRequests is how many times provider's token endpoint was asked
// (Huawei, Honor, OPPO, vivo), granted or not.
func (s *Server) AuthRequests(provider string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.authRequests[provider]
}

func (s *Server) knownAccess(provider, tok string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return strings.HasPrefix(tok, provider+"-") && s.tokens[tok]
}

// RevokeAccessTokens forgets every access token issued so far (FCM's and
// the makers'): the next request with one is refused as expired.
func (s *Server) RevokeAccessTokens() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.tokens = map[string]bool{}
}

// clientCredentials is Huawei's and Honor's OAuth 2.0 token endpoint.
func (s *Server) clientCredentials(provider string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if !s.wait(r) {
			return
		}
		s.authAsked(provider)
		c := s.Credentials(provider)
		id, secret := c.AppID, c.AppSecret
		if provider == Honor {
			id, secret = c.ClientID, c.ClientSecret
		}
		if err := r.ParseForm(); err != nil || r.PostForm.Get("grant_type") != "client_credentials" {
			writeJSON(w, http.StatusBadRequest, map[string]any{"error": 1102, "error_description": "invalid grant_type"})
			return
		}
		if r.PostForm.Get("client_id") != id || r.PostForm.Get("client_secret") != secret {
			writeJSON(w, http.StatusBadRequest, map[string]any{"error": 1101, "error_description": "invalid client"})
			return
		}
		writeJSON(w, http.StatusOK, map[string]any{"access_token": s.newAccess(provider), "expires_in": 3600, "token_type": "Bearer"})
	}
}

var huaweiCategories = map[string]bool{"IM": true, "VOIP": true, "SUBSCRIPTION": true, "TRAVEL": true, "HEALTH": true, "WORK": true,
	"ACCOUNT": true, "EXPRESS": true, "FINANCE": true, "DEVICE_REMINDER": true, "MAIL": true, "PLAY_VOICE": true, "MARKETING": true}

// huawei answers like push-api.cloud.huawei.com/v1/{appId}/messages:send.
func (s *Server) huawei(w http.ResponseWriter, r *http.Request) {
	if !s.wait(r) {
		return
	}
	answer := func(status int, code, msg string) {
		writeJSON(w, status, map[string]string{"code": code, "msg": msg, "requestId": newUUID()})
		if code != "80000000" && code != "80100000" {
			s.record(Huawei, status, nil)
		}
	}
	access, _ := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if r.PathValue("app") != s.Credentials(Huawei).AppID || !s.knownAccess(Huawei, access) {
		answer(http.StatusUnauthorized, "80200003", "Oauth Token expired")
		return
	}
	var req struct {
		Message struct {
			Token   []string `json:"token"`
			Data    string   `json:"data"`
			Android *struct {
				Category     string          `json:"category"`
				Notification json.RawMessage `json:"notification"`
			} `json:"android"`
		} `json:"message"`
	}
	body, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if json.Unmarshal(body, &req) != nil {
		answer(http.StatusBadRequest, "80100003", "Incorrect message structure")
		return
	}
	m := req.Message
	switch {
	case len(m.Token) == 0 || len(m.Token) > 1000:
		answer(http.StatusBadRequest, "80300010", "The number of tokens in the message body exceeds the default value")
		return
	case len(body)-len(strings.Join(m.Token, `","`)) > MaxPayload+64:
		answer(http.StatusBadRequest, "80300008", "The message body size exceeds the default value")
		return
	case m.Android != nil && m.Android.Category != "" && !huaweiCategories[m.Android.Category]:
		answer(http.StatusBadRequest, "80100003", "Incorrect message structure: category")
		return
	case m.Android != nil && len(m.Android.Notification) == 0 && m.Data == "":
		answer(http.StatusBadRequest, "80100003", "Incorrect message structure: neither notification nor data")
		return
	}
	v := s.judge(Huawei, m.Token)
	if f := v.whole; f != nil {
		switch {
		case f.Hang:
			hang(r)
		case f.Status == http.StatusTooManyRequests || f.Status == http.StatusServiceUnavailable:
			answer(http.StatusServiceUnavailable, "", "Flow control")
		case f.Status == http.StatusUnauthorized:
			answer(http.StatusUnauthorized, "80200003", "Oauth Token expired")
		default:
			answer(f.Status, "81000001", "System inner error")
		}
		return
	}
	s.accept(Huawei, m.Token, v.dead, body)
	switch {
	case len(v.dead) == 0:
		answer(http.StatusOK, "80000000", "Success")
	case len(v.dead) == len(m.Token):
		answer(http.StatusBadRequest, "80300007", "All the tokens are invalid")
	default:
		part, _ := json.Marshal(map[string]any{"success": len(m.Token) - len(v.dead), "failure": len(v.dead), "illegal_tokens": v.dead})
		answer(http.StatusOK, "80100000", string(part))
	}
}

// honor answers like push-api.cloud.honor.com/api/v1/{appId}/sendMessage.
func (s *Server) honor(w http.ResponseWriter, r *http.Request) {
	if !s.wait(r) {
		return
	}
	answer := func(status, code int, msg string, data any) {
		writeJSON(w, status, map[string]any{"code": code, "message": msg, "data": data})
		if code != 200 {
			s.record(Honor, status, nil)
		}
	}
	access, _ := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if r.PathValue("app") != s.Credentials(Honor).AppID || !s.knownAccess(Honor, access) {
		answer(http.StatusUnauthorized, 80200003, "token expired", nil)
		return
	}
	var req struct {
		Token   []string `json:"token"`
		Android *struct {
			Notification *struct {
				Body       string `json:"body"`
				Importance string `json:"importance"`
			} `json:"notification"`
		} `json:"android"`
	}
	body, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	switch {
	case json.Unmarshal(body, &req) != nil:
		answer(http.StatusBadRequest, 80100003, "invalid message structure", nil)
		return
	case r.Header.Get("Timestamp") == "":
		answer(http.StatusBadRequest, 80100001, "timestamp header is required", nil)
		return
	case len(req.Token) == 0 || len(req.Token) > 1000:
		answer(http.StatusBadRequest, 80300010, "token count out of range", nil)
		return
	case req.Android != nil && req.Android.Notification != nil && (req.Android.Notification.Body == "" ||
		req.Android.Notification.Importance != "LOW" && req.Android.Notification.Importance != "NORMAL"):
		answer(http.StatusBadRequest, 80100003, "notification body and importance (LOW or NORMAL) are required", nil)
		return
	}
	v := s.judge(Honor, req.Token)
	if f := v.whole; f != nil {
		switch {
		case f.Hang:
			hang(r)
		case f.Status == http.StatusTooManyRequests:
			answer(http.StatusTooManyRequests, 80300009, "flow control", nil)
		case f.Status == http.StatusUnauthorized:
			answer(http.StatusUnauthorized, 80200003, "token expired", nil)
		default:
			answer(f.Status, 81000001, "internal error", nil)
		}
		return
	}
	s.accept(Honor, req.Token, v.dead, body)
	answer(http.StatusOK, 200, "Success", map[string]any{"sendResult": true, "requestId": newUUID(), "failTokens": []string{}, "expireTokens": orEmpty(v.dead)})
}

func orEmpty(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// formJSON renders a form as a JSON object of its first values (what the
// fake keeps of a form-encoded push).
func formJSON(f url.Values) json.RawMessage {
	m := make(map[string]string, len(f))
	for k := range f {
		m[k] = f.Get(k)
	}
	b, _ := json.Marshal(m)
	return b
}

// xiaomi answers like api.xmpush.xiaomi.com/v3/message/regid.
func (s *Server) xiaomi(w http.ResponseWriter, r *http.Request) {
	if !s.wait(r) {
		return
	}
	answer := func(status, code int, reason string, data any) {
		res := "ok"
		if code != 0 {
			res = "error"
			s.record(Xiaomi, status, nil)
		}
		writeJSON(w, status, map[string]any{"result": res, "code": code, "reason": reason, "description": reason, "data": data, "trace_id": newUUID()})
	}
	c := s.Credentials(Xiaomi)
	if r.Header.Get("Authorization") != "key="+c.AppSecret {
		answer(http.StatusOK, 21301, "Authentication failed", nil)
		return
	}
	if err := r.ParseForm(); err != nil {
		answer(http.StatusBadRequest, 10017, "bad form", nil)
		return
	}
	f := r.PostForm
	var regs []string
	if v := f.Get("registration_id"); v != "" {
		regs = strings.Split(v, ",")
	}
	switch {
	case len(regs) == 0 || len(regs) > 1000:
		answer(http.StatusOK, 20301, "Invalid target: 1 to 1000 registration ids", nil)
		return
	case f.Get("restricted_package_name") != c.PackageName:
		answer(http.StatusOK, 22022, "restricted_package_name does not match the app", nil)
		return
	case f.Get("pass_through") == "0" && (f.Get("title") == "" || f.Get("description") == ""):
		answer(http.StatusOK, 10017, "title and description are required for a notification", nil)
		return
	case len(f.Get("payload")) > MaxPayload:
		answer(http.StatusOK, 10017, "payload over 4 KB", nil)
		return
	}
	v := s.judge(Xiaomi, regs)
	if fl := v.whole; fl != nil {
		switch {
		case fl.Hang:
			hang(r)
		case fl.Status == http.StatusTooManyRequests:
			w.Header().Set("Retry-After", "1")
			answer(http.StatusTooManyRequests, 200001, "too many requests", nil)
		case fl.Status == http.StatusUnauthorized:
			answer(http.StatusOK, 21301, "Authentication failed", nil)
		default:
			answer(fl.Status, 10001, "system error", nil)
		}
		return
	}
	f.Del("registration_id")
	s.accept(Xiaomi, regs, v.dead, formJSON(f))
	answer(http.StatusOK, 0, "", map[string]string{"id": "slm" + newUUID()[:12], "bad_regids": strings.Join(v.dead, ",")})
}

// oppoAuth answers like api.push.oppomobile.com/server/v1/auth.
func (s *Server) oppoAuth(w http.ResponseWriter, r *http.Request) {
	if !s.wait(r) {
		return
	}
	s.authAsked(OPPO)
	c := s.Credentials(OPPO)
	_ = r.ParseForm()
	ts := r.PostForm.Get("timestamp")
	sum := sha256.Sum256([]byte(c.AppKey + ts + c.MasterSecret))
	if r.PostForm.Get("app_key") != c.AppKey || ts == "" || r.PostForm.Get("sign") != hex.EncodeToString(sum[:]) {
		writeJSON(w, http.StatusOK, map[string]any{"code": 14, "message": "Invalid sign"})
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"code": 0, "message": "Success",
		"data": map[string]any{"auth_token": s.newAccess(OPPO), "create_time": time.Now().UnixMilli()}})
}

var oppoCategories = map[string]bool{"IM": true, "ACCOUNT": true, "DEVICE_REMINDER": true, "ORDER": true, "TODO": true,
	"SUBSCRIPTION": true, "NEWS": true, "CONTENT": true, "MARKETING": true, "SOCIAL": true}

// oppo answers like /server/v1/message/notification/unicast_batch.
func (s *Server) oppo(w http.ResponseWriter, r *http.Request) {
	if !s.wait(r) {
		return
	}
	answer := func(code int, msg string, data any) {
		writeJSON(w, http.StatusOK, map[string]any{"code": code, "message": msg, "data": data})
		if code != 0 {
			s.record(OPPO, http.StatusOK, nil)
		}
	}
	if !s.knownAccess(OPPO, r.Header.Get("auth_token")) {
		answer(11, "Invalid AuthToken", nil)
		return
	}
	_ = r.ParseForm()
	var msgs []struct {
		TargetType   int    `json:"target_type"`
		TargetValue  string `json:"target_value"`
		Notification struct {
			Title    string `json:"title"`
			Content  string `json:"content"`
			Category string `json:"category"`
		} `json:"notification"`
	}
	if json.Unmarshal([]byte(r.PostForm.Get("messages")), &msgs) != nil || len(msgs) == 0 || len(msgs) > 1000 {
		answer(10013, "messages must be a list of 1 to 1000 messages", nil)
		return
	}
	tokens := make([]string, len(msgs))
	for i, m := range msgs {
		n := m.Notification
		if m.TargetType != 2 || m.TargetValue == "" || n.Title == "" || n.Content == "" || (n.Category != "" && !oppoCategories[n.Category]) {
			answer(10013, "message "+strconv.Itoa(i)+": target, title, content or category invalid", nil)
			return
		}
		tokens[i] = m.TargetValue
	}
	v := s.judge(OPPO, tokens)
	if f := v.whole; f != nil {
		switch {
		case f.Hang:
			hang(r)
		case f.Status == http.StatusTooManyRequests && f.Reason == "quota":
			answer(33, "The number of messages exceeds the daily limit", nil)
		case f.Status == http.StatusTooManyRequests:
			answer(-2, "Service in flow control", nil)
		case f.Status == http.StatusUnauthorized:
			answer(11, "Invalid AuthToken", nil)
		default:
			answer(-1, "Service currently unavailable", nil)
		}
		return
	}
	s.accept(OPPO, tokens, v.dead, json.RawMessage(r.PostForm.Get("messages")))
	bad := map[string]bool{}
	for _, t := range v.dead {
		bad[t] = true
	}
	data := make([]map[string]any, len(tokens))
	for i, t := range tokens {
		d := map[string]any{"registrationId": t, "messageId": newUUID()}
		if bad[t] {
			d["errorCode"], d["errorMessage"] = 10000, "Invalid RegistrationId"
		}
		data[i] = d
	}
	answer(0, "Success", data)
}

// vivoAuth answers like api-push.vivo.com.cn/message/auth.
func (s *Server) vivoAuth(w http.ResponseWriter, r *http.Request) {
	if !s.wait(r) {
		return
	}
	s.authAsked(Vivo)
	c := s.Credentials(Vivo)
	var req struct {
		AppID, AppKey, Timestamp, Sign string
	}
	body, _ := io.ReadAll(io.LimitReader(r.Body, 64<<10))
	_ = json.Unmarshal(body, &req)
	sum := md5.Sum([]byte(c.AppID + c.AppKey + req.Timestamp + c.AppSecret))
	if req.AppID != c.AppID || req.AppKey != c.AppKey || req.Sign != hex.EncodeToString(sum[:]) {
		writeJSON(w, http.StatusOK, map[string]any{"result": 10200, "desc": "sign check failed"})
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"result": 0, "desc": "请求成功", "authToken": s.newAccess(Vivo)})
}

// vivo answers like api-push.vivo.com.cn/message/send.
func (s *Server) vivo(w http.ResponseWriter, r *http.Request) {
	if !s.wait(r) {
		return
	}
	answer := func(status, result int, desc string) {
		writeJSON(w, status, map[string]any{"result": result, "desc": desc, "taskId": newUUID()})
		if result != 0 {
			s.record(Vivo, status, nil)
		}
	}
	if !s.knownAccess(Vivo, r.Header.Get("authToken")) {
		answer(http.StatusOK, 10000, "authToken invalid or expired")
		return
	}
	var req struct {
		AppID          string `json:"appId"`
		RegID          string `json:"regId"`
		Title          string `json:"title"`
		Content        string `json:"content"`
		RequestID      string `json:"requestId"`
		Classification int    `json:"classification"`
		Category       string `json:"category"`
		PushMode       int    `json:"pushMode"`
	}
	body, _ := io.ReadAll(io.LimitReader(r.Body, 64<<10))
	switch {
	case json.Unmarshal(body, &req) != nil:
		answer(http.StatusOK, 10050, "bad JSON")
		return
	case req.AppID != s.Credentials(Vivo).AppID:
		answer(http.StatusOK, 10094, "appId does not match the authToken")
		return
	case req.RegID == "" || req.RequestID == "":
		answer(http.StatusOK, 10055, "regId and requestId are required")
		return
	case req.Title == "" || utf8.RuneCountInString(req.Title) > 40 || req.Content == "" || utf8.RuneCountInString(req.Content) > 100:
		answer(http.StatusOK, 10056, "title (1-40) and content (1-100) are required")
		return
	case req.Classification != 0 && req.Classification != 1, req.PushMode != 0 && req.PushMode != 1:
		answer(http.StatusOK, 10057, "classification and pushMode must be 0 or 1")
		return
	case req.Category == "IM" && req.Classification != 1:
		answer(http.StatusOK, 10058, "category IM is a system message (classification 1)")
		return
	}
	v := s.judge(Vivo, []string{req.RegID})
	if f := v.whole; f != nil {
		switch {
		case f.Hang:
			hang(r)
		case f.Status == http.StatusTooManyRequests && f.Reason == "quota":
			answer(http.StatusOK, 10070, "total sends over the daily limit")
		case f.Status == http.StatusTooManyRequests:
			answer(http.StatusOK, 10071, "sending too frequently")
		case f.Status == http.StatusUnauthorized:
			answer(http.StatusOK, 10000, "authToken invalid or expired")
		default:
			answer(f.Status, 10001, "system error")
		}
		return
	}
	if len(v.dead) > 0 {
		answer(http.StatusOK, 10302, "regId invalid")
		return
	}
	s.accept(Vivo, []string{req.RegID}, nil, body)
	answer(http.StatusOK, 0, "请求成功")
}

// meizu answers like server-api-push.meizu.com's pushByPushId.
func (s *Server) meizu(w http.ResponseWriter, r *http.Request) {
	if !s.wait(r) {
		return
	}
	answer := func(code string, msg string, value any) {
		writeJSON(w, http.StatusOK, map[string]any{"code": code, "message": msg, "value": value, "redirect": "", "msgId": newUUID()})
		if code != "200" {
			s.record(Meizu, http.StatusOK, nil)
		}
	}
	_ = r.ParseForm()
	f := r.PostForm
	c := s.Credentials(Meizu)
	if f.Get("appId") != c.AppID {
		answer("110000", "appId invalid", nil)
		return
	}
	if f.Get("sign") != maker.Sign(f, c.AppSecret) {
		answer("1006", "sign check failed", nil)
		return
	}
	var ids []string
	if v := f.Get("pushIds"); v != "" {
		ids = strings.Split(v, ",")
	}
	var msg struct {
		NoticeBarInfo struct {
			Title   string `json:"title"`
			Content string `json:"content"`
		} `json:"noticeBarInfo"`
	}
	switch {
	case len(ids) == 0 || len(ids) > 1000:
		answer("110004", "pushIds: 1 to 1000", nil)
		return
	case json.Unmarshal([]byte(f.Get("messageJson")), &msg) != nil || msg.NoticeBarInfo.Title == "" || msg.NoticeBarInfo.Content == "":
		answer("1005", "messageJson: noticeBarInfo title and content are required", nil)
		return
	}
	v := s.judge(Meizu, ids)
	if fl := v.whole; fl != nil {
		switch {
		case fl.Hang:
			hang(r)
		case fl.Status == http.StatusTooManyRequests && fl.Reason == "quota":
			answer("110010", "app push rate too high", nil)
		case fl.Status == http.StatusTooManyRequests:
			answer("518", "push over the configured rate", nil)
		case fl.Status == http.StatusUnauthorized:
			answer("1006", "sign check failed", nil)
		default:
			answer("1003", "server busy", nil)
		}
		return
	}
	s.accept(Meizu, ids, v.dead, json.RawMessage(f.Get("messageJson")))
	value := map[string][]string{}
	if len(v.dead) > 0 {
		value["110003"] = v.dead
	}
	answer("200", "", value)
}
