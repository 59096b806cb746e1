from services.common.settings import MailSettings


class AlertsSettings(MailSettings):
    alerts_database_url: str = "sqlite:///var/alerts.sqlite3"
    # Where staff open Haven; alert e-mails link to `{public_url}/incidents/{id}`.
    public_url: str = "http://localhost:8000"

    @property
    def database_url(self) -> str:
        return self.alerts_database_url
