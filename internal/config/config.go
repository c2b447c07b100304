// Package config owns chatgate's configuration: the YAML file, the
// environment overrides (CHATGATE_<SECTION>_<KEY>, derived from the YAML
// names) and the defaults. docs/configuration.md is the reference.
package config

import (
	"bytes"
	"fmt"
	"os"
	"reflect"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/chatgate/chatgate/internal/pushcert"
	"github.com/chatgate/chatgate/protocol"
)

// Roles a process can run.
const (
	RoleGateway    = "gateway"
	RoleRouter     = "router"
	RolePushWorker = "pushworker"
	RoleAdmin      = "admin"
)

// Config is the whole configuration of one chatgate process.
type Config struct {
	// Node names this process in routes and delivery streams. Empty: the
	// host name plus a random suffix, so a restarted process never reads
	// the stale deliveries of its previous life.
	Node string `yaml:"node"`
	// Roles this process runs; empty or "all": every role.
	Roles []string `yaml:"roles"`

	Redis   Redis   `yaml:"redis"`
	Gateway Gateway `yaml:"gateway"`
	Router  Router  `yaml:"router"`
	Store   Store   `yaml:"store"`
	Admin   Admin   `yaml:"admin"`
	Push    Push    `yaml:"push"`
	Groups  Groups  `yaml:"groups"`
	Metrics Metrics `yaml:"metrics"`
	Log     Log     `yaml:"log"`
	Files   Files   `yaml:"files"`
	// Apps are created (or updated) in the store at start.
	Apps []App `yaml:"apps"`
	// DevApp is the app the embedded mode creates and prints an admin
	// token for, so that a new user can try chatgate at once.
	DevApp string `yaml:"dev_app"`
}

// Redis says where Redis is. With no address, chatgate runs embedded.
type Redis struct {
	// Addr is host:port of one Redis; empty with no Addrs: embedded mode.
	Addr string `yaml:"addr"`
	// Addrs are the seed nodes of a Redis Cluster.
	Addrs    []string `yaml:"addrs"`
	Username string   `yaml:"username"`
	Password string   `yaml:"password"`
	DB       int      `yaml:"db"`
	PoolSize int      `yaml:"pool_size"`
}

// Embedded reports whether no Redis is configured.
func (r Redis) Embedded() bool { return r.Addr == "" && len(r.Addrs) == 0 }

// Gateway configures the WebSocket gateway role.
type Gateway struct {
	Listen string `yaml:"listen"`
	Path   string `yaml:"path"`
	// AllowedOrigins are host patterns (path.Match) browsers may connect
	// from; empty allows only same-host origins. Non-browser clients send
	// no Origin and are not affected.
	AllowedOrigins    []string      `yaml:"allowed_origins"`
	Heartbeat         time.Duration `yaml:"heartbeat"`
	IdleTimeout       time.Duration `yaml:"idle_timeout"`
	AuthTimeout       time.Duration `yaml:"auth_timeout"`
	WriteTimeout      time.Duration `yaml:"write_timeout"`
	RouteTTL          time.Duration `yaml:"route_ttl"`
	MaxDevicesPerUser int           `yaml:"max_devices_per_user"`
	SendQueue         int           `yaml:"send_queue"`
	// SendQueueBytes bounds the bytes queued to one connection: past it
	// the connection is kicked as a slow consumer (4105). A frame is
	// always queued to an empty queue, so one large frame (a sync page)
	// never kicks on its own.
	SendQueueBytes int `yaml:"send_queue_bytes"`
	// MaxUnauthenticated caps the connections of one gateway that have not
	// authenticated yet (upgrade refused with HTTP 503 beyond it), and
	// MaxUnauthenticatedPerAddress those from one source address (HTTP
	// 429). 0: no cap.
	MaxUnauthenticated           int             `yaml:"max_unauthenticated"`
	MaxUnauthenticatedPerAddress int             `yaml:"max_unauthenticated_per_address"`
	DrainTimeout                 time.Duration   `yaml:"drain_timeout"`
	MaxConnections               int             `yaml:"max_connections"`
	Limits                       protocol.Limits `yaml:"limits"`
	// Demo serves the browser chat demo under /demo/ on this listener
	// (internal/webdemo) when the process also runs the admin role. The
	// embedded mode always serves it.
	Demo bool `yaml:"demo"`
}

// Router configures the router role.
type Router struct {
	// Partitions is the number of ingress streams. Every process of a
	// cluster must agree on it; changing it needs a drained cluster.
	Partitions int           `yaml:"partitions"`
	Batch      int           `yaml:"batch"`
	LeaseTTL   time.Duration `yaml:"lease_ttl"`
	// PushPartitions is the number of push streams.
	PushPartitions int `yaml:"push_partitions"`
}

