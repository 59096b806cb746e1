"""The manifest and the checksums: what a backup holds, and proof that none of it changed since.

`manifest.json` lists every file with its size and SHA-256 (and what it is); `SHA256SUMS` covers every
file including the manifest, in the format `sha256sum -c` reads, so a copy can be checked anywhere
without Haven. A backup is checked whole before anything is restored from it.
"""
from __future__ import annotations

import hashlib
import json
import os

MANIFEST = "manifest.json"
SUMS = "SHA256SUMS"
FORMAT = "haven-backup-1"
CHUNK = 1024 * 1024


class BackupRefused(Exception):
    """The backup (or the system it is to be restored into) is not as it must be; the message says what."""


def sha256_file(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def describe(folder: str, relative: str) -> dict:
    """A file's entry in the manifest."""
    path = os.path.join(folder, relative)
    return {"path": relative, "bytes": os.path.getsize(path), "sha256": sha256_file(path)}


def _files(folder: str) -> list[str]:
    found = []
    for directory, _, names in os.walk(folder):
        found += [os.path.relpath(os.path.join(directory, name), folder).replace(os.sep, "/") for name in names]
    return sorted(found)


def write(folder: str, manifest: dict) -> None:
    with open(os.open(os.path.join(folder, MANIFEST), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "w") as f:
        json.dump(manifest, f, indent=1, sort_keys=True)
    lines = [f"{sha256_file(os.path.join(folder, name))}  {name}\n" for name in _files(folder) if name != SUMS]
    with open(os.open(os.path.join(folder, SUMS), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "w") as f:
        f.writelines(lines)


def listed_files(manifest: dict) -> list[dict]:
    """Every file entry the manifest holds."""
    entries = [entry["file"] for entry in manifest["databases"].values()]
    entries += manifest["vault"]["objects"]
    if (manifest.get("keys") or {}).get("file"):
        entries.append(manifest["keys"]["file"])
    return entries


def check(folder: str) -> dict:
    """The manifest of an intact backup; BackupRefused naming every file missing, added or changed."""
    try:
        with open(os.path.join(folder, SUMS)) as f:
            sums = dict(reversed(line.rstrip("\n").split("  ", 1)) for line in f if line.strip())
        with open(os.path.join(folder, MANIFEST)) as f:
            manifest = json.load(f)
    except (OSError, ValueError) as exc:
        raise BackupRefused(f"{folder} is not a readable Haven backup ({type(exc).__name__}: {exc})") from None
    if manifest.get("format") != FORMAT:
        raise BackupRefused(f"{folder} is not a Haven backup this version reads ({FORMAT})")
    problems = []
    present = set(_files(folder)) - {SUMS}
    for name in sorted(set(sums) ^ present):
        problems.append(f"{name}: {'missing' if name in sums else 'not in the checksums (added)'}")
    for name in sorted(set(sums) & present):
        if sha256_file(os.path.join(folder, name)) != sums[name]:
            problems.append(f"{name}: its SHA-256 does not match (changed or damaged)")
    for entry in listed_files(manifest):
        if sums.get(entry["path"]) != entry["sha256"]:
            problems.append(f"{entry['path']}: the manifest and the checksums disagree")
    if problems:
        raise BackupRefused("the backup is not intact:\n  " + "\n  ".join(problems))
    return manifest


def contents_digest(manifest: dict) -> str:
    """One SHA-256 over every database and vault file's own: sealed inside the key file, it ties the key
    file to this backup's data, which the checksums alone (no secret) cannot."""
    data = [entry["file"] for entry in manifest["databases"].values()] + manifest["vault"]["objects"]
    pairs = sorted((entry["path"], entry["sha256"]) for entry in data)
    return hashlib.sha256(json.dumps(pairs, separators=(",", ":")).encode()).hexdigest()
