package loadtest

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/chatgate/chatgate/internal/fakepush"
	"github.com/chatgate/chatgate/protocol"
)

// Scenario names what a run does.
type Scenario string

// Scenarios of the harness.
const (
	// ScenarioConnect ramps connections up, holds them idle and measures
	// connect latency and what each connection costs the server.
	ScenarioConnect Scenario = "connect"
	// ScenarioIdle is ScenarioConnect; both names are accepted because
	// operators ask for either.
	ScenarioIdle Scenario = "idle"
	// ScenarioChat sends 1:1 messages between pairs of users that sit on
	// different gateways, at a fixed total rate.
	ScenarioChat Scenario = "chat"
	// ScenarioGroup sends group messages at a fixed rate to groups whose
	// members are spread over every gateway.
	ScenarioGroup Scenario = "group"
	// ScenarioChurn is chat with a reconnect storm: every ChurnInterval a
	// ChurnFraction of the devices lose their connection at once, stay
	// offline for ChurnDown, come back and sync what they missed, while
	// the traffic goes on. The ledger must still count zero lost.
	ScenarioChurn Scenario = "churn"
	// ScenarioMixed is chat, group sends (GroupShare of the rate) and
	// churn at once: a day in the life of a deployment, compressed.
	ScenarioMixed Scenario = "mixed"
	// ScenarioPush registers Connections devices with APNs and FCM push
	// tokens through the REST API, sends them one /push/notify campaign
	// and checks that the fake APNs/FCM (run by the harness) received a
	// push for every device. See push.go.
	ScenarioPush Scenario = "push"
)

// scenarioNames lists the scenarios in usage and error messages.
const scenarioNames = "connect, idle, chat, group, churn, mixed, push"

// Target is one chatgate process the harness talks to or observes.
type Target struct {
	// Name labels the process in reports (gw1, rt1, ...).
	Name string `json:"name"`
	// Role is "gateway" or "router": what the process is measured as.
	Role string `json:"role"`
	// WS is the WebSocket URL clients connect to; empty for a process that
	// is only scraped (a router).
	WS string `json:"ws,omitempty"`
	// Metrics is the base URL of the process's operations listener
	// (http://host:port); /metrics is appended. Empty: not scraped.
	Metrics string `json:"metrics,omitempty"`
}

// Target roles.
const (
	RoleGateway    = "gateway"
	RoleRouter     = "router"
	RolePushWorker = "pushworker"
)

