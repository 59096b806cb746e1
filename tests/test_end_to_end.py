"""The foundation's slice over HTTP, through every real part: a teacher records a concern, the DSL
is e-mailed (without the account), reads it after the second factor; nobody else can."""
from __future__ import annotations

import re
import time
import uuid
from datetime import datetime, timedelta, timezone

DSL, SLT, TEACHER, TEACHER2 = ("dsl@demo.haven.test", "slt@demo.haven.test", "teacher@demo.haven.test",
                               "teacher2@demo.haven.test")


def ago(minutes: int) -> str:
    return (datetime.now(timezone.utc) - timedelta(minutes=minutes)).strftime("%Y-%m-%dT%H:%M:%SZ")


def category(api_client, name: str) -> dict:
    return next(c for c in api_client.get("/api/v1/categories").json() if c["name"] == name)


def record(client, account: str, category_name="Safeguarding", groups=("dsl",), **extra):
    pupil = client.get("/api/v1/pupils", params={"q": ""}).json()[0]
    body = {"pupil_id": pupil["id"], "occurred_at": ago(10), "account": account,
            "category_ids": [category(client, category_name)["id"]], "alert_user_ids": [],
            "alert_groups": list(groups), **extra}
    r = client.post("/api/v1/incidents", json=body)
    assert r.status_code == 201, r.text
    return r.json()


def test_teacher_records_dsl_is_emailed_without_the_account_and_reads_it(stack, api):
    teacher = api(TEACHER)
    marker = f"bruise-left-forearm-{uuid.uuid4().hex[:10]}"
    incident = record(teacher, f"Observed a bruise on the left forearm during PE. {marker}")
    assert incident["recorded_by"]["name"] == "Tom Archer"  # from the account, not typed

    mails = stack.mail.wait_for(lambda m: DSL in m[0] and f"/incidents/{incident['id']}" in m[1])
    assert mails, "no alert e-mail reached the DSL"
    body = mails[0][1]
    assert marker not in body and "bruise" not in body.lower()
    assert incident["pupil"]["name"] not in body
    assert "Tom Archer" in body and "Safeguarding" not in body  # the category only if the school allows it

    dsl = api(DSL)
    r = dsl.get(f"/api/v1/incidents/{incident['id']}")
    assert r.status_code == 200 and marker in r.json()["account"]
    alerts = dsl.get("/api/v1/alerts").json()
    assert any(a["incident_id"] == incident["id"] for a in alerts)


def test_teacher_cannot_read_another_teachers_incident(api):
    other = record(api(TEACHER2), "Said she had not had breakfast again this week.")
    teacher = api(TEACHER)
    assert teacher.get(f"/api/v1/incidents/{other['id']}").status_code == 403
    mine = record(teacher, "Arrived late and upset; said 'mum was shouting'.")
    assert teacher.get(f"/api/v1/incidents/{mine['id']}").status_code == 200


def test_dsl_must_give_the_second_factor_before_reading(api):
    incident = record(api(TEACHER), "Disclosed that an older child takes his lunch money.")
    half = api(DSL, totp=False)
    assert half.get(f"/api/v1/incidents/{incident['id']}").status_code == 401
    assert half.get("/api/v1/pupils").status_code == 401
    r = half.post("/api/v1/session/second-factor", json={"code": "000000"})
    assert r.status_code == 401


def test_slt_reads_behaviour_but_not_safeguarding(api):
    teacher = api(TEACHER)
    behaviour = record(teacher, "Threw a chair in the classroom.", category_name="Behaviour", groups=("slt",))
    safeguarding = record(teacher, "Has marks on the neck.")
    slt = api(SLT)
    assert slt.get(f"/api/v1/incidents/{behaviour['id']}").status_code == 200
    assert slt.get(f"/api/v1/incidents/{safeguarding['id']}").status_code == 403


def test_anonymous_and_cross_site_requests_are_refused(stack, api):
    anon = api()
    assert anon.get("/api/v1/pupils").status_code == 401
    assert anon.get("/api/v1/incidents/1").status_code == 401
    assert anon.post("/api/v1/incidents", json={}).status_code == 401
    teacher = api(TEACHER)
    r = teacher.http.post("/api/v1/incidents", json={"pupil_id": 1})  # no X-CSRF-Token
    assert r.status_code == 403
    r = teacher.http.post("/api/v1/session", json={"email": TEACHER, "password": "wrong"})
    assert r.status_code == 401


