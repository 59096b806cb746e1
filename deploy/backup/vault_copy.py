"""The document vault into the backup and back, object by object, as stored: the objects are already
encrypted (services/documents/vault.py), and copying them as they are keeps each one bound to the
wrapped key and nonce its document's row holds."""
from __future__ import annotations

import hashlib
import os

from services.documents.vault import ObjectStore, check_key


FOLDER = "vault"


def _path(folder: str, key: str) -> str:
    return os.path.join(folder, FOLDER, *check_key(key).split("/"))  # check_key: no key climbs out


def copy_out(store: ObjectStore, folder: str, where: str) -> dict:
    """Every object of `store` into `folder`/vault; the manifest's entry for the vault."""
    objects = []
    for key in store.keys():
        data = store.get(key)
        path = _path(folder, key)
        os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
        with open(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "wb") as f:
            f.write(data)
        objects.append({"key": key, "path": f"{FOLDER}/{key}", "bytes": len(data),
                        "sha256": hashlib.sha256(data).hexdigest()})
    return {"from": where, "objects": objects, "bytes": sum(o["bytes"] for o in objects)}


def copy_in(vault: dict, folder: str, store: ObjectStore) -> int:
    """Every object of the backup into `store` (checked empty by the caller); how many."""
    store.prepare()
    for entry in vault["objects"]:
        with open(_path(folder, entry["key"]), "rb") as f:
            store.put(entry["key"], f.read())
    return len(vault["objects"])
