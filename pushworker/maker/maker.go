// Package maker holds chatgate's clients for the phone makers' push
// services, which Android phones sold in China use instead of FCM: Huawei
// Push Kit, Honor Push, Xiaomi Mi Push, OPPO Push, vivo Push and Meizu
// Flyme Push. Each client speaks its maker's documented HTTP API —
// authentication and token refresh, request format, batch limit, answer
// codes — and classifies every answer per device token into the few
// outcomes the push worker acts on (sent, dead token, retry later,
// throttled, permanent failure). None of the makers ships a maintained Go
// SDK (docs/push.md says what exists), hence these small clients.
//
// The clients know nothing of chatgate's jobs: the worker renders a
// Message, a client encodes it once (Encode: the token-independent request
// body) and sends it to up to MaxTokens devices at once (Send).
package maker

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"
)

// MaxPayload is the body size every maker accepts for one message
// (Huawei, Honor and Xiaomi document 4096 bytes; the others less in
// characters, more in bytes).
const MaxPayload = 4096

// Kind is what the worker does with a device after a send.
type Kind int

// Outcomes of one device in one send.
const (
	OK      Kind = iota // accepted by the maker
	Invalid             // the token is dead: remove it
	Retry               // try again later (5xx, timeout, network, throttled)
	Fail                // permanent (bad request, bad credentials): counted
)

// Result is one device's outcome.
type Result struct {
	Kind   Kind
	Reason string
	// Pause is how long the maker asked to stop sending (throttling, a
	// daily quota); 0: none.
	Pause time.Duration
	// Throttled marks a rate-limit or quota answer.
	Throttled bool
	// Auth marks a credentials failure.
	Auth bool
}

// Message is a push as the makers' clients render it.
type Message struct {
	Title, Body string
	// BigText is the expanded text where the maker shows one.
	BigText string
	// Image is a picture URL (Huawei, Honor).
	Image string
	// Silent is a pass-through (data only) push that shows nothing.
	Silent bool
	// IM marks a chat message: sent in the maker's instant-message /
	// service class, which the makers do not cap per device per day.
	IM bool
	// Badge is the absolute badge, when HasBadge (Huawei, Honor).
	Badge    int64
	HasBadge bool
	// Data are app keys (ids, ext) delivered with the notification.
	Data map[string]string
	// Options of the /push/notify maker block (and the android block).
	Sound, ChannelID, ClickAction, Intent, BadgeClass string
	// PushMode (vivo: 0 production, 1 test) and Classification (vivo:
	// 0 operational, 1 system), -1 when not set.
	PushMode, Classification int
	// Tag groups notifications (a conversation).
	Tag string
	// ID identifies the push (vivo's requestId needs one per request).
	ID string
}

// Config is one certificate's credentials and endpoints.
type Config struct {
	AppID, AppKey, AppSecret, MasterSecret, ClientID, ClientSecret, PackageName string
	// IMChannelID is the maker-approved channel for chat messages.
	IMChannelID string
	// Production: vivo's push_mode 0 (false: test pushes).
	Production bool
	// Endpoint and AuthEndpoint override the maker's URLs; RootCAs, when
	// set, are the CAs to trust (nil: the system's).
	Endpoint, AuthEndpoint string
	RootCAs                *x509.CertPool
	// Timeout bounds one request.
	Timeout time.Duration
}

// Client is one maker's client for one certificate.
type Client interface {
	// MaxTokens is how many devices one request reaches.
	MaxTokens() int
	// Encode renders m as the maker's request body, without tokens.
	Encode(m *Message) ([]byte, error)
	// Send sends body to tokens; the results are in tokens' order.
	Send(ctx context.Context, body []byte, tokens []string) []Result
}

// New builds the client of provider ("huawei", "honor", "xiaomi", "oppo",
// "vivo" or "meizu").
func New(provider string, c Config) (Client, error) {
	hc := httpClient(c)
	switch provider {
	case "huawei":
		return newHuawei(c, hc), nil
	case "honor":
		return newHonor(c, hc), nil
	case "xiaomi":
		return newXiaomi(c, hc), nil
	case "oppo":
		return newOPPO(c, hc), nil
	case "vivo":
		return newVivo(c, hc), nil
	case "meizu":
		return newMeizu(c, hc), nil
	}
	return nil, fmt.Errorf("maker: unknown provider %q", provider)
}

func httpClient(c Config) *http.Client {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConnsPerHost = 256
	t.ForceAttemptHTTP2 = true
	if c.RootCAs != nil {
		t.TLSClientConfig = &tls.Config{RootCAs: c.RootCAs}
	}
	timeout := c.Timeout
	if timeout <= 0 {
		timeout = 10 * time.Second
	}
	return &http.Client{Transport: t, Timeout: timeout}
}

func base(override, def string) string {
	if override != "" {
		return strings.TrimSuffix(override, "/")
	}
	return def
}

// all gives every token the same result.
func all(n int, r Result) []Result {
	out := make([]Result, n)
	for i := range out {
		out[i] = r
	}
	return out
}

// Common results.
var (
	resOK = Result{Kind: OK}
)

