"""Alert latency: from the 201 that answers a recorded incident to the SMTP server accepting each of
its e-mails, with a direct SMTP send as the floor, measured in the same run.

    .venv/bin/python bench/alert_latency.py [--rates 20,50,100] [--seconds 12] [--floor 300]

Haven's real stack (tests/stack.py: every service and the gateway in its own process, fresh
PostgreSQL databases, a RabbitMQ vhost of its own, an aiosmtpd server that timestamps each message on
DATA). The signed-in demo teacher records Safeguarding concerns alerting the "dsl" group (the DSL and
the deputy: two e-mails per incident) through POST /api/v1/incidents at each rate for --seconds, on an
open-loop schedule: request k is sent at start + k / rate whether or not earlier ones have been
answered, as staff across a school would. Each e-mail is matched to its incident by the link
`/incidents/<id>` in it; its latency is the catcher's timestamp minus the moment the 201 arrived (the
same clock: everything runs on this machine). It can be slightly negative: the alerts service may hand
the e-mail over before the gateway's answer reaches the client.

The floor: --floor messages sent one after another with smtplib from this process, one connection
each, to the same catcher; its latency is the catcher's timestamp minus the moment the send began.

For each rate it also prints how long the 201s took, how late the open-loop schedule ran (a late
schedule means this machine, not Haven alone, was short of CPU) and the CPU each process spent per
incident recorded, the bench's own process (client and SMTP server) included.

Prints figures and the issue's targets beside them; asserts nothing. The load average is printed
too: on a shared machine other work shows in the figures.
"""
from __future__ import annotations

import argparse
import asyncio
import email
import email.policy
import json
import os
import re
import smtplib
import sys
import time
from collections import Counter
from datetime import datetime, timedelta, timezone
from email.message import EmailMessage
from urllib.parse import urlsplit

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
from tests.client import Api  # noqa: E402
from tests.stack import MailCatcher, Stack  # noqa: E402

TEACHER = "teacher@demo.haven.test"
DSL_TEAM = ("dsl@demo.haven.test", "ddsl@demo.haven.test")
TARGETS_P99_MS = {20: 250, 100: 1000}  # the goals
LINK = re.compile(r"/incidents/(\d+)\b")
RAW_LINK = re.compile(r"/incidents/(\d+)(?![\d=])")  # not cut by a quoted-printable soft break
DRAIN_SECONDS = 120  # at most, for the last e-mail of a rate to arrive
CLK_TCK = os.sysconf("SC_CLK_TCK")
# Reuse a connection idle for less than this: uvicorn closes one idle for 5 s.
KEEP_ALIVE_SECONDS = 3.0


def cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def incident_ids(raw: str) -> set[int]:
    """The incidents a message links to: found in the raw message when its text is sent as it is (cheap,
    while Haven is still sending), else in its decoded text parts (plain or HTML, any encoding)."""
    ids = {int(i) for i in RAW_LINK.findall(raw)}
    if ids:
        return ids
    message = email.message_from_string(raw, policy=email.policy.default)
    for part in message.walk():
        if part.get_content_maintype() == "text":
            ids.update(int(i) for i in LINK.findall(part.get_content()))
    return ids


class Mailbox:
    """What the catcher has received, read incrementally: (recipient, incident) → first arrival."""

    def __init__(self, catcher: MailCatcher):
        self.catcher, self.read_upto = catcher, 0
        self.arrived: dict[tuple[str, int], float] = {}
        self.copies: Counter = Counter()

    def update(self) -> None:
        new = self.catcher.snapshot()[self.read_upto:]
        self.read_upto += len(new)
        for rcpts, raw, at in new:
            for incident in incident_ids(raw):
                for to in rcpts:
                    self.copies[(to, incident)] += 1
                    self.arrived.setdefault((to, incident), at)


def body_for(pupil_id: int, category_id: int) -> dict:
    occurred = (datetime.now(timezone.utc) - timedelta(minutes=30)).strftime("%Y-%m-%dT%H:%M:%SZ")
    return {"pupil_id": pupil_id, "occurred_at": occurred, "category_ids": [category_id],
            "alert_user_ids": [], "alert_groups": ["dsl"], "urgent": False, "record_type": "observation",
            "location": "Playground",
            "account": "During morning break the pupil was seen sitting alone by the fence and did not "
                       "want to join in. When asked, said their arm hurt and pulled the sleeve down. "
                       "No mark was seen. Spoke to the class teacher at the end of break."}


