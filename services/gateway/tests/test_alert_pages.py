"""Alert settings, each member of staff's alert e-mails, failed alert e-mails with their retry, and
dead-lettered events: who may reach each (the gateway's tier; the alerts service checks again), what a
form refuses and how it comes back, and a replay against the real RabbitMQ (a vhost of the test's own)."""
from __future__ import annotations

import subprocess
import uuid

import pika
import pytest
from kombu import Connection, Exchange
from sqlalchemy import select

from services.common import dlq, topology
from services.common.contracts import alerts as contract
from services.common.errors import ValidationFailed
from services.gateway.models import AuditEntry


SETTINGS = {"escalate_after_minutes": 15, "digest_time": "07:30", "category_in_email": False,
            "unactioned_after_days": 5}
FAILED = [{"id": 41, "alert_id": 7, "to_address": "tess@demo.haven.test", "attempts": 12,
           "last_error": "550 mailbox unavailable", "status": "failed", "queued_at": "2026-03-02T08:00:00Z",
           "recipient": {"id": 5, "name": "Tess Morgan"}}]
# The handler a parked event belongs to: an incident recorded, handled by the alerts service.
HANDLER = contract.on_incident_recorded.queue
# A port nothing listens on: a call that reached for the broker would fail with 503, not answer 404.
NO_BROKER = "amqp://guest:guest@127.0.0.1:1/"


@pytest.fixture
def answers(rpc):
    rpc.answers.update({"alerts.get_school_settings": dict(SETTINGS),
                        "alerts.save_school_settings": lambda kw: {**SETTINGS, **kw["settings"]},
                        "alerts.get_preferences": {"digest": False, "digest_time": "07:30"},
                        "alerts.save_preferences": lambda kw: {**kw["preferences"], "digest_time": "07:30"},
                        "alerts.failed_mail": FAILED,
                        "alerts.retry_mail": lambda kw: {**FAILED[0], "status": "pending"},
                        "alerts.list_alerts": []})
    return rpc


@pytest.fixture
def broker(app, monkeypatch):
    """A RabbitMQ vhost of this test's own, with the exchanges and handler queues declared, and the
    gateway pointed at it."""
    vhost = f"haven-test-dlq-{uuid.uuid4().hex[:8]}"
    subprocess.run(["rabbitmqctl", "-q", "add_vhost", vhost], check=True, capture_output=True)
    try:
        subprocess.run(["rabbitmqctl", "-q", "set_permissions", "-p", vhost, "guest", ".*", ".*", ".*"],
                       check=True, capture_output=True)
        uri = f"amqp://guest:guest@127.0.0.1:5672/{vhost}"
        topology.declare(uri)
        monkeypatch.setattr(app.state, "settings", app.state.settings.model_copy(update={"amqp_uri": uri}))
        yield uri
    finally:
        subprocess.run(["rabbitmqctl", "-q", "delete_vhost", vhost], check=True, capture_output=True)


@pytest.fixture
def no_broker(app, monkeypatch):
    monkeypatch.setattr(app.state, "settings", app.state.settings.model_copy(update={"amqp_uri": NO_BROKER}))


def park_an_event(uri: str, body: bytes) -> None:
    """An incident_recorded event that reached the alerts handler's queue and was parked there, as the
    handler does after its last retry (nameko_ext.park)."""
    from services.common.nameko_ext import park  # the services' side: only this test loads Nameko
    event = contract.on_incident_recorded.event
    with Connection(uri) as conn:
        conn.Producer().publish(body, exchange=Exchange(event.exchange, type="topic", durable=True),
                                routing_key=event.name, content_type="application/json",
                                content_encoding="utf-8", headers={"x-keep": "yes"})
        with conn.SimpleQueue(HANDLER) as queue:
            message = queue.get(timeout=5)
            park(uri, HANDLER, message, "handler failed 6 times")
            message.ack()


def waiting(uri: str, queue: str) -> int:
    with dlq.open_channel(uri) as channel:
        return dlq.list_dead_letters(channel, [queue]).get(queue, 0)


# --- who may ---------------------------------------------------------------------------------------------

DSL_OR_ADMIN = [("GET", "/api/v1/alert-settings", None), ("PUT", "/api/v1/alert-settings", SETTINGS),
                ("GET", "/api/v1/alerts/failed", None), ("POST", "/api/v1/alerts/failed/41/retry", None),
                ("GET", "/admin/alerts", None), ("GET", "/alerts/failed", None)]