// Config is one run of the harness. Every run is bounded: by connection
// count, message count, send duration and a whole-run timeout.
type Config struct {
	Scenario Scenario
	Targets  []Target
	// AllowRemote permits targets (and Redis) outside loopback. A load
	// test against someone else's server is an attack, so it is opt-in.
	AllowRemote bool

	// AppID and AppSecret mint a user token per user with auth.Issue.
	// Tokens, when set, are used instead (user id -> token).
	AppID     string
	AppSecret string
	Tokens    map[int64]string

	// Redis is host:port of the deployment's Redis: it is read for its own
	// cost (INFO) and the group scenario writes group membership there.
	Redis         string
	RedisPassword string

	// Connections is the total number of device connections; users are
	// Connections / DevicesPerUser, numbered from UserBase.
	Connections    int
	DevicesPerUser int
	UserBase       int64
	// ConnectRate is new connections per second during the ramp.
	ConnectRate float64
	// Hold is how long the connect scenario keeps every connection idle
	// after the ramp, and how long chat/group wait before sending.
	Hold time.Duration

	// Rate is messages per second (sends, not deliveries), open loop.
	Rate float64
	// Duration is how long chat/group send.
	Duration time.Duration
	// MaxMessages bounds the sends of a run whatever Rate x Duration says.
	MaxMessages int64
	// ContentBytes pads each message's content to this size.
	ContentBytes int
	// Senders is how many users send in chat (the first Senders users,
	// each to its partner); 0: every user. Group members always all send.
	// Either way a run whose busiest connection would exceed 80% of the
	// gateway's frames_per_second is refused before it sends.
	Senders int
	// GroupSize members per group, Groups groups, ids from GroupBase.
	GroupSize int
	Groups    int
	GroupBase int64
	// ManagedGroups makes the groups managed ones (an info hash with an
	// owner, join points): the router then reads the group rules (bans,
	// ban_all, push and mute modes) with every send, as for groups made
	// through the REST API.
	ManagedGroups bool

	// Drain is how long to wait after the last send for outstanding acks
	// and deliveries before the ledger is judged.
	Drain time.Duration
	// Timeout bounds the whole run; 0 derives it from the other durations.
	Timeout time.Duration

	// JSONPath receives the JSON result; empty: none.
	JSONPath string
	// Progress receives the live progress line once a second; nil: none.
	Progress io.Writer    `json:"-"`
	Log      *slog.Logger `json:"-"`

	// SourceAddrs spreads the harness's connections over this many source
	// addresses 127.0.0.2, 127.0.0.3, ... (IPv4 loopback targets only);
	// 0: the kernel's choice (127.0.0.1). Each source address has its own
	// ephemeral port range (about 28,000 on Linux).
	SourceAddrs int
	// Workers splits the devices over this many load processes (the
	// harness re-executes itself with -worker), for runs beyond one
	// process's open-file limit; 0 or 1: everything in this process.
	Workers int
	// WorkerCommand is the command line that starts one worker, without
	// the -worker flag; nil: this executable with "loadtest". Tests point
	// it at the test binary.
	WorkerCommand []string
	// WorkerEnv is added to the environment of worker processes.
	WorkerEnv []string

	// Churn: every ChurnInterval, ChurnFraction of the devices lose their
	// connection at once and stay offline for ChurnDown (churn and mixed).
	ChurnFraction float64
	ChurnInterval time.Duration
	ChurnDown     time.Duration
	// GroupShare is the share of the sends that go to groups in mixed.
	GroupShare float64

	// MaxErrorRate fails the run when errors (failed connects, refused or
	// unanswered sends, unplanned disconnects) exceed this share of the
	// operations (connects plus sends). Lost messages always fail it.
	MaxErrorRate float64

	// HTMLPath receives the self-contained HTML report; empty: none.
	HTMLPath string

	// Push scenario. API is the base URL of the REST API (http://host:port)
	// and APIWait how long to wait for it to answer with the app's push
	// credentials. PushAudience is "tag" (the run's devices) or "all".
	// FakePush is the fake APNs/FCM the server sends to, run in this
	// process; nil: the harness starts one on FakePushAddr with
	// FakePushLatency and writes its credentials and an apps[].push
	// snippet into FakePushDir. Connections is the number of devices.
	API             string
	APIWait         time.Duration
	PushAudience    string
	FakePush        *fakepush.Server `json:"-"`
	FakePushDir     string
	FakePushAddr    string
	FakePushLatency time.Duration

	// cpuProfile is where Main writes the harness's CPU profile.
	cpuProfile string
}

// Bounds every run is held to, so that a typo cannot start an unbounded
// load: a larger run is a deliberate code change.
const (
	MaxConnectionsBound = 1_000_000
	MaxRateBound        = 1_000_000
	MaxDurationBound    = time.Hour
	MaxMessagesBound    = 100_000_000
	MaxDevicesBound     = 64
	MaxGroupSizeBound   = 100_000
	MaxWorkersBound     = 64
)

// DefaultConfig returns the defaults Main starts from.
func DefaultConfig() Config {
	return Config{
		Scenario:       ScenarioChat,
		AppID:          "bench",
		Connections:    200,
		DevicesPerUser: 1,
		UserBase:       1_000_000,
		ConnectRate:    1000,
		Hold:           time.Second,
		Rate:           1000,
		Duration:       10 * time.Second,
		MaxMessages:    10_000_000,
		ContentBytes:   64,
		GroupSize:      100,
		Groups:         10,
		GroupBase:      1_000_000,
		Drain:          10 * time.Second,
		SourceAddrs:    8,
		ChurnFraction:  0.2,
		ChurnInterval:  5 * time.Second,
		ChurnDown:      time.Second,
		GroupShare:     0.2,
		MaxErrorRate:   0.01,
		APIWait:        time.Minute,
		PushAudience:   PushAudienceTag,
		FakePushAddr:   "127.0.0.1:0",
	}
}

// sends reports whether the scenario sends messages.
func (s Scenario) sends() bool {
	switch s.normalize() {
	case ScenarioChat, ScenarioGroup, ScenarioChurn, ScenarioMixed:
		return true
	}
	return false
}

// churns reports whether the scenario cuts connections on purpose.
func (s Scenario) churns() bool {
	n := s.normalize()
	return n == ScenarioChurn || n == ScenarioMixed
}