// Admin configures the REST API role.
type Admin struct {
	// Listen is the address of the REST API listener.
	Listen string `yaml:"listen"`
	// MaxBodyBytes caps a request body; larger ones get 40013.
	MaxBodyBytes int `yaml:"max_body_bytes"`
	// RequestTimeout bounds one request, including waiting for the router
	// to accept a /message/send.
	RequestTimeout time.Duration `yaml:"request_timeout"`
	ReadTimeout    time.Duration `yaml:"read_timeout"`
	WriteTimeout   time.Duration `yaml:"write_timeout"`
	// RateLimit is the requests per second one app may make to one admin
	// process (token bucket of RateBurst); over it: 40029. 0: no limit.
	RateLimit float64 `yaml:"rate_limit"`
	RateBurst int     `yaml:"rate_burst"`
	// AppCacheTTL is how long an app's secret is cached per process.
	AppCacheTTL time.Duration `yaml:"app_cache_ttl"`
	// UserTokenTTL is the life of user tokens minted by /token/*.
	UserTokenTTL time.Duration `yaml:"user_token_ttl"`
	// PasswordCost is the bcrypt cost of stored passwords (4-16): each
	// step doubles the work of a register, a login and a password check.
	PasswordCost int `yaml:"password_cost"`
	// RevokeTokens is the default of the revoke_tokens option of
	// /user/change_password, /user/change_password_admin, /user/disable
	// and /user/enable: revoke every token the user was issued before.
	RevokeTokens bool `yaml:"revoke_tokens"`
}

// Store configures retention.
type Store struct {
	Retention  time.Duration `yaml:"retention"`
	InboxMax   int64         `yaml:"inbox_max"`
	HistoryMax int64         `yaml:"history_max"`
	IdemTTL    time.Duration `yaml:"idem_ttl"`
}

// Metrics configures the operations HTTP listener: /metrics, /healthz,
// /readyz, and /debug/pprof/ when Pprof is on.
type Metrics struct {
	Listen string `yaml:"listen"`
	// Pprof serves net/http/pprof under /debug/pprof/ on the operations
	// listener. Off by default: profiles expose memory contents and cost
	// CPU while they run, so only an operator who asks gets them.
	Pprof bool `yaml:"pprof"`
}

// Log configures structured logging.
type Log struct {
	Level  string `yaml:"level"`  // debug, info, warn, error
	Format string `yaml:"format"` // text or json
}

// App is a tenant declared in the configuration.
type App struct {
	ID     string `yaml:"id"`
	Secret string `yaml:"secret"`
	// SecretFile names a file holding the secret instead (surrounding
	// white space ignored), e.g. a mounted Kubernetes Secret, so that the
	// rest of the file can live in a ConfigMap. Load reads it into Secret.
	SecretFile string `yaml:"secret_file"`
	Name       string `yaml:"name"`
	// Users is the app's user policy: "registered" (the default) lets a
	// user token act only for a registered, enabled user; "any" lets any
	// user id act (load tests, apps whose users live elsewhere), except
	// deleted and disabled users (docs/configuration.md).
	Users string `yaml:"users"`
	// Push holds the app's APNs / FCM credentials (docs/push.md).
	Push AppPush `yaml:"push"`
	// Groups overrides the groups section for this app: a zero field
	// inherits it, -1 means no limit.
	Groups Groups `yaml:"groups"`
}

// Groups are the group limits of every app (docs/configuration.md); an
// app's own groups section overrides them field by field. 0 means no limit.
type Groups struct {
	// MaxMembers caps one group's members (20010); a new group's capacity.
	MaxMembers int64 `yaml:"max_members"`
	// MaxCreatedPerUser caps the groups one user owns (20008).
	MaxCreatedPerUser int64 `yaml:"max_created_per_user"`
	// MaxJoinedPerUser caps the groups one user is in (20009).
	MaxJoinedPerUser int64 `yaml:"max_joined_per_user"`
	// MaxGroupsPerApp caps an app's live groups (20007).
	MaxGroupsPerApp int64 `yaml:"max_groups_per_app"`
	// MaxKicks is how many kicks from one group a user takes before it can
	// no longer join that group (20016).
	MaxKicks int64 `yaml:"max_kicks"`
	// InvitationTTL, ApplicationTTL and QRCodeTTL are how long an
	// invitation, an application and a QR code stay valid.
	InvitationTTL  time.Duration `yaml:"invitation_ttl"`
	ApplicationTTL time.Duration `yaml:"application_ttl"`
	QRCodeTTL      time.Duration `yaml:"qrcode_ttl"`
}

