"""Recording an incident: Haven beside a single FastAPI + SQLAlchemy process doing the same work.

    .venv/bin/python bench/record_path.py [--calls 300] [--clients 50] [--seconds 15] [--requests 3000]
                                          [--rounds 5] [--preload 100000] [--alert-dsl] [--profile DIR]

In one run, on the same PostgreSQL server, with the same body:
- the baseline (bench/record_baseline.py: one process, its own fresh database) and
- Haven's real stack (tests/stack.py: every service and the gateway in its own process, fresh
  PostgreSQL databases, a RabbitMQ vhost of its own), recording through POST /api/v1/incidents as
  the signed-in demo teacher,
are timed at one client (p50/p99 of --calls sequential requests after a warm-up) and at --clients
concurrent clients (requests/s, bounded by --requests and --seconds); first on an empty database,
then again after --preload incidents have been written straight into both with SQL (incidents,
their categories, chronology lines and published outbox rows; for Haven also the alerts service's
handled-event rows, alerts and sent mail), so the tables look like a school's after years.

The body alerts nobody by default (a Medical concern, no one named): what is measured is the record
path and the event's bookkeeping, not the mail server. --alert-dsl records Safeguarding concerns,
which e-mail the DSL team.

Baseline and Haven take turns (--rounds blocks each), so a machine whose load drifts treats both
alike. Around the 50-client runs it also prints the CPU each process spent per recorded incident
and what PostgreSQL's statistics (pg_stat_user_tables) say each table of Haven's was read per
incident: rows fetched through indexes (idx_tup_fetch) and rows read by sequential scans
(seq_tup_read); the counters are read after the servers have flushed them, so idle passes
(relays, mail sweeps) are counted too. --profile DIR runs py-spy (if installed) on the gateway,
incidents and alerts during the 50-client runs on the full database and prints each one's top
functions, sampled while holding the GIL (Python's own work; time in system calls shows in the CPU
figures); the raw profiles stay in DIR. The profilers take CPU from Haven during that phase: read
the growth figures from a run without --profile.

Prints figures and the issue's targets beside them; asserts nothing. The load average is printed
too: on a shared machine other work shows in the figures.
"""
from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import subprocess
import sys
import time
from collections import Counter
from datetime import datetime, timedelta, timezone

import httpx
import sqlalchemy as sa

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.join(ROOT, "bench"))
import record_baseline  # noqa: E402
from services.common.testing import create_database, drop_database  # noqa: E402
from tests.client import Api  # noqa: E402
from tests.stack import Stack, free_port  # noqa: E402

TEACHER = "teacher@demo.haven.test"
TARGET_LATENCY_RATIO = 3.0  # Haven's p50 at one client ≤ 3 × the baseline's
TARGET_THROUGHPUT_SHARE = 0.5  # Haven's requests/s at 50 clients ≥ 50 % of the baseline's
PROFILED = ("gateway", "incidents", "alerts")
CLK_TCK = os.sysconf("SC_CLK_TCK")


def engine(url: str):
    return sa.create_engine(url.replace("postgresql://", "postgresql+pg8000://", 1), poolclass=sa.pool.NullPool)


def body_for(pupil_id: int, category_id: int) -> dict:
    occurred = (datetime.now(timezone.utc) - timedelta(minutes=30)).strftime("%Y-%m-%dT%H:%M:%SZ")
    return {"pupil_id": pupil_id, "occurred_at": occurred, "category_ids": [category_id],
            "alert_user_ids": [], "alert_groups": [], "urgent": False, "record_type": "observation",
            "location": "Playground",
            "account": "During morning break the pupil was seen sitting alone by the fence and did not "
                       "want to join in. When asked, said their arm hurt and pulled the sleeve down. "
                       "No mark was seen. Spoke to the class teacher at the end of break."}


# --- load ----------------------------------------------------------------------------------------

