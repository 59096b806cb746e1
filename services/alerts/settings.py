from services.common.settings import CommonSettings


class AlertsSettings(CommonSettings):
    alerts_database_url: str = "sqlite:///var/alerts.sqlite3"
    smtp_host: str = "127.0.0.1"
    smtp_port: int = 8025
    smtp_username: str | None = None
    smtp_password: str | None = None
    smtp_starttls: bool = False
    mail_from: str = "Haven <haven@localhost>"
    # Where staff open Haven; alert e-mails link to `{public_url}/incidents/{id}`.
    public_url: str = "http://localhost:8000"

    @property
    def database_url(self) -> str:
        return self.alerts_database_url
