// Command chatgate is the chatgate binary: `serve` runs the server roles,
// `client` is a terminal chat client, `token` mints access tokens,
// `loadtest` drives gateways with real clients and `version` says which
// build this is. Each subcommand has its own flag set;
// `chatgate help <command>` prints its flags.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	// Zone data in the binary: settings' time_zone and push quiet hours
	// must not depend on the host having /usr/share/zoneinfo.
	_ "time/tzdata"
)

// stdio is what a subcommand may touch of the process, so tests can run
// subcommands in-process with buffers instead of the real terminal.
type stdio struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	environ        []string
	// argv0 is how the binary was invoked, to print commands a user can
	// paste.
	argv0 string
}

func (s stdio) getenv(key string) string {
	for _, kv := range s.environ {
		if k, v, ok := strings.Cut(kv, "="); ok && k == key {
			return v
		}
	}
	return ""
}

// command is one subcommand.
type command struct {
	name    string
	summary string
	// run parses args with the subcommand's own flag set and runs it.
	run func(ctx context.Context, args []string, std stdio) error
	// usage prints the subcommand's flags.
	usage func(w io.Writer)
}

func commands() []command {
	return []command{
		{name: "serve", summary: "run chatgate (embedded mode when no Redis is configured)", run: runServe, usage: usageOf(serveFlags)},
		{name: "client", summary: "interactive terminal chat client", run: runClient, usage: usageOf(clientFlags)},
		{name: "token", summary: "mint an admin or user access token", run: runToken, usage: usageOf(tokenFlags)},
		{name: "loadtest", summary: "load-test gateways with real clients; a ledger proves nothing was lost", run: runLoadtest, usage: loadtestUsage},
		{name: "fakepush", summary: "run a fake APNs + FCM for trying push out and benchmarks", run: runFakepush, usage: usageOf(fakepushFlags)},
		{name: "probe", summary: "GET a health URL, exit non-zero unless it answers 2xx (container health checks)", run: runProbe, usage: usageOf(probeFlags)},
		{name: "version", summary: "print the version", run: runVersion, usage: usageOf(versionFlags)},
	}
}

// usageOf prints the flags of a flag set built by mk.
func usageOf[T any](mk func(io.Writer) (*flag.FlagSet, *T)) func(io.Writer) {
	return func(w io.Writer) {
		fs, _ := mk(w)
		fs.Usage()
	}
}

// errUsage marks an error as a usage error (exit status 2); the message has
// already been printed with the flags.
var errUsage = errors.New("usage")

func main() {
	std := stdio{stdin: os.Stdin, stdout: os.Stdout, stderr: os.Stderr, environ: os.Environ(), argv0: os.Args[0]}
	os.Exit(run(context.Background(), os.Args[1:], std))
}

// run executes one command line and returns the exit status.
func run(ctx context.Context, args []string, std stdio) int {
	if len(args) == 0 {
		printHelp(std.stderr)
		return 2
	}
	name, rest := args[0], args[1:]
	switch name {
	case "help", "-h", "-help", "--help":
		if len(rest) > 0 {
			for _, c := range commands() {
				if c.name == rest[0] {
					c.usage(std.stdout)
					return 0
				}
			}
			fmt.Fprintf(std.stderr, "chatgate: unknown command %q\n", rest[0])
			return 2
		}
		printHelp(std.stdout)
		return 0
	}
	for _, c := range commands() {
		if c.name != name {
			continue
		}
		err := c.run(ctx, rest, std)
		var status exitStatus
		switch {
		case errors.As(err, &status):
			return int(status)
		case err == nil, errors.Is(err, flag.ErrHelp):
			return 0
		case errors.Is(err, errUsage):
			return 2
		default:
			// Errors of the client library already say "client: ".
			fmt.Fprintf(std.stderr, "chatgate %s: %s\n", name, strings.TrimPrefix(err.Error(), name+": "))
			return 1
		}
	}
	fmt.Fprintf(std.stderr, "chatgate: unknown command %q\n\n", name)
	printHelp(std.stderr)
	return 2
}

func printHelp(w io.Writer) {
	fmt.Fprintln(w, "chatgate: a realtime chat gateway.")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Usage: chatgate <command> [flags]")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Commands:")
	for _, c := range commands() {
		fmt.Fprintf(w, "  %-8s %s\n", c.name, c.summary)
	}
	fmt.Fprintf(w, "  %-8s %s\n", "help", "print this help, or a command's flags: chatgate help <command>")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Configuration: docs/configuration.md (YAML file plus CHATGATE_* environment variables).")
}

// parse parses a subcommand's flags, mapping errors to errUsage and
// refusing stray positional arguments, which are always a typo here.
func parse(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return errUsage
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(fs.Output(), "unexpected argument %q\n", fs.Arg(0))
		fs.Usage()
		return errUsage
	}
	return nil
}

// newFlagSet is a flag set that reports errors itself and prints a usage
// line before the flags.
func newFlagSet(name, synopsis string, w io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(w)
	fs.Usage = func() {
		fmt.Fprintf(w, "Usage: chatgate %s %s\n\nFlags:\n", name, synopsis)
		fs.PrintDefaults()
	}
	return fs
}
