#!/usr/bin/env bash
# Measures, side by side in one run on this machine:
#   - the signed-in clusters page vs. the same bytes served as a static file by the
#     same server (requests/s and p99 latency, wrk on loopback);
#   - the hydrate bundle size, raw and gzip -9;
#   - localcloud at zero latency: server create+delete rate, and TCP throughput through
#     a load balancer listener against a direct connection (localcloud/benches);
#   - the operations engine: step throughput against raw commits, and a cluster
#     create's makespan against the longest chain of its plan (provision/benches);
#   - kubesim with 200 nodes and 5,000 pods: list latency against the same bytes as a
#     static file, the time to bind 1,000 pending pods, the watch delay, and kubectl
#     get pods -A (kubesim/benches/api);
#   - the cloud controller: a LoadBalancer Service's time to EXTERNAL-IP against the
#     cloud's own time for the same load balancer, and the controllers' CPU with 50
#     quiet clusters (provision/benches/controllers).
# Writes the table to docs/BENCHMARKS.md. Run it with `make bench` (which builds the
# release binary and the site first).
set -euo pipefail
cd "$(dirname "$0")/.."

: "${CARGO_TARGET_DIR:=$HOME/.cache/shipyard/target}"
: "${SITE_DIR:=$CARGO_TARGET_DIR/site}"
BIN="$CARGO_TARGET_DIR/release/shipyard"
DURATION="${BENCH_DURATION:-10s}"
CONNECTIONS="${BENCH_CONNECTIONS:-16}"
[ -x "$BIN" ] || { echo "no release binary at $BIN: run 'make bench'" >&2; exit 1; }
command -v wrk >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null; }

WORK="$(mktemp -d)"
trap 'kill "$PID" 2>/dev/null || true; wait "$PID" 2>/dev/null || true; rm -rf "$WORK"' EXIT
cp -r "$SITE_DIR" "$WORK/site"
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
URL="http://127.0.0.1:$PORT"
EMAIL=bench@shipyard.local
PASSWORD="bench password 1234"
SHIPYARD_LISTEN="127.0.0.1:$PORT" SHIPYARD_LOCALCLOUD_LISTEN=127.0.0.1:0 SHIPYARD_DATA_DIR="$WORK/data" SHIPYARD_SITE_ROOT="$WORK/site" \
  SHIPYARD_ADMIN_EMAIL="$EMAIL" SHIPYARD_ADMIN_PASSWORD="$PASSWORD" RUST_LOG=warn \
  "$BIN" >"$WORK/server.log" 2>&1 &
PID=$!
for _ in $(seq 1 100); do curl -sf "$URL/healthz" >/dev/null && break; sleep 0.1; done

# Sign in like the browser does and keep the session cookie.
curl -sf -o /dev/null -c "$WORK/jar" -H 'accept: application/json' \
  --data-urlencode "email=$EMAIL" --data-urlencode "password=$PASSWORD" "$URL/api/sign_in"
COOKIE="$(awk '$6 == "shipyard_session" { print "shipyard_session=" $7 }' "$WORK/jar")"
[ -n "$COOKIE" ] || { echo "sign-in failed" >&2; cat "$WORK/server.log" >&2; exit 1; }
# 100 clusters in the project (50 machines each), then the page as a static file.
DB="$WORK/data/shipyard.db"
python3 bench/seed.py "$DB" "$EMAIL" 0 100 >/dev/null
# An answer can carry the page's resources more than once (the server may build a
# signed-in page up to three times: docs/DECISIONS.md); a few warm-up requests, then the
# page as the static copy (its size is in the table).
for _ in 1 2 3 4 5; do curl -sf -o /dev/null -H "cookie: $COOKIE" -H 'accept: text/html' "$URL/clusters"; done
curl -sf -H "cookie: $COOKIE" -H 'accept: text/html' "$URL/clusters" >"$WORK/site/clusters-static.html"
grep -q "cluster-0099" "$WORK/site/clusters-static.html" || { echo "not the signed-in page with the seeded clusters" >&2; exit 1; }
PAGE_BYTES=$(wc -c <"$WORK/site/clusters-static.html")

