"""The issue's fault test: 500 incidents, each alerting the DSL team and a named member of staff,
recorded through the gateway while, in turn,

  a. the alerts service is killed (SIGKILL) mid-send — the SMTP server already holds a message it has
     not yet answered — and restarted;
  b. the SMTP server refuses connections for a while (then listens again on the same port);
  c. RabbitMQ closes the alerts service's connections from the broker's side;
  d. PostgreSQL terminates the alerts service's database connections.

At the end every recipient has exactly one e-mail per alert as the recipient sees it: a mail client
folds messages with the same Message-ID, so a resend after a crash between the server's acceptance
and the sender recording it is counted (and printed) but allowed; two different Message-IDs for one
(recipient, incident) are not. No e-mail holds the account or a pupil's name.

Each fault is checked to have happened (the process really died mid-send, connections really were
refused, closed or terminated), so the test fails if a fault is not injected."""
from __future__ import annotations

import email
import email.policy
import re
import time
import uuid
from collections import Counter, defaultdict
from concurrent.futures import ThreadPoolExecutor, as_completed
from datetime import datetime, timedelta, timezone

import pytest
import sqlalchemy as sa

from .client import Api, eventually
from .stack import Stack

TEACHER = "teacher@demo.haven.test"
DSL_TEAM = ("dsl@demo.haven.test", "ddsl@demo.haven.test")  # the "dsl" alert group
NAMED = "senco@demo.haven.test"  # alerted by name
NAMED_NAME = "Nadia Brooks"
RECIPIENTS = (*DSL_TEAM, NAMED)
FAULTS = ("a. alerts killed mid-send", "b. SMTP refusing", "c. broker closed connections",
          "d. PostgreSQL dropped connections")
PER_FAULT = 125  # 4 × 125 = 500 incidents
CLIENTS = 4  # recording requests in flight at once
# The account is never e-mailed: this text (and the marker in it) must appear in no message.
ACCOUNT = "{marker}-{n}: said her stepfather locks her in the garden shed overnight when he has been drinking."
ACCOUNT_WORDS = ("stepfather", "garden shed", "drinking")
WAIT = 150  # seconds, at most, for the last alert to be mailed after the last fault


@pytest.fixture(scope="module")
def fault_stack():
    # A short mail lease, so a message whose sender was killed mid-send is retried within seconds.
    s = Stack(env={"HAVEN_MAIL_LEASE_SECONDS": "5"})
    try:
        yield s.start()
    finally:
        s.mail.release()
        if s.mail.refusing():
            s.mail.accept()
        s.stop()


def until(condition, timeout: float, what: str):
    """Poll `condition` until it returns something true; fail saying `what` did not happen."""
    return eventually(condition, timeout, step=0.1) or pytest.fail(f"{what} (waited {timeout:.0f} s)")


def mail_status(stack: Stack) -> Counter:
    """The alerts service's mail queue by status, read straight from its database."""
    engine = sa.create_engine(stack.databases["alerts"].replace("postgresql://", "postgresql+pg8000://", 1),
                              poolclass=sa.pool.NullPool)
    try:
        with engine.connect() as conn:
            rows = conn.execute(sa.text("SELECT status, attempts > 0 AND last_error IS NOT NULL, count(*) "
                                        "FROM mail GROUP BY 1, 2")).all()
    finally:
        engine.dispose()
    status = Counter()
    for name, refused, count in rows:
        status[name] += count
        if refused and name == "pending":
            status["pending after a failed attempt"] += count
    return status


def read(raw: str) -> tuple[str | None, str]:
    """(Message-ID, every header and decoded text part) of one message as the catcher received it."""
    message = email.message_from_string(raw, policy=email.policy.default)
    texts = [str(value) for value in message.values()]
    for part in message.walk():
        if part.get_content_maintype() == "text":
            texts.append(part.get_content())
    return message["Message-ID"], "\n".join(texts)


