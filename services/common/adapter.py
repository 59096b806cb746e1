"""One adapter between the bus and a service's use cases (DESIGN "One adapter").

A service class declares its RPC methods and its event handlers as tables, contract → use case:

    class IncidentsService(Service):
        name = "incidents"
        unit_of_work = UnitOfWork(OutboxEvent)
        methods = {incidents.record_incident: record.record_incident, ...}
        handlers = {incidents_contract.on_document_stored: consumers.document_stored}

and `Service` makes one hardened Nameko entrypoint per row. Every call goes the same way, through
the `UnitOfWork` provider: verify the actor, validate the arguments with the contract's model, open
the transaction, run the use case, commit, then wake the outbox relay. The relay runs in its own
green thread, so publishing never delays or fails a command that has committed (a broker that is
away delays the event, it does not lose it or turn a saved record into an error).

A use case is plain Python: `fn(session, actor, <fields of the command>)`, or `fn(session, actor,
command)` to take the model whole. It may also ask by name for `settings`, `actor_token`, or any of
the service's dependencies (`vault`, `incidents`...); nothing else about Nameko reaches it.
"""
from __future__ import annotations

import inspect
import logging
from typing import Any, Callable

import eventlet
from eventlet.event import Event as GreenEvent
from nameko.extensions import DependencyProvider
from pydantic import TypeAdapter, ValidationError
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

from . import metrics, spent, telemetry
from .actor import Refused
from .actor import verify as verify_actor
from .contracts.base import Method, Subscription, where_invalid
from .db import make_engine, session_factory, transaction
from .errors import Conflict, HavenError, Unauthenticated, ValidationFailed
from .events import EventPublisher, relay_outbox
from .nameko_ext import HardenedRpc, RetryingEventHandler, event_handler, park, rpc

log = logging.getLogger(__name__)

RELAY_INTERVAL = 1.0  # seconds between sweeps when nothing wakes the relay
DEFAULT_CONFLICT = "Someone changed this at the same moment. Reload the page and try again."


class Work:
    """What a worker gets from `UnitOfWork`: plain Python, so tests can build one over a database."""

    def __init__(self, settings, sessions, wake_relay: Callable[[], None] = lambda: None, spent_model=None):
        self.settings, self.sessions, self.wake_relay = settings, sessions, wake_relay
        self.spent_model = spent_model  # where this service remembers the actor contexts it accepted
        self.check_results = bool(getattr(settings, "check_results", False))

    def transaction(self):
        return transaction(self.sessions)

    def admit(self, session, spec: Method, token, kwargs: dict):
        """The actor of this call, if the gateway signed the context for it and it was not used before.
        A refusal is logged with its reason (never the context itself); the caller learns only 401."""
        try:
            verified = verify_actor(token, self.settings.key_ring, spec.routing_key, kwargs)
            if self.spent_model is None:
                raise Refused("this service keeps no record of spent contexts")
            if not spent.spend(session, verified.token_id, verified.expires_at):
                raise Refused(f"replayed (user {verified.actor.user_id})")
        except Refused as refused:
            log.warning("refused an actor context for %s: %s", spec.routing_key, refused.reason)
            raise Unauthenticated() from None
        spent.prune(session, self.spent_model)
        return verified.actor

    def run(self, spec: Method, use_case: "UseCase", args: tuple, kwargs: dict, deps: dict) -> Any:
        """One RPC: actor, arguments, transaction, commit, relay; the answer as JSON-ready data."""
        if spec.actor and len(args) != 1:
            raise ValidationFailed.one("actor", "The call must carry exactly one signed actor context.")
        if not spec.actor and args:
            raise ValidationFailed.one("args", "This method takes no positional arguments.")
        try:
            with self.transaction() as session:
                # The context is checked against the arguments as they came, before the contract
                # reads them; it is spent in the transaction that does the work.
                actor = self.admit(session, spec, args[0], kwargs) if spec.actor else None
                command = spec.parse(kwargs)
                available = {"actor": actor, "actor_token": args[0] if args else None, "command": command,
                             "settings": self.settings, **deps}
                result = use_case.call(session, available, command)
        except IntegrityError:
            # Two writes at the same instant (e.g. one submission from two tabs): the other won.
            raise Conflict(spec.conflict or DEFAULT_CONFLICT) from None
        self.wake_relay()  # never fails: the relay publishes from its own green thread
        if self.check_results:
            _check_result(spec, result)
        return result

    def handle(self, spec: Subscription, use_case: "UseCase", event: dict, deps: dict) -> Any:
        """One event, in one transaction (the use case records it as processed, for idempotency)."""
        with self.transaction() as session:
            result = use_case.call(session, {"event": event, "settings": self.settings, **deps}, None)
        self.wake_relay()
        return result


