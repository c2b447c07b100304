#!/usr/bin/env bash
# Push worker benchmark (docs/bench-push.md): ONE push worker process
# (roles: [pushworker], default push settings) against the fake APNs/FCM
# of `chatgate fakepush` with injected latency, on a private redis-server.
#
#   1. APNs: N_APNS message push jobs queued on the push streams; pushes/s
#      from the first job queued to the streams drained (every job
#      acknowledged after the fake accepted it).
#   2. FCM: the same with N_FCM jobs.
#   3. Campaign: POST /push/notify {"audience":"all"} to N_CAMPAIGN offline
#      devices (half APNs, half FCM), via a separate admin process, until
#      /push/task/detail counts every device received.
#   4. Mixed campaign: the same to N_MIXED devices spread evenly over all
#      eight providers (APNs, FCM, Huawei, Honor, Xiaomi, OPPO, vivo,
#      Meizu), each bound to the certificate named after its provider;
#      it also prints when each provider's share was all received, and
#      the worker's throttling counters. FAKE_RATE / FAKE_QUOTA pass the
#      fake makers' limits (`chatgate fakepush -rate/-quota`) to see how
#      the makers' rate limits shape the run.
#
# A phase whose N is 0 is skipped.
# For each phase it prints the rate and the worker's CPU (% of one core)
# and RSS (peak sampled every 100 ms). Bounded: every phase gives up after
# PHASE_TIMEOUT seconds. Usage:
#
#   scripts/bench-push.sh            # defaults below
#   N_CAMPAIGN=50000 LATENCY=5ms scripts/bench-push.sh
#   N_APNS=0 N_FCM=0 N_CAMPAIGN=0 N_MIXED=100000 scripts/bench-push.sh
#   N_APNS=0 N_FCM=0 N_CAMPAIGN=0 FAKE_RATE=vivo=1000,oppo=2000 scripts/bench-push.sh
set -euo pipefail
cd "$(dirname "$0")/.."

N_APNS=${N_APNS:-100000}
N_FCM=${N_FCM:-100000}
N_CAMPAIGN=${N_CAMPAIGN:-200000}
N_MIXED=${N_MIXED:-100000}
FAKE_RATE=${FAKE_RATE:-}
FAKE_QUOTA=${FAKE_QUOTA:-}
LATENCY=${LATENCY:-20ms}
PHASE_TIMEOUT=${PHASE_TIMEOUT:-60}
# WORKER_PUSH: extra push settings as YAML flow entries, e.g. "batch: 1024".
WORKER_PUSH=${WORKER_PUSH:-}
APP=bench
SECRET=bench-secret-0123456789abcdef
PARTS=8 # router.push_partitions default

W=$(mktemp -d /tmp/bench-push.XXXXXX)
PIDS=()
cleanup() {
	for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	rm -rf "$W"
}
trap cleanup EXIT

port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
now() { date +%s.%N; }
ticks() { awk '{print $14+$15}' "/proc/$1/stat"; }
rss_kb() { awk '/VmRSS/{print $2}' "/proc/$1/status"; }
waitfor() { # url
	for _ in $(seq 300); do curl -sf "$1" >/dev/null 2>&1 && return 0; sleep 0.1; done
	echo "timeout waiting for $1" >&2
	return 1
}

echo "machine: $(nproc) cores, $(awk '/model name/{$1=$2=$3="";print;exit}' /proc/cpuinfo | sed 's/^ *//'), $(free -g | awk '/Mem/{print $2}') GB RAM"
echo "load before: $(cut -d' ' -f1-3 /proc/loadavg)"

go build -o "$W/chatgate" ./cmd/chatgate

RP=$(port)
redis-server --port "$RP" --bind 127.0.0.1 --save '' --appendonly no >"$W/redis.log" 2>&1 &
PIDS+=($!)
RCLI=(redis-cli -p "$RP")
for _ in $(seq 100); do "${RCLI[@]}" ping >/dev/null 2>&1 && break; sleep 0.05; done