class Poster:
    """POST one JSON body over plain HTTP/1.1 keep-alive connections, as many at once as asked.

    Hand-written on asyncio streams rather than httpx: with hundreds of requests in flight httpx spent
    more CPU per request than the gateway does, on the same two cores, and the bench measured itself."""

    def __init__(self, base_url: str, path: str, cookies: dict, headers: dict, body: dict):
        url = urlsplit(base_url)
        self.host, self.port = url.hostname, url.port
        payload = json.dumps(body).encode()
        lines = [f"POST {path} HTTP/1.1", f"Host: {url.netloc}", "Content-Type: application/json",
                 f"Content-Length: {len(payload)}", "Cookie: " + "; ".join(f"{k}={v}" for k, v in cookies.items()),
                 *(f"{k}: {v}" for k, v in headers.items())]
        self.request = ("\r\n".join(lines) + "\r\n\r\n").encode() + payload
        self.idle: list[tuple[asyncio.StreamReader, asyncio.StreamWriter, float]] = []

    async def post(self) -> tuple[int, bytes]:
        """(status, body) of one request; a kept-alive connection the server has closed meanwhile (its
        keep-alive timeout) is replaced by a fresh one, as browsers and httpx do."""
        while self.idle:
            reader, writer, since = self.idle.pop()
            if time.perf_counter() - since < KEEP_ALIVE_SECONDS:
                try:
                    return await self._exchange(reader, writer)
                except (OSError, asyncio.IncompleteReadError):
                    continue  # closed by the server before it read our request
            writer.close()
        return await self._exchange(*await asyncio.open_connection(self.host, self.port))

    async def _exchange(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> tuple[int, bytes]:
        try:
            writer.write(self.request)
            head = await reader.readuntil(b"\r\n\r\n")
            status_line, *header_lines = head.decode("latin-1").split("\r\n")
            headers = {k.strip().lower(): v.strip() for k, _, v in (h.partition(":") for h in header_lines if h)}
            body = await reader.readexactly(int(headers.get("content-length", 0)))
        except BaseException:
            writer.close()
            raise
        if headers.get("connection", "").lower() == "close":
            writer.close()
        else:
            self.idle.append((reader, writer, time.perf_counter()))
        return int(status_line.split()[1]), body

    def close(self) -> None:
        for _, writer, _ in self.idle:
            writer.close()
        self.idle.clear()


async def open_loop(poster: Poster, rate: float, seconds: float) -> tuple[dict[int, float], list[float], Counter,
                                                                          float]:
    """Send at start + k / rate for k < rate × seconds; returns (incident id → when its 201 arrived,
    seconds each 201 took, statuses, how late the schedule ran at worst)."""
    answered: dict[int, float] = {}
    took: list[float] = []
    statuses: Counter = Counter()

    async def one():
        sent = time.perf_counter()
        try:
            status, body = await poster.post()
        except (OSError, asyncio.IncompleteReadError) as exc:
            statuses[type(exc).__name__] += 1
            return
        statuses[status] += 1
        if status == 201:
            answered[json.loads(body)["id"]] = time.time()
            took.append(time.perf_counter() - sent)

    tasks, lateness = [], 0.0
    start = time.perf_counter()
    for k in range(int(rate * seconds)):
        due = start + k / rate
        delay = due - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        lateness = max(lateness, time.perf_counter() - due)
        tasks.append(asyncio.create_task(one()))
    await asyncio.gather(*tasks)
    return answered, took, statuses, lateness


def floor(catcher: MailCatcher, count: int) -> list[float]:
    """A direct SMTP send from this process, one connection per message: catcher's timestamp − start."""
    latencies = []
    for n in range(count + 10):
        message = EmailMessage()
        message["From"], message["To"], message["Subject"] = "bench@localhost", DSL_TEAM[0], "floor"
        message.set_content(f"floor message {n}\n")
        before = len(catcher.messages)
        started = time.time()
        with smtplib.SMTP("127.0.0.1", catcher.port, timeout=30) as smtp:
            smtp.send_message(message)
        if n >= 10:  # after a warm-up
            latencies.append(catcher.received_at[before] - started)
    return latencies


def drain(mailbox: Mailbox, wanted: set[tuple[str, int]]) -> None:
    deadline = time.time() + DRAIN_SECONDS
    while time.time() < deadline:
        mailbox.update()
        if wanted <= mailbox.arrived.keys():
            return
        time.sleep(0.2)
    mailbox.update()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rates", default="20,50,100", help="incidents per second, comma-separated")
    parser.add_argument("--seconds", type=float, default=12.0, help="how long each rate is held")
    parser.add_argument("--floor", type=int, default=300, help="direct SMTP sends for the floor")
    args = parser.parse_args()
    rates = [float(r) for r in args.rates.split(",")]

    # As in production: the test stack's check of every RPC answer against its contract is off.
    stack = Stack(env={"HAVEN_CHECK_RESULTS": "false"})
    try:
        print("starting Haven…", flush=True)
        stack.start()
        api = Api(stack.base_url).login(TEACHER)
        category = next(c for c in api.get("/api/v1/categories").json() if c["name"] == "Safeguarding")
        pupil = api.get("/api/v1/pupils", params={"q": ""}).json()[0]
        body = body_for(pupil["id"], category["id"])
        cookies, headers = dict(api.http.cookies), {"X-CSRF-Token": api.csrf}
        api.http.close()

        async def run(rate: float, seconds: float):
            poster = Poster(stack.base_url, "/api/v1/incidents", cookies, headers, body)
            try:
                return await open_loop(poster, rate, seconds)
            finally:
                poster.close()
        mailbox = Mailbox(stack.mail)

        # A warm-up, so the first rate does not pay for the processes' first connections.
        warm, _, _, _ = asyncio.run(run(10, 2))
        drain(mailbox, {(to, i) for to in DSL_TEAM for i in warm})

        print(f"\n== alert e-mail latency: from the 201 to the SMTP server accepting each e-mail "
              f"(two DSLs alerted per incident, {args.seconds:.0f} s per rate, open loop)")
        pids = {name: proc.pid for name, proc in stack.procs.items()} | {"bench (client, SMTP server)": os.getpid()}
        for rate in rates:
            load = os.getloadavg()[0]
            cpu_before = {name: cpu_seconds(pid) for name, pid in pids.items()}
            answered, took, statuses, lateness = asyncio.run(run(rate, args.seconds))
            wanted = {(to, i) for to in DSL_TEAM for i in answered}
            drain(mailbox, wanted)
            cpu = {name: cpu_seconds(pid) - cpu_before[name] for name, pid in pids.items()}
            latencies = [1000 * (mailbox.arrived[key] - answered[key[1]]) for key in wanted
                         if key in mailbox.arrived]
            missing = len(wanted) - len(latencies)
            doubled = sum(mailbox.copies[key] - 1 for key in wanted if mailbox.copies[key] > 1)
            target = TARGETS_P99_MS.get(int(rate))
            print(f"  {rate:5.0f}/s  e-mail p50 {pct(latencies, 50):7.1f} ms  p99 {pct(latencies, 99):7.1f} ms  "
                  f"max {max(latencies):7.1f} ms"
                  + (f"  (target p99 < {target} ms)" if target else ""))
            print(f"           {len(answered)} incidents recorded, {len(latencies)} e-mails "
                  f"({missing} missing after {DRAIN_SECONDS} s, {doubled} extra copies); the 201 took "
                  f"p50 {1000 * pct(took, 50):.0f} ms p99 {1000 * pct(took, 99):.0f} ms; statuses "
                  f"{dict(sorted(statuses.items(), key=str))}; schedule at worst {1000 * lateness:.0f} ms late; "
                  f"load average {load:.2f}")
            print("           CPU per incident: " + ", ".join(
                f"{name} {1000 * seconds / max(1, len(answered)):.1f} ms" for name, seconds in cpu.items()),
                flush=True)

        times = floor(stack.mail, args.floor)
        print(f"  floor    direct SMTP send (smtplib, one connection per message, {len(times)} sequential): "
              f"p50 {1000 * pct(times, 50):.1f} ms  p99 {1000 * pct(times, 99):.1f} ms")
    finally:
        stack.stop()


if __name__ == "__main__":
    main()
