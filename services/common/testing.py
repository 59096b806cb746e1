"""Test helpers shared by the services' own tests and the cross-service tests in tests/."""
from __future__ import annotations

import os
import uuid
from contextlib import contextmanager

import pg8000.native

from .keys import OWNERS, SigningKey

PG_HOST = os.environ.get("HAVEN_TEST_PG_HOST", "127.0.0.1")
PG_PORT = int(os.environ.get("HAVEN_TEST_PG_PORT", "5432"))
PG_USER = os.environ.get("HAVEN_TEST_PG_USER", "postgres")


def _admin():
    return pg8000.native.Connection(PG_USER, host=PG_HOST, port=PG_PORT, database="postgres")


def create_database(prefix: str) -> str:
    """A fresh, empty PostgreSQL database; returns its URL."""
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    conn = _admin()
    try:
        conn.run(f'CREATE DATABASE "{name}"')
    finally:
        conn.close()
    return f"postgresql://{PG_USER}@{PG_HOST}:{PG_PORT}/{name}"


def drop_database(url: str) -> None:
    name = url.rsplit("/", 1)[-1]
    conn = _admin()
    try:
        conn.run(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        conn.close()


@contextmanager
def fresh_database(prefix: str):
    url = create_database(prefix)
    try:
        yield url
    finally:
        drop_database(url)



def _test_keys() -> dict[str, SigningKey]:
    """One key per process for the unit tests, made afresh each run and handed down (through the
    environment) to the processes a test starts, so a test and its service trust the same keys. The
    whole-stack tests make their own (tests/stack.py) and do not pass this one on."""
    if "HAVEN_TEST_KEYS" not in os.environ:
        os.environ["HAVEN_TEST_KEYS"] = ";".join(SigningKey.generate(owner).text() for owner in OWNERS)
    keys = [SigningKey.parse(text) for text in os.environ["HAVEN_TEST_KEYS"].split(";")]
    return {key.owner: key for key in keys}


TEST_KEYS = _test_keys()
TEST_PUBLIC_KEYS = ",".join(key.public_text() for key in TEST_KEYS.values())


def key_settings(owner: str | None = None) -> dict:
    """Settings fields for a process's keys in a unit test: `Settings(**key_settings("alerts"), …)`."""
    fields = {"public_keys": TEST_PUBLIC_KEYS}
    if owner is not None:
        fields[f"{owner}_signing_key"] = TEST_KEYS[owner].text()
    return fields


TEST_SECRETS_KEY = "dGVzdC1zZWNyZXRzLWtleS10ZXN0LXNlY3JldHMta2U="  # base64 of 32 bytes, tests only