// GroupLimits returns the group limits of app: the groups section with the
// app's own overrides (-1 there: no limit).
func (c Config) GroupLimits(app string) Groups {
	g := c.Groups
	for _, a := range c.Apps {
		if a.ID != app {
			continue
		}
		for _, f := range []struct{ dst, src *int64 }{
			{&g.MaxMembers, &a.Groups.MaxMembers}, {&g.MaxCreatedPerUser, &a.Groups.MaxCreatedPerUser},
			{&g.MaxJoinedPerUser, &a.Groups.MaxJoinedPerUser}, {&g.MaxGroupsPerApp, &a.Groups.MaxGroupsPerApp},
			{&g.MaxKicks, &a.Groups.MaxKicks},
		} {
			switch {
			case *f.src < 0:
				*f.dst = 0
			case *f.src > 0:
				*f.dst = *f.src
			}
		}
		for _, f := range []struct{ dst, src *time.Duration }{
			{&g.InvitationTTL, &a.Groups.InvitationTTL}, {&g.ApplicationTTL, &a.Groups.ApplicationTTL}, {&g.QRCodeTTL, &a.Groups.QRCodeTTL},
		} {
			if *f.src > 0 {
				*f.dst = *f.src
			}
		}
	}
	return g
}

func (g Groups) validate(where string) error {
	for _, n := range []int64{g.MaxMembers, g.MaxCreatedPerUser, g.MaxJoinedPerUser, g.MaxGroupsPerApp, g.MaxKicks} {
		if n < -1 {
			return fmt.Errorf("config: %s: group limits must be >= 0 (-1 in an app: no limit)", where)
		}
	}
	if g.InvitationTTL < 0 || g.ApplicationTTL < 0 || g.QRCodeTTL < 0 {
		return fmt.Errorf("config: %s: invitation_ttl, application_ttl and qrcode_ttl must not be negative", where)
	}
	return nil
}

// Push configures the push worker role (docs/push.md).
type Push struct {
	// Batch is how many push jobs a worker reads per partition at once.
	Batch int `yaml:"batch"`
	// Concurrency bounds the APNs and FCM requests one worker has in
	// flight (HTTP/2 streams), over every app.
	Concurrency int `yaml:"concurrency"`
	// SendTimeout bounds one APNs / FCM request; a hung provider counts
	// as a retryable failure after it.
	SendTimeout time.Duration `yaml:"send_timeout"`
	// MaxAttempts is how many sends a job gets before it goes to the
	// dead-letter stream.
	MaxAttempts int `yaml:"max_attempts"`
	// RetryBase and RetryMax bound the exponential backoff (with full
	// jitter) between attempts.
	RetryBase time.Duration `yaml:"retry_base"`
	RetryMax  time.Duration `yaml:"retry_max"`
	// ClaimIdle is how long a job may stay pending with a worker before
	// another worker claims it (the first one is presumed dead).
	ClaimIdle time.Duration `yaml:"claim_idle"`
	// StreamMaxLen caps each push stream (approximately): a backlog longer
	// than this loses its oldest jobs rather than Redis's memory. 0: no cap.
	StreamMaxLen int64 `yaml:"stream_max_len"`
	// DeadLetterMaxLen caps the dead-letter stream (approximately).
	DeadLetterMaxLen int64 `yaml:"dead_letter_max_len"`
	// CampaignPage is how many users a campaign expands at a time.
	CampaignPage int `yaml:"campaign_page"`
	// CampaignRate is the devices per second one app's campaigns may
	// reach, per worker process. 0: no limit.
	CampaignRate float64 `yaml:"campaign_rate"`
	// TaskTTL is how long a campaign's statistics are kept.
	TaskTTL time.Duration `yaml:"task_ttl"`
	// RequestIDTTL is how long a /push/notify request_id is remembered.
	RequestIDTTL time.Duration `yaml:"request_id_ttl"`
	// TimeZone is the IANA zone of no-push hours for apps that set none.
	TimeZone string `yaml:"time_zone"`
}

// AppPush are one app's push credentials and defaults.
type AppPush struct {
	// TimeZone is the IANA zone of no-push hours for users who set none;
	// empty: push.time_zone.
	TimeZone string `yaml:"time_zone"`
	// APNs and FCM are the single-certificate form: they are the
	// certificates named "apns" and "fcm".
	APNs APNs `yaml:"apns"`
	FCM  FCM  `yaml:"fcm"`
	// Certificates are the app's named push certificates (Lanying's
	// notifier_name), any number per provider (docs/push.md).
	Certificates []PushCertificate `yaml:"certificates"`
}

