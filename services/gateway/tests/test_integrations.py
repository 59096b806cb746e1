"""Integrations' API keys (services/gateway/integrations.py): made once, stored hashed, revocable."""
from __future__ import annotations

import hashlib

import pytest
from sqlalchemy import select

from services.common.errors import NotFound, ValidationFailed
from services.gateway import integrations
from services.gateway.models import Integration
from services.gateway.seed import DEMO_SCHOOL_ID

from .conftest import staff



def make(session, name="Smoothwall Monitor", school_id=DEMO_SCHOOL_ID):
    return integrations.create_integration(session, school_id=school_id, name=name,
                                           created_by=staff(session, "dsl@demo.haven.test").id)


def test_a_key_is_random_prefixed_and_only_its_hash_is_kept(session):
    integration, key = make(session)
    _, other_key = make(session, name="Another system")
    assert key.startswith("hvn_") and len(key) == 44 and key != other_key
    assert set(key[4:]) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
    row = session.get(Integration, integration.id)
    assert row.key_hash == hashlib.sha256(key.encode()).hexdigest() and row.key_prefix == key[:8]
    stored = " ".join(str(getattr(row, c.name)) for c in Integration.__table__.columns)
    assert key not in stored and key[8:] not in stored
    assert "api_key" not in integrations.public(row) and "key_hash" not in integrations.public(row)


def test_the_key_authenticates_its_integration_and_nothing_else_does(session):
    integration, key = make(session)
    assert integrations.authenticate_key(session, key).id == integration.id
    assert session.get(Integration, integration.id).last_used_at is not None
    tampered = key[:-1] + ("A" if key[-1] != "A" else "B")
    for bad in (tampered, key + "x", key[:-1], key.upper(), "hvn_" + "x" * 40, integration.key_hash, "Bearer " + key):
        with pytest.raises(integrations.KeyRefused, match="not valid"):
            integrations.authenticate_key(session, bad)
    for missing in (None, ""):
        with pytest.raises(integrations.KeyRefused, match="Authorization: Bearer"):
            integrations.authenticate_key(session, missing)


def test_a_revoked_key_is_refused_and_the_integration_is_kept(session):
    dsl = staff(session, "dsl@demo.haven.test")
    integration, key = make(session)
    revoked = integrations.revoke_integration(session, school_id=DEMO_SCHOOL_ID, revoked_by=dsl.id,
                                              integration_id=integration.id)
    assert revoked.active is False and revoked.revoked_by == dsl.id and revoked.revoked_at is not None
    with pytest.raises(integrations.KeyRefused, match="revoked"):
        integrations.authenticate_key(session, key)
    again = integrations.revoke_integration(session, school_id=DEMO_SCHOOL_ID, revoked_by=dsl.id + 1,
                                            integration_id=integration.id)
    assert again.revoked_by == dsl.id  # unchanged
    assert [i.id for i in integrations.list_integrations(session, DEMO_SCHOOL_ID)] == [integration.id]
    # Its name may be used again by a new integration.
    assert make(session)[0].id != integration.id


def test_another_schools_integration_cannot_be_revoked(session):
    integration, key = make(session, school_id=DEMO_SCHOOL_ID + 1)
    with pytest.raises(NotFound):
        integrations.revoke_integration(session, school_id=DEMO_SCHOOL_ID, revoked_by=1,
                                        integration_id=integration.id)
    assert integrations.authenticate_key(session, key).active
    assert integrations.list_integrations(session, DEMO_SCHOOL_ID) == []


@pytest.mark.parametrize("name, message", [("", "name"), ("   ", "name"), ("x" * 121, "longer"), (None, "name")])
def test_an_integration_needs_a_name(session, name, message):
    with pytest.raises(ValidationFailed) as caught:
        make(session, name=name)
    assert caught.value.errors[0]["field"] == "name" and message in caught.value.errors[0]["message"]
    assert session.scalar(select(Integration.id)) is None


def test_two_active_integrations_cannot_share_a_name(session):
    make(session, name="Smoothwall Monitor")
    with pytest.raises(ValidationFailed):
        make(session, name=" smoothwall monitor ")


def test_the_actor_is_an_integration_with_its_own_id_and_name(session):
    integration, _ = make(session)
    actor = integrations.actor_for(integration)
    assert (actor.kind, actor.user_id, actor.school_id, actor.name, actor.roles) == (
        "integration", integration.id, DEMO_SCHOOL_ID, "Smoothwall Monitor", ("integration",))
    assert not actor.is_dsl and not actor.is_slt
