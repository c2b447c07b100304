#!/usr/bin/env bash
# bench-groups.sh: measure the group membership operations of the REST API.
#
# Starts its own redis-server (or uses REDIS_ADDR with REDIS_PID unset: no
# Redis CPU then), builds bin/chatgate, starts one admin-only process, and
# runs scripts/benchgroups against it:
#
#   invite       POST /group/invite of INVITE (500) users at a time, until
#                NGROUPS (2) groups have MEMBERS (10,000) members each
#   member_list  GET /group/member_list pages (LIMIT 1000) walking a
#                MEMBERS-member group, WALKS (20) times
#
# Requests are sequential (latency, not throughput). It prints p50/p90/p99
# and max, and the admin process's and Redis's CPU per request (/proc).
# Every process is killed at exit.
#
# Usage: scripts/bench-groups.sh
# Knobs: REDIS_ADDR, MEMBERS, INVITE, NGROUPS, WALKS, LIMIT, OUT.
set -euo pipefail
cd "$(dirname "$0")/.."

MEMBERS="${MEMBERS:-10000}"
INVITE="${INVITE:-500}"
NGROUPS="${NGROUPS:-2}"
WALKS="${WALKS:-20}"
LIMIT="${LIMIT:-1000}"
OUT="${OUT:-out/bench-groups-$(date +%Y%m%d-%H%M%S)}"

mkdir -p "$OUT"
pids=()
cleanup() {
	local status=$?
	for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
	for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
	exit "$status"
}
trap cleanup EXIT INT TERM

free_port() {
	python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

echo "machine: $(nproc) cores, $(free -g | awk '/^Mem:/ {print $2}') GiB, load $(cut -d' ' -f1-3 /proc/loadavg), $(go version | cut -d' ' -f3)"
go build -o bin/chatgate ./cmd/chatgate

REDIS_PID=0
if [ -z "${REDIS_ADDR:-}" ]; then
	port=$(free_port)
	REDIS_ADDR="127.0.0.1:$port"
	redis-server --port "$port" --bind 127.0.0.1 --save '' --appendonly no --loglevel warning >"$OUT/redis.log" 2>&1 &
	REDIS_PID=$!
	pids+=($REDIS_PID)
	for _ in $(seq 1 50); do redis-cli -p "$port" ping >/dev/null 2>&1 && break; sleep 0.1; done
fi

API_PORT=$(free_port) API_OPS=$(free_port)
SECRET="bench-groups-secret-not-for-production-0123456789"
cat >"$OUT/api.yaml" <<YAML
node: api1
roles: [admin]
redis: {addr: "$REDIS_ADDR"}
admin: {listen: "127.0.0.1:$API_PORT", rate_limit: 0}
metrics: {listen: "127.0.0.1:$API_OPS"}
log: {level: warn}
apps: [{id: bench, secret: "$SECRET", name: bench}]
YAML
bin/chatgate serve -config "$OUT/api.yaml" >"$OUT/api.log" 2>&1 &
API_PID=$!
pids+=($API_PID)
for _ in $(seq 1 150); do curl -sf "http://127.0.0.1:$API_OPS/readyz" >/dev/null 2>&1 && break; sleep 0.2; done

go run ./scripts/benchgroups -base "http://127.0.0.1:$API_PORT" -app bench -secret "$SECRET" \
	-redis "$REDIS_ADDR" -api-pid "$API_PID" -redis-pid "$REDIS_PID" \
	-members "$MEMBERS" -invite "$INVITE" -groups "$NGROUPS" -walks "$WALKS" -limit "$LIMIT" | tee "$OUT/summary.txt"
