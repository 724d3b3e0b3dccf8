#!/usr/bin/env bash
# Load benchmark (loopback only, bounded in time; installs nothing).
#
# Against one small upstream (nginx answering a static 3-byte body), in
# interleaved rounds, it measures:
#   nginx       nginx proxy_pass (keepalive upstream), the reference proxy
#   passthrough `wrnexus passthrough`: bare pingora, NO authentication
#               (both sent the same session cookie as gw-steady)
#   gw-steady   the gateway, one session cookie (token and decision data cached)
#   gw-cold     the gateway with token_cache_capacity = 0: every request
#               checks the token's signature (as a never-seen token would)
#   gw-deny     the gateway, a session whose membership was removed: resolved,
#               then refused by Cedar (403 not_a_member) on every request
#   gw-apikey   the gateway, an API key (Authorization: Bearer wrn_…)
# with wrk (closed loop, max throughput) and h2load at a fixed rate.
# With TLS=1, also over TLS: nginx, the pass-through and the gateway (as
# gw-steady) each terminating TLS with one self-signed ECDSA P-256
# certificate (the upstream stays plain HTTP), in three ways:
#   tls-nginx  tls-passthrough  tls-gw   HTTP/1.1, keep-alive (wrk;
#                                        h2load --h1 at the fixed rate)
#   h2-nginx   h2-passthrough   h2-gw    HTTP/2 (closed loop: h2load with
#                                        H2_STREAMS streams per connection)
#   hs-nginx   hs-passthrough   hs-gw    a new connection and TLS handshake
#                                        per request: closed loop, wrk with
#                                        `Connection: close` (wrk resumes its
#                                        TLS session: no certificate signature);
#                                        fixed rate, h2load --h1 -r HS_RATE
#                                        connections/s, one request each (full
#                                        handshakes: h2load never resumes)
# each group's ratios taken to its own pass-through and nginx. The paired
# rounds stay plain HTTP.
#
# Usage: benches/load/run.sh [path/to/wrnexus]   (a release build)
# Settings (environment): ROUNDS=3 DURATION=10 CONNS=32 RATE=2000
#   ONLY="passthrough gw-steady" runs just the scenarios named.
#   TLS=1 adds the TLS scenarios above (implied by ONLY naming one);
#   H2_STREAMS=10 HS_RATE=500 (new connections per second at the fixed
#   rate, in steps of 100).
#   Needs openssl, and nginx with http_ssl and http_v2 (Debian's has them).
#   INSTRUCTIONS=20000 counts instructions per request under callgrind
#   instead (pass-through, gw-steady, gw-apikey; needs valgrind), then exits.
#   PAIRED=3 paired rounds after the interleaved ones (0: none): the
#   pass-through and a gateway scenario (gw-steady, gw-apikey) loaded at
#   the same time on the proxy core, each by its own wrk, and a control
#   pair of two pass-through processes; see "Paired rounds" below.
#   PROXY_CPU=0 LOAD_CPU=1 (the proxy alone on one core; load generator,
#   upstream and control plane on the other). Not run by CI.
set -euo pipefail

ROUNDS=${ROUNDS:-3}
PAIRED=${PAIRED:-3}
DURATION=${DURATION:-10}
CONNS=${CONNS:-32}
RATE=${RATE:-2000}
TLS=${TLS:-0}
H2_STREAMS=${H2_STREAMS:-10}
HS_RATE=${HS_RATE:-500}
if [[ " ${ONLY:-} " =~ \ (tls|h2|hs)- ]]; then TLS=1; fi
PROXY_CPU=${PROXY_CPU:-0}
LOAD_CPU=${LOAD_CPU:-1}
BASE_PORT=${BASE_PORT:-18000}
BIN=${1:-${WRNEXUS_BIN:-${CARGO_TARGET_DIR:-target}/release/wrnexus}}
COOKIE_NAME=__Host-wrnexus_session

missing=()
for tool in wrk h2load nginx taskset curl python3 awk; do
  command -v "$tool" >/dev/null || missing+=("$tool")
done
if [[ $TLS == 1 ]]; then
  command -v openssl >/dev/null || missing+=(openssl)
  [[ $(nginx -V 2>&1) == *--with-http_v2_module* ]] || missing+=("nginx with http_v2")
