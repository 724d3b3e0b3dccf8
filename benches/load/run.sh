#!/usr/bin/env bash
# Load benchmark (loopback only, bounded in time; installs nothing).
#
# Against one small upstream (nginx answering a static 3-byte body), in
# interleaved rounds, it measures:
#   nginx       nginx proxy_pass (keepalive upstream), the reference proxy
#   passthrough `wrnexus passthrough`: bare pingora, NO authentication
#   nginx-authz what is built instead of the gateway, at its cheapest: nginx
#               proxy_pass with `auth_request` to an authorizer that
#               decides nothing (a second nginx answering 204), both
#               processes on the proxy core, their CPU summed
#   cerbos-authz the same with a real policy decision point: nginx
#               auth_request to an adapter (benches/src/bin/cerbos_adapter.rs)
#               asking Cerbos (CheckResources over HTTP, WRNexus's role and
#               suspension rules as a Cerbos policy: cerbos/), the three
#               processes on the proxy core, their CPU summed; only with
#               CERBOS=1 or when ONLY or PAIRS_WITH names it (cerbos.sh)
#               (all of them sent the same session cookie as gw-steady)
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
#   ONLY="passthrough gw-steady" runs just the scenarios named (e.g.
#   ONLY="nginx-authz gw-steady passthrough").
#   TLS=1 adds the TLS scenarios above (implied by ONLY naming one);
#   H2_STREAMS=10 HS_RATE=500 (new connections per second at the fixed
#   rate, in steps of 100).
#   Needs openssl, and nginx with http_ssl and http_v2 (Debian's has them).
#   INSTRUCTIONS=20000 counts instructions per request under callgrind
#   instead (pass-through, nginx-authz's two processes summed, gw-steady,
#   gw-apikey; needs valgrind), then exits. Not cerbos-authz: Cerbos is Go,
#   whose runtime callgrind does not count meaningfully.
#   PAIRED=3 paired rounds after the interleaved ones (0: none): a
#   reference and a gateway scenario (gw-steady, gw-apikey) loaded at
#   the same time on the proxy core, each by its own wrk; the references
#   are PAIRS_WITH="passthrough nginx-authz" (the default: both; the
#   pass-through's adds a control pair of two pass-through processes;
#   cerbos-authz may be named too); see paired.sh.
#   CERBOS=1 runs cerbos-authz (needs `benches/load/cerbos.sh fetch` and
#   the adapter: cargo build --profile bench-tools -p wrnexus-benches
#   --bin cerbos_adapter; CERBOS_BIN, CERBOS_ADAPTER move them).
#   PROXY_CPU=0 LOAD_CPU=1 (the proxy alone on one core; load generator,
#   upstream and control plane on the other). Not run by CI.
# Its parts, sourced from beside it (`shellcheck -x` follows them):
# shellcheck source-path=SCRIPTDIR disable=SC1091
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
PAIRS_WITH=${PAIRS_WITH:-passthrough nginx-authz}
for ref in $PAIRS_WITH; do
  case $ref in passthrough | nginx-authz | cerbos-authz) ;; *)
    echo "PAIRS_WITH: $ref is not a reference (passthrough, nginx-authz, cerbos-authz)" >&2
    exit 2 ;;
  esac
done
CERBOS=${CERBOS:-0}
if [[ " ${ONLY:-} $PAIRS_WITH " == *" cerbos-authz "* ]]; then CERBOS=1; fi
PROXY_CPU=${PROXY_CPU:-0}
LOAD_CPU=${LOAD_CPU:-1}
BASE_PORT=${BASE_PORT:-18000}
BIN=${1:-${WRNEXUS_BIN:-${CARGO_TARGET_DIR:-target}/release/wrnexus}}
COOKIE_NAME=__Host-wrnexus_session

