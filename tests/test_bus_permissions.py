"""Each process's broker user may do its own work and nothing else (issue 9; deploy/rabbitmq.py).

The attacks of the issue, tried with each process's own credentials against the running stack: the
broker refuses each (ACCESS_REFUSED), nothing was bound or delivered, and the broker's log names the
refusal. Beside them, the permission computation itself, with no broker.
"""
from __future__ import annotations

import base64
import json
import re
import subprocess
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, HTTPServer

import pika
import pytest

from deploy import rabbitmq
from services.common import contracts, dlq, topology
from services.common.contracts import incidents as incidents_contract

SERVICES = ("incidents", "alerts", "documents", "transfers")
WILD = ("#", "*", "*.*", "#.#", "rpc.*", "rpc.#", "incidents.*", "incidents.#", "alerts.*", "")


def matches(regex: str, name: str) -> bool:
    """As RabbitMQ matches a permission (re:run: a search, so the anchors matter)."""
    return re.search(regex, name) is not None


# --- the permission computation ----------------------------------------------------------------------

def test_the_gateway_publishes_only_the_methods_it_calls():
    write, _read = rabbitmq.grant("gateway").topics["nameko-rpc"]
    assert matches(write, "incidents.get_incident")
    assert matches(write, "alerts.list_alerts")
    for key in ("incidents.get_incidentx", "incidents.x", "xincidents.get_incident", "gateway.anything",
                "rpc.reply-gateway-" + "0" * 32, *WILD):
        assert not matches(write, key), key


def test_every_contract_method_is_one_the_gateway_may_call():
    write, _read = rabbitmq.grant("gateway").topics["nameko-rpc"]
    for contract in contracts.ALL:
        for method in contract.methods.values():
            assert matches(write, method.routing_key)


def test_no_user_binds_or_publishes_with_a_wildcard_or_anothers_reply_key():
    gateway_reply = "rpc.reply-gateway-" + uuid.uuid4().hex
    for owner in rabbitmq.OWNERS:
        grant = rabbitmq.grant(owner)
        for exchange, (write, read) in grant.topics.items():
            for key in WILD:
                own_queue = exchange == "nameko-rpc" and key == f"{owner}.*"  # its rpc queue's one binding
                assert not matches(write, key) and (own_queue or not matches(read, key)), (owner, exchange, key)
        _write, rpc_read = grant.topics["nameko-rpc"]
        if owner != "gateway":
            assert not matches(rpc_read, gateway_reply), owner
        for other in SERVICES:
            assert matches(rpc_read, f"{other}.*") == (other == owner), (owner, other)


def test_every_user_has_topic_permissions_on_every_topic_exchange():
    # RabbitMQ lets a user publish and bind with any routing key on an exchange it has none for.
    for owner in rabbitmq.OWNERS:
        assert set(rabbitmq.grant(owner).topics) == set(topology.exchanges()), owner


def test_only_a_service_publishes_its_own_events_and_reads_only_those_it_handles():
    for contract in contracts.ALL:
        exchange = f"{contract.service}.events"
        for owner in rabbitmq.OWNERS:
            write, read = rabbitmq.grant(owner).topics[exchange]
            handled = {s.event.name for s in contracts.by_service(owner).subscriptions.values()
                       if s.event.exchange == exchange}
            for event in contract.events:
                assert matches(write, event) == (owner == contract.service), (owner, exchange, event)
                assert matches(read, event) == (event in handled), (owner, exchange, event)
        write, _ = rabbitmq.grant(contract.service).topics[exchange]
        assert not matches(write, "not_an_event_of_ours")


def test_a_service_calls_only_what_it_calls():
    write, _ = rabbitmq.grant("documents").topics["nameko-rpc"]
    assert matches(write, "incidents.check_incident_access")
    assert not matches(write, "incidents.get_incident")
    write, _ = rabbitmq.grant("alerts").topics["nameko-rpc"]
    assert not matches(write, "incidents.get_incident")
    assert matches(write, "rpc.reply-gateway-" + uuid.uuid4().hex)  # its answers to the gateway


