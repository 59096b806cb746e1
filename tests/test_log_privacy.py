"""No pupil's name and no record's text in any log (DESIGN.md, "Operating it"; issue 10, "Watching it run").

A Haven of its own runs the day's flow through the API as the demo staff: a teacher records concerns
(one urgent) that name several pupils, with a unique marker in each account; the DSL reads them,
amends one, adds an action, a decision and an outcome, a household member, reads the chronology and
the front sheet; a document whose name and content carry markers goes up and comes down; the roll is
searched by a pupil's name (API and web page); a 422 echoes a pupil's name in a field. Then the error
paths: RPC messages and events that are malformed, undecodable or forged, each carrying a pupil's name
and a marker. Every line every process wrote is then searched for the roll's names, the household's
names, the UPNs and the markers.

Names are whole words, case-insensitive; a word of a staff member's name ("Sam" is also a pupil's
preferred name) is left out, since staff names may be logged.
"""
from __future__ import annotations

import re
import uuid
from datetime import datetime, timedelta, timezone

import kombu.exceptions
import kombu.serialization
import pika
import pyotp
import pytest

from services.common.nameko_ext import decode_problem
from services.common.topology import DEAD_LETTER, handler_queues, rpc_queue
from services.gateway.seed import DEMO_STAFF

from .client import DEMO_TOTP, Api, eventually
from .stack import Stack

DSL, TEACHER, TA = "dsl@demo.haven.test", "teacher@demo.haven.test", "ta@demo.haven.test"
MARK = f"zq{uuid.uuid4().hex[:10]}"  # in every text we write, so any echo of it is found


def marked(what: str) -> str:
    return f"{what}-{MARK}"


@pytest.fixture(scope="module")
def haven():
    s = Stack()
    try:
        yield s.start()
    finally:
        s.stop()


def ago(minutes: int) -> str:
    return (datetime.now(timezone.utc) - timedelta(minutes=minutes)).strftime("%Y-%m-%dT%H:%M:%SZ")


def ok(response, status: int = 200):
    assert response.status_code == status, response.text
    return response.json()


def sign_in_dsl(base_url: str) -> Api:
    """The DSL with the second factor: this stack's database has seen no code yet, so the current one
    does (no wait for a fresh step, as tests.client.fresh_totp would on a shared stack)."""
    dsl = Api(base_url).login(DSL, totp=False)
    ok(dsl.post("/api/v1/session/second-factor", json={"code": pyotp.TOTP(DEMO_TOTP).now()}))
    return dsl


def staff_words() -> set[str]:
    return {word.lower() for name, *_ in DEMO_STAFF for word in name.split()}


def name_words(names) -> set[str]:
    """The words of people's names (capitalised, apostrophes and hyphens kept: O'Brien), less staff's."""
    return {w for name in names for w in re.findall(r"[A-Z][\w'-]+", name) if w.lower() not in staff_words()}


def whole_words(words) -> re.Pattern:
    alternatives = "|".join(re.escape(w) for w in sorted(words, key=len, reverse=True))
    return re.compile(rf"(?<![\w'-])(?:{alternatives})(?![\w'-])", re.IGNORECASE)


def leaks(logs: dict[str, str], *patterns: re.Pattern) -> list[str]:
    """Each line that any pattern finds, once, named by its process (cut short: it is a leak)."""
    return [f"{name}: {line[:300]}" for name, text in logs.items() for line in text.splitlines()
            if any(p.search(line) for p in patterns)]


def publish(amqp_uri: str, exchange: str, routing_key: str, body: bytes, **properties) -> None:
    connection = pika.BlockingConnection(pika.URLParameters(amqp_uri))
    try:
        channel = connection.channel()
        channel.confirm_delivery()
        channel.basic_publish(exchange, routing_key, body, pika.BasicProperties(**properties))
    finally:
        connection.close()


