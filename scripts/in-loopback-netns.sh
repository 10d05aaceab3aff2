#!/usr/bin/env bash
# Runs a command in a network namespace of its own that has only loopback, with a
# throwaway PostgreSQL beside it, and fails if anything in it tried to leave loopback.
#
# Why: every test talks to things it starts itself on this machine (the shipyard server,
# the embedded localcloud, PostgreSQL, Chromium). A test that dials anything else (a
# real cloud, a DNS name, a private address) would pass or fail by what the network
# around it does, and on a shared machine it sends traffic where it must not. Here such
# a packet cannot get anywhere, and the run fails even when the tests passed.
#
# What it sets up, inside `unshare --net --mount` (root only):
# - `lo`, up: 127.0.0.0/8 and ::1.
# - A leak detector: a veth pair sy0/sy1, both ends in the namespace. sy0 holds the last
#   address of 10.0.0.0/8, 172.16.0.0/12 and 192.168.0.0/16, the IPv4 default route, one
#   IPv6 address (fdff:...:fffe) and the IPv6 default route, so anything dialled outside
#   127.0.0.0/8 and ::1, private or public, goes out of sy0 as an ARP request or an IPv6
#   neighbour solicitation (nothing answers: the connection fails after ~3 s) and sy0's
#   tx_packets grows. Connecting a UDP socket sends nothing and is not counted.
#   Bringing the veth up sends nothing: sy1 has IPv6 off, sy0 makes no link-local address
#   and asks for no router; adding sy0's IPv6 address sends two MLD reports, which are
#   let out before the baseline is read. The counter is read from a sysfs mounted inside
#   the namespace (a sysfs shows the network devices of the namespace that mounted it).
# - PostgreSQL from the highest installed /usr/lib/postgresql/<ver>/bin: initdb into a
#   temporary directory (trust auth, superuser postgres, run as the postgres OS user since
#   PostgreSQL refuses root), listening on 127.0.0.1:5432 (the namespace has its own
#   ports: the host's PostgreSQL is not touched) with its socket in that directory, and a
#   database `test`. It is stopped and its directory removed at the end, also on failure.
# - CARGO_NET_OFFLINE=true and SHIPYARD_TEST_PG_URL=postgres://postgres@127.0.0.1:5432/test.
#   Whatever needs the network (crates, npm, pip, apt) must be done before: `make test`
#   builds and installs everything first, then calls this.
#
# Usage: scripts/in-loopback-netns.sh COMMAND [ARG...]
#          exit status: the command's; 1 if it passed but something tried to leave.
#        scripts/in-loopback-netns.sh --check
#          exit 0 if this machine can do it; otherwise prints why not and exits 1.
set -euo pipefail

PG_PORT=5432
TEST_DB=test
PG_URL="postgres://postgres@127.0.0.1:$PG_PORT/$TEST_DB"

say() { echo "in-loopback-netns: $*"; }
die() { echo "in-loopback-netns: $*" >&2; exit 2; }

# Why this machine cannot run the namespace (nothing printed: it can).
why_not() {
  if [ "$(id -u)" != 0 ]; then echo "not root"; return; fi
  if ! command -v ip >/dev/null; then echo "no ip command (apt-get install iproute2)"; return; fi
  local err
  if ! err=$(unshare --net --mount true 2>&1); then
    echo "unshare --net fails here (${err:-no message})"
  fi
}

if [ "${1:-}" = --check ]; then
  why=$(why_not)
  [ -z "$why" ] || { echo "$why"; exit 1; }
  exit 0
