package loadtest

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"runtime/pprof"
	"strings"
	"syscall"
)

// Environment variables Main reads, so that secrets stay out of `ps`.
const (
	EnvSecret        = "CHATGATE_LOADTEST_SECRET"
	EnvRedisPassword = "CHATGATE_LOADTEST_REDIS_PASSWORD"
)

// Main runs the `chatgate loadtest` subcommand with args (without the
// subcommand name) and returns the exit status: 0 the run passed, 1 it
// failed or could not run, 2 bad usage. SIGINT and SIGTERM end the run
// early; it still reports what it measured.
func Main(args []string) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return MainWith(ctx, args, os.Stdout, os.Stderr, os.Getenv)
}

// MainWith is Main with the process's context and stdio given, for a
// subcommand dispatcher that owns signals and output (cmd/chatgate) and
// for tests. Reports go to stdout; progress, logs and errors to stderr.
func MainWith(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) int {
	if len(args) == 1 && (args[0] == "-worker" || args[0] == "--worker") {
		// A worker process of a multi-process run: its job comes on
		// stdin, so that nothing of it (the app secret) shows in ps.
		return WorkerMain(ctx, os.Stdin, stdout, stderr)
	}
	cfg, err := parseFlags(args, stderr, getenv)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintf(stderr, "chatgate loadtest: %v\n", err)
		return 2
	}
	if cfg.cpuProfile != "" {
		stop, err := startCPUProfile(cfg.cpuProfile)
		if err != nil {
			fmt.Fprintf(stderr, "chatgate loadtest: %v\n", err)
			return 1
		}
		defer stop()
	}
	res, err := Run(ctx, cfg, stdout)
	if err != nil {
		fmt.Fprintf(stderr, "chatgate loadtest: %v\n", err)
		return 1
	}
	if !res.OK {
		return 1
	}
	return 0
}

