package loadtest

import (
	"encoding/json"
	"fmt"
	"os"
	"time"
)

// Result is everything a run measured. It is written as JSON (Config.JSONPath)
// and summarised as text; OK is false when the run failed its contract.
type Result struct {
	Scenario string    `json:"scenario"`
	Started  time.Time `json:"started"`
	Seconds  float64   `json:"seconds"`
	OK       bool      `json:"ok"`
	// Failures say why OK is false.
	Failures []string `json:"failures,omitempty"`
	Settings Settings `json:"settings"`

	Connect *ConnectReport `json:"connect,omitempty"`
	Traffic *TrafficReport `json:"traffic,omitempty"`
	// Errors counts errors by where they happened and their protocol code.
	Errors map[string]int64 `json:"errors,omitempty"`
	Ledger *Report          `json:"ledger,omitempty"`

	// Window says what the server reports cover.
	Window   string          `json:"window"`
	Servers  []ProcessReport `json:"servers,omitempty"`
	Redis    *RedisReport    `json:"redis,omitempty"`
	Gateways []GatewayCost   `json:"gateways,omitempty"`
	// Machine accounts for every core's time over the same window.
	Machine *MachineReport `json:"machine,omitempty"`
	// Harness is the load generator's own cost: when it is near a full
	// core on a shared machine, latencies include its queueing.
	Harness HarnessCost `json:"harness"`
	// Operations are the connects and sends of the run, FailedOps those
	// that failed; ErrorRate is their ratio, judged against -max-error-rate.
	Operations int64   `json:"operations"`
	FailedOps  int64   `json:"failed_operations"`
	ErrorRate  float64 `json:"error_rate"`
	// Churn is how the reconnect storms went (churn and mixed).
	Churn *ChurnReport `json:"churn,omitempty"`
	// Push is how the campaign went (push).
	Push *PushReport `json:"push,omitempty"`
	// Timeline has one sample per second of the run; ServerTimeline one
	// scrape of the servers every few seconds; PeakStreamLag is the
	// largest ingress backlog any scrape saw.
	Timeline       []Sample      `json:"timeline,omitempty"`
	ServerTimeline []ServerPoint `json:"server_timeline,omitempty"`
	PeakStreamLag  float64       `json:"peak_stream_lag"`
	// Workers is how many load processes drove the run (0: this one).
	Workers int `json:"workers,omitempty"`
	// LoadStart and LoadEnd are the machine's 1-minute load average: other
	// work on the machine competes with the servers and the harness.
	LoadStart float64 `json:"load_average_start"`
	LoadEnd   float64 `json:"load_average_end"`
}

// Settings echo the configuration of the run (never the app secret).
type Settings struct {
	Targets        []Target `json:"targets"`
	AppID          string   `json:"app_id"`
	Redis          string   `json:"redis,omitempty"`
	Connections    int      `json:"connections"`
	DevicesPerUser int      `json:"devices_per_user"`
	Users          int      `json:"users"`
	UserBase       int64    `json:"user_base"`
	ConnectRate    float64  `json:"connect_rate"`
	HoldSeconds    float64  `json:"hold_seconds"`
	Rate           float64  `json:"rate,omitempty"`
	DurationSecs   float64  `json:"duration_seconds,omitempty"`
	MaxMessages    int64    `json:"max_messages,omitempty"`
	ContentBytes   int      `json:"content_bytes,omitempty"`
	GroupSize      int      `json:"group_size,omitempty"`
	API            string   `json:"api,omitempty"`
	Groups         int      `json:"groups,omitempty"`
	NoFileLimit    uint64   `json:"nofile_limit"`
}

func settingsOf(c Config, nofile uint64) Settings {
	s := Settings{
		Targets: c.Targets, AppID: c.AppID, Redis: c.Redis,
		Connections: c.Connections, DevicesPerUser: c.DevicesPerUser, Users: c.Users(), UserBase: c.UserBase,
		ConnectRate: c.ConnectRate, HoldSeconds: c.Hold.Seconds(), NoFileLimit: nofile,
	}
	switch c.Scenario.normalize() {
	case ScenarioGroup:
		s.GroupSize, s.Groups = c.GroupSize, c.Groups
		fallthrough
	case ScenarioChat:
		s.Rate, s.DurationSecs, s.MaxMessages, s.ContentBytes = c.Rate, c.Duration.Seconds(), c.MaxMessages, c.ContentBytes
	case ScenarioPush:
		s.API, s.DurationSecs = c.API, c.Duration.Seconds()
	}
	return s
}