class UnitOfWork(DependencyProvider):
    """The database, the actor check and the outbox relay of one service process.

    `settings` is the process's settings object, handed over whole by the runner
    (`config["SETTINGS"]`); nothing is copied into Nameko's config by string keys. The relay is one
    green thread per process, woken after every commit and sweeping every second anyway; rows are
    locked while published, so several processes can relay one outbox.
    """

    def __init__(self, outbox_model=None, session_hooks: tuple[Callable, ...] = (), spent_model=None):
        self._handling: dict = {}  # worker → its telemetry.Handling
        # `session_hooks`: called once with the process's session factory at start-up, to register
        # listeners visibly (e.g. the incidents service's search index and chronology hooks).
        # `spent_model`: the service's SpentToken table (services/common/spent.py); a service whose
        # methods take an actor cannot serve them without it.
        self.outbox_model = outbox_model
        self.session_hooks = session_hooks
        self.spent_model = spent_model

    def setup(self):
        settings = self.container.config["SETTINGS"]
        self.engine = make_engine(settings.database_url)
        self.publisher = None
        if self.outbox_model is not None:
            self.publisher = EventPublisher(settings.amqp_uri, self.container.service_name, settings.signing_key)
        self._relay = Sweeper(self.relay_once, RELAY_INTERVAL, "outbox relay")
        sessions = session_factory(self.engine)
        for hook in self.session_hooks:
            hook(sessions)
        self.work = Work(settings, sessions, self.wake_relay, self.spent_model)
        service = self.container.service_name
        if self.outbox_model is not None:
            metrics.watch_outbox(service, sessions, self.outbox_model)
        metrics.watch_dead_letters(service, settings.amqp_uri, metrics.dead_letter_queues(service))

    def start(self):
        if self.publisher is not None:
            self._relay.start(self.container, "outbox-relay")

    def stop(self):
        self._relay.stop()
        if self.publisher is not None:
            self.publisher.close()
        self.engine.dispose()

    def kill(self):
        self.stop()

    def get_dependency(self, worker_ctx):
        return self.work

    def worker_setup(self, worker_ctx):
        """The message's request id on every line this worker logs, and its span (telemetry.py)."""
        entrypoint, service = worker_ctx.entrypoint, self.container.service_name
        if isinstance(entrypoint, RetryingEventHandler):
            name, kind = f"{entrypoint.source_service}.{entrypoint.event_type} → {service}", telemetry.SpanKind.CONSUMER
            attributes = {"messaging.system": "rabbitmq", "messaging.operation.type": "process",
                          "messaging.destination.name": entrypoint.event_type}
        else:
            name, kind = f"{service}.{entrypoint.method_name}", telemetry.SpanKind.SERVER
            attributes = {"rpc.system": "nameko", "rpc.service": service, "rpc.method": entrypoint.method_name}
        self._handling[worker_ctx] = telemetry.Handling(name, kind, worker_ctx.context_data, attributes)

    def worker_result(self, worker_ctx, result=None, exc_info=None):
        handling = self._handling.pop(worker_ctx, None)
        if handling is None:
            return
        error = exc_info[1] if exc_info else None
        outcome = "ok" if error is None else "domain_error" if isinstance(error, HavenError) else "fault"
        elapsed = handling.elapsed()
        # One line per message handled, under its request id: what it was, how it went, how long it took.
        log.info("%s: %s in %.1f ms", handling.name, outcome, elapsed * 1000)
        handling.close(error if outcome == "fault" else None)
        if isinstance(worker_ctx.entrypoint, HardenedRpc):
            metrics.RPC_SECONDS.labels(self.container.service_name, worker_ctx.entrypoint.method_name,
                                       outcome).observe(elapsed)

    def wake_relay(self) -> None:
        if self.publisher is not None:
            self._relay.wake()

    def relay_once(self) -> int:
        with self.work.transaction() as session:
            return relay_outbox(session, self.outbox_model, self.publisher)


class Sweeper:
    """One green thread that calls `sweep()` until it reports nothing done, each time it is woken and every
    `interval` seconds anyway; a sweep that fails (the broker or the database is away) is logged and tried
    again an interval later, and what it had to do waits for then. The outbox relay and the alerts
    service's mail sender are sweepers."""

    def __init__(self, sweep: Callable[[], int], interval: float, name: str):
        self.sweep, self.interval, self.name = sweep, interval, name
        self._wake, self._thread = GreenEvent(), None

    def start(self, container, identifier: str) -> None:
        self._thread = container.spawn_managed_thread(self._run, identifier=identifier)

    def stop(self) -> None:
        if self._thread is not None:
            self._thread.kill()
            self._thread = None

    def wake(self) -> None:
        if not self._wake.ready():
            self._wake.send(True)

    def _run(self):
        while True:
            with eventlet.Timeout(self.interval, False):
                self._wake.wait()
            self._wake = GreenEvent()
            try:
                while self.sweep():
                    pass
            except Exception as exc:
                log.warning("%s paused (%s); retrying", self.name, type(exc).__name__)
                eventlet.sleep(self.interval)


