#!/usr/bin/env bash
# What Haven needs from the operating system (Debian), so that `make run` and `make test` work on a fresh
# machine: installs what is missing with apt-get and starts what is stopped, saying what and why first. On a
# machine that already has everything running it only checks.
#
#   system-deps.sh run          RabbitMQ on 127.0.0.1:5672 (unless HAVEN_AMQP_URI names another broker)
#   system-deps.sh test [CMD…]  RabbitMQ, PostgreSQL, chromium, fonts and WeasyPrint's libraries (Pango,
#                               HarfBuzz); then CMD, with HAVEN_TEST_PG_PORT naming a PostgreSQL on
#                               127.0.0.1 that trusts user postgres
#
# The tests create and drop databases as user postgres without a password. Debian's own cluster asks for one
# over TCP, and we do not loosen a system service's authentication: where it refuses, CMD gets a throw-away
# cluster of its own (initdb -A trust in a temporary directory, on a free port), stopped and removed when
# CMD ends. Without systemd (a container, a chroot) the services are started directly.
set -euo pipefail
PATH="$PATH:/usr/sbin:/sbin"  # rabbitmq-server, rabbitmqctl, runuser: not on a non-root user's PATH
mode="${1:-test}"; shift || true

as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }
listening() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
wait_for_port() {  # port, what, where to look when it does not come
  for _ in $(seq 90); do listening "$1" && return; sleep 1; done
  echo "$2 did not start listening on 127.0.0.1:$1 within 90 s; see $3." >&2; exit 1
}

