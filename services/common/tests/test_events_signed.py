"""Signed events (services/common/signed.py, events.py, nameko_ext.py): what a consumer accepts.

Each part of what is signed is tampered with in turn, and each must be refused; so must an event
signed with another process's key, with a key this process does not trust, or of a type its
publisher does not publish. The publisher is checked over a real broker: the bytes that travel are
the bytes signed. The handler is checked without a broker: a refused event is parked, logged
without its body, and never handled."""
from __future__ import annotations

import json
import logging
from datetime import datetime, timedelta
from types import SimpleNamespace

import pytest
from prometheus_client import REGISTRY
from kombu import Connection, Exchange, Queue

from services.common import nameko_ext, signed
from services.common.events import EventPublisher, make_event, untimely
from services.common.keys import KeyRing, SigningKey, b64url
from services.common.testing import TEST_KEYS, TEST_PUBLIC_KEYS

RING = KeyRing.parse(TEST_PUBLIC_KEYS)
GATEWAY = "gateway.events"


def staff_event(**fields) -> tuple[dict, bytes]:
    event = make_event("staff_member_saved", 1, user_id=7, name="Dana Lead", email="dsl@school.test",
                       roles=["dsl"], active=True, **fields)
    return event, json.dumps(event).encode()


def check(exchange: str, event_type: str, body: bytes, headers: dict | None, event=None) -> str | None:
    return signed.refusal(RING, exchange, event_type, body, headers,
                          json.loads(body) if event is None else event)


def test_an_event_signed_by_its_publisher_is_accepted():
    event, body = staff_event()
    headers = signed.sign(TEST_KEYS["gateway"], GATEWAY, "staff_member_saved", body)
    assert set(headers) == {signed.KID_HEADER, signed.SIGNATURE_HEADER}
    assert check(GATEWAY, "staff_member_saved", body, headers) is None


def test_an_unsigned_event_is_refused():
    _, body = staff_event()
    headers = signed.sign(TEST_KEYS["gateway"], GATEWAY, "staff_member_saved", body)
    assert check(GATEWAY, "staff_member_saved", body, None) == signed.UNSIGNED
    assert check(GATEWAY, "staff_member_saved", body, {signed.KID_HEADER: headers[signed.KID_HEADER]}) \
        == signed.UNSIGNED
    assert check(GATEWAY, "staff_member_saved", body,
                 {signed.SIGNATURE_HEADER: headers[signed.SIGNATURE_HEADER]}) == signed.UNSIGNED
    assert check(GATEWAY, "staff_member_saved", body, {signed.KID_HEADER: 7, signed.SIGNATURE_HEADER: 7}) \
        == signed.UNSIGNED


def test_tampering_with_any_signed_part_breaks_the_signature():
    event, body = staff_event()
    key = TEST_KEYS["gateway"]
    headers = signed.sign(key, GATEWAY, "staff_member_saved", body)
    # The body: one field changed after signing (the attack: the DSL's address).
    forged = json.dumps({**event, "email": "attacker@evil.example"}).encode()
    assert check(GATEWAY, "staff_member_saved", forged, headers) == signed.BAD_SIGNATURE
    # The same fields, other bytes (key order): the signature is over the bytes, not a reading of them.
    reordered = json.dumps(dict(reversed(list(event.items())))).encode()
    assert check(GATEWAY, "staff_member_saved", reordered, headers) == signed.BAD_SIGNATURE
    # The routing key: a genuine staff event re-published as another of the gateway's event types.
    assert check(GATEWAY, "incident_opened", body, headers, event={**event, "event_type": "incident_opened"}) \
        == signed.BAD_SIGNATURE
    # The signature: one byte flipped; not base64url at all.
    raw = bytearray(key.sign(signed.signed_bytes(GATEWAY, "staff_member_saved", body)))
    raw[0] ^= 1
    assert check(GATEWAY, "staff_member_saved", body, {**headers, signed.SIGNATURE_HEADER: b64url(bytes(raw))}) \
        == signed.BAD_SIGNATURE
    assert check(GATEWAY, "staff_member_saved", body, {**headers, signed.SIGNATURE_HEADER: "not/base64+url="}) \
        == signed.BAD_SIGNATURE
    # The key id: another key of the same owner, also trusted, did not make this signature.
    other = SigningKey.generate("gateway")
    ring = KeyRing.parse(TEST_PUBLIC_KEYS + "," + other.public_text())
    assert signed.refusal(ring, GATEWAY, "staff_member_saved", body, {**headers, signed.KID_HEADER: other.kid},
                          event) == signed.BAD_SIGNATURE
    # The domain: a signature the key made over the same bytes for anything else (an actor context).
    bare = key.sign(b"gateway.events\nstaff_member_saved\n" + body)
    assert check(GATEWAY, "staff_member_saved", body, {**headers, signed.SIGNATURE_HEADER: b64url(bare)}) \
        == signed.BAD_SIGNATURE