// usesGroups reports whether the scenario declares groups in Redis.
func (s Scenario) usesGroups() bool {
	n := s.normalize()
	return n == ScenarioGroup || n == ScenarioMixed
}

func (s Scenario) normalize() Scenario {
	if s == ScenarioIdle {
		return ScenarioConnect
	}
	return s
}

// Users is how many users a run connects.
func (c Config) Users() int {
	if c.DevicesPerUser < 1 {
		return 0
	}
	return c.Connections / c.DevicesPerUser
}

// Gateways are the targets clients connect to.
func (c Config) Gateways() []Target {
	var out []Target
	for _, t := range c.Targets {
		if t.WS != "" {
			out = append(out, t)
		}
	}
	return out
}

// Validate checks the configuration, bounds included, without touching the
// network. Loopback checks are separate (CheckTargets) because they depend
// on AllowRemote and resolve names.
func (c Config) Validate() error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	switch c.Scenario.normalize() {
	case ScenarioConnect, ScenarioChat, ScenarioGroup, ScenarioChurn, ScenarioMixed:
	case ScenarioPush:
		errs = append(errs, c.validatePush()...)
	case "":
		bad("scenario is required (%s)", scenarioNames)
	default:
		bad("unknown scenario %q (want %s)", c.Scenario, scenarioNames)
	}
	gws := c.Gateways()
	if len(gws) == 0 && c.Scenario.normalize() != ScenarioPush {
		bad("at least one gateway WebSocket URL is required")
	}
	names := map[string]bool{}
	for _, t := range c.Targets {
		if t.Name == "" || names[t.Name] {
			bad("target names must be unique and non-empty (got %q)", t.Name)
		}
		names[t.Name] = true
		if t.Role != RoleGateway && t.Role != RoleRouter && t.Role != RolePushWorker {
			bad("target %s: role must be gateway, router or pushworker", t.Name)
		}
		if t.WS == "" && t.Metrics == "" {
			bad("target %s has neither a WebSocket nor a metrics URL", t.Name)
		}
	}
	if len(c.Tokens) == 0 {
		if !protocol.ValidAppID(c.AppID) {
			bad("app id %q is not valid", c.AppID)
		}
		if len(c.AppSecret) < 16 {
			bad("an app secret of at least 16 bytes (or a token file) is required to mint user tokens")
		}
	}
	switch {
	case c.Connections < 1 || c.Connections > MaxConnectionsBound:
		bad("connections must be 1-%d", MaxConnectionsBound)
	case c.DevicesPerUser < 1 || c.DevicesPerUser > MaxDevicesBound:
		bad("devices per user must be 1-%d", MaxDevicesBound)
	case c.Connections%c.DevicesPerUser != 0:
		bad("connections (%d) must be a multiple of devices per user (%d)", c.Connections, c.DevicesPerUser)
	}
	if c.UserBase < 1 {
		bad("user base must be positive")
	}
	if c.ConnectRate <= 0 || c.ConnectRate > MaxRateBound {
		bad("connect rate must be in (0, %d]", MaxRateBound)
	}
	if c.Hold < 0 || c.Hold > MaxDurationBound || c.Drain < 0 || c.Drain > MaxDurationBound ||
		c.Timeout < 0 || c.Timeout > 2*MaxDurationBound {
		bad("hold and drain must be 0-%v, timeout 0-%v", MaxDurationBound, 2*MaxDurationBound)
	}
	if c.Scenario.sends() {
		errs = append(errs, c.validateTraffic()...)
	}
	if c.SourceAddrs < 0 || c.SourceAddrs > 250*250 {
		bad("source addresses must be 0-%d", 250*250)
	}
	if c.Workers < 0 || c.Workers > MaxWorkersBound {
		bad("workers must be 0-%d", MaxWorkersBound)
	}
	if c.Workers > 1 && c.Users() < c.Workers {
		bad("%d workers need at least as many users (got %d)", c.Workers, c.Users())
	}
	if c.MaxErrorRate < 0 || c.MaxErrorRate > 1 {
		bad("max error rate must be 0-1")
	}
	return errors.Join(errs...)
}

