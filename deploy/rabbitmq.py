"""Each Haven process's own broker user, with least privilege (issue 9; DESIGN "The bus is a trust
boundary"). With one shared account, binding a queue to `nameko-rpc` with `incidents.*` copied every
live actor token, and `rpc.*` every reply.

Who may do what, computed from the contracts (a method, an event or a subscription added there is
granted here without another list):

- gateway: publishes RPC requests on `nameko-rpc` with the routing keys of the methods it calls
  (every method of the four services' contracts) and events on `gateway.events` with its own event
  names; declares, binds (with its own name only) and consumes its reply queue
  `rpc.reply-gateway-<hex>`; reads the event handlers' dead-letter queues and puts their messages
  back (the administrator's dead-letter page; dlq.replay sends each straight to its handler's queue
  through the default exchange, so the gateway needs no right on another service's exchange).
- each service: consumes its `rpc-<service>` queue (bound only with `<service>.*`) and its handler
  queues (bound only with the event names its subscriptions name); publishes replies on
  `nameko-rpc` with its callers' reply keys only (the gateway's, and Nameko's uuid keys when another
  service calls it); publishes events on its own `<service>.events` with its own event names;
  calls only the methods it calls (documents → incidents.check_incident_access), through its own
  Nameko reply queue `rpc.reply-<service>-<uuid>`; declares its retry and dead-letter queues.
- nobody: binds `rpc.*`, `#` or another's reply key; publishes on another service's exchange.
  Every user has topic permissions on every topic exchange (RabbitMQ allows every routing key on an
  exchange a user has none for).

What least privilege cannot take away here, and why it is safe:
- The default exchange (`amq.default`) delivers by queue name and has no topic permissions; the
  services park and retry messages through it (nameko_ext) and the gateway replays through it. A
  user may therefore put a message into a queue whose name it knows. A forged event there is refused
  by its missing signature (signed.py); an RPC request there names no method (Nameko dispatches on
  the routing key) and is answered with an error; reply queues carry random names.
- Nameko and kombu declare the exchanges they use actively, which needs `configure` on them, and
  `configure` also allows deleting them: a compromised service could stop traffic (it is logged by
  the broker and mended by re-running `apply`), never read it.

How it is applied: one definitions document (users with salted hashes, never passwords; their
permissions and topic permissions; every exchange, handler queue and binding, services/common/
topology.py) imported by an administrator before any process starts, so no event is published
before its handler's queue exists, whichever process starts first:

    python -m deploy.rabbitmq apply                 # rabbitmqctl on this machine (make run, the tests)
    python -m deploy.rabbitmq apply --http http://rabbitmq:15672   # the management API (compose)
    python -m deploy.rabbitmq show gateway          # what one user may do
    python -m deploy.rabbitmq migrate-queues --to quorum   # every process stopped (deploy/queue_migration.py)

Passwords come from the environment (or `--env-file`), one per process: `<PROCESS>_BROKER_PASSWORD`
(GATEWAY_BROKER_PASSWORD, INCIDENTS_BROKER_PASSWORD …); each process is then given
`HAVEN_AMQP_URI=amqp://haven-<process>:<its password>@…`. Instances of one process share its user.
Over --http the administrator is RABBITMQ_ADMIN_USER / RABBITMQ_ADMIN_PASSWORD.

The queues are declared with the type HAVEN_QUEUE_TYPE names (classic or quorum; topology.py). `apply`
then checks the queues already on the broker: a queue keeps the type it was created with (importing
definitions leaves it as it is), so one of the other type fails `apply`, naming `migrate-queues`.
"""
from __future__ import annotations

import argparse
import base64
import hashlib
import json
import os
import re
import secrets
import shutil
import subprocess
import sys
import tempfile
import urllib.request
from dataclasses import dataclass, field
from urllib.parse import quote, unquote, urlsplit, urlunsplit

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:  # run as `python deploy/rabbitmq.py` too
    sys.path.insert(0, ROOT)

