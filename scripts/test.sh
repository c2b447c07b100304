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
need_node                          # sdk/js: the SDK's unit, integration and browser suites
need_cmd chromium chromium         # sdk/js/test/browser drives the demo in headless Chromium
need_cmd curl curl                 # admin: seed 000's cURL examples run with the real curl
need_cmd promtool prometheus       # deploy/: promtool checks and unit-tests the alert rules
need_versitygw                     # internal/s3test starts a real S3-compatible server

# --- Go: every package, under the race detector.
export CGO_ENABLED=1
echo "--- go test -race ./..."
go test -race -timeout 15m ./...

# --- JavaScript SDK (sdk/js): unit tests against a fake server, integration
# tests against the chatgate binary, the demo in headless Chromium. npm
# never downloads a browser (puppeteer-core uses /usr/bin/chromium).
echo "--- sdk/js: npm ci && npm test"
export PUPPETEER_SKIP_DOWNLOAD=1
(cd sdk/js && npm ci --no-audit --no-fund && npm test)

# --- Browser: the operator console and the load-test HTML report in
# headless Debian chromium (puppeteer-core, pinned by package-lock.json).
echo "--- browser tests (tests/browser)"
browser_bin="$(mktemp -d)"
trap 'rm -rf "$browser_bin"' EXIT
go build -o "$browser_bin/chatgate" ./cmd/chatgate
(cd tests/browser && npm ci --no-audit --no-fund --loglevel=error && CHATGATE_BIN="$browser_bin/chatgate" npm test)
