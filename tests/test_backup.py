"""Backup and restore (`python -m deploy.backup`), round trip on real PostgreSQL and moto's S3 server: staff
record concerns with a document, an amendment and actions through the whole stack; the command backs
it up; it is restored into fresh databases and a fresh bucket and checked (row counts, every document
opened and matched to its SHA-256, the audit chain); the DSL reads every record back from the restored
databases as it read them from the originals. A changed backup, a wrong passphrase and a target that
already holds data are refused, and nothing is written."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import uuid

import pytest
from sqlalchemy import select, text

from deploy.backup import manifest as backup_manifest
from deploy.backup import operations
from deploy.backup.keyfile import KeyFileRefused
from deploy.backup.manifest import BackupRefused
from deploy.backup.system import Locations
from deploy.backup.verify import check_system
from services.common.actor import DSL, Actor
from services.common.db import make_engine, session_factory
from services.common.testing import create_database, drop_database
from services.documents.models import Document
from services.documents.vault import Vault, decode_master_key
from services.incidents.chronology.entries import read_chronology
from services.incidents.follow_up.actions import list_incident_actions
from services.incidents.record.incidents import get_incident

from .client import Api, eventually
from .stack import ROOT

TEACHER, DSL_EMAIL = "teacher@demo.haven.test", "dsl@demo.haven.test"
PASSPHRASE = "a long passphrase for the test key file"
SERVICES = ("gateway", "incidents", "alerts", "documents", "transfers")


def signed_in(stack, clients: dict, email: str) -> Api:
    """One signed-in client per account for the run, shared with the other modules (a TOTP code is good once)."""
    if email not in clients:
        clients[email] = Api(stack.base_url).login(email)
    return clients[email]


def ok(response, status: int = 200):
    assert response.status_code == status, response.text
    return response.json()


@pytest.fixture(scope="module")
def aws(stack):
    """This process talks to moto as the documents service does."""
    with pytest.MonkeyPatch.context() as patch:
        for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_DEFAULT_REGION"):
            patch.setenv(name, stack.env[name])
        yield


@pytest.fixture(scope="module")
def recorded(stack, _signed_in, aws):
    """Three concerns, one with a document, an amendment and two actions, as staff would make them."""
    teacher, dsl = signed_in(stack, _signed_in, TEACHER), signed_in(stack, _signed_in, DSL_EMAIL)
    pupil = teacher.get("/api/v1/pupils", params={"q": ""}).json()[0]
    category = next(c["id"] for c in teacher.get("/api/v1/categories").json() if c["name"] == "Safeguarding")
    marker = uuid.uuid4().hex[:8]
    incidents = [ok(teacher.post("/api/v1/incidents", json={
        "pupil_id": pupil["id"], "occurred_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() - 600)),
        "account": f"Backup test {marker}: {text}", "category_ids": [category], "alert_groups": ["dsl"]}), 201)
        for text in ("Said he was hungry all weekend.", "A bruise on the wrist.", "Upset after a phone call.")]
    first = incidents[0]["id"]
    letter = b"%PDF-1.4 letter from the GP " + marker.encode() + os.urandom(2048)
    document = ok(teacher.post(f"/api/v1/incidents/{first}/documents",
                               files={"file": ("GP letter.pdf", letter, "application/pdf")}), 201)
    ok(dsl.post(f"/api/v1/incidents/{first}/amendments", json={
        "field": "account", "new_value": f"Backup test {marker}: said he was hungry all weekend (confirmed).",
        "reason": "Confirmed with the TA."}), 201)
    ok(dsl.post(f"/api/v1/incidents/{first}/actions", json={"description": "Spoke to mum at pick-up."}), 201)
    ok(teacher.post(f"/api/v1/incidents/{incidents[1]['id']}/actions", json={"description": "Told the DSL."}), 201)
    # The document reaches the chronology by an event: wait for it, so the originals stop changing.
    chronology = f"/api/v1/pupils/{pupil['id']}/chronology"
    assert eventually(lambda: document["id"] in json.dumps(dsl.get(chronology).json())), "document not chronicled"
    dsl_actor = Actor(user_id=dsl.user["id"], school_id=_school_of(stack, first), name=dsl.user["name"],
                      roles=(DSL,), second_factor_at=time.time(), step_up_until=time.time() + 3600)
    return {"incidents": [i["id"] for i in incidents], "pupil_id": pupil["id"], "dsl": dsl_actor,
            "documents": {document["id"]: letter}}


def _school_of(stack, incident_id: int) -> int:
    engine = make_engine(stack.databases["incidents"], pooled=False)
    try:
        with engine.connect() as conn:
            return conn.execute(text("SELECT school_id FROM incidents WHERE id = :id"), {"id": incident_id}).scalar_one()
    finally:
        engine.dispose()


@pytest.fixture(scope="module")
def made(stack, recorded, tmp_path_factory):
    """The command itself, as cron would run it: everything from the environment the processes read."""
    into = tmp_path_factory.mktemp("backups")
    env = {**stack.env, "HAVEN_BACKUP_PASSPHRASE": PASSPHRASE}
    started = time.monotonic()
    done = subprocess.run([sys.executable, "-m", "deploy.backup", "create", "--to", str(into)], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    (name,) = os.listdir(into)
    folder = str(into / name)
    print(f"\nbackup: {time.monotonic() - started:.2f} s (command, with start-up), {_size(folder)} bytes; "
          f"{done.stdout.strip()}")
    return folder


def _size(folder: str) -> int:
    return sum(os.path.getsize(os.path.join(d, n)) for d, _, names in os.walk(folder) for n in names)


def _fresh_target(stack) -> Locations:
    return Locations(**{f"{s}_database_url": create_database(f"haven_restore_{s}") for s in SERVICES},
                     vault_backend="s3", s3_bucket=f"haven-restore-{uuid.uuid4().hex[:10]}",
                     s3_endpoint_url=stack.env["HAVEN_S3_ENDPOINT_URL"], s3_region=stack.env["AWS_DEFAULT_REGION"])


@pytest.fixture(scope="module")
def restored(stack, made, aws):
    target = _fresh_target(stack)
    try:
        started = time.monotonic()
        findings = operations.restore(made, target, PASSPHRASE)
        print(f"\nrestore and verify: {time.monotonic() - started:.2f} s")
        yield target, findings
    finally:
        for url in target.databases.values():
            drop_database(url)


def _source(stack) -> Locations:
    return Locations(**{f"{s}_database_url": stack.databases[s] for s in SERVICES}, vault_backend="s3",
                     s3_bucket=stack.env["HAVEN_S3_BUCKET"], s3_endpoint_url=stack.env["HAVEN_S3_ENDPOINT_URL"],
                     s3_region=stack.env["AWS_DEFAULT_REGION"])


def _as_the_dsl(url: str, recorded: dict) -> dict:
    """Every record the test made, read through the incidents service's own rules as the DSL."""
    engine = make_engine(url, pooled=False)
    try:
        with session_factory(engine)() as session:
            dsl = recorded["dsl"]
            return {"incidents": [get_incident(session, dsl, i) for i in recorded["incidents"]],
                    "actions": [list_incident_actions(session, dsl, i) for i in recorded["incidents"]],
                    "chronology": read_chronology(session, dsl, recorded["pupil_id"])}
    finally:
        engine.dispose()


