#!/usr/bin/env bash
# bench-files.sh: measure file storage (issue 10) on this machine.
#
# Starts its own redis-server (or uses REDIS_ADDR), builds bin/chatgate and
# starts one process with the gateway and admin roles and the local
# backend (files.dir under OUT, on the same disk dd measures), then:
#
#   issue     wrk on GET /file/upload/chat (user token): upload-URL
#             issuance per second and per admin CPU-second (each request
#             writes the file record and the orphan-queue entry to Redis)
#   upload    PUT of 1 MB and 20 MB files to their signed URLs (curl, one
#             stream at a time), MB/s
#   download  the same files through /file/download/chat (302) and the
#             signed URL, MB/s
#   dd        the disk's sequential write (fsync) and read (direct) speed in
#             the same run, for comparison
#
# While the 20 MB files stream it samples the server's RSS every 20 ms and
# reports the peak: the server streams, so it must stay far below the file
# size times the streams in flight. Every process is killed at exit.
#
# Usage: scripts/bench-files.sh
# Knobs: REDIS_ADDR, DURATION (10s), CONNECTIONS (32), N1 (20), N20 (5), OUT.
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION="${DURATION:-10s}"
CONNECTIONS="${CONNECTIONS:-32}"
N1="${N1:-20}"
N20="${N20:-5}"
OUT="${OUT:-out/bench-files-$(date +%Y%m%d-%H%M%S)}"
command -v wrk >/dev/null || { echo "wrk is needed (apt-get install wrk)" >&2; exit 1; }

# shellcheck source=scripts/bench-lib.sh
. scripts/bench-lib.sh
bench_cleanup_extra() { rm -rf "$OUT/files" "$OUT/data" "$OUT/ddtest"; }

machine_line | tee "$OUT/summary.txt"
go build -o bin/chatgate ./cmd/chatgate
start_redis

GW_PORT=$(free_port) API_PORT=$(free_port) OPS=$(free_port)
cat >"$OUT/files.yaml" <<YAML
node: files1
roles: [gateway, admin]
redis: {addr: "$REDIS_ADDR"}
gateway: {listen: "127.0.0.1:$GW_PORT"}
admin: {listen: "127.0.0.1:$API_PORT", rate_limit: 0}
metrics: {listen: "127.0.0.1:$OPS"}
files: {dir: "$OUT/files"}
log: {level: warn}
apps: [{id: bench, secret: "bench-files-secret-not-for-production-0123", name: bench}]
YAML
bin/chatgate serve -config "$OUT/files.yaml" >"$OUT/server.log" 2>&1 &
PID=$!
pids+=($PID)
wait_ready "http://127.0.0.1:$OPS"
BASE="http://127.0.0.1:$API_PORT"

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
U1=$(register "files_a_$$")
U2=$(register "files_b_$$")
TOKEN=$(curl -s -X POST "$BASE/token/user" -H 'app_id: bench' -H 'Content-Type: application/json' \
	-d "{\"name\":\"files_a_$$\",\"password\":\"bench-password\"}" | field token)
ISSUE="$BASE/file/upload/chat?file_type=100&to_id=$U2"

echo "--- upload-URL issuance: wrk -c$CONNECTIONS -d$DURATION GET /file/upload/chat"
hz=$(getconf CLK_TCK)
t0=$(cpu_ticks "$PID")
wrk -t1 -c"$CONNECTIONS" -d"$DURATION" --latency -H 'app_id: bench' -H "access-token: $TOKEN" "$ISSUE" | tee "$OUT/issue.txt"
t1=$(cpu_ticks "$PID")
reqs=$(awk '/^Requests\/sec:/ {print $2}' "$OUT/issue.txt")
cpu=$(awk -v a="$t0" -v b="$t1" -v hz="$hz" 'BEGIN {printf "%.2f", (b - a) / hz}')
secs=${DURATION%s}
echo "issue: $reqs req/s; server CPU ${cpu}s over ${secs}s = $(awk -v r="$reqs" -v s="$secs" -v c="$cpu" 'BEGIN {printf "%.0f", r * s / c}') URLs per CPU-second" | tee -a "$OUT/summary.txt"
curl -s "$ISSUE" -H 'app_id: bench' -H "access-token: $TOKEN" | field upload_url >/dev/null

echo "--- disk: dd"
w=$(dd if=/dev/zero of="$OUT/ddtest" bs=1M count=512 conv=fsync 2>&1 | tail -1)
r=$(dd if="$OUT/ddtest" of=/dev/null bs=1M iflag=direct 2>&1 | tail -1)
echo "dd write (512 MiB, fsync): $w" | tee -a "$OUT/summary.txt"
echo "dd read (512 MiB, O_DIRECT): $r" | tee -a "$OUT/summary.txt"
rm -f "$OUT/ddtest"

mkdir -p "$OUT/data"
dd if=/dev/urandom of="$OUT/data/f1" bs=1M count=1 status=none
dd if=/dev/urandom of="$OUT/data/f20" bs=1M count=20 status=none

# sample_rss FILE: the server's RSS every 20 ms into FILE until killed.
sample_rss() { trap - EXIT INT TERM; while :; do rss_kib "$PID" >>"$1"; sleep 0.02; done; }

# transfer SIZE-MB N: N uploads then N downloads of one file, one at a time.
transfer() {
	local mb=$1 n=$2 f="$OUT/data/f$1" urls=() t up dl
	# One interpreter for all the grants: starting one per URL costs more
	# than the transfers on a busy machine.
	mapfile -t urls < <(python3 - "$ISSUE" "$TOKEN" "$n" <<'PY'
import json, sys, urllib.request
url, token, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
for _ in range(n):
    req = urllib.request.Request(url, headers={"app_id": "bench", "access-token": token})
    e = json.load(urllib.request.urlopen(req))
    if e.get("code") != 200:
        sys.exit("unexpected answer: %s" % e)
    print(e["data"]["upload_url"], e["data"]["download_url"])
PY
)
	: >"$OUT/rss-$mb.txt"
	sample_rss "$OUT/rss-$mb.txt" &
	local sampler=$!
	t=$(now)
	for u in "${urls[@]}"; do
		curl -sf -T "$f" "${u% *}" >/dev/null
	done
	up=$(awk -v a="$t" -v b="$(now)" -v n="$n" -v mb="$mb" 'BEGIN {printf "%.1f", n * mb / (b - a)}')
	t=$(now)
	for u in "${urls[@]}"; do
		curl -sfL -o "$OUT/data/got" -H 'app_id: bench' -H "access-token: $TOKEN" "${u#* }"
	done
	dl=$(awk -v a="$t" -v b="$(now)" -v n="$n" -v mb="$mb" 'BEGIN {printf "%.1f", n * mb / (b - a)}')
	kill "$sampler"; wait "$sampler" 2>/dev/null || true
	cmp -s "$f" "$OUT/data/got" || { echo "downloaded bytes differ" >&2; exit 1; }
	local peak
	peak=$(sort -n "$OUT/rss-$mb.txt" | tail -1)
	echo "${mb} MB files x$n: upload $up MB/s, download $dl MB/s; server RSS peak $((peak / 1024)) MiB (before: $((base / 1024)) MiB)" | tee -a "$OUT/summary.txt"
}
base=$(rss_kib "$PID")
echo "--- local backend: sequential uploads and downloads"
transfer 1 "$N1"
transfer 20 "$N20"
echo "--- summary ($OUT/summary.txt)"
cat "$OUT/summary.txt"