def _check_result(spec: Method, result: Any) -> None:
    """In the test suite: every answer must match the contract the gateway documents."""
    try:
        _adapter(spec).validate_python(result)
    except ValidationError as exc:
        log.error("%s answered outside its contract: %s", spec.routing_key, where_invalid(exc))
        raise


_ADAPTERS: dict[Method, TypeAdapter] = {}


def _adapter(spec: Method) -> TypeAdapter:
    if spec not in _ADAPTERS:
        _ADAPTERS[spec] = TypeAdapter(spec.result)
    return _ADAPTERS[spec]


def health(session) -> str:
    """Every service's `health` method: it answers only if its database does."""
    session.execute(text("SELECT 1"))
    return "ok"


class Setting(DependencyProvider):
    """One value of the process's settings, for a use case that asks for it by this attribute's name."""

    def __init__(self, name: str):
        self.name = name

    def setup(self):
        self.value = getattr(self.container.config["SETTINGS"], self.name)

    def get_dependency(self, worker_ctx):
        return self.value


class UseCase:
    """A domain function and how to call it: its parameters are filled by name."""

    def __init__(self, fn: Callable, fields: tuple[str, ...], where: str):
        self.fn = fn
        params = list(inspect.signature(fn).parameters.values())[1:]  # the first is the session
        self.names = [p.name for p in params if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]
        self.optional = {p.name for p in params if p.default is not p.empty}
        self.takes_command = "command" in self.names
        if not self.takes_command:
            unknown = set(fields) - set(self.names)
            if unknown:
                raise TypeError(f"{where}: {fn.__module__}.{fn.__name__} does not take {sorted(unknown)} "
                                "from the contract")

    def call(self, session, available: dict, command) -> Any:
        values = dict(available)
        if command is not None and not self.takes_command:
            values.update(command.model_dump())  # nested models reach the use case as plain dicts
        kwargs = {}
        for name in self.names:
            if name in values:
                kwargs[name] = values[name]
            elif name not in self.optional:
                raise TypeError(f"{self.fn.__name__} needs {name!r}, which nothing provides")
        return self.fn(session, **kwargs)


def _rpc_entrypoint(spec: Method, use_case: UseCase, dependency_names: tuple[str, ...]):
    def entrypoint(self, *args, **kwargs):
        deps = {name: getattr(self, name) for name in dependency_names}
        return self.unit_of_work.run(spec, use_case, args, kwargs, deps)
    entrypoint.__name__ = entrypoint.__qualname__ = spec.name
    entrypoint.__doc__ = f"{spec.routing_key} → {use_case.fn.__module__}.{use_case.fn.__name__}"
    return rpc(entrypoint)


def _event_entrypoint(spec: Subscription, use_case: UseCase, dependency_names: tuple[str, ...]):
    def entrypoint(self, event):
        deps = {name: getattr(self, name) for name in dependency_names}
        result = self.unit_of_work.handle(spec, use_case, event, deps)
        after = getattr(self, "after_event", None)
        if after is not None:
            after(spec, result)
    entrypoint.__name__ = entrypoint.__qualname__ = spec.handler
    return event_handler(spec.event.service, spec.event.name, payload=spec.event.payload)(entrypoint)


class Service:
    """Base of every service class: turns `methods` and `handlers` into Nameko entrypoints."""

    name: str
    methods: dict = {}
    handlers: dict = {}

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        deps = tuple(n for n, v in vars(cls).items()
                     if isinstance(v, DependencyProvider) and n != "unit_of_work")
        uow = vars(cls).get("unit_of_work")
        for spec, fn in cls.methods.items():
            if spec.service != cls.name:
                raise TypeError(f"{cls.__name__} cannot serve {spec.routing_key}")
            if spec.actor and uow is not None and uow.spent_model is None:
                raise TypeError(f"{cls.__name__} serves {spec.routing_key}, which takes an actor: give its "
                                "UnitOfWork a spent_model (services/common/spent.py)")
            use_case = UseCase(fn, tuple(spec.command.model_fields), spec.routing_key)
            setattr(cls, spec.name, _rpc_entrypoint(spec, use_case, deps))
        for spec, fn in cls.handlers.items():
            if spec.service != cls.name:
                raise TypeError(f"{cls.__name__} cannot handle {spec.queue}")
            setattr(cls, spec.handler, _event_entrypoint(spec, UseCase(fn, (), spec.queue), deps))


__all__ = ["Service", "UnitOfWork", "park"]
