"""Issue 9's attacks on the actor context, repeated against the hardened system over the real broker.

Someone with broker access copies a live context off `nameko-rpc` (here with the vhost's
administrator account: a process's own broker user may not bind there, tests/test_bus_permissions.py)
and replays it as it was, sends it to other methods, or with other arguments; or a process that is not
the gateway mints one with its own key. Each is refused, logged by the service, and changes nothing.
"""
from __future__ import annotations

import asyncio
import json
import time

import pika
import pytest

from services.common.actor import Actor
from services.common.errors import Unauthenticated
from services.gateway.rpc_client import RpcClient

from .client import eventually
from .test_end_to_end import DSL, TEACHER, record


@pytest.fixture
def tap(stack):
    """A queue that copies every request to incidents and documents, as an eavesdropper's would."""
    conn = pika.BlockingConnection(pika.URLParameters(stack.amqp_uri))
    channel = conn.channel()
    queue = channel.queue_declare("", exclusive=True).method.queue
    for pattern in ("incidents.*", "documents.*"):
        channel.queue_bind(queue, "nameko-rpc", pattern)
    yield channel, queue
    conn.close()


def copied(tap, routing_key: str, timeout: float = 15) -> dict:
    """The last request to `routing_key` the tap has seen, as it went on the wire."""
    channel, queue = tap
    found, deadline = None, time.time() + timeout
    while time.time() < deadline:
        method, _props, body = channel.basic_get(queue, auto_ack=True)
        if method is None:
            if found:
                return found
            time.sleep(0.1)
        elif method.routing_key == routing_key:
            found = json.loads(body)
    assert found, f"no request to {routing_key} went by"
    return found


def call(stack, method: str, args: list, kwargs: dict):
    """Send one request straight to the bus, as the copier would."""
    service, name = method.split(".")

    async def send():
        client = RpcClient(stack.amqp_uri, default_timeout=10)
        await client.start()
        try:
            return await client.send(service, name, args, kwargs)
        finally:
            await client.close()
    return asyncio.run(send())


def refused(stack, method: str, args: list, kwargs: dict) -> None:
    with pytest.raises(Unauthenticated):
        call(stack, method, args, kwargs)


def household(api, pupil_id: int) -> list:
    return [m["name"] for m in api(DSL).get(f"/api/v1/pupils/{pupil_id}/front-sheet").json().get("household") or []]


def test_a_copied_context_is_refused_replayed_re_targeted_or_with_other_arguments(stack, api, tap):
    incident = record(api(TEACHER), "A concern the eavesdropper wants to read.")
    pupil_id = incident["pupil"]["id"]
    assert api(DSL).get(f"/api/v1/incidents/{incident['id']}").status_code == 200
    request = copied(tap, "incidents.get_incident")
    token, kwargs = request["args"][0], request["kwargs"]
    before = household(api, pupil_id)

    refused(stack, "incidents.get_incident", [token], kwargs)  # as it was
    refused(stack, "incidents.get_incident", [token], {"incident_id": incident["id"] + 1})  # another record
    refused(stack, "incidents.get_case", [token], {"case_id": 1})  # another method
    refused(stack, "incidents.add_household_member", [token],  # a write
            {"pupil_id": pupil_id, "member": {"name": "Eve Intruder", "relationship": "Uncle"}})
    refused(stack, "alerts.list_alerts", [token], {})  # another service

    assert household(api, pupil_id) == before and "Eve Intruder" not in household(api, pupil_id)
    log = stack.log("incidents")
    assert "refused an actor context for incidents.get_incident: replayed" in log
    assert "refused an actor context for incidents.get_incident: made for incidents.get_incident with other " \
           "arguments" in log
    assert "refused an actor context for incidents.add_household_member: made for incidents.get_incident" in log
    assert "refused an actor context for alerts.list_alerts: made for incidents.get_incident" in stack.log("alerts")
    assert token not in log  # the context itself is never written down


def test_a_context_a_service_mints_with_its_own_key_is_refused(stack, api):
    dsl = Actor(user_id=1, school_id=1, name="Forged DSL", roles=("staff", "dsl"),
                second_factor_at=time.time(), step_up_until=time.time() + 600)
    for owner in ("documents", "incidents", "alerts"):
        kwargs = {"unread_only": False, "limit": 10}
        forged = stack.actor_context(dsl, "alerts.list_alerts", kwargs, key=stack.signing_key(owner))
        refused(stack, "alerts.list_alerts", [forged], kwargs)
    assert "refused an actor context for alerts.list_alerts: not signed by a gateway key" in stack.log("alerts")
    # The same actor, signed by the gateway's key, is heard: the refusal was the key's.
    genuine = stack.actor_context(dsl, "alerts.list_alerts", {"unread_only": False, "limit": 10})
    assert isinstance(call(stack, "alerts.list_alerts", [genuine], {"unread_only": False, "limit": 10}), list)


def test_a_documents_call_lends_its_context_to_one_access_check_only(stack, api, tap):
    teacher = api(TEACHER)
    incident = record(teacher, "A concern with a note attached.")
    stored = teacher.post(f"/api/v1/incidents/{incident['id']}/documents",
                          files={"file": ("note.txt", b"a note", "text/plain")})
    assert stored.status_code == 201, stored.text
    request = copied(tap, "documents.store_document")
    token = request["args"][0]
    # documents spent the context; incidents spent its one delegated check
    refused(stack, "documents.store_document", [token], request["kwargs"])
    refused(stack, "incidents.check_incident_access", [token], {"incident_id": incident["id"], "purpose": "read"})
    refused(stack, "incidents.get_incident", [token], {"incident_id": incident["id"]})
    assert eventually(lambda: "refused an actor context for incidents.check_incident_access: replayed"
                      in stack.log("incidents"))
