from pydantic import Field, SecretStr

from services.common.settings import MailSettings

from .mail import DEFAULT_GIVE_UP, DEFAULT_LEASE


class AlertsSettings(MailSettings):
    OWNER = "alerts"
    alerts_signing_key: SecretStr = SecretStr("")  # HAVEN_ALERTS_SIGNING_KEY, this process only
    alerts_database_url: str = "sqlite:///var/alerts.sqlite3"
    # Where staff open Haven; alert e-mails link to `{public_url}/incidents/{id}`.
    public_url: str = "http://localhost:8000"
    # A message being sent is not picked by another sender for this long: longer than the SMTP timeout.
    # After a crash mid-send it is sent again (with the same Message-ID) once this lapses.
    mail_lease_seconds: int = Field(int(DEFAULT_LEASE.total_seconds()), ge=1, le=3600)
    # A message that cannot be delivered is retried with back-off for this long, then marked failed and
    # shown to the DSL team and the administrators (who can retry it).
    mail_give_up_after_seconds: int = Field(int(DEFAULT_GIVE_UP.total_seconds()), ge=3600, le=7 * 24 * 3600)

    @property
    def database_url(self) -> str:
        return self.alerts_database_url
