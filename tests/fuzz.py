"""`make fuzz`: schemathesis over the gateway's whole OpenAPI document, against a whole Haven (the same
stack as the cross-service tests: real services, RabbitMQ on a vhost of its own, fresh databases).

Four runs, each bounded in time, each failing on any 5xx (schemathesis' not_a_server_error check); the
anonymous one runs last, since its wrong passwords may make this address wait (throttle.py):
- anonymous: every operation, no session;
- as a monitoring system: posting to the tray with an integration's API key (made by the DSL first);
- as the DSL, fully signed in (session cookie and X-CSRF-Token on every request): every operation but
  signing out, the factor checks (five wrong answers end the session the rest of the run needs), the
  reset of a second factor (it could be the DSL's own) and the tray's inbound endpoint (an API key's);
  half of its requests carry ids of records made beforehand (tests/fuzz_hooks.py), so that it gets past
  "not found";
- the second-factor step, each request from a fresh session of the deputy DSL signed in by password alone
  (tests/fuzz_hooks.py): the first codes reach the check; wrong codes are counted per account, so later
  ones get the delay (429) and then the lock (423).
Every phase runs: examples, coverage, fuzzing, and stateful (links schemathesis infers between operations).
At the end: the processes' tracebacks, each distinct one once, and the warnings schemathesis printed
(e.g. "Schema validation mismatch": the document says less than the service checks).

    python -m tests.fuzz [--seconds 240] [--seed N] [--only anonymous,integration,dsl,second-factor]
"""
from __future__ import annotations

import argparse
import json
import os
import random
import re
import subprocess
import sys
import time

import httpx

from .client import Api
from .stack import ROOT, Stack

DSL = "dsl@demo.haven.test"
DEPUTY = "ddsl@demo.haven.test"
OWN_SESSION_ENDERS = ("DELETE /api/v1/session", "POST /api/v1/session/second-factor", "POST /api/v1/session/step-up",
                      "POST /api/v1/session/recovery-code", "POST /api/v1/session/webauthn/authenticate",
                      "POST /api/v1/session/totp/confirm",
                      "POST /api/v1/admin/staff/{user_id}/reset-second-factor")
SESSION_COOKIE = "haven_session"
# Shares of the time budget.
RUNS = {"anonymous": 0.1, "integration": 0.1, "dsl": 0.65, "second-factor": 0.15}
PHASES = "examples,coverage,fuzzing,stateful"


def schemathesis(stack: Stack, label: str, seconds: int, seed: int, *options: str,
                 env: dict | None = None) -> int:
    config = os.path.join(stack.tmp, "schemathesis.toml")
    with open(config, "w") as f:
        f.write("[cache]\nenabled = false\n")  # no crash files left in the work tree
    command = [sys.executable, "-m", "schemathesis.cli", "--config-file", config, "run",
               f"{stack.base_url}/api/v1/openapi.json",
               "--checks", "not_a_server_error", "--phases", PHASES, "--max-time", str(max(seconds, 1)),
               "--seed", str(seed), "--workers", "1", "--request-timeout", "30", "--no-color",
               "--generation-database", "none", "--max-failures", "200", *options]
    print(f"\n=== {label}: {seconds} s, seed {seed}", flush=True)
    started = time.monotonic()
    env = {**os.environ, "HYPOTHESIS_STORAGE_DIRECTORY": os.path.join(stack.tmp, "hypothesis"), **(env or {})}
    try:
        code = subprocess.run(command, cwd=ROOT, env=env, timeout=seconds + 120).returncode
    except subprocess.TimeoutExpired:
        print(f"!!! {label}: still running {seconds + 120} s after it started: stopped", flush=True)
        code = 124
    print(f"=== {label}: exit {code} after {time.monotonic() - started:.0f} s", flush=True)
    return code


