# Sourced by the REST-side benchmark scripts (bench-api.sh, bench-files.sh,
# bench-groups.sh): process bookkeeping, ports, readiness, per-process
# CPU/RSS readings and a private redis-server. Set OUT before sourcing.
# A script with more to clean at exit defines bench_cleanup_extra.

mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)

# pids are the processes started here; every one is killed at exit.
pids=()
cleanup() {
	local status=$?
	for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
	for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
	if declare -F bench_cleanup_extra >/dev/null; then bench_cleanup_extra; fi
	exit "$status"
}
trap cleanup EXIT INT TERM

free_port() {
	python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# wait_ready URL waits for URL/readyz to answer 200 (30 s at most).
wait_ready() {
	for _ in $(seq 1 150); do
		curl -sf "$1/readyz" >/dev/null 2>&1 && return 0
		sleep 0.2
	done
	echo "not ready: $1 (logs in $OUT)" >&2
	return 1
}

# cpu_ticks PID prints utime+stime of a process in clock ticks.
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
rss_kib() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status"; }
now() { date +%s.%N; }

# machine_line describes this machine for the results.
machine_line() {
	echo "machine: $(nproc) cores, $(free -g | awk '/^Mem:/ {print $2}') GiB, load $(cut -d' ' -f1-3 /proc/loadavg), $(go version | cut -d' ' -f3)"
}

# start_redis starts a private redis-server unless REDIS_ADDR names one,
# and sets REDIS_ADDR and REDIS_PID (0 for a Redis not started here).
start_redis() {
	REDIS_PID=0
	[ -n "${REDIS_ADDR:-}" ] && return 0
	local port
	port=$(free_port)
	REDIS_ADDR="127.0.0.1:$port"
	redis-server --port "$port" --bind 127.0.0.1 --save '' --appendonly no --loglevel warning >"$OUT/redis.log" 2>&1 &
	REDIS_PID=$!
	pids+=("$REDIS_PID")
	for _ in $(seq 1 50); do redis-cli -p "$port" ping >/dev/null 2>&1 && break; sleep 0.1; done
}
