"""The documents service's Nameko dependencies: the vault, and asking incidents for permission."""
from __future__ import annotations

import eventlet
from nameko import exceptions as nameko_exceptions
from nameko.exceptions import UnknownService
from nameko.extensions import DependencyProvider

from services.common import errors as common_errors
from services.common.errors import ALL_ERRORS, error_from_remote

from .domain import AccessCheck
from .exceptions import IncidentsUnavailable
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


def _register_remote_errors() -> None:
    """Turn Haven's domain errors raised by other services back into the same local types.

    Nameko rebuilds a registered exception as `cls(*exc_args)`; ValidationFailed takes its
    arguments in another order, so each is rebuilt through `error_from_remote` instead.
    """
    for name in ALL_ERRORS:
        path = f"{common_errors.__name__}.{name}"
        nameko_exceptions.registry.setdefault(path, lambda *args, _name=name: error_from_remote(_name, list(args)))


_register_remote_errors()


def incident_access(incidents, actor_token: str, timeout: float) -> AccessCheck:
    """The domain's `check_access`, asking the incidents service with the caller's own token."""

    def check(incident_id: int, purpose: str) -> dict:
        try:
            with eventlet.Timeout(timeout, IncidentsUnavailable()):
                return incidents.check_incident_access(actor_token, incident_id, purpose)
        except UnknownService:
            raise IncidentsUnavailable() from None

    return check
