package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"runtime"
	"runtime/debug"
)

// version is set at link time (-ldflags "-X main.version=v1.2.3") by
// release builds; it is the only package-level variable, written once by
// the linker and never at run time.
var version = ""

// versionString is the build's version: the linker's, else the module
// version `go install ...@vX` records, else "dev" plus the VCS revision
// when the build recorded one.
func versionString() string {
	if version != "" {
		return version
	}
	v := "dev"
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return v
	}
	if bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	for _, s := range bi.Settings {
		if s.Key == "vcs.revision" && len(s.Value) >= 12 {
			v += "-" + s.Value[:12]
		}
	}
	return v
}

func versionFlags(w io.Writer) (*flag.FlagSet, *struct{}) {
	return newFlagSet("version", "", w), &struct{}{}
}

func runVersion(_ context.Context, args []string, std stdio) error {
	fs, _ := versionFlags(std.stderr)
	if err := parse(fs, args); err != nil {
		return err
	}
	fmt.Fprintf(std.stdout, "chatgate %s (%s %s/%s)\n", versionString(), runtime.Version(), runtime.GOOS, runtime.GOARCH)
	return nil
}