def test_the_calls_named_are_those_the_processes_make():
    from services.documents.dependencies import IncidentAccess
    from services.gateway.clients import Clients, ServiceClient
    assert rabbitmq.CALLS["documents"] == (IncidentAccess.spec,) == (incidents_contract.check_incident_access,)
    called = {client.service for client in vars(Clients(None)).values() if isinstance(client, ServiceClient)}
    assert called == {m.service for m in rabbitmq.CALLS["gateway"]}


def test_the_reply_patterns_are_the_clients_own():
    from nameko.rpc import RPC_REPLY_QUEUE_TEMPLATE
    from services.gateway.rpc_client import RpcClient
    assert re.fullmatch(rabbitmq.GATEWAY_REPLY, RpcClient("amqp://localhost/").reply_to)
    reply_key = str(uuid.uuid4())
    assert re.fullmatch(rabbitmq.NAMEKO_REPLY_KEY, reply_key)
    documents = rabbitmq.grant("documents")
    assert matches(documents.configure, RPC_REPLY_QUEUE_TEMPLATE.format("documents", reply_key))
    assert not matches(documents.configure, RPC_REPLY_QUEUE_TEMPLATE.format("incidents", reply_key))


def test_queues_are_a_services_own():
    for owner in SERVICES:
        grant = rabbitmq.grant(owner)
        assert matches(grant.read, f"rpc-{owner}")
        for other in SERVICES:
            if other != owner:
                assert not matches(grant.read, f"rpc-{other}") and not matches(grant.configure, f"rpc-{other}")
        for q in topology.handler_queues():
            assert matches(grant.read, q.name) == (q.service == owner), (owner, q.name)
    gateway = rabbitmq.grant("gateway")
    for q in topology.handler_queues():
        assert not matches(gateway.read, q.name) and matches(gateway.read, q.name + dlq.SUFFIX)
        assert not matches(gateway.configure, q.name + dlq.SUFFIX)


def test_the_definitions_hold_hashes_not_passwords():
    passwords = rabbitmq.new_passwords()
    document = rabbitmq.definitions("/", passwords)
    text = json.dumps(document)
    assert not any(p in text for p in passwords.values())
    user = next(u for u in document["users"] if u["name"] == "haven-gateway")
    raw = base64.b64decode(user["password_hash"])
    import hashlib
    assert raw[4:] == hashlib.sha256(raw[:4] + passwords["gateway"].encode()).digest()
    assert {q["name"] for q in document["queues"]} == set(topology.handler_queue_names())
    with pytest.raises(ValueError):
        rabbitmq.definitions("/", {**passwords, "alerts": ""})


def test_each_process_uri_keeps_the_broker_and_names_its_user():
    uri = rabbitmq.with_credentials("amqps://admin:x@rabbit.example:5671/haven?cacertfile=/c/ca.pem", "haven-alerts",
                                    "p@ss/word")
    assert uri == "amqps://haven-alerts:p%40ss%2Fword@rabbit.example:5671/haven?cacertfile=/c/ca.pem"
    assert rabbitmq.vhost_of("amqp://a:b@h:5672/") == "/" and rabbitmq.vhost_of("amqp://h/%2Fx") == "/x"


