#!/usr/bin/env bash
# The interleaved A/B of docs/LAB-NOTES.md for the signed-in clusters page: two builds
# side by side, each with its own data directory seeded alike, alternating wrk bursts
# (order swapped every round), each build's CPU per page from /proc/<pid>/stat.
#
#   bash bench/ab.sh <binary A> <site A> <binary B> <site B> [rounds] [seconds]
#
# Prints one markdown row per build: median requests/s, median CPU µs per page, and
# B against A. Loopback only; stops by itself.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN_A=$1 SITE_A=$2 BIN_B=$3 SITE_B=$4
ROUNDS=${5:-6}
SECS=${6:-2}
WORK="$(mktemp -d)"
PIDS=()
trap 'for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$WORK"' EXIT
EMAIL=bench@shipyard.local
PASSWORD="bench password 1234"
TICKS=$(getconf CLK_TCK)

start() { # name bin site -> prints "pid port cookie"
  local name=$1 bin=$2 site=$3 port
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  cp -r "$site" "$WORK/site-$name"
  SHIPYARD_LISTEN="127.0.0.1:$port" SHIPYARD_LOCALCLOUD_LISTEN=127.0.0.1:0 \
    SHIPYARD_DATA_DIR="$WORK/data-$name" SHIPYARD_SITE_ROOT="$WORK/site-$name" \
    SHIPYARD_ADMIN_EMAIL="$EMAIL" SHIPYARD_ADMIN_PASSWORD="$PASSWORD" RUST_LOG=warn \
    "$bin" >"$WORK/$name.log" 2>&1 &
  local pid=$!
  for _ in $(seq 1 100); do curl -sf "http://127.0.0.1:$port/healthz" >/dev/null && break; sleep 0.1; done
  curl -sf -o /dev/null -c "$WORK/jar-$name" -H 'accept: application/json' \
    --data-urlencode "email=$EMAIL" --data-urlencode "password=$PASSWORD" "http://127.0.0.1:$port/api/sign_in"
  python3 bench/seed.py "$WORK/data-$name/shipyard.db" "$EMAIL" 0 100 >/dev/null
  local cookie
  cookie="$(awk '$6 == "shipyard_session" { print "shipyard_session=" $7 }' "$WORK/jar-$name")"
  for _ in 1 2 3 4 5; do curl -sf -o /dev/null -H "cookie: $cookie" -H 'accept: text/html' "http://127.0.0.1:$port/clusters"; done
  echo "$pid $port $cookie"
}

cpu() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }

burst() { # pid port cookie -> "rps cpu_us_per_request"
  local pid=$1 port=$2 cookie=$3 before after out rps reqs
  before=$(cpu "$pid")
  out=$(wrk -t2 -c16 -d"${SECS}s" -H "cookie: $cookie" -H 'accept: text/html' "http://127.0.0.1:$port/clusters")
  after=$(cpu "$pid")
  if grep -q 'Non-2xx' <<<"$out"; then echo "non-2xx answers" >&2; exit 1; fi
  rps=$(awk '/^Requests\/sec/ { print $2 }' <<<"$out")
  reqs=$(awk '/requests in/ { print $1 }' <<<"$out")
  python3 -c "print($rps, round(($after - $before) / $TICKS * 1e6 / $reqs, 1))"
}

read -r PID_A PORT_A COOKIE_A < <(start a "$BIN_A" "$SITE_A")
PIDS+=("$PID_A")
read -r PID_B PORT_B COOKIE_B < <(start b "$BIN_B" "$SITE_B")
PIDS+=("$PID_B")
burst "$PID_A" "$PORT_A" "$COOKIE_A" >/dev/null
burst "$PID_B" "$PORT_B" "$COOKIE_B" >/dev/null
: >"$WORK/a" && : >"$WORK/b"
for r in $(seq 1 "$ROUNDS"); do
  if ((r % 2)); then order="a b"; else order="b a"; fi
  for x in $order; do
    if [ "$x" = a ]; then burst "$PID_A" "$PORT_A" "$COOKIE_A" >>"$WORK/a"; else burst "$PID_B" "$PORT_B" "$COOKIE_B" >>"$WORK/b"; fi
  done
done
python3 - "$WORK/a" "$WORK/b" "$ROUNDS" "$SECS" <<'PY'
import statistics, sys
def load(p):
    rows = [tuple(map(float, l.split())) for l in open(p) if l.strip()]
    return statistics.median(r[0] for r in rows), statistics.median(r[1] for r in rows)
a, b = load(sys.argv[1]), load(sys.argv[2])
print(f"| build | requests/s (median of {sys.argv[3]} bursts of {sys.argv[4]} s) | CPU per page |")
print("| --- | ---: | ---: |")
print(f"| A | {a[0]:.0f} | {a[1]:.0f} µs |")
print(f"| B | {b[0]:.0f} | {b[1]:.0f} µs |")
print(f"| B / A | {b[0] / a[0]:.2f} | {b[1] / a[1]:.2f} |")
PY
