package pushworker

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	firebase "firebase.google.com/go/v4"
	"firebase.google.com/go/v4/errorutils"
	"firebase.google.com/go/v4/messaging"
	"github.com/sideshow/apns2"
	"github.com/sideshow/apns2/certificate"
	"github.com/sideshow/apns2/token"
	"golang.org/x/net/http2"
	"golang.org/x/oauth2"
	"golang.org/x/oauth2/google"
	"google.golang.org/api/option"

	"github.com/chatgate/chatgate/internal/config"
	"github.com/chatgate/chatgate/store"
)

// Result kinds of one send.
const (
	resOK      = iota // accepted by the provider
	resInvalid        // the token is dead: remove it
	resRetry          // try again later (429, 5xx, timeout, network)
	resFail           // permanent (413, 403, bad payload, no credentials): counted as an error
)

type result struct {
	kind   int
	reason string
	// invalidAt is APNs's 410 timestamp (unix ms; 0: unknown).
	invalidAt int64
	// pause is how long FCM asked the app to stop sending (429 Retry-After).
	pause time.Duration
}

// appClients are one app's provider clients, built from configuration.
type appClients struct {
	id    string
	apns  *apns2.Client
	topic string
	fcm   *messaging.Client
	tz    *time.Location
	// fcmPausedUntil (unix ms) is set by an FCM 429: nothing is sent to
	// FCM for the app before it.
	fcmPausedUntil atomic.Int64
}

func loadPool(caFile string) (*x509.CertPool, error) {
	if caFile == "" {
		return nil, nil
	}
	pem, err := os.ReadFile(caFile)
	if err != nil {
		return nil, fmt.Errorf("ca_file: %w", err)
	}
	pool, err := x509.SystemCertPool()
	if err != nil || pool == nil {
		pool = x509.NewCertPool()
	}
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("ca_file %s: no PEM certificate", caFile)
	}
	return pool, nil
}

func newAppClients(ctx context.Context, a config.App, cfg config.Push, fallback *time.Location) (*appClients, error) {
	ac := &appClients{id: a.ID, tz: fallback}
	if a.Push.TimeZone != "" {
		loc, err := time.LoadLocation(a.Push.TimeZone)
		if err != nil {
			return nil, fmt.Errorf("app %s: time_zone: %w", a.ID, err)
		}
		ac.tz = loc
	}
	if a.Push.APNs.Enabled() {
		c, err := newAPNs(a.Push.APNs, cfg)
		if err != nil {
			return nil, fmt.Errorf("app %s: apns: %w", a.ID, err)
		}
		ac.apns, ac.topic = c, a.Push.APNs.Topic
	}
	if a.Push.FCM.Enabled() {
		c, err := newFCM(ctx, a.Push.FCM, cfg)
		if err != nil {
			return nil, fmt.Errorf("app %s: fcm: %w", a.ID, err)
		}
		ac.fcm = c
	}
	return ac, nil
}

func newAPNs(c config.APNs, cfg config.Push) (*apns2.Client, error) {
	var client *apns2.Client
	var certs []tls.Certificate
	if c.KeyFile != "" {
		key, err := token.AuthKeyFromFile(c.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("key_file: %w", err)
		}
		client = apns2.NewTokenClient(&token.Token{AuthKey: key, KeyID: c.KeyID, TeamID: c.TeamID})
	} else {
		var cert tls.Certificate
		var err error
		if strings.HasSuffix(strings.ToLower(c.CertFile), ".p12") {
			cert, err = certificate.FromP12File(c.CertFile, c.CertPassword)
		} else {
			cert, err = certificate.FromPemFile(c.CertFile, c.CertPassword)
		}
		if err != nil {
			return nil, fmt.Errorf("cert_file: %w", err)
		}
		client = apns2.NewClient(cert)
		certs = []tls.Certificate{cert}
	}
	if c.Production {
		client.Production()
	} else {
		client.Development()
	}
	if c.Host != "" {
		client.Host = strings.TrimSuffix(c.Host, "/")
	}
	pool, err := loadPool(c.CAFile)
	if err != nil {
		return nil, err
	}
	// One HTTP/2 transport multiplexes many requests per connection and
	// opens more connections when the server's stream limit is reached.
	client.HTTPClient = &http.Client{
		Timeout: cfg.SendTimeout,
		Transport: &http2.Transport{
			TLSClientConfig: &tls.Config{RootCAs: pool, Certificates: certs},
			ReadIdleTimeout: 15 * time.Second,
			PingTimeout:     5 * time.Second,
		},
	}
	return client, nil
}

// fcmScopes are what a service account needs to send.
var fcmScopes = []string{"https://www.googleapis.com/auth/firebase.messaging", "https://www.googleapis.com/auth/cloud-platform"}

