// Package fakepush is a stand-in for Apple's APNs provider API, Google's
// FCM HTTP v1 API and the Chinese phone makers' push APIs (Huawei, Honor,
// Xiaomi, OPPO, vivo, Meizu: makers.go), close enough to the real services that the real client
// libraries (github.com/sideshow/apns2, firebase.google.com/go/v4) talk to
// it unchanged: APNs over HTTP/2 with TLS, checking the provider JWT
// (ES256, key id, team id), the topic, the device token format and the
// payload size as Apple does; FCM on /v1/projects/{project}/messages:send
// with Google's OAuth2 service-account token endpoint and FCM's error
// bodies. Latency, per-token and global faults (any status, Retry-After,
// hangs) can be injected while it runs, and counters of what it received
// are readable by tests, the push benchmark and the load test.
//
// Start one with Start; point apns2 at Server.URL (Client.Host) trusting
// Server.CertPool, and firebase at Server.URL+"/v1" with
// Server.ServiceAccountJSON (whose token_uri is this server).
package fakepush

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"golang.org/x/time/rate"
)

// Provider names.
const (
	APNs = "apns"
	FCM  = "fcm"
)

// MaxPayload is the largest payload both services accept (bytes).
const MaxPayload = 4096

// Options configure a fake.
type Options struct {
	// Addr to listen on; empty: 127.0.0.1:0.
	Addr string
	// Latency is added to every APNs and FCM answer.
	Latency time.Duration
	// TeamID, KeyID and Topic are what APNs requests must carry.
	// Defaults: "TEAM123456", "KEY1234567", "com.example.chat".
	TeamID, KeyID, Topic string
	// Project is the FCM project id requests must name. Default "fake-project".
	Project string
	// KeepPayloads keeps every accepted payload per token (tests); without
	// it only counts are kept, so a million-push benchmark stays small.
	KeepPayloads bool
}

// Fault is an injected failure.
type Fault struct {
	// Status is the HTTP status to answer (410, 400, 429, 500, 503, ...).
	Status int
	// Reason is the APNs reason or the FCM errorCode; empty: the usual
	// one for Status.
	Reason string
	// Times is how many requests fail before the fault clears; 0: forever.
	Times int
	// RetryAfter, when set, is sent as the Retry-After header.
	RetryAfter time.Duration
	// Timestamp is the APNs 410 timestamp (when the token became invalid).
	Timestamp time.Time
	// Hang holds the request until the client gives up.
	Hang bool
}

// Notification is one accepted push.
type Notification struct {
	Provider string
	Token    string
	// Topic, PushType, CollapseID, Priority are APNs headers.
	Topic, PushType, CollapseID, Priority string
	Payload                               json.RawMessage
	At                                    time.Time
}

// Stats are the counters of one provider.
type Stats struct {
	Requests int64
	Accepted int64
	// ByStatus counts answers per HTTP status, 200 included.
	ByStatus map[int]int64
	// Tokens is the number of distinct tokens that had a push accepted.
	Tokens int
}

// Server is a running fake.
type Server struct {
	// URL is https://host:port: APNs at /3/device/<token>, FCM at
	// /v1/projects/<project>/messages:send, OAuth at /token.
	URL      string
	Addr     string
	CertPool *x509.CertPool
	// CertPEM is the fake's self-signed certificate, for processes that
	// read the CA from a file.
	CertPEM []byte
	opts    Options

	apnsKey *ecdsa.PrivateKey
	saKey   *rsa.PrivateKey
	srv     *http.Server
	ln      net.Listener

	latency atomic.Int64

	mu       sync.Mutex
	stats    map[string]*Stats
	accepted map[string]map[string]int // provider -> token -> count
	payloads map[string][]Notification // provider+"/"+token
	tokFault map[string]*Fault         // provider+"/"+token
	global   map[string]*Fault         // provider
	tokens   map[string]bool           // issued OAuth access tokens
	limits   map[string]*rate.Limiter  // provider -> tokens per second
	quotas   map[string]int64          // provider -> accepted pushes allowed
	// authRequests counts token endpoint requests per maker.
	authRequests map[string]int
}

