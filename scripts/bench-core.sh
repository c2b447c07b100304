#!/usr/bin/env bash
# bench-core.sh: measure chatgate's core delivery path on this machine.
#
# Starts its own redis-server (or uses REDIS_ADDR), builds bin/chatgate,
# starts two gateway processes and ROUTERS router processes with configs
# written from configs/loadtest-*.yaml, waits for /readyz, then runs the
# load-test harness:
#
#   idle   IDLE_CONNECTIONS idle authenticated connections on ONE gateway,
#          a fresh process started for this run and stopped after it:
#          RSS, goroutines and CPU per connection
#   chat   1:1 messages across the two gateways at each of CHAT_RATES msg/s:
#          send->ack and send->delivery percentiles; the higher rates are
#          expected to fail on a small machine (the harness says where)
#   group  fan-out to groups spread over both gateways, one run per
#          size:rate pair of GROUP_RUNS: deliveries per gateway CPU-second
#   idle50k  IDLE50K_CONNECTIONS idle connections over THREE fresh gateway
#          processes, driven by three harness worker processes (-workers 3):
#          every process here is capped at 20,000 open files
#   churn  1:1 traffic at CHURN_RATE while reconnect storms cut
#          CHURN_FRACTION of the devices every CHURN_INTERVAL for CHURN_DOWN:
#          recovery time, and zero lost
#   mixed  chat + groups + churn at once (configs/loadtest-mixed.yaml)
#   push   one /push/notify campaign to PUSH_DEVICES devices (half APNs,
#          half FCM) through a fresh admin + pushworker process sending to
#          the harness's own fake APNs/FCM (configs/loadtest-push.yaml):
#          push/s per provider, notify->push percentiles, zero lost. Not in
#          the default set; the push worker's own benchmark (sends/s from
#          filled streams, fake latency) is docs/bench-push.md.
#
# Every run is bounded (-timeout 60s each) and every process is killed at
# exit. Results (text and JSON per run, server logs) go to OUT.
#
# Usage: scripts/bench-core.sh            (everything, about 7 minutes)
#        SCENARIOS="chat" CHAT_RATES="5000" scripts/bench-core.sh
#
# Knobs (environment): SCENARIOS, ROUTERS, REDIS_ADDR, OUT, CHAT_RATES,
# CHAT_CONNECTIONS, CHAT_DURATION, GROUP_RUNS ("size:rate ..."),
# GROUP_COUNT, GROUP_CONNECTIONS, GROUP_DURATION, IDLE_CONNECTIONS,
# IDLE_RATE, IDLE_HOLD, PERF (1: record a perf CPU profile of gw1 during
# each group run, when perf is installed).
set -euo pipefail
cd "$(dirname "$0")/.."

SCENARIOS="${SCENARIOS:-idle chat group churn}"
ROUTERS="${ROUTERS:-1}"
CHAT_RATES="${CHAT_RATES:-500 1000 2000 3000 5000 6000 10000 20000}"
CHAT_CONNECTIONS="${CHAT_CONNECTIONS:-2000}"
CHAT_DURATION="${CHAT_DURATION:-20s}"
# Both pairs offer about 40,000 deliveries per second in total.
GROUP_RUNS="${GROUP_RUNS:-100:400 500:80}"
GROUP_COUNT="${GROUP_COUNT:-10}"
GROUP_CONNECTIONS="${GROUP_CONNECTIONS:-2000}"
GROUP_DURATION="${GROUP_DURATION:-20s}"
# GROUP_FLAGS: extra harness flags of the group runs, e.g. -managed-groups.
GROUP_FLAGS="${GROUP_FLAGS:-}"
IDLE_CONNECTIONS="${IDLE_CONNECTIONS:-19000}"
IDLE_RATE="${IDLE_RATE:-1500}"
IDLE_HOLD="${IDLE_HOLD:-25s}"
PERF="${PERF:-0}"
IDLE50K_CONNECTIONS="${IDLE50K_CONNECTIONS:-50000}"
CHURN_RATE="${CHURN_RATE:-1000}"
CHURN_FRACTION="${CHURN_FRACTION:-0.25}"
CHURN_INTERVAL="${CHURN_INTERVAL:-6s}"
CHURN_DOWN="${CHURN_DOWN:-2s}"
CHURN_DURATION="${CHURN_DURATION:-30s}"
PUSH_DEVICES="${PUSH_DEVICES:-20000}"
PUSH_LATENCY="${PUSH_LATENCY:-0s}"
OUT="${OUT:-out/bench-$(date +%Y%m%d-%H%M%S)}"