func retry(reason string) Result { return Result{Kind: Retry, Reason: reason} }
func fail(reason string) Result  { return Result{Kind: Fail, Reason: reason} }
func dead(reason string) Result  { return Result{Kind: Invalid, Reason: reason} }
func authFail(reason string) Result {
	return Result{Kind: Fail, Reason: reason, Auth: true}
}

// throttled is a rate-limit answer: retry after pause (default 1 s).
func throttled(reason string, pause time.Duration) Result {
	if pause <= 0 {
		pause = time.Second
	}
	return Result{Kind: Retry, Reason: reason, Pause: pause, Throttled: true}
}

// quota is a daily-quota answer: nothing more is sent with the
// certificate before the maker's day (China Standard Time) ends.
func quota(reason string, now time.Time) Result {
	cst := time.FixedZone("CST", 8*3600)
	t := now.In(cst)
	next := time.Date(t.Year(), t.Month(), t.Day()+1, 0, 0, 0, 0, cst)
	return Result{Kind: Retry, Reason: reason, Pause: next.Sub(now), Throttled: true}
}

// retryAfter reads a Retry-After header in seconds.
func retryAfter(h http.Header) time.Duration {
	if s, err := strconv.Atoi(h.Get("Retry-After")); err == nil && s > 0 {
		return time.Duration(s) * time.Second
	}
	return 0
}

// httpResult classifies a transport error or an HTTP status that carries
// no maker code: throttling (429, 503), retryable (5xx), else permanent.
func httpResult(err error, resp *http.Response) (Result, bool) {
	if err != nil {
		return retry("network"), true
	}
	switch {
	case resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode == http.StatusServiceUnavailable:
		return throttled("http_"+strconv.Itoa(resp.StatusCode), retryAfter(resp.Header)), true
	case resp.StatusCode >= 500:
		return retry("http_" + strconv.Itoa(resp.StatusCode)), true
	}
	return Result{}, false
}

// do sends a request and decodes a JSON answer into out, whatever the
// status; it returns the response (body closed) or the transport error.
func do(hc *http.Client, req *http.Request, out any) (*http.Response, error) {
	resp, err := hc.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return nil, err
	}
	if out != nil && len(b) > 0 {
		// A body that is not the maker's JSON (a proxy's page) leaves out
		// zero: classified by status.
		_ = json.Unmarshal(b, out)
	}
	return resp, nil
}

func postForm(ctx context.Context, hc *http.Client, u string, form url.Values, h http.Header, out any) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, strings.NewReader(form.Encode()))
	if err != nil {
		return nil, err
	}
	for k, v := range h {
		req.Header[k] = v
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded;charset=UTF-8")
	return do(hc, req, out)
}

func postJSON(ctx context.Context, hc *http.Client, u string, body []byte, h http.Header, out any) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, strings.NewReader(string(body)))
	if err != nil {
		return nil, err
	}
	for k, v := range h {
		req.Header[k] = v
	}
	req.Header.Set("Content-Type", "application/json;charset=UTF-8")
	return do(hc, req, out)
}

// errAuth is a token endpoint's refusal of the credentials.
var errAuth = errors.New("maker: credentials refused")

// authBackoff is how long a refused credential is not asked again: a
// wrong secret must not turn every push into a token request.
const authBackoff = 30 * time.Second

// tokenCache holds one certificate's access token, fetched on demand,
// refreshed a minute before it expires or when the maker says it is
// stale, and not fetched again for authBackoff after the maker refused the
// credentials.
type tokenCache struct {
	fetch func(ctx context.Context) (token string, ttl time.Duration, err error)

	mu          sync.Mutex
	token       string
	expires     time.Time
	failedUntil time.Time
	failErr     error
}

func (t *tokenCache) get(ctx context.Context) (string, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	now := time.Now()
	if t.token != "" && now.Before(t.expires) {
		return t.token, nil
	}
	if now.Before(t.failedUntil) {
		return "", t.failErr
	}
	tok, ttl, err := t.fetch(ctx)
	if err != nil {
		if errors.Is(err, errAuth) {
			t.failedUntil, t.failErr = now.Add(authBackoff), err
		}
		return "", err
	}
	if ttl > 2*time.Minute {
		ttl -= time.Minute
	}
	t.token, t.expires = tok, now.Add(ttl)
	return tok, nil
}

// drop forgets a token the maker called stale.
func (t *tokenCache) drop(tok string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.token == tok {
		t.token = ""
	}
}

// send runs one request with the cache's access token: fn returns the
// results, or the maker's code when it called the token stale, in which
// case the token is dropped and fn runs once more with a fresh one; a
// second stale answer means the maker refuses the credentials.
func (t *tokenCache) send(ctx context.Context, n int, fn func(tok string) (res []Result, stale string)) []Result {
	for attempt := 0; ; attempt++ {
		tok, err := t.get(ctx)
		if err != nil {
			return all(n, authResult(err))
		}
		res, stale := fn(tok)
		if stale == "" {
			return res
		}
		t.drop(tok)
		if attempt > 0 {
			return all(n, authFail(stale))
		}
	}
}

// authResult is the result of every token of a send whose token fetch
// failed.
func authResult(err error) Result {
	if errors.Is(err, errAuth) {
		return authFail("auth")
	}
	return retry("auth_unavailable")
}
