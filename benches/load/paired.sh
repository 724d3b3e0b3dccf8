# Paired rounds of the load benchmark (sourced by run.sh; functions only).
# On a shared VM the machine's speed moves by tens of percent within minutes,
# more than the difference being measured, so runs one after the other
# disagree. Here the pass-through and a gateway scenario are loaded at the
# same time, both on the proxy core: whatever the machine does in that
# interval, it does to both. Each proxy's CPU comes from the scheduler's clock
# (/proc/PID/task/*/schedstat, ns), and the cost ratio is pass-through µs per
# request ÷ the other's: the throughput ratio each would have alone on a core.
# The control pair (two pass-through processes) shows the method's own error.
# With nginx-authz as the reference (PAIRS_WITH), its two processes' CPU is
# summed, and the ratio printed is the other way round: gateway ÷ nginx-authz;
# the same with cerbos-authz (nginx, the adapter and Cerbos summed).
# Each pair's measured run is a line of paired.tsv; report.py prints the tables.
# shellcheck shell=bash

cpu_ns() { # PID[,PID…]: CPU time of all their threads so far, ns
  local total=0 ns _rest pids pid f
  IFS=, read -ra pids <<<"$1"
  for pid in "${pids[@]}"; do
    for f in /proc/"$pid"/task/*/schedstat; do
      read -r ns _rest <"$f" && total=$((total + ns))
    done
  done
  echo "$total"
}
requests() { awk '/ requests in / { print $1 }' "$1"; }
load() { # HEADER URL OUT: a wrk of $secs seconds in the background, its pid in loads
  taskset -c "$LOAD_CPU" wrk -t1 -c"$CONNS" -d"${secs}s" -H "$1" "$2" >"$3" &
  loads+=($!)
}

paired_rounds() { # OUT: PAIRED rounds of every pair, a line each appended to OUT
  local out=$1 pairs=() # REFERENCE|NAME|PID|URL|HEADER
  local pt2 pt2_pid s ref round name pid url header ref_pid ref_url ref_header secs a0 b0 a1 b1 loads
  if [[ " $PAIRS_WITH " == *" passthrough "* ]]; then
    pt2=$((BASE_PORT + 89))
    taskset -c "$PROXY_CPU" "$BIN" passthrough --listen "127.0.0.1:$pt2" \
      --upstream "http://127.0.0.1:$UP" --threads 1 >"$WORK/passthrough-2.log" 2>&1 &
    pt2_pid=$!
    PIDS+=("$pt2_pid")
    wait_for "http://127.0.0.1:$pt2/"
    pairs+=("passthrough|control|$pt2_pid|http://127.0.0.1:$pt2/app/items|cookie: $ALICE")
  fi
  for ref in $PAIRS_WITH; do
    for s in "${SCENARIOS[@]}"; do
      case $s in gw-steady\|* | gw-apikey\|*) pairs+=("$ref|$s") ;; esac
    done
  done
  for round in $(seq 1 "$PAIRED"); do
    for s in "${pairs[@]}"; do
      IFS='|' read -r ref name pid url header <<<"$s"
      # The reference (a): the pass-through, nginx-authz's proxy and
      # authorizer, or cerbos-authz's proxy, adapter and Cerbos.
      case $ref in
        passthrough) ref_pid=$PT_PID ref_url="http://127.0.0.1:$PT/app/items" ;;
        nginx-authz) ref_pid="$NAZ_PID,$NAZA_PID" ref_url="http://127.0.0.1:$NAZ/app/items" ;;
        cerbos-authz) ref_pid=$CZ_PIDS ref_url="http://127.0.0.1:$CZ/app/items" ;;
      esac
      ref_header="cookie: $ALICE"
      for secs in 1 "$DURATION"; do # 1 s to warm both, then the measured run
        a0=$(cpu_ns "$ref_pid") b0=$(cpu_ns "$pid")
        loads=()
        # Every other round the other one's load starts first.
        if ((round % 2)); then
          load "$ref_header" "$ref_url" "$WORK/pair-a.out"
          load "$header" "$url" "$WORK/pair-b.out"
        else
          load "$header" "$url" "$WORK/pair-b.out"
          load "$ref_header" "$ref_url" "$WORK/pair-a.out"
        fi
        wait "${loads[@]}"
        a1=$(cpu_ns "$ref_pid") b1=$(cpu_ns "$pid")
      done
      printf "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n" "$ref" "$name" "$round" "$(requests "$WORK/pair-a.out")" \
        "$(requests "$WORK/pair-b.out")" $((a1 - a0)) $((b1 - b0)) "$DURATION" >>"$out"
    done
    echo "paired round $round done"
  done
}
