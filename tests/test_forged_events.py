"""Issue 9 over the real broker: forged events are refused, and names reach no e-mail as links.

An attacker with broker access (`stack.amqp_uri` administers the test vhost) publishes events of every
kind the services consume: unsigned; signed with another process's key, trusted or made up; signed
with a key of the publisher's name that nobody trusts; signed correctly by a process that does not
publish that event type (the attacker binds the handler's queue to its exchange); tampered with after
signing; and signed correctly but "from the future". Each is parked in its handler's dead-letter
queue at once with the reason, logged by the consumer (the reason and the event id, never the body),
and changes nothing: the consumer never marks it processed, the DSL's address stays, no alert, no
e-mail. A genuine event parked and replayed from the dead-letter queue still verifies and is handled.

A category named like a phishing line is refused by the API; one that exists anyway (put straight
into the database) reaches the DSL's e-mail without a link or an address.
"""
from __future__ import annotations

import json
import random
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Callable

import pika
import pytest
import sqlalchemy as sa
from kombu import Connection, Exchange, Queue

from services.common import dlq, signed
from services.common.contracts import alerts as alerts_contract, incidents as incidents_contract
from services.common.contracts.base import Subscription
from services.common.events import make_event
from services.common.keys import SigningKey, signing_variable

from .client import eventually
from .test_end_to_end import DSL, TEACHER, record

ADMIN = "admin@demo.haven.test"
FUTURE = "occurred_at is in the future"


def engine(stack, service: str) -> sa.Engine:
    return sa.create_engine(stack.databases[service].replace("postgresql://", "postgresql+pg8000://"))


@dataclass
class World:
    alerts: sa.Engine
    incidents: sa.Engine
    gateway: sa.Engine
    school_id: int
    dsl_id: int
    dsl_email: str
    teacher_id: int
    school_name: str

    def one(self, db: sa.Engine, sql: str, **params):
        with db.connect() as conn:
            return conn.execute(sa.text(sql), params).scalar()


@pytest.fixture(scope="module")
def world(stack):
    dbs = {name: engine(stack, name) for name in ("alerts", "incidents", "gateway")}

    def staff(email):
        with dbs["alerts"].connect() as conn:
            return conn.execute(sa.text("SELECT user_id, school_id FROM staff WHERE email = :e"), {"e": email}).first()
    dsl, teacher = eventually(lambda: staff(DSL), timeout=60), eventually(lambda: staff(TEACHER), timeout=60)
    assert dsl and teacher, "the staff directory never reached the alerts service"
    with dbs["incidents"].connect() as conn:
        school_name = conn.execute(sa.text("SELECT name FROM schools WHERE id = :id"), {"id": dsl.school_id}).scalar()
    yield World(**dbs, school_id=dsl.school_id, dsl_id=dsl.user_id, dsl_email=DSL, teacher_id=teacher.user_id,
                school_name=school_name)
    for db in dbs.values():
        db.dispose()


def genuine_key(stack, owner: str) -> SigningKey:
    """The key the stack gave `owner` (as if the attacker had stolen it: only for the future-dated case
    and to prove a genuine event is handled)."""
    return SigningKey.parse(stack.keys[signing_variable(owner)], owner=owner)


def publish(stack, exchange: str, routing_key: str, body: bytes, headers: dict, event_id: str) -> None:
    connection = pika.BlockingConnection(pika.URLParameters(stack.amqp_uri))
    try:
        channel = connection.channel()
        channel.confirm_delivery()
        channel.basic_publish(exchange, routing_key, body, pika.BasicProperties(
            content_type="application/json", content_encoding="utf-8", delivery_mode=2, message_id=event_id,
            headers=headers), mandatory=True)
    finally:
        connection.close()


def bind(stack, queue: str, exchange: str, routing_key: str, bound: bool) -> None:
    connection = pika.BlockingConnection(pika.URLParameters(stack.amqp_uri))
    try:
        channel = connection.channel()
        if bound:
            channel.queue_bind(queue, exchange, routing_key)
        else:
            channel.queue_unbind(queue, exchange, routing_key)
    finally:
        connection.close()