def test_the_exchange_is_signed_and_must_be_the_key_owners():
    _, body = staff_event()
    # Moved to another service's exchange: that service's key did not sign it.
    headers = signed.sign(TEST_KEYS["gateway"], GATEWAY, "staff_member_saved", body)
    assert check("incidents.events", "staff_member_saved", body, headers) == signed.NOT_THE_PUBLISHERS_KEY
    # Another process's key, signing correctly for the gateway's exchange: still not the gateway's.
    for owner in ("documents", "incidents", "alerts", "transfers"):
        headers = signed.sign(TEST_KEYS[owner], GATEWAY, "staff_member_saved", body)
        assert check(GATEWAY, "staff_member_saved", body, headers) == signed.NOT_THE_PUBLISHERS_KEY, owner
    # A key id that names no process, or spoofs the owner's prefix badly.
    headers = signed.sign(TEST_KEYS["gateway"], GATEWAY, "staff_member_saved", body)
    for kid in ("evil-20260101-abcdef", "gateway", "gateway-2026-x", "documents-20260101-abcdef"):
        assert check(GATEWAY, "staff_member_saved", body, {**headers, signed.KID_HEADER: kid}) \
            == signed.NOT_THE_PUBLISHERS_KEY, kid
    assert check(GATEWAY, "staff_member_saved", body, {**headers, signed.KID_HEADER: headers[signed.KID_HEADER]
                                                       + "\n"}) is not None


def test_a_key_of_the_right_owner_that_is_not_trusted_is_refused():
    _, body = staff_event()
    stranger = SigningKey.generate("gateway")  # a well-formed gateway key id, not in HAVEN_PUBLIC_KEYS
    headers = signed.sign(stranger, GATEWAY, "staff_member_saved", body)
    assert check(GATEWAY, "staff_member_saved", body, headers) == signed.UNKNOWN_KEY


def test_an_event_type_its_publisher_does_not_declare_is_refused():
    # Signed correctly by the gateway, but incident_recorded is the incidents service's event.
    event = make_event("incident_recorded", 1, incident_id=5)
    body = json.dumps(event).encode()
    headers = signed.sign(TEST_KEYS["gateway"], GATEWAY, "incident_recorded", body)
    assert check(GATEWAY, "incident_recorded", body, headers) == signed.NOT_THE_PUBLISHERS_EVENT
    for exchange in ("nameko-rpc", "evil.events", "", "gateway.events.x"):
        assert check(exchange, "staff_member_saved", body, headers) == signed.NOT_AN_EVENTS_EXCHANGE, exchange


def test_the_body_must_say_the_type_of_its_routing_key():
    event, _ = staff_event()
    body = json.dumps({**event, "event_type": "school_saved"}).encode()
    headers = signed.sign(TEST_KEYS["gateway"], GATEWAY, "staff_member_saved", body)
    assert check(GATEWAY, "staff_member_saved", body, headers) == signed.TYPE_MISMATCH
    assert check(GATEWAY, "staff_member_saved", b"[1]", signed.sign(TEST_KEYS["gateway"], GATEWAY,
                                                                      "staff_member_saved", b"[1]")) \
        == signed.TYPE_MISMATCH