// Start runs a fake until ctx ends or Close is called.
func Start(ctx context.Context, opts Options) (*Server, error) {
	if opts.Addr == "" {
		opts.Addr = "127.0.0.1:0"
	}
	if opts.TeamID == "" {
		opts.TeamID = "TEAM123456"
	}
	if opts.KeyID == "" {
		opts.KeyID = "KEY1234567"
	}
	if opts.Topic == "" {
		opts.Topic = "com.example.chat"
	}
	if opts.Project == "" {
		opts.Project = "fake-project"
	}
	s := &Server{opts: opts, stats: map[string]*Stats{}, accepted: map[string]map[string]int{},
		payloads: map[string][]Notification{}, tokFault: map[string]*Fault{}, global: map[string]*Fault{}, tokens: map[string]bool{},
		limits: map[string]*rate.Limiter{}, quotas: map[string]int64{}, authRequests: map[string]int{}}
	s.latency.Store(int64(opts.Latency))
	for _, p := range Providers {
		s.stats[p] = &Stats{ByStatus: map[int]int64{}}
		s.accepted[p] = map[string]int{}
	}
	var err error
	if s.apnsKey, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader); err != nil {
		return nil, fmt.Errorf("fakepush: apns key: %w", err)
	}
	if s.saKey, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
		return nil, fmt.Errorf("fakepush: service account key: %w", err)
	}
	cert, certPEM, err := selfSigned()
	if err != nil {
		return nil, err
	}
	s.CertPEM = certPEM
	s.CertPool = x509.NewCertPool()
	s.CertPool.AppendCertsFromPEM(certPEM)

	ln, err := net.Listen("tcp", opts.Addr)
	if err != nil {
		return nil, fmt.Errorf("fakepush: listen: %w", err)
	}
	s.ln = ln
	s.Addr = ln.Addr().String()
	s.URL = "https://" + s.Addr
	mux := http.NewServeMux()
	mux.HandleFunc("POST /3/device/{token}", s.apns)
	mux.HandleFunc("POST /v1/projects/{project}/messages:send", s.fcm)
	mux.HandleFunc("POST /token", s.oauth)
	s.routeMakers(mux)
	s.srv = &http.Server{
		Handler:           mux,
		ReadHeaderTimeout: 10 * time.Second,
		TLSConfig:         &tls.Config{Certificates: []tls.Certificate{cert}, NextProtos: []string{"h2", "http/1.1"}},
		// Apple allows many concurrent streams per connection; so does
		// the fake, so that one client connection can keep hundreds of
		// requests in flight.
		HTTP2: &http.HTTP2Config{MaxConcurrentStreams: 1000},
	}
	// ServeTLS with the certificate in TLSConfig negotiates HTTP/2.
	go func() { _ = s.srv.ServeTLS(ln, "", "") }()
	go func() {
		<-ctx.Done()
		s.Close()
	}()
	return s, nil
}

// Close stops the fake.
func (s *Server) Close() error { return s.srv.Close() }

// SetLatency changes the latency of every later answer.
func (s *Server) SetLatency(d time.Duration) { s.latency.Store(int64(d)) }

// TeamID, KeyID, Topic and Project are what the fake expects.
func (s *Server) TeamID() string  { return s.opts.TeamID }
func (s *Server) KeyID() string   { return s.opts.KeyID }
func (s *Server) Topic() string   { return s.opts.Topic }
func (s *Server) Project() string { return s.opts.Project }

// APNsKeyPEM is the provider token signing key in Apple's .p8 form
// (PKCS #8 PEM).
func (s *Server) APNsKeyPEM() []byte {
	der, _ := x509.MarshalPKCS8PrivateKey(s.apnsKey)
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
}

// ServiceAccountJSON is a Google service-account key file for the fake's
// project whose token_uri is the fake.
func (s *Server) ServiceAccountJSON() []byte {
	der, _ := x509.MarshalPKCS8PrivateKey(s.saKey)
	b, _ := json.Marshal(map[string]string{
		"type":           "service_account",
		"project_id":     s.opts.Project,
		"private_key_id": "fakekey1",
		"private_key":    string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})),
		"client_email":   "push@" + s.opts.Project + ".iam.gserviceaccount.com",
		"client_id":      "1",
		"auth_uri":       s.URL + "/auth",
		"token_uri":      s.URL + "/token",
	})
	return b
}

// FailToken makes requests for token fail with f (Times of them, or all).
func (s *Server) FailToken(provider, token string, f Fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.tokFault[provider+"/"+token] = &f
}

// FailNext makes the next requests of provider fail with f, whatever token.
func (s *Server) FailNext(provider string, f Fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.global[provider] = &f
}

// ClearFaults removes every injected fault.
func (s *Server) ClearFaults() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.tokFault = map[string]*Fault{}
	s.global = map[string]*Fault{}
}

// Stats returns a copy of provider's counters.
func (s *Server) Stats(provider string) Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := *s.stats[provider]
	st.ByStatus = make(map[int]int64, len(s.stats[provider].ByStatus))
	for k, v := range s.stats[provider].ByStatus {
		st.ByStatus[k] = v
	}
	st.Tokens = len(s.accepted[provider])
	return st
}

