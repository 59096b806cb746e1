"""Start-up helpers every process uses (no eventlet here: the gateway imports this too)."""
from __future__ import annotations

import ssl
import time

from . import amqp


def wait_for_broker(amqp_uri: str, timeout: float = 60.0) -> None:
    deadline = time.time() + timeout
    while True:
        try:
            with amqp.connection(amqp_uri, connect_timeout=3) as conn:
                conn.connect()
                return
        except amqp.TlsSetupError as exc:  # a missing CA file or a refused option: waiting will not help
            raise SystemExit(f"HAVEN_AMQP_URI cannot be used: {exc}") from None
        except ssl.SSLCertVerificationError as exc:  # nor will it for a broker that is not who it should be
            raise SystemExit(f"The broker at HAVEN_AMQP_URI failed the certificate check ({exc.verify_message}): "
                             "check cacertfile= and the host name (README \"TLS\").") from None
        except Exception as exc:  # any other failure to connect is "not yet"
            if time.time() > deadline:
                raise SystemExit(f"RabbitMQ is not reachable at the configured HAVEN_AMQP_URI ({exc}). "
                                 "Start RabbitMQ (see README) and try again.") from None
            time.sleep(1)
