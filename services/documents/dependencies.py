"""The documents service's Nameko dependencies: the vault, and asking incidents for permission."""
from __future__ import annotations

import eventlet
from nameko.exceptions import UnknownService
from nameko.extensions import DependencyProvider

from .domain import AccessCheck
from .exceptions import incidents_unavailable
from .vault import Vault, decode_master_key, open_store


class DocumentVault(DependencyProvider):
    """`self.vault.put(...)` / `self.vault.get(...)`: one Vault (and one S3 client) per process."""

    def setup(self):
        config = self.container.config
        store = open_store(config.get("VAULT_BACKEND", "local"), vault_dir=config.get("VAULT_DIR", "var/vault"),
                           s3_bucket=config.get("S3_BUCKET", "haven-documents"),
                           s3_region=config.get("S3_REGION", "eu-west-2"),
                           s3_endpoint_url=config.get("S3_ENDPOINT_URL"))
        self.vault = Vault(store, decode_master_key(config["MASTER_KEY"]))
        self.vault.prepare()  # creates the directory or the bucket, so a bad setup fails at start

    def get_dependency(self, worker_ctx):
        return self.vault


def incident_access(incidents, actor_token: str, timeout: float) -> AccessCheck:
    """The domain's `check_access`, asking the incidents service with the caller's own token."""

    def check(incident_id: int, purpose: str) -> dict:
        try:
            with eventlet.Timeout(timeout, incidents_unavailable()):
                return incidents.check_incident_access(actor_token, incident_id, purpose)
        except UnknownService:
            raise incidents_unavailable() from None

    return check
