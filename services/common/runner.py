"""How every Nameko service starts: wait for the broker, migrate, check the topology is there, run.

Call from a service's `__main__` after `import services.common.green`.
"""
from __future__ import annotations

import logging
import os
import signal

import eventlet
from nameko.runners import ServiceRunner

from . import amqp, metrics, telemetry, topology
from .db import migrate
from .startup import wait_for_broker

log = logging.getLogger("haven")
MAX_WORKERS = 20


def run(service_cls, settings) -> None:
    """`settings` is handed to the dependency providers whole (`config["SETTINGS"]`)."""
    telemetry.configure(service_cls.name)
    wait_for_broker(settings.amqp_uri)
    service_dir = os.path.dirname(os.path.abspath(__import__(service_cls.__module__, fromlist=["_"]).__file__))
    migrate(settings.database_url, os.path.join(service_dir, "migrations"))
    topology.declare(settings.amqp_uri, service_cls.name, settings.queue_type)
    runner = ServiceRunner({**amqp.nameko_config(settings.amqp_uri), "SETTINGS": settings,
                            "max_workers": MAX_WORKERS, "serializer": "json"})
    runner.add_service(service_cls)
    metrics.serve(settings.metrics_address)
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
    telemetry.shutdown_tracing()
    log.info("%s service stopped", service_cls.name)
