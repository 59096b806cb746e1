"""The three commands' work, without the command line: make a backup, restore one into an empty
Haven, check a Haven against one."""
from __future__ import annotations

import os
import shutil
import time
from dataclasses import dataclass
from importlib import metadata

from botocore.exceptions import ClientError

from services.common.keys import write_env
from services.documents.vault import decode_master_key, decode_previous_keys

from . import databases, keyfile, manifest, vault_copy
from .manifest import BackupRefused
from .system import REQUIRED_KEYS, Locations
from .verify import Findings, check_system

KEY_FILE = "keys.haven-keys"


def haven_version() -> str:
    try:
        return metadata.version("haven")
    except metadata.PackageNotFoundError:
        return "unknown"


@dataclass
class Made:
    folder: str
    manifest: dict
    key_file: str | None
    seconds: float


def create(where: Locations, into: str, keys: dict[str, str] | None, passphrase: str | None,
           key_file: str | None = None) -> Made:
    """A new dated backup folder under `into`. `keys` None: no key file (the keys are kept elsewhere);
    `key_file`: write the key file there instead of into the backup."""
    started = time.monotonic()
    if keys is not None:
        missing = [name for name in REQUIRED_KEYS if not keys.get(name)]
        if missing:
            raise BackupRefused(f"{', '.join(missing)} not found in the environment or the env file: without "
                                "them a restored Haven cannot read its documents or second factors "
                                "(--no-keys if you keep the keys another way)")
        keyfile.check_passphrase(passphrase)  # before the work, not after it
        if key_file and os.path.exists(key_file):
            raise BackupRefused(f"{key_file} already exists: the key file is never overwritten")
    name = "haven-backup-" + time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    os.makedirs(into, mode=0o700, exist_ok=True)
    final = os.path.join(into, name)
    if os.path.exists(final):
        raise BackupRefused(f"{final} already exists")
    # Built under a hidden name and renamed when whole: a backup cut short never looks like one.
    partial = os.path.join(into, f".{name}.partial")
    os.mkdir(partial, 0o700)
    try:
        found = _write(partial, name, where, keys, passphrase, key_file)
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)  # its dumps hold every record: none is left behind
        if key_file and os.path.exists(key_file):  # written by this run: refused above if it was there
            os.remove(key_file)
        raise
    os.rename(partial, final)
    written = os.path.join(final, KEY_FILE) if keys is not None and not key_file else key_file
    return Made(final, found, written, time.monotonic() - started)


def _write(partial: str, name: str, where: Locations, keys, passphrase, key_file) -> dict:
    # Databases first, then the vault (see __init__): every document row then has its object.
    found = {"format": manifest.FORMAT, "name": name, "haven_version": haven_version(),
             "created_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
             "databases": {service: databases.dump(service, url, partial) for service, url in where.databases.items()}}
    found["vault"] = vault_copy.copy_out(where.store(), partial, where.describe_vault())
    found["keys"] = None
    if keys is not None:
        sealed = keyfile.seal({"keys": keys, "backup": name, "contents_sha256": manifest.contents_digest(found)},
                              passphrase or "")
        path = key_file or os.path.join(partial, KEY_FILE)
        with open(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "wb") as f:
            f.write(sealed)
        found["keys"] = {"names": sorted(keys),
                         "file": None if key_file else manifest.describe(partial, KEY_FILE)}
    manifest.write(partial, found)
    return found


def open_keys(folder: str, found: dict, passphrase: str, key_file: str | None = None) -> dict[str, str]:
    """The keys sealed for this backup; refused if the key file belongs to another backup or the data
    changed since it was sealed."""
    path = key_file or (os.path.join(folder, found["keys"]["file"]["path"])
                        if (found.get("keys") or {}).get("file") else None)
    if path is None:
        raise BackupRefused("this backup's key file was written elsewhere: give it with --key-file")
    with open(path, "rb") as f:
        sealed = keyfile.open_sealed(f.read(), passphrase)
    if sealed.get("contents_sha256") != manifest.contents_digest(found):
        raise BackupRefused(f"the key file was made for backup {sealed.get('backup')}, and this backup's data "
                            "is not what it was sealed with")
    return sealed["keys"]


def occupied(where: Locations) -> list[str]:
    """What in the target Haven already holds data (a restore goes only into an empty one)."""
    found = [f"the {service} database has tables ({', '.join(tables[:3])}{'…' if len(tables) > 3 else ''})"
             for service, tables in ((s, databases.tables_in(url)) for s, url in where.databases.items()) if tables]
    try:
        count = len(where.store().keys())
    except ClientError as exc:
        if str(exc.response.get("Error", {}).get("Code")) not in ("NoSuchBucket", "404"):
            raise
        count = 0
    if count:
        found.append(f"the vault ({where.describe_vault()}) holds {count} objects")
    return found


def restore(folder: str, where: Locations, passphrase: str | None, *, force: bool = False,
            key_file: str | None = None, keys_to: str | None = None, master_key: str | None = None) -> Findings:
    """Check the backup whole, open its keys, check the target is empty, load everything, check it.
    `master_key` (base64): the vault's key when the backup has no key file."""
    found = manifest.check(folder)
    keys = open_keys(folder, found, passphrase or "", key_file) if found.get("keys") or key_file else {}
    master = keys.get("HAVEN_MASTER_KEY") or master_key
    if not master:
        raise BackupRefused("no master key: this backup has no key file, and HAVEN_MASTER_KEY is not set")
    if keys_to and os.path.exists(keys_to) and not force:
        raise BackupRefused(f"{keys_to} already exists (--force to replace it)")
    in_the_way = occupied(where)
    if in_the_way and not force:
        raise BackupRefused("the target Haven is not empty: " + "; ".join(in_the_way) +
                            " (restore into fresh databases and an empty vault, or --force to overwrite)")
    for service, url in where.databases.items():
        databases.restore(found["databases"][service], folder, url, force=force)
    vault_copy.copy_in(found["vault"], folder, where.store())
    if keys_to:
        write_env(keys_to, keys)  # readable by its owner only
    return check_system(found, where, decode_master_key(master),
                        decode_previous_keys(keys.get("HAVEN_PREVIOUS_MASTER_KEYS", "")))


def verify(folder: str, where: Locations, master_key: str, previous_keys: str = "") -> Findings:
    return check_system(manifest.check(folder), where, decode_master_key(master_key),
                        decode_previous_keys(previous_keys))
