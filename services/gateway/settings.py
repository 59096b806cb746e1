import base64
import ipaddress

from pydantic import Field, model_validator, SecretStr

from services.common.actor import Actor, ActorPass
from services.common.settings import MailSettings


class GatewaySettings(MailSettings):
    """The gateway (its mail: set-password links, through the same relay as the alerts service)."""

    OWNER = "gateway"
    gateway_signing_key: SecretStr = SecretStr("")  # HAVEN_GATEWAY_SIGNING_KEY, this process only
    gateway_database_url: str = "sqlite:///var/gateway.sqlite3"
    host: str = "127.0.0.1"
    port: int = 8000
    public_url: str = "http://localhost:8000"
    # Secure cookies need HTTPS; only development may run without.
    cookie_secure: bool = True
    session_idle_minutes: int = 30
    session_max_hours: int = 10
    max_upload_bytes: int = 20 * 1024 * 1024
    totp_issuer: str = "Haven"
    # Encrypts second-factor secrets and saved forms at rest (base64 of 32 random bytes). No default:
    # the development launcher generates one into var/.
    secrets_key: str = ""
    # Reading a safeguarding record needs a second factor given within this many minutes (step-up).
    step_up_minutes: int = 30
    # The reverse proxies in front of the gateway. X-Forwarded-For and X-Forwarded-Proto are believed
    # only from these, so the audit log and the sign-in throttle see the real client; from anyone else
    # they are ignored (a client could otherwise name any address it likes).
    trusted_proxies: str = Field("", description="comma-separated addresses or networks (CIDR) of the "
                                 "reverse proxies in front of the gateway; empty: none")

    @model_validator(mode="after")
    def _production_safety(self):
        if not self.is_local and not self.cookie_secure:
            raise ValueError("HAVEN_COOKIE_SECURE may only be false in development or tests")
        try:
            key = base64.b64decode(self.secrets_key, validate=True)
        except ValueError:
            key = b""
        if len(key) != 32:
            raise ValueError("HAVEN_SECRETS_KEY must be set to the base64 of 32 random bytes")
        self.trusted_proxy_networks  # refuses a bad entry now, not at the first request
        return self

    @property
    def trusted_proxy_networks(self) -> list[str]:
        """HAVEN_TRUSTED_PROXIES as networks. "*" (trust anyone) is refused: it is no proxy setting at all."""
        networks = []
        for item in filter(None, (part.strip() for part in self.trusted_proxies.split(","))):
            try:
                networks.append(str(ipaddress.ip_network(item, strict=False)))
            except ValueError:
                raise ValueError(f"HAVEN_TRUSTED_PROXIES: {item!r} is not an IP address or network") from None
        return networks

    def actor_pass(self, actor: Actor) -> ActorPass:
        """What the clients sign each call's actor context with (the gateway's key alone)."""
        return ActorPass(actor, self.signing_key, self.rpc_timeout_seconds, self.actor_ttl_seconds)

    @property
    def secrets_key_bytes(self) -> bytes:
        return base64.b64decode(self.secrets_key)

    @property
    def database_url(self) -> str:
        return self.gateway_database_url