// Count is how many pushes to token provider accepted.
func (s *Server) Count(provider, token string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.accepted[provider][token]
}

// Received returns the accepted pushes to token (KeepPayloads only).
func (s *Server) Received(provider, token string) []Notification {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Notification(nil), s.payloads[provider+"/"+token]...)
}

// Reset zeroes every counter and forgets what was received.
func (s *Server) Reset() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, p := range Providers {
		s.stats[p] = &Stats{ByStatus: map[int]int64{}}
		s.accepted[p] = map[string]int{}
	}
	s.payloads = map[string][]Notification{}
}

// fault returns the fault that applies to this request, consuming one of
// its Times.
func (s *Server) fault(provider, token string) *Fault {
	s.mu.Lock()
	defer s.mu.Unlock()
	take := func(m map[string]*Fault, key string) *Fault {
		f := m[key]
		if f == nil {
			return nil
		}
		out := *f
		if f.Times > 0 {
			f.Times--
			if f.Times == 0 {
				delete(m, key)
			}
		}
		return &out
	}
	if f := take(s.tokFault, provider+"/"+token); f != nil {
		return f
	}
	return take(s.global, provider)
}

func (s *Server) record(provider string, status int, n *Notification) {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.stats[provider]
	st.Requests++
	st.ByStatus[status]++
	if n == nil {
		return
	}
	st.Accepted++
	s.accepted[provider][n.Token]++
	if s.opts.KeepPayloads {
		key := provider + "/" + n.Token
		s.payloads[key] = append(s.payloads[key], *n)
	}
}

// wait applies the latency; false when the client went away meanwhile.
func (s *Server) wait(r *http.Request) bool {
	d := time.Duration(s.latency.Load())
	if d <= 0 {
		return true
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-r.Context().Done():
		return false
	}
}

// apns answers like https://api.push.apple.com/3/device/<token>.
func (s *Server) apns(w http.ResponseWriter, r *http.Request) {
	token := r.PathValue("token")
	apnsErr := func(status int, reason string, ts time.Time) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("apns-id", r.Header.Get("apns-id"))
		w.WriteHeader(status)
		body := map[string]any{"reason": reason}
		if !ts.IsZero() {
			body["timestamp"] = ts.UnixMilli()
		}
		_ = json.NewEncoder(w).Encode(body)
		s.record(APNs, status, nil)
	}
	if !s.wait(r) {
		return
	}
	if r.ProtoMajor != 2 {
		// Apple speaks HTTP/2 only.
		apnsErr(http.StatusMethodNotAllowed, "MethodNotAllowed", time.Time{})
		return
	}
	if reason := s.checkProviderToken(r.Header.Get("authorization")); reason != "" {
		apnsErr(http.StatusForbidden, reason, time.Time{})
		return
	}
	topic := r.Header.Get("apns-topic")
	switch {
	case topic == "":
		apnsErr(http.StatusBadRequest, "MissingTopic", time.Time{})
		return
	case topic != s.opts.Topic && topic != s.opts.Topic+".voip":
		apnsErr(http.StatusBadRequest, "TopicDisallowed", time.Time{})
		return
	case !validAPNsToken(token):
		apnsErr(http.StatusBadRequest, "BadDeviceToken", time.Time{})
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, 64<<10))
	if err != nil {
		return
	}
	switch {
	case len(body) == 0:
		apnsErr(http.StatusBadRequest, "PayloadEmpty", time.Time{})
		return
	case len(body) > MaxPayload:
		apnsErr(http.StatusRequestEntityTooLarge, "PayloadTooLarge", time.Time{})
		return
	case !json.Valid(body):
		apnsErr(http.StatusBadRequest, "BadPayload", time.Time{})
		return
	}
	if f := s.fault(APNs, token); f != nil {
		if f.Hang {
			<-r.Context().Done()
			return
		}
		if f.RetryAfter > 0 {
			w.Header().Set("Retry-After", strconv.Itoa(int(f.RetryAfter.Seconds()+0.5)))
		}
		reason := f.Reason
		if reason == "" {
			reason = apnsReason(f.Status)
		}
		ts := f.Timestamp
		if f.Status == http.StatusGone && ts.IsZero() {
			ts = time.Now()
		}
		apnsErr(f.Status, reason, ts)
		return
	}
	id := r.Header.Get("apns-id")
	if id == "" {
		id = newUUID()
	}
	w.Header().Set("apns-id", id)
	w.WriteHeader(http.StatusOK)
	s.record(APNs, http.StatusOK, &Notification{
		Provider: APNs, Token: token, Topic: topic, PushType: r.Header.Get("apns-push-type"),
		CollapseID: r.Header.Get("apns-collapse-id"), Priority: r.Header.Get("apns-priority"),
		Payload: body, At: time.Now(),
	})
}

