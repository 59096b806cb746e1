"""`python -m deploy.backup create|restore|verify` (README "Backup and restore").

Where the databases and the vault are comes from the same settings the processes read (HAVEN_*,
environment or `.env`). The passphrase of the key file comes from HAVEN_BACKUP_PASSPHRASE or a
prompt, never from an argument: arguments are visible to every user of the machine.
"""
from __future__ import annotations

import argparse
import getpass
import os
import sys

from . import manifest
from .keyfile import KeyFileRefused
from .manifest import BackupRefused
from .operations import KEY_FILE, create, open_keys, restore, verify
from .system import Locations, read_keys
from .verify import Findings

PASSPHRASE = "HAVEN_BACKUP_PASSPHRASE"


def passphrase(twice: bool = False) -> str:
    if os.environ.get(PASSPHRASE):
        return os.environ[PASSPHRASE]
    if not sys.stdin.isatty():
        raise KeyFileRefused(f"no passphrase: set {PASSPHRASE} or run this at a terminal")
    given = getpass.getpass("Passphrase for the key file: ")
    if twice and getpass.getpass("The same passphrase again: ") != given:
        raise KeyFileRefused("the two passphrases differ")
    return given


def report(findings: Findings) -> int:
    for line in findings.checked:
        print(f"  {line}")
    for line in findings.problems:
        print(f"  PROBLEM: {line}")
    print("verified: everything matches the backup" if findings.intact else
          f"NOT VERIFIED: {len(findings.problems)} problems")
    return 0 if findings.intact else 1


def size(made) -> str:
    total = sum(os.path.getsize(os.path.join(d, n)) for d, _, names in os.walk(made.folder) for n in names)
    return f"{total / 1024 / 1024:.1f} MiB"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m deploy.backup", description=__doc__.split("\n\n")[0])
    parser.add_argument("--env-file", default=".env", help="where the keys are, besides the environment (default .env)")
    commands = parser.add_subparsers(dest="command", required=True)
    make = commands.add_parser("create", help="back up every database, the vault and (sealed) the keys")
    make.add_argument("--to", default="var/backups", help="the folder the dated backup folder is made in "
                      "(default var/backups)")
    make.add_argument("--key-file", help="write the sealed key file here instead of into the backup")
    make.add_argument("--no-keys", action="store_true", help="no key file (the keys are kept another way)")
    back = commands.add_parser("restore", help="restore a backup into an empty Haven, then verify it")
    back.add_argument("backup", help="the backup folder")
    back.add_argument("--key-file", help="the sealed key file, if it was written outside the backup")
    back.add_argument("--keys-to", help="write the keys to this env file (readable by its owner only)")
    back.add_argument("--force", action="store_true", help="overwrite a target that already holds data")
    check = commands.add_parser("verify", help="check a backup's files, and a Haven against it")
    check.add_argument("backup", help="the backup folder")
    check.add_argument("--key-file", help="the sealed key file, if it was written outside the backup")
    check.add_argument("--files-only", action="store_true", help="check the backup's checksums only")
    args = parser.parse_args(argv)
    try:
        if args.command == "create":
            keys = None if args.no_keys else read_keys(args.env_file)
            made = create(Locations(), args.to, keys, None if args.no_keys else passphrase(twice=True), args.key_file)
            databases = ", ".join(f"{s} ({e['kind']})" for s, e in made.manifest["databases"].items())
            print(f"backed up {databases}; {len(made.manifest['vault']['objects'])} vault objects")
            print(f"backup: {made.folder} ({size(made)}, {made.seconds:.1f} s)")
            if made.key_file:
                print(f"key file: {made.key_file} — keep a copy apart from the backups, and the passphrase apart "
                      "from both")
            return 0
        if args.command == "restore":
            master = read_keys(args.env_file).get("HAVEN_MASTER_KEY")
            needs_passphrase = args.key_file or os.path.exists(os.path.join(args.backup, KEY_FILE))
            findings = restore(args.backup, Locations(), passphrase() if needs_passphrase else None,
                               force=args.force, key_file=args.key_file, keys_to=args.keys_to, master_key=master)
            print(f"restored {args.backup}" + (f"; keys written to {args.keys_to}" if args.keys_to else ""))
            return report(findings)
        found = manifest.check(args.backup)
        print(f"{args.backup}: every file matches its checksum")
        if args.files_only:
            return 0
        keys = read_keys(args.env_file)
        if not keys.get("HAVEN_MASTER_KEY"):
            keys = open_keys(args.backup, found, passphrase(), args.key_file)
        return report(verify(args.backup, Locations(), keys.get("HAVEN_MASTER_KEY"),
                             keys.get("HAVEN_PREVIOUS_MASTER_KEYS", "")))
    except (BackupRefused, KeyFileRefused) as exc:
        print(f"refused: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
