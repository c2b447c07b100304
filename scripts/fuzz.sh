#!/usr/bin/env bash
# Runs every go test -fuzz target for a short time (FUZZTIME, default 5s
# each), so that the decoders keep being exercised beyond their seed corpora
# (testdata/fuzz/<Target> next to each target). .ci/run calls it after the
# tests; a longer run: FUZZTIME=60s scripts/fuzz.sh (BENCHMARKS.md records
# one). A crash writes the failing input under testdata/fuzz/<Target>/ and
# fails the script: commit that file with the fix, as a regression seed.
set -euo pipefail
cd "$(dirname "$0")/.."

FUZZTIME="${FUZZTIME:-5s}"
# package target
targets=(
	"./protocol FuzzDecode"
	"./internal/auth FuzzVerify"
	"./internal/bus FuzzDecodeEntries"
	"./store FuzzStoredData"
	"./pushworker FuzzCampaign"
	"./client FuzzServerFrame"
	"./internal/config FuzzLoad"
	"./admin FuzzRequest"
	"./admin FuzzIDStringsToNumbers"
	"./protocol FuzzExactMembers"
	"./protocol FuzzAttachment"
	"./domain/group FuzzDecodeQRCode"
	"./internal/pushcert FuzzResolve"
	"./pushworker/maker FuzzAnswers"
)
for t in "${targets[@]}"; do
	read -r pkg name <<<"$t"
	echo "--- fuzz $name ($pkg, $FUZZTIME)"
	log="$(mktemp)"
	if ! go test -run='^$' -fuzz="^${name}\$" -fuzztime="$FUZZTIME" -parallel=2 "$pkg" >"$log" 2>&1; then
		# All of it: the failing input and what the target said of it.
		grep -v '^redis-server:' "$log"
		rm -f "$log"
		exit 1
	fi
	grep -v '^redis-server:' "$log" | tail -n 3
	rm -f "$log"
done