from services.common import contracts, keys, topology  # noqa: E402
from services.common.contracts import incidents  # noqa: E402
from services.common.contracts.base import Method, events_exchange_name  # noqa: E402

OWNERS = keys.OWNERS
PREFIX = "haven-"
DEFAULT_EXCHANGE = "amq.default"  # how RabbitMQ names the default exchange ("") in permission checks
RETRY = topology.RETRY  # nameko_ext: a failed handler's message waits out its back-off in `<queue>.retry`
# Matches no resource: nothing is named "" (the default exchange is checked as amq.default).
NOTHING = "^$"
# Matches no routing key, not even the empty one.
NO_KEY = "(?!)"
# services/gateway/rpc_client.py: each gateway's reply queue, bound with its own name.
GATEWAY_REPLY = r"rpc\.reply-gateway-[0-9a-f]{32}"
# nameko.rpc.ReplyListener: a caller's reply queue is `rpc.reply-<service>-<uuid>`, bound with the uuid.
NAMEKO_REPLY_KEY = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"


def _services_the_gateway_calls() -> tuple[Method, ...]:
    # Every method of every contract the gateway's clients are built from (services/gateway/clients).
    return tuple(m for c in contracts.ALL if c.service != "gateway" for m in c.methods.values())


# The RPC methods each process calls. A service's calls are few and named here (a test checks them
# against the RPC proxies the services declare).
CALLS: dict[str, tuple[Method, ...]] = {
    "gateway": _services_the_gateway_calls(),
    "documents": (incidents.check_incident_access,),
}


@dataclass(frozen=True)
class Grant:
    """One user's permissions: regexes over resource names (exchanges and queues alike), and per topic
    exchange the routing keys it may publish with (write) and bind with (read)."""

    owner: str
    configure: str
    write: str
    read: str
    topics: dict[str, tuple[str, str]] = field(default_factory=dict)


def one_of(names=(), patterns=(), nothing: str = NOTHING) -> str:
    """`^(a|b|…)$` for these literal names and regex fragments; `nothing` when there are none."""
    parts = sorted({re.escape(n) for n in names}) + sorted(set(patterns))
    return f"^({'|'.join(parts)})$" if parts else nothing


def user_name(owner: str, prefix: str = PREFIX) -> str:
    return f"{prefix}{owner}"


def password_variable(owner: str) -> str:
    return f"{owner.upper()}_BROKER_PASSWORD"


def _nameko_reply_queue(owner: str) -> str:
    return rf"rpc\.reply-{re.escape(owner)}-{NAMEKO_REPLY_KEY}"


def _callers(service: str) -> set[str]:
    return {owner for owner, methods in CALLS.items() if any(m.service == service for m in methods)}


def _topics(rpc: tuple[str, str], events_write: dict[str, str] | None = None,
            events_read: dict[str, str] | None = None) -> dict[str, tuple[str, str]]:
    """(write, read) for every topic exchange: NO_KEY wherever nothing is granted."""
    events_write, events_read = events_write or {}, events_read or {}
    return {name: rpc if name == topology.RPC_EXCHANGE else
            (events_write.get(name, NO_KEY), events_read.get(name, NO_KEY)) for name in topology.exchanges()}


def _gateway() -> Grant:
    contract = contracts.by_service("gateway")
    own_events = events_exchange_name("gateway")
    dead_letters = [q + topology.DEAD_LETTER for q in topology.handler_queue_names()]
    return Grant(
        "gateway",
        configure=one_of([topology.RPC_EXCHANGE], [GATEWAY_REPLY]),
        write=one_of([topology.RPC_EXCHANGE, own_events, DEFAULT_EXCHANGE], [GATEWAY_REPLY]),
        read=one_of([topology.RPC_EXCHANGE, *dead_letters], [GATEWAY_REPLY]),
        topics=_topics(rpc=(one_of([m.routing_key for m in CALLS["gateway"]], nothing=NO_KEY),
                            one_of(patterns=[GATEWAY_REPLY], nothing=NO_KEY)),
                       events_write={own_events: one_of(contract.events, nothing=NO_KEY)}))


