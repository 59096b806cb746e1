"""The signed actor context (services/common/actor.py): what a service accepts and what it refuses."""
from __future__ import annotations

import base64
import json

import pytest

from services.common.actor import ActorPass, Actor, Grant, Refused, args_hash, sign, verify
from services.common.keys import KeyRing, SigningKey
from services.common.testing import TEST_KEYS, TEST_PUBLIC_KEYS

NOW = 1_790_000_000.0
TTL = 30.0
METHOD = "incidents.get_incident"
ARGS = {"incident_id": 7}
GATEWAY = TEST_KEYS["gateway"]
RING = KeyRing.parse(TEST_PUBLIC_KEYS)


def make(**kwargs) -> Actor:
    fields = {"user_id": 20, "school_id": 1, "name": "Dana Shah", "roles": ("staff", "dsl"),
              "second_factor_at": NOW - 100, "issued_at": NOW, **kwargs}
    return Actor(**fields)


def token_for(actor=None, key=GATEWAY, method=METHOD, kwargs=ARGS, ttl=TTL, delegates=(), now=NOW) -> str:
    return sign(actor or make(), key, method, kwargs, ttl, delegates, now=now)


def refused(token, method=METHOD, kwargs=ARGS, now=NOW, ring=RING) -> str:
    with pytest.raises(Refused) as caught:
        verify(token, ring, method, kwargs, now=now)
    return caught.value.reason


def test_round_trip_gives_back_the_same_actor():
    actor = make(grants=(Grant(categories=(3, 5), year_groups=("Year 4",)), Grant(categories=(7,))),
                 step_up_until=NOW + 600)
    back = verify(token_for(actor), RING, METHOD, ARGS, now=NOW)
    assert back.actor == actor and back.expires_at == NOW + TTL and len(back.token_id) == 32
    assert isinstance(back.actor.roles, tuple) and isinstance(back.actor.grants[0].categories, tuple)
    assert back.actor.is_dsl and back.actor.stepped_up(NOW) and not back.actor.stepped_up(NOW + 601)


def test_each_context_has_its_own_single_use_id():
    assert verify(token_for(), RING, METHOD, ARGS, now=NOW).token_id != verify(token_for(), RING, METHOD, ARGS,
                                                                                 now=NOW).token_id


def test_a_grant_covers_its_categories_for_its_year_groups_only():
    actor = make(roles=("staff",), grants=(Grant(categories=(3,), year_groups=("Year 4",)), Grant(categories=(7,))))
    assert actor.granted(3, "Year 4") and not actor.granted(3, "Year 5") and not actor.granted(3, None)
    assert actor.granted(7, "Year 9") and not actor.granted(8, "Year 4")
    assert actor.reads_records and actor.records
    assert not make(roles=("staff",), grants=(Grant(categories=(3,)),), second_factor_at=None).granted(3, None)


def test_an_administrator_or_governor_alone_records_and_reads_nothing():
    for role in ("admin", "governor"):
        actor = make(roles=(role,))
        assert not actor.records and not actor.is_dsl and not actor.is_slt and not actor.granted(1, None)


def test_round_trip_keeps_unset_narrowing_and_second_factor_as_none():
    actor = make(second_factor_at=None)
    back = verify(token_for(actor), RING, METHOD, ARGS, now=NOW).actor
    assert back == actor
    assert back.grants == () and back.second_factor_at is None and not back.is_dsl


def _claims(token: str) -> dict:
    body = token.split(".")[0]
    return json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))


def _reencode(data: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(data, separators=(",", ":")).encode()).rstrip(b"=").decode()


def test_context_names_its_method_arguments_key_and_lifetime_in_url_safe_base64():
    token = token_for()
    claims = _claims(token)
    assert claims["aud"] == METHOD and claims["args"] == args_hash(ARGS) and claims["kid"] == GATEWAY.kid
    assert claims["exp"] - claims["iat"] == TTL and claims["actor"]["user_id"] == 20
    assert "=" not in token and "+" not in token and "/" not in token


def test_arguments_hash_ignores_key_order_but_not_values():
    assert args_hash({"a": 1, "b": [1, "é"]}) == args_hash({"b": [1, "é"], "a": 1})
    assert args_hash({"a": 1}) != args_hash({"a": 2}) and args_hash({}) != args_hash({"a": None})