// validateTraffic checks the knobs of the sending scenarios.
func (c Config) validateTraffic() []error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if c.Rate <= 0 || c.Rate > MaxRateBound {
		bad("rate must be in (0, %d] messages/s", MaxRateBound)
	}
	if c.Duration <= 0 || c.Duration > MaxDurationBound {
		bad("duration must be in (0, %v]", MaxDurationBound)
	}
	if c.MaxMessages < 1 || c.MaxMessages > MaxMessagesBound {
		bad("max messages must be 1-%d", MaxMessagesBound)
	}
	if c.ContentBytes < 1 || c.ContentBytes > protocol.DefaultLimits().MaxContentBytes {
		bad("content bytes must be 1-%d", protocol.DefaultLimits().MaxContentBytes)
	}
	if c.Senders < 0 {
		bad("senders must be >= 0 (0: automatic)")
	}
	users := c.Users()
	n := c.Scenario.normalize()
	if n == ScenarioChat || n == ScenarioChurn || n == ScenarioMixed {
		if users < 2 || users%2 != 0 {
			bad("%s needs an even number of users, at least 2 (got %d)", n, users)
		}
		if c.Senders > users {
			bad("senders (%d) cannot exceed users (%d)", c.Senders, users)
		}
	}
	if c.Scenario.churns() {
		if c.ChurnFraction <= 0 || c.ChurnFraction > 1 {
			bad("churn fraction must be in (0, 1]")
		}
		if c.ChurnInterval < 100*time.Millisecond || c.ChurnInterval > MaxDurationBound {
			bad("churn interval must be 100ms-%v", MaxDurationBound)
		}
		if c.ChurnDown < 0 || c.ChurnDown >= c.ChurnInterval {
			bad("churn down time must be 0 or more and shorter than the churn interval")
		}
	}
	if n == ScenarioMixed && (c.GroupShare <= 0 || c.GroupShare >= 1) {
		bad("group share must be in (0, 1) in mixed")
	}
	if n == ScenarioGroup || n == ScenarioMixed {
		if c.GroupSize < 2 || c.GroupSize > MaxGroupSizeBound {
			bad("group size must be 2-%d", MaxGroupSizeBound)
		}
		if c.GroupSize > users {
			bad("group size (%d) cannot exceed users (%d)", c.GroupSize, users)
		}
		if c.Groups < 1 || c.Groups > users {
			bad("groups must be 1-%d (one per user at most)", users)
		}
		if c.GroupBase < 1 {
			bad("group base must be positive")
		}
		if c.Redis == "" {
			bad("%s needs the Redis address to declare group membership (-redis)", n)
		}
	}
	return errs
}

// validatePush checks the knobs of the push scenario.
func (c Config) validatePush() []error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if c.API == "" {
		bad("push needs the REST API's base URL (-api http://127.0.0.1:8081)")
	}
	if len(c.Tokens) > 0 || len(c.AppSecret) < 16 {
		bad("push needs the app secret (admin token for /push/notify), not a token file")
	}
	if c.FakePush == nil && c.FakePushDir == "" {
		bad("%v", errNoFake)
	}
	if c.PushAudience != PushAudienceTag && c.PushAudience != PushAudienceAll {
		bad("push audience must be %s or %s", PushAudienceTag, PushAudienceAll)
	}
	if c.Duration <= 0 || c.Duration > MaxDurationBound {
		bad("duration (the campaign's bound) must be in (0, %v]", MaxDurationBound)
	}
	if c.APIWait < 0 || c.APIWait > MaxDurationBound || c.FakePushLatency < 0 || c.FakePushLatency > time.Minute {
		bad("api wait must be 0-%v, fake latency 0-1m", MaxDurationBound)
	}
	if c.Workers > 1 {
		bad("push runs in one process (the fake's counters live there): -workers must be 0 or 1")
	}
	return errs
}

// timeout is the whole-run bound: every phase at its configured length, a
// ramp at its nominal rate, plus slack for setup and the reports.
func (c Config) timeout() time.Duration {
	if c.Timeout > 0 {
		return c.Timeout
	}
	ramp := time.Duration(float64(c.Connections) / c.ConnectRate * float64(time.Second))
	d := 2*ramp + c.Hold + 60*time.Second
	if c.Scenario.sends() {
		d += c.Duration + c.Drain
	}
	if c.Scenario.normalize() == ScenarioPush {
		// Setup is about two REST calls per device at a few thousand
		// calls per second; a generous bound, since a slow setup is not
		// what the run measures.
		d = c.APIWait + c.Duration + c.Drain + time.Duration(c.Connections)*time.Millisecond + 60*time.Second
	}
	return d
}