// ConnectReport is how connecting went.
type ConnectReport struct {
	Target      int     `json:"target"`
	Established int64   `json:"established"`
	Failed      int64   `json:"failed"`
	Reconnects  int64   `json:"reconnects"`
	Disconnects int64   `json:"disconnects"`
	RampSeconds float64 `json:"ramp_seconds"`
	// RampRate is the connections per second actually established.
	RampRate float64 `json:"ramp_rate"`
	// Latency is from the start of the dial to the server's hello.
	Latency     Summary `json:"latency"`
	HoldSeconds float64 `json:"hold_seconds,omitempty"`
}

// TrafficReport is how sending and receiving went.
type TrafficReport struct {
	OfferedRate float64 `json:"offered_rate"`
	Planned     int64   `json:"planned"`
	Sent        int64   `json:"sent"`
	Acked       int64   `json:"acked"`
	SendErrors  int64   `json:"send_errors"`
	// Unanswered sends had neither ack nor error when the drain ended.
	Unanswered  int64   `json:"unanswered"`
	SendSeconds float64 `json:"send_seconds"`
	// AckRate is acks per second from the first send to the last ack (the
	// send phase, or longer when a backlog was acked during the drain).
	AckRate float64 `json:"ack_rate"`
	// Expected deliveries are owed for the acked sends; Received counts the
	// messages the devices got (each id once per device), Synced of them
	// by sync after a reconnect.
	Expected     int64   `json:"expected_deliveries"`
	Received     int64   `json:"received"`
	Synced       int64   `json:"synced"`
	DeliveryRate float64 `json:"delivery_rate"`
	Senders      int     `json:"senders"`
	// MaxDeviceRate is the busiest sending connection's rate, to compare
	// with the gateway's frames_per_second.
	MaxDeviceRate float64 `json:"max_device_rate"`
	// Latencies are measured from when the open-loop schedule wanted the
	// send made, so a stall anywhere (server or harness) is counted.
	AckLatency      Summary `json:"ack_latency"`
	DeliveryLatency Summary `json:"delivery_latency"`
	// ScheduleLag is how late the harness handed sends to their
	// connection: the harness's own share of the latencies above.
	ScheduleLag Summary `json:"schedule_lag"`
}

// GatewayCost relates one gateway's spend to the work it did.
type GatewayCost struct {
	Name        string `json:"name"`
	Connections int64  `json:"connections"`

	// Connection costs (connect scenario).
	RSSPerConnKiB   float64 `json:"rss_per_conn_kib,omitempty"`
	HeapPerConnKiB  float64 `json:"heap_per_conn_kib,omitempty"`
	StackPerConnKiB float64 `json:"stack_per_conn_kib,omitempty"`
	// IdleHeapPerConnKiB is free heap the Go runtime still holds (heap
	// idle minus released): RSS that a scavenge would give back.
	IdleHeapPerConnKiB   float64 `json:"idle_heap_per_conn_kib,omitempty"`
	GoroutinesPerConn    float64 `json:"goroutines_per_conn,omitempty"`
	ConnectCPUMsPerConn  float64 `json:"connect_cpu_ms_per_conn,omitempty"`
	IdleCPUPercent       float64 `json:"idle_cpu_percent,omitempty"`
	IdleCPUUsPerConnSec  float64 `json:"idle_cpu_us_per_conn_second,omitempty"`
	GoroutinesAfterClose float64 `json:"goroutines_after_close,omitempty"`
	GoroutinesBaseline   float64 `json:"goroutines_baseline,omitempty"`

	// Delivery costs (chat and group).
	Deliveries             float64 `json:"deliveries,omitempty"`
	HarnessReceived        int64   `json:"harness_received,omitempty"`
	CPUSeconds             float64 `json:"cpu_seconds,omitempty"`
	DeliveriesPerCPUSecond float64 `json:"deliveries_per_cpu_second,omitempty"`
}

// HarnessCost is the load generator's own CPU and memory.
type HarnessCost struct {
	CPUSeconds  float64 `json:"cpu_seconds"`
	CPUPercent  float64 `json:"cpu_percent"`
	MaxRSSBytes int64   `json:"max_rss_bytes"`
	Goroutines  int     `json:"goroutines_peak"`
}

func (r *Result) fail(format string, args ...any) {
	r.OK = false
	r.Failures = append(r.Failures, fmt.Sprintf(format, args...))
}

// writeJSON writes the result to path.
func (r *Result) writeJSON(path string) error {
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return fmt.Errorf("encode result: %w", err)
	}
	if err := os.WriteFile(path, append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("write result: %w", err)
	}
	return nil
}