def _service(service: str) -> Grant:
    contract = contracts.by_service(service)
    calls = CALLS.get(service, ())
    callers = _callers(service)
    own_events = events_exchange_name(service) if contract.events else None
    rpc_queue = [topology.rpc_queue(service)] if contract.methods else []
    handlers = list(contract.subscriptions.values())
    handler_queues = [s.queue for s in handlers]
    sources = sorted({s.event.exchange for s in handlers})
    reply_queue = [_nameko_reply_queue(service)] if calls else []
    exchanges = [topology.RPC_EXCHANGE, *([own_events] if own_events else [])]

    reply_keys = ([GATEWAY_REPLY] if "gateway" in callers else []) + \
                 ([NAMEKO_REPLY_KEY] if callers - {"gateway"} else [])
    rpc_topic = (one_of([m.routing_key for m in calls], reply_keys, nothing=NO_KEY),
                 one_of([f"{service}.*"] if rpc_queue else [], [NAMEKO_REPLY_KEY] if calls else [], nothing=NO_KEY))
    events_read = {source: one_of([s.event.name for s in handlers if s.event.exchange == source], nothing=NO_KEY)
                   for source in sources}
    events_write = {own_events: one_of(contract.events, nothing=NO_KEY)} if own_events else {}
    return Grant(
        service,
        configure=one_of([*exchanges, *sources, *rpc_queue, *handler_queues,
                          *(q + topology.DEAD_LETTER for q in rpc_queue + handler_queues),
                          *(q + RETRY for q in handler_queues)], reply_queue),
        write=one_of([*exchanges, DEFAULT_EXCHANGE, *rpc_queue, *handler_queues], reply_queue),
        read=one_of([topology.RPC_EXCHANGE, *sources, *rpc_queue, *handler_queues,
                     *(q + RETRY for q in handler_queues)], reply_queue),
        topics=_topics(rpc_topic, events_write, events_read))


def grant(owner: str) -> Grant:
    if owner not in OWNERS:
        raise KeyError(owner)
    return _gateway() if owner == "gateway" else _service(owner)


# --- the definitions document ------------------------------------------------------------------------

def password_hash(password: str) -> str:
    """RabbitMQ's rabbit_password_hashing_sha256: base64(salt + sha256(salt + password))."""
    salt = secrets.token_bytes(4)
    return base64.b64encode(salt + hashlib.sha256(salt + password.encode()).digest()).decode()


def definitions(vhost: str, passwords: dict[str, str], prefix: str = PREFIX, queue_type: str | None = None) -> dict:
    """Users (hashed passwords), permissions, topic permissions and the topology, for one vhost; the
    queues of `queue_type` (None: HAVEN_QUEUE_TYPE, else classic)."""
    arguments = topology.queue_arguments(topology.configured_queue_type(queue_type))
    missing = [password_variable(o) for o in OWNERS if not passwords.get(o)]
    if missing:
        raise ValueError(f"no broker password for: {', '.join(missing)}")
    users, permissions, topic_permissions = [], [], []
    for owner in OWNERS:
        g, name = grant(owner), user_name(owner, prefix)
        users.append({"name": name, "password_hash": password_hash(passwords[owner]),
                      "hashing_algorithm": "rabbit_password_hashing_sha256", "tags": ""})
        permissions.append({"user": name, "vhost": vhost, "configure": g.configure, "write": g.write,
                            "read": g.read})
        topic_permissions += [{"user": name, "vhost": vhost, "exchange": exchange, "write": w, "read": r}
                              for exchange, (w, r) in g.topics.items()]
    return {
        "users": users, "vhosts": [{"name": vhost}], "permissions": permissions,
        "topic_permissions": topic_permissions,
        "exchanges": [{"name": name, "vhost": vhost, "type": "topic", "durable": True, "auto_delete": False,
                       "internal": False, "arguments": {}} for name in topology.exchanges()],
        "queues": [{"name": q.name, "vhost": vhost, "durable": True, "auto_delete": False, "arguments": arguments}
                   for q in topology.handler_queues()],
        "bindings": [{"source": q.exchange, "vhost": vhost, "destination": q.name, "destination_type": "queue",
                      "routing_key": q.routing_key, "arguments": {}} for q in topology.handler_queues()],
    }


