"""Settings shared by every Haven process, read once from the environment (and `.env`)."""
from __future__ import annotations

from typing import ClassVar

from pydantic import Field, PrivateAttr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from . import amqp, metrics
from .keys import BadKey, KeyRing, SigningKey, signing_variable
from .smtp import PLAIN_TEXT_LOGIN_REFUSED, Security
from .topology import CLASSIC, QueueType

DEVELOPMENT = "development"
PRODUCTION = "production"


class CommonSettings(BaseSettings):
    # A refused setting must not print the value it refused (a key, the mail relay's password).
    model_config = SettingsConfigDict(env_prefix="HAVEN_", env_file=".env", extra="ignore", hide_input_in_errors=True)

    # Production unless told otherwise: a deployment that forgets HAVEN_ENV gets secure cookies, no demo
    # data and HSTS. Only `make run` (development) and the tests (test) say otherwise.
    env: str = Field(PRODUCTION, description="development, test or production")
    amqp_uri: str = "amqp://guest:guest@127.0.0.1:5672/"
    # The process this is ("gateway", "incidents"…): it signs with HAVEN_<OWNER>_SIGNING_KEY (services/common/
    # keys.py), which each process's settings class declares. No default: the development launcher
    # generates the keys into var/ and gives each process its own.
    OWNER: ClassVar[str | None] = None
    public_keys: str = Field("", description="the public keys this process trusts: <key id>:<base64>,… "
                             "(python -m services.common.keys)")
    # How long an actor context is good for beyond its method's own timeout (clock drift between hosts).
    actor_ttl_seconds: int = Field(15, ge=1, le=300)
    rpc_timeout_seconds: float = 10.0
    # Where this process serves /metrics for Prometheus (services/common/metrics.py): host:port, never the
    # public port; unset serves none. The metrics are kept either way.
    metrics_address: str | None = Field(None, description="host:port for /metrics, e.g. 0.0.0.0:9464")
    # The test suite sets this: every RPC answer is checked against its contract's result model.
    check_results: bool = False

    _key_ring: KeyRing = PrivateAttr()
    _signing_key: SigningKey | None = PrivateAttr(None)

    @model_validator(mode="after")
    def _keys_present(self):
        try:
            self._key_ring = KeyRing.parse(self.public_keys)
            if self.OWNER is not None:
                own = getattr(self, f"{self.OWNER}_signing_key").get_secret_value()
                if not own:
                    raise BadKey(f"{signing_variable(self.OWNER)} must be set (python -m services.common.keys)")
                self._signing_key = SigningKey.parse(own, signing_variable(self.OWNER), self.OWNER)
        except BadKey as exc:
            raise ValueError(str(exc)) from None
        if "gateway" not in self._key_ring.owners():
            raise ValueError("HAVEN_PUBLIC_KEYS must hold the gateway's public key (python -m services.common.keys)")
        return self

    @field_validator("metrics_address")
    @classmethod
    def _metrics_address(cls, value: str | None) -> str | None:
        if value:
            metrics.host_and_port(value)  # a ValueError that says what to write
        return value or None

    # --- Queue types (README "Quorum queues") --------------------------------------------------------
    # quorum on a RabbitMQ cluster: every durable queue is replicated, so a node lost loses no message.
    # A queue keeps its type: changing this needs the migration (python -m deploy.rabbitmq migrate-queues).
    queue_type: QueueType = Field(CLASSIC, description="classic or quorum: the type of every durable queue "
                                  "(services/common/topology.py)")

    # --- TLS (README "TLS") ---------------------------------------------------------------------------
    # No settings of its own: the options are written in the URLs, amqps://…?cacertfile=<CA file> and
    # postgresql://…?sslmode=verify-full&sslrootcert=<CA file>, so every connection made from a URL carries
    # them (services/common/amqp.py, db.postgres_tls). What can be checked without the files is checked
    # here, so a refused option (verify_none, TLS options on amqp://) stops the process with its reason.
    @model_validator(mode="after")
    def _broker_tls(self):
        amqp.broker(self.amqp_uri)  # raises BadBrokerUri, a ValueError
        return self

    @property
    def key_ring(self) -> KeyRing:
        """The public keys this process trusts (actor contexts from the gateway, events from each publisher)."""
        return self._key_ring

    @property
    def signing_key(self) -> SigningKey:
        """This process's own private key."""
        if self._signing_key is None:
            raise BadKey(f"{type(self).__name__} names no process to sign for")
        return self._signing_key

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