// PushCertificate is one named push certificate of an app: a provider and
// its credentials. Which fields a provider reads is in docs/push.md.
type PushCertificate struct {
	// Name is what devices bind with (notifier_name), compared without
	// regard to case; unique within the app.
	Name string `yaml:"name"`
	// Provider: apns, fcm, huawei, honor, xiaomi, oppo, vivo or meizu.
	Provider string `yaml:"provider"`
	// Default makes it the app's default for its platform (APNs: ios and
	// mac; every other provider: android) when a device names none.
	Default bool `yaml:"default"`
	// Production: APNs production (false: sandbox); vivo's push_mode 0.
	Production bool `yaml:"production"`

	// APNs.
	KeyFile      string `yaml:"key_file"`
	KeyID        string `yaml:"key_id"`
	TeamID       string `yaml:"team_id"`
	CertFile     string `yaml:"cert_file"`
	CertPassword string `yaml:"cert_password"`
	Topic        string `yaml:"topic"`
	// FCM.
	CredentialsFile string `yaml:"credentials_file"`
	ProjectID       string `yaml:"project_id"`
	// Phone makers: app_id (Huawei, Honor, vivo, Meizu), app_key (OPPO,
	// vivo), app_secret (Huawei, Xiaomi, vivo, Meizu), master_secret
	// (OPPO), client_id / client_secret (Honor), package_name (Xiaomi).
	AppID        string `yaml:"app_id"`
	AppKey       string `yaml:"app_key"`
	AppSecret    string `yaml:"app_secret"`
	MasterSecret string `yaml:"master_secret"`
	ClientID     string `yaml:"client_id"`
	ClientSecret string `yaml:"client_secret"`
	PackageName  string `yaml:"package_name"`
	// IMChannelID is the notification channel approved for chat messages
	// (Xiaomi, OPPO): chat-message pushes are sent on it.
	IMChannelID string `yaml:"im_channel_id"`
	// QPS bounds the pushes per second sent with this certificate by one
	// worker (0: the maker's documented default, docs/push.md); DailyQuota
	// the pushes per day (0: no local cap; the maker's answer still
	// pauses sending).
	QPS        float64 `yaml:"qps"`
	DailyQuota int64   `yaml:"daily_quota"`
	// Endpoint overrides the provider's API base URL and AuthEndpoint its
	// token URL (a fake in tests and benchmarks; APNs: the host); CAFile
	// adds a CA to trust for both.
	Endpoint     string `yaml:"endpoint"`
	AuthEndpoint string `yaml:"auth_endpoint"`
	CAFile       string `yaml:"ca_file"`
}

// AllCertificates are the app's certificates: the apns and fcm blocks
// (named "apns" and "fcm") first, then the certificates list.
func (p AppPush) AllCertificates() []PushCertificate {
	var out []PushCertificate
	if a := p.APNs; a.Enabled() {
		out = append(out, PushCertificate{Name: "apns", Provider: pushcert.APNs, KeyFile: a.KeyFile, KeyID: a.KeyID, TeamID: a.TeamID,
			CertFile: a.CertFile, CertPassword: a.CertPassword, Topic: a.Topic, Production: a.Production, Endpoint: a.Host, CAFile: a.CAFile})
	}
	if f := p.FCM; f.Enabled() {
		out = append(out, PushCertificate{Name: "fcm", Provider: pushcert.FCM, Production: true, CredentialsFile: f.CredentialsFile,
			ProjectID: f.ProjectID, Endpoint: f.Endpoint, CAFile: f.CAFile})
	}
	return append(out, p.Certificates...)
}

// APNs are an app's Apple Push credentials: token auth (key_file, key_id,
// team_id) or a certificate (cert_file), and the topic (bundle id).
type APNs struct {
	KeyFile      string `yaml:"key_file"`
	KeyID        string `yaml:"key_id"`
	TeamID       string `yaml:"team_id"`
	CertFile     string `yaml:"cert_file"`
	CertPassword string `yaml:"cert_password"`
	Topic        string `yaml:"topic"`
	// Production selects api.push.apple.com; false: the sandbox.
	Production bool `yaml:"production"`
	// Host overrides the APNs URL (a fake in tests and benchmarks), and
	// CAFile adds a CA to trust for it.
	Host   string `yaml:"host"`
	CAFile string `yaml:"ca_file"`
}

// Enabled reports whether APNs credentials are configured.
func (a APNs) Enabled() bool { return a.KeyFile != "" || a.CertFile != "" }