def apply_with_rabbitmqctl(document: dict) -> None:
    """`rabbitmqctl import_definitions` (the broker node reads the file itself: it holds hashes only)."""
    folder = tempfile.mkdtemp(prefix="haven-broker-")
    try:
        os.chmod(folder, 0o755)
        path = os.path.join(folder, "definitions.json")
        with open(path, "w") as f:
            json.dump(document, f)
        os.chmod(path, 0o644)
        done = subprocess.run(["rabbitmqctl", "-q", "import_definitions", path], capture_output=True, text=True,
                              timeout=120)
        if done.returncode != 0:
            raise RuntimeError(f"rabbitmqctl import_definitions failed: {(done.stderr or done.stdout).strip()[:500]}")
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def apply_over_http(base_url: str, admin_user: str, admin_password: str, document: dict) -> None:
    """POST the document to the management API's /api/definitions."""
    request = urllib.request.Request(base_url.rstrip("/") + "/api/definitions", data=json.dumps(document).encode(),
                                     method="POST", headers={"content-type": "application/json"})
    token = base64.b64encode(f"{admin_user}:{admin_password}".encode()).decode()
    request.add_header("authorization", f"Basic {token}")
    with urllib.request.urlopen(request, timeout=60) as answer:  # noqa: S310 (the operator's own URL)
        if answer.status not in (200, 201, 204):
            raise RuntimeError(f"the management API answered {answer.status}")


def queue_types_with_rabbitmqctl(vhost: str) -> dict[str, str]:
    """Each queue of the vhost and its type, as the broker on this machine says."""
    done = subprocess.run(["rabbitmqctl", "-q", "list_queues", "-p", vhost, "--no-table-headers", "name", "type"],
                          capture_output=True, text=True, timeout=120)
    if done.returncode != 0:
        raise RuntimeError(f"rabbitmqctl list_queues failed: {(done.stderr or done.stdout).strip()[:500]}")
    return dict(line.rsplit("\t", 1) for line in done.stdout.splitlines() if "\t" in line)


def queue_types_over_http(base_url: str, admin_user: str, admin_password: str, vhost: str) -> dict[str, str]:
    request = urllib.request.Request(f"{base_url.rstrip('/')}/api/queues/{quote(vhost, safe='')}?columns=name,type")
    token = base64.b64encode(f"{admin_user}:{admin_password}".encode()).decode()
    request.add_header("authorization", f"Basic {token}")
    with urllib.request.urlopen(request, timeout=60) as answer:  # noqa: S310 (the operator's own URL)
        return {q["name"]: q.get("type", topology.CLASSIC) for q in json.load(answer)}


def queues_of_another_type(types: dict[str, str], queue_type: str) -> list[str]:
    """Haven's queues the broker holds with another type than `queue_type`."""
    return [q.name for q in topology.durable_queues() if types.get(q.name, queue_type) != queue_type]


def delete_users(names: list[str]) -> None:
    """`rabbitmqctl delete_user` for each, side by side (each call starts an Erlang VM)."""
    runs = [subprocess.Popen(["rabbitmqctl", "-q", "delete_user", name], stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL) for name in names]
    for run in runs:
        run.wait(60)


def with_credentials(uri: str, user: str, password: str) -> str:
    """`uri` (host, port, vhost, TLS options) logged in as `user`."""
    parts = urlsplit(uri)
    host = parts.hostname or "localhost"
    host = f"[{host}]" if ":" in host else host
    netloc = f"{quote(user, safe='')}:{quote(password, safe='')}@{host}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))