APP=bench
# Must match configs/loadtest-*.yaml; a benchmark-only secret.
export CHATGATE_LOADTEST_SECRET="loadtest-secret-not-for-production-0123456789"

mkdir -p "$OUT/logs" "$OUT/configs"
pids=()
cleanup() {
	local status=$?
	for pid in "${pids[@]}"; do
		kill "$pid" 2>/dev/null || true
	done
	for pid in "${pids[@]}"; do
		wait "$pid" 2>/dev/null || true
	done
	exit "$status"
}
trap cleanup EXIT INT TERM

log() { printf '\n=== %s\n' "$*"; }

# free_port prints a TCP port that no socket uses, below the ephemeral
# range so that no outgoing connection (there are thousands) can take it
# between this check and the bind.
free_port() {
	local p lo
	lo=$(cut -f1 /proc/sys/net/ipv4/ip_local_port_range 2>/dev/null || echo 32768)
	for _ in $(seq 1 100); do
		p=$((10000 + RANDOM % (lo - 10000)))
		if command -v ss >/dev/null 2>&1; then
			[ -z "$(ss -Htan "( sport = :$p )")" ] || continue
		elif (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
			continue
		fi
		echo "$p"
		return
	done
	echo "no free port found" >&2
	return 1
}

# wait_ready waits until an ops listener answers /readyz with 200.
wait_ready() {
	local url=$1 name=$2
	for _ in $(seq 1 150); do
		if curl -sf "$url/readyz" >/dev/null 2>&1; then
			return 0
		fi
		sleep 0.2
	done
	echo "$name did not become ready at $url (log: $OUT/logs/$name.log)" >&2
	tail -20 "$OUT/logs/$name.log" >&2 || true
	return 1
}

log "machine"
{
	echo "date:          $(date -u +%Y-%m-%dT%H:%M:%SZ)"
	echo "nproc:         $(nproc)"
	echo "memory:        $(free -g | awk '/^Mem:/ {print $2 " GiB"}')"
	echo "kernel:        $(uname -r)"
	echo "go:            $(go version)"
	echo "redis-server:  $(redis-server --version)"
	echo "nofile:        soft $(ulimit -Sn) hard $(ulimit -Hn)"
	echo "load average:  $(cut -d' ' -f1-3 /proc/loadavg)"
	echo "commit:        $(git rev-parse --short HEAD 2>/dev/null || echo unknown)$(git diff --quiet HEAD -- . 2>/dev/null || echo ' (plus uncommitted changes)')"
} | tee "$OUT/machine.txt"
if awk '{exit !($1 > 0.5)}' /proc/loadavg; then
	echo "NOTE: load average above 0.5 before starting (earlier runs count too); each run reports the CPU" \
		"that processes outside it used ('other' on its machine line): only runs with other near 0 are clean." | tee -a "$OUT/machine.txt"
fi

log "build"
go build -o bin/chatgate ./cmd/chatgate
LOADTEST=(bin/chatgate loadtest)
echo "harness: ${LOADTEST[*]}"

log "redis"
if [ -n "${REDIS_ADDR:-}" ]; then
	echo "using REDIS_ADDR=$REDIS_ADDR"
else
	port=$(free_port)
	REDIS_ADDR="127.0.0.1:$port"
	redis-server --port "$port" --bind 127.0.0.1 --save '' --appendonly no \
		--protected-mode no --loglevel warning --maxclients 10000 \
		>"$OUT/logs/redis.log" 2>&1 &
	pids+=($!)
	for _ in $(seq 1 50); do
		redis-cli -p "$port" ping >/dev/null 2>&1 && break
		sleep 0.1
	done
	echo "redis-server on $REDIS_ADDR"
fi

# start_process NAME TEMPLATE WS_PORT OPS_PORT writes NAME's config from
# TEMPLATE and starts it; WS_PORT is empty for a router.
start_process() {
	local name=$1 template=$2 ws=$3 ops=$4 cfg="$OUT/configs/$1.yaml"
	sed -e "s/^node: lt-[a-z]*/node: $name/" \
		-e "s/127\.0\.0\.1:18081/127.0.0.1:${ws:-0}/" \
		-e "s/127\.0\.0\.1:19181/127.0.0.1:$ops/" \
		-e "s/127\.0\.0\.1:19281/127.0.0.1:$ops/" \
		-e "s/127\.0\.0\.1:6379/$REDIS_ADDR/" \
		"$template" >"$cfg"
	bin/chatgate serve -config "$cfg" >"$OUT/logs/$name.log" 2>&1 &
	pids+=($!)
	eval "PID_$name=$!"
}

# stop_process NAME stops a process started by start_process and waits for
# its graceful shutdown.
stop_process() {
	local pid
	eval "pid=\$PID_$1"
	kill "$pid" 2>/dev/null || true
	wait "$pid" 2>/dev/null || true
	local kept=()
	for p in "${pids[@]}"; do
		[ "$p" = "$pid" ] || kept+=("$p")
	done
	pids=("${kept[@]}")
}

log "chatgate processes"
GW_WS=() GW_OPS=() RT_OPS=()
for i in 1 2; do
	ws=$(free_port) ops=$(free_port)
	start_process "gw$i" configs/loadtest-gateway.yaml "$ws" "$ops"
	GW_WS+=("ws://127.0.0.1:$ws/ws") GW_OPS+=("http://127.0.0.1:$ops")
done
for i in $(seq 1 "$ROUTERS"); do
	ops=$(free_port)
	start_process "rt$i" configs/loadtest-router.yaml "" "$ops"
	RT_OPS+=("http://127.0.0.1:$ops")
done
for i in 1 2; do wait_ready "${GW_OPS[$((i - 1))]}" "gw$i"; done
for i in $(seq 1 "$ROUTERS"); do wait_ready "${RT_OPS[$((i - 1))]}" "rt$i"; done
join() {
	local IFS=,
	echo "$*"
}
ALL_WS=$(join "${GW_WS[@]}")
ALL_OPS=$(join "${GW_OPS[@]}")
ROUTER_OPS=$(join "${RT_OPS[@]}")
echo "gateways: $ALL_WS (ops $ALL_OPS); routers: ops $ROUTER_OPS"

failed=0
PAUSE="${PAUSE:-3}"
# run NAME ARGS... runs one bounded harness run, keeping its text and JSON.
# Runs are PAUSE seconds apart, so that the teardown of one (closing
# thousands of connections, flushing cursors, GC) is not measured by the
# next.
run() {
	local name=$1
	shift
	sleep "$PAUSE"
	log "$name"
	local cmd=("${LOADTEST[@]}" "$@" -app "$APP" -redis "$REDIS_ADDR" -timeout "${RUN_TIMEOUT:-60s}"
		-json "$OUT/$name.json" -html "$OUT/$name.html")
	echo "${cmd[*]}" | tee "$OUT/$name.cmd"
	if ! "${cmd[@]}" 2> >(tee "$OUT/$name.progress" >&2) | tee "$OUT/$name.txt"; then
		echo "RUN $name FAILED"
		failed=1
	fi
	for pid in "${pids[@]}"; do
		if ! kill -0 "$pid" 2>/dev/null; then
			echo "a server process (pid $pid) died; see $OUT/logs" >&2
			exit 1
		fi
	done
}

for s in $SCENARIOS; do
	case $s in
	idle)
		# A fresh gateway: the memory numbers must not depend on what
		# earlier runs left in the heap.
		ws=$(free_port) ops=$(free_port)
		start_process gwidle configs/loadtest-gateway.yaml "$ws" "$ops"
		wait_ready "http://127.0.0.1:$ops" gwidle
		run "idle-$IDLE_CONNECTIONS" -scenario idle -ws "ws://127.0.0.1:$ws/ws" -metrics "http://127.0.0.1:$ops" \
			-router-metrics "$ROUTER_OPS" -connections "$IDLE_CONNECTIONS" \
			-connect-rate "$IDLE_RATE" -hold "$IDLE_HOLD"
		stop_process gwidle
		;;
	chat)
		for rate in $CHAT_RATES; do
			run "chat-$rate" -scenario chat -ws "$ALL_WS" -metrics "$ALL_OPS" -router-metrics "$ROUTER_OPS" \
				-connections "$CHAT_CONNECTIONS" -connect-rate 2000 -hold 2s \
				-rate "$rate" -duration "$CHAT_DURATION" -drain 10s
		done
		;;
	group)
		for pair in $GROUP_RUNS; do
			size=${pair%%:*} rate=${pair##*:}
			perf_pid=""
			if [ "$PERF" = 1 ] && command -v perf >/dev/null 2>&1; then
				# Recorded mid-run, after the ramp.
				(sleep 8 && perf record -F 499 -g -p "$PID_gw1" -o "$OUT/group-$size.gw1.perf.data" -- sleep 10 \
					>/dev/null 2>&1) &
				perf_pid=$!
			fi
			run "group-$size" -scenario group -ws "$ALL_WS" -metrics "$ALL_OPS" -router-metrics "$ROUTER_OPS" \
				-connections "$GROUP_CONNECTIONS" -connect-rate 2000 -hold 2s \
				-group-size "$size" -groups "$GROUP_COUNT" -rate "$rate" -duration "$GROUP_DURATION" -drain 15s $GROUP_FLAGS
			if [ -n "$perf_pid" ]; then
				wait "$perf_pid" || true
				perf report -i "$OUT/group-$size.gw1.perf.data" --children --sort symbol --stdio 2>/dev/null |
					grep -E '^ +[0-9]' | head -60 >"$OUT/group-$size.gw1.perf.txt" || true
				echo "perf profile of gw1: $OUT/group-$size.gw1.perf.txt"
			fi
		done
		;;
	idle50k)
		# Three fresh gateways, one per 20,000-file process limit.
		ws3=() ops3=()
		for i in 1 2 3; do
			ws=$(free_port) ops=$(free_port)
			start_process "gwbig$i" configs/loadtest-gateway.yaml "$ws" "$ops"
			ws3+=("ws://127.0.0.1:$ws/ws") ops3+=("http://127.0.0.1:$ops")
		done
		for i in 1 2 3; do wait_ready "${ops3[$((i - 1))]}" "gwbig$i"; done
		RUN_TIMEOUT=240s run "idle50k-$IDLE50K_CONNECTIONS" -config configs/loadtest-idle-50k.yaml \
			-ws "$(join "${ws3[@]}")" -metrics "$(join "${ops3[@]}")" -router-metrics "$ROUTER_OPS" \
			-connections "$IDLE50K_CONNECTIONS" -connect-rate "$IDLE_RATE" -hold "$IDLE_HOLD"
		for i in 1 2 3; do stop_process "gwbig$i"; done
		;;
	churn)
		RUN_TIMEOUT=150s run "churn-$CHURN_RATE" -scenario churn -ws "$ALL_WS" -metrics "$ALL_OPS" -router-metrics "$ROUTER_OPS" \
			-connections "$CHAT_CONNECTIONS" -connect-rate 2000 -hold 2s -rate "$CHURN_RATE" -duration "$CHURN_DURATION" \
			-drain 30s -churn-fraction "$CHURN_FRACTION" -churn-interval "$CHURN_INTERVAL" -churn-down "$CHURN_DOWN"
		;;
	mixed)
		RUN_TIMEOUT=150s run mixed -config configs/loadtest-mixed.yaml -ws "$ALL_WS" -metrics "$ALL_OPS" \
			-router-metrics "$ROUTER_OPS"
		;;
	push)
		# The harness runs the fake (its per-token counters are the
		# ledger) and writes its credentials; the push worker is started
		# once they exist, with them under the app.
		api=$(free_port) ops=$(free_port) fp="$OUT/fakepush"
		rm -f "$fp/push.yaml"
		sleep "$PAUSE"
		log "push-$PUSH_DEVICES"
		cmd=("${LOADTEST[@]}" -config configs/loadtest-push.yaml -app "$APP" -redis "$REDIS_ADDR" -timeout 300s
			-connections "$PUSH_DEVICES" -fakepush-latency "$PUSH_LATENCY" -fakepush-dir "$fp"
			-api "http://127.0.0.1:$api" -push-metrics "http://127.0.0.1:$ops"
			-json "$OUT/push-$PUSH_DEVICES.json" -html "$OUT/push-$PUSH_DEVICES.html")
		echo "${cmd[*]}" | tee "$OUT/push-$PUSH_DEVICES.cmd"
		"${cmd[@]}" >"$OUT/push-$PUSH_DEVICES.txt" 2>"$OUT/push-$PUSH_DEVICES.progress" &
		harness=$!
		for _ in $(seq 1 100); do
			[ -e "$fp/push.yaml" ] && break
			sleep 0.1
		done
		{
			printf 'node: lt-pw\nroles: [admin, pushworker]\nredis:\n  addr: "%s"\n' "$REDIS_ADDR"
			printf 'admin:\n  listen: "127.0.0.1:%s"\n  password_cost: 4\n  rate_limit: 0\n' "$api"
			printf 'metrics:\n  listen: "127.0.0.1:%s"\nlog:\n  level: warn\n' "$ops"
			printf 'apps:\n  - id: %s\n    secret: "%s"\n    name: Load test\n    users: any\n' "$APP" "$CHATGATE_LOADTEST_SECRET"
			grep -v '^#' "$fp/push.yaml" | sed 's/^/    /'
		} >"$OUT/configs/pw.yaml"
		bin/chatgate serve -config "$OUT/configs/pw.yaml" >"$OUT/logs/pw.log" 2>&1 &
		pids+=($!)
		PID_pw=$!
		if ! wait "$harness"; then
			echo "RUN push-$PUSH_DEVICES FAILED"
			failed=1
		fi
		cat "$OUT/push-$PUSH_DEVICES.txt"
		stop_process pw
		;;
	*)
		echo "unknown scenario $s" >&2
		exit 2
		;;
	esac