// parseFlags builds a Config from the command line.
func parseFlags(args []string, stderr io.Writer, getenv func(string) string) (Config, error) {
	cfg := DefaultConfig()
	fs := flag.NewFlagSet("loadtest", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: chatgate loadtest -scenario connect|idle|chat|group|churn|mixed -ws URL[,URL...] [flags]\n"+
			"       chatgate loadtest -scenario push -api URL -fakepush-dir DIR [flags]\n"+
			"       chatgate loadtest -config configs/loadtest-chat.yaml [flags that override the file]\n\n"+
			"Drives real WebSocket clients against chatgate gateways and reports latency (HDR\n"+
			"histograms), throughput, the servers' own cost from their /metrics and Redis INFO,\n"+
			"and a delivery ledger: the run fails (exit 1) if an acknowledged message was lost,\n"+
			"or if the error rate passes -max-error-rate. A scenario file holds the same\n"+
			"settings as the flags, by flag name. -workers N spreads the devices over N load\n"+
			"processes (this binary re-executed) for runs beyond one process's open-file limit.\n"+
			"Targets must be on loopback unless -allow-remote is given. The push scenario runs\n"+
			"the fake APNs/FCM itself and writes its credentials and a push.yaml snippet into\n"+
			"-fakepush-dir: start chatgate with them, the run waits for it (-api-wait).\n\nFlags:\n")
		fs.PrintDefaults()
	}
	var (
		scenario, ws, metrics, routers, pushers, tokenFile, logLevel, configFile string
		quiet                                                                    bool
	)
	fs.StringVar(&configFile, "config", "", "scenario file (YAML): flag names as keys; flags on the command line override it")
	fs.StringVar(&scenario, "scenario", string(cfg.Scenario), scenarioNames)
	fs.StringVar(&ws, "ws", "", "comma-separated gateway WebSocket URLs, e.g. ws://127.0.0.1:8081/ws")
	fs.StringVar(&metrics, "metrics", "", "comma-separated ops URLs (http://host:port) of the gateways, in -ws order; empty entries skip one")
	fs.StringVar(&routers, "router-metrics", "", "comma-separated ops URLs of router-only processes to observe")
	fs.StringVar(&pushers, "push-metrics", "", "comma-separated ops URLs of push worker processes to observe")
	fs.BoolVar(&cfg.AllowRemote, "allow-remote", false, "allow targets outside loopback")
	fs.StringVar(&cfg.AppID, "app", cfg.AppID, "app id")
	fs.StringVar(&cfg.AppSecret, "secret", "", "app secret to mint user tokens with (default $"+EnvSecret+")")
	fs.StringVar(&tokenFile, "token-file", "", `file of "<user_id> <token>" lines, instead of -secret`)
	fs.StringVar(&cfg.Redis, "redis", "", "Redis host:port: observed with INFO; required by -scenario group to declare groups")
	fs.IntVar(&cfg.Connections, "connections", cfg.Connections, "device connections in total")
	fs.IntVar(&cfg.DevicesPerUser, "devices", cfg.DevicesPerUser, "devices (connections) per user")
	fs.Int64Var(&cfg.UserBase, "user-base", cfg.UserBase, "first user id")
	fs.Float64Var(&cfg.ConnectRate, "connect-rate", cfg.ConnectRate, "new connections per second during the ramp")
	fs.DurationVar(&cfg.Hold, "hold", cfg.Hold, "connect: how long to hold the connections idle; chat/group: pause between connecting and sending")
	fs.Float64Var(&cfg.Rate, "rate", cfg.Rate, "chat/group: messages sent per second (open loop)")
	fs.DurationVar(&cfg.Duration, "duration", cfg.Duration, "chat/group: how long to send; push: longest wait for the campaign to reach every device")
	fs.Int64Var(&cfg.MaxMessages, "max-messages", cfg.MaxMessages, "chat/group: at most this many sends")
	fs.IntVar(&cfg.ContentBytes, "content-bytes", cfg.ContentBytes, "chat/group: message content size")
	fs.IntVar(&cfg.Senders, "senders", 0, "chat: users that send (0: all)")
	fs.IntVar(&cfg.GroupSize, "group-size", cfg.GroupSize, "group: members per group")
	fs.IntVar(&cfg.Groups, "groups", cfg.Groups, "group: number of groups")
	fs.Int64Var(&cfg.GroupBase, "group-base", cfg.GroupBase, "group: first group id")
	fs.BoolVar(&cfg.ManagedGroups, "managed-groups", false, "group: make managed groups (owner, settings, join points), whose rules the router reads with every send")
	fs.DurationVar(&cfg.Drain, "drain", cfg.Drain, "chat/group: longest wait for outstanding acks and deliveries after the last send")
	fs.DurationVar(&cfg.Timeout, "timeout", 0, "bound of the whole run (0: derived from the other durations)")
	fs.StringVar(&cfg.JSONPath, "json", "", "write the JSON result to this file")
	fs.StringVar(&cfg.HTMLPath, "html", "", "write the self-contained HTML report to this file")
	fs.Float64Var(&cfg.MaxErrorRate, "max-error-rate", cfg.MaxErrorRate, "fail when failed connects and sends exceed this share of all of them")
	fs.IntVar(&cfg.SourceAddrs, "sources", cfg.SourceAddrs, "spread connections over this many source addresses 127.0.0.2... (0: kernel's choice)")
	fs.IntVar(&cfg.Workers, "workers", cfg.Workers, "load processes to spread the devices over (0 or 1: this process only)")
	fs.Float64Var(&cfg.ChurnFraction, "churn-fraction", cfg.ChurnFraction, "churn/mixed: share of the devices cut in each wave")
	fs.DurationVar(&cfg.ChurnInterval, "churn-interval", cfg.ChurnInterval, "churn/mixed: time between waves")
	fs.DurationVar(&cfg.ChurnDown, "churn-down", cfg.ChurnDown, "churn/mixed: how long a cut device stays offline")
	fs.Float64Var(&cfg.GroupShare, "group-share", cfg.GroupShare, "mixed: share of the sends that go to groups")
	fs.StringVar(&cfg.API, "api", "", "push: base URL of the REST API, e.g. http://127.0.0.1:8081")
	fs.DurationVar(&cfg.APIWait, "api-wait", cfg.APIWait, "push: how long to wait for the REST API to answer with the app's push credentials")
	fs.StringVar(&cfg.PushAudience, "push-audience", cfg.PushAudience, "push: tag (the run's devices) or all (every device of the app)")
	fs.StringVar(&cfg.FakePushDir, "fakepush-dir", "", "push: directory for the harness's fake APNs/FCM credentials and the push.yaml snippet to start chatgate with")
	fs.StringVar(&cfg.FakePushAddr, "fakepush-addr", cfg.FakePushAddr, "push: listen address of the harness's fake APNs/FCM")
	fs.DurationVar(&cfg.FakePushLatency, "fakepush-latency", 0, "push: latency the fake adds to every APNs/FCM answer")
	fs.StringVar(&cfg.cpuProfile, "cpuprofile", "", "write the harness's own CPU profile to this file (go tool pprof)")
	fs.BoolVar(&quiet, "quiet", false, "no progress line on stderr")
	fs.StringVar(&logLevel, "log-level", "warn", "debug, info, warn or error (logs go to stderr)")
	if path := findConfigArg(args); path != "" {
		if err := applyScenarioFile(fs, path); err != nil {
			return cfg, err
		}
	}
	if err := fs.Parse(args); err != nil {
		return cfg, err
	}
	if fs.NArg() > 0 {
		return cfg, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}

	cfg.Scenario = Scenario(scenario)
	var err error
	if cfg.Targets, err = buildTargets(ws, metrics, routers); err != nil {
		return cfg, err
	}
	for i, u := range splitList(pushers) {
		if u != "" {
			cfg.Targets = append(cfg.Targets, Target{Name: fmt.Sprintf("pw%d", i+1), Role: RolePushWorker, Metrics: opsBase(u)})
		}
	}
	if cfg.AppSecret == "" {
		cfg.AppSecret = getenv(EnvSecret)
	}
	cfg.RedisPassword = getenv(EnvRedisPassword)
	if tokenFile != "" {
		f, err := os.Open(tokenFile)
		if err != nil {
			return cfg, fmt.Errorf("token file: %w", err)
		}
		cfg.Tokens, err = ParseTokens(f)
		f.Close()
		if err != nil {
			return cfg, err
		}
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(logLevel)); err != nil {
		return cfg, fmt.Errorf("-log-level %q: want debug, info, warn or error", logLevel)
	}
	cfg.Log = slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))
	if !quiet {
		cfg.Progress = stderr
	}
	return cfg, cfg.Validate()
}