// FCM are an app's Firebase Cloud Messaging credentials.
type FCM struct {
	// CredentialsFile is the service-account JSON key file.
	CredentialsFile string `yaml:"credentials_file"`
	// ProjectID defaults to the project_id of the key file.
	ProjectID string `yaml:"project_id"`
	// Endpoint overrides https://fcm.googleapis.com/v1 (a fake), and
	// CAFile adds a CA to trust for it and its token endpoint.
	Endpoint string `yaml:"endpoint"`
	CAFile   string `yaml:"ca_file"`
}

// Enabled reports whether FCM credentials are configured.
func (f FCM) Enabled() bool { return f.CredentialsFile != "" }

// Default returns the configuration used when nothing is set.
func Default() Config {
	return Config{
		Roles: []string{"all"},
		Gateway: Gateway{
			Listen:                       "127.0.0.1:8080",
			Path:                         "/ws",
			Heartbeat:                    25 * time.Second,
			IdleTimeout:                  75 * time.Second,
			AuthTimeout:                  10 * time.Second,
			WriteTimeout:                 10 * time.Second,
			RouteTTL:                     90 * time.Second,
			MaxDevicesPerUser:            10,
			SendQueue:                    1024,
			SendQueueBytes:               1 << 20,
			MaxUnauthenticated:           10_000,
			MaxUnauthenticatedPerAddress: 1_000,
			DrainTimeout:                 10 * time.Second,
			MaxConnections:               100_000,
			Limits:                       protocol.DefaultLimits(),
		},
		Router: Router{
			Partitions:     16,
			Batch:          256,
			LeaseTTL:       5 * time.Second,
			PushPartitions: 8,
		},
		Store: Store{
			Retention:  7 * 24 * time.Hour,
			InboxMax:   10_000,
			HistoryMax: 100_000,
			IdemTTL:    24 * time.Hour,
		},
		Admin: Admin{
			Listen:         "127.0.0.1:8081",
			MaxBodyBytes:   1 << 20,
			RequestTimeout: 10 * time.Second,
			ReadTimeout:    30 * time.Second,
			WriteTimeout:   30 * time.Second,
			RateLimit:      5000,
			RateBurst:      10000,
			AppCacheTTL:    10 * time.Second,
			UserTokenTTL:   7 * 24 * time.Hour,
			PasswordCost:   10,
		},
		Push: Push{
			Batch:            256,
			Concurrency:      4096,
			SendTimeout:      10 * time.Second,
			MaxAttempts:      8,
			RetryBase:        time.Second,
			RetryMax:         10 * time.Minute,
			ClaimIdle:        30 * time.Second,
			StreamMaxLen:     1_000_000,
			DeadLetterMaxLen: 100_000,
			CampaignPage:     500,
			CampaignRate:     50_000,
			TaskTTL:          7 * 24 * time.Hour,
			RequestIDTTL:     24 * time.Hour,
			TimeZone:         "UTC",
		},
		Groups: Groups{
			MaxMembers: 10_000, MaxCreatedPerUser: 100, MaxJoinedPerUser: 1000, MaxGroupsPerApp: 0, MaxKicks: 10,
			InvitationTTL: 7 * 24 * time.Hour, ApplicationTTL: 7 * 24 * time.Hour, QRCodeTTL: 7 * 24 * time.Hour,
		},
		Metrics: Metrics{Listen: "127.0.0.1:9090"},
		Log:     Log{Level: "info", Format: "text"},
		DevApp:  "demo",
		Files:   defaultFiles(),
	}
}

// Load reads the YAML file at path (none if empty) over the defaults, then
// applies environment overrides from env (os.Environ() form), then checks it.
func Load(path string, env []string) (Config, error) {
	cfg := Default()
	if path != "" {
		b, err := os.ReadFile(path)
		if err != nil {
			return cfg, fmt.Errorf("config: %w", err)
		}
		dec := yaml.NewDecoder(bytes.NewReader(b))
		dec.KnownFields(true)
		if err := dec.Decode(&cfg); err != nil {
			return cfg, fmt.Errorf("config: %s: %w", path, err)
		}
	}
	if err := applyEnv(&cfg, env); err != nil {
		return cfg, err
	}
	if err := readSecretFiles(cfg.Apps); err != nil {
		return cfg, err
	}
	if err := cfg.Validate(); err != nil {
		return cfg, err
	}
	return cfg, nil
}

// HasRole reports whether the process runs role.
func (c Config) HasRole(role string) bool {
	if len(c.Roles) == 0 {
		return true
	}
	for _, r := range c.Roles {
		if r == role || r == "all" {
			return true
		}
	}
	return false
}