FP=$(port)
"$W/chatgate" fakepush -addr "127.0.0.1:$FP" -latency "$LATENCY" -dir "$W/fp" ${FAKE_RATE:+-rate "$FAKE_RATE"} ${FAKE_QUOTA:+-quota "$FAKE_QUOTA"} >"$W/fake.log" 2>&1 &
FAKE=$!
PIDS+=($FAKE)
for _ in $(seq 100); do [ -s "$W/fp/push.yaml" ] && break; sleep 0.05; done

config() { # roles metrics-port [admin-port]
	cat <<EOF
node: bench-$1
roles: [$1]
redis: {addr: "127.0.0.1:$RP"}
admin: {listen: "127.0.0.1:${3:-0}", rate_limit: 0}
metrics: {listen: "127.0.0.1:$2"}
log: {level: warn}
push: {${WORKER_PUSH:-}}
apps:
  - id: $APP
    secret: $SECRET
    name: bench
    users: any
$(grep -v '^#' "$W/fp/push.yaml" | sed 's/^/    /')
EOF
}
WM=$(port)
config pushworker "$WM" >"$W/worker.yaml"
AM=$(port)
AP=$(port)
config admin "$AM" "$AP" >"$W/admin.yaml"

"$W/chatgate" serve -config "$W/worker.yaml" >"$W/worker.log" 2>&1 &
WORKER=$!
PIDS+=($WORKER)
"$W/chatgate" serve -config "$W/admin.yaml" >"$W/admin.log" 2>&1 &
PIDS+=($!)
waitfor "http://127.0.0.1:$WM/readyz"
waitfor "http://127.0.0.1:$AM/readyz"
HZ=$(getconf CLK_TCK)

# queue N jobs of notifier $2 into the push streams, server-side.
QUEUE_LUA='
local n, off, notifier, parts = tonumber(ARGV[1]), tonumber(ARGV[2]), ARGV[3], tonumber(ARGV[4])
for i = off + 1, off + n do
  local tok
  if notifier == "apns" then tok = string.format("%064x", i) else tok = "fcm-" .. i end
  local job = string.format([[{"app":"bench","user":%d,"dev":1,"platform":0,"push_token":"%s","notifier":"%s","msg_id":%d,"conv":"u:1:%d","from":1,"type":"text","content":"benchmark message","ts":%s,"lead":true}]], i, tok, notifier, i, i, ARGV[5])
  redis.call("XADD", "cg:push:{" .. (i % parts) .. "}", "*", "d", job)
end
return n'
stream_len() {
	local n=0
	for q in $(seq 0 $((PARTS - 1))); do n=$((n + $("${RCLI[@]}" xlen "cg:push:{$q}"))); done
	echo $n
}

PEAK=0
# measure NAME TOTAL CHECK-CMD: runs until CHECK-CMD succeeds; prints a line.
measure() {
	local name=$1 total=$2 check=$3 t0 c0 t1 c1 deadline
	PEAK=0
	t0=$(now)
	c0=$(ticks "$WORKER")
	deadline=$(($(date +%s) + PHASE_TIMEOUT))
	shift 3
	"$@" # the load
	until eval "$check"; do
		r=$(rss_kb "$WORKER")
		[ "$r" -gt "$PEAK" ] && PEAK=$r
		if [ "$(date +%s)" -gt "$deadline" ]; then
			echo "$name: not done after ${PHASE_TIMEOUT}s" >&2
			tail -5 "$W/worker.log" >&2
			return 1
		fi
		sleep 0.1
	done
	t1=$(now)
	c1=$(ticks "$WORKER")
	awk -v n="$name" -v tot="$total" -v t0="$t0" -v t1="$t1" -v c0="$c0" -v c1="$c1" -v hz="$HZ" -v peak="$PEAK" -v rss="$(rss_kb "$WORKER")" \
		'BEGIN{w=t1-t0; printf "%-9s %8d in %6.2f s = %7.0f /s   worker CPU %4.0f%% of a core   RSS peak %4.0f MB (end %4.0f MB)\n", n, tot, w, tot/w, 100*(c1-c0)/hz/w, peak/1024, rss/1024}'
}

