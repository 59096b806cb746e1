"""How every Nameko service starts: wait for the broker, migrate, declare the topology, run.

Call from a service's `__main__` after `eventlet.monkey_patch()`.
"""
from __future__ import annotations

import logging
import signal

import eventlet
from nameko.runners import ServiceRunner

from . import topology
from .db import migrate
from .startup import configure_logging, wait_for_broker

log = logging.getLogger("haven")


def run(service_cls, settings, database_url: str, migrations_dir: str, extra_config=None) -> None:
    amqp_uri = settings.amqp_uri
    configure_logging()
    wait_for_broker(amqp_uri)
    migrate(database_url, migrations_dir)
    topology.declare(amqp_uri)
    config = {"AMQP_URI": amqp_uri, "DATABASE_URL": database_url, "max_workers": 20,
              "serializer": "json", "ACTOR_KEY": settings.actor_key,
              "ACTOR_TTL_SECONDS": settings.actor_ttl_seconds, **(extra_config or {})}
    runner = ServiceRunner(config)
    runner.add_service(service_cls)
    stop = eventlet.event.Event()

    def _on_signal(*_):
        if not stop.ready():
            stop.send(True)

    signal.signal(signal.SIGTERM, _on_signal)
    signal.signal(signal.SIGINT, _on_signal)
    runner.start()
    log.info("%s service started", service_cls.name)
    stopper = eventlet.spawn(lambda: (stop.wait(), runner.stop()))
    runner.wait()
    stopper.kill()
    log.info("%s service stopped", service_cls.name)