run_wrk() { # url [cookie] -> "req/s p99_ms"
  local out
  if [ -n "${2:-}" ]; then
    out=$(wrk -t2 -c"$CONNECTIONS" -d"$DURATION" --latency -H "cookie: $2" -H 'accept: text/html' "$1")
  else
    out=$(wrk -t2 -c"$CONNECTIONS" -d"$DURATION" --latency -H 'accept: text/html' "$1")
  fi
  local rps p99 non2xx
  rps=$(awk '/^Requests\/sec/ { print $2 }' <<<"$out")
  p99=$(awk '$1 == "99%" { v=$2; if (v ~ /us$/) { sub(/us$/,"",v); v=v/1000 } else if (v ~ /ms$/) { sub(/ms$/,"",v) } else if (v ~ /s$/) { sub(/s$/,"",v); v=v*1000 }; printf "%.2f", v }' <<<"$out")
  non2xx=$(awk '/Non-2xx/ { print $5 }' <<<"$out")
  [ -z "$non2xx" ] || { echo "wrk saw non-2xx answers for $1:" >&2; echo "$out" >&2; exit 1; }
  echo "$rps $p99"
}

# Warm up both, then measure page and static file back to back.
wrk -t1 -c4 -d2s -H "cookie: $COOKIE" "$URL/clusters" >/dev/null
wrk -t1 -c4 -d2s "$URL/clusters-static.html" >/dev/null
read -r PAGE_RPS PAGE_P99 < <(run_wrk "$URL/clusters" "$COOKIE")
read -r STATIC_RPS STATIC_P99 < <(run_wrk "$URL/clusters-static.html")
RATIO=$(python3 -c "print(f'{100*$PAGE_RPS/$STATIC_RPS:.1f}')")

# Navigation to interactive in Chromium, on the same page.
NAV_MD=$(node bench/nav.mjs "$URL" "${COOKIE#shipyard_session=}" /clusters "${BENCH_NAV_RUNS:-15}")

# 1,000 clusters and 50,000 machine rows: the first page, the last, a search, a filter.
read -r FLEET MACHINES < <(python3 bench/seed.py "$DB" "$EMAIL" 100 1000)
FLEET_ROWS=""
FLEET_OK=met
for q in "" "?page=50" "?q=cluster-0500" "?status=FAILED"; do
  curl -sf -H "cookie: $COOKIE" -H 'accept: text/html' "$URL/clusters$q" | grep -q "cluster-0" \
    || { echo "/clusters$q does not list clusters" >&2; exit 1; }
  read -r RPS P99 < <(run_wrk "$URL/clusters$q" "$COOKIE")
  python3 -c "import sys; sys.exit(0 if $P99 <= 200 else 1)" || FLEET_OK="**not met**"
  FLEET_ROWS+="| \`GET /clusters$q\` | $RPS | $P99 ms |"$'\n'
done

CSS="$SITE_DIR/pkg/shipyard.css"
CSS_GZ=$(gzip -9 -c "$CSS" | wc -c)
BUNDLE_OUT=$(python3 bench/bundle.py "$SITE_DIR/pkg")
BUNDLE_MD=$(sed '$d' <<<"$BUNDLE_OUT")
read -r WASM_GZ WORST_GZ PAGES_WITHIN PAGES < <(tail -n1 <<<"$BUNDLE_OUT")
kb() { python3 -c "print(f'{$1/1024:.1f}')"; }
verdict() { if python3 -c "import sys; sys.exit(0 if $1 else 1)"; then echo met; else echo "**not met**"; fi; }
PAGE_GOAL=$(verdict "$PAGE_RPS >= 0.25 * $STATIC_RPS")
WASM_GOAL=$(verdict "$WASM_GZ <= 300000")
PAGES_GOAL=$(verdict "$WORST_GZ <= 300000")

