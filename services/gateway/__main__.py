import logging

import uvicorn

from services.common.runner import configure_logging, wait_for_broker

from .app import create_app
from .settings import GatewaySettings

if __name__ == "__main__":
    configure_logging()
    settings = GatewaySettings()
    wait_for_broker(settings.amqp_uri)
    logging.getLogger("uvicorn.access").setLevel(logging.WARNING)
    uvicorn.run(create_app(settings), host=settings.host, port=settings.port, log_level="info",
                proxy_headers=False)
