from pydantic import model_validator

from services.common.settings import CommonSettings


class GatewaySettings(CommonSettings):
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

    @model_validator(mode="after")
    def _production_safety(self):
        if not self.is_local and not self.cookie_secure:
            raise ValueError("HAVEN_COOKIE_SECURE may only be false in development or tests")
        return self

    @property
    def database_url(self) -> str:
        return self.gateway_database_url
