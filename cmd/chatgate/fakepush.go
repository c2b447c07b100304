package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/chatgate/chatgate/internal/fakepush"
)

type fakepushOpts struct {
	addr    string
	dir     string
	latency time.Duration
	project string
	topic   string
	rates   string
	quotas  string
}

func fakepushFlags(w io.Writer) (*flag.FlagSet, *fakepushOpts) {
	o := &fakepushOpts{}
	fs := newFlagSet("fakepush", "[-addr 127.0.0.1:8443] [-dir DIR] [-latency 20ms] [-rate vivo=500,oppo=1000] [-quota oppo=100000]", w)
	fs.StringVar(&o.addr, "addr", "127.0.0.1:8443", "listen address of the fake APNs, FCM and phone makers (HTTPS, HTTP/2)")
	fs.StringVar(&o.dir, "dir", "fakepush", "directory to write ca.pem, apns.p8, fcm.json and push.yaml (an apps[].push snippet) into")
	fs.DurationVar(&o.latency, "latency", 0, "latency added to every answer")
	fs.StringVar(&o.project, "project", "fake-project", "FCM project id")
	fs.StringVar(&o.topic, "topic", "com.example.chat", "APNs topic (and Xiaomi package name)")
	fs.StringVar(&o.rates, "rate", "", "per-maker rate limits, provider=pushes-per-second[,...]: beyond it the maker's throttling answer")
	fs.StringVar(&o.quotas, "quota", "", "per-maker quotas, provider=pushes[,...]: beyond it the maker's daily-quota answer")
	return fs, o
}

// parseLimits reads "provider=n,provider=n" for the makers.
func parseLimits(flagName, s string, set func(provider string, n float64)) error {
	if s == "" {
		return nil
	}
	for _, kv := range strings.Split(s, ",") {
		p, v, ok := strings.Cut(strings.TrimSpace(kv), "=")
		n, err := strconv.ParseFloat(v, 64)
		if !ok || err != nil || n <= 0 || !slices.Contains(fakepush.Makers, p) {
			return fmt.Errorf("-%s: %q is not provider=positive number (providers: %s)", flagName, kv, strings.Join(fakepush.Makers, ", "))
		}
		set(p, n)
	}
	return nil
}

// runFakepush serves a fake APNs, FCM and phone makers (internal/fakepush)
// until interrupted, for trying push out and for the push benchmark.
func runFakepush(ctx context.Context, args []string, std stdio) error {
	fs, o := fakepushFlags(std.stderr)
	if err := parse(fs, args); err != nil {
		return err
	}
	f, err := fakepush.Start(ctx, fakepush.Options{Addr: o.addr, Latency: o.latency, Project: o.project, Topic: o.topic})
	if err != nil {
		return err
	}
	if err := parseLimits("rate", o.rates, func(p string, n float64) { f.SetRate(p, n, int(n)) }); err != nil {
		return err
	}
	if err := parseLimits("quota", o.quotas, func(p string, n float64) { f.SetQuota(p, int64(n)) }); err != nil {
		return err
	}
	if _, err := f.WriteCredentials(o.dir); err != nil {
		return err
	}
	abs, _ := filepath.Abs(o.dir)
	fmt.Fprintf(std.stdout, "fake APNs, FCM, %s on %s (latency %s); credentials and config snippet in %s\n",
		strings.Join(fakepush.Makers, ", "), f.URL, o.latency, abs)
	t := time.NewTicker(5 * time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			var parts []string
			for _, p := range fakepush.Providers {
				s := f.Stats(p)
				parts = append(parts, fmt.Sprintf("%s %d/%d", p, s.Accepted, s.Requests))
			}
			fmt.Fprintf(std.stdout, "accepted/requests: %s\n", strings.Join(parts, ", "))
		}
	}
}