def run_the_day(haven: Stack) -> dict:
    """The flow; returns what the logs must not hold: {"names": [...], "upns": [...]}."""
    teacher, ta, dsl = Api(haven.base_url).login(TEACHER), Api(haven.base_url).login(TA), sign_in_dsl(haven.base_url)
    try:
        roll = sorted(ok(dsl.get("/api/v1/pupils", params={"q": "", "limit": 100})), key=lambda p: p["id"])
        assert len(roll) >= 8
        pupils = roll[:4]  # the seed's first four: two of them have households on file
        categories = {c["name"]: c["id"] for c in ok(teacher.get("/api/v1/categories"))}
        tariq = next(s["id"] for s in ok(teacher.get("/api/v1/staff", params={"q": "Tariq"})) if s["name"] == "Tariq Bell")

        # The teacher's concerns: the account names the pupil (as real accounts do), one is urgent.
        incidents = []
        for n, pupil in enumerate(pupils):
            body = {"pupil_id": pupil["id"], "occurred_at": ago(30 + n),
                    "account": f"{pupil['name']} said {marked(f'account{n}')} and cried at {roll[5]['name']}'s table.",
                    "category_ids": [categories["Safeguarding" if n % 2 == 0 else "Behaviour"]],
                    "alert_user_ids": [tariq], "urgent": n == 0,
                    "linked_pupils": [{"pupil_id": roll[6]["id"], "role": "witness"}]}
            incidents.append(ok(teacher.post("/api/v1/incidents", json=body), 201))
        first = incidents[0]["id"]

        # A document whose name and content say who it is about.
        content = f"%PDF-1.4 letter about {pupils[0]['name']} {marked('doc-content')}".encode()
        document = ok(teacher.post(f"/api/v1/incidents/{first}/documents",
                                   files={"file": (f"{pupils[0]['name']} {marked('doc-name')}.pdf", content,
                                                   "application/pdf")}), 201)

        # The TA, alerted, adds an action; the DSL follows up.
        ok(ta.post(f"/api/v1/incidents/{first}/actions", json={"description": marked("ta-action")}), 201)
        for incident in incidents:
            assert MARK in ok(dsl.get(f"/api/v1/incidents/{incident['id']}"))["account"]
        ok(dsl.post(f"/api/v1/incidents/{first}/amendments", json={
            "field": "account", "new_value": f"{pupils[0]['name']} said {marked('amended')}.",
            "reason": f"{pupils[0]['name']}'s words, {marked('reason')}"}), 201)
        ok(dsl.post(f"/api/v1/incidents/{first}/actions", json={"description": marked("dsl-action")}), 201)
        ok(dsl.post(f"/api/v1/incidents/{first}/decisions", json={
            "decision_type": "no_referral", "reason": f"{pupils[0]['name']} is safe: {marked('decision')}"}), 201)
        ok(dsl.post(f"/api/v1/incidents/{first}/outcomes", json={"outcome_type": "monitoring"}), 201)
        ok(dsl.post(f"/api/v1/pupils/{pupils[0]['id']}/household", json={
            "name": f"Marguerite {marked('Household')}", "relationship": "Grandmother"}), 201)
        sheets = [ok(dsl.get(f"/api/v1/pupils/{p['id']}/front-sheet")) for p in pupils]
        for p in pupils:
            assert MARK in str(ok(dsl.get(f"/api/v1/pupils/{p['id']}/chronology")))
        assert dsl.get(f"/api/v1/documents/{document['id']}").content == content

        # Searching the roll by name, through the API and the web page.
        assert ok(dsl.get("/api/v1/pupils", params={"q": pupils[1]["name"]}))
        assert dsl.get("/pupils", params={"q": pupils[2]["name"]}).status_code == 200

        # A 422 that has a pupil's name in its fields.
        r = teacher.post("/api/v1/incidents", json={
            "pupil_id": pupils[3]["id"], "occurred_at": "2999-01-01T00:00:00Z",
            "account": f"{pupils[3]['name']} {marked('invalid')}", "category_ids": []})
        assert r.status_code == 422, r.text
        r = dsl.post(f"/api/v1/pupils/{pupils[3]['id']}/household", json={"name": pupils[3]["name"],
                                                                         "relationship": ""})
        assert r.status_code == 422, r.text

        # The bus's error paths, each message carrying a name and a marker: no content_type, a body that
        # is not UTF-8, a body that is not JSON, an unsigned event.
        said = f'"account": "{pupils[1]["name"]} {marked("forged")}"'
        rpc = dict(reply_to="nowhere", correlation_id="privacy")
        publish(haven.amqp_uri, "nameko-rpc", "incidents.record_incident", ('{"args": [], "kwargs": {%s}}' % said).encode(), **rpc)
        publish(haven.amqp_uri, "nameko-rpc", "incidents.record_incident", ('{"kwargs": {%s}}' % said).encode() + b"\xff",
                content_type="application/json", **rpc)
        publish(haven.amqp_uri, "nameko-rpc", "incidents.record_incident", ("{%s" % said).encode(),
                content_type="application/json", **rpc)
        event = ('{"event_id": "%s", "incident_id": %d, %s}' % (uuid.uuid4(), first, said)).encode()
        publish(haven.amqp_uri, "incidents.events", "incident_recorded", event, content_type="application/json")
        publish(haven.amqp_uri, "incidents.events", "incident_recorded", event[:-1] + b"\xff}",
                content_type="application/json")

        # Until the mail has gone and every bad message has been dealt with (so their log lines are written).
        assert haven.mail.wait_for(lambda m: DSL in m[0] and f"/incidents/{first}" in m[1], 60), "no alert e-mail"
        # (Each parking is logged with the dead-letter queue's name, whatever the log's format.)
        for process, queue, parked in (("incidents", rpc_queue("incidents"), 3),
                                       ("alerts", next(q.name for q in handler_queues() if q.service == "alerts"
                                                       and q.routing_key == "incident_recorded"), 2)):
            assert eventually(lambda: haven.log(process).count(queue + DEAD_LETTER) >= parked, timeout=60), \
                haven.log(process)[-3000:]

        names = [name for p in roll for name in (p["name"], p.get("legal_name") or "")]
        names += [m["name"] for sheet in sheets for m in sheet.get("household", [])]
        assert any(m["name"].startswith("Marguerite") for sheet in sheets for m in sheet.get("household", []))
        return {"names": names, "upns": [p["upn"] for p in roll if p.get("upn")]}
    finally:
        for client in (teacher, ta, dsl):
            client.http.close()


