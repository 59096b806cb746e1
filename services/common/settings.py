"""Settings shared by every Haven process, read once from the environment (and `.env`)."""
from __future__ import annotations

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEVELOPMENT = "development"


class CommonSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="HAVEN_", env_file=".env", extra="ignore")

    env: str = Field(DEVELOPMENT, description="development, test or production")
    amqp_uri: str = "amqp://guest:guest@127.0.0.1:5672/"
    # Signs the actor context the gateway hands to services (DESIGN rule 3). No default: the
    # development launcher generates one into var/ and exports it.
    actor_key: str = ""
    actor_ttl_seconds: int = 120
    rpc_timeout_seconds: float = 10.0
    # The test suite sets this: every RPC answer is checked against its contract's result model.
    check_results: bool = False

    @model_validator(mode="after")
    def _secrets_present(self):
        if len(self.actor_key) < 32:
            raise ValueError("HAVEN_ACTOR_KEY must be set to a random string of at least 32 characters")
        return self

    @property
    def is_development(self) -> bool:
        return self.env == DEVELOPMENT

    @property
    def is_local(self) -> bool:
        """Development or the test suite: demo data and plain-HTTP cookies are allowed."""
        return self.env in (DEVELOPMENT, "test")


class MailSettings(CommonSettings):
    """The mail relay, for the processes that send mail (alerts; the gateway's set-password links)."""

    smtp_host: str = "127.0.0.1"
    smtp_port: int = 8025
    smtp_username: str | None = None
    smtp_password: str | None = None
    smtp_starttls: bool = False
    mail_from: str = "Haven <haven@localhost>"
