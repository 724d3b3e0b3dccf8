# INSTRUCTIONS=N mode of the load benchmark (sourced by run.sh; functions only):
# instead of the rounds, count the user-space instructions the pass-through,
# nginx-authz (its proxy and its authorizer, summed) and the gateway
# (gw-steady's and gw-apikey's requests) spend on exactly N requests, each
# under callgrind. Unlike req/s on a shared machine, the count is the same run
# after run; the kernel's share is not in it (nor, for nginx-authz, that of
# its extra loopback hop to the authorizer).
# shellcheck shell=bash

# Run as $(cg NAME COMMAND...; …; count …): the processes live in that subshell.
cg() { # NAME COMMAND...: start COMMAND under callgrind, instrumentation off
  taskset -c "$PROXY_CPU" valgrind --tool=callgrind --instr-atstart=no \
    --callgrind-out-file="$WORK/$1.cg" "${@:2}" >"$WORK/$1-callgrind.log" 2>&1 &
  cg_pids+=($!)
  cg_files+=("$WORK/$1.cg.1")
  trap 'kill "${cg_pids[@]}" 2>/dev/null || true' EXIT
}
count() { # NAME PORT HEADER: prints NAME, instructions per request, summed over
  # the processes cg started (all of them on the path of each request)
  local name=$1 header=$3 pid f n total=0 url="http://127.0.0.1:$2/app/items"
  wait_for "$url" 600
  h2load --h1 -n 2000 -c 16 -H "$header" "$url" >/dev/null
  for pid in "${cg_pids[@]}"; do callgrind_control -i on "$pid" >/dev/null 2>&1; done
  h2load --h1 -n "$INSTRUCTIONS" -c 16 -H "$header" "$url" | grep -q " 0 failed" ||
    { echo "$name: requests failed under callgrind" >&2; exit 1; }
  for pid in "${cg_pids[@]}"; do callgrind_control -d "$pid" >/dev/null 2>&1; done
  for pid in "${cg_pids[@]}"; do kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; done
  for f in "${cg_files[@]}"; do
    n=$(callgrind_annotate "$f" 2>/dev/null | awk '/PROGRAM TOTALS/ { gsub(",", "", $1); print $1 }')
    [[ -n $n ]] || { echo "$name: no callgrind totals in $f" >&2; exit 1; }
    total=$((total + n))
  done
  awk -v t="$total" -v n="$INSTRUCTIONS" -v name="$name" 'BEGIN { printf "%-12s %10.0f\n", name, t / n }'
}

count_instructions() { # the table: one row per proxy, its ratios to the references
  local tool pt authz gw scenario name offset header port
  for tool in valgrind callgrind_control callgrind_annotate; do
    command -v "$tool" >/dev/null || { echo "INSTRUCTIONS needs $tool (valgrind)" >&2; exit 2; }
  done
  cg_pids=() cg_files=()

  echo "user-space instructions per request ($INSTRUCTIONS requests, 16 connections, callgrind):"
  pt=$(cg passthrough "$BIN" passthrough --listen "127.0.0.1:$((BASE_PORT + 87))" \
    --upstream "http://127.0.0.1:$UP" --threads 1
    count passthrough $((BASE_PORT + 87)) "cookie: $ALICE")
  echo "$pt"
  # nginx-authz: both nginx processes under callgrind (nginx_conf's
  # `master_process off; daemon off;`: one process each, in the foreground).
  nginx_conf authorizer-cg "$(authorizer $((BASE_PORT + 79)))"
  nginx_conf proxy-authz-cg "$(nginx_authz $((BASE_PORT + 78)) $((BASE_PORT + 79)))"
  authz=$(cg authorizer nginx -p "$WORK/authorizer-cg" -c "$WORK/authorizer-cg/nginx.conf"
    cg proxy-authz nginx -p "$WORK/proxy-authz-cg" -c "$WORK/proxy-authz-cg/nginx.conf"
    count nginx-authz $((BASE_PORT + 78)) "cookie: $ALICE")
  echo "$pt $authz" | awk '{ printf "%-12s %10.0f  (%.3f × pass-through, %+.0f; proxy and authorizer)\n",
    $3, $4, $4 / $2, $4 - $2 }'
  for scenario in "gw-steady|86|cookie: $ALICE" "gw-apikey|88|authorization: Bearer $API_KEY"; do
    IFS='|' read -r name offset header <<<"$scenario"
    port=$((BASE_PORT + offset))
    gateway_conf "$port" $((port + 6)) "$WORK/$name-cg.toml"
    gw=$(cg "$name" "$BIN" gateway -c "$WORK/$name-cg.toml"; count "$name" "$port" "$header")
    echo "$pt $authz $gw" | awk '{ printf "%-12s %10.0f  (%.3f × pass-through, +%.0f; %.3f × nginx-authz)\n",
      $5, $6, $6 / $2, $6 - $2, $6 / $4 }'
  done
}
