#!/usr/bin/env bash
# HTTP benchmark: Olympus against nginx, same machine, same load, loopback only.
#
# Both servers get 2 threads (Olympus --threads 2, nginx worker_processes 2) and serve the same
# bodies; wrk (1 thread, 64 connections, 10 s, --latency) loads GET /livez and GET /v1/demo/hello,
# the two servers alternating. Then memory: resident set idle after start, its peak under load, and
# the extra memory per idle keep-alive connection, from 10,000 connections held open by
# bench/idle_conns.py. Optionally the same throughput runs over TLS 1.3 with one shared certificate.
#
# Environment:
#   OLYMPUS_BIN              binary to test (default build/release/src/cli/olympus; built if missing)
#   BENCH_DURATION=10s       wrk duration per run      BENCH_CONNECTIONS=64   wrk connections
#   BENCH_IDLE_CONNECTIONS=10000                        BENCH_TLS=1            also run over TLS (0: skip)
#   BENCH_NICE=-10           niceness of the script and all it starts, when run as root, so that other
#                            work on a shared machine (builds) takes less from both servers alike
#   BENCH_PERF=FILE          perf-profile Olympus during its plain /v1/demo/hello run into FILE
#                            (that run's figures then carry perf's overhead)
# Bounded: about 2.5 minutes with the defaults. Stops everything it started, by PID, on exit.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
bin=${OLYMPUS_BIN:-$root/build/release/src/cli/olympus}
duration=${BENCH_DURATION:-10s}
connections=${BENCH_CONNECTIONS:-64}
idle_connections=${BENCH_IDLE_CONNECTIONS:-10000}
with_tls=${BENCH_TLS:-1}
perf_out=${BENCH_PERF:-}
python=/usr/bin/python3

for tool in wrk nginx curl openssl "$python"; do
  command -v "$tool" >/dev/null || { echo "bench: $tool missing (scripts/bootstrap --dev)" >&2; exit 2; }
done
if [[ ! -x $bin ]]; then
  echo "bench: $bin missing; building the release preset"
  (cd "$root" && cmake --preset release >/dev/null && cmake --build --preset release --target olympus)
fi

# Everything started from here on inherits the niceness: servers and wrk alike.
if [[ $(id -u) -eq 0 ]]; then renice -n "${BENCH_NICE:--10}" -p $$ >/dev/null; fi

# 10,000 client sockets plus 10,000 server sockets, and headroom.
ulimit -n "$(ulimit -Hn)"
if (($(ulimit -n) < idle_connections + 256)); then
  echo "bench: open-file limit $(ulimit -n) is too low for $idle_connections connections" >&2
  exit 2
fi

tmp=$(mktemp -d /tmp/olympus-bench.XXXXXX)
pids=()
cleanup() {
  local pid
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  rm -rf "$tmp"
}
trap cleanup EXIT
# Drops a PID that has been waited for, so that cleanup never signals a reused PID.
forget() {
  local keep=() pid
  for pid in "${pids[@]}"; do [[ $pid == "$1" ]] || keep+=("$pid"); done
  pids=("${keep[@]}")
}