// checkProviderToken verifies an APNs provider JWT as Apple does: ES256,
// signed by the registered key, kid and iss matching, not older than an
// hour. It returns the APNs reason on failure.
func (s *Server) checkProviderToken(h string) string {
	raw, ok := strings.CutPrefix(h, "bearer ")
	if !ok || raw == "" {
		return "MissingProviderToken"
	}
	var claims jwt.MapClaims
	tok, err := jwt.ParseWithClaims(raw, &claims, func(t *jwt.Token) (any, error) {
		if kid, _ := t.Header["kid"].(string); kid != s.opts.KeyID {
			return nil, errors.New("unknown key id")
		}
		return &s.apnsKey.PublicKey, nil
	}, jwt.WithValidMethods([]string{"ES256"}))
	if err != nil || !tok.Valid {
		return "InvalidProviderToken"
	}
	if iss, _ := claims["iss"].(string); iss != s.opts.TeamID {
		return "InvalidProviderToken"
	}
	iat, err := claims.GetIssuedAt()
	if err != nil || iat == nil || time.Since(iat.Time) > time.Hour {
		return "ExpiredProviderToken"
	}
	return ""
}

// validAPNsToken accepts what Apple issues: an even number (64 to 200) of
// hex digits.
func validAPNsToken(t string) bool {
	if len(t) < 64 || len(t) > 200 || len(t)%2 != 0 {
		return false
	}
	_, err := hex.DecodeString(t)
	return err == nil
}

func apnsReason(status int) string {
	switch status {
	case http.StatusGone:
		return "Unregistered"
	case http.StatusBadRequest:
		return "BadDeviceToken"
	case http.StatusForbidden:
		return "InvalidProviderToken"
	case http.StatusRequestEntityTooLarge:
		return "PayloadTooLarge"
	case http.StatusTooManyRequests:
		return "TooManyRequests"
	case http.StatusServiceUnavailable:
		return "ServiceUnavailable"
	default:
		return "InternalServerError"
	}
}

// oauth is Google's token endpoint for the JWT-bearer grant of a service
// account: it checks the assertion's RS256 signature and audience and
// issues an access token the FCM endpoint accepts.
func (s *Server) oauth(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		http.Error(w, `{"error":"invalid_request"}`, http.StatusBadRequest)
		return
	}
	if r.PostForm.Get("grant_type") != "urn:ietf:params:oauth:grant-type:jwt-bearer" {
		http.Error(w, `{"error":"unsupported_grant_type"}`, http.StatusBadRequest)
		return
	}
	var claims jwt.RegisteredClaims
	_, err := jwt.ParseWithClaims(r.PostForm.Get("assertion"), &claims, func(*jwt.Token) (any, error) {
		return &s.saKey.PublicKey, nil
	}, jwt.WithValidMethods([]string{"RS256"}), jwt.WithAudience(s.URL+"/token"))
	if err != nil {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusBadRequest)
		_, _ = io.WriteString(w, `{"error":"invalid_grant","error_description":"Invalid JWT Signature."}`)
		return
	}
	access := "ya29.fake-" + newUUID()
	s.mu.Lock()
	s.tokens[access] = true
	s.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{"access_token": access, "token_type": "Bearer", "expires_in": 3600})
}

// fcmRequest is the part of an FCM v1 send request the fake checks.
type fcmRequest struct {
	ValidateOnly bool `json:"validate_only"`
	Message      struct {
		Token        string            `json:"token"`
		Topic        string            `json:"topic"`
		Condition    string            `json:"condition"`
		Data         map[string]string `json:"data"`
		Notification json.RawMessage   `json:"notification"`
		Android      json.RawMessage   `json:"android"`
		APNS         json.RawMessage   `json:"apns"`
	} `json:"message"`
}