def test_headers_read_from_the_wire_as_bytes_still_verify():
    _, body = staff_event()
    headers = {k: v.encode() for k, v in signed.sign(TEST_KEYS["gateway"], GATEWAY, "staff_member_saved",
                                                     body).items()}
    assert check(GATEWAY, "staff_member_saved", body, headers) is None


def test_an_event_from_the_future_is_untimely():
    now = datetime(2026, 11, 30, 12, 0)
    assert untimely({"occurred_at": "2026-11-30T12:04:00Z"}, now) is None  # clock drift
    assert untimely({"occurred_at": "2026-11-30T11:00:00+00:00"}, now) is None
    assert untimely({"occurred_at": "2099-01-01T00:00:00Z"}, now) == "occurred_at is in the future"
    assert untimely({"occurred_at": "2026-11-30T13:30:00+01:00"}, now) == "occurred_at is in the future"
    for bad in ({}, {"occurred_at": 5}, {"occurred_at": "yesterday"}, {"occurred_at": "9999-12-31T23:59:59-23:59"}):
        assert untimely(bad, now) == "occurred_at is not a date and time", bad


# --- the publisher, over a real broker -------------------------------------------------------------------

def test_the_publisher_signs_the_bytes_it_sends(vhost):
    event = make_event("incident_recorded", 1, incident_id=5, note="Siân’s")  # non-ASCII: UTF-8 on the wire
    publisher = EventPublisher(vhost, "incidents", TEST_KEYS["incidents"])
    with Connection(vhost) as conn:
        queue = Queue("signed-spy", exchange=Exchange("incidents.events", type="topic", durable=True),
                      routing_key="#")(conn.default_channel)
        queue.declare()
        try:
            publisher.publish("incident_recorded", json.dumps(event, ensure_ascii=False), event["event_id"])
        finally:
            publisher.close()
        message = queue.get(no_ack=True)
    assert message is not None
    assert message.headers[signed.KID_HEADER] == TEST_KEYS["incidents"].kid
    raw = signed.wire_bytes(message.body, message.content_encoding)
    assert raw == json.dumps(event, ensure_ascii=False).encode()
    assert signed.refusal(RING, message.delivery_info["exchange"], message.delivery_info["routing_key"],
                          raw, message.headers, json.loads(raw)) is None


def test_a_body_is_read_back_as_the_bytes_that_travelled():
    assert signed.wire_bytes(b"\xff", "utf-8") == b"\xff"  # the client could not decode it: as it came
    assert signed.wire_bytes("Siân", "UTF-8") == "Siân".encode()
    assert signed.wire_bytes("Siân", "latin-1") is None  # not how any publisher sends
    assert signed.wire_bytes("x", None) is None


# --- the handler, without a broker ----------------------------------------------------------------------

class FakeMessage:
    def __init__(self, body: bytes, headers: dict | None, exchange: str, routing_key: str):
        self.body, self.headers, self.content_encoding = body.decode(), headers, "utf-8"  # as py-amqp hands it over
        self.delivery_info = {"exchange": exchange, "routing_key": routing_key}
        self.properties = {"message_id": json.loads(body).get("event_id") if body.startswith(b"{") else None}


@pytest.fixture
def handler(monkeypatch):
    """The alerts service's staff-directory handler with its parking, acking and handling recorded."""
    from services.common.contracts import alerts
    spec = alerts.on_staff_member_saved
    h = nameko_ext.RetryingEventHandler(spec.event.service, spec.event.name, payload=spec.event.payload)
    h.key_ring = RING
    h.container = SimpleNamespace(service_name="alerts")
    h.queue = SimpleNamespace(name=spec.queue)
    h.record = SimpleNamespace(parked=[], acked=[], handled=[])
    h.queue_consumer = SimpleNamespace(amqp_uri="amqp://unused", ack_message=h.record.acked.append)
    monkeypatch.setattr(nameko_ext, "park", lambda uri, queue, message, reason: h.record.parked.append(reason))
    monkeypatch.setattr(nameko_ext.EventHandler, "handle_message",
                        lambda self, body, message: self.record.handled.append(body["event_id"]))
    return h


