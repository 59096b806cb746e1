"""Backup and restore of the demo school with N incidents and M MB of documents: time and size.

    .venv/bin/python bench/backup.py [--incidents 200] [--megabytes 20] [--document-kb 512] [--clients 4]

Starts a whole Haven the way the cross-service tests do (tests/stack.py: fresh PostgreSQL databases, moto's
S3 server, its own RabbitMQ vhost), records the incidents through the API as the demo teacher and attaches
the documents (random bytes, --document-kb each, spread over the incidents), then times
`deploy.backup`'s create (every database with pg_dump, the vault object by object, the sealed key file),
a restore into fresh databases and a fresh bucket, and the verification on its own (row counts, every
document opened with the master key and matched to its SHA-256, the audit chain). The issue's figures
are for --incidents 10000 --megabytes 1024. Prints figures; asserts nothing. The load average is
printed too: on a shared machine other work shows in the figures.
"""
from __future__ import annotations

import argparse
import logging
import os
import shutil
import sys
import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
from deploy.backup import operations  # noqa: E402
from deploy.backup.system import KEY_VARIABLES, Locations  # noqa: E402
from services.common.testing import create_database, drop_database  # noqa: E402
from tests.client import Api  # noqa: E402
from tests.stack import Stack  # noqa: E402

TEACHER = "teacher@demo.haven.test"
SERVICES = ("gateway", "incidents", "alerts", "documents", "transfers")
PASSPHRASE = "a passphrase for the benchmark's key file"


def fill(stack: Stack, incidents: int, megabytes: int, document_kb: int, clients: int) -> tuple[int, int]:
    """Record the incidents and attach the documents, `clients` at a time; (incidents, documents)."""
    teacher = Api(stack.base_url).login(TEACHER)
    pupils = [p["id"] for p in teacher.get("/api/v1/pupils", params={"q": ""}).json()]
    category = next(c["id"] for c in teacher.get("/api/v1/categories").json() if c["name"] == "Medical")
    occurred = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() - 3600))

    def one(n: int) -> int:
        r = teacher.post("/api/v1/incidents", json={
            "pupil_id": pupils[n % len(pupils)], "occurred_at": occurred, "category_ids": [category],
            "account": f"Benchmark concern {n}: complained of a headache after lunch and went to the office."})
        assert r.status_code == 201, r.text
        return r.json()["id"]

    def attach(n: int, incident_id: int) -> None:
        content = os.urandom(document_kb * 1024)
        r = teacher.post(f"/api/v1/incidents/{incident_id}/documents",
                         files={"file": (f"letter-{n}.pdf", content, "application/pdf")})
        assert r.status_code == 201, r.text

    documents = megabytes * 1024 // document_kb
    with ThreadPoolExecutor(clients) as pool:
        ids = list(pool.map(one, range(incidents)))
        list(pool.map(attach, range(documents), (ids[n % len(ids)] for n in range(documents))))
    teacher.http.close()
    return len(ids), documents


def size(folder: str) -> int:
    return sum(os.path.getsize(os.path.join(d, n)) for d, _, names in os.walk(folder) for n in names)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--incidents", type=int, default=200)
    parser.add_argument("--megabytes", type=int, default=20, help="of documents, in all")
    parser.add_argument("--document-kb", type=int, default=512, help="the size of each document")
    parser.add_argument("--clients", type=int, default=4, help="recording and uploading at once")
    args = parser.parse_args()
    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # moto's server would log every request
    stack = Stack().start()
    target, into = None, tempfile.mkdtemp(prefix="haven-bench-backup-")
    try:
        os.environ.update({k: stack.env[k] for k in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_DEFAULT_REGION")})
        started = time.monotonic()
        incidents, documents = fill(stack, args.incidents, args.megabytes, args.document_kb, args.clients)
        print(f"recorded {incidents} incidents and {documents} documents of {args.document_kb} KiB "
              f"in {time.monotonic() - started:.1f} s")
        s3 = {"vault_backend": "s3", "s3_endpoint_url": stack.env["HAVEN_S3_ENDPOINT_URL"],
              "s3_region": stack.env["AWS_DEFAULT_REGION"]}
        source = Locations(**{f"{s}_database_url": stack.databases[s] for s in SERVICES},
                           s3_bucket=stack.env["HAVEN_S3_BUCKET"], **s3)
        keys = {name: stack.env[name] for name in KEY_VARIABLES if name in stack.env}
        made = operations.create(source, into, keys, PASSPHRASE)
        by_part = {s: e["file"]["bytes"] for s, e in made.manifest["databases"].items()}
        print(f"create: {made.seconds:.1f} s, {size(made.folder) / 1e6:.1f} MB "
              f"(databases {sum(by_part.values()) / 1e6:.1f} MB: {by_part}; vault {made.manifest['vault']['bytes'] / 1e6:.1f} MB "
              f"in {len(made.manifest['vault']['objects'])} objects)")
        target = Locations(**{f"{s}_database_url": create_database(f"haven_bench_restore_{s}") for s in SERVICES},
                           s3_bucket=f"haven-bench-restore-{uuid.uuid4().hex[:8]}", **s3)
        started = time.monotonic()
        findings = operations.restore(made.folder, target, PASSPHRASE)
        restored = time.monotonic() - started
        started = time.monotonic()
        again = operations.verify(made.folder, target, stack.env["HAVEN_MASTER_KEY"])
        verified = time.monotonic() - started
        print(f"restore (with its verification): {restored:.1f} s; verification alone: {verified:.1f} s; "
              f"{'intact' if findings.intact and again.intact else 'PROBLEMS: ' + '; '.join((findings.problems + again.problems)[:5])}")
        print(f"load average: {' '.join(f'{x:.2f}' for x in os.getloadavg())} ({os.cpu_count()} cores)")
    finally:
        if target:
            for url in target.databases.values():
                drop_database(url)
        shutil.rmtree(into, ignore_errors=True)
        stack.stop()


if __name__ == "__main__":
    main()
