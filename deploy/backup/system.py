"""Where a Haven keeps what a backup must hold, read from the same settings its processes read
(HAVEN_* in the environment or `.env`), without the secrets the processes also need: finding the
databases and the vault needs no key."""
from __future__ import annotations

import os

from pydantic_settings import BaseSettings, SettingsConfigDict

from services.alerts.settings import AlertsSettings
from services.common.keys import OWNERS, read_env, signing_variable
from services.documents.settings import DocumentsSettings
from services.documents.vault import ObjectStore, open_store
from services.gateway.settings import GatewaySettings
from services.incidents.settings import IncidentsSettings
from services.transfers.settings import TransfersSettings

# The keys without which a restored Haven cannot read its vault (master, and the previous ones while a
# rotation is under way), its second factors and saved forms (secrets), nor sign and check actor contexts
# and events (signing and public keys).
KEY_VARIABLES = ("HAVEN_MASTER_KEY", "HAVEN_PREVIOUS_MASTER_KEYS", "HAVEN_SECRETS_KEY", "HAVEN_PUBLIC_KEYS",
                 *(signing_variable(owner) for owner in OWNERS))
REQUIRED_KEYS = ("HAVEN_MASTER_KEY", "HAVEN_SECRETS_KEY")


def _default(settings: type[BaseSettings], field: str):
    return settings.model_fields[field].default


class Locations(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="HAVEN_", env_file=".env", extra="ignore")

    gateway_database_url: str = _default(GatewaySettings, "gateway_database_url")
    incidents_database_url: str = _default(IncidentsSettings, "incidents_database_url")
    alerts_database_url: str = _default(AlertsSettings, "alerts_database_url")
    documents_database_url: str = _default(DocumentsSettings, "documents_database_url")
    transfers_database_url: str = _default(TransfersSettings, "transfers_database_url")
    vault_backend: str = _default(DocumentsSettings, "vault_backend")
    vault_dir: str = _default(DocumentsSettings, "vault_dir")
    s3_bucket: str = _default(DocumentsSettings, "s3_bucket")
    s3_endpoint_url: str | None = None
    s3_region: str = _default(DocumentsSettings, "s3_region")
    vault_s3_sse: str = _default(DocumentsSettings, "vault_s3_sse")
    vault_s3_kms_key_id: str | None = None

    @property
    def databases(self) -> dict[str, str]:
        """Each process that owns a database (every owner of a key) → its URL."""
        return {owner: getattr(self, f"{owner}_database_url") for owner in OWNERS}

    def store(self) -> ObjectStore:
        return open_store(self.vault_backend, vault_dir=self.vault_dir, s3_bucket=self.s3_bucket,
                          s3_region=self.s3_region, s3_endpoint_url=(self.s3_endpoint_url or "").strip() or None,
                          s3_sse=self.vault_s3_sse, s3_kms_key_id=self.vault_s3_kms_key_id)

    def describe_vault(self) -> str:
        if self.vault_backend == "s3":
            return f"S3 bucket {self.s3_bucket}"
        return f"directory {self.vault_dir}"


def read_keys(env_file: str = ".env") -> dict[str, str]:
    """The keys this Haven runs with: the environment first, then the env file (as the processes read)."""
    from_file = read_env(env_file) if env_file and os.path.exists(env_file) else {}
    found = {}
    for name in KEY_VARIABLES:
        value = os.environ.get(name) or from_file.get(name)
        if value:
            found[name] = value
    return found
