"""The incident tray over HTTP through every real part: the DSL makes an integration, the monitoring
system posts alerts with its key, the DSL attaches one and dismisses another; a revoked key is
refused. Then a document attached to the incident appears in the pupil's chronology (by event)."""
from __future__ import annotations

import uuid
from datetime import datetime, timedelta, timezone

import httpx
from sqlalchemy import text

from services.common.db import make_engine

from .client import eventually

DSL, TEACHER = "dsl@demo.haven.test", "teacher@demo.haven.test"
# A real 1x1 PNG: the vault decides a file's type by its content.
SCREENSHOT = (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x02\x00\x00\x00\x90wS\xde"
              b"\x00\x00\x00\x0cIDATx\x9cc\xf8\xcf\xc0\x00\x00\x03\x01\x01\x00\xc9\xfe\x92\xef\x00\x00\x00\x00IEND\xaeB`\x82")


def ago(minutes: int) -> str:
    return (datetime.now(timezone.utc) - timedelta(minutes=minutes)).strftime("%Y-%m-%dT%H:%M:%SZ")


def post_alert(stack, key: str | None, **body) -> httpx.Response:
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    return httpx.post(f"{stack.base_url}/api/v1/tray/alerts", json=body, headers=headers, timeout=30)


def alert(upn: str, **extra) -> dict:
    return {"external_id": f"sw-{uuid.uuid4().hex[:12]}", "pupil_identifier": upn, "severity": "high",
            "summary": "Searched for self-harm methods on a school laptop.", "occurred_at": ago(20), **extra}


def test_monitoring_alerts_reach_the_dsl_tray_and_become_incidents(stack, api):
    dsl, teacher = api(DSL), api(TEACHER)
    name = f"Smoothwall {uuid.uuid4().hex[:6]}"
    r = dsl.post("/api/v1/integrations", json={"name": name})
    assert r.status_code == 201, r.text
    made = r.json()
    key = made["api_key"]
    assert key.startswith("hvn_") and made["name"] == name
    listed = {i["id"]: i for i in dsl.get("/api/v1/integrations").json()}
    assert listed[made["id"]]["key_prefix"] == key[:8] and key not in str(listed)

    # Who may manage integrations and see the tray.
    assert teacher.post("/api/v1/integrations", json={"name": "Mine"}).status_code == 403
    assert teacher.get("/api/v1/tray").status_code == 403
    assert teacher.get("/api/v1/integrations").status_code == 403

    pupil = dsl.get("/api/v1/pupils", params={"q": ""}).json()[0]
    body = alert(pupil["upn"])
    r = post_alert(stack, key, **body)
    assert r.status_code == 201, r.text
    receipt = r.json()
    assert receipt["matched"] is True and receipt["status"] == "pending" and set(receipt) == {"id", "status",
                                                                                               "matched"}
    again = post_alert(stack, key, **body)
    assert again.status_code == 200 and again.json() == receipt  # idempotent on external_id

    # A high-severity alert is e-mailed to the DSL team at once — without the summary or the pupil.
    mails = stack.mail.wait_for(lambda m: "dsl@demo.haven.test" in m[0] and "/tray" in m[1]
                                and "an alert of high severity" in " ".join(m[1].split()))
    assert mails and all("self-harm" not in body_ and pupil["name"] not in body_ for _, body_ in mails)

    unmatched = post_alert(stack, key, **alert("ADM-0417"))
    assert unmatched.status_code == 201 and unmatched.json()["matched"] is False

    bad = post_alert(stack, key, **alert(pupil["upn"], severity="severe", summary="", occurred_at=ago(-120)))
    assert bad.status_code == 422
    assert {e["field"] for e in bad.json()["errors"]} == {"severity", "summary", "occurred_at"}

    # The key, and only the key, authenticates: no key, a wrong key, a DSL's cookie without a key.
    missing = post_alert(stack, None, **body)
    assert missing.status_code == 401 and "Bearer" in missing.json()["detail"]
    assert post_alert(stack, key[:-2] + "zz", **body).status_code == 401
    assert dsl.post("/api/v1/tray/alerts", json=body).status_code == 401

    tray = dsl.get("/api/v1/tray").json()
    shown = next(i for i in tray if i["id"] == receipt["id"])
    assert shown["pupil"]["id"] == pupil["id"] and shown["integration"]["name"] == name
    assert shown["severity"] == "high" and shown["summary"] == body["summary"]

    online = next(c for c in dsl.get("/api/v1/categories").json() if c["name"] == "Online safety")
    r = dsl.post(f"/api/v1/tray/{receipt['id']}/attach", json={"category_ids": [online["id"]],
                                                                 "note": "Spoke to the pupil at 11:00."})
    assert r.status_code == 200, r.text
    incident = r.json()["incident"]
    assert r.json()["tray_item"]["status"] == "attached" and r.json()["tray_item"]["incident_id"] == incident["id"]
    read = dsl.get(f"/api/v1/incidents/{incident['id']}").json()
    assert read["pupil_id"] == pupil["id"] and read["account"].startswith(f"Online-monitoring alert from {name}")
    assert dsl.post(f"/api/v1/tray/{receipt['id']}/attach",
                    json={"category_ids": [online["id"]]}).status_code == 409

    r = dsl.post(f"/api/v1/tray/{unmatched.json()['id']}/dismiss", json={"reason": ""})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "reason"
    r = dsl.post(f"/api/v1/tray/{unmatched.json()['id']}/dismiss", json={"reason": "Not one of our pupils."})
    assert r.status_code == 200 and r.json()["status"] == "dismissed"
    assert all(i["id"] not in (receipt["id"], unmatched.json()["id"]) for i in dsl.get("/api/v1/tray").json())

    # Revoked: the key stops working at once; the integration is kept, inactive.
    r = dsl.request("DELETE", f"/api/v1/integrations/{made['id']}")
    assert r.status_code == 200 and r.json()["active"] is False
    refused = post_alert(stack, key, **alert(pupil["upn"]))
    assert refused.status_code == 401 and "revoked" in refused.json()["detail"]

    # A document attached to the incident joins the pupil's chronology through documents' event.
    r = dsl.post(f"/api/v1/incidents/{incident['id']}/documents",
                 files={"file": ("screenshot.png", SCREENSHOT, "image/png")})
    assert r.status_code == 201, r.text
    document_id = r.json()["id"]
    engine = make_engine(stack.databases["incidents"])
    try:
        def entries():
            with engine.connect() as conn:
                return conn.execute(text(
                    "SELECT pupil_id, incident_id, title FROM chronology WHERE entry_type = 'document' "
                    "AND ref_id = :ref"), {"ref": document_id}).all()
        found = eventually(entries, timeout=20)
    finally:
        engine.dispose()
    assert [tuple(row) for row in found] == [(pupil["id"], incident["id"], "Document attached")]
