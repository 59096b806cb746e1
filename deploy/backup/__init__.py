"""Back up a whole Haven and restore it into an empty one: `python -m deploy.backup create|restore|verify`.

A backup is one dated folder:

    haven-backup-20261201T020000Z/
        databases/<service>.pgdump | <service>.sqlite3   one per service (pg_dump's custom format, or
                                                          SQLite's online backup)
        vault/<storage key>                               every vault object as stored: already encrypted
        keys.haven-keys                                   the keys, sealed with a passphrase (keyfile.py)
        manifest.json                                     what is in it: sizes, SHA-256, row counts per
                                                          table, alembic heads, the audit chain's head
        SHA256SUMS                                        every file above (`sha256sum -c SHA256SUMS`)

The databases are copied before the vault: a document's ciphertext is stored before its row is
committed, so every row the dumps hold has its object in the vault copy made after them (the vault
may also hold a few objects of documents not yet committed; they are harmless).

The vault and its master key are never in the same file: the key file can be kept somewhere else
(README "Backup and restore"). The database dumps are plain `pg_dump`/SQLite copies holding every
record's text: the backup folder needs storage as protected as the databases (encrypted at rest, access
for the named few), not "ordinary" backup storage.
"""
