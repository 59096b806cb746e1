"""Is a Nameko service fit to run, and to take work? An exec probe for Kubernetes and compose's health
checks: a service has no HTTP server to ask, so this is a short process of its own, started beside the
service with the same environment and read through the service's own settings class.

    python -m services.common.probe incidents           # live: its database and the broker answer
    python -m services.common.probe incidents --ready   # and its RPC queue has a consumer

Prints one line and exits 0 (ok) or 1 (what failed). The line never holds a URL or a password.

"A consumer on rpc-<service>" is as near as the broker can say to "this service takes requests": it
counts every instance's consumer, so with several replicas a new one may read as ready a moment before
its own consumer is attached (each instance declares and consumes its queue only once its database is
migrated, services/common/runner.py).
"""
from __future__ import annotations

import argparse
import importlib
import signal
import sys

from amqp.exceptions import NotFound as NoSuchQueue  # py-amqp's (kombu's transport), not .amqp
from pydantic import ValidationError
from sqlalchemy import text

from . import amqp, topology
from .db import make_engine
from .settings import CommonSettings

# Every service with an RPC queue (the contracts say which); the gateway has its HTTP probes instead.
SERVICES = tuple(topology.rpc_services())
# A probe that has not answered in this long has failed, whatever it was waiting for (an address that
# drops packets would otherwise hold a connection attempt for minutes).
DEADLINE_SECONDS = 8
CONNECT_SECONDS = 3


class ProbeFailed(Exception):
    """Why the service is not fit: one short line."""


class OutOfTime(BaseException):
    """The deadline passed (not an Exception: no check below may take it for its own failure)."""


def settings_class(service: str) -> type[CommonSettings]:
    """The service's own settings class (services/<service>/settings.py)."""
    module = importlib.import_module(f"services.{service}.settings")
    return next(c for c in vars(module).values()
                if isinstance(c, type) and issubclass(c, CommonSettings) and c.OWNER == service)


def settings_for(service: str) -> CommonSettings:
    """Read from the environment, as the service reads them."""
    try:
        return settings_class(service)()
    except ValidationError as exc:
        first = exc.errors()[0]
        what = first["msg"].removeprefix("Value error, ")
        if first["loc"]:
            what = f"HAVEN_{str(first['loc'][0]).upper()}: {what}"
        raise ProbeFailed(f"its settings are refused ({what})") from None


def check_database(url: str) -> None:
    engine = None
    try:
        engine = make_engine(url, pooled=False)  # may refuse the URL's TLS options (db.postgres_tls)
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    except Exception as exc:
        raise ProbeFailed(f"the database does not answer ({_reason(exc)})") from None
    finally:
        if engine is not None:
            engine.dispose()


def check_broker(uri: str, queue: str | None) -> int | None:
    """Connects; with `queue`, how many consumers it has (a passive declare: asks, creates nothing,
    and needs no permission on the queue)."""
    try:
        with amqp.connection(uri, connect_timeout=CONNECT_SECONDS) as conn:
            conn.connect()
            if queue is None:
                return None
            try:
                return conn.default_channel.queue_declare(queue, passive=True).consumer_count
            except NoSuchQueue:
                raise ProbeFailed(f"{queue} does not exist: the service has never started") from None
    except ProbeFailed:
        raise
    except Exception as exc:
        raise ProbeFailed(f"the broker does not answer ({_reason(exc)})") from None


def probe(service: str, settings: CommonSettings, ready: bool = False) -> str:
    """What was checked, or ProbeFailed with why not."""
    check_database(settings.database_url)
    queue = topology.rpc_queue(service) if ready else None
    consumers = check_broker(settings.amqp_uri, queue)
    if not ready:
        return "database and broker answer"
    if not consumers:
        raise ProbeFailed(f"nobody consumes {queue}: the service is not taking requests")
    return f"database and broker answer; {consumers} consumer(s) on {queue}"


def _reason(exc: BaseException) -> str:
    """The driver's own first line (SQLAlchemy wraps it): no URL, and pg8000 and py-amqp put none in."""
    inner = getattr(exc, "orig", None) or exc
    line = (str(inner).strip().splitlines() or [""])[0]
    return f"{type(inner).__name__}: {line[:160]}" if line else type(inner).__name__


def arguments() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m services.common.probe",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("service", choices=SERVICES)
    parser.add_argument("--ready", action="store_true", help="also: its RPC queue has a consumer")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = arguments().parse_args(argv)

    def out_of_time(*_):
        raise OutOfTime()

    signal.signal(signal.SIGALRM, out_of_time)
    signal.alarm(DEADLINE_SECONDS)
    try:
        said = probe(args.service, settings_for(args.service), args.ready)
    except (ProbeFailed, OutOfTime) as exc:
        why = str(exc) if isinstance(exc, ProbeFailed) else f"no answer within {DEADLINE_SECONDS} s"
        print(f"{args.service}: not {'ready' if args.ready else 'live'}: {why}")
        return 1
    finally:
        signal.alarm(0)
    print(f"{args.service}: {'ready' if args.ready else 'live'}: {said}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