class Target:
    def __init__(self, name: str, base_url: str, cookies: dict, csrf: str, body: dict):
        self.name, self.base_url, self.cookies, self.body = name, base_url, cookies, body
        self.headers = {"X-CSRF-Token": csrf}

    def one_client(self, calls: int, warmup: int = 20) -> list[float]:
        times = []
        with httpx.Client(base_url=self.base_url, cookies=self.cookies, headers=self.headers, timeout=30) as c:
            for n in range(warmup + calls):
                started = time.perf_counter()
                r = c.post("/api/v1/incidents", json=self.body)
                elapsed = time.perf_counter() - started
                if r.status_code != 201:
                    raise RuntimeError(f"{self.name}: {r.status_code} {r.text[:300]}")
                if n >= warmup:
                    times.append(elapsed * 1000)
        return times

    def many_clients(self, clients: int, max_requests: int, max_seconds: float) -> tuple[int, float, Counter]:
        """`clients` connections each sending one request after another: (recorded, seconds, statuses)."""
        async def run():
            statuses: Counter = Counter()
            limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
            async with httpx.AsyncClient(base_url=self.base_url, cookies=self.cookies, headers=self.headers,
                                         timeout=60, limits=limits) as c:
                # open every connection before the clock starts (a 404: no work for the services)
                await asyncio.gather(*(c.get("/api/v1/no-such-page") for _ in range(clients)))
                sent = 0
                deadline = time.perf_counter() + max_seconds

                async def client():
                    nonlocal sent
                    while sent < max_requests and time.perf_counter() < deadline:
                        sent += 1
                        r = await c.post("/api/v1/incidents", json=self.body)
                        statuses[r.status_code] += 1

                started = time.perf_counter()
                await asyncio.gather(*(client() for _ in range(clients)))
                elapsed = time.perf_counter() - started
            return statuses[201], elapsed, statuses
        return asyncio.run(run())


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


# --- Haven's processes and PostgreSQL's statistics ----------------------------------------------------

def cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


STATS = sa.text("""SELECT relname, seq_scan, seq_tup_read, coalesce(idx_scan, 0), coalesce(idx_tup_fetch, 0),
                          n_tup_ins, n_tup_upd, n_tup_del FROM pg_stat_user_tables""")


def table_stats(urls: dict[str, str]) -> dict[tuple[str, str], tuple[int, ...]]:
    out = {}
    for name, url in urls.items():
        e = engine(url)
        try:
            with e.connect() as conn:
                for row in conn.execute(STATS):
                    out[(name, row[0])] = tuple(row[1:])
        finally:
            e.dispose()
    return out


def print_stats(before: dict, after: dict, recorded: int) -> None:
    print(f"    PostgreSQL, per recorded incident (pg_stat_user_tables over the run, {recorded} incidents):")
    print(f"      {'database.table':<34}{'seq scans':>10}{'seq rows':>11}{'idx scans':>11}{'idx rows':>11}"
          f"{'ins':>7}{'upd':>7}{'del':>7}")
    for key in sorted(after):
        delta = [a - b for a, b in zip(after[key], before.get(key, (0,) * 7))]
        if not any(delta):
            continue
        per = [d / recorded for d in delta]
        print(f"      {key[0] + '.' + key[1]:<34}{per[0]:>10.2f}{per[1]:>11.1f}{per[2]:>11.2f}{per[3]:>11.1f}"
              f"{per[4]:>7.2f}{per[5]:>7.2f}{per[6]:>7.2f}")


def wait_for_stats_flush() -> None:
    time.sleep(11)  # PostgreSQL 15 backends flush their table counters within 10 s of going idle


# --- preload ---------------------------------------------------------------------------------------

