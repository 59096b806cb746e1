"""Events carry their publisher's signature (DESIGN rule 4; issue 9).

Anyone who can reach the broker could otherwise publish a `gateway.staff_member_saved` that moves the
DSL's alerts to their own address, or an `incidents.incident_recorded` whose category name is a
phishing line. So each process signs what it publishes with its own key (keys.py) and every consumer
checks, before anything else, that:

- the event is signed (two AMQP headers: the key id and the signature, base64url);
- the key is the publisher's: `incidents.events` is signed by an `incidents-…` key, never another
  process's, and the key is one this process trusts (HAVEN_PUBLIC_KEYS);
- the signature covers the exchange, the routing key and the body's exact bytes, so an event cannot be
  moved to another exchange or type, or edited, without breaking it;
- the publisher's contract declares the event type, and the body says the same type as its routing key.

Headers survive the retry queue and the dead-letter queue (nameko_ext.park, dlq.replay), so a genuine
event replayed by an operator still verifies. Pure functions, no Nameko: the gateway uses them too.
"""
from __future__ import annotations

from collections.abc import Mapping

from . import contracts
from .contracts.base import events_exchange_name
from .keys import BadKey, KeyRing, SigningKey, b64url, owner_of, unb64url

KID_HEADER = "haven-kid"
SIGNATURE_HEADER = "haven-signature"
# What a signature is over starts with this, so an event signature can never pass for any other
# signature a key makes (an actor token), nor the reverse.
DOMAIN = b"haven-event-v1\n"

# Why an event is refused: the dead-letter queue's x-haven-reason and the log line say one of these.
UNSIGNED = "unsigned"
NOT_AN_EVENTS_EXCHANGE = "not from a service's events exchange"
NOT_THE_PUBLISHERS_KEY = "signed with a key that is not the publisher's"
UNKNOWN_KEY = "signed with a key this process does not trust"
BAD_SIGNATURE = "bad signature"
NOT_UTF8 = "body not sent as UTF-8"
NOT_THE_PUBLISHERS_EVENT = "not the publisher's event"
TYPE_MISMATCH = "the body's event_type is not its routing key"


def signed_bytes(exchange: str, event_type: str, body: bytes) -> bytes:
    """Exchange and routing key on a line each (neither can hold a newline: a publisher's are names
    from its contract, and a consumer checks that first), then the body exactly as it travels."""
    return DOMAIN + exchange.encode() + b"\n" + event_type.encode() + b"\n" + body


def sign(key: SigningKey, exchange: str, event_type: str, body: bytes) -> dict[str, str]:
    """The headers to publish `body` with on `exchange` under `event_type`."""
    return {KID_HEADER: key.kid, SIGNATURE_HEADER: b64url(key.sign(signed_bytes(exchange, event_type, body)))}


def wire_bytes(body: bytes | str, content_encoding: str | None) -> bytes | None:
    """The body as it travelled. The AMQP client hands a body over decoded when it names its encoding
    (strictly, so encoding it again gives the same bytes); publishers send UTF-8, and a body in any
    other encoding is not one of theirs (None)."""
    if isinstance(body, bytes):
        return body
    if (content_encoding or "").lower().replace("_", "-") not in ("utf-8", "utf8"):
        return None
    return body.encode("utf-8")


def publisher_of(exchange: str) -> str | None:
    """`incidents.events` → "incidents"; None for anything that is not a service's events exchange."""
    return next((c.service for c in contracts.ALL if events_exchange_name(c.service) == exchange), None)


def _text(value: object) -> str | None:
    if isinstance(value, bytes):
        try:
            value = value.decode("ascii")
        except UnicodeDecodeError:
            return None
    return value if isinstance(value, str) else None


def refusal(ring: KeyRing, exchange: str, event_type: str, body: bytes, headers: Mapping | None,
            event: Mapping | None) -> str | None:
    """Why this event must not be handled, or None when its publisher signed it as it stands.

    `exchange` and `event_type` are where it was published (for a retried message, where its handler
    subscribes: the retry queue sends it to the handler's queue directly), `body` its bytes and `event`
    the body decoded."""
    headers = headers or {}
    kid, signature = _text(headers.get(KID_HEADER)), _text(headers.get(SIGNATURE_HEADER))
    if not kid or not signature:
        return UNSIGNED
    owner = publisher_of(exchange)
    if owner is None:
        return NOT_AN_EVENTS_EXCHANGE
    try:
        if owner_of(kid) != owner:
            return NOT_THE_PUBLISHERS_KEY
    except BadKey:
        return NOT_THE_PUBLISHERS_KEY
    if event_type not in contracts.by_service(owner).events:
        return NOT_THE_PUBLISHERS_EVENT
    if kid not in ring.keys:
        return UNKNOWN_KEY
    try:
        raw = unb64url(signature)
    except ValueError:
        return BAD_SIGNATURE
    if not ring.verify(owner, kid, raw, signed_bytes(exchange, event_type, body)):
        return BAD_SIGNATURE
    if not isinstance(event, Mapping) or event.get("event_type") != event_type:
        return TYPE_MISMATCH
    return None
