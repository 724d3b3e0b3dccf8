#!/usr/bin/env bash
# The decision alone: WRNexus's in-process decision against Cerbos's
# CheckResources over HTTP on loopback, for the same rule (WRNexus's role and
# suspension rules; as a Cerbos policy in cerbos/policies), in one table.
#
#   WRNexus  criterion's figures of `decision/steady` (cookie → token from the
#            verified-token cache → decision data from the in-process cache →
#            Cedar) and `cedar/decide_member_write` (Cedar alone), read from
#            $CRITERION (default $CARGO_TARGET_DIR/criterion): run before it
#              cargo bench -p wrnexus-benches --bench decision -- 'decision/steady|cedar/decide_member'
#            criterion measures batches of calls: its p50 is the median batch's
#            time per call, its p99 the 99th percentile of the batches' (there
#            is no per-call distribution); the CPU is the time (one thread).
#   Cerbos   one server (cerbos.sh: policies from disk, no audit log, log
#            level warn) alone on PEER_CPU, sent the adapter's CheckResources
#            body (an owner reading its workspace: allowed) by h2load --h1 on
#            LOAD_CPU at fixed rates (RATES, req/s, over CLIENTS keep-alive
#            connections, DURATION s each, after a 2 s warm-up; first one
#            connection at SINGLE_RATE, unqueued): p50, p99 and
#            p99.9 per request; Cerbos's CPU per decision (all its threads,
#            schedstat); its own mean time per request as it reports it
#            (/_cerbos/metrics: the HTTP server's, and the engine's check).
#            Then a closed loop (CLIENTS connections, no rate): decisions per
#            second on one core.
#
# Usage: benches/load/decision-peer.sh
# Settings (environment): RATES="1000 5000" SINGLE_RATE=500 DURATION=10 CLIENTS=10
#   PEER_CPU=0 LOAD_CPU=1 BASE_PORT=18300 (Cerbos on BASE_PORT+71, +72)
#   CERBOS_BIN (cerbos.sh; fetch it with `benches/load/cerbos.sh fetch`).
# Needs h2load (nghttp2-client), curl, taskset, python3. Not run by CI.
# shellcheck source-path=SCRIPTDIR disable=SC1091
set -euo pipefail

RATES=${RATES:-1000 5000}
SINGLE_RATE=${SINGLE_RATE:-500}
DURATION=${DURATION:-10}
CLIENTS=${CLIENTS:-10}
PEER_CPU=${PEER_CPU:-0}
LOAD_CPU=${LOAD_CPU:-1}
BASE_PORT=${BASE_PORT:-18300}
CRITERION=${CRITERION:-${CARGO_TARGET_DIR:-target}/criterion}
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
source "$HERE/cerbos.sh"

missing=()
for tool in h2load curl taskset python3; do
  command -v "$tool" >/dev/null || missing+=("$tool")