HAVEN_INCIDENTS = sa.text("""
    INSERT INTO incidents (school_id, pupil_id, occurred_at, recorded_at, recorded_by, recorded_by_name, account,
                           urgent, record_type, location, dsl_informed_verbally, source)
    SELECT :school, (CAST(:pupils AS int[]))[1 + mod(g, cardinality(CAST(:pupils AS int[])))],
           now()::timestamp - (g * interval '17 minutes') - interval '1 hour',
           now()::timestamp - (g * interval '17 minutes'),
           :teacher, 'Tom Archer',
           'An account written years ago, about as long as most: what was seen, what was said and '
           || 'what was done about it, number ' || g,
           mod(g, 20) = 0, 'observation', 'Classroom', false, 'staff'
    FROM generate_series(1, :n) AS g""")
HAVEN_FOLLOWING = [
    sa.text("""INSERT INTO incident_categories (incident_id, category_id)
               SELECT id, (CAST(:categories AS int[]))[1 + mod(id, cardinality(CAST(:categories AS int[])))] FROM incidents WHERE id > :after"""),
    sa.text("""INSERT INTO incident_alerts (incident_id, "group") SELECT id, 'dsl' FROM incidents WHERE id > :after"""),
    sa.text("""INSERT INTO chronology (school_id, pupil_id, entry_type, ref_id, incident_id, occurred_at, title,
                                      category_ids, sensitivities, significant)
               SELECT school_id, pupil_id, 'incident', id::text, id, occurred_at, 'Observation — Safeguarding',
                      '[1]'::json, '["safeguarding"]'::json, false FROM incidents WHERE id > :after"""),
    # Published recently (inside any retention period): the relay must not read them on its passes.
    sa.text("""INSERT INTO outbox (event_id, event_type, body, created_at, published_at)
               SELECT gen_random_uuid()::text, 'incident_recorded',
                      json_build_object('event_type', 'incident_recorded', 'school_id', school_id,
                                        'incident_id', id, 'pupil_id', pupil_id)::text,
                      now()::timestamp - mod(id, 86400) * interval '1 second',
                      now()::timestamp - mod(id, 86400) * interval '1 second' + interval '5 milliseconds'
               FROM incidents WHERE id > :after ORDER BY id"""),
]
ALERTS_PRELOAD = [
    sa.text("""INSERT INTO processed_events (event_id, event_type, processed_at)
               SELECT gen_random_uuid()::text, 'incident_recorded', now()::timestamp - g * interval '17 minutes'
               FROM generate_series(1, :n) AS g"""),
    sa.text("""INSERT INTO alerts (school_id, incident_id, user_id, raised_by_user_id, raised_by_name, category_names,
                                  urgent, created_at, read_at)
               SELECT :school, g, :dsl, :teacher, 'Tom Archer', '["Safeguarding"]'::json, false,
                      now()::timestamp - g * interval '17 minutes', now()::timestamp - g * interval '16 minutes'
               FROM generate_series(1, :n) AS g"""),
    sa.text("""INSERT INTO mail (alert_id, to_address, message_id, subject, body, status, attempts, next_attempt_at,
                                sent_at)
               SELECT id, 'dsl@demo.haven.test', '<' || id || '@haven.local>', 'Haven alert: Safeguarding concern raised',
                      'Someone has recorded a concern in Haven and you have been alerted to it.', 'sent', 1,
                      created_at, created_at FROM alerts WHERE id <= :n"""),
]
BASELINE_INCIDENTS = sa.text("""
    INSERT INTO incidents (school_id, pupil_id, occurred_at, recorded_at, recorded_by, recorded_by_name, account,
                           urgent, record_type, location)
    SELECT :school, (CAST(:pupils AS int[]))[1 + mod(g, cardinality(CAST(:pupils AS int[])))],
           now()::timestamp - (g * interval '17 minutes') - interval '1 hour',
           now()::timestamp - (g * interval '17 minutes'), :teacher, 'Tom Archer',
           'An account written years ago, about as long as most: what was seen, what was said and '
           || 'what was done about it, number ' || g,
           mod(g, 20) = 0, 'observation', 'Classroom'
    FROM generate_series(1, :n) AS g""")