// Validate checks ranges and cross-field rules.
func (c Config) Validate() error {
	for _, r := range c.Roles {
		switch r {
		case "all", RoleGateway, RoleRouter, RolePushWorker, RoleAdmin:
		default:
			return fmt.Errorf("config: roles: unknown role %q", r)
		}
	}
	g := c.Gateway
	switch {
	case c.Router.Partitions < 1 || c.Router.Partitions > 1024:
		return fmt.Errorf("config: router.partitions must be 1-1024")
	case c.Router.PushPartitions < 1 || c.Router.PushPartitions > 1024:
		return fmt.Errorf("config: router.push_partitions must be 1-1024")
	case c.Router.Batch < 1 || c.Router.Batch > 10_000:
		return fmt.Errorf("config: router.batch must be 1-10000")
	case c.Router.LeaseTTL < time.Second:
		return fmt.Errorf("config: router.lease_ttl must be at least 1s")
	case g.Heartbeat < time.Second || g.IdleTimeout <= g.Heartbeat:
		return fmt.Errorf("config: gateway.idle_timeout must exceed gateway.heartbeat (>= 1s)")
	case g.RouteTTL < 3*time.Second:
		return fmt.Errorf("config: gateway.route_ttl must be at least 3s")
	case g.SendQueue < 1:
		return fmt.Errorf("config: gateway.send_queue must be positive")
	case g.SendQueueBytes < 1:
		return fmt.Errorf("config: gateway.send_queue_bytes must be positive")
	case g.MaxUnauthenticated < 0 || g.MaxUnauthenticatedPerAddress < 0:
		return fmt.Errorf("config: gateway.max_unauthenticated and max_unauthenticated_per_address must be >= 0 (0: no cap)")
	case g.MaxDevicesPerUser < 0:
		return fmt.Errorf("config: gateway.max_devices_per_user must be >= 0 (0: no cap)")
	case g.Limits.MaxFrameBytes < 1024 || g.Limits.MaxContentBytes > g.Limits.MaxFrameBytes:
		return fmt.Errorf("config: gateway.limits: max_frame_bytes must be >= 1024 and >= max_content_bytes")
	case g.Limits.MaxSyncLimit < 1 || g.Limits.FramesPerSecond < 1 || g.Limits.FrameBurst < 1:
		return fmt.Errorf("config: gateway.limits: max_sync_limit, frames_per_second and frame_burst must be positive")
	case c.Admin.MaxBodyBytes < 1024:
		return fmt.Errorf("config: admin.max_body_bytes must be at least 1024")
	case c.Admin.RequestTimeout <= 0 || c.Admin.ReadTimeout <= 0 || c.Admin.WriteTimeout <= 0:
		return fmt.Errorf("config: admin.request_timeout, read_timeout and write_timeout must be positive")
	case c.Admin.RateLimit < 0 || (c.Admin.RateLimit > 0 && c.Admin.RateBurst < 1):
		return fmt.Errorf("config: admin.rate_limit must be >= 0 (0: none) and admin.rate_burst >= 1 with a limit")
	case c.Admin.AppCacheTTL < 0 || c.Admin.UserTokenTTL < time.Minute:
		return fmt.Errorf("config: admin.app_cache_ttl must be >= 0 and admin.user_token_ttl at least 1m")
	case c.Admin.PasswordCost < 4 || c.Admin.PasswordCost > 16:
		return fmt.Errorf("config: admin.password_cost must be 4-16")
	case c.Store.Retention < time.Minute:
		return fmt.Errorf("config: store.retention must be at least 1m")
	}
	if err := c.Push.validate(); err != nil {
		return err
	}
	if err := c.Groups.validate("groups"); err != nil {
		return err
	}
	if c.Groups.InvitationTTL < time.Minute || c.Groups.ApplicationTTL < time.Minute || c.Groups.QRCodeTTL < time.Minute {
		return fmt.Errorf("config: groups: invitation_ttl, application_ttl and qrcode_ttl must be at least 1m")
	}
	if err := c.Files.validate(); err != nil {
		return err
	}
	for _, a := range c.Apps {
		if err := a.Groups.validate("apps: " + a.ID + ": groups"); err != nil {
			return err
		}
		if !protocol.ValidAppID(a.ID) {
			return fmt.Errorf("config: apps: bad app id %q", a.ID)
		}
		if err := a.Push.validate(a.ID); err != nil {
			return err
		}
		if len(a.Secret) < 16 {
			return fmt.Errorf("config: apps: %s: secret must be at least 16 bytes", a.ID)
		}
		if a.Users != "" && a.Users != "registered" && a.Users != "any" {
			return fmt.Errorf("config: apps: %s: users must be registered or any, got %q", a.ID, a.Users)
		}
	}
	if c.DevApp != "" && !protocol.ValidAppID(c.DevApp) {
		return fmt.Errorf("config: dev_app: bad app id %q", c.DevApp)
	}
	return nil
}

