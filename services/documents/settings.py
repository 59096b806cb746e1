from __future__ import annotations

from typing import Literal

from pydantic import Field, SecretStr, field_validator

from services.common.settings import CommonSettings

from .vault import MasterKeys, ObjectStore, Vault, decode_master_key, decode_previous_keys, open_store

MIB = 1024 * 1024


class DocumentsSettings(CommonSettings):
    OWNER = "documents"
    documents_signing_key: SecretStr = SecretStr("")  # HAVEN_DOCUMENTS_SIGNING_KEY, this process only
    documents_database_url: str = "sqlite:///var/documents.sqlite3"
    vault_backend: Literal["local", "s3"] = "local"
    vault_dir: str = "var/vault"
    s3_bucket: str = "haven-documents"
    # MinIO or moto; None means AWS itself. Credentials come from boto3's usual sources (AWS_*).
    s3_endpoint_url: str | None = None
    s3_region: str = "eu-west-2"
    # Asked of S3 on every write, on top of Haven's own encryption; "none" for a store that cannot.
    vault_s3_sse: Literal["none", "AES256", "aws:kms"] = "AES256"
    vault_s3_kms_key_id: str | None = None  # aws:kms only; None means the account's default KMS key
    # Wraps every document's data key. No default: a guessable key would protect nothing.
    master_key: SecretStr
    # Keys that wrapped data keys before the current one: still accepted for reading until
    # `python -m services.documents.keys rotate` has re-wrapped everything (comma-separated base64).
    previous_master_keys: SecretStr = SecretStr("")
    # An upload recorded as started this long ago and never committed has failed: its object is deleted.
    pending_upload_minutes: int = Field(30, gt=0)
    max_document_bytes: int = Field(20 * MIB, gt=0)

    @field_validator("master_key")
    @classmethod
    def _master_key_is_32_bytes(cls, value: SecretStr) -> SecretStr:
        decode_master_key(value.get_secret_value())
        return value

    @field_validator("previous_master_keys")
    @classmethod
    def _previous_keys_are_32_bytes(cls, value: SecretStr) -> SecretStr:
        decode_previous_keys(value.get_secret_value())
        return value

    @field_validator("s3_endpoint_url", "vault_s3_kms_key_id")
    @classmethod
    def _blank_is_none(cls, value: str | None) -> str | None:
        return value.strip() or None if value is not None else None

    @property
    def database_url(self) -> str:
        return self.documents_database_url

    def open_store(self) -> ObjectStore:
        """Where the vault's objects are (the orphan sweeper needs this and no key)."""
        return open_store(self.vault_backend, vault_dir=self.vault_dir, s3_bucket=self.s3_bucket,
                          s3_region=self.s3_region, s3_endpoint_url=self.s3_endpoint_url,
                          s3_sse=self.vault_s3_sse, s3_kms_key_id=self.vault_s3_kms_key_id)

    def _key_bytes(self) -> tuple[bytes, list[bytes]]:
        return (decode_master_key(self.master_key.get_secret_value()),
                decode_previous_keys(self.previous_master_keys.get_secret_value()))

    def master_keys(self) -> MasterKeys:
        """The current master key and the previous ones (the rotation command needs these and no store)."""
        return MasterKeys(*self._key_bytes())

    def open_vault(self) -> Vault:
        """The vault these settings describe; `prepare()` it before use."""
        return Vault(self.open_store(), *self._key_bytes())
