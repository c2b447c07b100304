#!/usr/bin/env bash
# bench-api.sh: measure the REST API (admin role) on this machine with wrk.
#
# Starts its own redis-server (or uses REDIS_ADDR), builds bin/chatgate,
# starts one admin-only process and one router-only process, registers two
# users through the API, then runs wrk against:
#
#   settings  GET /user/settings with a user token: the cheap
#             authenticated read (app lookup, JWT check, user state and
#             settings from Redis)
#   send      POST /message/send (admin token acting as user 1, to user 2):
#             each request waits for the router's ack, so a 200 means the
#             message is durable
#
# For each it prints wrk's report and the admin process's own CPU seconds
# and RSS over the run (from /proc), and the requests per admin CPU-second.
# Every process is killed at exit.
#
# Usage: scripts/bench-api.sh
# Knobs: REDIS_ADDR, DURATION (15s), CONNECTIONS (64), THREADS (1), OUT.
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION="${DURATION:-15s}"
CONNECTIONS="${CONNECTIONS:-64}"
THREADS="${THREADS:-1}"
OUT="${OUT:-out/bench-api-$(date +%Y%m%d-%H%M%S)}"
command -v wrk >/dev/null || { echo "wrk is needed (apt-get install wrk)" >&2; exit 1; }

# shellcheck source=scripts/bench-lib.sh
. scripts/bench-lib.sh

machine_line
go build -o bin/chatgate ./cmd/chatgate
start_redis

API_PORT=$(free_port) API_OPS=$(free_port) RT_OPS=$(free_port)
SECRET="bench-api-secret-not-for-production-0123456789"
cat >"$OUT/common.yaml" <<YAML
redis: {addr: "$REDIS_ADDR"}
router: {partitions: 16, push_partitions: 8}
admin: {listen: "127.0.0.1:$API_PORT", rate_limit: 0}
log: {level: warn}
apps: [{id: bench, secret: "$SECRET", name: bench}]
YAML
{ echo "node: api1"; echo "roles: [admin]"; echo "metrics: {listen: \"127.0.0.1:$API_OPS\"}"; cat "$OUT/common.yaml"; } >"$OUT/api.yaml"
{ echo "node: rt1"; echo "roles: [router]"; echo "metrics: {listen: \"127.0.0.1:$RT_OPS\"}"; grep -v '^admin:' "$OUT/common.yaml"; } >"$OUT/router.yaml"
bin/chatgate serve -config "$OUT/api.yaml" >"$OUT/api.log" 2>&1 &
API_PID=$!
pids+=($API_PID)
bin/chatgate serve -config "$OUT/router.yaml" >"$OUT/router.log" 2>&1 &
pids+=($!)
wait_ready "http://127.0.0.1:$API_OPS"
wait_ready "http://127.0.0.1:$RT_OPS"

BASE="http://127.0.0.1:$API_PORT"
ADMIN=$(bin/chatgate token -config "$OUT/api.yaml" -app bench -admin)
# field JSON-PATH extracts a value from an envelope on stdin, or fails
# showing the envelope.
field() {
	python3 -c 'import json,sys
e = json.load(sys.stdin)
if e.get("code") != 200:
    sys.exit("unexpected answer: %s" % e)
v = e["data"]
for k in sys.argv[1].split("."):
    v = v[k]
print(v)' "$1"
}
register() {
	curl -s -X POST "$BASE/user/register/v2" -H 'app_id: bench' -H 'Content-Type: application/json' \
		-d "{\"username\":\"$1\",\"password\":\"bench-password\"}" | field user_id
}
U1=$(register "bench_a_$$")
U2=$(register "bench_b_$$")
TOKEN=$(curl -s -X POST "$BASE/token/user" -H 'app_id: bench' -H 'Content-Type: application/json' \
	-d "{\"name\":\"bench_a_$$\",\"password\":\"bench-password\"}" | field token)
echo "users $U1 $U2"

# run NAME WRK-ARGS...: wrk with the admin process's CPU and RSS around it.
run() {
	local name=$1
	shift
	local t0 t1 hz
	hz=$(getconf CLK_TCK)
	t0=$(cpu_ticks "$API_PID")
	wrk -t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" --latency "$@" | tee "$OUT/$name.txt"
	t1=$(cpu_ticks "$API_PID")
	local reqs cpu
	reqs=$(awk '/^Requests\/sec:/ {print $2}' "$OUT/$name.txt")
	cpu=$(awk -v a="$t0" -v b="$t1" -v hz="$hz" 'BEGIN {printf "%.2f", (b - a) / hz}')
	echo "$name: $reqs req/s; admin process CPU ${cpu}s over $DURATION, RSS $(rss_kib "$API_PID") KiB" | tee -a "$OUT/summary.txt"
}

echo "--- GET /user/settings (user token)"
run settings -H 'app_id: bench' -H "access-token: $TOKEN" "$BASE/user/settings"

cat >"$OUT/send.lua" <<LUA
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["app_id"] = "bench"
wrk.headers["access-token"] = "$ADMIN"
wrk.body = '{"from_user_id":$U1,"targets":[$U2],"type":1,"content":"hello from wrk","content_type":0}'
done = function(summary, latency, requests) end
LUA
echo "--- POST /message/send (admin token, 1:1, waits for the router's ack)"
run send -s "$OUT/send.lua" "$BASE/message/send"
# wrk counts HTTP 200s; the envelope code must be 200 too.
curl -s -X POST "$BASE/message/send" -H 'app_id: bench' -H "access-token: $ADMIN" -H 'Content-Type: application/json' \
	-d "{\"from_user_id\":$U1,\"targets\":[$U2],\"type\":1,\"content\":\"check\",\"content_type\":0}" | tee -a "$OUT/summary.txt"
echo
echo "results in $OUT"