def test_bad_incidents_get_422_naming_each_field_and_save_nothing(api):
    teacher = api(TEACHER)
    pupil = teacher.get("/api/v1/pupils").json()[0]
    cats = [c["id"] for c in teacher.get("/api/v1/categories").json()]
    r = teacher.post("/api/v1/incidents", json={
        "pupil_id": pupil["id"], "occurred_at": "2999-01-01T00:00:00Z", "account": "  ",
        "category_ids": cats[:4], "alert_groups": ["everyone"]})
    assert r.status_code == 422
    fields = {e["field"] for e in r.json()["errors"]}
    assert {"occurred_at", "account", "category_ids", "alert_groups"} <= fields
    r = teacher.post("/api/v1/incidents", json={"pupil_id": 999999, "occurred_at": ago(5), "account": "x",
                                                "category_ids": cats[:1]})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "pupil_id"
    r = teacher.post("/api/v1/incidents", json={"pupil_id": "abc", "occurred_at": ago(5)})
    assert r.status_code == 422 and any(e["field"] == "pupil_id" for e in r.json()["errors"])
    r = teacher.post("/api/v1/incidents", json={"pupil_id": pupil["id"], "occurred_at": ago(5), "account": "x",
                                                "category_ids": cats[:1], "alert_user_ids": [424242]})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "alert_user_ids"


def test_documents_are_encrypted_in_s3_and_permission_checked(stack, api):
    import boto3
    teacher = api(TEACHER)
    incident = record(teacher, "Letter from the GP attached.")
    payload = b"%PDF-1.4 confidential letter " + uuid.uuid4().hex.encode()
    r = teacher.post(f"/api/v1/incidents/{incident['id']}/documents",
                     files={"file": ("Łukasz GP letter.pdf", payload, "application/pdf")})
    assert r.status_code == 201, r.text
    doc = r.json()
    assert doc["size"] == len(payload) and len(doc["sha256"]) == 64

    dsl = api(DSL)
    r = dsl.get(f"/api/v1/documents/{doc['id']}")
    assert r.status_code == 200 and r.content == payload
    assert "UTF-8''%C5%81ukasz%20GP%20letter.pdf" in r.headers["content-disposition"]
    assert api(TEACHER2).get(f"/api/v1/documents/{doc['id']}").status_code == 403

    s3 = boto3.client("s3", endpoint_url=stack.env["HAVEN_S3_ENDPOINT_URL"], region_name="eu-west-2",
                      aws_access_key_id="testing", aws_secret_access_key="testing")
    objects = s3.list_objects_v2(Bucket=stack.env["HAVEN_S3_BUCKET"]).get("Contents", [])
    stored = [s3.get_object(Bucket=stack.env["HAVEN_S3_BUCKET"], Key=o["Key"])["Body"].read() for o in objects]
    assert stored and all(b"confidential" not in blob for blob in stored)


def test_health_names_every_service_and_openapi_is_served(stack, api):
    r = api().get("/api/v1/health")
    assert r.status_code == 200
    assert r.json()["services"] == {s: "ok" for s in ("incidents", "alerts", "documents", "transfers")}
    spec = api().get("/api/v1/openapi.json").json()
    assert "/api/v1/incidents" in spec["paths"] and "/api/v1/session/second-factor" in spec["paths"]


def test_health_names_a_stopped_service(stack, api):
    stack.stop_process("transfers")
    try:
        r = api().get("/api/v1/health")
        assert r.status_code == 503
        assert r.json()["services"]["transfers"] != "ok" and "transfers" in r.json()["failing"]
    finally:
        stack.start_process("transfers")
        stack.wait_service("transfers")


def test_every_incident_read_is_audited(stack, api):
    import sqlalchemy as sa
    incident = record(api(TEACHER), "Audit me.")
    api(DSL).get(f"/api/v1/incidents/{incident['id']}")
    api(TEACHER2).get(f"/api/v1/incidents/{incident['id']}")
    engine = sa.create_engine(stack.databases["gateway"].replace("postgresql://", "postgresql+pg8000://"))
    with engine.connect() as conn:
        rows = conn.execute(sa.text("SELECT outcome FROM audit_log WHERE action='read_incident' AND object_id=:i"),
                            {"i": str(incident["id"])}).scalars().all()
    engine.dispose()
    assert sorted(rows) == ["ok", "refused:403"]


def test_a_submission_sent_twice_is_recorded_and_alerted_once(stack, api):
    teacher = api(TEACHER)
    pupil = teacher.get("/api/v1/pupils", params={"q": ""}).json()[0]
    body = {"pupil_id": pupil["id"], "occurred_at": ago(3), "account": "Retried after a time-out.",
            "category_ids": [category(teacher, "Safeguarding")["id"]]}
    key = {"Idempotency-Key": f"retry-{uuid.uuid4().hex}"}
    first = teacher.post("/api/v1/incidents", json=body, headers=dict(key))
    again = teacher.post("/api/v1/incidents", json=body, headers=dict(key))
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json()["id"] == first.json()["id"]
    link = f"/incidents/{first.json()['id']}"
    assert stack.mail.wait_for(lambda m: DSL in m[0] and link in m[1])
    time.sleep(2)  # room for a duplicate to arrive, were one sent
    sent = [b for b in stack.mail.to(DSL) if re.search(rf"{link}\b", b)]
    assert len(sent) == 1
