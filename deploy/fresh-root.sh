#!/usr/bin/env bash
# Checks that each of the two set-up commands works on a really fresh Debian machine. For `make run`, then
# for `make test` (alone, as CI runs it), it builds a minimal bookworm root with mmdebstrap (Python, make and
# nothing of Haven's: no RabbitMQ, no PostgreSQL, no chromium), copies this working tree into it and runs
# the command there (`make run` until it says where to sign in), in a network namespace of its own so that
# this machine's RabbitMQ and PostgreSQL are out of its sight; its way out to the package registries is
# slirp4netns. Removes each root afterwards (KEEP_ROOT=1 keeps them).
#
#   sudo bash deploy/fresh-root.sh [pytest arguments…]    (default: tests/test_end_to_end.py -x)
set -euo pipefail
[ "$(id -u)" -eq 0 ] || { echo "fresh-root.sh: run it as root (it builds a root file system)." >&2; exit 1; }
repo=$(cd "$(dirname "$0")/.." && pwd)
pytest_args="${*:-tests/test_end_to_end.py -x}"
log() { echo "[fresh-root] $*"; }

missing=()
for tool in mmdebstrap slirp4netns; do command -v "$tool" >/dev/null || missing+=("$tool"); done
if [ ${#missing[@]} -gt 0 ]; then
  log "installing ${missing[*]} (to build the root and to give it a network of its own)"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi

root=""
remove_root() { if [ "${KEEP_ROOT:-}" = 1 ]; then log "kept $root"; else rm -rf "$root"; fi; }
trap '[ -z "$root" ] || remove_root' EXIT

build_root() {
  root=$(mktemp -d "${TMPDIR:-/var/tmp}/haven-fresh-root.XXXXXX")
  log "building a minimal Debian bookworm in $root"
  mmdebstrap --quiet --variant=minbase --include=python3,python3-venv,make,ca-certificates bookworm "$root"
  log "copying the working tree (without .venv, var and .git) to /haven"
  mkdir "$root/haven"
  tar -C "$repo" --exclude=./.venv --exclude=./var --exclude=./.git --exclude=./.env --exclude=__pycache__ \
      --exclude=.pytest_cache --exclude=.ruff_cache -cf - . | tar -C "$root/haven" -xf -
  # What a Debian installer leaves and a bare root lacks: the machine's own name resolves.
  printf '127.0.0.1\tlocalhost\n127.0.1.1\t%s\n' "$(hostname)" >"$root/etc/hosts"
  # This machine's way to the package registries, as it is configured here: extra CA certificates (a
  # proxy that inspects TLS signs with its own), apt's proxy and pip's configuration.
  if compgen -G "/usr/local/share/ca-certificates/*" >/dev/null; then
    cp -r /usr/local/share/ca-certificates/. "$root/usr/local/share/ca-certificates/"
    chroot "$root" update-ca-certificates >/dev/null 2>&1
  fi
  apt-config dump | grep -i '::proxy' | sed 's/$/;/' >"$root/etc/apt/apt.conf.d/90proxy-of-the-host" || true
  if [ -d /etc/xdg/pip ]; then mkdir -p "$root/etc/xdg" && cp -r /etc/xdg/pip "$root/etc/xdg/"; fi
  python3 - "$root" "$HOME" <<'PY'
"""pip's configuration files, less the settings that name a place on this machine's disk (a local wheel
cache, say) that the root does not have: a fresh machine has no such place."""
import configparser, os, sys
root, home = sys.argv[1:]

def kept(value: str) -> str:
    """The words of a setting, less the paths and file: URLs the root does not have."""
    def here(word):
        path = word.removeprefix("file://")
        return not path.startswith("/") or os.path.exists(root + path)
    return " ".join(word for word in value.split() if here(word))

for name in ("/etc/pip.conf", "/etc/xdg/pip/pip.conf", f"{home}/.config/pip/pip.conf", f"{home}/.pip/pip.conf"):
    if os.path.exists(name):
        config = configparser.RawConfigParser()
        config.read(name)
        for section in config.sections():
            for key, value in config.items(section):
                if kept(value):
                    config.set(section, key, kept(value))
                else:
                    config.remove_option(section, key)
        copy = root + ("/root" + name[len(home):] if name.startswith(home + "/") else name)
        os.makedirs(os.path.dirname(copy), exist_ok=True)
        with open(copy, "w") as f:
            config.write(f)
PY
}

# The proxy variables, and pip's (PIP_*) less those naming a path the root does not have.
passed_env() {
  local var value
  while IFS= read -r var; do
    value="${var#*=}"
    case "$value" in /*|file://*) [ -e "$root${value#file://}" ] || continue ;; esac
    echo "$var"
  done < <(env | grep -E '^(PIP_[A-Z_]*|https?_proxy|HTTPS?_PROXY|no_proxy|NO_PROXY)=' || true)
}

# Inside: wait for the network, then the one command. `make run` is stopped (SIGINT to its process group, as
# Ctrl-C) once it says where to sign in; what is left running (RabbitMQ, PostgreSQL) ends with the PID namespace.
inner='
for _ in $(seq 300); do grep -q tap0 /proc/net/dev && break; sleep 0.1; done
grep -q tap0 /proc/net/dev || { echo "[fresh-root] no network: slirp4netns did not give one"; exit 1; }
cd /haven
if [ "$1" = run ]; then
  echo "[fresh-root] make run (stopped once it says where to sign in)"
  setsid make run >/run.log 2>&1 &
  run=$!
  for _ in $(seq 900); do
    grep -qE "Haven is running|did not become healthy" /run.log && break
    kill -0 $run 2>/dev/null || break
    sleep 2
  done
  kill -INT -- "-$run" 2>/dev/null; wait $run
  cat /run.log
  grep -q "Haven is running" /run.log
else
  echo "[fresh-root] make test PYTEST_ARGS=\"$2\""
  make test PYTEST_ARGS="$2"
fi'

status=0
for command in run test; do
  build_root
  mapfile -t passed < <(passed_env)
  log "entering it for \`make $command\`: unshare (network, pids, mounts) + chroot, slirp4netns for the way out"
  # Its own /proc, /dev/shm (PostgreSQL's shared memory) and /dev/pts (apt's log).
  unshare --net --pid --fork --mount --mount-proc="$root/proc" \
    bash -c 'mount -t tmpfs -o mode=1777 shm "$1/dev/shm" &&
             mount -t devpts -o newinstance,ptmxmode=0666 devpts "$1/dev/pts" &&
             exec chroot "$1" env -i HOME=/root TERM=dumb PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
               "${@:5}" bash -c "$2" inner "$3" "$4"' \
    _ "$root" "$inner" "$command" "$pytest_args" "${passed[@]}" &
  inside=$!
  # slirp4netns configures the namespace of the process it is given: never this machine's own.
  for _ in $(seq 100); do [ "$(readlink "/proc/$inside/ns/net")" = "$(readlink /proc/self/ns/net)" ] || break; sleep 0.1; done
  slirp=""
  if [ "$(readlink "/proc/$inside/ns/net")" != "$(readlink /proc/self/ns/net)" ]; then
    slirp4netns --configure --mtu=65520 --disable-host-loopback "$inside" tap0 >/dev/null 2>&1 &
    slirp=$!
  fi
  rc=0; wait "$inside" || rc=$?
  [ -z "$slirp" ] || kill "$slirp" 2>/dev/null || true
  log "\`make $command\` in a fresh root: exit status $rc"
  [ "$rc" -eq 0 ] || status=$rc
  remove_root; root=""
done
exit "$status"