done
[[ -x $CERBOS_BIN ]] || missing+=("Cerbos at $CERBOS_BIN (benches/load/cerbos.sh fetch)")
if ((${#missing[@]})); then
  echo "missing: ${missing[*]}" >&2
  exit 2
fi

WORK=$(mktemp -d /tmp/wrnexus-decision-peer.XXXXXX)
PIDS=()
trap 'kill "${PIDS[@]}" 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$WORK"' EXIT

echo "machine: $(nproc) CPUs, $(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)," \
  "$(awk '/^MemTotal/ { printf "%.0f GB", $2 / 1048576 }' /proc/meminfo)"
echo "Cerbos on CPU $PEER_CPU, h2load on CPU $LOAD_CPU; ${DURATION}s per rate, $CLIENTS connections"
PORT=$((BASE_PORT + 71))
cerbos_start "$PORT" $((BASE_PORT + 72)) "$PEER_CPU"
cerbos_selfcheck "$PORT"
URL="http://127.0.0.1:$PORT/api/check/resources"
BODY=$WORK/check.json
cerbos_body alice owner ws1 active read >"$BODY"
RESULTS=$WORK/cerbos.tsv

metric() { # NAME: the sum of NAME's samples (all label sets) in Cerbos's metrics
  curl -sf "http://127.0.0.1:$PORT/_cerbos/metrics" |
    awk -v m="$1" '$1 == m || index($1, m "{") == 1 { t += $NF } END { printf "%.9f\n", t + 0 }'
}
snapshot() { # the figures read before and after each run
  echo "$(cpu_ns "$CERBOS_PID") $(metric http_server_request_duration_seconds_sum)" \
    "$(metric http_server_request_duration_seconds_count)" \
    "$(metric cerbos_dev_engine_check_latency_milliseconds_sum)" \
    "$(metric cerbos_dev_engine_check_latency_milliseconds_count)"
}
cpu_ns() { # PID: CPU time of all its threads so far, ns
  local total=0 ns _rest f
  for f in /proc/"$1"/task/*/schedstat; do
    read -r ns _rest <"$f" 2>/dev/null && total=$((total + ns))
  done
  echo "$total"
}

load() { # LABEL CONNECTIONS H2LOAD-ARGS...: one run, a line of $RESULTS
  local label=$1 conns=$2 before after out
  shift 2
  rm -f "$WORK/h2load.log"
  before=$(snapshot)
  out=$(taskset -c "$LOAD_CPU" h2load --h1 -c "$conns" -D "$DURATION" -d "$BODY" \
    -H 'content-type: application/json' --log-file "$WORK/h2load.log" "$@" "$URL" 2>&1) ||
    { echo "h2load failed: $out" >&2; exit 1; }
  after=$(snapshot)
  sort -n -k3,3 "$WORK/h2load.log" | awk -v label="$label" -v dur="$DURATION" -v b="$before" -v a="$after" \
    -v failed="$(echo "$out" | awk '/^requests:/ { print $10 + $12 + $14 }')" '
    { lat[NR] = $3; if ($2 != 200) bad++ }
    function at(q) { i = int(NR * q); if (i < 1) i = 1; return lat[i] }
    END { split(b, x, " "); split(a, y, " "); n = NR; if (n == 0) n = 1
          http = (y[3] - x[3] > 0) ? (y[2] - x[2]) * 1e6 / (y[3] - x[3]) : 0
          engine = (y[5] - x[5] > 0) ? (y[4] - x[4]) * 1e3 / (y[5] - x[5]) : 0
          printf "%s\t%.0f\t%d\t%d\t%d\t%d\t%.1f\t%.1f\t%.1f\n", label, NR / dur, at(0.5), at(0.99), at(0.999),
            bad + failed, (y[1] - x[1]) / 1e3 / n, http, engine }' >>"$RESULTS"
}

taskset -c "$LOAD_CPU" h2load --h1 -c "$CLIENTS" -D 2 -d "$BODY" -H 'content-type: application/json' \
  "$URL" >/dev/null
# One connection at SINGLE_RATE: requests evenly spaced, none waiting behind
# another (h2load's connections send in step: at a rate, each tick brings one
# request per connection at once, and the slower the server, the longer the
# last of them waits).
load "Cerbos @$SINGLE_RATE/s, 1 connection" 1 --rps "$SINGLE_RATE"
for rate in $RATES; do
  load "Cerbos @$rate/s" "$CLIENTS" --rps "$(((rate + CLIENTS - 1) / CLIENTS))"
  echo "rate $rate done"
done
load "Cerbos, closed loop" "$CLIENTS"

python3 - "$CRITERION" "$RESULTS" "$CERBOS_BIN" "$(cerbos_version)" "$(h2load --version | head -1)" <<'PY'
import json, os, sys

criterion, results, cerbos_bin, cerbos_version, h2load = sys.argv[1:6]
print(f"\nCerbos {cerbos_version} ({cerbos_bin}); {h2load}")
print(f"\n{'':<48} {'req/s':>7} {'p50 us':>8} {'p99 us':>8} {'p99.9 us':>8} {'errors':>6} "
      f"{'cpu us/decision':>15} {'server us':>9} {'engine us':>9}")

def criterion_row(bench):
    base = os.path.join(criterion, bench.replace("/", "_"), "new")
    try:
        est = json.load(open(os.path.join(base, "estimates.json")))
        sample = json.load(open(os.path.join(base, "sample.json")))
    except OSError:
        print(f"{'WRNexus ' + bench:<48} (no criterion figures in {base}: run the bench first)")
        return None
    per_call = sorted(t / i for t, i in zip(sample["times"], sample["iters"]))
    p99 = per_call[min(len(per_call) - 1, int(len(per_call) * 0.99))] / 1e3
    p50 = est["median"]["point_estimate"] / 1e3
    print(f"{'WRNexus ' + bench + ' (in-process)':<48} {'':>7} {p50:>8.2f} {p99:>8.2f} {'':>8} {'':>6} "
          f"{est['mean']['point_estimate'] / 1e3:>15.2f} {'':>9} {'':>9}")
    return p99

steady_p99 = criterion_row("decision/steady")
criterion_row("cedar/decide_member_write")
first = None
for line in open(results):
    label, rps, p50, p99, p999, errors, cpu, server, engine = line.rstrip("\n").split("\t")
    first = first or (label, int(p50))  # the unqueued run
    print(f"{label:<48} {rps:>7} {p50:>8} {p99:>8} {p999:>8} {errors:>6} {cpu:>15} {server:>9} {engine:>9}")
if steady_p99 and first:
    ratio = first[1] / steady_p99
    print(f"\n{first[0]} p50 ÷ WRNexus decision/steady p99: {ratio:.0f}× "
          f"(goal: ≥ 10×, {'met' if ratio >= 10 else 'NOT met'})")
PY
