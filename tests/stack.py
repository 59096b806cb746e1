"""A whole Haven for the cross-service tests: real RabbitMQ (a vhost of its own, so a running
`make run` is not disturbed), fresh PostgreSQL databases, moto's S3 server over HTTP and an
aiosmtpd server, with every service and the gateway in its own process.

`Stack(instances=2)` runs two processes of every service and two gateways (each on its own port,
`base_urls`) on the one vhost and the same databases; the first instance of each keeps the plain
name (`"alerts"`, `"gateway"`), the others are `"alerts-2"`, `"gateway-2"`…"""
from __future__ import annotations

import asyncio
import base64
import os
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
import uuid

from aiosmtpd.controller import Controller

from deploy import rabbitmq
from services.common import keys
from services.common.testing import PG_HOST, PG_PORT, PG_USER, create_database, drop_database

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SERVICES = ("incidents", "alerts", "documents", "transfers")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rabbitmqctl(*args) -> None:
    subprocess.run(["rabbitmqctl", "-q", *args], check=True, stdout=subprocess.DEVNULL, timeout=60)


class MailCatcher:
    """An aiosmtpd server keeping every message in memory.

    `received_at[i]` is when `messages[i]` arrived (time.time(), on DATA). `hold()` makes the server
    keep each message it is given but not answer the DATA command until `release()`: the sender is
    then stuck between the server having the message and learning so. `refuse()` closes the port
    (connections are refused) and `accept()` opens it again on the same port; the messages stay."""

    def __init__(self):
        self.port = free_port()  # Controller(port=0) would not report the real port
        self.messages: list[tuple[list[str], str]] = []
        self.received_at: list[float] = []
        self._lock = threading.Lock()
        self._held = False
        self.holding = 0  # DATA commands waiting for release()
        self.controller = Controller(self, hostname="127.0.0.1", port=self.port)

    async def handle_DATA(self, server, session, envelope):
        with self._lock:
            self.messages.append((list(envelope.rcpt_tos), envelope.content.decode("utf-8", "replace")))
            self.received_at.append(time.time())
            held = self._held
            self.holding += held
        if held:
            try:
                while self._held:
                    await asyncio.sleep(0.02)
            finally:
                with self._lock:
                    self.holding -= 1
        return "250 OK"

    def to(self, address: str) -> list[str]:
        with self._lock:
            return [body for rcpts, body in self.messages if address in rcpts]

    def snapshot(self) -> list[tuple[list[str], str, float]]:
        """Every message so far with when it arrived: (recipients, message, received at)."""
        with self._lock:
            return [(rcpts, body, at) for (rcpts, body), at in zip(self.messages, self.received_at)]

    def wait_for(self, predicate, timeout: float = 30.0):
        deadline = time.time() + timeout
        while time.time() < deadline:
            with self._lock:
                found = [m for m in self.messages if predicate(m)]
            if found:
                return found
            time.sleep(0.1)
        return []

    def hold(self) -> None:
        self._held = True

    def release(self) -> None:
        self._held = False

    def refuse(self) -> None:
        """Stop listening: senders get "connection refused" until accept()."""
        self.controller.stop()

    def accept(self) -> None:
        """Listen again on the same port (a stopped Controller cannot be started twice: a new one)."""
        self.controller = Controller(self, hostname="127.0.0.1", port=self.port)
        self.controller.start()

    def refusing(self) -> bool:
        """True when a connection to our port is refused."""
        with socket.socket() as s:
            s.settimeout(5)
            return s.connect_ex(("127.0.0.1", self.port)) != 0