// applyEnv sets every field that has a CHATGATE_ variable: the name is the
// YAML path in upper case joined by '_' (gateway.route_ttl ->
// CHATGATE_GATEWAY_ROUTE_TTL). Lists are comma-separated.
func applyEnv(cfg *Config, env []string) error {
	vars := map[string]string{}
	for _, kv := range env {
		k, v, ok := strings.Cut(kv, "=")
		if ok && strings.HasPrefix(k, "CHATGATE_") {
			vars[k] = v
		}
	}
	if len(vars) == 0 {
		return nil
	}
	return walkEnv(reflect.ValueOf(cfg).Elem(), "CHATGATE", vars)
}

func walkEnv(v reflect.Value, name string, vars map[string]string) error {
	t := v.Type()
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		tag := strings.Split(f.Tag.Get("yaml"), ",")[0]
		if tag == "" || tag == "-" {
			continue
		}
		key := name + "_" + strings.ToUpper(tag)
		fv := v.Field(i)
		if fv.Kind() == reflect.Struct {
			if err := walkEnv(fv, key, vars); err != nil {
				return err
			}
			continue
		}
		s, ok := vars[key]
		if !ok {
			continue
		}
		if err := setField(fv, s); err != nil {
			return fmt.Errorf("config: %s=%q: %w", key, s, err)
		}
	}
	return nil
}

func setField(fv reflect.Value, s string) error {
	switch {
	case fv.Type() == reflect.TypeOf(time.Duration(0)):
		d, err := time.ParseDuration(s)
		if err != nil {
			return err
		}
		fv.SetInt(int64(d))
	case fv.Kind() == reflect.String:
		fv.SetString(s)
	case fv.Kind() == reflect.Int || fv.Kind() == reflect.Int64 || fv.Kind() == reflect.Int32:
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return err
		}
		fv.SetInt(n)
	case fv.Kind() == reflect.Float64:
		f, err := strconv.ParseFloat(s, 64)
		if err != nil {
			return err
		}
		fv.SetFloat(f)
	case fv.Kind() == reflect.Bool:
		b, err := strconv.ParseBool(s)
		if err != nil {
			return err
		}
		fv.SetBool(b)
	case fv.Kind() == reflect.Slice && fv.Type().Elem().Kind() == reflect.String:
		var parts []string
		for _, p := range strings.Split(s, ",") {
			if p = strings.TrimSpace(p); p != "" {
				parts = append(parts, p)
			}
		}
		fv.Set(reflect.ValueOf(parts))
	default:
		return fmt.Errorf("cannot be set from the environment")
	}
	return nil
}

func (p Push) validate() error {
	switch {
	case p.Batch < 1 || p.Batch > 10_000:
		return fmt.Errorf("config: push.batch must be 1-10000")
	case p.Concurrency < 1 || p.Concurrency > 100_000:
		return fmt.Errorf("config: push.concurrency must be 1-100000")
	case p.SendTimeout < 100*time.Millisecond:
		return fmt.Errorf("config: push.send_timeout must be at least 100ms")
	case p.MaxAttempts < 1 || p.MaxAttempts > 100:
		return fmt.Errorf("config: push.max_attempts must be 1-100")
	case p.RetryBase <= 0 || p.RetryMax < p.RetryBase:
		return fmt.Errorf("config: push.retry_base must be positive and push.retry_max at least retry_base")
	case p.ClaimIdle < time.Second:
		return fmt.Errorf("config: push.claim_idle must be at least 1s")
	case p.StreamMaxLen < 0 || p.DeadLetterMaxLen < 0:
		return fmt.Errorf("config: push.stream_max_len and push.dead_letter_max_len must be >= 0 (0: no cap)")
	case p.CampaignPage < 1 || p.CampaignPage > 10_000:
		return fmt.Errorf("config: push.campaign_page must be 1-10000")
	case p.CampaignRate < 0:
		return fmt.Errorf("config: push.campaign_rate must be >= 0 (0: no limit)")
	case p.TaskTTL < time.Minute || p.RequestIDTTL < time.Minute:
		return fmt.Errorf("config: push.task_ttl and push.request_id_ttl must be at least 1m")
	}
	if _, err := time.LoadLocation(p.TimeZone); err != nil {
		return fmt.Errorf("config: push.time_zone: %w", err)
	}
	return nil
}