def test_no_log_line_holds_a_pupils_name_or_a_records_text(haven):
    said = run_the_day(haven)
    words = name_words(said["names"])
    assert {"Marguerite"} < words and len(words) > 40, sorted(words)
    logs = {name: haven.log(name) for name in haven.procs}
    assert all(logs.values()), [name for name, text in logs.items() if not text]  # every process logs something

    found = leaks(logs, whole_words(words | set(said["upns"])), re.compile(MARK, re.IGNORECASE))
    assert not found, f"{len(found)} log line(s) hold a name or a record's text:\n" + "\n".join(found[:40])


def test_the_scan_finds_a_name_and_a_marker():
    """The scan itself, on lines as a leak would write them."""
    words = name_words(["Ezra Lewis", "Sam O'Brien", "Foster carers (Mr and Mrs Hale)"])
    assert {"Ezra", "Lewis", "O'Brien", "Hale"} <= words and "Sam" not in words  # Sam Lee is staff
    logs = {"incidents": "INFO haven: read pupil 7\nWARNING haven: record for EZRA lewis\n",
            "alerts": f"INFO haven: o'brien\nINFO haven: {MARK.upper()}\nINFO haven: Lewisham and Ezrah\n"}
    assert leaks(logs, whole_words(words)) == ["incidents: WARNING haven: record for EZRA lewis",
                                               "alerts: INFO haven: o'brien"]
    assert leaks(logs, re.compile(MARK, re.IGNORECASE)) == [f"alerts: INFO haven: {MARK.upper()}"]


def test_an_undecodable_body_is_described_without_its_bytes():
    """The leak this test found: the reason logged for an undecodable message was the repr of kombu's
    DecodeError, which holds every byte of the body."""
    body = b'{"account": "Ezra Lewis said it"}\xff'
    for raw in (body, body[:-1] + b"{"):
        try:
            kombu.serialization.loads(raw, "application/json", "utf-8")
        except kombu.exceptions.DecodeError as exc:
            reason = decode_problem(exc)
        else:
            raise AssertionError("decoded")
        assert reason.startswith("not ") and "Ezra" not in reason and "account" not in reason, reason