ADMIN_ONLY = [("GET", "/api/v1/admin/dead-letters", None),
              ("POST", f"/api/v1/admin/dead-letters/{HANDLER}/replay", None),
              ("GET", "/admin/dead-letters", None), ("POST", f"/admin/dead-letters/{HANDLER}/replay", None)]


def ask(client, method, path, body):
    return client.request(method, path, json=body, follow_redirects=False) if body is not None else \
        client.request(method, path, follow_redirects=False)


def test_settings_and_failed_e_mails_are_for_the_dsl_team_and_administrators(answers, teacher, slt, governor, dsl,
                                                                              ddsl, admin):
    for client in (teacher, slt, governor):
        for method, path, body in DSL_OR_ADMIN:
            assert ask(client, method, path, body).status_code == 403, (method, path)
    assert answers.calls == []  # refused at the gateway: the service was never asked
    for client in (dsl, ddsl, admin):
        for method, path, body in DSL_OR_ADMIN:
            assert ask(client, method, path, body).status_code == 200, (method, path)
    r = ask(admin, "POST", "/alerts/failed/41/retry", None)
    assert r.status_code == 303 and r.headers["location"] == "/alerts/failed?done=retried"


def test_a_refusal_is_audited(rpc, teacher, db):
    assert teacher.get("/api/v1/alerts/failed").status_code == 403
    entries = db(lambda s: s.scalars(select(AuditEntry).order_by(AuditEntry.id.desc()).limit(1)).all())
    assert entries[0].outcome == "refused:403" and "/api/v1/alerts/failed" in (entries[0].detail or "")


def test_dead_letters_are_for_administrators_alone(no_broker, rpc, teacher, slt, governor, ddsl):
    for client in (teacher, slt, governor, ddsl):
        for method, path, body in ADMIN_ONLY:
            assert ask(client, method, path, body).status_code == 403, (method, path)


def test_everyone_signed_in_chooses_their_own_alert_e_mails(answers, teacher, governor, admin):
    for client in (teacher, governor, admin):
        assert client.get("/api/v1/alerts/preferences").json() == {"digest": False, "digest_time": "07:30"}
        r = client.put("/api/v1/alerts/preferences", json={"digest": True})
        assert r.status_code == 200 and r.json()["digest"] is True
    assert [c["kwargs"] for c in answers.calls if c["key"] == "alerts.save_preferences"] == \
        [{"preferences": {"digest": True}}] * 3


# --- the school's settings ----------------------------------------------------------------------------------

def test_the_api_refuses_settings_out_of_range_before_the_service_is_asked(answers, admin):
    for bad, field in (({"digest_time": "25:00"}, "digest_time"), ({"escalate_after_minutes": 0}, "escalate_after_minutes"),
                       ({"unactioned_after_days": 366}, "unactioned_after_days"),
                       ({"category_in_email": "yes"}, "category_in_email")):
        r = admin.put("/api/v1/alert-settings", json={**SETTINGS, **bad})
        assert r.status_code == 422, bad
        assert [e["field"] for e in r.json()["errors"]] == [field]
    assert "alerts.save_school_settings" not in answers.keys()
    r = admin.put("/api/v1/alert-settings", json={**SETTINGS, "digest_time": "16:05", "category_in_email": True})
    assert r.status_code == 200 and r.json()["digest_time"] == "16:05"
    assert answers.calls[-1]["kwargs"]["settings"]["category_in_email"] is True


def test_the_settings_form_shows_the_school_s_settings_with_the_category_off_by_default(answers, admin):
    page = admin.get("/admin/alerts").text
    assert 'name="escalate_after_minutes" value="15"' in page and 'name="digest_time" value="07:30"' in page
    assert 'name="category_in_email" value="yes">' in page  # not checked
    assert "never names the pupil" in page
    assert 'href="/admin/alerts" aria-current="page"' in page  # in the administration's navigation


