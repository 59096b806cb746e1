"""The audit trail through a whole Haven with two gateways on one database: staff record and the DSL
reads at the same time through both, and the chain stays one line (`python -m services.gateway.audit
verify` passes); every write and read is there with its actor, the pupil's panel shows who looked,
no entry holds a record's text, and the application's own connection cannot change the log."""
from __future__ import annotations

import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta, timezone

import pytest
import sqlalchemy as sa

from services.gateway import audit

from .client import Api
from .stack import Stack

DSL, TEACHER, TEACHER2 = "dsl@demo.haven.test", "teacher@demo.haven.test", "teacher2@demo.haven.test"
EACH = 6


@pytest.fixture(scope="module")
def stack2():
    s = Stack(instances=2)
    try:
        yield s.start()
    finally:
        s.stop()


def gateway_engine(stack):
    return sa.create_engine(stack.databases["gateway"].replace("postgresql://", "postgresql+pg8000://"))


def record(client: Api, pupil_id: int, category_id: int, account: str) -> dict:
    occurred = (datetime.now(timezone.utc) - timedelta(minutes=5)).strftime("%Y-%m-%dT%H:%M:%SZ")
    r = client.post("/api/v1/incidents", json={"pupil_id": pupil_id, "occurred_at": occurred, "account": account,
                                               "category_ids": [category_id], "alert_user_ids": [],
                                               "alert_groups": []})
    assert r.status_code == 201, r.text
    return r.json()


def test_two_gateways_keep_one_chain_and_the_dsl_sees_who_looked(stack2, capsys):
    first, second = stack2.base_urls
    teacher, teacher2 = Api(first).login(TEACHER), Api(second).login(TEACHER2)
    dsl = Api(first).login(DSL)
    dsl2 = Api(second)
    dsl2.http.cookies, dsl2.csrf = dsl.http.cookies, dsl.csrf  # the same session through the other gateway
    pupil = teacher.get("/api/v1/pupils", params={"q": ""}).json()[0]
    category = next(c for c in teacher.get("/api/v1/categories").json() if c["name"] == "Behaviour")
    marker = f"secret-account-{uuid.uuid4().hex[:8]}"

    with ThreadPoolExecutor(max_workers=4) as pool:
        recorded = list(pool.map(lambda n: record((teacher, teacher2)[n % 2], pupil["id"], category["id"],
                                                  f"{marker} {n}"), range(2 * EACH)))
        reads = list(pool.map(lambda n: (dsl, dsl2)[n % 2].get(f"/api/v1/incidents/{recorded[n]['id']}"),
                              range(len(recorded))))
    assert [r.status_code for r in reads] == [200] * len(recorded)

    assert audit.main(["verify", "--database-url", stack2.databases["gateway"]]) == 0
    assert "the chain is intact" in capsys.readouterr().out

    panel = dsl.get(f"/api/v1/pupils/{pupil['id']}/audit")
    assert panel.status_code == 200, panel.text
    seen = {(e["action"], e["object_id"]) for e in panel.json()}
    for incident in recorded:
        assert ("read_incident", str(incident["id"])) in seen
        assert ("record_incident", str(incident["id"])) in seen  # the pupil from the saved record's answer
    readers = {e["name"] for e in panel.json() if e["action"] == "read_incident"}
    assert readers == {dsl.user["name"]}

    engine = gateway_engine(stack2)
    try:
        with engine.connect() as conn:
            rows = conn.execute(sa.text("SELECT * FROM audit_log")).mappings().all()
            written = {r["object_id"] for r in rows if r["action"] == "record_incident" and r["outcome"] == "ok"}
            assert {str(i["id"]) for i in recorded} <= written
            assert not [r for r in rows if marker in str(dict(r).values())]
        with engine.connect() as conn, pytest.raises(sa.exc.DBAPIError, match="append-only"):
            conn.execute(sa.text("UPDATE audit_log SET outcome = 'ok'"))
    finally:
        engine.dispose()
    for client in (teacher, teacher2, dsl, dsl2):
        client.http.close()
