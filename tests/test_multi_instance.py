"""Every process as two instances: two of each service and two gateways on one vhost and the same
databases record, alert and relay correctly — nothing doubled, nothing lost.

Incidents are recorded through both gateways at once; each is published on `incidents.events`
once, raises one alert per member of the DSL team once, and each alert e-mail arrives once.
Staff-directory events written to the gateways' shared outbox are published once between the two
gateways' relays and reach the alerts service's directory."""
from __future__ import annotations

import json
import re
import time
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
import sqlalchemy as sa
from kombu import Connection, Exchange, Queue
from sqlalchemy.orm import Session

from services.common.actor import Actor
from services.common.events import add_to_outbox, make_event

from .client import Api, eventually
from .stack import Stack
from .test_end_to_end import DSL, TEACHER, record

DSL_TEAM = (DSL, "ddsl@demo.haven.test")
INCIDENTS = 20
STAFF_EVENTS = 150


@pytest.fixture(scope="module")
def stack2():
    s = Stack(instances=2)
    try:
        yield s.start()
    finally:
        s.stop()


class Spy:
    """A queue of our own bound to an events exchange: every message published there, once each."""

    def __init__(self, amqp_uri: str, exchange: str):
        self.connection = Connection(amqp_uri)
        self.channel = self.connection.channel()
        self.queue = Queue(f"test-spy-{uuid.uuid4().hex[:8]}", routing_key="#", exclusive=True,
                           exchange=Exchange(exchange, type="topic", durable=True, passive=True))(self.channel)
        self.queue.declare()
        self.messages: list[tuple[str, dict]] = []

    def drain(self) -> list[tuple[str, dict]]:
        while (message := self.queue.get(no_ack=True)) is not None:
            self.messages.append((message.properties.get("message_id"), json.loads(message.body)))
        return self.messages

    def close(self) -> None:
        self.connection.release()


def every_process_alive(stack: Stack) -> None:
    dead = [name for name in stack.procs if not stack.alive(name)]
    assert not dead, "\n".join(f"--- {n}\n{stack.log(n)[-2000:]}" for n in dead)


def test_two_of_everything_record_alert_and_relay_each_thing_once(stack2):
    assert sorted(stack2.procs) == sorted(n for s in ("incidents", "alerts", "documents", "transfers", "gateway")
                                          for n in (s, f"{s}-2"))
    incident_spy = Spy(stack2.amqp_uri, "incidents.events")
    staff_spy = Spy(stack2.amqp_uri, "gateway.events")
    try:
        # Teachers signed in on each gateway (the session is in the gateways' shared database).
        clients = [Api(url).login(TEACHER) for url in stack2.base_urls for _ in range(2)]
        with ThreadPoolExecutor(len(clients)) as pool:
            incidents = list(pool.map(lambda n: record(clients[n % len(clients)], f"Recorded on instance test, number {n}."),
                                      range(INCIDENTS)))
        wanted = {i["id"] for i in incidents}
        assert len(wanted) == INCIDENTS

        # Each event relayed once.
        def recorded_events() -> Counter:
            return Counter(body["incident_id"] for _, body in incident_spy.drain()
                           if body.get("event_type") == "incident_recorded")
        assert eventually(lambda: set(recorded_events()) >= wanted, timeout=60), recorded_events()

        # Each DSL-team member e-mailed once per incident.
        def mails() -> Counter:
            found = Counter()
            for rcpts, body in list(stack2.mail.messages):
                for incident_id in set(int(m) for m in re.findall(r"/incidents/(\d+)\b", body)):
                    for rcpt in rcpts:
                        if incident_id in wanted:
                            found[(rcpt, incident_id)] += 1
            return found
        everyone = {(rcpt, i) for rcpt in DSL_TEAM for i in wanted}
        assert eventually(lambda: set(mails()) >= everyone, timeout=60), sorted(everyone - set(mails()))

        # Staff-directory events from the gateways' outbox: both gateways' relays are polling it.
        staff_events = [make_event("staff_member_saved", 1, user_id=100_000 + n, name=f"Supply Teacher {n}",
                                   email=f"supply{n}@demo.haven.test", roles=["staff"], active=True)
                        for n in range(STAFF_EVENTS)]
        from services.gateway.models import OutboxEvent
        gateway_db = sa.create_engine(stack2.databases["gateway"].replace("postgresql://", "postgresql+pg8000://"))
        try:
            with Session(gateway_db) as session, session.begin():
                for event in staff_events:
                    add_to_outbox(session, OutboxEvent, event)
        finally:
            gateway_db.dispose()
        staff_ids = {e["event_id"] for e in staff_events}

        def staff_published() -> Counter:
            return Counter(mid for mid, _ in staff_spy.drain() if mid in staff_ids)
        assert eventually(lambda: set(staff_published()) == staff_ids, timeout=60)

        alerts_db = sa.create_engine(stack2.databases["alerts"].replace("postgresql://", "postgresql+pg8000://"))
        try:
            def directory() -> int:
                with alerts_db.connect() as conn:
                    return conn.execute(sa.text("SELECT count(*) FROM staff WHERE user_id >= 100000")).scalar()
            assert eventually(lambda: directory() == STAFF_EVENTS, timeout=60), directory()

            time.sleep(3)  # give any duplicate the time to arrive
            assert recorded_events() == Counter({i: 1 for i in wanted})
            assert mails() == Counter({key: 1 for key in everyone})
            assert staff_published() == Counter({e: 1 for e in staff_ids})
            with alerts_db.connect() as conn:
                alerts = Counter(conn.execute(sa.text("SELECT incident_id FROM alerts WHERE incident_id = ANY(CAST(:ids AS int[]))"),
                                              {"ids": sorted(wanted)}).scalars())
            assert alerts == Counter({i: len(DSL_TEAM) for i in wanted})  # one in-app alert each, too
        finally:
            alerts_db.dispose()
        every_process_alive(stack2)
        for c in clients:
            c.http.close()
    finally:
        incident_spy.close()
        staff_spy.close()