func newFCM(ctx context.Context, c config.FCM, cfg config.Push) (*messaging.Client, error) {
	js, err := os.ReadFile(c.CredentialsFile)
	if err != nil {
		return nil, fmt.Errorf("credentials_file: %w", err)
	}
	pool, err := loadPool(c.CAFile)
	if err != nil {
		return nil, err
	}
	base := http.DefaultTransport.(*http.Transport).Clone()
	base.TLSClientConfig = &tls.Config{RootCAs: pool}
	base.ForceAttemptHTTP2 = true
	base.MaxIdleConnsPerHost = 256
	// The token source fetches OAuth tokens from the key file's token_uri
	// with the client in its context: the same trust as the sends.
	tokCtx := context.WithValue(context.WithoutCancel(ctx), oauth2.HTTPClient, &http.Client{Transport: base, Timeout: cfg.SendTimeout})
	creds, err := google.CredentialsFromJSONWithType(tokCtx, js, google.ServiceAccount, fcmScopes...)
	if err != nil {
		return nil, fmt.Errorf("credentials_file: %w", err)
	}
	project := c.ProjectID
	if project == "" {
		project = creds.ProjectID
	}
	if project == "" {
		return nil, errors.New("project_id is not set and the key file names none")
	}
	hc := &http.Client{Timeout: cfg.SendTimeout, Transport: &oauth2.Transport{Source: creds.TokenSource, Base: base}}
	opts := []option.ClientOption{option.WithHTTPClient(hc)}
	if c.Endpoint != "" {
		opts = append(opts, option.WithEndpoint(strings.TrimSuffix(c.Endpoint, "/")))
	}
	app, err := firebase.NewApp(ctx, &firebase.Config{ProjectID: project}, opts...)
	if err != nil {
		return nil, fmt.Errorf("firebase app: %w", err)
	}
	return app.Messaging(ctx)
}

// sendAPNs sends one notification and classifies the answer.
func (a *appClients) sendAPNs(ctx context.Context, tok string, payload []byte, h apnsHeaders) result {
	res, err := a.apns.PushWithContext(ctx, &apns2.Notification{
		DeviceToken: tok, Topic: a.topic, Payload: payload,
		PushType: h.PushType, Priority: h.Priority, CollapseID: h.CollapseID,
	})
	if err != nil {
		return result{kind: resRetry, reason: "network"}
	}
	switch {
	case res.StatusCode == http.StatusOK:
		return result{kind: resOK}
	case res.StatusCode == http.StatusGone:
		var at int64
		if !res.Timestamp.IsZero() {
			at = res.Timestamp.UnixMilli()
		}
		return result{kind: resInvalid, reason: res.Reason, invalidAt: at}
	case res.StatusCode == http.StatusBadRequest && (res.Reason == apns2.ReasonBadDeviceToken || res.Reason == apns2.ReasonDeviceTokenNotForTopic):
		return result{kind: resInvalid, reason: res.Reason}
	case res.StatusCode == http.StatusTooManyRequests || res.StatusCode >= 500:
		return result{kind: resRetry, reason: "http_" + strconv.Itoa(res.StatusCode)}
	default:
		return result{kind: resFail, reason: "http_" + strconv.Itoa(res.StatusCode) + "_" + res.Reason}
	}
}

// classifyFCM maps one FCM answer to a result.
func classifyFCM(err error) result {
	switch {
	case err == nil:
		return result{kind: resOK}
	case messaging.IsUnregistered(err), messaging.IsSenderIDMismatch(err):
		return result{kind: resInvalid, reason: "unregistered"}
	case messaging.IsQuotaExceeded(err):
		r := result{kind: resRetry, reason: "http_429", pause: time.Second}
		if resp := errorutils.HTTPResponse(err); resp != nil {
			if s, perr := strconv.Atoi(resp.Header.Get("Retry-After")); perr == nil && s > 0 {
				r.pause = time.Duration(s) * time.Second
			}
		}
		return r
	case messaging.IsUnavailable(err), messaging.IsInternal(err):
		return result{kind: resRetry, reason: "http_5xx"}
	}
	if resp := errorutils.HTTPResponse(err); resp != nil {
		if resp.StatusCode >= 500 {
			return result{kind: resRetry, reason: "http_" + strconv.Itoa(resp.StatusCode)}
		}
		return result{kind: resFail, reason: "http_" + strconv.Itoa(resp.StatusCode)}
	}
	// No HTTP answer: a timeout or a network error.
	return result{kind: resRetry, reason: "network"}
}

// credentialSummaries describes the configured credentials without their
// secrets, for /push/certificate.
func credentialSummaries(a config.App) []store.PushCredential {
	var out []store.PushCredential
	if c := a.Push.APNs; c.Enabled() {
		pc := store.PushCredential{Provider: providerAPNs, Production: c.Production, Name: c.Topic, Key: c.KeyID}
		if c.CertFile != "" {
			if cert, err := os.ReadFile(c.CertFile); err == nil && strings.Contains(string(cert), "BEGIN CERTIFICATE") {
				pc.Certificate = publicPEM(cert)
			}
		}
		out = append(out, pc)
	}
	if c := a.Push.FCM; c.Enabled() {
		project := c.ProjectID
		if project == "" {
			// As the sender does: the key file names the project.
			var key struct {
				ProjectID string `json:"project_id"`
			}
			if js, err := os.ReadFile(c.CredentialsFile); err == nil && json.Unmarshal(js, &key) == nil {
				project = key.ProjectID
			}
		}
		out = append(out, store.PushCredential{Provider: providerFCM, Production: true, Name: project, Key: project})
	}
	return out
}

// publicPEM keeps only the CERTIFICATE blocks of a PEM file: never a key.
func publicPEM(b []byte) string {
	var out strings.Builder
	s := string(b)
	for {
		i := strings.Index(s, "-----BEGIN CERTIFICATE-----")
		if i < 0 {
			break
		}
		j := strings.Index(s[i:], "-----END CERTIFICATE-----")
		if j < 0 {
			break
		}
		end := i + j + len("-----END CERTIFICATE-----")
		out.WriteString(s[i:end])
		out.WriteString("\n")
		s = s[end:]
	}
	return out.String()
}

// PublishCredentials writes the public summaries of every configured app's
// credentials to the store, for /push/certificate on any admin process.
func PublishCredentials(ctx context.Context, st *store.Store, apps []config.App) error {
	for _, a := range apps {
		if err := st.PutPushCredentials(ctx, a.ID, credentialSummaries(a)); err != nil {
			return err
		}
	}
	return nil
}
