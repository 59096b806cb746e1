"""Settings shared by every Haven process, read once from the environment (and `.env`)."""
from __future__ import annotations

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from .smtp import PLAIN_TEXT_LOGIN_REFUSED, Security

DEVELOPMENT = "development"
PRODUCTION = "production"


class CommonSettings(BaseSettings):
    # A refused setting must not print the value it refused (a key, the mail relay's password).
    model_config = SettingsConfigDict(env_prefix="HAVEN_", env_file=".env", extra="ignore", hide_input_in_errors=True)

    # Production unless told otherwise: a deployment that forgets HAVEN_ENV gets secure cookies, no demo
    # data and HSTS. Only `make run` (development) and the tests (test) say otherwise.
    env: str = Field(PRODUCTION, description="development, test or production")
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
    smtp_security: Security = Field(
        "starttls", description="starttls (refused if the relay does not offer it), tls (implicit, often port "
        "465) or none (a relay on this host, or the development sink; never with a username)")
    smtp_ca_file: str | None = Field(None, description="A CA certificate to trust besides the system's "
                                     "(a private relay)")
    smtp_timeout_seconds: float = Field(20, gt=0, le=300)
    # Before HAVEN_SMTP_SECURITY, HAVEN_SMTP_STARTTLS=false meant plain text: still read that way, so an
    # existing deployment's plain relay keeps working. An explicit HAVEN_SMTP_SECURITY wins.
    smtp_starttls: bool | None = None
    mail_from: str = "Haven <haven@localhost>"

    @model_validator(mode="after")
    def _mail_security(self):
        if self.smtp_starttls is False and "smtp_security" not in self.model_fields_set:
            self.smtp_security = "none"
        if self.smtp_username and self.smtp_security == "none":
            raise ValueError(PLAIN_TEXT_LOGIN_REFUSED)
        return self