# --- key rotation ------------------------------------------------------------------------------------

def test_the_gateways_key_is_rotated_without_downtime_and_the_old_one_then_refused(stack2):
    """README "Keys": the new public key is trusted everywhere first (each instance restarted in turn),
    then the gateways sign with the new key, and after the overlap the old one is retired. Staff
    reading through either gateway (as a load balancer would send them) see no failed request, and a
    context signed with the retired key is refused."""
    import threading

    from services.common import keys

    from .test_actor_contexts import call, refused

    dsl = Api(stack2.base_url).login(DSL)
    failures, answered, done = [], [], threading.Event()

    def staff_keep_reading():
        n = 0
        while not done.is_set():
            for base in (stack2.base_urls[n % 2], stack2.base_urls[(n + 1) % 2]):  # the other on refusal
                try:
                    r = dsl.http.get(base + "/api/v1/alerts")
                except httpx.TransportError:
                    continue  # that gateway is restarting: the balancer tries the other
                (answered if r.status_code == 200 else failures).append((base, r.status_code, r.text[:200]))
                break
            else:
                failures.append(("no gateway answered", 0, ""))
            n += 1
            time.sleep(0.05)

    def restart_in_turn(names):
        """The first instance of each, then the second: one of each keeps serving all along."""
        for batch in ([n for n in names if "-" not in n], [n for n in names if "-" in n]):
            for name in batch:
                stack2.stop_process(name)
                stack2.start_process(name)
            if batch[0].startswith("gateway"):
                stack2.wait_healthy()
            else:
                eventually(stack2._every_instance_consumes, timeout=60)

    services = [n for s in ("incidents", "alerts", "documents", "transfers") for n in stack2.instance_names(s)]
    old_key = stack2.signing_key("gateway")
    reader = threading.Thread(target=staff_keep_reading, daemon=True)
    reader.start()
    try:
        new_kid, old_kid = keys.rotate(stack2.keys, "gateway")
        assert old_kid == old_key.kid
        stack2.env.update(stack2.keys)
        restart_in_turn(services)  # 1. every verifier trusts both keys
        restart_in_turn(stack2.instance_names("gateway"))  # 2. the gateways sign with the new one
        assert stack2.signing_key("gateway").kid == new_kid
        teacher = Actor(user_id=1, school_id=1, name="T", roles=("staff",))
        for key in (old_key, stack2.signing_key("gateway")):  # the overlap: both accepted
            token = stack2.actor_context(teacher, "alerts.list_alerts", {}, key=key)
            assert isinstance(call(stack2, "alerts.list_alerts", [token], {}), list)
        keys.retire(stack2.keys, old_kid)  # 3. after the overlap
        stack2.env.update(stack2.keys)
        restart_in_turn(services)
    finally:
        done.set()
        reader.join(10)
    assert failures == [] and len(answered) > 50
    refused(stack2, "alerts.list_alerts", [stack2.actor_context(teacher, "alerts.list_alerts", {}, key=old_key)], {})
    assert "not signed by a gateway key we trust" in stack2.log("alerts") + stack2.log("alerts-2")
    assert dsl.get("/api/v1/alerts").status_code == 200
