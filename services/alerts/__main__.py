import eventlet

eventlet.monkey_patch()

import os  # noqa: E402

from services.common.runner import run  # noqa: E402

from .service import AlertsService  # noqa: E402
from .settings import AlertsSettings  # noqa: E402

if __name__ == "__main__":
    settings = AlertsSettings()
    run(AlertsService, settings, settings.alerts_database_url,
        os.path.join(os.path.dirname(__file__), "migrations"),
        extra_config={"SMTP_HOST": settings.smtp_host, "SMTP_PORT": settings.smtp_port,
                      "SMTP_USERNAME": settings.smtp_username, "SMTP_PASSWORD": settings.smtp_password,
                      "SMTP_STARTTLS": settings.smtp_starttls, "MAIL_FROM": settings.mail_from,
                      "PUBLIC_URL": settings.public_url})