def seed_records(dsl: Api, api_key: str | None) -> dict[str, list]:
    """A few records of every kind, made as the DSL: their ids, by kind (see fuzz_hooks.KINDS). Each step
    is tried on its own: what cannot be made is left out, and said."""
    ids: dict[str, list] = {}

    def step(kind: str, method: str, path: str, pick=lambda body: [body["id"]], **kwargs):
        r = dsl.request(method, path, **kwargs)
        if r.status_code >= 300:
            print(f"(seeding {kind}: {method} {path} answered {r.status_code}: {r.text[:200]})")
            return []
        found = [i for i in pick(r.json()) if isinstance(i, (int, str))]
        ids.setdefault(kind, []).extend(found)
        return found

    pupils = step("pupil", "GET", "/api/v1/pupils", lambda b: [p["id"] for p in b][:20], params={"q": ""})
    categories = step("category", "GET", "/api/v1/categories", lambda b: [c["id"] for c in b])
    users = step("user", "GET", "/api/v1/staff", lambda b: [u["id"] for u in b], params={"q": ""})
    when = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() - 3600))
    incidents = []
    for pupil in pupils[:3]:
        incidents += step("incident", "POST", "/api/v1/incidents", json={
            "pupil_id": pupil, "occurred_at": when, "account": "Seen crying at break; said home is 'loud'.",
            "category_ids": categories[:1], "alert_user_ids": [], "alert_groups": ["dsl"]})
    for incident in incidents[:2]:
        step("action", "POST", f"/api/v1/incidents/{incident}/actions", json={"description": "Phone home"})
        step("document", "POST", f"/api/v1/incidents/{incident}/documents",
             files={"file": ("note.txt", b"A note.", "text/plain")})
    if pupils and users and incidents:
        step("case", "POST", "/api/v1/cases", json={"pupil_id": pupils[0], "title": "Early help",
                                                     "owner_user_id": dsl.user["id"], "incident_ids": incidents[:1]})
    for pupil in pupils[:3]:
        step("entry", "GET", f"/api/v1/pupils/{pupil}/chronology",
             lambda b: [e["id"] for e in b.get("entries", [])][:10])
    step("alert", "GET", "/api/v1/alerts", lambda b: [a["id"] for a in b][:10])
    step("integration", "GET", "/api/v1/integrations", lambda b: [i["id"] for i in b])
    if api_key:
        r = httpx.post(f"{dsl.http.base_url}/api/v1/tray/alerts", headers={"Authorization": f"Bearer {api_key}"},
                       json={"external_id": "seed-1", "pupil_identifier": "unknown", "severity": "high",
                             "summary": "Searched for self-harm methods", "occurred_at": when}, timeout=30)
        if r.status_code < 300 and isinstance(r.json().get("id"), int):
            ids["item"] = [r.json()["id"]]
        else:
            print(f"(seeding item: {r.status_code}: {r.text[:200]})")
    print("seeded: " + ", ".join(f"{kind} {len(found)}" for kind, found in ids.items()))
    return ids


