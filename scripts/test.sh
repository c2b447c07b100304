#!/usr/bin/env bash
# The one test command (README "Set up"): installs what the tests need when
# it is missing, then runs every suite. On a fresh Debian machine with only Go
# and this repository it is all a new user runs; .ci/run calls it too.
#
# Each suite's dependencies are one need_* line below; add yours there, never
# a second install path. Packages come from Debian (apt-get) and npm only.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/deps.sh
. scripts/deps.sh

# --- what the suites need
need_cmd redis-server redis-server # internal/redistest starts its own servers
need_cc                            # the race detector needs cgo
need_versitygw                     # internal/s3test starts a real S3-compatible server

# --- Go: every package, under the race detector.
export CGO_ENABLED=1
echo "--- go test -race ./..."
go test -race -timeout 15m ./...