queue() { # notifier n
	local off=0 chunk=20000 ts
	ts=$(date +%s%3N)
	while [ $off -lt "$2" ]; do
		"${RCLI[@]}" eval "$QUEUE_LUA" 0 $((chunk < $2 - off ? chunk : $2 - off)) $off "$1" $PARTS "$ts" >/dev/null
		off=$((off + chunk))
	done
}

echo "load: $(cut -d' ' -f1-3 /proc/loadavg); fake latency $LATENCY; one worker, push settings: defaults (concurrency 4096, batch 256) ${WORKER_PUSH:+overridden by $WORKER_PUSH}"
[ "$N_APNS" -gt 0 ] && measure apns "$N_APNS" '[ "$(stream_len)" -eq 0 ]' queue apns "$N_APNS"
[ "$N_FCM" -gt 0 ] && measure fcm "$N_FCM" '[ "$(stream_len)" -eq 0 ]' queue fcm "$N_FCM"

# An admin token (internal/auth: HS256, claims app/role/iss/iat/exp).
ADMIN_TOKEN=$(python3 - "$APP" "$SECRET" <<'PY'
import base64, hashlib, hmac, json, sys, time
b = lambda x: base64.urlsafe_b64encode(x).rstrip(b"=").decode()
h = b(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
now = int(time.time())
c = b(json.dumps({"app": sys.argv[1], "role": "admin", "iss": "chatgate", "iat": now, "exp": now + 3600}).encode())
print(h + "." + c + "." + b(hmac.new(sys.argv[2].encode(), (h + "." + c).encode(), hashlib.sha256).digest()))
PY
)
api() { curl -sf -H "app_id: $APP" -H "access-token: $ADMIN_TOKEN" -H 'Content-Type: application/json' -d "$2" "http://127.0.0.1:$AP$1"; }
notify() { api /push/notify '{"audience":"all","message":{"title":"bench","body":"campaign"}}' >"$W/task.json"; }
received() {
	local task d
	task=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["data"]["task_id"])' "$W/task.json")
	d=$(api /push/task/detail "{\"list\":[$task]}")
	python3 -c 'import json,sys; d=json.loads(sys.argv[1])["data"][0]; sys.exit(0 if d["state"]=="expanded" and d["apns_received"]+d["fcm_received"]>=int(sys.argv[2]) else 1)' "$d" "$N_CAMPAIGN"
}
if [ "$N_CAMPAIGN" -gt 0 ]; then
	# Campaign: register N_CAMPAIGN offline devices as /user/token/bind does.
	REG_LUA='
	local n, off, at = tonumber(ARGV[1]), tonumber(ARGV[2]), ARGV[3]
	for u = off + 1, off + n do
	  local tok, notifier
	  if u % 2 == 0 then tok, notifier = string.format("%064x", u), "apns" else tok, notifier = "fcm-" .. u, "fcm" end
	  redis.call("HSET", "cg:u:{bench:" .. u .. "}:dev", "1", string.format([[{"device_sn":1,"platform":0,"push_token":"%s","notifier":"%s","token_at":%s}]], tok, notifier, at))
	  redis.call("ZADD", "cg:a:{bench}:users", u, u)
	end
	return n'
	off=0
	at=$(($(date +%s%3N) - 3600000))
	while [ $off -lt "$N_CAMPAIGN" ]; do
		"${RCLI[@]}" eval "$REG_LUA" 0 50000 $off "$at" >/dev/null
		off=$((off + 50000))
	done
	"${RCLI[@]}" zremrangebyrank "cg:a:{$APP}:users" "$N_CAMPAIGN" -1 >/dev/null
	
	measure campaign "$N_CAMPAIGN" 'received' notify
	echo "campaign task: $(api /push/task/detail "{\"list\":[$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["data"]["task_id"])' "$W/task.json")]}" | python3 -c 'import json,sys; d=json.load(sys.stdin)["data"][0]; print({k:v for k,v in d.items() if v and not k.startswith(("huawei","xiaomi","oppo","vivo","flyme"))})')"