def _documents(where: Locations, master_key: str, ids) -> dict[str, bytes]:
    vault = Vault(where.store(), decode_master_key(master_key))
    engine = make_engine(where.documents_database_url, pooled=False)
    try:
        with session_factory(engine)() as session:
            rows = session.scalars(select(Document).where(Document.id.in_(list(ids))))
            return {d.id: vault.get(d.storage_key, d.id, d.wrapped_key, d.nonce) for d in rows}
    finally:
        engine.dispose()


def test_a_restored_haven_holds_every_record_and_document_as_the_dsl_reads_them(stack, recorded, made, restored):
    target, findings = restored
    assert findings.intact, findings.problems
    assert any(line.startswith("audit log:") and "intact" in line for line in findings.checked)
    found = backup_manifest.check(made)
    assert found["databases"]["incidents"]["tables"]["amendments"] >= 1
    assert found["databases"]["gateway"]["audit_head"]["hash"]
    assert {d["kind"] for d in found["databases"].values()} == {"postgresql"}

    original = _as_the_dsl(stack.databases["incidents"], recorded)
    again = _as_the_dsl(target.incidents_database_url, recorded)
    assert again == original
    first = again["incidents"][0]
    assert "(confirmed)" in json.dumps(first) and len(again["actions"][0]) == 1
    assert _documents(target, stack.env["HAVEN_MASTER_KEY"], recorded["documents"]) == recorded["documents"]

    # The check finds what is not there: a vault object lost after the restore.
    key = next(o["key"] for o in found["vault"]["objects"] if o["key"].endswith(next(iter(recorded["documents"]))))
    s3 = target.store()
    kept = s3.get(key)
    s3.client.delete_object(Bucket=s3.bucket, Key=key)
    try:
        lost = check_system(found, target, decode_master_key(stack.env["HAVEN_MASTER_KEY"]))
        assert not lost.intact and any("does not open" in p for p in lost.problems)
    finally:
        s3.put(key, kept)