def take_parked(stack, queue: str, event_id: str, timeout: float = 30.0) -> dict | None:
    """The headers of the message holding `event_id` once its handler has parked it (taken off the
    dead-letter queue, so the next case starts clean); None if it never arrives there."""
    def look():
        with dlq.open_channel(stack.amqp_uri) as channel:
            if dlq.list_dead_letters(channel, [queue + dlq.SUFFIX]).get(queue + dlq.SUFFIX, 0) == 0:
                return None
            while True:  # others' messages are left unacked: they go back when the channel closes
                method, props, body = channel.basic_get(queue + dlq.SUFFIX)
                if method is None:
                    return None
                try:
                    found = json.loads(body).get("event_id") == event_id
                except ValueError:
                    found = False
                if found:
                    channel.basic_ack(method.delivery_tag)
                    return dict(props.headers or {})
    return eventually(look, timeout=timeout)


def processed(world: World, db: sa.Engine, event_id: str) -> bool:
    return bool(world.one(db, "SELECT count(*) FROM processed_events WHERE event_id = :id", id=event_id))


# --- what is forged, kind by kind -------------------------------------------------------------------------

@dataclass(frozen=True)
class Kind:
    subscription: Subscription
    consumer: str  # the process that handles it
    make: Callable[[World, str], dict]  # a valid event of this kind carrying `marker`
    unchanged: Callable[[object, World, dict, str], None]  # what the forgery must not have done

    @property
    def publisher(self) -> str:
        return self.subscription.event.service

    def db(self, world: World) -> sa.Engine:
        return getattr(world, self.consumer)


def fake_incident() -> int:
    return random.randint(800_000, 900_000)


def staff_unchanged(stack, world, event, marker):
    assert world.one(world.alerts, "SELECT email FROM staff WHERE user_id = :u AND school_id = :s",
                     u=world.dsl_id, s=world.school_id) == world.dsl_email
    assert stack.mail.to(event["email"]) == []


def no_alert(stack, world, event, marker):
    assert world.one(world.alerts, "SELECT count(*) FROM alerts WHERE incident_id = :i", i=event["incident_id"]) == 0
    assert not [m for _, m in stack.mail.messages if marker in m or f"/incidents/{event['incident_id']}" in m]


def school_unchanged(stack, world, event, marker):
    assert world.one(world.incidents, "SELECT name FROM schools WHERE id = :id", id=world.school_id) \
        == world.school_name


def nothing_else(stack, world, event, marker):
    pass  # not processed (checked for every kind) is all there is to see


KINDS = {
    "gateway.staff_member_saved": Kind(
        alerts_contract.on_staff_member_saved, "alerts",
        lambda w, m: make_event("staff_member_saved", w.school_id, user_id=w.dsl_id, name="Dana Shah",
                                email=f"{m}@evil.example", roles=["dsl", "admin"], active=True),
        staff_unchanged),
    "incidents.incident_recorded": Kind(
        alerts_contract.on_incident_recorded, "alerts",
        lambda w, m: make_event("incident_recorded", w.school_id, incident_id=fake_incident(), pupil_id=1,
                                recorded_by=w.teacher_id, category_ids=[1],
                                category_names=[f"Re-verify your login at https://{m}.example"], urgent=True,
                                alert_user_ids=[w.dsl_id], alert_groups=["dsl"]),
        no_alert),
    "gateway.incident_opened": Kind(
        alerts_contract.on_incident_opened, "alerts",
        lambda w, m: make_event("incident_opened", w.school_id, incident_id=fake_incident(), user_id=w.dsl_id),
        nothing_else),
    "gateway.school_saved": Kind(
        incidents_contract.on_school_saved, "incidents",
        lambda w, m: make_event("school_saved", w.school_id, name=f"Evil Academy {m}"),
        school_unchanged),
    "documents.document_stored": Kind(
        incidents_contract.on_document_stored, "incidents",
        lambda w, m: make_event("document_stored", w.school_id, document_id=m, incident_id=fake_incident(),
                                uploaded_by=w.teacher_id),
        nothing_else),
}

ATTACKS = ("unsigned", "another process's trusted key", "another process's made-up key",
           "an untrusted key in the publisher's name", "another publisher's event type", "tampered after signing",
           "from the future")