updated=""
apt_install() {  # why, packages…
  local why="$1"; shift
  echo "[system-deps] installing Debian packages ${*} ($why)"
  if [ -z "$updated" ]; then as_root apt-get update -qq; updated=1; fi
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

need_rabbitmq() {
  listening 5672 && return
  dpkg -s rabbitmq-server >/dev/null 2>&1 || apt_install "the message bus every Haven process talks over" rabbitmq-server
  listening 5672 && return  # started by its package, where systemd runs
  # The node is named rabbit@<hostname>; Erlang refuses to start one whose host it cannot resolve.
  getent hosts "$(hostname -s)" >/dev/null || {
    echo "RabbitMQ names its node after this machine (\"$(hostname -s)\"), which does not resolve; add it to" \
         "/etc/hosts (e.g. \"127.0.1.1 $(hostname -s)\") and run this again." >&2; exit 1; }
  echo "[system-deps] starting RabbitMQ (rabbitmq-server -detached)"
  as_root rabbitmq-server -detached
  wait_for_port 5672 RabbitMQ "/var/log/rabbitmq/ (and /var/lib/rabbitmq/erl_crash.dump, if it crashed)"
}

trusts() {  # port: does PostgreSQL there let user postgres in from 127.0.0.1 without a password?
  command -v psql >/dev/null && PGPASSFILE=/dev/null PGCONNECT_TIMEOUT=5 \
    psql -X -w -h 127.0.0.1 -p "$1" -U postgres -d postgres -Atqc 'select 1' >/dev/null 2>&1
}
pg_bin() { ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1; }

need_postgres() {  # sets pg_port: 5432, the one the caller chose, or "" for a throw-away cluster
  pg_port="${HAVEN_TEST_PG_PORT:-5432}"
  if [ -n "${HAVEN_TEST_PG_PORT:-}" ]; then  # the caller chose one: use it as it is
    trusts "$pg_port" || { echo "PostgreSQL on 127.0.0.1:$pg_port (HAVEN_TEST_PG_PORT) does not answer, or" \
                                "asks user postgres for a password; the tests need it to trust them." >&2; exit 1; }
    return
  fi
  if ! listening 5432 && [ -z "$(pg_bin)" ]; then
    apt_install "the database the tests keep their records in" postgresql
  fi
  local stopped
  stopped=$(pg_lsclusters -h 2>/dev/null | awk '$3 == 5432 && $4 != "online" {print $1, $2; exit}')
  if ! listening 5432 && [ -n "$stopped" ]; then
    echo "[system-deps] starting PostgreSQL (cluster $stopped, pg_ctlcluster)"
    # shellcheck disable=SC2086  # "version name"
    as_root pg_ctlcluster --skip-systemctl-redirect $stopped start
    wait_for_port 5432 PostgreSQL /var/log/postgresql
  fi
  trusts 5432 && return
  [ -n "$(pg_bin)" ] || apt_install "initdb and pg_ctl, for a throw-away cluster" postgresql
  pg_port=""  # a throw-away cluster, started by throwaway_postgres when there is a command to serve
}

# A throw-away cluster: initdb -A trust in a temporary directory, on a free port, until this script ends.
# PostgreSQL refuses to run as root: as root, it runs as the postgres user its package made.
pg_dir=""; pg_owner=(); [ "$(id -u)" -eq 0 ] && pg_owner=(runuser -u postgres --)
stop_throwaway_postgres() {
  [ -f "$pg_dir/data/postmaster.pid" ] && "${pg_owner[@]}" "$(pg_bin)/pg_ctl" -D "$pg_dir/data" -m fast -w stop >/dev/null
  rm -rf "$pg_dir"
}
throwaway_postgres() {
  pg_dir=$(mktemp -d "${TMPDIR:-/tmp}/haven-test-pg.XXXXXX")
  trap stop_throwaway_postgres EXIT
  trap 'exit 130' INT
  trap 'exit 143' TERM
  [ "$(id -u)" -eq 0 ] && chown postgres: "$pg_dir"
  pg_port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  local why="no PostgreSQL answers on 127.0.0.1:5432"
  listening 5432 && why="PostgreSQL on 127.0.0.1:5432 asks user postgres for a password"
  echo "[system-deps] $why: starting a throw-away cluster for the tests on 127.0.0.1:$pg_port" \
       "($pg_dir, removed when they end)"
  "${pg_owner[@]}" "$(pg_bin)/initdb" -D "$pg_dir/data" -A trust -U postgres -E UTF8 --locale=C.UTF-8 --no-sync \
    >"$pg_dir/initdb.log" 2>&1 || { cat "$pg_dir/initdb.log" >&2; exit 1; }
  "${pg_owner[@]}" "$(pg_bin)/pg_ctl" -D "$pg_dir/data" -l "$pg_dir/postgres.log" -w -t 60 -o "-p $pg_port \
    -k $pg_dir -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200" start >/dev/null \
    || { cat "$pg_dir/postgres.log" >&2; exit 1; }
}

case "$mode" in
  run)
    if [ -n "${HAVEN_AMQP_URI:-}" ]; then exit 0; fi  # another broker: deploy/launch.py checks it answers
    need_rabbitmq ;;
  test)
    need=()
    command -v chromium >/dev/null 2>&1 || need+=(chromium)  # the browser tests drive it
    dpkg -s fonts-dejavu-core >/dev/null 2>&1 || need+=(fonts-dejavu-core)  # a font for its pages and the PDFs
    for lib in libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz-subset0; do  # WeasyPrint lays out the report PDFs
      dpkg -s "$lib" >/dev/null 2>&1 || need+=("$lib")
    done
    [ ${#need[@]} -eq 0 ] || apt_install "a browser, a font and WeasyPrint's libraries, for the tests" "${need[@]}"
    need_rabbitmq
    need_postgres
    [ $# -gt 0 ] || {
      [ -n "$pg_port" ] || echo "[system-deps] the system PostgreSQL cannot serve the tests;" \
                                "\`make test\` runs a throw-away cluster of its own."
      exit 0; }
    [ -n "$pg_port" ] || throwaway_postgres
    # Debian keeps initdb, pg_ctl and postgres off PATH; tests that run a cluster of their own need them.
    bin=$(pg_bin)
    HAVEN_TEST_PG_PORT="$pg_port" PATH="${bin:+$bin:}$PATH" "$@" ;;
  *) echo "usage: system-deps.sh run | test [command…]" >&2; exit 2 ;;
esac