@pytest.mark.parametrize("field,value", [("roles", ["staff", "dsl", "admin"]), ("user_id", 1), ("school_id", 2)])
def test_tampered_actor_is_refused(field, value):
    token = token_for(make(roles=("staff",)))
    claims = _claims(token)
    claims["actor"][field] = value  # a teacher promoting themselves, or passing for someone else
    assert "not signed" in refused(f"{_reencode(claims)}.{token.split('.')[1]}")


@pytest.mark.parametrize("field,value", [("aud", "incidents.list_incidents"), ("args", args_hash({"incident_id": 8})),
                                         ("exp", NOW + 86400), ("jti", "0" * 32), ("delegates", [METHOD])])
def test_tampered_binding_is_refused(field, value):
    token = token_for()
    claims = _claims(token)
    claims[field] = value
    assert "not signed" in refused(f"{_reencode(claims)}.{token.split('.')[1]}")


def test_tampered_signature_is_refused():
    body, mac = token_for().split(".")
    flipped = ("A" if mac[0] != "A" else "B") + mac[1:]
    for bad in (f"{body}.{flipped}", f"{body}.", f"{body}.{mac[:-4]}"):
        refused(bad)


def test_a_token_minted_with_a_services_key_is_refused():
    """The documents service holds its own key (to sign its events): it cannot make an actor context."""
    for owner in ("documents", "incidents", "alerts", "transfers"):
        assert "not signed by a gateway key" in refused(token_for(key=TEST_KEYS[owner]))


def test_a_gateway_key_id_the_ring_does_not_hold_is_refused():
    stranger = SigningKey.generate("gateway")  # right owner in its name, but no process trusts it
    assert "not signed by a gateway key" in refused(token_for(key=stranger))
    # nor a stolen key id on another key
    forged = SigningKey(GATEWAY.kid, stranger.private)
    refused(token_for(key=forged))


def test_a_context_re_targeted_to_another_method_is_refused():
    assert "not incidents.list_incidents" in refused(token_for(), method="incidents.list_incidents")


def test_a_context_sent_with_other_arguments_is_refused():
    assert "other arguments" in refused(token_for(), kwargs={"incident_id": 8})
    assert "other arguments" in refused(token_for(), kwargs={**ARGS, "extra": 1})


def test_a_delegated_method_gets_its_own_single_use_id_and_no_other_method_does():
    token = token_for(method="documents.get_document", kwargs={"document_id": 3},
                      delegates=("incidents.check_incident_access",))
    own = verify(token, RING, "documents.get_document", {"document_id": 3}, now=NOW)
    delegated = verify(token, RING, "incidents.check_incident_access", {"incident_id": 9, "purpose": "read"}, now=NOW)
    assert delegated.token_id == f"{own.token_id}>incidents.check_incident_access" and delegated.actor == own.actor
    refused(token, method="incidents.get_incident", kwargs={"incident_id": 9})


def test_expired_context_is_refused_at_the_edge():
    token = token_for()
    assert verify(token, RING, METHOD, ARGS, now=NOW + TTL).actor.user_id == 20
    assert refused(token, now=NOW + TTL + 0.01) == "expired"


def test_context_issued_in_the_future_is_refused_beyond_five_seconds():
    token = token_for()
    assert verify(token, RING, METHOD, ARGS, now=NOW - 5).actor.user_id == 20
    assert refused(token, now=NOW - 5.01) == "expired"


def test_the_gateway_pass_signs_for_the_method_its_timeout_and_its_delegates():
    actor_pass = ActorPass(make(), GATEWAY, default_timeout=10, slack=15)
    claims = _claims(actor_pass.for_call("documents.get_document", {"document_id": 1}, 60, ("incidents.x",)))
    assert claims["aud"] == "documents.get_document" and claims["exp"] - claims["iat"] == pytest.approx(75)
    assert claims["delegates"] == ["incidents.x"]
    default = _claims(actor_pass.for_call(METHOD, ARGS, None))
    assert default["exp"] - default["iat"] == pytest.approx(25)
    assert "private" not in repr(actor_pass) and GATEWAY.text().split(":")[1] not in repr(actor_pass)


@pytest.mark.parametrize("token", [None, 123, b"abc.def", ["a", "b"], {"token": "x"}],
                         ids=["none", "int", "bytes", "list", "dict"])
def test_non_string_token_is_refused(token):
    refused(token)


@pytest.mark.parametrize("token", ["", "abc", "a.b.c", ".", "!!!.???", "abc.a", "é.é", "e30.e30", "x" * 20000],
                         ids=["empty", "no-dot", "two-dots", "only-dot", "punctuation", "bad-padding",
                              "non-ascii", "empty-json", "huge"])
def test_garbage_is_refused(token):
    refused(token)