class Stack:
    def __init__(self, instances: int = 1, env: dict[str, str] | None = None, metrics: bool = False):
        """`env`: settings of every process on top of the test stack's (e.g. for a benchmark). `metrics`:
        each process serves /metrics on a port of its own (`metrics_urls[name]`)."""
        self.instances = instances
        self.metrics_urls: dict[str, str] | None = {} if metrics else None
        self.extra_env = dict(env or {})
        self.tmp = tempfile.mkdtemp(prefix="haven-test-")
        self.vhost = f"haven-test-{uuid.uuid4().hex[:8]}"
        # An administrator's account (guest), for the tests' own inspection and fault injection; each
        # process connects as its own least-privileged user instead (`amqp_uris`, deploy/rabbitmq.py).
        self.amqp_uri = f"amqp://guest:guest@127.0.0.1:5672/{self.vhost}"
        self.broker_passwords = rabbitmq.new_passwords()  # random, for this run only
        self.broker_prefix = f"{self.vhost}-"  # users are broker-wide: one set per stack
        self.amqp_uris = rabbitmq.process_uris(self.amqp_uri, self.broker_passwords, self.broker_prefix)
        self.ports = [free_port() for _ in range(instances)]
        self.port = self.ports[0]
        self.base_urls = [f"http://127.0.0.1:{port}" for port in self.ports]
        self.base_url = self.base_urls[0]
        self.databases: dict[str, str] = {}
        self.procs: dict[str, subprocess.Popen] = {}
        self.mail = MailCatcher()
        self.s3 = None

    # --- lifecycle ----------------------------------------------------------------------------
    def start(self) -> "Stack":
        rabbitmqctl("add_vhost", self.vhost)
        rabbitmqctl("set_permissions", "-p", self.vhost, "guest", ".*", ".*", ".*")
        # Every process's user and the topology, before any process starts (services/common/topology.py).
        rabbitmq.apply_with_rabbitmqctl(rabbitmq.definitions(self.vhost, self.broker_passwords, self.broker_prefix,
                                                             self.extra_env.get("HAVEN_QUEUE_TYPE")))
        for name in (*SERVICES, "gateway"):
            self.databases[name] = create_database(f"haven_test_{name}")
        from moto.server import ThreadedMotoServer
        self.s3 = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        self.s3.start()
        s3_host, s3_port = self.s3.get_host_and_port()
        self.mail.controller.start()
        self.keys: dict[str, str] = {}
        keys.ensure(self.keys)
        self.env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("HAVEN_")},
            "HAVEN_ENV": "test",
            "HAVEN_CHECK_RESULTS": "true",  # every RPC answer checked against its contract
            "HAVEN_AMQP_URI": self.amqp_uri,
            **self.keys,  # every process's signing key and HAVEN_PUBLIC_KEYS; each process sees only its own
            "HAVEN_MASTER_KEY": base64.b64encode(secrets.token_bytes(32)).decode(),
            "HAVEN_SECRETS_KEY": base64.b64encode(secrets.token_bytes(32)).decode(),
            "HAVEN_PORT": str(self.port),
            "HAVEN_PUBLIC_URL": self.base_url,
            "HAVEN_COOKIE_SECURE": "false",
            "HAVEN_SMTP_HOST": "127.0.0.1",
            "HAVEN_SMTP_PORT": str(self.mail.port),
            "HAVEN_SMTP_SECURITY": "none",  # the mail catcher speaks plain SMTP
            "HAVEN_VAULT_BACKEND": "s3",
            "HAVEN_S3_ENDPOINT_URL": f"http://{s3_host}:{s3_port}",
            "HAVEN_S3_BUCKET": "haven-test-documents",
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_DEFAULT_REGION": "eu-west-2",
            "PYTHONUNBUFFERED": "1",
            **{f"HAVEN_{name.upper()}_DATABASE_URL": url for name, url in self.databases.items()},
            **self.extra_env,
        }
        for owner in ("incidents", "gateway"):
            subprocess.run([sys.executable, "-m", f"services.{owner}.seed"], cwd=ROOT,
                           env=self.process_env(owner), check=True, stdout=subprocess.DEVNULL)
        for name in (*SERVICES, "gateway"):
            for instance in self.instance_names(name):
                self.start_process(instance)
        self.wait_healthy()
        return self

    def signing_key(self, owner: str):
        """A process's own private key (what the gateway, or a publisher, signs with)."""
        return keys.SigningKey.parse(self.keys[keys.signing_variable(owner)])

    def actor_context(self, actor, method: str, kwargs: dict, ttl: float = 30, key=None) -> str:
        """An actor context for one call, as the gateway would sign it (or with `key`, as a process that
        is not the gateway might try)."""
        from services.common.actor import sign
        return sign(actor, key or self.signing_key("gateway"), method, kwargs, ttl)

    def process_env(self, owner: str) -> dict[str, str]:
        """The environment one process of `owner` runs with: its own signing key and broker user only."""
        return {**keys.for_process(self.env, owner), "HAVEN_AMQP_URI": self.amqp_uris[owner]}

    def broker_user(self, owner: str) -> str:
        return rabbitmq.user_name(owner, self.broker_prefix)

    def instance_names(self, name: str) -> list[str]:
        """"alerts" → ["alerts", "alerts-2", …], one per instance."""
        return [name] + [f"{name}-{n}" for n in range(2, self.instances + 1)]

    def stop(self) -> None:
        for name in list(self.procs):
            self.stop_process(name)
        self.mail.controller.stop()
        if self.s3:
            self.s3.stop()
        for url in self.databases.values():
            try:
                drop_database(url)
            except Exception:
                pass
        try:
            rabbitmqctl("delete_vhost", self.vhost)
        except Exception:
            pass
        rabbitmq.delete_users([self.broker_user(owner) for owner in rabbitmq.OWNERS])

    def start_process(self, name: str) -> None:
        """`name` is a service ("alerts", "gateway") or one of its instances ("alerts-2")."""
        service, _, number = name.partition("-")
        env = self.process_env(service)
        if service == "gateway" and number:
            env["HAVEN_PORT"] = str(self.ports[int(number) - 1])
        if self.metrics_urls is not None:
            port = free_port()
            env["HAVEN_METRICS_ADDRESS"] = f"127.0.0.1:{port}"
            self.metrics_urls[name] = f"http://127.0.0.1:{port}/metrics"
        log = open(os.path.join(self.tmp, f"{name}.log"), "ab")
        self.procs[name] = subprocess.Popen([sys.executable, "-m", f"services.{service}"], cwd=ROOT, env=env,
                                            stdout=log, stderr=subprocess.STDOUT)

    def stop_process(self, name: str) -> None:
        proc = self.procs.pop(name, None)
        if proc and proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()

    def kill_process(self, name: str) -> int:
        """SIGKILL, as a crash or the OOM killer would: no clean-up, no goodbye to the broker or the
        database. Returns the exit status (-9)."""
        proc = self.procs.pop(name)
        proc.send_signal(signal.SIGKILL)
        return proc.wait(20)

    def alive(self, name: str) -> bool:
        proc = self.procs.get(name)
        return proc is not None and proc.poll() is None

    def log(self, name: str) -> str:
        try:
            with open(os.path.join(self.tmp, f"{name}.log"), errors="replace") as f:
                return f.read()
        except FileNotFoundError:
            return ""

    def wait_healthy(self, timeout: float = 90.0) -> None:
        """Until every gateway answers that every service is up (and, with several instances, every
        instance of each service consumes its RPC queue)."""
        deadline = time.time() + timeout
        last = None
        waiting = list(self.base_urls)
        while time.time() < deadline:
            for name, proc in self.procs.items():
                if proc.poll() is not None:
                    raise RuntimeError(f"{name} exited with {proc.returncode}:\n{self.log(name)[-3000:]}")
            try:
                if waiting:
                    with urllib.request.urlopen(waiting[0] + "/api/v1/health", timeout=5) as r:
                        if r.status == 200:
                            waiting.pop(0)
            except OSError as exc:
                last = exc
            if not waiting and (self.instances == 1 or self._every_instance_consumes()):
                return
            time.sleep(0.5)
        logs = "\n".join(f"--- {n}\n{self.log(n)[-2000:]}" for n in self.procs)
        raise RuntimeError(f"Haven did not become healthy ({last}):\n{logs}")

    def _every_instance_consumes(self) -> bool:
        out = subprocess.run(["rabbitmqctl", "-q", "list_queues", "-p", self.vhost, "name", "consumers"],
                             check=True, capture_output=True, text=True, timeout=60).stdout
        consumers = {}
        for line in out.splitlines():
            parts = line.split()
            if len(parts) == 2 and parts[1].isdigit():
                consumers[parts[0]] = int(parts[1])
        return all(consumers.get(f"rpc-{name}", 0) >= self.instances for name in SERVICES)

    def wait_service(self, name: str, timeout: float = 60.0) -> None:
        """Until the named service answers its health call through the gateway."""
        import json
        deadline = time.time() + timeout
        while time.time() < deadline:
            try:
                with urllib.request.urlopen(self.base_url + "/api/v1/health", timeout=5) as r:
                    body = json.loads(r.read())
            except urllib.error.HTTPError as e:
                body = json.loads(e.read())
            except OSError:
                body = {}
            if body.get("services", {}).get(name) == "ok":
                return
            time.sleep(0.3)
        raise RuntimeError(f"{name} did not come back:\n{self.log(name)[-3000:]}")

    # --- faults -------------------------------------------------------------------------------
    def broker_connections(self, name: str) -> list[str]:
        """The RabbitMQ connections (their broker-side pids) the process `name` holds on our vhost, found
        by the local ports of its TCP sockets (the broker sees them as the connections' peer ports)."""
        ports = _local_ports(self.procs[name].pid, remote_port=5672)
        out = subprocess.run(["rabbitmqctl", "-q", "list_connections", "-p", self.vhost, "peer_port", "pid"],
                             check=True, capture_output=True, text=True, timeout=60).stdout
        pids = []
        for line in out.splitlines():
            port, _, pid = line.partition("\t")
            if port.strip().isdigit() and int(port) in ports:
                pids.append(pid.strip())
        return pids

    def close_broker_connections(self, name: str) -> list[str]:
        """Close, from the broker's side, every RabbitMQ connection of the process `name` (as a
        broker restart, a failover or an operator would); returns those it closed (one the process
        closed itself in the meantime is not counted)."""
        closed = []
        for pid in self.broker_connections(name):
            done = subprocess.run(["rabbitmqctl", "-q", "close_connection", pid, "closed by a fault test"],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=60)
            if done.returncode == 0:
                closed.append(pid)
        return closed

    def drop_database_connections(self, service: str) -> int:
        """PostgreSQL terminates every connection to the service's database (as a restart or a
        failover would); returns how many it ended."""
        import pg8000.native
        conn = pg8000.native.Connection(PG_USER, host=PG_HOST, port=PG_PORT, database="postgres")
        try:
            rows = conn.run("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                            "WHERE datname = :db AND pid <> pg_backend_pid()",
                            db=self.databases[service].rsplit("/", 1)[-1])
        finally:
            conn.close()
        return sum(1 for (ended,) in rows if ended)


def _local_ports(pid: int, remote_port: int) -> set[int]:
    """Local ports of the process's TCP sockets connected to `remote_port` (from /proc)."""
    inodes = set()
    fd_dir = f"/proc/{pid}/fd"
    for fd in os.listdir(fd_dir):
        try:
            target = os.readlink(os.path.join(fd_dir, fd))
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    ports = set()
    for table in ("tcp", "tcp6"):
        try:
            with open(f"/proc/{pid}/net/{table}") as f:
                next(f)
                for line in f:
                    fields = line.split()
                    local, remote, inode = fields[1], fields[2], fields[9]
                    if inode in inodes and int(remote.rsplit(":", 1)[1], 16) == remote_port:
                        ports.add(int(local.rsplit(":", 1)[1], 16))
        except FileNotFoundError:
            continue
    return ports
