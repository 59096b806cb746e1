"""The gateway's pika RPC client against the real broker: timeouts, missing services, broker loss."""
from __future__ import annotations

import asyncio
import subprocess
import time

import pika
import pytest

from services.common.errors import NotFound, ServiceTimeout, ServiceUnavailable
from services.gateway.rpc_client import RpcClient


def run(coro):
    return asyncio.run(coro)


def test_calls_in_flight_timeouts_and_missing_services(stack):
    # A "service" that takes requests and never answers: the client must give up on time.
    conn = pika.BlockingConnection(pika.URLParameters(stack.amqp_uri))
    ch = conn.channel()
    ch.queue_declare("rpc-silent", exclusive=True)
    ch.queue_bind("rpc-silent", "nameko-rpc", "silent.*")

    async def scenario():
        client = RpcClient(stack.amqp_uri, default_timeout=5)
        await client.start()
        try:
            results = await asyncio.gather(*(client.call("incidents", "health") for _ in range(50)))
            assert results == ["ok"] * 50
            started = time.monotonic()
            with pytest.raises(ServiceTimeout):
                await client.call("silent", "anything", timeout=0.5)
            assert time.monotonic() - started < 2
            with pytest.raises(ServiceUnavailable) as missing:
                await client.call("nosuchservice", "health")
            assert missing.value.service == "nosuchservice"
            with pytest.raises(NotFound):  # a domain error comes back as its own type
                from services.common.actor import Actor
                teacher = Actor(user_id=1, school_id=1, name="T", roles=("staff",))
                token = stack.actor_context(teacher, "incidents.get_incident", {"incident_id": 10**9})
                await client.call("incidents", "get_incident", token, incident_id=10**9)
        finally:
            await client.close()

    try:
        run(scenario())
    finally:
        conn.close()


def _close_connections(name: str) -> int:
    out = subprocess.run(["rabbitmqctl", "-q", "list_connections", "pid", "client_properties"],
                         capture_output=True, text=True, check=True).stdout
    pids = [line.split("\t")[0] for line in out.splitlines() if name in line]
    for pid in pids:
        subprocess.run(["rabbitmqctl", "-q", "close_connection", pid, "test: simulated broker restart"],
                       check=True, capture_output=True)
    return len(pids)


def test_client_reconnects_after_the_broker_drops_it(stack):
    async def scenario():
        client = RpcClient(stack.amqp_uri, default_timeout=5, connection_name="haven-test-reconnect")
        await client.start()
        try:
            assert await client.call("incidents", "health") == "ok"
            closed = await asyncio.to_thread(_close_connections, "haven-test-reconnect")
            assert closed == 1
            deadline = time.monotonic() + 20
            while True:
                try:
                    assert await client.call("incidents", "health") == "ok"
                    break
                except ServiceUnavailable:
                    if time.monotonic() > deadline:
                        raise
                    await asyncio.sleep(0.2)
        finally:
            await client.close()

    run(scenario())