def deliver(handler, event: dict, key: SigningKey | None = TEST_KEYS["gateway"], exchange: str = GATEWAY,
            routing_key: str = "staff_member_saved", delivered_on: tuple[str, str] | None = None):
    body = json.dumps(event).encode()
    headers = signed.sign(key, exchange, routing_key, body) if key else {}
    on = delivered_on or (exchange, routing_key)
    handler.handle_message(json.loads(body), FakeMessage(body, headers, *on))


def refused_count() -> float:
    return REGISTRY.get_sample_value("haven_events_handled_total", {
        "service": "alerts", "event_type": "staff_member_saved", "outcome": "refused"}) or 0.0


def test_a_refused_event_is_counted_for_the_operators(handler):
    before = refused_count()
    event, _ = staff_event()
    deliver(handler, event, key=TEST_KEYS["documents"])
    deliver(handler, event)
    assert refused_count() == before + 1


def test_the_handler_handles_a_genuine_event_and_its_retry(handler):
    event, _ = staff_event()
    deliver(handler, event)
    # A retry comes back through the default exchange, straight to the handler's queue.
    deliver(handler, event, delivered_on=("", handler.queue.name))
    assert handler.record.handled == [event["event_id"]] * 2 and handler.record.parked == []


@pytest.mark.parametrize("attack, reason", [
    ("unsigned", signed.UNSIGNED),
    ("documents key", signed.NOT_THE_PUBLISHERS_KEY),
    ("untrusted gateway key", signed.UNKNOWN_KEY),
    ("tampered", signed.BAD_SIGNATURE),
    ("another service's event", signed.NOT_THE_PUBLISHERS_EVENT),
    ("another of the gateway's events", nameko_ext.NOT_THIS_HANDLERS_EVENT),
    ("from the future", "occurred_at is in the future"),
])
def test_the_handler_parks_a_refused_event_at_once_and_logs_why_without_the_body(handler, caplog, attack, reason):
    event, _ = staff_event()
    secret = "attacker@evil.example"
    event["email"] = secret
    if attack == "unsigned":
        deliver(handler, event, key=None)
    elif attack == "documents key":
        deliver(handler, event, key=TEST_KEYS["documents"])
    elif attack == "untrusted gateway key":
        deliver(handler, event, key=SigningKey.generate("gateway"))
    elif attack == "tampered":
        body = json.dumps(event).encode()
        headers = signed.sign(TEST_KEYS["gateway"], GATEWAY, "staff_member_saved", body.replace(b"evil", b"good"))
        handler.handle_message(event, FakeMessage(body, headers, GATEWAY, "staff_member_saved"))
    elif attack == "another service's event":
        # Genuinely the gateway's signature, on an event type only the incidents service publishes,
        # on a queue the attacker bound to the gateway's exchange.
        incident = make_event("incident_recorded", 1, incident_id=5)
        deliver(handler, incident, routing_key="incident_recorded")
    elif attack == "another of the gateway's events":
        school = make_event("school_saved", 1, name="Evil")
        deliver(handler, school, routing_key="school_saved")
    else:
        deliver(handler, {**event, "occurred_at": "2099-01-01T00:00:00Z"})
    assert handler.record.parked == [reason]
    assert len(handler.record.acked) == 1 and handler.record.handled == []
    logged = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any(reason in line and handler.queue.name in line for line in logged), logged
    assert not any(secret in line for line in logged)


def test_a_future_timestamp_is_refused_within_a_few_minutes_only(handler):
    soon = (datetime.utcnow() + timedelta(minutes=2)).isoformat() + "Z"
    later = (datetime.utcnow() + timedelta(minutes=30)).isoformat() + "Z"
    first, _ = staff_event()
    second, _ = staff_event()
    deliver(handler, {**first, "occurred_at": soon})
    deliver(handler, {**second, "occurred_at": later})
    assert handler.record.handled == [first["event_id"]]
    assert handler.record.parked == ["occurred_at is in the future"]