def test_apply_over_http_posts_the_definitions_as_the_administrator():
    seen = {}

    class Api(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802
            seen.update(path=self.path, auth=self.headers["authorization"],
                        body=json.loads(self.rfile.read(int(self.headers["content-length"]))))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = HTTPServer(("127.0.0.1", 0), Api)
    threading.Thread(target=server.handle_request, daemon=True).start()
    try:
        document = rabbitmq.definitions("/", rabbitmq.new_passwords())
        rabbitmq.apply_over_http(f"http://127.0.0.1:{server.server_port}", "haven", "secret", document)
    finally:
        server.server_close()
    assert seen["path"] == "/api/definitions"
    assert seen["auth"] == "Basic " + base64.b64encode(b"haven:secret").decode()
    assert seen["body"]["topic_permissions"] == document["topic_permissions"]


# --- against the running stack ----------------------------------------------------------------------

def open_as(stack, owner: str):
    connection = pika.BlockingConnection(pika.URLParameters(stack.amqp_uris[owner]))
    channel = connection.channel()
    channel.confirm_delivery()
    return connection, channel


def refused(stack, owner: str, attempt) -> str:
    """Run `attempt(channel)` as `owner`; the broker must close the channel with ACCESS_REFUSED."""
    connection, channel = open_as(stack, owner)
    try:
        with pytest.raises(pika.exceptions.ChannelClosedByBroker) as caught:
            attempt(channel)
    finally:
        if connection.is_open:
            connection.close()
    assert caught.value.reply_code == 403 and "ACCESS_REFUSED" in caught.value.reply_text, caught.value
    return caught.value.reply_text


def broker_logged(text: str) -> bool:
    """The broker's own log names the refusal (it logs every channel error)."""
    deadline = time.time() + 10
    while time.time() < deadline:
        tail = subprocess.run(["rabbitmq-diagnostics", "-q", "log_tail", "-N", "300"], capture_output=True,
                              text=True, timeout=60).stdout
        if text in tail:
            return True
        time.sleep(0.2)
    return False


def bindings(stack, exchange: str) -> set[tuple[str, str]]:
    out = subprocess.run(["rabbitmqctl", "-q", "list_bindings", "-p", stack.vhost, "source_name",
                          "destination_name", "routing_key"], check=True, capture_output=True, text=True,
                         timeout=60).stdout
    rows = [line.split("\t") for line in out.splitlines()]
    return {(row[1], row[2]) for row in rows if len(row) == 3 and row[0] == exchange}


class Spy:
    """An administrator's queue bound where an attacker tries to publish: what reached the exchange."""

    def __init__(self, stack, exchange: str, routing_key: str):
        self.connection = pika.BlockingConnection(pika.URLParameters(stack.amqp_uri))
        self.channel = self.connection.channel()
        self.queue = self.channel.queue_declare("", exclusive=True).method.queue
        self.channel.queue_bind(self.queue, exchange, routing_key)

    def bodies(self) -> list[bytes]:
        got = []
        while True:
            method, _props, body = self.channel.basic_get(self.queue, auto_ack=True)
            if method is None:
                return got
            got.append(body)

    def close(self):
        self.connection.close()


def test_every_process_connects_as_its_own_user(stack):
    out = subprocess.run(["rabbitmqctl", "-q", "list_connections", "-p", stack.vhost, "pid", "user"], check=True,
                         capture_output=True, text=True, timeout=60).stdout
    user_of = dict(line.split("\t") for line in out.splitlines() if "\t" in line)
    for owner in rabbitmq.OWNERS:
        pids = stack.broker_connections(owner)
        assert pids, owner
        assert {user_of[pid] for pid in pids} == {stack.broker_user(owner)}, owner


def test_the_gateway_cannot_copy_rpc_requests(stack):
    queue = "rpc.reply-gateway-" + uuid.uuid4().hex  # a queue the gateway's user may declare

    def bind_incidents(channel):
        channel.queue_declare(queue, exclusive=True)
        channel.queue_bind(queue, "nameko-rpc", "incidents.*")

    text = refused(stack, "gateway", bind_incidents)
    assert "access to topic 'incidents.*' in exchange 'nameko-rpc'" in text
    assert (queue, "incidents.*") not in bindings(stack, "nameko-rpc")
    assert broker_logged(f"access to topic 'incidents.*' in exchange 'nameko-rpc' in vhost '{stack.vhost}' "
                         f"refused for user '{stack.broker_user('gateway')}'")


@pytest.mark.parametrize("owner", SERVICES)
@pytest.mark.parametrize("key", ["rpc.*", "#", "gateway-reply"])
def test_no_service_can_copy_replies(stack, owner, key):
    if key == "gateway-reply":  # the running gateway's own reply key
        key = next(name for name, _ in bindings(stack, "nameko-rpc") if name.startswith("rpc.reply-gateway-"))
    queue = f"rpc-{owner}"  # its own queue, which it may bind

    text = refused(stack, owner, lambda channel: channel.queue_bind(queue, "nameko-rpc", key))
    assert f"access to topic '{key}' in exchange 'nameko-rpc'" in text
    assert (queue, key) not in bindings(stack, "nameko-rpc")
    assert broker_logged(f"access to topic '{key}' in exchange 'nameko-rpc' in vhost '{stack.vhost}' "
                         f"refused for user '{stack.broker_user(owner)}'")


@pytest.mark.parametrize("owner", SERVICES)
def test_no_service_can_consume_the_gateways_replies(stack, owner):
    queue = next(name for name, _ in bindings(stack, "nameko-rpc") if name.startswith("rpc.reply-gateway-"))
    text = refused(stack, owner, lambda channel: channel.basic_consume(queue, lambda *args: None))
    assert f"access to queue '{queue}'" in text
    assert broker_logged(f"access to queue '{queue}' in vhost '{stack.vhost}' refused for user "
                         f"'{stack.broker_user(owner)}'")


def publish_refused(stack, user: str, exchange: str, key: str, body: bytes, props=None) -> tuple[str, list]:
    """`user` publishes `body` on `exchange` with routing key `key`: the broker's refusal, and what a spy
    queue bound there with that key received meanwhile."""
    spy = Spy(stack, exchange, key)
    try:
        text = refused(stack, user, lambda channel: channel.basic_publish(exchange, key, body, props))
        return text, spy.bodies()
    finally:
        spy.close()


@pytest.mark.parametrize("exchange, key", [("incidents.events", "incident_recorded"),
                                           ("gateway.events", "incident_recorded"),
                                           ("gateway.events", "staff_member_saved"),
                                           ("documents.events", "incident_recorded")])
def test_documents_cannot_publish_anothers_events(stack, exchange, key):
    marker = f'{{"event_id": "{uuid.uuid4()}", "forged": true}}'.encode()
    text, delivered = publish_refused(stack, "documents", exchange, key, marker)
    assert delivered == []
    if exchange == "documents.events":  # its own exchange, but not its event
        expected = f"access to topic '{key}' in exchange '{exchange}' in vhost '{stack.vhost}'"
    else:
        expected = f"access to exchange '{exchange}' in vhost '{stack.vhost}'"
    assert expected in text
    assert broker_logged(f"{expected} refused for user '{stack.broker_user('documents')}'")


def test_the_gateway_cannot_publish_incident_events(stack):
    marker = f'{{"event_id": "{uuid.uuid4()}"}}'.encode()
    text, delivered = publish_refused(stack, "gateway", "incidents.events", "incident_recorded", marker)
    assert delivered == []
    expected = f"access to exchange 'incidents.events' in vhost '{stack.vhost}'"
    assert expected in text
    assert broker_logged(f"{expected} refused for user '{stack.broker_user('gateway')}'")


def test_a_service_cannot_call_a_method_it_does_not_call(stack):
    body = json.dumps({"args": [], "kwargs": {"incident_id": 1}, "marker": str(uuid.uuid4())}).encode()
    props = pika.BasicProperties(content_type="application/json", reply_to="rpc.reply-gateway-" + "0" * 32,
                                 correlation_id=uuid.uuid4().hex)
    text, delivered = publish_refused(stack, "alerts", "nameko-rpc", "incidents.get_incident", body, props)
    assert body not in delivered
    expected = f"access to topic 'incidents.get_incident' in exchange 'nameko-rpc' in vhost '{stack.vhost}'"
    assert expected in text
    assert broker_logged(f"{expected} refused for user '{stack.broker_user('alerts')}'")


# --- what is allowed works ---------------------------------------------------------------------------

def test_the_gateways_user_calls_a_service_and_gets_the_reply(stack):
    connection, channel = open_as(stack, "gateway")
    try:
        reply_to = "rpc.reply-gateway-" + uuid.uuid4().hex
        channel.queue_declare(reply_to, exclusive=True, auto_delete=True)
        channel.queue_bind(reply_to, "nameko-rpc", reply_to)
        correlation_id = uuid.uuid4().hex
        channel.basic_publish("nameko-rpc", "transfers.health", json.dumps({"args": [], "kwargs": {}}).encode(),
                              pika.BasicProperties(content_type="application/json", reply_to=reply_to,
                                                   correlation_id=correlation_id, expiration="10000"),
                              mandatory=True)
        deadline = time.time() + 20
        while time.time() < deadline:
            method, props, body = channel.basic_get(reply_to, auto_ack=True)
            if method:
                break
            time.sleep(0.1)
        assert method is not None and props.correlation_id == correlation_id
        assert json.loads(body)["error"] is None
    finally:
        connection.close()


def test_the_gateways_user_lists_and_replays_a_handlers_dead_letters(stack):
    """The administrator's dead-letter page: counted and put back into that handler's queue alone."""
    queue = "evt-gateway-school_saved--incidents.on_school_saved"
    marker = f'{{"event_id": "{uuid.uuid4()}"}}'.encode()
    admin = pika.BlockingConnection(pika.URLParameters(stack.amqp_uri))
    try:
        channel = admin.channel()
        channel.queue_declare(queue + dlq.SUFFIX, durable=True)
        before = channel.queue_declare(queue + dlq.SUFFIX, passive=True).method.message_count
        channel.basic_publish("", queue + dlq.SUFFIX, marker, pika.BasicProperties(headers={
            "x-haven-original-exchange": "gateway.events", "x-haven-original-routing-key": "school_saved"}))
        with dlq.open_channel(stack.amqp_uris["gateway"]) as gateway:
            assert dlq.list_dead_letters(gateway, [queue + dlq.SUFFIX]) == {queue + dlq.SUFFIX: before + 1}
            assert dlq.replay(gateway, queue) == before + 1
        # It reached the handler, which parks it again: it carries no publisher's signature. Others parked
        # there are left unacknowledged, and go back when this connection closes.
        deadline = time.time() + 20
        found = False
        while time.time() < deadline and not found:
            method, _props, body = channel.basic_get(queue + dlq.SUFFIX)
            if method is None:
                time.sleep(0.2)
            elif body == marker:
                channel.basic_ack(method.delivery_tag)
                found = True
        assert found
    finally:
        admin.close()


def test_a_process_refuses_to_start_without_the_topology_it_may_not_declare(stack):
    vhost = f"haven-test-{uuid.uuid4().hex[:8]}"
    prefix = f"{vhost}-"
    passwords = rabbitmq.new_passwords()
    document = rabbitmq.definitions(vhost, passwords, prefix)
    for part in ("exchanges", "queues", "bindings"):  # the users, but not the topology step
        document[part] = []
    admin_uri = f"amqp://guest:guest@127.0.0.1:5672/{vhost}"
    subprocess.run(["rabbitmqctl", "-q", "add_vhost", vhost], check=True, timeout=60)
    try:
        subprocess.run(["rabbitmqctl", "-q", "set_permissions", "-p", vhost, "guest", ".*", ".*", ".*"], check=True,
                       timeout=60)
        rabbitmq.apply_with_rabbitmqctl(document)
        uris = rabbitmq.process_uris(admin_uri, passwords, prefix)
        with pytest.raises(topology.TopologyMissing, match="deploy.rabbitmq apply"):
            topology.declare(uris["incidents"], "incidents")
        assert "queue evt-incidents-incident_recorded--alerts.on_incident_recorded" in \
            topology.missing(admin_uri, "incidents")
        topology.declare(admin_uri)  # an administrator's account declares what is missing
        for owner in rabbitmq.OWNERS:
            assert topology.missing(uris[owner], owner) == []
    finally:
        subprocess.run(["rabbitmqctl", "-q", "delete_vhost", vhost], timeout=60)
        rabbitmq.delete_users([rabbitmq.user_name(owner, prefix) for owner in rabbitmq.OWNERS])


# --- the compose stack applies the same users ---------------------------------------------------------

def test_compose_gives_each_process_its_own_broker_user_after_broker_setup():
    import os

    import yaml
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    with open(os.path.join(root, "docker-compose.yml")) as f:
        services = yaml.safe_load(f)["services"]
    with open(os.path.join(root, ".env.example")) as f:
        documented = {line.split("=", 1)[0] for line in f if re.match(r"^[A-Z_]+=", line)}
    setup = services["broker-setup"]
    assert setup["command"][:4] == ["python", "-m", "deploy.rabbitmq", "apply"]
    assert setup["environment"]["RABBITMQ_ADMIN_USER"] == services["rabbitmq"]["environment"]["RABBITMQ_DEFAULT_USER"]
    for owner in rabbitmq.OWNERS:
        variable = rabbitmq.password_variable(owner)
        uri = services[owner]["environment"]["HAVEN_AMQP_URI"]
        assert re.match(rf"amqps?://{rabbitmq.user_name(owner)}:\$\{{{variable}:\?[^}}]*\}}@rabbitmq:", uri), uri
        assert f"${{{variable}:?" in setup["environment"][variable]
        assert variable in documented
        assert services[owner]["depends_on"]["broker-setup"] == {"condition": "service_completed_successfully"}
