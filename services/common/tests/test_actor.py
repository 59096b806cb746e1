"""The signed actor context (services/common/actor.py): what a service accepts and what it refuses."""
from __future__ import annotations

import base64
import json

import pytest

from services.common.actor import Actor, Grant, sign, verify
from services.common.errors import Unauthenticated
from services.common.testing import TEST_ACTOR_KEY

NOW = 1_790_000_000.0
MAX_AGE = 60.0


def make(issued_at=NOW, **kwargs) -> Actor:
    fields = {"user_id": 20, "school_id": 1, "name": "Dana Shah", "roles": ("staff", "dsl"),
              "second_factor_at": NOW - 100, **kwargs}
    return Actor(issued_at=issued_at, **fields)


def refused(token, key=TEST_ACTOR_KEY, now=NOW) -> Unauthenticated:
    with pytest.raises(Unauthenticated) as caught:
        verify(token, key, MAX_AGE, now=now)
    return caught.value


def test_round_trip_gives_back_the_same_actor():
    actor = make(grants=(Grant(categories=(3, 5), year_groups=("Year 4",)), Grant(categories=(7,))),
                 step_up_until=NOW + 600)
    back = verify(sign(actor, TEST_ACTOR_KEY), TEST_ACTOR_KEY, MAX_AGE, now=NOW)
    assert back == actor
    assert isinstance(back.roles, tuple) and isinstance(back.grants[0].categories, tuple)
    assert back.is_dsl and back.stepped_up(NOW) and not back.stepped_up(NOW + 601)


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
    back = verify(sign(actor, TEST_ACTOR_KEY), TEST_ACTOR_KEY, MAX_AGE, now=NOW)
    assert back == actor
    assert back.grants == () and back.second_factor_at is None and not back.is_dsl


def test_token_is_body_dot_mac_in_url_safe_base64():
    token = sign(make(), TEST_ACTOR_KEY)
    body, mac = token.split(".")
    assert json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))["user_id"] == 20
    assert "=" not in token and "+" not in token and "/" not in token


def _reencode(data: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(data, separators=(",", ":")).encode()).rstrip(b"=").decode()


def test_tampered_body_is_refused():
    token = sign(make(roles=("staff",)), TEST_ACTOR_KEY)
    body, mac = token.split(".")
    data = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    data["roles"] = ["staff", "dsl"]  # a teacher promoting themselves
    refused(f"{_reencode(data)}.{mac}")


def test_tampered_mac_is_refused():
    body, mac = sign(make(), TEST_ACTOR_KEY).split(".")
    flipped = ("A" if mac[0] != "A" else "B") + mac[1:]
    refused(f"{body}.{flipped}")
    refused(f"{body}.")
    refused(f"{body}.{mac[:-4]}")


def test_wrong_key_is_refused():
    refused(sign(make(), "another-key-" + "y" * 32))
    refused(sign(make(), TEST_ACTOR_KEY), key="another-key-" + "y" * 32)


def test_expired_token_is_refused_at_the_edge():
    token = sign(make(), TEST_ACTOR_KEY)
    assert verify(token, TEST_ACTOR_KEY, MAX_AGE, now=NOW + MAX_AGE).user_id == 20
    err = refused(token, now=NOW + MAX_AGE + 0.01)
    assert err.message == "The actor context has expired."


def test_token_issued_in_the_future_is_refused_beyond_five_seconds():
    token = sign(make(), TEST_ACTOR_KEY)
    assert verify(token, TEST_ACTOR_KEY, MAX_AGE, now=NOW - 5).user_id == 20
    refused(token, now=NOW - 5.01)


def test_default_now_is_the_clock():
    import time

    assert verify(sign(make(issued_at=time.time()), TEST_ACTOR_KEY), TEST_ACTOR_KEY, MAX_AGE).user_id == 20
    with pytest.raises(Unauthenticated):
        verify(sign(make(issued_at=time.time() - 3600), TEST_ACTOR_KEY), TEST_ACTOR_KEY, MAX_AGE)


@pytest.mark.parametrize("token", [None, 123, b"abc.def", ["a", "b"], {"token": "x"}],
                         ids=["none", "int", "bytes", "list", "dict"])
def test_non_string_token_is_refused(token):
    refused(token)


@pytest.mark.parametrize("token", ["", "abc", "a.b.c", ".", "!!!.???", "abc.a", "é.é", "e30.e30"],
                         ids=["empty", "no-dot", "two-dots", "only-dot", "punctuation", "bad-padding",
                              "non-ascii", "empty-json"])
def test_garbage_is_refused(token):
    refused(token)
