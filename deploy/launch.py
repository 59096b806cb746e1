"""`make run`: the whole of Haven on one machine, on its embedded defaults, with the demo school.

Generates development secrets into var/secrets.env on first run (never in the repo), checks that
RabbitMQ answers, gives each process its own broker user and declares the topology (deploy/rabbitmq.py),
seeds the demo school once, starts the mail sink, every service and the gateway, restarts a service
that crashes, and prints where to sign in. Ctrl-C stops everything.
"""
from __future__ import annotations

import base64
import os
import secrets
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from urllib.parse import urlparse

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)  # run as a script: `python deploy/launch.py`
from deploy import rabbitmq  # noqa: E402
from services.common import keys, topology  # noqa: E402

VAR = os.path.join(ROOT, "var")
SECRETS = os.path.join(VAR, "secrets.env")
PY = sys.executable
SERVICES = ["incidents", "alerts", "documents", "transfers"]


def log(msg: str) -> None:
    print(f"[haven] {msg}", flush=True)


DEV_SECRETS = {
    "HAVEN_MASTER_KEY": lambda: base64.b64encode(secrets.token_bytes(32)).decode(),
    # The gateway's own key for second-factor secrets and saved forms at rest (not the vault's key).
    "HAVEN_SECRETS_KEY": lambda: base64.b64encode(secrets.token_bytes(32)).decode(),
    # Each process's own broker user (deploy/rabbitmq.py): GATEWAY_BROKER_PASSWORD, …
    **{rabbitmq.password_variable(owner): lambda: secrets.token_urlsafe(32) for owner in rabbitmq.OWNERS},
}


def load_or_create_secrets() -> dict:
    """var/secrets.env, with any secret a newer Haven needs added to an older file."""
    # var/ holds the secrets, the databases, the vault and the mail: this user's only.
    os.makedirs(VAR, mode=0o700, exist_ok=True)
    os.chmod(VAR, 0o700)
    present = set()
    if os.path.exists(SECRETS):
        with open(SECRETS) as f:
            present = {line.split("=", 1)[0] for line in f if "=" in line}
    missing = [name for name in DEV_SECRETS if name not in present]
    if missing:
        with open(os.open(SECRETS, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600), "a") as f:
            for name in missing:
                f.write(f"{name}={DEV_SECRETS[name]()}\n")
        log(f"generated development secrets in var/secrets.env ({', '.join(missing)})")
    values = keys.read_env(SECRETS)
    values.pop("HAVEN_ACTOR_KEY", None)  # before per-process Ed25519 keys: no longer read
    added = keys.ensure(values)  # each process's signing key (services/common/keys.py)
    if added:
        keys.write_env(SECRETS, values)
        log(f"generated signing keys in var/secrets.env ({', '.join(added)})")
    return values


def environment() -> dict:
    env = dict(os.environ)
    env.setdefault("HAVEN_ENV", "development")  # the settings' own default is production
    env.setdefault("HAVEN_COOKIE_SECURE", "false")
    port = env.setdefault("HAVEN_PORT", "8000")
    env.setdefault("HAVEN_PUBLIC_URL", f"http://localhost:{port}")
    env.setdefault("HAVEN_SMTP_HOST", "127.0.0.1")
    env.setdefault("HAVEN_SMTP_PORT", str(free_port() if "HAVEN_SMTP_PORT" not in env else env["HAVEN_SMTP_PORT"]))
    env.setdefault("HAVEN_SMTP_SECURITY", "none")  # the mail sink started below speaks plain SMTP on this host
    env.setdefault("HAVEN_LOG_FORMAT", "text")  # read by eye here; JSON (the default) wherever logs are collected
    for key, value in load_or_create_secrets().items():
        env.setdefault(key, value)
    env["PYTHONUNBUFFERED"] = "1"
    return env


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def check_broker(uri: str) -> None:
    u = urlparse(uri)
    port = u.port or (5671 if u.scheme == "amqps" else 5672)
    try:
        socket.create_connection((u.hostname or "127.0.0.1", port), timeout=3).close()
    except OSError:
        sys.exit(f"RabbitMQ is not reachable at {u.hostname}:{port}.\n"
                 "On Debian `make run` installs and starts it (deploy/system-deps.sh); elsewhere start it "
                 "yourself, or set HAVEN_AMQP_URI to one that runs, then run `make run` again.")


class Supervisor:
    """Runs each process, prefixes its output, restarts it if it dies, stops all on exit."""

    def __init__(self, env: dict, amqp_uris: dict[str, str] | None = None, metrics: dict[str, str] | None = None):
        self.env, self.procs, self.stopping = env, {}, False
        self.amqp_uris = amqp_uris or {}
        self.metrics = metrics or {}
        self.restarts: dict[str, int] = {}

    def start(self, name: str, args: list[str]) -> None:
        env = process_env(self.env, name, self.amqp_uris, self.metrics)
        proc = subprocess.Popen(args, cwd=ROOT, env=env, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True, start_new_session=True)
        self.procs[name] = (proc, args)
        threading.Thread(target=self._pump, args=(name, proc), daemon=True).start()

    def _pump(self, name, proc) -> None:
        for line in proc.stdout:
            print(f"{name:>10} | {line}", end="", flush=True)

    def watch(self) -> None:
        due: dict[str, float] = {}  # name → when to restart it
        while not self.stopping:
            time.sleep(0.5)
            for name, (proc, args) in list(self.procs.items()):
                if proc.poll() is None or self.stopping:
                    continue
                if name not in due:
                    n = self.restarts[name] = self.restarts.get(name, 0) + 1
                    delay = min(2 ** n, 30)
                    due[name] = time.time() + delay
                    log(f"{name} exited with {proc.returncode}; restarting it in {delay} s")
                elif time.time() >= due[name]:
                    del due[name]
                    self.start(name, args)

    def stop(self, *_):
        self.stopping = True
        for proc, _args in self.procs.values():
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        deadline = time.time() + 15
        for proc, _args in self.procs.values():
            try:
                proc.wait(max(0.1, deadline - time.time()))
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)


