from __future__ import annotations

from typing import Literal

from pydantic import Field, SecretStr, field_validator

from services.common.settings import CommonSettings

from .vault import decode_master_key

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
    # Wraps every document's data key. No default: a guessable key would protect nothing.
    master_key: SecretStr
    max_document_bytes: int = Field(20 * MIB, gt=0)

    @field_validator("master_key")
    @classmethod
    def _master_key_is_32_bytes(cls, value: SecretStr) -> SecretStr:
        decode_master_key(value.get_secret_value())
        return value

    @field_validator("s3_endpoint_url")
    @classmethod
    def _blank_endpoint_is_none(cls, value: str | None) -> str | None:
        return value.strip() or None if value is not None else None

    @property
    def database_url(self) -> str:
        return self.documents_database_url