def vhost_of(uri: str) -> str:
    path = urlsplit(uri).path
    return unquote(path[1:]) if len(path) > 1 else "/"


def process_uris(admin_uri: str, passwords: dict[str, str], prefix: str = PREFIX) -> dict[str, str]:
    """Each process's HAVEN_AMQP_URI: the administrator's broker and vhost, with its own user."""
    return {owner: with_credentials(admin_uri, user_name(owner, prefix), passwords[owner]) for owner in OWNERS}


def new_passwords() -> dict[str, str]:
    return {owner: secrets.token_urlsafe(32) for owner in OWNERS}


# --- the command -------------------------------------------------------------------------------------

def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m deploy.rabbitmq", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    apply = sub.add_parser("apply", help="create or update every process's user, its permissions and the topology")
    apply.add_argument("--vhost", help="default: the vhost of HAVEN_AMQP_URI, else /")
    apply.add_argument("--prefix", default=PREFIX, help=f"user names are <prefix><process> (default {PREFIX})")
    apply.add_argument("--env-file", help="read the *_BROKER_PASSWORD values from this file too")
    apply.add_argument("--http", metavar="URL", help="the management API (RABBITMQ_ADMIN_USER/_PASSWORD), "
                                                     "instead of rabbitmqctl on this machine")
    show = sub.add_parser("show", help="what one process's user may do")
    show.add_argument("owner", choices=OWNERS)
    migrate = sub.add_parser("migrate-queues", help="rebuild every queue as classic or quorum, keeping its "
                                                    "messages (every Haven process stopped)")
    migrate.add_argument("--to", required=True, choices=topology.QUEUE_TYPES)
    migrate.add_argument("--amqp-uri", help="an administrator's account (default: HAVEN_AMQP_URI)")
    args = parser.parse_args(argv)

    if args.command == "show":
        g = grant(args.owner)
        print(f"configure  {g.configure}\nwrite      {g.write}\nread       {g.read}")
        for exchange, (w, r) in g.topics.items():
            print(f"topic {exchange}: write {w}  read {r}")
        return 0

    if args.command == "migrate-queues":
        from deploy.queue_migration import MigrationRefused, migrate  # loads pika only here
        try:
            migrate(args.amqp_uri or os.environ.get("HAVEN_AMQP_URI", "amqp://guest:guest@127.0.0.1:5672/"), args.to)
        except MigrationRefused as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        print(f"every Haven queue is {args.to}; set HAVEN_QUEUE_TYPE={args.to} for every process before starting them")
        return 0

    values = {**(keys.read_env(args.env_file) if args.env_file else {}), **os.environ}
    passwords = {owner: values.get(password_variable(owner), "") for owner in OWNERS}
    vhost = args.vhost or vhost_of(values.get("HAVEN_AMQP_URI", "amqp://localhost/"))
    try:
        queue_type = topology.configured_queue_type(values.get(topology.QUEUE_TYPE_VARIABLE))
        document = definitions(vhost, passwords, args.prefix, queue_type)
        if args.http:
            admin = values.get("RABBITMQ_ADMIN_USER"), values.get("RABBITMQ_ADMIN_PASSWORD")
            if not all(admin):
                raise ValueError("--http needs RABBITMQ_ADMIN_USER and RABBITMQ_ADMIN_PASSWORD")
            apply_over_http(args.http, admin[0], admin[1], document)
            types = queue_types_over_http(args.http, admin[0], admin[1], vhost)
        else:
            apply_with_rabbitmqctl(document)
            types = queue_types_with_rabbitmqctl(vhost)
        wrong = queues_of_another_type(types, queue_type)
        if wrong:
            raise RuntimeError(str(topology.QueueTypeMismatch(wrong, queue_type)))
    except (ValueError, RuntimeError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"broker users {', '.join(user_name(o, args.prefix) for o in OWNERS)} and the topology applied "
          f"to vhost {vhost}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
