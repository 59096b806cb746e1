import uvicorn

from services.common import telemetry
from services.common.startup import wait_for_broker

from .app import create_app
from .settings import GatewaySettings

if __name__ == "__main__":
    telemetry.configure("gateway")
    settings = GatewaySettings()
    wait_for_broker(settings.amqp_uri)
    # No uvicorn access log: URLs carry search terms (pupils' names), which must not reach the logs; the
    # gateway writes its own line per request, with the route's template (observability.py). log_config=None:
    # uvicorn's lines go through the process's JSON handler (telemetry.configure_logging).
    # proxy_headers=False: uvicorn would otherwise believe X-Forwarded-For from 127.0.0.1 (or whatever
    # FORWARDED_ALLOW_IPS says); the app believes it only from HAVEN_TRUSTED_PROXIES (create_app).
    uvicorn.run(create_app(settings), host=settings.host, port=settings.port, log_level="info",
                access_log=False, proxy_headers=False, log_config=None)