def wait_healthy(port: str, timeout: float = 120) -> bool:
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/v1/health", timeout=5) as r:
                if r.status == 200:
                    return True
        except OSError:
            pass
        time.sleep(1)
    return False


# Where each process serves /metrics (services/common/metrics.py), on this machine only: the usual ports when
# they are free, another free one when not (a second Haven, another exporter).
METRICS_PORTS = {"gateway": 9464, "incidents": 9465, "alerts": 9466, "documents": 9467, "transfers": 9468}


def metrics_addresses() -> dict[str, str]:
    addresses = {}
    for owner, port in METRICS_PORTS.items():
        with socket.socket() as s:
            taken = s.connect_ex(("127.0.0.1", port)) == 0
        addresses[owner] = f"127.0.0.1:{free_port() if taken else port}"
    return addresses


def process_env(env: dict, name: str, amqp_uris: dict[str, str], metrics: dict[str, str] | None = None) -> dict:
    """What one process sees: its own signing key and broker user, and no other's (nor any broker password)."""
    owner = name if name in keys.OWNERS else None
    env = {k: v for k, v in keys.for_process(env, owner).items()
           if k not in {rabbitmq.password_variable(o) for o in rabbitmq.OWNERS}}
    if owner in amqp_uris:
        env["HAVEN_AMQP_URI"] = amqp_uris[owner]
    if metrics and owner in metrics:
        env["HAVEN_METRICS_ADDRESS"] = metrics[owner]
    return env


def broker_users(env: dict) -> dict[str, str]:
    """Each process's user, its permissions and the topology, applied with rabbitmqctl before anything starts
    (deploy/rabbitmq.py); each process's HAVEN_AMQP_URI. Where rabbitmqctl cannot be used (another user's
    broker), every process keeps HAVEN_AMQP_URI's account, said so loudly."""
    admin_uri = env.get("HAVEN_AMQP_URI", "amqp://guest:guest@127.0.0.1:5672/")
    passwords = {owner: env[rabbitmq.password_variable(owner)] for owner in rabbitmq.OWNERS}
    try:
        rabbitmq.apply_with_rabbitmqctl(rabbitmq.definitions(rabbitmq.vhost_of(admin_uri), passwords,
                                                             queue_type=env.get("HAVEN_QUEUE_TYPE")))
    except (OSError, RuntimeError, subprocess.TimeoutExpired) as exc:
        log(f"WARNING: could not create the per-process broker users ({exc}); every process connects with "
            "HAVEN_AMQP_URI's own account. Run `python -m deploy.rabbitmq apply` as the broker's administrator.")
        topology.declare(admin_uri, None, env.get("HAVEN_QUEUE_TYPE"))
        return {}
    log("broker users applied: each process connects as its own haven-<process> user")
    return rabbitmq.process_uris(admin_uri, passwords)


def main() -> None:
    os.chdir(ROOT)
    env = environment()
    check_broker(env.get("HAVEN_AMQP_URI", "amqp://guest:guest@127.0.0.1:5672/"))
    amqp_uris = broker_users(env)
    for owner in ("incidents", "gateway"):
        subprocess.run([PY, "-m", f"services.{owner}.seed"], cwd=ROOT, env=process_env(env, owner, amqp_uris),
                       check=True)
    metrics = metrics_addresses()
    sup = Supervisor(env, amqp_uris, metrics)
    signal.signal(signal.SIGTERM, lambda *_: (sup.stop(), sys.exit(0)))
    signal.signal(signal.SIGINT, lambda *_: (sup.stop(), sys.exit(0)))
    sup.start("mail", [PY, "-m", "deploy.devmail", "--port", env["HAVEN_SMTP_PORT"], "--dir", "var/mail"])
    for service in SERVICES:
        sup.start(service, [PY, "-m", f"services.{service}"])
    sup.start("gateway", [PY, "-m", "services.gateway"])
    port = env["HAVEN_PORT"]
    if wait_healthy(port):
        log("")
        log(f"Haven is running: http://localhost:{port}/")
        log("Demo logins (password haven-demo):")
        log("  dsl@demo.haven.test       DSL and administrator (TOTP secret HAVENDEMOHAVENDEMOHAVENDEMOHAVEN)")
        log("  slt@demo.haven.test       SLT          (same TOTP secret)")
        log("  senco@demo.haven.test     SENCO: reads and records SEN (same TOTP secret)")
        log("  admin@demo.haven.test     administrator only, reads no record (same TOTP secret)")
        log("  governor@demo.haven.test  governor")
        log("  teacher@demo.haven.test   teacher")
        log("Alert e-mails land in var/mail/*.eml. Ctrl-C stops Haven; `make reset` starts afresh.")
        log("Metrics (Prometheus): " + ", ".join(f"{owner} http://{address}/metrics"
                                                 for owner, address in metrics.items()))
    else:
        log("Haven did not become healthy within 120 s; see the service output above.")
    sup.watch()


if __name__ == "__main__":
    main()
