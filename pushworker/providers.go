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
	"github.com/chatgate/chatgate/internal/pushcert"
	"github.com/chatgate/chatgate/pushworker/maker"
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
	// pause is how long the provider asked to stop sending with the
	// certificate (FCM's 429 Retry-After, a maker's throttling or quota).
	pause time.Duration
	// throttled: a rate limit or quota answer (the provider's or the
	// certificate's own); auth: the credentials were refused.
	throttled bool
	auth      bool
}

// appClients are one app's certificates, built from configuration.
type appClients struct {
	id    string
	tz    *time.Location
	certs []pushcert.Cert
	// senders by lower-case certificate name.
	senders map[string]*certSender
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
	ac := &appClients{id: a.ID, tz: fallback, senders: map[string]*certSender{}}
	if a.Push.TimeZone != "" {
		loc, err := time.LoadLocation(a.Push.TimeZone)
		if err != nil {
			return nil, fmt.Errorf("app %s: time_zone: %w", a.ID, err)
		}
		ac.tz = loc
	}
	for _, c := range a.Push.AllCertificates() {
		s, err := newSender(ctx, c, cfg)
		if err != nil {
			return nil, fmt.Errorf("app %s: certificate %s (%s): %w", a.ID, c.Name, c.Provider, err)
		}
		ac.certs = append(ac.certs, pushcert.Cert{Name: c.Name, Provider: c.Provider, Default: c.Default})
		ac.senders[strings.ToLower(c.Name)] = newCertSender(c, s)
	}
	return ac, nil
}

// newSender builds the client of one certificate.
func newSender(ctx context.Context, c config.PushCertificate, cfg config.Push) (sender, error) {
	switch c.Provider {
	case pushcert.APNs:
		cl, err := newAPNs(config.APNs{KeyFile: c.KeyFile, KeyID: c.KeyID, TeamID: c.TeamID, CertFile: c.CertFile, CertPassword: c.CertPassword,
			Topic: c.Topic, Production: c.Production, Host: c.Endpoint, CAFile: c.CAFile}, cfg)
		if err != nil {
			return nil, err
		}
		return &apnsSender{client: cl, topic: c.Topic}, nil
	case pushcert.FCM:
		cl, err := newFCM(ctx, config.FCM{CredentialsFile: c.CredentialsFile, ProjectID: c.ProjectID, Endpoint: c.Endpoint, CAFile: c.CAFile}, cfg)
		if err != nil {
			return nil, err
		}
		return &fcmSender{client: cl, chunk: min(500, cfg.Concurrency)}, nil
	}
	pool, err := loadPool(c.CAFile)
	if err != nil {
		return nil, err
	}
	cl, err := maker.New(c.Provider, maker.Config{AppID: c.AppID, AppKey: c.AppKey, AppSecret: c.AppSecret, MasterSecret: c.MasterSecret,
		ClientID: c.ClientID, ClientSecret: c.ClientSecret, PackageName: c.PackageName, IMChannelID: c.IMChannelID,
		Production: c.Production, Endpoint: c.Endpoint, AuthEndpoint: c.AuthEndpoint, RootCAs: pool, Timeout: cfg.SendTimeout})
	if err != nil {
		return nil, err
	}
	return &makerSender{client: cl, provider: c.Provider}, nil
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

// apnsSender sends through APNs (github.com/sideshow/apns2), one request
// per device over multiplexed HTTP/2.
type apnsSender struct {
	client *apns2.Client
	topic  string
}

func (a *apnsSender) send(ctx context.Context, d *dispatch, _ *certSender, jobs []*job) {
	for _, jb := range jobs {
		payload, h, err := jb.n.apns()
		if err != nil {
			jb.outcome, jb.reason = outError, "encode"
			continue
		}
		if !d.run(ctx, 1, func() {
			t := time.Now()
			jb.res = a.push(ctx, jb.j.PushToken, payload, h)
			d.m.sendSeconds.WithLabelValues(pushcert.APNs).Observe(time.Since(t).Seconds())
		}) {
			jb.res = result{kind: resRetry, reason: "shutdown"}
		}
	}
}

// push sends one notification and classifies the answer.
func (a *apnsSender) push(ctx context.Context, tok string, payload []byte, h apnsHeaders) result {
	res, err := a.client.PushWithContext(ctx, &apns2.Notification{
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

// fcmSender sends through FCM (firebase.google.com/go/v4 messaging):
// SendEach sends each message of a chunk concurrently; a chunk holds at
// most 500 (the library's limit) and as many permits.
type fcmSender struct {
	client *messaging.Client
	chunk  int
}

func (f *fcmSender) send(ctx context.Context, d *dispatch, cs *certSender, jobs []*job) {
	for len(jobs) > 0 {
		part := jobs[:min(f.chunk, len(jobs))]
		jobs = jobs[len(part):]
		if !d.run(ctx, len(part), func() {
			msgs := make([]*messaging.Message, len(part))
			for i, jb := range part {
				msgs[i] = jb.n.fcm(jb.j.PushToken)
			}
			t := time.Now()
			br, err := f.client.SendEach(ctx, msgs)
			d.m.sendSeconds.WithLabelValues(pushcert.FCM).Observe(time.Since(t).Seconds())
			for i, jb := range part {
				if err != nil {
					jb.res = classifyFCM(err)
				} else {
					jb.res = classifyFCM(br.Responses[i].Error)
				}
				if jb.res.pause > 0 {
					cs.pause(jb.res.pause)
				}
			}
		}) {
			for _, jb := range part {
				jb.res = result{kind: resRetry, reason: "shutdown"}
			}
		}
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
		r := result{kind: resRetry, reason: "http_429", pause: time.Second, throttled: true}
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

// credentialSummaries describes the app's certificates without their
// secrets, for /push/certificate and bind-time checks.
func credentialSummaries(a config.App) []store.PushCredential {
	var out []store.PushCredential
	for _, c := range a.Push.AllCertificates() {
		pc := store.PushCredential{Name: c.Name, Provider: c.Provider, Default: c.Default, Production: c.Production}
		switch c.Provider {
		case pushcert.APNs:
			pc.Key, pc.Label = c.KeyID, c.Topic
			if c.CertFile != "" {
				if cert, err := os.ReadFile(c.CertFile); err == nil && strings.Contains(string(cert), "BEGIN CERTIFICATE") {
					pc.Certificate = publicPEM(cert)
				}
			}
		case pushcert.FCM:
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
			pc.Production, pc.Key, pc.Label = true, project, project
		default:
			// The maker's public identifiers; secrets stay in the
			// configuration.
			pc.Key = c.AppID
			if pc.Key == "" {
				pc.Key = c.AppKey
			}
			pc.Label = c.PackageName
			if pc.Label == "" {
				pc.Label = pc.Key
			}
			if c.Provider != pushcert.Vivo {
				pc.Production = true
			}
		}
		out = append(out, pc)
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
