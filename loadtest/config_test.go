package loadtest

import (
	"strings"
	"testing"
	"time"
)

func validChat() Config {
	c := DefaultConfig()
	c.Scenario = ScenarioChat
	c.AppSecret = "0123456789abcdef"
	c.Targets = []Target{
		{Name: "gw1", Role: RoleGateway, WS: "ws://127.0.0.1:1/ws", Metrics: "http://127.0.0.1:2"},
		{Name: "gw2", Role: RoleGateway, WS: "ws://127.0.0.1:3/ws"},
		{Name: "rt1", Role: RoleRouter, Metrics: "http://127.0.0.1:4"},
	}
	return c
}

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(*Config)
		want   string // substring of the error; "" means valid
	}{
		{"valid chat", func(*Config) {}, ""},
		{"valid idle alias", func(c *Config) { c.Scenario = ScenarioIdle; c.Rate = 0 }, ""},
		{"valid group", func(c *Config) { c.Scenario = ScenarioGroup; c.Redis = "127.0.0.1:6379" }, ""},
		{"valid with tokens and no secret", func(c *Config) { c.AppSecret = ""; c.Tokens = map[int64]string{1: "t"} }, ""},
		{"no scenario", func(c *Config) { c.Scenario = "" }, "scenario is required"},
		{"unknown scenario", func(c *Config) { c.Scenario = "soak" }, "unknown scenario"},
		{"no gateway", func(c *Config) { c.Targets = c.Targets[2:] }, "gateway WebSocket URL"},
		{"duplicate names", func(c *Config) { c.Targets[1].Name = "gw1" }, "unique"},
		{"bad role", func(c *Config) { c.Targets[2].Role = "pusher" }, "role"},
		{"target with nothing", func(c *Config) { c.Targets[2].Metrics = "" }, "neither"},
		{"short secret", func(c *Config) { c.AppSecret = "short" }, "secret"},
		{"bad app id", func(c *Config) { c.AppID = "a b" }, "app id"},
		{"zero connections", func(c *Config) { c.Connections = 0 }, "connections must be"},
		{"too many connections", func(c *Config) { c.Connections = MaxConnectionsBound + 1 }, "connections must be"},
		{"devices out of range", func(c *Config) { c.DevicesPerUser = 65 }, "devices per user"},
		{"connections not a multiple of devices", func(c *Config) { c.Connections = 201; c.DevicesPerUser = 2 }, "multiple"},
		{"zero connect rate", func(c *Config) { c.ConnectRate = 0 }, "connect rate"},
		{"negative hold", func(c *Config) { c.Hold = -time.Second }, "hold"},
		{"hold too long", func(c *Config) { c.Hold = 2 * time.Hour }, "hold"},
		{"zero rate", func(c *Config) { c.Rate = 0 }, "rate must be"},
		{"rate too high", func(c *Config) { c.Rate = MaxRateBound * 2 }, "rate must be"},
		{"zero duration", func(c *Config) { c.Duration = 0 }, "duration"},
		{"unbounded messages", func(c *Config) { c.MaxMessages = 0 }, "max messages"},
		{"content too large", func(c *Config) { c.ContentBytes = 1 << 20 }, "content bytes"},
		{"odd users in chat", func(c *Config) { c.Connections = 201 }, "even number of users"},
		{"chat on one gateway", func(c *Config) { c.Targets = c.Targets[:1] }, ""},
		{"push without the REST API", func(c *Config) { c.Scenario = ScenarioPush }, "REST API"},
		{"churn down as long as the interval", func(c *Config) { c.Scenario, c.ChurnDown = ScenarioChurn, c.ChurnInterval }, "churn down"},
		{"churn fraction zero", func(c *Config) { c.Scenario, c.ChurnFraction = ScenarioChurn, 0 }, "churn fraction"},
		{"mixed without redis", func(c *Config) { c.Scenario = ScenarioMixed }, "Redis"},
		{"mixed group share", func(c *Config) { c.Scenario, c.Redis, c.GroupShare = ScenarioMixed, "127.0.0.1:1", 1 }, "group share"},
		{"too many workers", func(c *Config) { c.Workers = MaxWorkersBound + 1 }, "workers"},
		{"error rate above one", func(c *Config) { c.MaxErrorRate = 2 }, "error rate"},
		{"too many senders", func(c *Config) { c.Senders = 1000 }, "senders"},
		{"group without redis", func(c *Config) { c.Scenario = ScenarioGroup }, "Redis"},
		{"group larger than users", func(c *Config) {
			c.Scenario, c.Redis, c.GroupSize = ScenarioGroup, "127.0.0.1:1", 201
		}, "group size"},
		{"no groups", func(c *Config) { c.Scenario, c.Redis, c.Groups = ScenarioGroup, "127.0.0.1:1", 0 }, "groups must be"},
		{"connect ignores traffic knobs", func(c *Config) { c.Scenario = ScenarioConnect; c.Rate = 0; c.Duration = 0 }, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := validChat()
			tt.mutate(&c)
			err := c.Validate()
			switch {
			case tt.want == "" && err != nil:
				t.Fatalf("want valid, got %v", err)
			case tt.want != "" && err == nil:
				t.Fatalf("want an error about %q, got none", tt.want)
			case tt.want != "" && !strings.Contains(err.Error(), tt.want):
				t.Fatalf("error %q does not mention %q", err, tt.want)
			}
		})
	}
}