// startCPUProfile profiles the harness itself, to tell its own cost apart
// from the servers' when the machine is shared.
func startCPUProfile(path string) (func(), error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("cpu profile: %w", err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("cpu profile: %w", err)
	}
	return func() {
		pprof.StopCPUProfile()
		f.Close()
	}, nil
}

// buildTargets names the gateways gw1, gw2, ... and the routers rt1, ...
func buildTargets(ws, metrics, routers string) ([]Target, error) {
	wsList, mList, rList := splitList(ws), splitList(metrics), splitList(routers)
	if len(mList) > len(wsList) {
		return nil, fmt.Errorf("-metrics has %d URLs for %d gateways", len(mList), len(wsList))
	}
	var out []Target
	for i, u := range wsList {
		if u == "" {
			return nil, errors.New("-ws has an empty entry")
		}
		t := Target{Name: fmt.Sprintf("gw%d", i+1), Role: RoleGateway, WS: u}
		if i < len(mList) {
			t.Metrics = opsBase(mList[i])
		}
		out = append(out, t)
	}
	for i, u := range rList {
		if u == "" {
			continue
		}
		out = append(out, Target{Name: fmt.Sprintf("rt%d", i+1), Role: RoleRouter, Metrics: opsBase(u)})
	}
	return out, nil
}

// splitList splits a comma-separated flag, keeping empty entries so that
// positions line up; an empty flag is no entries.
func splitList(s string) []string {
	if strings.TrimSpace(s) == "" {
		return nil
	}
	parts := strings.Split(s, ",")
	for i := range parts {
		parts[i] = strings.TrimSpace(parts[i])
	}
	return parts
}

// opsBase accepts an ops URL with or without the /metrics path.
func opsBase(u string) string {
	return strings.TrimSuffix(strings.TrimSuffix(u, "/"), "/metrics")
}
