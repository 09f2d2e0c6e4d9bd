#!/usr/bin/env bash
# Core plumbing benchmarks, each against a peer measured in the same run:
#   tokens   ES256 / RS256 verified per second through the BearerAuth middleware (verified-token
#            cache off, then on), and PublicKey::verify alone on the token's signing input, vs
#            `openssl speed -seconds 3 ecdsap256 rsa2048` verify/s
#   sql      single-row INSERT and SELECT by primary key per second through the SQL port vs the
#            same prepared statements in C (bench/sql_baseline.c), SQLite and MariaDB
#   outbox   events per second from Outbox::add (SQLite, one transaction each) through the relay
#            to JetStream until a durable consumer has them all, vs publish_batch straight to it
# Servers (mariadbd, nats-server) are started by the programs on 127.0.0.1 with free ports and temp
# data directories, and killed by PID when they exit. Bounded: about 1.5 minutes after the build.
#
# Environment: BENCH_BUILD_DIR (default build/bench3), BENCH_SECONDS=2 (per token case),
#              BENCH_SQL_SECONDS=1 (per SQL phase; port and C alternate over 3 rounds, medians
#              printed), BENCH_EVENTS=5000 (outbox events).
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=${BENCH_BUILD_DIR:-$root/build/bench3}
seconds=${BENCH_SECONDS:-2}
sql_seconds=${BENCH_SQL_SECONDS:-1}
events=${BENCH_EVENTS:-5000}

cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DOLYMPUS_SANITIZE=OFF \
  -DOLYMPUS_BUILD_TESTS=OFF -DOLYMPUS_BENCH=ON >/dev/null
cmake --build "$build" --target token_bench sql_bench sql_baseline outbox_bench -j2 >/dev/null

out=$(mktemp -d)
child=
cleanup() {
  if [[ -n $child ]] && kill -0 "$child" 2>/dev/null; then kill "$child" 2>/dev/null || true; fi
  rm -rf "$out"
}
trap cleanup EXIT

# Runs one benchmark in the background (so that a signal to this script reaches it by PID),
# bounded by `limit` seconds; its TSV lines go to $out/NAME.
run() {
  local name=$1 limit=$2
  shift 2
  echo "== $name" >&2
  "$@" >"$out/$name" &
  child=$!
  local waited=0
  while kill -0 "$child" 2>/dev/null; do
    if ((waited >= limit * 10)); then
      echo "bench: $name over ${limit}s, stopping it" >&2
      kill "$child" 2>/dev/null || true
      break
    fi
    sleep 0.1
    waited=$((waited + 1))
  done
  wait "$child" || echo "bench: $name failed" >&2
  child=
}

run tokens 60 "$build/bench/token_bench" "$seconds"
run sql 90 "$build/bench/sql_bench" "$build/bench/sql_baseline" "$sql_seconds"
run outbox 60 "$build/bench/outbox_bench" "$events"

echo
echo "Token verification, one thread (per second; ratio = Olympus / openssl speed verify)"
printf '%-6s %10s %12s %6s %16s %6s %14s %6s\n' alg openssl key.verify ratio bearer-no-cache ratio \
  bearer-cache ratio
grep '^TSV' "$out/tokens" | while IFS=$'\t' read -r _ alg peer raw r0 nocache r1 cached r2; do
  printf '%-6s %10s %12s %6s %16s %6s %14s %6s\n' "$alg" "$peer" "$raw" "$r0" "$nocache" "$r1" "$cached" "$r2"
done
echo
echo "SQL, one thread, single row (per second, median of 3 alternating rounds; ratio = port / C)"
printf '%-8s %-7s %10s %10s %7s\n' engine op port C ratio
grep '^TSV' "$out/sql" | while IFS=$'\t' read -r _ engine op port c ratio; do
  printf '%-8s %-7s %10s %10s %7s\n' "$engine" "$op" "$port" "$c" "$ratio"
done
echo
echo "Outbox through NATS JetStream ($events events)"
printf '%-22s %9s %12s\n' path seconds events/s
grep '^TSV' "$out/outbox" | while IFS=$'\t' read -r _ path _ secs rate; do
  printf '%-22s %9s %12s\n' "$path" "$secs" "$rate"
done