def forge(stack, kind: Kind, attack: str, event: dict) -> str:
    """Publish `event` forged as `attack` says; the reason the consumer must give."""
    exchange, event_type = kind.subscription.event.exchange, kind.subscription.event.name
    other = "transfers" if kind.publisher == "documents" else "documents"
    body = json.dumps(event).encode()
    headers: dict = {}
    if attack == "unsigned":
        reason = signed.UNSIGNED
    elif attack == "another process's trusted key":
        headers, reason = signed.sign(genuine_key(stack, "alerts"), exchange, event_type, body), \
            signed.NOT_THE_PUBLISHERS_KEY
    elif attack == "another process's made-up key":
        headers, reason = signed.sign(SigningKey.generate(other), exchange, event_type, body), \
            signed.NOT_THE_PUBLISHERS_KEY
    elif attack == "an untrusted key in the publisher's name":
        headers, reason = signed.sign(SigningKey.generate(kind.publisher), exchange, event_type, body), \
            signed.UNKNOWN_KEY
    elif attack == "another publisher's event type":
        # A genuine signature by a process that does not publish this type, on its own exchange, to
        # which the attacker has bound the handler's queue.
        signer = "incidents" if kind.publisher == "gateway" else "gateway"
        exchange = f"{signer}.events"
        headers = signed.sign(genuine_key(stack, signer), exchange, event_type, body)
        reason = signed.NOT_THE_PUBLISHERS_EVENT
    elif attack == "tampered after signing":
        earlier = (datetime.now(timezone.utc) - timedelta(hours=1)).isoformat().replace("+00:00", "Z")
        original = json.dumps({**event, "occurred_at": earlier}).encode()
        headers, reason = signed.sign(genuine_key(stack, kind.publisher), exchange, event_type, original), \
            signed.BAD_SIGNATURE
    else:
        event["occurred_at"] = "2099-01-01T00:00:00Z"
        body = json.dumps(event).encode()
        headers, reason = signed.sign(genuine_key(stack, kind.publisher), exchange, event_type, body), FUTURE
    bound = exchange != kind.subscription.event.exchange
    if bound:
        bind(stack, kind.subscription.queue, exchange, event_type, True)
    try:
        publish(stack, exchange, event_type, body, headers, event["event_id"])
        parked = take_parked(stack, kind.subscription.queue, event["event_id"])
    finally:
        if bound:
            bind(stack, kind.subscription.queue, exchange, event_type, False)
    assert parked is not None, f"the forged event was not parked:\n{stack.log(kind.consumer)[-3000:]}"
    assert parked.get("x-haven-reason") == reason
    return reason


@pytest.mark.parametrize("attack", ATTACKS)
@pytest.mark.parametrize("kind", list(KINDS))
def test_a_forged_event_is_parked_logged_and_changes_nothing(stack, world, kind, attack):
    kind = KINDS[kind]
    marker = f"forged-{uuid.uuid4().hex[:10]}"
    event = kind.make(world, marker)
    reason = forge(stack, kind, attack, event)

    log = stack.log(kind.consumer)
    lines = [line for line in log.splitlines() if f"refused event {event['event_id']}" in line]
    assert lines and reason in lines[0] and kind.subscription.queue in lines[0], log[-2000:]
    assert marker not in log  # never the body
    assert not processed(world, kind.db(world), event["event_id"])
    kind.unchanged(stack, world, event, marker)
    assert all(stack.alive(name) for name in ("alerts", "incidents"))


def test_an_event_signed_by_its_publisher_is_handled(stack, world):
    """The control: the same path with the gateway's own key changes the directory."""
    user_id = random.randint(700_000, 799_999)
    event = make_event("staff_member_saved", world.school_id, user_id=user_id, name="Supply Teacher",
                       email=f"supply{user_id}@demo.haven.test", roles=["staff"], active=True)
    body = json.dumps(event).encode()
    spec = alerts_contract.on_staff_member_saved.event
    publish(stack, spec.exchange, spec.name, body, signed.sign(genuine_key(stack, "gateway"), spec.exchange,
                                                               spec.name, body), event["event_id"])
    assert eventually(lambda: world.one(world.alerts, "SELECT email FROM staff WHERE user_id = :u", u=user_id)) \
        == event["email"]
    assert processed(world, world.alerts, event["event_id"])