# Distinct free loopback ports, all bound at once so none is handed out twice.
read -r olympus_port olympus_admin olympus_tls_port olympus_tls_admin nginx_port nginx_tls_port < <(
  "$python" -c '
import socket
socks = [socket.socket() for _ in range(6)]
for s in socks: s.bind(("127.0.0.1", 0))
print(" ".join(str(s.getsockname()[1]) for s in socks))')

rss_kb() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status" 2>/dev/null || echo 0; }
# nginx's memory is its master's plus its workers'.
nginx_rss_kb() {
  local total pid
  total=$(rss_kb "$nginx_pid")
  for pid in $(ps --ppid "$nginx_pid" -o pid=); do total=$((total + $(rss_kb "$pid"))); done
  echo "$total"
}
server_rss_kb() { if [[ $1 == nginx ]]; then nginx_rss_kb; else rss_kb "$olympus_pid"; fi; }
mib() { awk -v kb="$1" 'BEGIN {printf "%.1f", kb / 1024}'; }

wait_ready() {  # URL PID
  local i
  for ((i = 0; i < 100; i++)); do
    kill -0 "$2" 2>/dev/null || { echo "bench: server $2 exited during start-up" >&2; return 1; }
    curl -ksf -o /dev/null "$1" && return 0
    sleep 0.1
  done
  echo "bench: $1 not ready after 10 s" >&2
  return 1
}

start_olympus() {  # PORT ADMIN_PORT TLS(true|false)
  local extra=()
  [[ $3 == true ]] && extra=(--tls-cert "$tmp/cert.pem" --tls-key "$tmp/key.pem")
  # Access log on, as in production; its lines (and the application's) go to /dev/null so that a
  # terminal's speed does not enter the figures.
  "$bin" serve all --port "$1" --admin-port "$2" --tls="$3" --threads 2 --access-log=true \
    --data-dir "$tmp/olympus-data" "${extra[@]}" >/dev/null 2>"$tmp/olympus.err" &
  olympus_pid=$!
  pids+=("$olympus_pid")
  local scheme=http
  [[ $3 == true ]] && scheme=https
  wait_ready "$scheme://127.0.0.1:$1/livez" "$olympus_pid" || { cat "$tmp/olympus.err" >&2; exit 1; }
}

stop_olympus() {
  kill "$olympus_pid" 2>/dev/null || true
  wait "$olympus_pid" 2>/dev/null || true
  forget "$olympus_pid"
}

# One certificate for both servers (ECDSA P-256, as the development certificate), so TLS costs the same.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj /CN=localhost -days 1 \
  -addext subjectAltName=IP:127.0.0.1,DNS:localhost -keyout "$tmp/key.pem" -out "$tmp/cert.pem" 2>/dev/null

start_olympus "$olympus_port" "$olympus_admin" false
sleep 1
olympus_idle_kb=$(rss_kb "$olympus_pid")
livez_body=$(curl -sf "http://127.0.0.1:$olympus_port/livez")
hello_body=$(curl -sf "http://127.0.0.1:$olympus_port/v1/demo/hello")
if [[ $livez_body == *"'"* || $hello_body == *"'"* ]]; then
  echo "bench: a body holds a single quote; the nginx config cannot quote it" >&2
  exit 1
fi

# nginx serving the same bodies with the same content type; access log to a file.
mkdir -p "$tmp/nginx/logs"
cat >"$tmp/nginx/nginx.conf" <<EOF
daemon off;
worker_processes 2;
worker_rlimit_nofile $(ulimit -n);
pid $tmp/nginx/nginx.pid;
error_log $tmp/nginx/logs/error.log warn;
events { worker_connections 16384; }
http {
  access_log $tmp/nginx/logs/access.log;
  client_body_temp_path $tmp/nginx/body;
  proxy_temp_path $tmp/nginx/proxy;
  fastcgi_temp_path $tmp/nginx/fastcgi;
  uwsgi_temp_path $tmp/nginx/uwsgi;
  scgi_temp_path $tmp/nginx/scgi;
  default_type application/json;
  keepalive_requests 100000;
  keepalive_timeout 60s;
  ssl_protocols TLSv1.2 TLSv1.3;
  ssl_certificate $tmp/cert.pem;
  ssl_certificate_key $tmp/key.pem;
  server {
    listen 127.0.0.1:$nginx_port;
    listen 127.0.0.1:$nginx_tls_port ssl;
    location = /livez { return 200 '$livez_body'; }
    location = /v1/demo/hello { return 200 '$hello_body'; }
  }
}
EOF
nginx -c "$tmp/nginx/nginx.conf" -p "$tmp/nginx/" -e "$tmp/nginx/logs/error.log" &
nginx_pid=$!
pids+=("$nginx_pid")
wait_ready "http://127.0.0.1:$nginx_port/livez" "$nginx_pid" || { cat "$tmp/nginx/logs/error.log" >&2; exit 1; }
sleep 1
nginx_idle_kb=$(nginx_rss_kb)

# wrk's figures in fixed units: requests/s, p50 and p99 in ms; errors (socket errors and non-2xx).
to_ms() {
  awk -v v="$1" 'BEGIN {
    n = v + 0
    if (v ~ /us$/) n /= 1000; else if (v ~ /ms$/) n = n; else if (v ~ /s$/) n *= 1000
    printf "%.3f", n }'
}

# CPU time (user + system, all threads) of a server, in clock ticks: on a shared machine the CPU
# cost per request is steadier than requests/s.
cpu_ticks() {
  local pid total=0
  for pid in "$@"; do total=$((total + $(awk '{print $14 + $15}' "/proc/$pid/stat" 2>/dev/null || echo 0))); done
  echo "$total"
}
server_pids() { if [[ $1 == nginx ]]; then echo "$nginx_pid $(ps --ppid "$nginx_pid" -o pid= | tr -s " \n" " ")"; else echo "$olympus_pid"; fi; }
clock_ticks=$(getconf CLK_TCK)