BASELINE_FOLLOWING = [
    HAVEN_FOLLOWING[0], HAVEN_FOLLOWING[1],
    sa.text("""INSERT INTO chronology (school_id, pupil_id, entry_type, ref_id, incident_id, occurred_at, title,
                                      category_ids, sensitivities)
               SELECT school_id, pupil_id, 'incident', id::text, id, occurred_at, 'Observation — Safeguarding',
                      '[1]'::json, '["safeguarding"]'::json FROM incidents WHERE id > :after"""),
    HAVEN_FOLLOWING[3],
]


def preload(url: str, n: int, incidents_sql, following, school: int, teacher: int, pupils: list[int],
            categories: list[int]) -> None:
    e = engine(url)
    try:
        with e.begin() as conn:
            after = conn.execute(sa.text("SELECT coalesce(max(id), 0) FROM incidents")).scalar()
            conn.execute(incidents_sql, {"school": school, "pupils": pupils, "teacher": teacher, "n": n})
            for statement in following:
                conn.execute(statement, {"after": after, "categories": categories})
        with e.connect() as conn:
            conn.execution_options(isolation_level="AUTOCOMMIT").execute(sa.text("VACUUM ANALYZE"))
    finally:
        e.dispose()


def preload_haven(stack: Stack, n: int) -> None:
    inc = engine(stack.databases["incidents"])
    gw = engine(stack.databases["gateway"])
    try:
        with inc.connect() as conn:
            pupils = list(conn.execute(sa.text("SELECT id FROM pupils WHERE school_id = 1 AND on_roll")).scalars())
            categories = list(conn.execute(sa.text("SELECT id FROM categories WHERE school_id = 1")).scalars())
        with gw.connect() as conn:
            staff = dict(conn.execute(sa.text("SELECT email, id FROM staff")).all())
    finally:
        inc.dispose()
        gw.dispose()
    preload(stack.databases["incidents"], n, HAVEN_INCIDENTS, HAVEN_FOLLOWING, 1, staff[TEACHER], pupils,
            categories)
    al = engine(stack.databases["alerts"])
    try:
        with al.begin() as conn:
            for statement in ALERTS_PRELOAD:
                conn.execute(statement, {"n": n, "school": 1, "dsl": staff["dsl@demo.haven.test"],
                                         "teacher": staff[TEACHER]})
        with al.connect() as conn:
            conn.execution_options(isolation_level="AUTOCOMMIT").execute(sa.text("VACUUM ANALYZE"))
    finally:
        al.dispose()


# --- profiling ---------------------------------------------------------------------------------------

