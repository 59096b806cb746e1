"""Start-up helpers every process uses (no eventlet here: the gateway imports this too)."""
from __future__ import annotations

import logging
import sys
import time

from kombu import Connection


def configure_logging() -> None:
    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    for noisy in ("nameko", "kombu", "pika", "alembic"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    # Expected domain errors (HavenError) are logged by Nameko as warnings with a traceback.
    logging.getLogger("nameko.containers").setLevel(logging.ERROR)


def wait_for_broker(amqp_uri: str, timeout: float = 60.0) -> None:
    deadline = time.time() + timeout
    while True:
        try:
            with Connection(amqp_uri, connect_timeout=3) as conn:
                conn.connect()
                return
        except Exception as exc:  # any failure to connect is "not yet"
            if time.time() > deadline:
                raise SystemExit(f"RabbitMQ is not reachable at the configured HAVEN_AMQP_URI ({exc}). "
                                 "Start RabbitMQ (see README) and try again.") from None
            time.sleep(1)
