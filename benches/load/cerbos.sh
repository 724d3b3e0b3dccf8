#!/usr/bin/env bash
# Cerbos, the peer authorizer of the load benchmark: nginx auth_request → an
# adapter (benches/src/bin/cerbos_adapter.rs) → Cerbos, with WRNexus's role
# and suspension rules as a Cerbos policy (cerbos/policies/workspace.yaml)
# and a Cerbos server configuration (cerbos/config.yaml: policies from disk,
# HTTP on loopback, no audit log, no playground, no telemetry, log level
# warn).
#
#   benches/load/cerbos.sh fetch
#       Downloads Cerbos, the npm package @cerbos/cerbos-linux-x64 at
#       CERBOS_VERSION (default 0.55.0: ≈ 32 MB, one static binary), with
#       `npm pack` into ~/.cache/wrnexus-bench/cerbos (CERBOS_CACHE), unpacks
#       it and prints its version and its path. Needs npm; Linux x86-64.
#   benches/load/cerbos.sh check
#       Starts Cerbos on a loopback port and checks that it decides as the
#       shipped policies do (one allowed and three denied CheckResources).
#
# Sourced by run.sh (scenario cerbos-authz) and decision-peer.sh: functions
# only. Settings: CERBOS_BIN (default: the fetched binary), CERBOS_ADAPTER
# (default: $CARGO_TARGET_DIR/bench-tools/cerbos_adapter, built with
#   cargo build --profile bench-tools -p wrnexus-benches --bin cerbos_adapter).
# shellcheck shell=bash
set -euo pipefail

CERBOS_HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
CERBOS_VERSION=${CERBOS_VERSION:-0.55.0}
CERBOS_CACHE=${CERBOS_CACHE:-$HOME/.cache/wrnexus-bench/cerbos}
CERBOS_BIN=${CERBOS_BIN:-$CERBOS_CACHE/$CERBOS_VERSION/package/cerbos-linux-x64}
CERBOS_ADAPTER=${CERBOS_ADAPTER:-${CARGO_TARGET_DIR:-target}/bench-tools/cerbos_adapter}

cerbos_fetch() { # downloads and unpacks the npm package, prints version and path
  local dir=$CERBOS_CACHE/$CERBOS_VERSION tgz
  command -v npm >/dev/null || { echo "fetch needs npm (Node.js)" >&2; return 2; }
  mkdir -p "$dir"
  echo "downloading @cerbos/cerbos-linux-x64@$CERBOS_VERSION (npm pack) into $dir"
  tgz=$(cd "$dir" && npm pack --silent "@cerbos/cerbos-linux-x64@$CERBOS_VERSION" | tail -1)
  tar -xzf "$dir/$tgz" -C "$dir"
  rm -f "$dir/$tgz"
  [[ -x $CERBOS_BIN ]] || { echo "no executable at $CERBOS_BIN after unpacking" >&2; return 1; }
  echo "Cerbos $(cerbos_version) at $CERBOS_BIN"
}

cerbos_version() { # the binary's version, e.g. 0.55.0
  "$CERBOS_BIN" --version 2>&1 | awk '{ for (i = 1; i <= NF; i++) if ($i ~ /^v?[0-9]+\.[0-9]+\.[0-9]+/) { sub(/^v/, "", $i); print $i; exit } }'
}

cerbos_missing() { # prints what Cerbos scenarios need and is not there, one a line
  [[ -x $CERBOS_BIN ]] || echo "Cerbos at $CERBOS_BIN (benches/load/cerbos.sh fetch)"
  [[ -x $CERBOS_ADAPTER ]] || echo "the Cerbos adapter at $CERBOS_ADAPTER (cargo build --profile bench-tools -p wrnexus-benches --bin cerbos_adapter)"
  return 0
}

cerbos_wait() { # URL: until it answers 2xx (10 s)
  for _ in $(seq 1 100); do
    curl -sf -o /dev/null --max-time 1 "$1" && return 0
    sleep 0.1
  done
  echo "$1 did not come up; logs in $WORK" >&2
  cat "$WORK"/cerbos*.log >&2 || true
  return 1
}

cerbos_start() { # HTTP_PORT GRPC_PORT CPU: Cerbos on loopback, pinned; its pid in CERBOS_PID
  CERBOS_HTTP="127.0.0.1:$1" CERBOS_GRPC="127.0.0.1:$2" \
    CERBOS_POLICY_DIR="$CERBOS_HERE/cerbos/policies" CERBOS_NO_TELEMETRY=1 \
    taskset -c "$3" "$CERBOS_BIN" server --config="$CERBOS_HERE/cerbos/config.yaml" \
    --log-level=warn >"$WORK/cerbos-$1.log" 2>&1 &
  CERBOS_PID=$!
  PIDS+=("$CERBOS_PID")
  cerbos_wait "http://127.0.0.1:$1/_cerbos/health"
}

cerbos_body() { # ID ROLE WORKSPACE STATUS ACTION [RESOURCE_WORKSPACE]: a CheckResources body,
  # the adapter's: the principal with its role and workspace, the workspace
  # the request is made in (its own unless given) with its status
  printf '{"principal":{"id":"%s","roles":["%s"],"attr":{"workspace":"%s"}},' "$1" "$2" "$3"
  printf '"resources":[{"actions":["%s"],"resource":{"kind":"workspace","id":"%s","attr":{"status":"%s"}}}]}\n' \
    "$5" "${6:-$3}" "$4"
}

cerbos_effect() { # PORT BODY: Cerbos's effect for the body's one action
  curl -sf -H 'content-type: application/json' -d "$2" "http://127.0.0.1:$1/api/check/resources" |
    python3 -c 'import json, sys; r = json.load(sys.stdin)["results"][0]["actions"]; print(*r.values())'
}