# Its parts, beside it: nginx configurations (nginx.sh), one measured run
# (measure.sh), the INSTRUCTIONS mode (instructions.sh) and the paired
# rounds (paired.sh), the Cerbos peer (cerbos.sh), functions called below;
# report.py prints the tables.
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
source "$HERE/nginx.sh"
source "$HERE/measure.sh"
source "$HERE/instructions.sh"
source "$HERE/paired.sh"
source "$HERE/cerbos.sh"

missing=()
for tool in wrk h2load nginx taskset curl python3 awk; do
  command -v "$tool" >/dev/null || missing+=("$tool")
done
if command -v nginx >/dev/null && [[ $(nginx -V 2>&1) != *--with-http_auth_request_module* ]]; then
  missing+=("nginx with http_auth_request")
fi
if [[ $TLS == 1 ]]; then
  command -v openssl >/dev/null || missing+=(openssl)
  [[ $(nginx -V 2>&1) == *--with-http_v2_module* ]] || missing+=("nginx with http_v2")
fi
if [[ $CERBOS == 1 ]]; then mapfile -t -O "${#missing[@]}" missing < <(cerbos_missing); fi
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
# nginx-authz: its proxy and its authorizer (78, 79: the same under callgrind).
NAZ=$((BASE_PORT + 76)) NAZA=$((BASE_PORT + 77))
# TLS: nginx, the pass-through, the gateway and its admin listener.
NGXS=$((BASE_PORT + 95)) PTS=$((BASE_PORT + 96)) GWS=$((BASE_PORT + 97))
TLS_PORTS=()
if [[ $TLS == 1 ]]; then TLS_PORTS=("$NGXS" "$PTS" "$GWS" $((BASE_PORT + 98))); fi
for port in $UP $NGX $PT $GW $GWC $CP $NAZ $NAZA $((BASE_PORT + 78)) $((BASE_PORT + 79)) \
  $((BASE_PORT + 86)) $((BASE_PORT + 87)) $((BASE_PORT + 88)) $((BASE_PORT + 89)) \
  $((BASE_PORT + 90)) $((BASE_PORT + 91)) $((BASE_PORT + 92)) $((BASE_PORT + 94)) \
  $((BASE_PORT + 71)) $((BASE_PORT + 72)) $((BASE_PORT + 73)) $((BASE_PORT + 74)) \
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

# --- the upstream: nginx with a static body, on the load generator's core.
nginx_conf upstream "server { listen 127.0.0.1:$UP; location / { return 200 \"ok\\n\"; } }"
taskset -c "$LOAD_CPU" nginx -p "$WORK/upstream" -c "$WORK/upstream/nginx.conf" &
PIDS+=($!)

# --- the proxies, each alone on the proxy core.
nginx_conf proxy "$(nginx_proxy "127.0.0.1:$NGX")"
taskset -c "$PROXY_CPU" nginx -p "$WORK/proxy" -c "$WORK/proxy/nginx.conf" &
NGX_PID=$!
PIDS+=("$NGX_PID")