def test_the_key_file_restores_the_keys_and_says_nothing_in_clear(stack, made, tmp_path):
    with open(os.path.join(made, operations.KEY_FILE), "rb") as f:
        sealed = f.read()
    assert stack.env["HAVEN_MASTER_KEY"].encode() not in sealed and b"HAVEN_MASTER_KEY" not in sealed
    keys = operations.open_keys(made, backup_manifest.check(made), PASSPHRASE)
    for name in ("HAVEN_MASTER_KEY", "HAVEN_SECRETS_KEY", "HAVEN_PUBLIC_KEYS", "HAVEN_GATEWAY_SIGNING_KEY"):
        assert keys[name] == stack.env[name]


def _empty_target(tmp_path) -> Locations:
    return Locations(**{f"{s}_database_url": f"sqlite:///{tmp_path}/{s}.sqlite3" for s in SERVICES},
                     vault_backend="local", vault_dir=str(tmp_path / "vault"))


def test_a_wrong_passphrase_is_refused_and_nothing_is_written(made, tmp_path):
    with pytest.raises(KeyFileRefused, match="passphrase does not open"):
        operations.restore(made, _empty_target(tmp_path), "not the passphrase at all")
    assert os.listdir(tmp_path) == []


def test_a_changed_backup_is_refused_and_nothing_is_written(made, tmp_path):
    copy = str(tmp_path / "copy")
    shutil.copytree(made, copy)
    target = tmp_path / "target"
    target.mkdir()
    dump = os.path.join(copy, "databases", "incidents.pgdump")
    with open(dump, "r+b") as f:
        f.seek(200)
        byte = f.read(1)
        f.seek(200)
        f.write(bytes([byte[0] ^ 1]))
    with pytest.raises(BackupRefused, match="databases/incidents.pgdump: its SHA-256 does not match"):
        operations.restore(copy, _empty_target(target), PASSPHRASE)
    done = subprocess.run([sys.executable, "-m", "deploy.backup", "verify", "--files-only", copy], cwd=ROOT,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and "incidents.pgdump" in done.stderr

    # Someone who also rewrites the checksums and the manifest is stopped by the key file, which was
    # sealed (with the passphrase) over the data as it was.
    found = json.load(open(os.path.join(copy, backup_manifest.MANIFEST)))
    found["databases"]["incidents"]["file"] = backup_manifest.describe(copy, "databases/incidents.pgdump")
    for name in (backup_manifest.MANIFEST, backup_manifest.SUMS):
        os.unlink(os.path.join(copy, name))
    backup_manifest.write(copy, found)
    assert backup_manifest.check(copy)
    with pytest.raises(BackupRefused, match="not what it was sealed with"):
        operations.restore(copy, _empty_target(target), PASSPHRASE)
    assert os.listdir(target) == []


def test_a_haven_that_holds_data_is_restored_over_only_when_forced(made, restored):
    target, _ = restored
    with pytest.raises(BackupRefused, match="not empty: the gateway database has tables.*the vault"):
        operations.restore(made, target, PASSPHRASE)
    # Unless told to: then each database is replaced whole (pg_restore --clean) and checked again.
    assert operations.restore(made, target, PASSPHRASE, force=True).intact


def test_create_asks_for_a_passphrase_it_is_never_given_as_an_argument(stack, tmp_path):
    env = {name: value for name, value in stack.env.items() if name != "HAVEN_BACKUP_PASSPHRASE"}
    done = subprocess.run([sys.executable, "-m", "deploy.backup", "create", "--to", str(tmp_path)], cwd=ROOT, env=env,
                          stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and "HAVEN_BACKUP_PASSPHRASE" in done.stderr, done.stderr
    done = subprocess.run([sys.executable, "-m", "deploy.backup", "create", "--to", str(tmp_path)], cwd=ROOT,
                          env={**env, "HAVEN_BACKUP_PASSPHRASE": "short"}, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and "at least" in done.stderr, done.stderr
    assert os.listdir(tmp_path) == []
