"""RPC overhead: the gateway's pika client calling a Nameko service, against a raw pika round trip
(a pika responder that answers at once), measured in the same run on the same broker.

    .venv/bin/python bench/rpc_overhead.py [--calls 2000]

Uses a throw-away RabbitMQ vhost (rabbitmqctl) so a running Haven is not disturbed.
"""
from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import threading
import time
import uuid

import pika

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from services.gateway.rpc_client import RpcClient  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))] * 1000


def raw_responder(uri: str, ready: threading.Event, stop: threading.Event) -> None:
    conn = pika.BlockingConnection(pika.URLParameters(uri))
    ch = conn.channel()
    ch.queue_declare("bench-raw", auto_delete=True)

    def on_request(channel, method, props, body):
        channel.basic_publish("", props.reply_to, body, pika.BasicProperties(correlation_id=props.correlation_id))

    ch.basic_consume("bench-raw", on_request, auto_ack=True)
    ready.set()
    while not stop.is_set():
        conn.process_data_events(time_limit=0.1)
    conn.close()


def raw_round_trips(uri: str, calls: int) -> list[float]:
    conn = pika.BlockingConnection(pika.URLParameters(uri))
    ch = conn.channel()
    reply_queue = ch.queue_declare("", exclusive=True).method.queue
    replies: dict[str, bytes] = {}
    ch.basic_consume(reply_queue, lambda c, m, p, b: replies.__setitem__(p.correlation_id, b), auto_ack=True)
    timings = []
    for _ in range(calls):
        cid = uuid.uuid4().hex
        start = time.perf_counter()
        ch.basic_publish("", "bench-raw", b'{"args":["x"],"kwargs":{}}',
                         pika.BasicProperties(reply_to=reply_queue, correlation_id=cid,
                                              content_type="application/json"))
        while cid not in replies:
            conn.process_data_events(time_limit=1)
        timings.append(time.perf_counter() - start)
        del replies[cid]
    conn.close()
    return timings


async def client_round_trips(uri: str, calls: int) -> tuple[list[float], float]:
    client = RpcClient(uri, default_timeout=10)
    await client.start()
    for _ in range(50):  # warm up
        await client.call("bench_echo", "echo", "x")
    timings = []
    for _ in range(calls):
        start = time.perf_counter()
        await client.call("bench_echo", "echo", "x")
        timings.append(time.perf_counter() - start)
    start = time.perf_counter()
    await asyncio.gather(*(client.call("bench_echo", "echo", "x") for _ in range(calls)))
    throughput = calls / (time.perf_counter() - start)
    await client.close()
    return timings, throughput


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calls", type=int, default=2000)
    args = parser.parse_args()
    vhost = f"haven-bench-{uuid.uuid4().hex[:8]}"
    subprocess.run(["rabbitmqctl", "-q", "add_vhost", vhost], check=True)
    subprocess.run(["rabbitmqctl", "-q", "set_permissions", "-p", vhost, "guest", ".*", ".*", ".*"], check=True)
    uri = f"amqp://guest:guest@127.0.0.1:5672/{vhost}"
    service = subprocess.Popen([sys.executable, os.path.join(HERE, "echo_service.py"), uri],
                               stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    ready, stop = threading.Event(), threading.Event()
    responder = threading.Thread(target=raw_responder, args=(uri, ready, stop), daemon=True)
    try:
        assert service.stdout.readline().strip() == "ready"
        responder.start()
        ready.wait(10)
        raw_round_trips(uri, 50)  # warm up
        raw = raw_round_trips(uri, args.calls)
        ours, throughput = asyncio.run(client_round_trips(uri, args.calls))
    finally:
        stop.set()
        service.terminate()
        service.wait(10)
        subprocess.run(["rabbitmqctl", "-q", "delete_vhost", vhost], check=False)
    print(f"calls per measurement: {args.calls} (sequential, one in flight)")
    print(f"raw pika round trip         p50 {pct(raw, 50):6.3f} ms   p99 {pct(raw, 99):6.3f} ms   "
          f"mean {statistics.mean(raw) * 1000:6.3f} ms")
    print(f"gateway client → Nameko     p50 {pct(ours, 50):6.3f} ms   p99 {pct(ours, 99):6.3f} ms   "
          f"mean {statistics.mean(ours) * 1000:6.3f} ms")
    print(f"ratio (gateway / raw)       p50 {pct(ours, 50) / pct(raw, 50):6.2f}x   "
          f"p99 {pct(ours, 99) / pct(raw, 99):6.2f}x")
    print(f"gateway client, {args.calls} calls in flight at once: {throughput:,.0f} calls/s")


if __name__ == "__main__":
    main()