def start_profiles(stack: Stack, out_dir: str, seconds: float) -> list[tuple[str, str, subprocess.Popen]]:
    py_spy = shutil.which("py-spy") or os.path.join(os.path.dirname(sys.executable), "py-spy")
    if not os.path.exists(py_spy):
        print("    (py-spy is not installed: no profile)")
        return []
    os.makedirs(out_dir, exist_ok=True)
    running = []
    for name in PROFILED:
        path = os.path.join(out_dir, f"{name}.txt")
        proc = subprocess.Popen([py_spy, "record", "--pid", str(stack.procs[name].pid), "--duration",
                                 str(int(seconds)), "--rate", "200", "--format", "raw", "--nonblocking", "--gil",
                                 "--output", path], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        running.append((name, path, proc))
    return running


def _frame(frame: str) -> str:
    """'fn (path/to/file.py:123)' → 'file.py:fn', with Haven's own files named from services/."""
    name, _, where = frame.partition(" (")
    path = where.rsplit(":", 1)[0]
    if path.startswith("services/") or "/services/" in path:
        path = "services/" + path.split("services/", 1)[1]
    elif "site-packages/" in path:
        path = path.split("site-packages/", 1)[1]
    else:
        path = os.path.basename(path)
    return f"{path}:{name}"


def print_profiles(running: list, top: int = 14) -> None:
    for name, path, proc in running:
        proc.wait()
        if not os.path.exists(path):
            print(f"    py-spy {name}: no profile written")
            continue
        own, total, samples = Counter(), Counter(), 0
        with open(path) as f:
            for line in f:
                stack, _, count = line.rstrip("\n").rpartition(" ")
                if not stack or not count.isdigit():
                    continue
                frames = [_frame(fr) for fr in stack.split(";") if fr and not fr.startswith("process ")
                          and not fr.startswith("thread ")]
                if not frames:
                    continue
                n = int(count)
                samples += n
                own[frames[-1]] += n
                for fr in set(frames):
                    total[fr] += n
        if not samples:
            print(f"    py-spy {name}: no samples")
            continue
        print(f"    py-spy {name} ({samples} samples holding the GIL): most time spent in (own %) / under "
              "(total %, Haven's code)")
        for fr, n in own.most_common(top):
            print(f"      own   {100 * n / samples:5.1f}%  {fr}")
        ours = [(fr, n) for fr, n in total.most_common() if fr.startswith("services/")][:top]
        for fr, n in ours:
            print(f"      total {100 * n / samples:5.1f}%  {fr}")


# --- the run -----------------------------------------------------------------------------------------

def measure(label: str, baseline: Target, haven: Target, stack: Stack, args, profile_dir: str | None) -> dict:
    """Baseline and Haven take turns, in --rounds blocks each, so both see the same machine (on a
    shared machine the load drifts from minute to minute)."""
    print(f"\n== {label}  (load average {os.getloadavg()[0]:.2f})")
    results = {}
    rounds = max(1, args.rounds)
    times: dict[str, list[float]] = {"baseline": [], "haven": []}
    for n in range(rounds):
        for target in (baseline, haven):
            times[target.name] += target.one_client(max(1, args.calls // rounds), warmup=20 if n == 0 else 3)
    for target in (baseline, haven):
        t = times[target.name]
        results[(target.name, "p50")], results[(target.name, "p99")] = pct(t, 50), pct(t, 99)
        print(f"  {target.name:<9} one client: p50 {pct(t, 50):6.1f} ms  p99 {pct(t, 99):6.1f} ms ({len(t)} calls)")

    wait_for_stats_flush()
    stats_before = table_stats(stack.databases)
    profiles = start_profiles(stack, profile_dir, 2 * args.seconds + 10) if profile_dir else []
    recorded = {"baseline": 0, "haven": 0}
    elapsed = {"baseline": 0.0, "haven": 0.0}
    statuses = {"baseline": Counter(), "haven": Counter()}
    haven_pids = {name: p.pid for name, p in stack.procs.items()}
    cpu = {"baseline": {"baseline": 0.0}, "haven": dict.fromkeys(haven_pids, 0.0)}
    for n in range(rounds):
        for target in (baseline, haven):
            pids = haven_pids if target is haven else {"baseline": baseline.pid}
            before = {name: cpu_seconds(pid) for name, pid in pids.items()}
            done, seconds, codes = target.many_clients(args.clients, max(1, args.requests // rounds),
                                                       args.seconds / rounds)
            for name, pid in pids.items():
                cpu[target.name][name] += cpu_seconds(pid) - before[name]
            recorded[target.name] += done
            elapsed[target.name] += seconds
            statuses[target.name].update(codes)
    for target in (baseline, haven):
        name = target.name
        rps = recorded[name] / elapsed[name]
        results[(name, "rps")] = rps
        print(f"  {name:<9} {args.clients} clients: {rps:6.1f} requests/s ({sum(statuses[name].values())} sent: "
              f"{dict(sorted(statuses[name].items()))})")
        per = max(1, recorded[name])
        print("    CPU per recorded incident: " + ", ".join(f"{p} {1000 * s / per:.2f} ms"
                                                          for p, s in cpu[name].items()))
    print_profiles(profiles)
    wait_for_stats_flush()
    print_stats(stats_before, table_stats(stack.databases), max(1, recorded["haven"]))
    p50 = results[("haven", "p50")] / results[("baseline", "p50")]
    share = results[("haven", "rps")] / results[("baseline", "rps")]
    print(f"  Haven/baseline: p50 {p50:.2f}× (target ≤ {TARGET_LATENCY_RATIO:.0f}×), "
          f"p99 {results[('haven', 'p99')] / results[('baseline', 'p99')]:.2f}×, "
          f"throughput {100 * share:.0f} % (target ≥ {100 * TARGET_THROUGHPUT_SHARE:.0f} %)")
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=300, help="sequential calls at one client")
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=15.0, help="at most this long at --clients")
    parser.add_argument("--requests", type=int, default=3000, help="at most this many at --clients")
    parser.add_argument("--rounds", type=int, default=5, help="turns baseline and Haven take at each measure")
    parser.add_argument("--preload", type=int, default=100_000)
    parser.add_argument("--alert-dsl", action="store_true", help="Safeguarding concerns, e-mailed to the DSL team")
    parser.add_argument("--profile", metavar="DIR", help="py-spy the gateway, incidents and alerts under load")
    args = parser.parse_args()

    # As in production: the test stack's check of every RPC answer against its contract is off.
    stack = Stack(env={"HAVEN_CHECK_RESULTS": "false"})
    baseline_url = create_database("haven_bench_baseline")
    baseline_proc = None
    try:
        print("starting Haven and the baseline…", flush=True)
        stack.start()
        record_baseline.create_schema(baseline_url)
        cookie, csrf, b_categories, b_pupils = record_baseline.seed(baseline_url)
        port = free_port()
        baseline_log = open(os.path.join(stack.tmp, "baseline.log"), "ab")
        baseline_proc = subprocess.Popen(
            [sys.executable, os.path.join(ROOT, "bench", "record_baseline.py"), "--database-url", baseline_url,
             "--port", str(port)], cwd=ROOT, stdout=baseline_log, stderr=subprocess.STDOUT)
        base_url = f"http://127.0.0.1:{port}"
        for _ in range(100):
            try:
                httpx.get(base_url + "/docs", timeout=2)
                break
            except httpx.HTTPError:
                time.sleep(0.2)

        api = Api(stack.base_url).login(TEACHER)
        name = "Safeguarding" if args.alert_dsl else "Medical"
        category = next(c for c in api.get("/api/v1/categories").json() if c["name"] == name)
        pupil = api.get("/api/v1/pupils", params={"q": ""}).json()[0]
        haven = Target("haven", stack.base_url, dict(api.http.cookies), api.csrf,
                       body_for(pupil["id"], category["id"]))
        baseline = Target("baseline", base_url, {record_baseline.SESSION_COOKIE: cookie}, csrf,
                          body_for(b_pupils[0], b_categories[name]))
        baseline.pid = baseline_proc.pid
        api.http.close()

        empty = measure("empty database", baseline, haven, stack, args, None)
        print(f"\npreloading {args.preload:,} incidents into both…", flush=True)
        started = time.time()
        preload(baseline_url, args.preload, BASELINE_INCIDENTS, BASELINE_FOLLOWING, 1, 1, b_pupils,
                list(b_categories.values()))
        preload_haven(stack, args.preload)
        print(f"  done in {time.time() - started:.0f} s")
        full = measure(f"{args.preload:,} incidents already recorded", baseline, haven, stack, args, args.profile)

        print("\n== growth (with the record full / empty)")
        for who in ("baseline", "haven"):
            print(f"  {who:<9} p50 {full[(who, 'p50')] / empty[(who, 'p50')]:.2f}×  "
                  f"requests/s {full[(who, 'rps')] / empty[(who, 'rps')]:.2f}×")
    finally:
        if baseline_proc is not None:
            baseline_proc.terminate()
            baseline_proc.wait(20)
        stack.stop()
        drop_database(baseline_url)


if __name__ == "__main__":
    main()
