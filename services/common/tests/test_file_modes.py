"""Files that hold records, documents or mail are readable by their owner only: directories 0700, files
0600, whatever the umask. Run under a permissive umask, so a mode left to it would show."""
from __future__ import annotations

import asyncio
import os
import stat
from types import SimpleNamespace

import pytest
from sqlalchemy import text

from deploy.devmail import MaildirHandler
from services.common.db import make_engine
from services.documents.vault import LocalDirectoryStore

PRIVATE_DIR, PRIVATE_FILE = 0o700, 0o600


def mode(path) -> str:
    return oct(stat.S_IMODE(os.stat(path).st_mode))


@pytest.fixture(autouse=True)
def permissive_umask():
    old = os.umask(0o022)
    yield
    os.umask(old)


def test_an_sqlite_database_its_journal_files_and_the_directories_made_for_it_are_private(tmp_path):
    shared = tmp_path / "shared"
    shared.mkdir(mode=0o755)
    path = shared / "var" / "sub" / "incidents.sqlite3"
    engine = make_engine(f"sqlite:///{path}")
    try:
        with engine.begin() as conn:  # WAL: the -wal and -shm files exist while a connection is open
            conn.execute(text("CREATE TABLE t (x INTEGER)"))
            conn.execute(text("INSERT INTO t VALUES (1)"))
            files = [p for p in (path, f"{path}-wal", f"{path}-shm") if os.path.exists(p)]
            assert len(files) == 3
            assert {p: mode(p) for p in files} == dict.fromkeys(files, oct(PRIVATE_FILE))
    finally:
        engine.dispose()
    assert mode(shared / "var") == mode(shared / "var" / "sub") == oct(PRIVATE_DIR)
    assert mode(shared) == oct(0o755), "a directory that was there already (it may be shared) is left as it is"


def test_an_sqlite_file_an_older_haven_left_readable_is_made_private(tmp_path):
    path = tmp_path / "gateway.sqlite3"
    path.touch(mode=0o644)
    os.chmod(path, 0o644)
    make_engine(f"sqlite:///{path}").dispose()
    assert mode(path) == oct(PRIVATE_FILE)


def test_the_local_vault_its_directories_and_its_files_are_private(tmp_path):
    os.makedirs(tmp_path / "vault", mode=0o755)  # as an older Haven left it
    os.chmod(tmp_path / "vault", 0o755)
    store = LocalDirectoryStore(str(tmp_path / "vault"))
    store.prepare()
    store.put("school-1/2026/doc-1", b"sealed")
    assert store.get("school-1/2026/doc-1") == b"sealed"
    for directory in ("vault", "vault/school-1", "vault/school-1/2026"):
        assert mode(tmp_path / directory) == oct(PRIVATE_DIR), directory
    assert mode(tmp_path / "vault" / "school-1" / "2026" / "doc-1") == oct(PRIVATE_FILE)


def test_the_development_mail_directory_and_its_messages_are_private(tmp_path):
    directory = tmp_path / "mail"
    handler = MaildirHandler(str(directory))
    envelope = SimpleNamespace(rcpt_tos=["dsl@demo.haven.test"], original_content=b"Subject: alert\r\n\r\nhi\r\n",
                               content=b"")
    assert asyncio.run(handler.handle_DATA(None, None, envelope)).startswith("250")
    messages = list(directory.glob("*.eml"))
    assert len(messages) == 1 and mode(directory) == oct(PRIVATE_DIR)
    assert mode(messages[0]) == oct(PRIVATE_FILE)
