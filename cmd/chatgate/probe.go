package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net/http"
	"time"
)

type probeOpts struct {
	timeout time.Duration
}

func probeFlags(w io.Writer) (*flag.FlagSet, *probeOpts) {
	o := &probeOpts{}
	fs := newFlagSet("probe", "[-timeout 3s] URL", w)
	fs.DurationVar(&o.timeout, "timeout", 3*time.Second, "how long to wait for the answer")
	return fs, o
}

// runProbe GETs one URL and fails unless it answers 2xx: the health check
// of container images that carry no shell and no curl (the Docker image is
// distroless), e.g. `chatgate probe http://127.0.0.1:9090/readyz`.
func runProbe(ctx context.Context, args []string, std stdio) error {
	fs, o := probeFlags(std.stderr)
	if err := fs.Parse(args); err != nil {
		if err == flag.ErrHelp {
			return err
		}
		return errUsage
	}
	if fs.NArg() != 1 {
		fmt.Fprintln(std.stderr, "probe: want exactly one URL")
		fs.Usage()
		return errUsage
	}
	ctx, cancel := context.WithTimeout(ctx, o.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, fs.Arg(0), nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("%s: %s %s", fs.Arg(0), resp.Status, body)
	}
	fmt.Fprintf(std.stdout, "%s: %s\n", fs.Arg(0), resp.Status)
	return nil
}