def test_a_genuine_event_parked_and_replayed_from_the_dead_letter_queue_verifies_and_is_handled(stack, api, world):
    from services.common.nameko_ext import park  # the services' side: this test parks as a handler would
    subscription = alerts_contract.on_staff_member_saved
    address = f"replayed-{uuid.uuid4().hex[:8]}@demo.haven.test"
    stack.stop_process("alerts")
    try:
        r = api(ADMIN).post("/api/v1/admin/staff", json={"name": "Robin Replay", "email": address})
        assert r.status_code == 201, r.text
        # The gateway's own event, as its relay signed it, taken from the stopped handler's queue.
        queue = Queue(subscription.queue, exchange=Exchange(subscription.event.exchange, type="topic", durable=True),
                      routing_key=subscription.event.name, durable=True)
        with Connection(stack.amqp_uri) as conn, conn.SimpleQueue(queue) as q:
            def ours():
                message = q.get(timeout=30)
                return message if json.loads(message.body).get("email") == address else None
            message = next(m for m in iter(ours, "never") if m is not None)
            assert message.headers.get(signed.KID_HEADER, "").startswith("gateway-")
            park(stack.amqp_uri, subscription.queue, message, "parked by the test")
            message.ack()
            event_id = json.loads(message.body)["event_id"]
    finally:
        stack.start_process("alerts")
        stack.wait_service("alerts")
    assert world.one(world.alerts, "SELECT count(*) FROM staff WHERE email = :e", e=address) == 0

    with dlq.open_channel(stack.amqp_uri) as channel:
        assert dlq.replay(channel, subscription.queue) >= 1
    assert eventually(lambda: world.one(world.alerts, "SELECT count(*) FROM staff WHERE email = :e", e=address))
    assert processed(world, world.alerts, event_id)
    assert f"refused event {event_id}" not in stack.log("alerts")


# --- names that reach an e-mail --------------------------------------------------------------------------

CRAFTED = "Re-verify your login at https://evil.example"


def test_a_category_named_like_a_phishing_line_is_refused_and_audited(stack, api, world):
    admin = api(ADMIN)
    before = world.one(world.gateway, "SELECT max(id) FROM audit_log")
    for name in (CRAFTED, "Visit www.evil.example", "Reset at help@evil.example", "Behaviour\nBcc: all"):
        r = admin.post("/api/v1/categories", json={"name": name, "sensitivity": "safeguarding"})
        assert r.status_code == 422, r.text
        [error] = r.json()["errors"]
        assert error["field"] == "name" and ("address" in error["message"] or "one line" in error["message"])
    names = {c["name"] for c in admin.get("/api/v1/categories", params={"include_inactive": True}).json()}
    assert not [n for n in names if "evil" in n or "Bcc" in n]
    assert world.one(world.incidents, "SELECT count(*) FROM categories WHERE name LIKE '%evil%'") == 0
    outcomes = world.one(world.gateway, "SELECT string_agg(outcome, ',') FROM audit_log WHERE id > :id", id=before)
    assert (outcomes or "").count("invalid:422") >= 4
    # Names with apostrophes, hyphens, accents and full stops are still welcome.
    r = admin.post("/api/v1/categories", json={"name": f"St. Mary’s follow-up – Zoë {uuid.uuid4().hex[:4]}",
                                               "sensitivity": "pastoral"})
    assert r.status_code == 201, r.text


def test_a_staff_name_holding_an_address_is_refused(api, world):
    address = f"jo-{uuid.uuid4().hex[:8]}@demo.haven.test"
    r = api(ADMIN).post("/api/v1/admin/staff", json={"name": "Jo at www.evil.example", "email": address})
    assert r.status_code == 422 and "web or e-mail address" in r.json()["errors"][0]["message"]
    assert world.one(world.gateway, "SELECT count(*) FROM staff WHERE email = :e", e=address) == 0


def test_a_crafted_category_that_exists_anyway_reaches_the_email_without_a_link(stack, api, world):
    dsl = api(DSL)
    settings = dsl.get("/api/v1/alert-settings").json()
    fields = {k: settings[k] for k in ("escalate_after_minutes", "digest_time", "category_in_email",
                                       "unactioned_after_days")}
    name = f"{CRAFTED} {uuid.uuid4().hex[:6]}"
    with world.incidents.begin() as conn:  # as if it had been made before the contract refused it
        conn.execute(sa.text("INSERT INTO categories (school_id, name, sensitivity, active, default_alert_groups, "
                             "default_alert_user_ids, colour) VALUES (:s, :n, 'pastoral', true, '[]', '[]', "
                             "'#5b6770')"), {"s": world.school_id, "n": name})
    try:
        r = dsl.put("/api/v1/alert-settings", json={**fields, "category_in_email": True})
        assert r.status_code == 200, r.text
        incident = record(api(TEACHER), "Said something worrying at lunch.", category_name=name)
        mails = stack.mail.wait_for(lambda m: DSL in m[0] and f"/incidents/{incident['id']}" in m[1])
        assert mails, "no alert e-mail reached the DSL"
        message = mails[0][1]
        assert "Category: Re-verify your login at https evil example" in " ".join(message.split())
        assert "evil.example" not in message and "https://evil" not in message
        assert message.count("://") == message.count(stack.base_url + "/incidents/")  # our own links only
    finally:
        dsl.put("/api/v1/alert-settings", json=fields)