kill "$PID" 2>/dev/null || true
LOCALCLOUD_MD=$(cargo bench -q -p localcloud --bench localcloud)
ENGINE_MD=$(cargo bench -q -p provision --bench engine)
HASHING_MD=$(cargo bench -q -p provision --bench argon2)
KUBESIM_MD=$(cargo bench -q -p kubesim --bench api)
CONTROLLERS_MD=$(cargo bench -q -p provision --bench controllers)
FUZZ_TABLE=$(mktemp)
PATH="${VENV:-$HOME/.cache/shipyard/venv}/bin:$PATH" SHIPYARD_BIN="$BIN" \
  python3 scripts/api-fuzz.py --summary "$FUZZ_TABLE" >/dev/null 2>&1 || true
FUZZ_MD="## Schemathesis against the REST API

What \`make test\` runs (\`scripts/api-fuzz.py\`: schemathesis $(PATH="${VENV:-$HOME/.cache/shipyard/venv}/bin:$PATH" st --version 2>/dev/null | awk '{print $NF}'), every operation of
/api/v1/openapi.json, phases examples, coverage, fuzzing and stateful, at most 30
examples each, seed 2026; checks: no 5xx, status codes, content types and bodies as
documented):

$(cat "$FUZZ_TABLE")"
rm -f "$FUZZ_TABLE"

mkdir -p docs
cat >docs/BENCHMARKS.md <<MD
# Benchmarks

Measured by \`make bench\` (script: \`bench/run.sh\`) on $(date -u +%Y-%m-%d), on this project's
machine ($(nproc) cores, $(free -g | awk '/^Mem:/ { print $2 }') GiB; wrk and the server share the cores, so
only the ratios within one run mean much). Release build, SQLite, wrk on loopback with
$CONNECTIONS connections for $DURATION per row.

## Signed-in clusters page vs. the same bytes as a static file

| what | requests/s | p99 latency |
| --- | ---: | ---: |
| \`GET /clusters\` (signed in, 100 clusters in the project: session lookup, user, projects, first page of 20, SSR of $PAGE_BYTES bytes) | $PAGE_RPS | $PAGE_P99 ms |
| \`GET /clusters-static.html\` (same bytes, static file, same server) | $STATIC_RPS | $STATIC_P99 ms |
| **page / static** | **$RATIO %** | goal ≥ 25 %: $PAGE_GOAL |

## Hydrate bundle

Every page is a lazy route whose code is split out of the main WASM (\`make site\`:
\`frontend/split\` after cargo, then wasm-bindgen and wasm-opt); the main WASM holds the
runtime, the shell and the header, and the server preloads a page's chunks with the
page. gzip -9 per file, as each is fetched.

$BUNDLE_MD

The CSS is $(kb "$CSS_GZ") KiB gzip.

Goal: at most 300 KB (300,000 bytes) gzip -9. The main WASM, which every page loads, is
$WASM_GZ bytes: $WASM_GOAL. A page hydrates with its chunks too: $PAGES_WITHIN of $PAGES
pages are within 300 KB with them (the largest, $WORST_GZ bytes): $PAGES_GOAL.

## Navigation to interactive (headless Chromium, loopback)

Signed in, the clusters page with 100 clusters; "interactive" is when the WASM has
hydrated the page (script: \`bench/nav.mjs\`).

$NAV_MD

## The list with $FLEET clusters and $MACHINES machine rows

Clusters of one project, 50 machines each (one recorded create step per machine —
Shipyard keeps no machine table; the cloud's server list is the truth), one in 20
FAILED; seeded by \`bench/seed.py\`. wrk as above ($CONNECTIONS connections, so p99
includes queueing behind 15 other requests on 2 cores).

| page | requests/s | p99 latency |
| --- | ---: | ---: |
$FLEET_ROWS
Goal: p99 ≤ 200 ms on every page: $FLEET_OK.

$LOCALCLOUD_MD

Forwarding uses splice(2) (socket → pipe → socket in the kernel); the sender, the
listener and the member share the machine's cores, so the ratio understates the proxy.

$ENGINE_MD

$HASHING_MD

$FUZZ_MD

$KUBESIM_MD

$CONTROLLERS_MD

Reproduce: \`make bench\` (or \`BENCH_DURATION=30s make bench\` for longer runs).
MD
cat docs/BENCHMARKS.md