cerbos_selfcheck() { # PORT: allowed and denied as by the shipped policies, or exit
  local spec expected body got
  for spec in "EFFECT_ALLOW|alice owner ws1 active read" "EFFECT_ALLOW|alice viewer ws1 active read" \
    "EFFECT_DENY|bob viewer ws1 active write" "EFFECT_DENY|carol member ws1 suspended write" \
    "EFFECT_DENY|dave owner ws2 active read ws1"; do
    expected=${spec%%|*}
    # shellcheck disable=SC2086 # the fields are words
    body=$(cerbos_body ${spec#*|})
    got=$(cerbos_effect "$1" "$body")
    [[ $got == "$expected" ]] || { echo "Cerbos check: ${spec#*|} gave '$got', expected $expected" >&2; exit 1; }
  done
  echo "Cerbos $(cerbos_version): allows an owner's and a viewer's read; denies a viewer's write," \
    "a write in a suspended workspace, a read in another workspace"
}

# --- run.sh's cerbos-authz: nginx proxy_pass + auth_request → the adapter →
# Cerbos, the three on the proxy core. Needs run.sh's WORK, PIDS, UP,
# PROXY_CPU, BASE_PORT, COOKIE_NAME, ALICE, TEAM, check and the nginx.sh
# functions; sets CZ (the proxy's port) and CZ_PIDS (nginx,adapter,Cerbos).
cerbos_authz_start() {
  local czh=$((BASE_PORT + 71)) czg=$((BASE_PORT + 72)) cza=$((BASE_PORT + 73)) url
  CZ=$((BASE_PORT + 74))
  cerbos_start "$czh" "$czg" "$PROXY_CPU"
  cerbos_selfcheck "$czh"
  local cerbos_pid=$CERBOS_PID
  # The adapter's table: Alice's session (gw-steady's cookie) is the owner of
  # the team workspace; two fixed sessions for the checks below.
  taskset -c "$PROXY_CPU" "$CERBOS_ADAPTER" --listen "127.0.0.1:$cza" \
    --cerbos "http://127.0.0.1:$czh" --cookie-name "$COOKIE_NAME" --threads 1 \
    --principal "${ALICE#*=},alice,owner,$TEAM,active" \
    --principal "bench-viewer,victor,viewer,$TEAM,active" \
    --principal "bench-suspended,sam,member,suspended-ws,suspended" >"$WORK/cerbos-adapter.log" 2>&1 &
  local adapter_pid=$!
  PIDS+=("$adapter_pid")
  wait_for "http://127.0.0.1:$cza/"
  nginx_conf proxy-cerbos "$(nginx_authz "$CZ" "$cza" "proxy_set_header X-Original-Method \$request_method;
      proxy_set_header X-Original-URI \$request_uri;")"
  taskset -c "$PROXY_CPU" nginx -p "$WORK/proxy-cerbos" -c "$WORK/proxy-cerbos/nginx.conf" &
  local nginx_pid=$!
  PIDS+=("$nginx_pid")
  CZ_PIDS="$nginx_pid,$adapter_pid,$cerbos_pid"
  url="http://127.0.0.1:$CZ/app/items"
  wait_for "$url"
  check 204 "http://127.0.0.1:$cza/_authz" -H "cookie: $ALICE" -H "x-original-method: GET"
  check 200 "$url" -H "cookie: $ALICE"
  check 200 "$url" -X POST -H "cookie: $ALICE"
  check 200 "$url" -H "cookie: $COOKIE_NAME=bench-viewer"
  check 403 "$url" -X POST -H "cookie: $COOKIE_NAME=bench-viewer"
  check 403 "$url" -X DELETE -H "cookie: $COOKIE_NAME=bench-suspended"
  check 401 "$url" -H "cookie: $COOKIE_NAME=unknown"
}

cerbos_split() { # URL HEADER: where cerbos-authz's CPU goes, one fixed-rate run, per process
  local pids pid before=() after=() n i names=(nginx adapter Cerbos)
  IFS=, read -ra pids <<<"$CZ_PIDS"
  for pid in "${pids[@]}"; do before+=("$(cpu_ns "$pid")"); done
  n=$(taskset -c "$LOAD_CPU" h2load --h1 -c 16 -D "$DURATION" --rps "$((RATE / 16))" -H "$2" "$1" |
    awk '/^requests:/ { print $8 }')
  for pid in "${pids[@]}"; do after+=("$(cpu_ns "$pid")"); done
  echo
  echo "cerbos-authz's CPU per request by process (h2load at $RATE req/s, ${DURATION}s, $n requests; schedstat):"
  for i in "${!pids[@]}"; do
    awk -v name="${names[$i]}" -v ns=$((after[i] - before[i])) -v n="$n" \
      'BEGIN { printf "  %-8s %8.1f us\n", name, (n > 0 ? ns / 1e3 / n : 0) }'
  done
}

# --- Run directly: fetch, or check.
if [[ ${BASH_SOURCE[0]} == "$0" ]]; then
  case ${1:-} in
    fetch) cerbos_fetch ;;
    check)
      [[ -x $CERBOS_BIN ]] || { echo "no Cerbos at $CERBOS_BIN: $0 fetch" >&2; exit 2; }
      WORK=$(mktemp -d /tmp/wrnexus-cerbos.XXXXXX)
      PIDS=()
      trap 'kill "${PIDS[@]}" 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$WORK"' EXIT
      port=${BASE_PORT:-18000}
      cerbos_start $((port + 71)) $((port + 72)) "${PROXY_CPU:-0}"
      cerbos_selfcheck $((port + 71))
      ;;
    *) echo "usage: $0 fetch | check   (or sourced by run.sh)" >&2; exit 2 ;;
  esac
fi