class Recorder:
    """The demo teacher recording incidents through the JSON API, CLIENTS at a time."""

    def __init__(self, stack: Stack, marker: str):
        self.api = Api(stack.base_url).login(TEACHER)
        self.marker = marker
        self.pupils = self.api.get("/api/v1/pupils", params={"q": "", "limit": 40}).json()
        self.category = next(c for c in self.api.get("/api/v1/categories").json() if c["name"] == "Safeguarding")
        named = self.api.get("/api/v1/staff", params={"q": NAMED_NAME}).json()
        self.named_id = next(s["id"] for s in named if s["name"] == NAMED_NAME)
        self.incidents: dict[int, str] = {}  # incident id → the fault it was recorded during
        self.count = 0

    def one(self, n: int) -> int:
        occurred = (datetime.now(timezone.utc) - timedelta(minutes=10)).strftime("%Y-%m-%dT%H:%M:%SZ")
        body = {"pupil_id": self.pupils[n % len(self.pupils)]["id"], "occurred_at": occurred,
                "account": ACCOUNT.format(marker=self.marker, n=n), "category_ids": [self.category["id"]],
                "alert_user_ids": [self.named_id], "alert_groups": ["dsl"]}
        r = self.api.post("/api/v1/incidents", json=body)
        assert r.status_code == 201, r.text
        return r.json()["id"]

    def block(self, fault: str, inject, recover) -> None:
        """PER_FAULT incidents; `inject()` once half are recorded, the rest in flight around it, and
        `recover()` when all are recorded."""
        with ThreadPoolExecutor(CLIENTS) as pool:
            numbers = range(self.count, self.count + PER_FAULT)
            self.count += PER_FAULT
            futures = [pool.submit(self.one, n) for n in numbers]
            for done, future in enumerate(as_completed(futures), 1):
                self.incidents[future.result()] = fault
                if done == PER_FAULT // 2:
                    inject()
        recover()