func TestConfigTimeoutBoundsTheRun(t *testing.T) {
	c := validChat()
	c.Connections, c.ConnectRate, c.Hold, c.Duration, c.Drain = 1000, 100, 5*time.Second, 30*time.Second, 10*time.Second
	if got, want := c.timeout(), 20*time.Second+5*time.Second+60*time.Second+40*time.Second; got != want {
		t.Fatalf("timeout %v, want %v", got, want)
	}
	c.Timeout = time.Minute
	if c.timeout() != time.Minute {
		t.Fatalf("explicit timeout not used")
	}
}

func TestLoopbackCheck(t *testing.T) {
	tests := []struct {
		host string
		want bool
	}{
		{"127.0.0.1", true},
		{"127.8.9.10", true},
		{"::1", true},
		{"[::1]", true},
		{"localhost", true},
		{"LOCALHOST.", true},
		{"gw.localhost", true},
		{"0:0:0:0:0:0:0:1", true},
		{"::ffff:127.0.0.1", true},
		{"10.0.0.1", false},
		{"0.0.0.0", false},
		{"::", false},
		{"128.0.0.1", false},
		{"example.com", false},
		{"localhost.example.com", false},
		{"127.0.0.1.nip.io", false},
		{"", false},
	}
	for _, tt := range tests {
		if got := IsLoopbackHost(tt.host); got != tt.want {
			t.Errorf("IsLoopbackHost(%q) = %v, want %v", tt.host, got, tt.want)
		}
	}
}

func TestCheckTargets(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(*Config)
		want   string
	}{
		{"all loopback", func(*Config) {}, ""},
		{"ipv6 loopback", func(c *Config) { c.Targets[0].WS = "ws://[::1]:8080/ws" }, ""},
		{"remote gateway", func(c *Config) { c.Targets[0].WS = "ws://10.1.2.3:8080/ws" }, "not on loopback"},
		{"remote metrics", func(c *Config) { c.Targets[2].Metrics = "http://metrics.example.com:9090" }, "not on loopback"},
		{"remote allowed", func(c *Config) { c.Targets[0].WS = "wss://chat.example.com/ws"; c.AllowRemote = true }, ""},
		{"remote redis", func(c *Config) { c.Redis = "10.0.0.5:6379" }, "redis"},
		{"redis without port", func(c *Config) { c.Redis = "127.0.0.1" }, "redis address"},
		{"bad scheme", func(c *Config) { c.Targets[0].WS = "tcp://127.0.0.1:1" }, "scheme"},
		{"no host", func(c *Config) { c.Targets[0].WS = "ws:///ws" }, "no host"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := validChat()
			tt.mutate(&c)
			err := CheckTargets(c)
			switch {
			case tt.want == "" && err != nil:
				t.Fatalf("want accepted, got %v", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Fatalf("want an error about %q, got %v", tt.want, err)
			}
		})
	}
}