fi

if [ "$N_MIXED" -gt 0 ]; then
	# Mixed campaign: device u of provider PROVS[u % 8], bound to the
	# certificate named after it (push.yaml names them so).
	MIX_LUA='
local n, off, at = tonumber(ARGV[1]), tonumber(ARGV[2]), ARGV[3]
local provs = {"apns", "fcm", "huawei", "honor", "xiaomi", "oppo", "vivo", "meizu"}
for u = off + 1, off + n do
  local p = provs[(u % 8) + 1]
  local tok
  if p == "apns" then tok = string.format("%064x", u) else tok = p .. "-" .. u end
  redis.call("HSET", "cg:u:{bench:" .. u .. "}:dev", "1", string.format([[{"device_sn":1,"platform":2,"push_token":"%s","notifier":"%s","token_at":%s}]], tok, p, at))
  redis.call("ZADD", "cg:a:{bench}:users", u, u)
end
return n'
	off=0
	at=$(($(date +%s%3N) - 3600000))
	while [ $off -lt "$N_MIXED" ]; do
		"${RCLI[@]}" eval "$MIX_LUA" 0 $((50000 < N_MIXED - off ? 50000 : N_MIXED - off)) $off "$at" >/dev/null
		off=$((off + 50000))
	done
	"${RCLI[@]}" zremrangebyrank "cg:a:{$APP}:users" "$N_MIXED" -1 >/dev/null
	# mixed_done records when each channel's share was all received (in
	# $W/channels.json) and succeeds once every channel's is.
	mixed_done() {
		local task d
		task=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["data"]["task_id"])' "$W/task.json")
		d=$(api /push/task/detail "{\"list\":[$task]}")
		python3 - "$d" "$N_MIXED" "$W/channels.json" "$(now)" <<'PY'
import json, os, sys
d = json.loads(sys.argv[1])["data"][0]
path, t = sys.argv[3], float(sys.argv[4])
done = json.load(open(path)) if os.path.exists(path) else {}
chans = ["apns", "fcm", "huawei", "honor", "xiaomi", "oppo", "vivo", "flyme"]
for c in chans:
    if d["state"] == "expanded" and c not in done and d[c + "_target"] > 0 and d[c + "_received"] >= d[c + "_target"]:
        done[c] = t
json.dump(done, open(path, "w"))
sys.exit(0 if d["state"] == "expanded" and sum(d[c + "_received"] for c in chans) >= int(sys.argv[2]) else 1)
PY
	}
	rm -f "$W/channels.json"
	T_MIXED=$(now)
	measure mixed "$N_MIXED" 'mixed_done' notify
	python3 - "$W/channels.json" "$T_MIXED" "$((N_MIXED / 8))" <<'PY'
import json, sys
done, t0, share = json.load(open(sys.argv[1])), float(sys.argv[2]), int(sys.argv[3])
for c, t in sorted(done.items(), key=lambda kv: kv[1]):
    print("  %-7s %6d devices all received after %6.2f s (%7.0f /s over its own span)" % (c, share, t - t0, share / (t - t0)))
PY
	echo "mixed task: $(api /push/task/detail "{\"list\":[$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["data"]["task_id"])' "$W/task.json")]}" | python3 -c 'import json,sys; d=json.load(sys.stdin)["data"][0]; print({k:v for k,v in d.items() if v})')"
fi
echo "worker metrics:"
curl -s "http://127.0.0.1:$WM/metrics" | grep -E '^chatgate_push_(jobs|sends|throttled|auth_failures)_total' | sed 's/^/  /'
echo "fake CPU: $(awk -v hz="$HZ" '{printf "%.1f s", ($14+$15)/hz}' "/proc/$FAKE/stat") over the run"
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