@pytest.mark.timeout(360)  # usually about two minutes; more on a busy machine
def test_every_alert_is_mailed_once_through_kill_smtp_broker_and_database_faults(fault_stack):
    stack, mail = fault_stack, fault_stack.mail
    recorder = Recorder(stack, marker=f"faulttest-{uuid.uuid4().hex[:12]}")
    observed: dict[str, str] = {}
    started = time.time()

    # a. Killed mid-send. The catcher keeps each message but does not answer DATA: the alerts service
    # is then exactly between the server holding the message and recording it as sent.
    mail.hold()

    at_kill = []

    def kill():
        until(lambda: mail.holding, 30, "the alerts service never started sending while the catcher held")
        pending = mail_status(stack)["pending"]
        assert pending, "no mail was pending when the alerts service was killed"
        held = mail.holding
        assert stack.kill_process("alerts") == -9
        at_kill.append(len(mail.snapshot()))
        mail.release()
        observed[FAULTS[0]] = f"SIGKILL with {held} message(s) held mid-DATA, {pending} pending"

    def restart():
        assert len(mail.snapshot()) == at_kill[0], "mail was sent while the alerts service was down"
        stack.start_process("alerts")
        stack.wait_service("alerts")

    recorder.block(FAULTS[0], kill, restart)

    # b. The SMTP server refuses connections while incidents are recorded.
    failed_before = []

    def refuse():
        failed_before.append(mail_status(stack)["pending after a failed attempt"])
        mail.refuse()
        assert mail.refusing()

    def accept():
        def refused():
            waiting = mail_status(stack)["pending after a failed attempt"] - failed_before[0]
            return waiting > 0 and waiting
        waiting = until(refused, 30, "the alerts service never tried (and failed) to send while SMTP refused")
        observed[FAULTS[1]] = f"{waiting} message(s) refused and waiting"
        mail.accept()
        assert not mail.refusing()

    recorder.block(FAULTS[1], refuse, accept)

    # c. RabbitMQ closes the alerts service's connections from its side.
    closed: list[str] = []

    def close_connections():
        closed.extend(stack.close_broker_connections("alerts"))
        assert closed, "found no RabbitMQ connection of the alerts service to close"

    def reconnected():
        def fresh():
            assert stack.alive("alerts"), f"the alerts service died:\n{stack.log('alerts')[-3000:]}"
            now = stack.broker_connections("alerts")
            return now and not set(now) & set(closed) and now
        now = until(fresh, 60, "the alerts service did not reconnect to RabbitMQ")
        observed[FAULTS[2]] = f"{len(closed)} connection(s) closed, {len(now)} opened again"

    recorder.block(FAULTS[2], close_connections, reconnected)

    # d. PostgreSQL terminates the alerts service's connections.
    def terminate():
        ended = stack.drop_database_connections("alerts")
        assert ended, "the alerts service held no database connection to terminate"
        observed[FAULTS[3]] = f"{ended} connection(s) terminated"

    recorder.block(FAULTS[3], terminate, lambda: None)
    recorded_in = time.time() - started

    # Every alert mailed, and nothing left to send (so no later duplicate can arrive).
    incidents = recorder.incidents
    assert len(incidents) == 4 * PER_FAULT
    link = re.compile(r"/incidents/(\d+)\b")
    expected = {(to, i) for to in RECIPIENTS for i in incidents}

    def collect():
        seen: dict[tuple[str, int], list[str | None]] = defaultdict(list)
        texts = []
        for rcpts, raw, _ in mail.snapshot():
            message_id, text = read(raw)
            texts.append((raw, text))
            for i in {int(x) for x in link.findall(text)} & incidents.keys():
                for to in rcpts:
                    seen[(to, i)].append(message_id)
        return seen, texts

    def finished():
        status = mail_status(stack)
        if set(status) - {"sent"} or status["sent"] < len(expected):
            return None
        seen, texts = collect()
        return (seen, texts) if expected <= seen.keys() else None

    try:
        seen, texts = until(finished, WAIT, "not every alert was mailed")
    except BaseException:
        seen, _ = collect()
        missing = expected - seen.keys()
        print(f"mail queue: {dict(mail_status(stack))}; missing {len(missing)} e-mails, e.g. {sorted(missing)[:5]}")
        print(stack.log("alerts")[-3000:])
        raise

    # The counts, as the recipient sees them.
    received = sum(len(ids) for ids in seen.values())
    distinct = {key: set(ids) for key, ids in seen.items()}
    folded = received - sum(len(ids) for ids in distinct.values())
    print(f"\n{len(incidents)} incidents × {len(RECIPIENTS)} recipients, recorded in {recorded_in:.0f} s, "
          f"all mailed {time.time() - started:.0f} s after the first")
    print(f"e-mails received {received}, distinct (recipient, Message-ID) {sum(map(len, distinct.values()))}, "
          f"duplicates folded by Message-ID {folded}")
    for fault in FAULTS:
        keys = [k for k in expected if incidents[k[1]] == fault]
        got = sum(len(seen[k]) for k in keys)
        dups = got - sum(len(distinct[k]) for k in keys)
        print(f"  {fault:<34} incidents {sum(1 for f in incidents.values() if f == fault)}, e-mails {got}, "
              f"duplicates folded {dups}; {observed.get(fault, 'not injected')}")
    for key, ids in sorted((k, ids) for k, ids in seen.items() if len(ids) > 1)[:30]:
        print(f"  folded: {key[0]} incident {key[1]}: {len(ids)} copies of {ids[0]}")

    assert set(observed) == set(FAULTS), "a fault was not injected"
    assert all(None not in ids for ids in seen.values()), "an alert e-mail without a Message-ID"
    doubled = {key: ids for key, ids in distinct.items() if key in expected and len(ids) > 1}
    assert not doubled, f"{len(doubled)} alerts reached a recipient twice as different e-mails: " \
                        f"{sorted(doubled.items())[:5]}"

    # Nothing from the record in any e-mail: not the account, not a pupil's name.
    names = {p["name"] for p in recorder.pupils} | {p["legal_name"] for p in recorder.pupils if p.get("legal_name")}
    surnames = {name.split()[-1] for name in names}
    who = re.compile(r"\b(" + "|".join(re.escape(n) for n in sorted(names | surnames)) + r")\b")
    for raw, text in texts:
        assert recorder.marker not in raw and recorder.marker not in text, "an e-mail holds the account"
        assert not any(word in text.lower() for word in ACCOUNT_WORDS), "an e-mail holds the account"
        found = who.search(text)
        assert found is None, f"an e-mail names a pupil ({found.group(0)!r})"