fi
[ $# -gt 0 ] || die "usage: $0 COMMAND [ARG...]  |  $0 --check"

# ---- outside: enter a new network and mount namespace, running this script again there.
if [ -z "${_SHIPYARD_IN_NETNS:-}" ]; then
  why=$(why_not)
  [ -z "$why" ] || die "$why: cannot make a loopback-only network namespace"
  _SHIPYARD_IN_NETNS=1 exec unshare --net --mount -- "$BASH" "$0" "$@"
fi
unset _SHIPYARD_IN_NETNS

# ---- inside ------------------------------------------------------------------------------

initdb=$(ls /usr/lib/postgresql/*/bin/initdb 2>/dev/null | sort -V | tail -n1 || true)
[ -n "$initdb" ] \
  || die "no PostgreSQL server binaries (/usr/lib/postgresql/<ver>/bin/initdb): apt-get install postgresql (make test does it)"
pg_bin=$(dirname "$initdb")
id postgres >/dev/null 2>&1 || die "no postgres OS user to run PostgreSQL as"

tmp=$(mktemp -d -t shipyard-netns.XXXXXX)
sysfs="$tmp/sys"
pgdata="$tmp/pgdata"

as_postgres() { (cd "$tmp" && runuser -u postgres -- "$@"); }

stop_postgres() {
  if [ -f "$pgdata/postmaster.pid" ]; then
    as_postgres "$pg_bin/pg_ctl" -D "$pgdata" -m fast -w stop >/dev/null \
      || echo "in-loopback-netns: pg_ctl stop failed" >&2
  fi
}

cleanup() {
  set +e
  stop_postgres
  mountpoint -q "$sysfs" && umount "$sysfs"
  rm -rf --one-file-system "$tmp"
}
trap cleanup EXIT
trap 'exit 129' HUP
trap 'exit 130' INT
trap 'exit 143' TERM

# Network: loopback, and sy0 catching everything else.
ipv6_conf() { echo "$3" > "/proc/sys/net/ipv6/conf/$1/$2"; }
ip link set lo up
ipv6_conf default disable_ipv6 1
ip link add sy0 type veth peer name sy1
ipv6_conf sy1 disable_ipv6 1
ipv6_conf sy0 accept_ra 0
ipv6_conf sy0 addr_gen_mode 1                      # no link-local address
ipv6_conf sy0 mldv1_unsolicited_report_interval 1  # MLD reports out at once (ms)
ipv6_conf sy0 mldv2_unsolicited_report_interval 1
ipv6_conf sy0 disable_ipv6 0
ip addr add 10.255.255.254/8 dev sy0
ip addr add 172.31.255.254/12 dev sy0
ip addr add 192.168.255.254/16 dev sy0
ip link set sy1 up
ip link set sy0 up
ip -6 addr add fdff:ffff:ffff:ffff:ffff:ffff:ffff:fffe/128 dev sy0 nodad
ip route add default dev sy0
ip -6 route add default dev sy0

mkdir "$sysfs"
mount -t sysfs sysfs "$sysfs"
[ -r "$sysfs/class/net/sy0/statistics/tx_packets" ] || die "sy0 is not in the namespace's sysfs"
tx_packets() { cat "$sysfs/class/net/sy0/statistics/tx_packets"; }
# The baseline, once the MLD reports for sy0's IPv6 address are out: the counter has
# moved and then stood still for 0.3 s (at most 3 s).
tx_before=$(tx_packets)
still=0
for _ in $(seq 1 30); do
  sleep 0.1
  now=$(tx_packets)
  if [ "$now" = "$tx_before" ]; then still=$((still + 1)); else still=0; fi
  tx_before=$now
  [ "$now" = 0 ] || [ "$still" -lt 3 ] || break
done

# PostgreSQL, throwaway (fsync off: nothing here needs to survive a crash).
chown postgres: "$tmp"
if ! as_postgres "$pg_bin/initdb" -D "$pgdata" -U postgres --auth=trust -E UTF8 --locale=C.UTF-8 \
    --no-sync >"$tmp/initdb.log" 2>&1; then
  cat "$tmp/initdb.log" >&2
  die "initdb failed"
fi
if ! as_postgres "$pg_bin/pg_ctl" -D "$pgdata" -l "$tmp/postgres.log" -w -t 60 \
    -o "-c listen_addresses=127.0.0.1 -c port=$PG_PORT -c unix_socket_directories=$tmp -c fsync=off -c synchronous_commit=off -c full_page_writes=off" \
    start >/dev/null; then
  cat "$tmp/postgres.log" >&2
  die "PostgreSQL did not start"
fi
for _ in $(seq 1 60); do
  "$pg_bin/pg_isready" -q -h 127.0.0.1 -p "$PG_PORT" && break
  sleep 0.5
done
"$pg_bin/pg_isready" -q -h 127.0.0.1 -p "$PG_PORT" || { cat "$tmp/postgres.log" >&2; die "PostgreSQL is not ready"; }
"$pg_bin/createdb" -h 127.0.0.1 -p "$PG_PORT" -U postgres "$TEST_DB"
say "loopback only (leaks counted on sy0), PostgreSQL $(basename "$(dirname "$pg_bin")") at $PG_URL in $tmp"

# The command.
export CARGO_NET_OFFLINE=true
export SHIPYARD_TEST_PG_URL="$PG_URL"
status=0
"$@" || status=$?

stop_postgres
tx=$(( $(tx_packets) - tx_before ))
if [ "$tx" -gt 0 ]; then
  echo "loopback check FAILED: $tx packets tried to leave loopback (ARP requests and IPv6 neighbour solicitations count): something dialled outside 127.0.0.0/8 and ::1" >&2
  [ "$status" != 0 ] || status=1
else
  echo "loopback check: $tx packets left through sy0"
fi
exit "$status"
