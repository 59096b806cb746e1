import uvicorn

from services.common.startup import configure_logging, wait_for_broker

from .app import create_app
from .settings import GatewaySettings

if __name__ == "__main__":
    configure_logging()
    settings = GatewaySettings()
    wait_for_broker(settings.amqp_uri)
    # No access log: URLs carry search terms (pupils' names), which must not reach the logs.
    # proxy_headers=False: uvicorn would otherwise believe X-Forwarded-For from 127.0.0.1 (or whatever
    # FORWARDED_ALLOW_IPS says); the app believes it only from HAVEN_TRUSTED_PROXIES (create_app).
    uvicorn.run(create_app(settings), host=settings.host, port=settings.port, log_level="info",
                access_log=False, proxy_headers=False)