done

log "digest"
if command -v jq >/dev/null 2>&1; then
	for f in "$OUT"/idle-*.json; do
		[ -e "$f" ] || continue
		jq -r '"idle: \(.connect.established) conns; " + (.gateways[] | "\(.name): \(.rss_per_conn_kib*100|round/100) KiB RSS/conn, \(.goroutines_per_conn*100|round/100) goroutines/conn, idle \(.idle_cpu_us_per_conn_second*100|round/100) µs CPU/conn/s, connect \(.connect_cpu_ms_per_conn*1000|round/1000) ms CPU/conn")' "$f"
	done
	for rate in $CHAT_RATES; do
		f="$OUT/chat-$rate.json"
		[ -e "$f" ] || continue
		jq -r '"chat \(.settings.rate) msg/s: ok=\(.ok) acked \(.traffic.ack_rate|round)/s; ack p50/p99/p99.9 \(.traffic.ack_latency.p50_ms)/\(.traffic.ack_latency.p99_ms)/\(.traffic.ack_latency.p999_ms) ms; delivery p50/p99/p99.9 \(.traffic.delivery_latency.p50_ms)/\(.traffic.delivery_latency.p99_ms)/\(.traffic.delivery_latency.p999_ms) ms; lag p99 \(.traffic.schedule_lag.p99_ms) ms; \(.machine.busy_cores*100|round/100) of \(.machine.cores) cores busy, \(.machine.other_cores*100|round/100) by other processes"' "$f"
	done
	for f in "$OUT"/idle50k-*.json; do
		[ -e "$f" ] || continue
		jq -r '"idle50k: ok=\(.ok) \(.connect.established) conns over \(.workers) load processes; " + ([.gateways[] | "\(.name): \(.connections) conns \(.rss_per_conn_kib*100|round/100) KiB RSS/conn idle \(.idle_cpu_us_per_conn_second*100|round/100) µs/conn/s"] | join(", "))' "$f"
	done
	for f in "$OUT"/churn-*.json "$OUT"/mixed.json; do
		[ -e "$f" ] || continue
		jq -r '"\(.scenario): ok=\(.ok) lost \(.ledger.lost) of \(.ledger.expected_deliveries); \(.churn.waves) waves, \(.churn.devices_cut) cut, \(.churn.recovered) back; back->synced p50/p99 \(.churn.reconnect.p50_ms)/\(.churn.reconnect.p99_ms) ms; wave recovery max \(.churn.wave_recovery.max_ms) ms; live delivery p99 \(.traffic.delivery_latency.p99_ms) ms"' "$f"
	done
	for f in "$OUT"/push-*.json; do
		[ -e "$f" ] || continue
		jq -r '"push to \(.push.devices) devices: ok=\(.ok) \(.push.push_rate|round) push/s (APNs \(.push.apns_rate|round)/s, FCM \(.push.fcm_rate|round)/s) in \(.push.seconds*100|round/100) s; lost \(.push.lost), duplicates \(.push.duplicates); notify->push p50/p99 \(.push.reach.p50_ms)/\(.push.reach.p99_ms) ms; " + ([.servers[] | "\(.name) cpu \(.cpu_seconds*100|round/100) s, rss \(.rss_after_bytes/1048576|round) MiB"] | join(", "))' "$f"
	done
	for f in "$OUT"/group-*.json; do
		[ -e "$f" ] || continue
		jq -r '"group of \(.settings.group_size) at \(.settings.rate) msg/s: ok=\(.ok) " + ([.gateways[] | "\(.name) \(.deliveries_per_cpu_second|round) deliveries/CPU-s"] | join(", ")) + "; delivery p50/p99 \(.traffic.delivery_latency.p50_ms)/\(.traffic.delivery_latency.p99_ms) ms"' "$f"
	done
fi
echo "results: $OUT"
exit "$failed"