func (p AppPush) validate(app string) error {
	if p.TimeZone != "" {
		if _, err := time.LoadLocation(p.TimeZone); err != nil {
			return fmt.Errorf("config: apps: %s: push.time_zone: %w", app, err)
		}
	}
	a := p.APNs
	switch {
	case a.KeyFile != "" && a.CertFile != "":
		return fmt.Errorf("config: apps: %s: push.apns: set key_file (token auth) or cert_file, not both", app)
	case a.KeyFile != "" && (a.KeyID == "" || a.TeamID == ""):
		return fmt.Errorf("config: apps: %s: push.apns: token auth needs key_id and team_id", app)
	case a.Enabled() && a.Topic == "":
		return fmt.Errorf("config: apps: %s: push.apns: topic (the app's bundle id) is required", app)
	case !a.Enabled() && (a.Topic != "" || a.KeyID != "" || a.Host != ""):
		return fmt.Errorf("config: apps: %s: push.apns: key_file or cert_file is required", app)
	case !p.FCM.Enabled() && (p.FCM.ProjectID != "" || p.FCM.Endpoint != ""):
		return fmt.Errorf("config: apps: %s: push.fcm: credentials_file is required", app)
	}
	seen := map[string]bool{}
	defaults := map[bool]string{}
	for i, c := range p.AllCertificates() {
		where := fmt.Sprintf("config: apps: %s: push.certificates[%d] (%s)", app, i, c.Name)
		name := strings.ToLower(c.Name)
		switch {
		case c.Name == "" || len(c.Name) > 64:
			return fmt.Errorf("%s: name must be 1-64 bytes", where)
		case seen[name]:
			return fmt.Errorf("%s: the name is used twice (names are compared without case)", where)
		case !pushcert.Known(c.Provider):
			return fmt.Errorf("%s: provider must be one of %s", where, strings.Join(pushcert.Providers, ", "))
		case c.QPS < 0 || c.DailyQuota < 0:
			return fmt.Errorf("%s: qps and daily_quota must be >= 0", where)
		}
		seen[name] = true
		if c.Default {
			apple := pushcert.Apple(c.Provider)
			if d, ok := defaults[apple]; ok {
				return fmt.Errorf("%s: %s is already the default for this platform", where, d)
			}
			defaults[apple] = c.Name
		}
		if missing := c.missing(); missing != "" {
			return fmt.Errorf("%s: %s is required for provider %s", where, missing, c.Provider)
		}
	}
	return nil
}

// missing names the first credential field c's provider needs and lacks.
func (c PushCertificate) missing() string {
	need := map[string][]string{
		pushcert.FCM:    {"credentials_file"},
		pushcert.Huawei: {"app_id", "app_secret"},
		pushcert.Honor:  {"app_id", "client_id", "client_secret"},
		pushcert.Xiaomi: {"app_secret", "package_name"},
		pushcert.OPPO:   {"app_key", "master_secret"},
		pushcert.Vivo:   {"app_id", "app_key", "app_secret"},
		pushcert.Meizu:  {"app_id", "app_secret"},
	}
	val := map[string]string{"credentials_file": c.CredentialsFile, "app_id": c.AppID, "app_key": c.AppKey, "app_secret": c.AppSecret,
		"master_secret": c.MasterSecret, "client_id": c.ClientID, "client_secret": c.ClientSecret, "package_name": c.PackageName}
	if c.Provider == pushcert.APNs {
		switch {
		case c.KeyFile == "" && c.CertFile == "":
			return "key_file or cert_file"
		case c.KeyFile != "" && (c.KeyID == "" || c.TeamID == ""):
			return "key_id and team_id (with key_file)"
		case c.Topic == "":
			return "topic"
		}
		return ""
	}
	for _, f := range need[c.Provider] {
		if val[f] == "" {
			return f
		}
	}
	return ""
}

// readSecretFiles sets the Secret of each app that names a SecretFile.
func readSecretFiles(apps []App) error {
	for i := range apps {
		a := &apps[i]
		if a.SecretFile == "" {
			continue
		}
		if a.Secret != "" {
			return fmt.Errorf("config: apps: %s: set secret or secret_file, not both", a.ID)
		}
		b, err := os.ReadFile(a.SecretFile)
		if err != nil {
			return fmt.Errorf("config: apps: %s: secret_file: %w", a.ID, err)
		}
		a.Secret = strings.TrimSpace(string(b))
	}
	return nil
}