declare -A rps p50 p99 errors peak_kb cpu_us
load() {  # KEY SERVER(olympus|nginx) URL [PERF_FILE]
  local key=$1 server=$2 url=$3 out="$tmp/wrk-$1.txt" peak=0 now wrk_pid ticks_before ticks_after
  # shellcheck disable=SC2046
  ticks_before=$(cpu_ticks $(server_pids "$server"))
  wrk -t1 -c"$connections" -d"$duration" --latency "$url" >"$out" 2>&1 &
  wrk_pid=$!
  pids+=("$wrk_pid")
  if [[ -n ${4:-} ]]; then
    perf record -F 499 -g -p "$olympus_pid" -o "$tmp/perf.data" -- sleep 6 >/dev/null 2>&1 || true
  fi
  while kill -0 "$wrk_pid" 2>/dev/null; do
    now=$(server_rss_kb "$server")
    ((now > peak)) && peak=$now
    sleep 0.5
  done
  wait "$wrk_pid" || { cat "$out" >&2; exit 1; }
  # shellcheck disable=SC2046
  ticks_after=$(cpu_ticks $(server_pids "$server"))
  forget "$wrk_pid"
  rps[$key]=$(awk '/^Requests\/sec:/ {printf "%.0f", $2}' "$out")
  p50[$key]=$(to_ms "$(awk '$1 == "50%" {print $2}' "$out")")
  p99[$key]=$(to_ms "$(awk '$1 == "99%" {print $2}' "$out")")
  errors[$key]=$(awk '/Socket errors/ {gsub(/[^0-9 ]/, " "); s = 0; for (i = 1; i <= NF; i++) s += $i; e += s}
                      /Non-2xx/ {e += $NF} END {print e + 0}' "$out")
  peak_kb[$key]=$peak
  cpu_us[$key]=$(awk -v t=$((ticks_after - ticks_before)) -v hz="$clock_ticks" \
    '/ requests in / {printf "%.1f", t / hz * 1e6 / $1}' "$out")
  printf '  %-22s %9s req/s  p50 %7s ms  p99 %7s ms  CPU %6s µs/req  errors %s\n' "$key" "${rps[$key]}" \
    "${p50[$key]}" "${p99[$key]}" "${cpu_us[$key]}" "${errors[$key]}"
  if [[ -n ${4:-} && -f $tmp/perf.data ]]; then
    perf report -i "$tmp/perf.data" --stdio --no-children --percent-limit 0.7 -g none 2>/dev/null >"$4" || true
    echo "  (perf profile of this run in $4)"
  fi
}

echo "bench: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //')," \
  "load average $(cut -d' ' -f1-3 /proc/loadavg), niceness $(ps -o ni= -p $$ | tr -d ' '), $(date -u +%FT%TZ)"
echo "bench: wrk -t1 -c$connections -d$duration --latency; Olympus --threads 2 --tls=false," \
  "access log on (stdout to /dev/null); nginx 2 workers, access log to a file"
echo "bench: warm-up"
wrk -t1 -c"$connections" -d2s "http://127.0.0.1:$olympus_port/v1/demo/hello" >/dev/null
wrk -t1 -c"$connections" -d2s "http://127.0.0.1:$nginx_port/v1/demo/hello" >/dev/null

echo "bench: plain HTTP/1.1 keep-alive"
load olympus-livez olympus "http://127.0.0.1:$olympus_port/livez"
load nginx-livez nginx "http://127.0.0.1:$nginx_port/livez"
load olympus-hello olympus "http://127.0.0.1:$olympus_port/v1/demo/hello" "$perf_out"
load nginx-hello nginx "http://127.0.0.1:$nginx_port/v1/demo/hello"

# Idle keep-alive connections: each answered once, then held open.
idle_cost() {  # SERVER PORT → sets idle_before_kb idle_after_kb
  local server=$1 port=$2 holder line=""
  idle_before_kb=$(server_rss_kb "$server")
  rm -f "$tmp/hold" "$tmp/idle.out"
  mkfifo "$tmp/hold"
  "$python" "$root/bench/idle_conns.py" "$port" "$idle_connections" --timeout 60 <"$tmp/hold" \
    >"$tmp/idle.out" 2>"$tmp/idle.err" &
  holder=$!
  pids+=("$holder")
  exec 9>"$tmp/hold"
  while kill -0 "$holder" 2>/dev/null && [[ $line != ready* ]]; do
    sleep 0.2
    line=$(head -n1 "$tmp/idle.out" 2>/dev/null || true)
  done
  if [[ $line != ready* ]]; then
    exec 9>&-
    echo "bench: idle connections to $server failed: $(cat "$tmp/idle.err")" >&2
    exit 1
  fi
  sleep 1  # let the server settle after the last response
  idle_after_kb=$(server_rss_kb "$server")
  exec 9>&-  # the holder closes its connections and exits
  wait "$holder" || true
  forget "$holder"
}

echo "bench: $idle_connections idle keep-alive connections"
idle_cost olympus "$olympus_port"
olympus_conn_before=$idle_before_kb olympus_conn_after=$idle_after_kb
idle_cost nginx "$nginx_port"
nginx_conn_before=$idle_before_kb nginx_conn_after=$idle_after_kb
per_conn() { awk -v a="$1" -v b="$2" -v n="$idle_connections" 'BEGIN {printf "%.0f", (b - a) * 1024 / n}'; }
olympus_per_conn=$(per_conn "$olympus_conn_before" "$olympus_conn_after")
nginx_per_conn=$(per_conn "$nginx_conn_before" "$nginx_conn_after")
printf '  %-8s RSS %s → %s MiB: %s bytes per connection\n' olympus "$(mib "$olympus_conn_before")" \
  "$(mib "$olympus_conn_after")" "$olympus_per_conn"
printf '  %-8s RSS %s → %s MiB: %s bytes per connection\n' nginx "$(mib "$nginx_conn_before")" \
  "$(mib "$nginx_conn_after")" "$nginx_per_conn"

if [[ $with_tls == 1 ]]; then
  stop_olympus
  start_olympus "$olympus_tls_port" "$olympus_tls_admin" true
  echo "bench: TLS (same P-256 certificate for both; handshakes only at connection start)"
  wrk -t1 -c"$connections" -d2s "https://127.0.0.1:$olympus_tls_port/v1/demo/hello" >/dev/null
  load olympus-tls-livez olympus "https://127.0.0.1:$olympus_tls_port/livez"
  load nginx-tls-livez nginx "https://127.0.0.1:$nginx_tls_port/livez"
  load olympus-tls-hello olympus "https://127.0.0.1:$olympus_tls_port/v1/demo/hello"
  load nginx-tls-hello nginx "https://127.0.0.1:$nginx_tls_port/v1/demo/hello"
fi

ratio() { awk -v a="$1" -v b="$2" 'BEGIN {if (b > 0) printf "%.2f", a / b; else print "n/a"}'; }
verdict() { awk -v ok="$1" 'BEGIN {print (ok ? "met" : "NOT met")}'; }

echo
echo "| run | Olympus req/s | p50 ms | p99 ms | CPU µs/req | nginx req/s | p50 ms | p99 ms | CPU µs/req | Olympus/nginx req/s |"
echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
runs=(livez hello)
[[ $with_tls == 1 ]] && runs+=(tls-livez tls-hello)
for run in "${runs[@]}"; do
  o=olympus-$run n=nginx-$run
  echo "| GET ${run} | ${rps[$o]} | ${p50[$o]} | ${p99[$o]} | ${cpu_us[$o]} | ${rps[$n]} | ${p50[$n]} | ${p99[$n]} |" \
    "${cpu_us[$n]} |" \
    "$(ratio "${rps[$o]}" "${rps[$n]}")× |"
done
echo
echo "| memory | Olympus | nginx (master + 2 workers) |"
echo "|---|---:|---:|"
echo "| RSS idle after start | $(mib "$olympus_idle_kb") MiB | $(mib "$nginx_idle_kb") MiB |"
echo "| RSS peak under load (plain) | $(mib "$(printf '%s\n' "${peak_kb[olympus-livez]}" \
  "${peak_kb[olympus-hello]}" | sort -n | tail -1)") MiB | $(mib "$(printf '%s\n' \
  "${peak_kb[nginx-livez]}" "${peak_kb[nginx-hello]}" | sort -n | tail -1)") MiB |"
echo "| per idle keep-alive connection ($idle_connections held) | $olympus_per_conn B | $nginx_per_conn B |"
echo
total_errors=0
for key in "${!errors[@]}"; do total_errors=$((total_errors + errors[$key])); done
hello_ratio=$(ratio "${rps[olympus-hello]}" "${rps[nginx-hello]}")
livez_ratio=$(ratio "${rps[olympus-livez]}" "${rps[nginx-livez]}")
echo "goal req/s ≥ 1.0× nginx: livez ${livez_ratio}×, hello ${hello_ratio}× —" \
  "$(verdict "$(awk -v a="$livez_ratio" -v b="$hello_ratio" 'BEGIN {print (a >= 1 && b >= 1)}')")"
echo "goal idle RSS < 32 MiB: $(mib "$olympus_idle_kb") MiB — $(verdict "$((olympus_idle_kb < 32768))")"
echo "goal per idle connection ≤ 2× nginx: $olympus_per_conn B vs $nginx_per_conn B" \
  "($(ratio "$olympus_per_conn" "$nginx_per_conn")×) —" \
  "$(verdict "$(awk -v o="$olympus_per_conn" -v n="$nginx_per_conn" 'BEGIN {print (o <= 2 * n)}')")"
echo "errors in all runs (socket errors + non-2xx): $total_errors"
((total_errors == 0)) || { echo "bench: some requests failed; the figures are not valid" >&2; exit 1; }