# nginx-authz: the proxy asks an authorizer (nginx.sh) before each
# proxy_pass. Both single-process, on the proxy core.
nginx_conf authorizer "$(authorizer "$NAZA")"
taskset -c "$PROXY_CPU" nginx -p "$WORK/authorizer" -c "$WORK/authorizer/nginx.conf" &
NAZA_PID=$!
PIDS+=("$NAZA_PID")
nginx_conf proxy-authz "$(nginx_authz "$NAZ" "$NAZA")"
taskset -c "$PROXY_CPU" nginx -p "$WORK/proxy-authz" -c "$WORK/proxy-authz/nginx.conf" &
NAZ_PID=$!
PIDS+=("$NAZ_PID")

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
  "http://127.0.0.1:$NAZA/" "http://127.0.0.1:$NAZ/" \
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
check 204 "http://127.0.0.1:$NAZA/app/items" -H "cookie: $ALICE"
check 200 "http://127.0.0.1:$NAZ/app/items" -H "cookie: $ALICE"

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
# cerbos-authz (cerbos.sh): Cerbos, the adapter and their nginx, checked.
if [[ $CERBOS == 1 ]]; then cerbos_authz_start; fi
# The references get the same request as gw-steady, session cookie
# included (they forward it as it is): same bytes in, so the ratio is the
# gateway's own work.
SCENARIOS=(
  "nginx|$NGX_PID|http://127.0.0.1:$NGX/app/items|cookie: $ALICE"
  "passthrough|$PT_PID|http://127.0.0.1:$PT/app/items|cookie: $ALICE"
  "nginx-authz|$NAZ_PID,$NAZA_PID|http://127.0.0.1:$NAZ/app/items|cookie: $ALICE"
  "gw-steady|$GW_PID|http://127.0.0.1:$GW/app/items|cookie: $ALICE"
  "gw-cold|$GWC_PID|http://127.0.0.1:$GWC/app/items|cookie: $ALICE"
  "gw-deny|$GW_PID|http://127.0.0.1:$GW/app/items|cookie: $BOB"
  "gw-apikey|$GW_PID|http://127.0.0.1:$GW/app/items|authorization: Bearer $API_KEY"
)
if [[ $CERBOS == 1 ]]; then
  SCENARIOS+=("cerbos-authz|$CZ_PIDS|http://127.0.0.1:$CZ/app/items|cookie: $ALICE")
else
  echo "cerbos-authz not run (CERBOS=1, or ONLY or PAIRS_WITH naming it, runs it)"
fi
# NAME|PID|URL|HEADER|MODE (PID: "PID1,PID2,…" for several processes, their
# CPU summed, as nginx-authz's and cerbos-authz's): TLS scenarios have a MODE (h1, h2, new; see
# run_closed and run_h2load), all sending gw-steady's request.
if [[ $TLS == 1 ]]; then
  for mode in tls:h1 h2:h2 hs:new; do
    for proxy in "nginx|$NGXS_PID|$NGXS" "passthrough|$PTS_PID|$PTS" "gw|$GWS_PID|$GWS"; do
      IFS='|' read -r name pid port <<<"$proxy"
      SCENARIOS+=("${mode%%:*}-$name|$pid|https://127.0.0.1:$port/app/items|cookie: $ALICE|${mode#*:}")
    done
  done
fi

RESULTS=$WORK/results.tsv # one line per measured run (measure.sh)
PAIRS=$WORK/paired.tsv    # one line per pair and round (paired.sh)

# INSTRUCTIONS=N: instructions per request under callgrind instead of the
# rounds (instructions.sh).
if [[ -n ${INSTRUCTIONS:-} ]]; then
  count_instructions
  exit 0
fi

echo "proxy on CPU $PROXY_CPU; wrk, h2load, upstream nginx and control plane on CPU $LOAD_CPU"
# Each round runs every scenario's wrk first, then every scenario's fixed
# rate, so that the closed-loop runs being compared are minutes apart at
# most; every other round takes the scenarios in reverse order, so that a
# drift of the machine's speed over a round favours none of them. Each run
# (run_closed, run_h2load: measure.sh) is a line of $RESULTS.
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
# cerbos-authz's CPU per process: nginx, the adapter, Cerbos (cerbos.sh).
if ((ROUNDS > 0)) && [[ $CERBOS == 1 && (-z ${ONLY:-} || " $ONLY " == *" cerbos-authz "*) ]]; then
  cerbos_split "http://127.0.0.1:$CZ/app/items" "cookie: $ALICE"
fi

# --- Paired rounds: a reference and a gateway scenario loaded at the same
# time on the proxy core (paired.sh).
if ((PAIRED > 0)); then paired_rounds "$PAIRS"; fi

# --- The tables (report.py).
if [[ -s $RESULTS ]]; then python3 "$HERE/report.py" runs "$RESULTS" "$H2_STREAMS"; fi
if [[ -s $PAIRS ]]; then python3 "$HERE/report.py" paired "$PAIRS" "$PROXY_CPU"; fi