def tracebacks(stack: Stack) -> dict[str, dict[str, int]]:
    """Each process's distinct errors: a traceback's exception and our innermost frame, or an ERROR line
    logged without one (e.g. "unexpected IncorrectSignature from the incidents service") → how many."""
    found: dict[str, dict[str, int]] = {}

    def normal(text: str) -> str:
        text = re.sub(r"0x[0-9a-f]{6,}", "0x…", text)
        return re.sub(r"\$\d+", "$N", re.sub(r"(?<!\w)-?\d{6,}", "N", text.strip()))[:200]

    for name in stack.procs:
        seen: dict[str, int] = {}
        log = stack.log(name)
        for match in re.finditer(r"Traceback \(most recent call last\):\n(?:[ \t].*\n)+.*", log):
            if re.match(r"\s*(During handling|The above exception)", log[match.end():]):
                continue  # a link in a chain: the last one is counted
            lines = match.group().splitlines()
            ours = [re.sub(r'^File ".*?(services/[^"]+)", line \d+, in (.*)$', r"\1 \2", line.strip())
                    for line in lines if "/services/" in line and line.strip().startswith('File "')]
            key = f"{normal(lines[-1])}  [{ours[-1] if ours else 'no frame of ours'}]"
            seen[key] = seen.get(key, 0) + 1
        for line in re.findall(r"^\S+ [\d:,]+ ERROR (.*)$", log, re.M):
            if "error handling worker" not in line:  # nameko's, before a traceback counted above
                key = normal(line)
                seen[key] = seen.get(key, 0) + 1
        if seen:
            found[name] = seen
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=int, default=int(os.environ.get("HAVEN_FUZZ_SECONDS", 240)),
                        help="the whole time budget of the runs (default 240)")
    parser.add_argument("--seed", type=int, default=int(os.environ.get("HAVEN_FUZZ_SEED") or
                                                        random.randrange(2**31)))
    parser.add_argument("--only", default=",".join(RUNS), help="runs to do, comma-separated")
    args = parser.parse_args(argv)
    runs = [r for r in args.only.split(",") if r]
    unknown = set(runs) - set(RUNS)
    if unknown:
        parser.error(f"unknown runs: {', '.join(sorted(unknown))}")
    share = sum(RUNS[r] for r in runs)
    budget = {r: int(args.seconds * RUNS[r] / share) for r in runs}

    stack = Stack()
    codes: dict[str, int] = {}
    try:
        stack.start()
        # The DSL signs in first: the anonymous run's wrong passwords may make this address wait (throttle.py),
        # so it runs last. The second-factor run guesses codes for the deputy DSL, whose factor ends up
        # delayed and locked (counted per account): the DSL's own sign-in is not touched by it.
        dsl = Api(stack.base_url).login(DSL) if {"integration", "dsl"} & set(runs) else None
        api_key = None
        if dsl:
            r = dsl.post("/api/v1/integrations", json={"name": "Fuzzer"})
            assert r.status_code == 201, r.text
            api_key = r.json()["api_key"]
        if "second-factor" in runs:
            codes["second-factor"] = schemathesis(
                stack, "second factor, from a fresh password-only session each time", budget["second-factor"],
                args.seed, "--include-name", "POST /api/v1/session/second-factor",
                env={"SCHEMATHESIS_HOOKS": "tests.fuzz_hooks", "HAVEN_FUZZ_BASE_URL": stack.base_url,
                     "HAVEN_FUZZ_EMAIL": DEPUTY})
        if "integration" in runs:  # before the DSL's run, which may revoke integrations
            codes["integration"] = schemathesis(
                stack, "as a monitoring system (API key)", budget["integration"], args.seed,
                "--header", f"Authorization: Bearer {api_key}", "--include-name", "POST /api/v1/tray/alerts")
        if "dsl" in runs:
            ids = seed_records(dsl, api_key)
            cookie = dsl.http.cookies.get(SESSION_COOKIE)
            codes["dsl"] = schemathesis(
                stack, "signed in as the DSL", budget["dsl"], args.seed,
                "--header", f"Cookie: {SESSION_COOKIE}={cookie}", "--header", f"X-CSRF-Token: {dsl.csrf}",
                # What would end the session the rest of the run needs (five wrong answers to any factor
                # check end it) or take away its own second factor.
                *(option for name in OWN_SESSION_ENDERS for option in ("--exclude-name", name)),
                "--exclude-name", "POST /api/v1/tray/alerts",  # the monitoring system's run has its key
                env={"SCHEMATHESIS_HOOKS": "tests.fuzz_hooks", "HAVEN_FUZZ_IDS": json.dumps(ids),
                     "HAVEN_FUZZ_SEED": str(args.seed)})
            if dsl.get("/api/v1/session").status_code != 200:
                print("!!! the DSL's session ended during the run: what came after it was tested anonymously")
                codes["dsl-session"] = 1
        if "anonymous" in runs:
            codes["anonymous"] = schemathesis(stack, "anonymous", budget["anonymous"], args.seed)
    finally:
        found = tracebacks(stack)
        stack.stop()
    if found:
        print(f"\n=== tracebacks in the processes' logs (each distinct one once; the logs: {stack.tmp})")
        for name, seen in found.items():
            for key, count in seen.items():
                print(f"{name} ×{count}: {key}")
    failed = {run: code for run, code in codes.items() if code}
    print(f"\n=== {'FAILED ' + str(failed) if failed else 'no server error'} (seed {args.seed}); "
          f"runs that passed and failed:")
    print(f"fuzz: {len(codes) - len(failed)} passed, {len(failed)} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
