"""Checking a restored Haven against the backup it came from: the row count of every table, every
document opened with the master key and matched to its SHA-256, and the audit chain (intact, and still
holding the head it had when the backup was made)."""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

from sqlalchemy import select

from services.common.db import make_engine, session_factory
from services.documents.exceptions import IntegrityFailed
from services.documents.models import Document
from services.documents.vault import ObjectMissing, ObjectStore, Vault
from services.gateway import audit

from .databases import summarise
from .system import Locations


@dataclass
class Findings:
    checked: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    @property
    def intact(self) -> bool:
        return not self.problems


class _Witness:
    """The store as the vault reads it, noting the SHA-256 of every object read (so each is read once)."""

    def __init__(self, store: ObjectStore):
        self.store, self.seen = store, {}

    def get(self, key: str) -> bytes:
        data = self.store.get(key)
        self.seen[key] = hashlib.sha256(data).hexdigest()
        return data


def check_system(manifest: dict, where: Locations, master_key: bytes, previous_keys: list[bytes] = ()) -> Findings:
    """`previous_keys`: master keys a rotation has not yet moved every document off."""
    found = Findings()
    _check_tables(manifest, where, found)
    _check_documents(manifest, where, Vault(_Witness(where.store()), master_key, previous_keys), found)
    _check_audit(manifest, where, found)
    return found


def _check_tables(manifest: dict, where: Locations, found: Findings) -> None:
    for service, url in where.databases.items():
        expected = manifest["databases"][service]
        now = summarise(url)
        differ = [f"{table} {expected['tables'].get(table, 'absent')} → {now['tables'].get(table, 'absent')}"
                  for table in sorted(set(expected["tables"]) | set(now["tables"]))
                  if expected["tables"].get(table) != now["tables"].get(table)]
        if differ:
            found.problems.append(f"{service}: row counts differ from the backup: {'; '.join(differ)}")
        if now["alembic_heads"] != expected["alembic_heads"]:
            found.problems.append(f"{service}: schema version {now['alembic_heads']}, the backup's is "
                                  f"{expected['alembic_heads']}")
        found.checked.append(f"{service}: {len(now['tables'])} tables, {sum(now['tables'].values())} rows")


def _check_documents(manifest: dict, where: Locations, vault: Vault, found: Findings) -> None:
    witness = vault.store
    store = witness.store
    stored = {entry["key"]: entry["sha256"] for entry in manifest["vault"]["objects"]}
    engine = make_engine(where.documents_database_url, pooled=False)
    documents = 0
    try:
        with session_factory(engine)() as session:
            for row in session.scalars(select(Document).order_by(Document.id)).yield_per(500):
                documents += 1
                try:
                    content = vault.get(row.storage_key, row.id, row.wrapped_key, row.nonce, row.key_id)
                except IntegrityFailed:
                    found.problems.append(f"document {row.id}: does not open with the master key (or its object "
                                          "is missing)")
                    continue
                if hashlib.sha256(content).hexdigest() != row.sha256:
                    found.problems.append(f"document {row.id}: opens, but is not the file that was uploaded "
                                          "(SHA-256 differs)")
                if row.storage_key in stored and witness.seen.get(row.storage_key) != stored[row.storage_key]:
                    found.problems.append(f"document {row.id}: its stored object differs from the backup's")
    finally:
        engine.dispose()
    # Objects no committed row points at (an upload cut short): copied back all the same, and must be there.
    for key in sorted(set(stored) - set(witness.seen)):
        try:
            if hashlib.sha256(store.get(key)).hexdigest() != stored[key]:
                found.problems.append(f"vault object {key}: differs from the backup's")
        except ObjectMissing:
            found.problems.append(f"vault object {key}: missing from {where.describe_vault()}")
    found.checked.append(f"documents: {documents} opened with the master key and matched to their SHA-256; "
                         f"{len(stored)} objects in {where.describe_vault()}")


def _check_audit(manifest: dict, where: Locations, found: Findings) -> None:
    head = manifest["databases"]["gateway"].get("audit_head")
    engine = make_engine(where.gateway_database_url, pooled=False)
    try:
        with session_factory(engine)() as session:
            chain = audit.verify(session, expected_head=head["hash"] if head else None)
    finally:
        engine.dispose()
    if chain.intact:
        found.checked.append(f"audit log: {chain.checked} entries, the chain is intact up to entry {chain.head_id}")
    else:
        found.problems += [f"audit log: {problem}" for _, problem in chain.problems[:audit.REPORTED_PROBLEMS]]
