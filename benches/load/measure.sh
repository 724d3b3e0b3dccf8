# One measured run of a scenario for the load benchmark (sourced by run.sh): wrk
# (closed loop) or h2load (fixed rate, or closed loop with HTTP/2 streams), the
# proxy's CPU from /proc/PID/stat, one line appended to $RESULTS.
# shellcheck shell=bash

TICK_US=$((1000000 / $(getconf CLK_TCK))) # µs per clock tick of /proc/PID/stat

stat_files() { # PID[,PID…]: /proc/PID/stat of each, one per line
  local pids pid
  IFS=, read -ra pids <<<"$1"
  for pid in "${pids[@]}"; do echo "/proc/$pid/stat"; done
}
cpu_ticks() { # PID[,PID…]: user + system clock ticks so far, summed over the processes
  local files
  mapfile -t files < <(stat_files "$1")
  sed 's/.*) //' "${files[@]}" | awk '{ t += $12 + $13 } END { print t + 0 }'
}

run_wrk() { # NAME PID URL HEADER ROUND [HEADER2]
  local args=(-t1 -c"$CONNS" -d"${DURATION}s" --latency)
  [[ -n $4 ]] && args+=(-H "$4")
  [[ -n ${6:-} ]] && args+=(-H "$6")
  local before after out
  before=$(cpu_ticks "$2")
  out=$(taskset -c "$LOAD_CPU" wrk "${args[@]}" "$3" 2>&1) ||
    { echo "wrk failed: $out" >&2; return 1; }
  after=$(cpu_ticks "$2")
  echo "$out" | awk -v name="$1" -v round="$5" -v ticks=$((after - before)) -v tick_us="$TICK_US" '
    / requests in /       { n = $1 }
    /^Requests\/sec/       { rps = $2 }
    /^ +50%/               { p50 = $2 }
    /^ +99%/               { p99 = $2 }
    /Non-2xx or 3xx/       { non2xx = $NF }
    /Socket errors/        { err = $0; sub(/.*errors: /, "", err) }
    END { printf "%s\twrk\t%s\t%.0f\t%s\t%s\t%d\t%s\t%.1f\n", name, round, rps, p50, p99,
            non2xx + 0, (err == "" ? "-" : err), (n > 0 ? ticks * tick_us / n : 0) }' >>"$RESULTS"
}

h2load_run() { # NAME TOOL PID URL HEADER ROUND H2LOAD-ARGS...: one line of results, TOOL its label
  local name=$1 tool=$2 pid=$3 url=$4 header=$5 round=$6 args
  shift 6
  args=("$@" --log-file "$WORK/h2load.log")
  [[ -n $header ]] && args+=(-H "$header")
  rm -f "$WORK/h2load.log"
  local before after out
  before=$(cpu_ticks "$pid")
  out=$(taskset -c "$LOAD_CPU" h2load "${args[@]}" "$url" 2>&1) ||
    { echo "h2load failed: $out" >&2; return 1; }
  after=$(cpu_ticks "$pid")
  local done_n failed
  done_n=$(echo "$out" | awk '/^requests:/ {print $8}')
  failed=$(echo "$out" | awk '/^requests:/ {print $10 + $12 + $14}')
  sort -n -k3,3 "$WORK/h2load.log" | awk -v name="$name" -v tool="$tool" -v round="$round" -v dur="$DURATION" \
    -v ticks=$((after - before)) -v tick_us="$TICK_US" -v failed="$failed" -v ok="${done_n:-0}" '
    { lat[NR] = $3; if ($2 >= 400) bad++ }
    END { n = NR; if (n == 0) n = 1
          i50 = int(n * 0.50); if (i50 < 1) i50 = 1
          i99 = int(n * 0.99); if (i99 < 1) i99 = 1
          printf "%s\t%s\t%s\t%.0f\t%.2fms\t%.2fms\t%d\t%s\t%.1f\n", name, tool, round,
            NR / dur, lat[i50] / 1000, lat[i99] / 1000, bad + 0, failed + 0, ticks * tick_us / n }' >>"$RESULTS"
}

run_h2load() { # NAME PID URL HEADER ROUND [MODE]: at a fixed rate, latency
  local clients=16 per10ms=$(((HS_RATE + 99) / 100)) n
  n=$((per10ms * 100 * DURATION))
  case ${6:-} in
    h2) h2load_run "$1" "h2load@$RATE" "$2" "$3" "$4" "$5" \
      -c "$clients" -D "$DURATION" --rps "$((RATE / clients))" ;;
    # HS_RATE new connections a second (in steps of 100: a few every
    # 10 ms, not a burst each second), one request each.
    new) h2load_run "$1" "h2load@$((per10ms * 100))" "$2" "$3" "$4" "$5" \
      --h1 -r "$per10ms" --rate-period 10ms -c "$n" -n "$n" ;;
    *) h2load_run "$1" "h2load@$RATE" "$2" "$3" "$4" "$5" \
      --h1 -c "$clients" -D "$DURATION" --rps "$((RATE / clients))" ;;
  esac
}

run_closed() { # NAME PID URL HEADER ROUND [MODE]: closed loop, throughput
  case ${6:-} in
    h2) h2load_run "$1" "h2load-m$H2_STREAMS" "$2" "$3" "$4" "$5" \
      -c "$CONNS" -m "$H2_STREAMS" -D "$DURATION" ;;
    new) run_wrk "$1" "$2" "$3" "$4" "$5" "connection: close" ;;
    *) run_wrk "$1" "$2" "$3" "$4" "$5" ;;
  esac
}