fi
if ((${#missing[@]})); then
  echo "missing: ${missing[*]}" >&2
  echo "on Debian: apt-get install wrk nghttp2-client nginx-light util-linux curl python3 openssl" >&2
  exit 2
fi
if [[ ! -x $BIN ]]; then
  echo "no wrnexus binary at $BIN: cargo build --release -p wrnexus (or pass its path)" >&2
  exit 2
fi
if ! "$BIN" passthrough --help >/dev/null 2>&1; then
  echo "$BIN has no \`passthrough\` subcommand: rebuild it" >&2
  exit 2
fi
if [[ $TLS == 1 && $("$BIN" passthrough --help 2>&1) != *--tls-cert* ]]; then
  echo "$BIN passthrough has no --tls-cert: rebuild it" >&2
  exit 2
fi

UP=$((BASE_PORT + 81)) NGX=$((BASE_PORT + 82)) PT=$((BASE_PORT + 83))
GW=$((BASE_PORT + 84)) GWC=$((BASE_PORT + 85)) CP=$((BASE_PORT + 70))
# TLS: nginx, the pass-through, the gateway and its admin listener.
NGXS=$((BASE_PORT + 95)) PTS=$((BASE_PORT + 96)) GWS=$((BASE_PORT + 97))
TLS_PORTS=()
if [[ $TLS == 1 ]]; then TLS_PORTS=("$NGXS" "$PTS" "$GWS" $((BASE_PORT + 98))); fi
for port in $UP $NGX $PT $GW $GWC $CP $((BASE_PORT + 86)) $((BASE_PORT + 87)) $((BASE_PORT + 88)) \
  $((BASE_PORT + 89)) $((BASE_PORT + 90)) $((BASE_PORT + 91)) $((BASE_PORT + 92)) $((BASE_PORT + 94)) \
  "${TLS_PORTS[@]}"; do
  if (: <"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
    echo "port $port is in use (another run?); set BASE_PORT to move all ports" >&2
    exit 2
  fi
done
WORK=$(mktemp -d /tmp/wrnexus-load.XXXXXX)
PIDS=()
cleanup() {
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT

wait_for() { # URL [TRIES]: until it answers at all (TRIES × 0.1 s, default 10 s)
  for _ in $(seq 1 "${2:-100}"); do
    curl -sk -o /dev/null --max-time 1 "$1" && return 0
    sleep 0.1
  done
  echo "$1 did not come up; logs in $WORK" >&2
  cat "$WORK"/*.log >&2 || true
  exit 1
}

nginx_conf() { # NAME BODY: a single-process nginx
  mkdir -p "$WORK/$1"
  cat >"$WORK/$1/nginx.conf" <<CONF
daemon off;
master_process off;
worker_processes 1;
pid $WORK/$1/nginx.pid;
error_log $WORK/$1.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path $WORK/$1/body;
  proxy_temp_path $WORK/$1/proxy;
  fastcgi_temp_path $WORK/$1/fastcgi;
  uwsgi_temp_path $WORK/$1/uwsgi;
  scgi_temp_path $WORK/$1/scgi;
  keepalive_requests 1000000;
  $2
}
CONF
}

# --- the upstream: nginx with a static body, on the load generator's core.
nginx_conf upstream "server { listen 127.0.0.1:$UP; location / { return 200 \"ok\\n\"; } }"
taskset -c "$LOAD_CPU" nginx -p "$WORK/upstream" -c "$WORK/upstream/nginx.conf" &
PIDS+=($!)

# --- the proxies, each alone on the proxy core.
nginx_proxy() { # LISTEN [DIRECTIVES]: nginx_conf's body, proxy_pass to the upstream
  echo "upstream app { server 127.0.0.1:$UP; keepalive 64; }
  server { listen $1; ${2:-}location / {
    proxy_pass http://app; proxy_http_version 1.1; proxy_set_header Connection \"\"; } }"
}
nginx_conf proxy "$(nginx_proxy "127.0.0.1:$NGX")"
taskset -c "$PROXY_CPU" nginx -p "$WORK/proxy" -c "$WORK/proxy/nginx.conf" &
NGX_PID=$!
PIDS+=("$NGX_PID")

taskset -c "$PROXY_CPU" "$BIN" passthrough --listen "127.0.0.1:$PT" \
  --upstream "http://127.0.0.1:$UP" --threads 1 >"$WORK/passthrough.log" 2>&1 &
PT_PID=$!
PIDS+=("$PT_PID")

# --- the split stack on SQLite, without Redis (the control plane only
# serves keys and cache misses here).
cat >"$WORK/wrnexus.toml" <<CONF
[session]
cookie_name = "$COOKIE_NAME"
[control_plane]
listen = "127.0.0.1:$CP"
database_url = "sqlite://$WORK/cp.sqlite?mode=rwc"
cookie_secure = false
webhooks_enabled = false
signin_rate_per_minute = 1000
[gateway]
listen = "127.0.0.1:$GW"
admin_listen = "127.0.0.1:$((BASE_PORT + 90))"
control_plane_url = "http://127.0.0.1:$CP"
upstream = "http://127.0.0.1:$UP"
cache_ttl_secs = 3600
# No Redis in the benchmark: revocations wait for the cache TTL, said here.
allow_stale_revocation = true
threads = 1
CONF
gateway_conf() { # PORT ADMIN_PORT OUT: the gateway of wrnexus.toml on other ports
  sed -e "s/^listen = \"127.0.0.1:$GW\"/listen = \"127.0.0.1:$1\"/" \
    -e "s/:$((BASE_PORT + 90))/:$2/" "$WORK/wrnexus.toml" >"$3"
}
gateway_conf "$GWC" $((BASE_PORT + 91)) "$WORK/wrnexus-cold.toml"
echo "token_cache_capacity = 0" >>"$WORK/wrnexus-cold.toml"
export WRNEXUS_LOG=warn
taskset -c "$LOAD_CPU" "$BIN" control-plane -c "$WORK/wrnexus.toml" >"$WORK/control-plane.log" 2>&1 &
PIDS+=($!)
wait_for "http://127.0.0.1:$CP/v1/keys"
taskset -c "$PROXY_CPU" "$BIN" gateway -c "$WORK/wrnexus.toml" >"$WORK/gateway.log" 2>&1 &
GW_PID=$!
PIDS+=("$GW_PID")
taskset -c "$PROXY_CPU" "$BIN" gateway -c "$WORK/wrnexus-cold.toml" >"$WORK/gateway-cold.log" 2>&1 &
GWC_PID=$!
PIDS+=("$GWC_PID")
for url in "http://127.0.0.1:$UP/" "http://127.0.0.1:$NGX/" "http://127.0.0.1:$PT/" \
  "http://127.0.0.1:$((BASE_PORT + 90))/ready" "http://127.0.0.1:$((BASE_PORT + 91))/ready"; do
  wait_for "$url"
done

# --- TLS=1: the same three proxies terminating TLS, each on its own port
# with the same certificate (self-signed, ECDSA P-256, for 127.0.0.1),
# HTTP/2 offered by ALPN; the upstream stays plain HTTP.
if [[ $TLS == 1 ]]; then
  CERT=$WORK/tls/cert.pem KEY=$WORK/tls/key.pem
  mkdir -p "$WORK/tls"
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
    -subj /CN=localhost -addext "subjectAltName=DNS:localhost,IP:127.0.0.1" \
    -keyout "$KEY" -out "$CERT" 2>"$WORK/openssl.log"
  # `http2 on;` from nginx 1.25.1; `listen … http2` before it.
  ngx_version=$(nginx -v 2>&1)
  ngx_version=${ngx_version##*/}
  h2=("" "http2 on; ")
  if [[ $(printf '%s\n' "$ngx_version" 1.25.1 | sort -V | head -1) != 1.25.1 ]]; then h2=(" http2" ""); fi
  nginx_conf proxy-tls "$(nginx_proxy "127.0.0.1:$NGXS ssl${h2[0]}" "${h2[1]}ssl_certificate $CERT;
    ssl_certificate_key $KEY; ssl_protocols TLSv1.2 TLSv1.3; ")"
  taskset -c "$PROXY_CPU" nginx -p "$WORK/proxy-tls" -c "$WORK/proxy-tls/nginx.conf" &
  NGXS_PID=$!
  PIDS+=("$NGXS_PID")
  taskset -c "$PROXY_CPU" "$BIN" passthrough --listen "127.0.0.1:$PTS" --tls-cert "$CERT" \
    --tls-key "$KEY" --upstream "http://127.0.0.1:$UP" --threads 1 >"$WORK/passthrough-tls.log" 2>&1 &
  PTS_PID=$!
  PIDS+=("$PTS_PID")
  gateway_conf "$GWS" $((BASE_PORT + 98)) "$WORK/wrnexus-tls.toml"
  printf '[gateway.tls]\ncert_file = "%s"\nkey_file = "%s"\nhttp2 = true\n' "$CERT" "$KEY" \
    >>"$WORK/wrnexus-tls.toml"
  taskset -c "$PROXY_CPU" "$BIN" gateway -c "$WORK/wrnexus-tls.toml" >"$WORK/gateway-tls.log" 2>&1 &
  GWS_PID=$!
  PIDS+=("$GWS_PID")
  for url in "https://127.0.0.1:$NGXS/" "https://127.0.0.1:$PTS/" "http://127.0.0.1:$((BASE_PORT + 98))/ready"; do
    wait_for "$url"
  done
fi

# --- users: Alice owns a team workspace; Bob is a viewer in it.
API="http://127.0.0.1:$GW/.wrnexus/api/v1"
json() { python3 -c "import json,sys; print(json.load(sys.stdin)$1)"; }
session_cookie() { grep -i "^set-cookie: $COOKIE_NAME=" | head -1 | sed -e 's/^[^:]*: //' -e 's/;.*//' | tr -d '\r'; }
signup() { # EMAIL -> cookie
  curl -s -D - -o /dev/null -H 'content-type: application/json' -H 'accept: application/json' \
    -d "{\"email\":\"$1\",\"password\":\"correct horse battery staple\"}" \
    "http://127.0.0.1:$GW/.wrnexus/signup" | session_cookie
}
ALICE=$(signup "alice-$RANDOM@example.com")
BOB_EMAIL="bob-$RANDOM@example.com"
BOB=$(signup "$BOB_EMAIL")
[[ -n $ALICE && -n $BOB ]] || { echo "sign-up failed" >&2; exit 1; }
TEAM=$(curl -sf -H "cookie: $ALICE" -H 'content-type: application/json' -d '{"name":"Bench"}' \
  "$API/workspaces" | json "['workspace']['id']")
INVITE=$(curl -sf -H "cookie: $ALICE" -H 'content-type: application/json' \
  -d "{\"email\":\"$BOB_EMAIL\",\"role\":\"viewer\"}" "$API/workspaces/$TEAM/invitations" | json "['token']")
curl -sf -o /dev/null -X POST -H "cookie: $BOB" "$API/invitations/$INVITE/accept"
BOB=$(curl -s -D - -o /dev/null -H "cookie: $BOB" -H 'content-type: application/json' \
  -H 'accept: application/json' -d "{\"workspace_id\":\"$TEAM\"}" \
  "http://127.0.0.1:$GW/.wrnexus/switch" | session_cookie)
# Then Alice removes Bob: his session stays valid, his membership is gone,
# so each of his requests is resolved and refused by Cedar (403 not_a_member).
BOB_ID=$(curl -sf -H "cookie: $BOB" "http://127.0.0.1:$GW/.wrnexus/whoami" | json "['user']['id']")
curl -sf -o /dev/null -X DELETE -H "cookie: $ALICE" "$API/workspaces/$TEAM/members/$BOB_ID"
check() { # EXPECTED URL [curl args]
  local got
  got=$(curl -s -o /dev/null -w '%{http_code}' "${@:3}" "$2")
  [[ $got == "$1" ]] || { echo "setup check: $2 answered $got, expected $1" >&2; exit 1; }
}
check 200 "http://127.0.0.1:$GW/app/items" -H "cookie: $ALICE"
check 200 "http://127.0.0.1:$GWC/app/items" -H "cookie: $ALICE"
check 403 "http://127.0.0.1:$GW/app/items" -H "cookie: $BOB"
check 401 "http://127.0.0.1:$GW/app/items"

# An API key of the team (member ceiling): `Authorization: Bearer wrn_…`.
API_KEY=$(curl -sf -H "cookie: $ALICE" -H 'content-type: application/json' \
  -d '{"name":"bench","role_ceiling":"member"}' "$API/workspaces/$TEAM/api-keys" | json "['secret']")
check 200 "http://127.0.0.1:$GW/app/items" -H "authorization: Bearer $API_KEY"
if [[ $TLS == 1 ]]; then
  for port in "$NGXS" "$PTS" "$GWS"; do # the certificate checks out, h2 and HTTP/1.1 answer
    check 200 "https://127.0.0.1:$port/app/items" -H "cookie: $ALICE" --cacert "$CERT" --http1.1
    check 200 "https://127.0.0.1:$port/app/items" -H "cookie: $ALICE" --cacert "$CERT" --http2
  done
  echo "TLS as negotiated by h2load (wrk's OpenSSL may choose another cipher):"
  for s in "nginx|$NGXS" "passthrough|$PTS" "gateway|$GWS"; do
    IFS='|' read -r name port <<<"$s"
    h2load -n 1 -H "cookie: $ALICE" "https://127.0.0.1:$port/app/items" | awk -v name="$name" '
      /^TLS Protocol:|^Cipher:|^Server Temp Key:|^Application protocol:/ { sub(/^[^:]*: /, ""); t = t " " $0 }
      END { printf "  %-12s%s\n", name, t }'
  done
fi
# The references get the same request as gw-steady, session cookie
# included (they forward it as it is): same bytes in, so the ratio is the
# gateway's own work.
SCENARIOS=(
  "nginx|$NGX_PID|http://127.0.0.1:$NGX/app/items|cookie: $ALICE"
  "passthrough|$PT_PID|http://127.0.0.1:$PT/app/items|cookie: $ALICE"
  "gw-steady|$GW_PID|http://127.0.0.1:$GW/app/items|cookie: $ALICE"
  "gw-cold|$GWC_PID|http://127.0.0.1:$GWC/app/items|cookie: $ALICE"
  "gw-deny|$GW_PID|http://127.0.0.1:$GW/app/items|cookie: $BOB"
  "gw-apikey|$GW_PID|http://127.0.0.1:$GW/app/items|authorization: Bearer $API_KEY"
)
# NAME|PID|URL|HEADER|MODE: TLS scenarios have a MODE (h1, h2, new; see
# run_closed and run_h2load), all sending gw-steady's request.
if [[ $TLS == 1 ]]; then
  for mode in tls:h1 h2:h2 hs:new; do
    for proxy in "nginx|$NGXS_PID|$NGXS" "passthrough|$PTS_PID|$PTS" "gw|$GWS_PID|$GWS"; do
      IFS='|' read -r name pid port <<<"$proxy"
      SCENARIOS+=("${mode%%:*}-$name|$pid|https://127.0.0.1:$port/app/items|cookie: $ALICE|${mode#*:}")
    done
  done
fi

cpu_ticks() { sed 's/.*) //' "/proc/$1/stat" | awk '{print $12 + $13}'; }
TICK_US=$((1000000 / $(getconf CLK_TCK)))
RESULTS=$WORK/results.tsv

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

# INSTRUCTIONS=N: instead of the rounds, count the user-space instructions
# the pass-through and the gateway (gw-steady's and gw-apikey's requests)
# spend on exactly N requests, each under callgrind. Unlike req/s on a shared machine, the count
# is the same run after run; the kernel's share is not in it.
if [[ -n ${INSTRUCTIONS:-} ]]; then
  for tool in valgrind callgrind_control callgrind_annotate; do
    command -v "$tool" >/dev/null || { echo "INSTRUCTIONS needs $tool (valgrind)" >&2; exit 2; }
  done
  count() { # NAME PORT HEADER COMMAND...: prints NAME, instructions per request
    local name=$1 port=$2 header=$3 pid url="http://127.0.0.1:$2/app/items"
    shift 3
    taskset -c "$PROXY_CPU" valgrind --tool=callgrind --instr-atstart=no \
      --callgrind-out-file="$WORK/$name.cg" "$@" >"$WORK/$name-callgrind.log" 2>&1 &
    pid=$!
    PIDS+=("$pid")
    wait_for "$url" 600
    h2load --h1 -n 2000 -c 16 -H "$header" "$url" >/dev/null
    callgrind_control -i on "$pid" >/dev/null 2>&1
    h2load --h1 -n "$INSTRUCTIONS" -c 16 -H "$header" "$url" | grep -q " 0 failed" ||
      { echo "$name: requests failed under callgrind" >&2; exit 1; }
    callgrind_control -d "$pid" >/dev/null 2>&1
    kill "$pid" && wait "$pid" 2>/dev/null || true
    callgrind_annotate "$WORK/$name.cg.1" 2>/dev/null | awk -v n="$INSTRUCTIONS" -v name="$name" \
      '/PROGRAM TOTALS/ { gsub(",", "", $1); printf "%-12s %10.0f\n", name, $1 / n }'
  }

  echo "user-space instructions per request ($INSTRUCTIONS requests, 16 connections, callgrind):"
  pt=$(count passthrough $((BASE_PORT + 87)) "cookie: $ALICE" "$BIN" passthrough \
    --listen "127.0.0.1:$((BASE_PORT + 87))" --upstream "http://127.0.0.1:$UP" --threads 1)
  echo "$pt"
  for scenario in "gw-steady|86|cookie: $ALICE" "gw-apikey|88|authorization: Bearer $API_KEY"; do
    IFS='|' read -r name offset header <<<"$scenario"
    port=$((BASE_PORT + offset))
    gateway_conf "$port" $((port + 6)) "$WORK/$name-cg.toml"
    gw=$(count "$name" "$port" "$header" "$BIN" gateway -c "$WORK/$name-cg.toml")
    echo "$pt $gw" | awk '{ printf "%-12s %10.0f  (%.3f × pass-through, +%.0f)\n", $3, $4, $4 / $2, $4 - $2 }'
  done
  exit 0
fi

echo "proxy on CPU $PROXY_CPU; wrk, h2load, upstream nginx and control plane on CPU $LOAD_CPU"
# Each round runs every scenario's wrk first, then every scenario's fixed
# rate, so that the closed-loop runs being compared are minutes apart at
# most; every other round takes the scenarios in reverse order, so that a
# drift of the machine's speed over a round favours none of them.
selected=()
for s in "${SCENARIOS[@]}"; do
  IFS='|' read -r name _ <<<"$s"
  if [[ -n ${ONLY:-} && " $ONLY " != *" $name "* ]]; then continue; fi
  selected+=("$s")
done
echo "$ROUNDS rounds × ${#selected[@]} scenarios × (wrk ${DURATION}s + h2load ${DURATION}s at $RATE req/s)"
for round in $(seq 1 "$ROUNDS"); do
  order=("${selected[@]}")
  if ((round % 2 == 0)); then
    order=()
    for ((i = ${#selected[@]} - 1; i >= 0; i--)); do order+=("${selected[$i]}"); done
  fi
  for s in "${order[@]}"; do
    IFS='|' read -r name pid url header mode <<<"$s"
    # Warm: fills the token and decision caches, opens upstream connections.
    taskset -c "$LOAD_CPU" wrk -t1 -c"$CONNS" -d1s ${header:+-H "$header"} "$url" >/dev/null
    run_closed "$name" "$pid" "$url" "$header" "$round" "$mode"
  done
  for s in "${order[@]}"; do
    IFS='|' read -r name pid url header mode <<<"$s"
    run_h2load "$name" "$pid" "$url" "$header" "$round" "$mode"
  done
  echo "round $round done"
done

# --- Paired rounds. On a shared VM the machine's speed moves by tens of
# percent within minutes, more than the difference being measured, so runs
# one after the other disagree. Here the pass-through and a gateway
# scenario are loaded at the same time, both on the proxy core: whatever
# the machine does in that interval, it does to both. Each proxy's CPU
# comes from the scheduler's clock (/proc/PID/task/*/schedstat, ns), and
# the cost ratio is pass-through µs per request ÷ the other's: the
# throughput ratio each would have alone on a core. The control pair (two
# pass-through processes) shows the method's own error.
cpu_ns() { # PID: CPU time of all its threads so far, ns
  local total=0 ns _rest
  for f in /proc/"$1"/task/*/schedstat; do
    read -r ns _rest <"$f" && total=$((total + ns))
  done
  echo "$total"
}
PAIRS=$WORK/paired.tsv
if ((PAIRED > 0)); then
  PT2=$((BASE_PORT + 89))
  taskset -c "$PROXY_CPU" "$BIN" passthrough --listen "127.0.0.1:$PT2" \
    --upstream "http://127.0.0.1:$UP" --threads 1 >"$WORK/passthrough-2.log" 2>&1 &
  PT2_PID=$!
  PIDS+=("$PT2_PID")
  wait_for "http://127.0.0.1:$PT2/"
  pairs=("control|$PT2_PID|http://127.0.0.1:$PT2/app/items|cookie: $ALICE")
  for s in "${SCENARIOS[@]}"; do
    case $s in gw-steady\|* | gw-apikey\|*) pairs+=("$s") ;; esac
  done
  requests() { awk '/ requests in / { print $1 }' "$1"; }
  load() { # HEADER URL OUT: a wrk of $secs seconds in the background, its pid in loads
    taskset -c "$LOAD_CPU" wrk -t1 -c"$CONNS" -d"${secs}s" -H "$1" "$2" >"$3" &
    loads+=($!)
  }
  for round in $(seq 1 "$PAIRED"); do
    for s in "${pairs[@]}"; do
      IFS='|' read -r name pid url header <<<"$s"
      pt_url="http://127.0.0.1:$PT/app/items" pt_header="cookie: $ALICE"
      for secs in 1 "$DURATION"; do # 1 s to warm both, then the measured run
        a0=$(cpu_ns "$PT_PID") b0=$(cpu_ns "$pid")
        loads=()
        # Every other round the other one's load starts first.
        if ((round % 2)); then
          load "$pt_header" "$pt_url" "$WORK/pair-a.out"
          load "$header" "$url" "$WORK/pair-b.out"
        else
          load "$header" "$url" "$WORK/pair-b.out"
          load "$pt_header" "$pt_url" "$WORK/pair-a.out"
        fi
        wait "${loads[@]}"
        a1=$(cpu_ns "$PT_PID") b1=$(cpu_ns "$pid")
      done
      printf "%s\t%s\t%s\t%s\t%s\t%s\t%s\n" "$name" "$round" "$(requests "$WORK/pair-a.out")" \
        "$(requests "$WORK/pair-b.out")" $((a1 - a0)) $((b1 - b0)) "$DURATION" >>"$PAIRS"
    done
    echo "paired round $round done"
  done
fi

if [[ -s $RESULTS ]]; then
echo
echo "Per run (non-2xx for gw-deny are the expected 403s; h2load 'errors' = failed+errored+timeout):"
w=$(awk -F'\t' '{ if (length($1) > w) w = length($1) } END { print (w > 12 ? w : 12) }' "$RESULTS")
printf "%-${w}s %-12s %5s %9s %9s %9s %8s %-12s %9s\n" scenario tool round req/s p50 p99 non-2xx errors cpu-us/req
awk -F'\t' -v w="$w" '{ printf "%-" w "s %-12s %5s %9s %9s %9s %8s %-12s %9s\n", $1, $2, $3, $4, $5, $6, $7, $8, $9 }' "$RESULTS"
python3 - "$RESULTS" "$H2_STREAMS" <<'PY'
import statistics, sys
rows = [l.rstrip("\n").split("\t") for l in open(sys.argv[1])]
# Closed loop (throughput): wrk, or h2load with -m streams for h2; fixed rate: h2load@RATE.
def closed(tool):
    return tool == "wrk" or tool.startswith("h2load-m")
def fixed(tool):
    return tool.startswith("h2load@")
def med(name, kind, col):
    vals = [float(r[col]) for r in rows if r[0] == name and kind(r[1])]
    return statistics.median(vals) if vals else float("nan")
def ms(text):
    for unit, scale in (("us", 0.001), ("ms", 1.0), ("s", 1000.0)):
        if text.endswith(unit):
            return float(text[: -len(unit)]) * scale
    return float("inf")
def lat(name, kind, col):
    vals = sorted((r[col] for r in rows if r[0] == name and kind(r[1])), key=ms)
    return vals[len(vals) // 2] if vals else "-"
def ratio(a, b):
    return a / b if b > 0 else float("nan")
# A TLS scenario's group is its prefix; its ratios are to its group's
# pass-through and nginx (tls-passthrough, tls-nginx, …).
TITLES = {
    "tls": "TLS, HTTP/1.1 keep-alive (closed loop: wrk; fixed rate: h2load --h1)",
    "h2": f"TLS, HTTP/2 (closed loop: h2load, {sys.argv[2]} streams per connection; fixed rate: h2load)",
    "hs": "TLS, a new connection per request (closed loop: wrk, Connection: close, "
          "resumed sessions; fixed rate: h2load --h1 -r connections/s, full handshakes)",
}
def group(name):
    prefix = name.split("-", 1)[0]
    return prefix if prefix in TITLES and "-" in name else ""
def ref(g, proxy):
    return f"{g}-{proxy}" if g else proxy
names = list(dict.fromkeys(r[0] for r in rows))
groups = list(dict.fromkeys(group(n) for n in names))
for g in groups:
    members = [n for n in names if group(n) == g]
    pt, ngx = ref(g, "passthrough"), ref(g, "nginx")
    base_rps, base_cpu = med(pt, closed, 3), med(pt, fixed, 8)
    if not g:
        print()
        print("Medians over rounds (ratio: req/s vs passthrough, wrk; cpu vs passthrough, h2load):")
        print(f"{'scenario':<12} {'wrk req/s':>10} {'ratio':>6} {'wrk p50':>9} {'wrk p99':>9} "
              f"{'fixed p50':>9} {'fixed p99':>9} {'cpu-us/req':>10} {'cpu ratio':>9}")
        for n in members:
            rps, cpu = med(n, closed, 3), med(n, fixed, 8)
            print(f"{n:<12} {rps:>10.0f} {rps / base_rps:>6.2f} {lat(n, closed, 4):>9} {lat(n, closed, 5):>9} "
                  f"{lat(n, fixed, 4):>9} {lat(n, fixed, 5):>9} {cpu:>10.1f} {cpu / base_cpu:>9.2f}")
        continue
    print()
    print(f"{TITLES[g]}; ratios to {pt} and to {ngx}:")
    ngx_rps, ngx_cpu = med(ngx, closed, 3), med(ngx, fixed, 8)
    print(f"{'scenario':<15} {'req/s':>10} {'ratio':>6} {'p50':>9} {'p99':>9} "
          f"{'fixed p50':>9} {'fixed p99':>9} {'cpu-us/req':>10} {'cpu ratio':>9} {'vs nginx':>8} {'cpu vs ngx':>10}")
    for n in members:
        rps, cpu = med(n, closed, 3), med(n, fixed, 8)
        print(f"{n:<15} {rps:>10.0f} {ratio(rps, base_rps):>6.2f} {lat(n, closed, 4):>9} {lat(n, closed, 5):>9} "
              f"{lat(n, fixed, 4):>9} {lat(n, fixed, 5):>9} {cpu:>10.1f} {ratio(cpu, base_cpu):>9.2f} "
              f"{ratio(rps, ngx_rps):>8.2f} {ratio(cpu, ngx_cpu):>10.2f}")
# The same ratio round by round (each pair of closed-loop runs close in time).
def per_round(name, base):
    by_round = {}
    for r in rows:
        if closed(r[1]) and r[0] in (name, base):
            by_round.setdefault(r[2], {})[r[0]] = float(r[3])
    return [v[name] / v[base] for _, v in sorted(by_round.items(), key=lambda kv: int(kv[0]))
            if name in v and base in v and v[base] > 0]
print()
if groups == [""]:
    print("wrk req/s vs passthrough, round by round (median):")
else:
    print("closed-loop req/s vs the pass-through of the same group, round by round (median):")
width = max(12, *(len(n) for n in names))
for n in names:
    base = ref(group(n), "passthrough")
    if n == base:
        continue
    ratios = per_round(n, base)
    if ratios:
        print(f"{n:<{width}} {' '.join(f'{x:.2f}' for x in ratios)}  (median {statistics.median(ratios):.2f})")
PY
fi

if [[ -s $PAIRS ]]; then
  echo
  echo "Paired rounds (each with the pass-through, both loaded at once on CPU $PROXY_CPU; CPU from schedstat):"
  python3 - "$PAIRS" <<'PY'
import statistics, sys
rows = [l.rstrip("\n").split("\t") for l in open(sys.argv[1])]
print(f"{'scenario':<12} {'round':>5} {'pt req/s':>9} {'req/s':>9} {'pt us/req':>9} {'us/req':>9} "
      f"{'core busy':>9} {'cost ratio':>10}")
by_name = {}
for name, rnd, na, nb, ca, cb, secs in rows:
    na, nb, ca, cb, secs = int(na), int(nb), int(ca), int(cb), float(secs)
    ua, ub = ca / 1e3 / na, cb / 1e3 / nb
    by_name.setdefault(name, []).append(ua / ub)
    print(f"{name:<12} {rnd:>5} {na / secs:>9.0f} {nb / secs:>9.0f} {ua:>9.1f} {ub:>9.1f} "
          f"{(ca + cb) / 1e9 / secs:>8.0%} {ua / ub:>10.3f}")
print()
print("cost ratio (pass-through CPU per request ÷ the scenario's; control: a second pass-through):")
for name, ratios in by_name.items():
    print(f"{name:<12} {' '.join(f'{x:.3f}' for x in ratios)}  (median {statistics.median(ratios):.3f})")
PY
fi