// fcm answers like https://fcm.googleapis.com/v1/projects/<p>/messages:send.
func (s *Server) fcm(w http.ResponseWriter, r *http.Request) {
	if !s.wait(r) {
		return
	}
	if r.PathValue("project") != s.opts.Project {
		// A wrong project is a credentials problem, not a token's: no
		// FcmError detail, as Google answers.
		s.fcmErr(w, http.StatusForbidden, "PERMISSION_DENIED", "", "Permission denied on project.", 0)
		return
	}
	access, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	s.mu.Lock()
	known := s.tokens[access]
	s.mu.Unlock()
	if !ok || !known {
		s.fcmErr(w, http.StatusUnauthorized, "UNAUTHENTICATED", "THIRD_PARTY_AUTH_ERROR", "Request had invalid authentication credentials.", 0)
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, 256<<10))
	if err != nil {
		return
	}
	var req fcmRequest
	if err := json.Unmarshal(body, &req); err != nil {
		s.fcmErr(w, http.StatusBadRequest, "INVALID_ARGUMENT", "INVALID_ARGUMENT", "Invalid JSON payload received.", 0)
		return
	}
	m := req.Message
	if m.Token == "" && m.Topic == "" && m.Condition == "" {
		s.fcmErr(w, http.StatusBadRequest, "INVALID_ARGUMENT", "INVALID_ARGUMENT", "Recipient of the message is not set.", 0)
		return
	}
	// FCM caps the data and notification payload at 4096 bytes.
	size := len(m.Notification)
	for k, v := range m.Data {
		size += len(k) + len(v)
	}
	if size > MaxPayload {
		s.fcmErr(w, http.StatusBadRequest, "INVALID_ARGUMENT", "INVALID_ARGUMENT", "Message is too big", 0)
		return
	}
	if f := s.fault(FCM, m.Token); f != nil {
		if f.Hang {
			<-r.Context().Done()
			return
		}
		code := f.Reason
		if code == "" {
			code = fcmCode(f.Status)
		}
		s.fcmErr(w, f.Status, fcmStatus(f.Status), code, "injected fault", f.RetryAfter)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	name := "projects/" + s.opts.Project + "/messages/" + newUUID()
	_ = json.NewEncoder(w).Encode(map[string]string{"name": name})
	if req.ValidateOnly {
		s.record(FCM, http.StatusOK, nil)
		return
	}
	s.record(FCM, http.StatusOK, &Notification{Provider: FCM, Token: m.Token, Payload: body, At: time.Now()})
}

// fcmErr writes FCM's error body: a google.rpc.Status with an FcmError
// detail carrying the errorCode the client libraries classify by.
func (s *Server) fcmErr(w http.ResponseWriter, status int, rpcStatus, code, msg string, retryAfter time.Duration) {
	w.Header().Set("Content-Type", "application/json")
	if retryAfter > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(int(retryAfter.Seconds()+0.5)))
	}
	w.WriteHeader(status)
	e := map[string]any{"code": status, "message": msg, "status": rpcStatus}
	if code != "" {
		e["details"] = []map[string]string{{"@type": "type.googleapis.com/google.firebase.fcm.v1.FcmError", "errorCode": code}}
	}
	_ = json.NewEncoder(w).Encode(map[string]any{"error": e})
	s.record(FCM, status, nil)
}

func fcmCode(status int) string {
	switch status {
	case http.StatusNotFound:
		return "UNREGISTERED"
	case http.StatusForbidden:
		return "SENDER_ID_MISMATCH"
	case http.StatusTooManyRequests:
		return "QUOTA_EXCEEDED"
	case http.StatusServiceUnavailable:
		return "UNAVAILABLE"
	case http.StatusBadRequest:
		return "INVALID_ARGUMENT"
	case http.StatusUnauthorized:
		return "THIRD_PARTY_AUTH_ERROR"
	default:
		return "INTERNAL"
	}
}

func fcmStatus(status int) string {
	switch status {
	case http.StatusNotFound:
		return "NOT_FOUND"
	case http.StatusForbidden:
		return "PERMISSION_DENIED"
	case http.StatusTooManyRequests:
		return "RESOURCE_EXHAUSTED"
	case http.StatusServiceUnavailable:
		return "UNAVAILABLE"
	case http.StatusBadRequest:
		return "INVALID_ARGUMENT"
	case http.StatusUnauthorized:
		return "UNAUTHENTICATED"
	default:
		return "INTERNAL"
	}
}

func newUUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

// selfSigned makes the fake's TLS certificate for 127.0.0.1 and localhost.
func selfSigned() (tls.Certificate, []byte, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, nil, fmt.Errorf("fakepush: tls key: %w", err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(time.Now().UnixNano()),
		Subject:               pkix.Name{CommonName: "chatgate fakepush"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(10 * 365 * 24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
		IPAddresses:           []net.IP{net.ParseIP("127.0.0.1"), net.ParseIP("::1")},
		DNSNames:              []string{"localhost"},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return tls.Certificate{}, nil, fmt.Errorf("fakepush: tls certificate: %w", err)
	}
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, certPEM, nil
}
