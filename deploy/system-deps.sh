#!/usr/bin/env bash
# What `make test` needs from the operating system (Debian): installs what is missing, and starts
# the local RabbitMQ and PostgreSQL when they are installed but not running.
set -euo pipefail
need=()
command -v chromium >/dev/null 2>&1 || need+=(chromium)
for lib in fonts-dejavu-core; do
  dpkg -s "$lib" >/dev/null 2>&1 || need+=("$lib")
done
if [ ${#need[@]} -gt 0 ]; then
  echo "installing Debian packages: ${need[*]}"
  sudo_cmd=""; [ "$(id -u)" -ne 0 ] && sudo_cmd="sudo"
  $sudo_cmd apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

listening() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
if ! listening 5672 && command -v rabbitmq-server >/dev/null 2>&1; then
  echo "starting RabbitMQ"; rabbitmq-server -detached
  for _ in $(seq 60); do listening 5672 && break; sleep 1; done
fi
if ! listening 5432 && command -v pg_ctlcluster >/dev/null 2>&1; then
  echo "starting PostgreSQL"; pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -1)" main start
fi
listening 5672 || { echo "RabbitMQ is not reachable on 127.0.0.1:5672; the tests need it (see README)." >&2; exit 1; }
listening 5432 || { echo "PostgreSQL is not reachable on 127.0.0.1:5432; the tests need it (see README)." >&2; exit 1; }
