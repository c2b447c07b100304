package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"path/filepath"
	"time"

	"github.com/chatgate/chatgate/internal/fakepush"
)

type fakepushOpts struct {
	addr    string
	dir     string
	latency time.Duration
	project string
	topic   string
}

func fakepushFlags(w io.Writer) (*flag.FlagSet, *fakepushOpts) {
	o := &fakepushOpts{}
	fs := newFlagSet("fakepush", "[-addr 127.0.0.1:8443] [-dir DIR] [-latency 20ms]", w)
	fs.StringVar(&o.addr, "addr", "127.0.0.1:8443", "listen address of the fake APNs + FCM (HTTPS, HTTP/2)")
	fs.StringVar(&o.dir, "dir", "fakepush", "directory to write ca.pem, apns.p8, fcm.json and push.yaml (an apps[].push snippet) into")
	fs.DurationVar(&o.latency, "latency", 0, "latency added to every APNs / FCM answer")
	fs.StringVar(&o.project, "project", "fake-project", "FCM project id")
	fs.StringVar(&o.topic, "topic", "com.example.chat", "APNs topic")
	return fs, o
}

// runFakepush serves a fake APNs and FCM (internal/fakepush) until
// interrupted, for trying push out and for the push benchmark.
func runFakepush(ctx context.Context, args []string, std stdio) error {
	fs, o := fakepushFlags(std.stderr)
	if err := parse(fs, args); err != nil {
		return err
	}
	f, err := fakepush.Start(ctx, fakepush.Options{Addr: o.addr, Latency: o.latency, Project: o.project, Topic: o.topic})
	if err != nil {
		return err
	}
	if _, err := f.WriteCredentials(o.dir); err != nil {
		return err
	}
	abs, _ := filepath.Abs(o.dir)
	fmt.Fprintf(std.stdout, "fake APNs + FCM on %s (latency %s); credentials and config snippet in %s\n", f.URL, o.latency, abs)
	t := time.NewTicker(5 * time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			a, c := f.Stats(fakepush.APNs), f.Stats(fakepush.FCM)
			fmt.Fprintf(std.stdout, "apns: %d requests, %d accepted; fcm: %d requests, %d accepted\n", a.Requests, a.Accepted, c.Requests, c.Accepted)
		}
	}
}