def test_a_refused_setting_comes_back_with_what_was_typed_and_says_which_box(answers, ddsl):
    r = ddsl.post("/admin/alerts", data={"escalate_after_minutes": "soon", "digest_time": "7.30",
                                         "unactioned_after_days": "400", "category_in_email": "yes"},
                  follow_redirects=False)
    assert r.status_code == 422
    assert "alerts.save_school_settings" not in answers.keys()
    page = r.text
    assert 'value="soon"' in page and 'value="7.30"' in page and 'value="400"' in page
    assert 'name="category_in_email" value="yes" checked' in page
    assert "Minutes before an unopened urgent incident is escalated: give a whole number from 1 to 1440." in page
    assert "Time of the daily digest: give the time as HH:MM on the 24-hour clock" in page
    assert "Days before an incident with no action or outcome is listed: give a whole number from 1 to 365." in page
    assert 'href="#digest_time"' in page and 'id="digest_time-error"' in page
    assert "Administration" not in page.split("<main", 1)[1]  # a deputy DSL alone: no administration tabs


def test_a_saved_setting_goes_to_the_service_as_numbers_and_a_time(answers, admin):
    r = admin.post("/admin/alerts", data={"escalate_after_minutes": "20", "digest_time": "7:45",
                                          "unactioned_after_days": "3"}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/admin/alerts?done=saved"
    sent = answers.calls[-1]
    assert sent["key"] == "alerts.save_school_settings"
    assert sent["kwargs"]["settings"] == {"escalate_after_minutes": 20, "digest_time": "07:45",
                                          "category_in_email": False, "unactioned_after_days": 3}
    assert "The alert settings have been saved." in admin.get("/admin/alerts?done=saved").text


def test_the_service_s_refusal_of_a_setting_is_shown_beside_its_box(answers, admin):
    answers.answers["alerts.save_school_settings"] = ValidationFailed.one("settings.digest_time",
                                                                          "Digests cannot go out before 05:00.")
    r = admin.post("/admin/alerts", data={**SETTINGS, "digest_time": "04:00"}, follow_redirects=False)
    assert r.status_code == 422
    assert "Time of the daily digest: digests cannot go out before 05:00." in r.text
    assert 'value="04:00"' in r.text


# --- my alert e-mails -----------------------------------------------------------------------------------------

def test_the_preferences_page_says_urgent_alerts_always_go_at_once(answers, teacher):
    page = teacher.get("/alerts/preferences").text
    assert "Urgent alerts always come at once" in page
    assert 'id="how-each" name="how" value="each" checked' in page and "at 07:30" in page
    r = teacher.post("/alerts/preferences", data={"how": "digest"}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/alerts/preferences?done=saved"
    assert answers.calls[-1]["kwargs"] == {"preferences": {"digest": True}}


def test_a_preference_not_chosen_is_asked_for_again(answers, teacher):
    r = teacher.post("/alerts/preferences", data={"how": "sometimes"}, follow_redirects=False)
    assert r.status_code == 422 and "Choose how your alert e-mails should come." in r.text
    assert 'href="#how-each"' in r.text
    assert "alerts.save_preferences" not in answers.keys()


def test_the_alerts_page_and_the_security_page_link_to_the_preferences(answers, teacher, dsl):
    alerts_page = teacher.get("/alerts").text
    assert 'href="/alerts/preferences"' in alerts_page and 'href="/alerts/failed"' not in alerts_page
    assert 'href="/alerts/failed"' in dsl.get("/alerts").text
    security = teacher.get("/account/security")
    assert security.status_code == 200 and 'href="/alerts/preferences"' in security.text


def test_an_alert_shows_urgent_and_what_it_is_about(answers, teacher):
    answers.answers["alerts.list_alerts"] = [
        {"id": 1, "incident_id": 9, "created_at": "2026-03-02T08:00:00Z", "raised_by": {"id": 2, "name": "Dana Shah"},
         "categories": [], "urgent": True, "kind": "escalation", "escalation_level": 2},
        {"id": 2, "incident_id": 10, "created_at": "2026-03-02T08:00:00Z", "raised_by": {"id": 2, "name": "Dana Shah"},
         "categories": [], "urgent": False, "kind": "reminder"}]
    page = teacher.get("/alerts").text
    first, second = page.split('id="alert-1"')[1].split('id="alert-2"')
    assert "URGENT" in first and "Escalated: not yet opened by the DSL team (again: step 2)" in first
    assert "URGENT" not in second and "Action due" in second


# --- failed alert e-mails ----------------------------------------------------------------------------------------

def test_failed_e_mails_are_listed_with_a_retry_button_each(answers, dsl):
    page = dsl.get("/alerts/failed").text
    row = page.split('id="mail-41"')[1].split("</tr>")[0]
    for shown in ("Tess Morgan", "tess@demo.haven.test", "12", "550 mailbox unavailable", "2 March 2026, 08:00"):
        assert shown in row
    assert 'action="/alerts/failed/41/retry"' in row and f'value="{dsl.headers["X-CSRF-Token"]}"' in row
    r = dsl.post("/api/v1/alerts/failed/41/retry")
    assert r.status_code == 200 and r.json()["status"] == "pending"
    assert answers.calls[-1] == {"key": "alerts.retry_mail", "args": answers.calls[-1]["args"],
                                 "kwargs": {"mail_id": 41}, "timeout": answers.calls[-1]["timeout"]}


# --- dead-lettered events ------------------------------------------------------------------------------------------

def test_only_a_handler_s_queue_can_be_named_and_anything_else_never_reaches_the_broker(no_broker, rpc, admin):
    # With no broker to reach, a name that got through would be a 503; every one of these is a 404.
    for name in ("no-such-queue", "rpc-incidents", f"{HANDLER}.dead-letter", "amq.rabbitmq.trace",
                 HANDLER.upper(), HANDLER + " ", "x" * 300):
        assert admin.post(f"/api/v1/admin/dead-letters/{name}/replay").status_code == 404, name
        assert admin.post(f"/admin/dead-letters/{name}/replay", follow_redirects=False).status_code == 404, name
    # The same known name does reach for the broker: unreachable, a 503 with a message to act on.
    r = admin.post(f"/api/v1/admin/dead-letters/{HANDLER}/replay")
    assert r.status_code == 503 and "message broker could not be reached" in r.json()["detail"]
    assert admin.get("/admin/dead-letters").status_code == 503


def test_a_parked_event_is_counted_and_replayed_to_its_handler_and_the_replay_is_audited(broker, rpc, admin, db):
    body = b'{"event_id": "e-replay-1"}'
    park_an_event(broker, body)
    listed = {q["queue"]: q for q in admin.get("/api/v1/admin/dead-letters").json()}
    assert set(listed) == set(dlq.handler_queues())
    assert listed[HANDLER]["messages"] == 1 and listed[HANDLER]["service"] == "alerts"
    assert sum(q["messages"] for q in listed.values()) == 1
    page = admin.get("/admin/dead-letters").text
    assert f'action="/admin/dead-letters/{HANDLER}/replay"' in page and page.count("Replay<span") == 1
    assert "e-replay-1" not in page  # a count, never the event

    r = admin.post(f"/api/v1/admin/dead-letters/{HANDLER}/replay")
    assert r.status_code == 200 and r.json() == {"queue": HANDLER, "replayed": 1}
    assert waiting(broker, HANDLER + dlq.SUFFIX) == 0
    connection = pika.BlockingConnection(pika.URLParameters(broker))
    try:
        method, props, replayed = connection.channel().basic_get(HANDLER, auto_ack=True)
    finally:
        connection.close()
    assert replayed == body and props.headers.get("x-keep") == "yes" and "x-haven-reason" not in props.headers
    # Straight back into the handler's own queue (the default exchange): the gateway may not publish on
    # incidents.events (deploy/rabbitmq.py), and the event's signature binds its own exchange, not this hop.
    assert method.exchange == "" and method.routing_key == HANDLER

    entry = db(lambda s: s.scalars(select(AuditEntry).where(AuditEntry.action == "replay_dead_letters")
                                   .order_by(AuditEntry.id.desc())).first())
    assert entry.outcome == "ok" and entry.detail == f"{HANDLER}: 1 replayed"
    assert entry.user_id == admin.get("/api/v1/session").json()["user"]["id"]


def test_the_page_s_replay_button_puts_the_events_back_and_says_so(broker, rpc, admin):
    park_an_event(broker, b'{"event_id": "e-replay-2"}')
    park_an_event(broker, b'{"event_id": "e-replay-3"}')
    r = admin.post(f"/admin/dead-letters/{HANDLER}/replay", follow_redirects=False)
    assert r.status_code == 303
    assert "2 events put back for alerts to handle again." in admin.get(r.headers["location"]).text
    assert waiting(broker, HANDLER + dlq.SUFFIX) == 0 and waiting(broker, HANDLER) == 2
    page = admin.get("/admin/dead-letters").text
    assert "Replay<span" not in page and "No event is waiting." in page
