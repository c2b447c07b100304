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

# shellcheck source=scripts/bench-lib.sh
. scripts/bench-lib.sh

machine_line
go build -o bin/chatgate ./cmd/chatgate
start_redis

API_PORT=$(free_port) API_OPS=$(free_port) RT_OPS=$(free_port)
SECRET="bench-groups-secret-not-for-production-0123456789"
cat >"$OUT/common.yaml" <<YAML
redis: {addr: "$REDIS_ADDR"}
log: {level: warn}
apps: [{id: bench, secret: "$SECRET", name: bench}]
YAML
# The admin process measured, and a router: every membership change is
# answered after its notice is routed (docs/api/groups.md), as in production.
{ echo "node: api1"; echo "roles: [admin]"; echo "metrics: {listen: \"127.0.0.1:$API_OPS\"}"
  echo "admin: {listen: \"127.0.0.1:$API_PORT\", rate_limit: 0}"; cat "$OUT/common.yaml"; } >"$OUT/api.yaml"
{ echo "node: rt1"; echo "roles: [router]"; echo "metrics: {listen: \"127.0.0.1:$RT_OPS\"}"; cat "$OUT/common.yaml"; } >"$OUT/router.yaml"
bin/chatgate serve -config "$OUT/api.yaml" >"$OUT/api.log" 2>&1 &
API_PID=$!
pids+=($API_PID)
bin/chatgate serve -config "$OUT/router.yaml" >"$OUT/router.log" 2>&1 &
pids+=($!)
wait_ready "http://127.0.0.1:$API_OPS"
wait_ready "http://127.0.0.1:$RT_OPS"

go run ./scripts/benchgroups -base "http://127.0.0.1:$API_PORT" -app bench -secret "$SECRET" \
	-redis "$REDIS_ADDR" -api-pid "$API_PID" -redis-pid "$REDIS_PID" \
	-members "$MEMBERS" -invite "$INVITE" -groups "$NGROUPS" -walks "$WALKS" -limit "$LIMIT" | tee "$OUT/summary.txt"
