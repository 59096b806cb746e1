"""`make fuzz`: schemathesis over the gateway's whole OpenAPI document, against a whole Haven (the same
stack as the cross-service tests: real services, RabbitMQ on a vhost of its own, fresh databases).

Three runs, each bounded in time, each failing on any 5xx (schemathesis' not_a_server_error check):
- anonymous: every operation, no session;
- as the DSL, fully signed in (session cookie and X-CSRF-Token on every request): every operation but
  signing out and the second-factor step (five wrong codes end the session the rest of the run needs);
- the second-factor step, each request from a fresh session of the DSL signed in by password alone
  (tests/fuzz_hooks.py), so that every generated code reaches the check.
Every phase runs: examples, coverage, fuzzing, and stateful (links schemathesis infers between operations).
At the end: the processes' tracebacks, each distinct one once, and the warnings schemathesis printed
(e.g. "Schema validation mismatch": the document says less than the service checks).

    python -m tests.fuzz [--seconds 240] [--seed N] [--only anonymous,dsl,second-factor]
"""
from __future__ import annotations

import argparse
import os
import random
import re
import subprocess
import sys
import time

from .client import Api
from .stack import ROOT, Stack

DSL = "dsl@demo.haven.test"
SESSION_COOKIE = "haven_session"
# Shares of the time budget.
RUNS = {"anonymous": 0.15, "dsl": 0.7, "second-factor": 0.15}
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
    code = subprocess.run(command, cwd=ROOT, env=env).returncode
    print(f"=== {label}: exit {code} after {time.monotonic() - started:.0f} s", flush=True)
    return code


def tracebacks(stack: Stack) -> dict[str, dict[str, int]]:
    """Each process's distinct tracebacks: the exception's type and our innermost frame → how many."""
    found: dict[str, dict[str, int]] = {}
    for name in stack.procs:
        seen: dict[str, int] = {}
        log = stack.log(name)
        for match in re.finditer(r"Traceback \(most recent call last\):\n(?:[ \t].*\n)+.*", log):
            if re.match(r"\s*(During handling|The above exception)", log[match.end():]):
                continue  # a link in a chain: the last one is counted
            lines = match.group().splitlines()
            ours = [re.sub(r'^File ".*?(services/[^"]+)", line \d+, in (.*)$', r"\1 \2", line.strip())
                    for line in lines if "/services/" in line and line.strip().startswith('File "')]
            message = re.sub(r"\$\d+", "$N", re.sub(r"(?<!\w)-?\d{6,}", "N", lines[-1].strip()))[:200]
            key = f"{message}  [{ours[-1] if ours else 'no frame of ours'}]"
            seen[key] = seen.get(key, 0) + 1
        if seen:
            found[name] = seen
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=int, default=int(os.environ.get("HAVEN_FUZZ_SECONDS", 240)),
                        help="the whole time budget of the three runs (default 240)")
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
        if "anonymous" in runs:
            codes["anonymous"] = schemathesis(stack, "anonymous", budget["anonymous"], args.seed)
        if "dsl" in runs:
            dsl = Api(stack.base_url).login(DSL)
            cookie = dsl.http.cookies.get(SESSION_COOKIE)
            codes["dsl"] = schemathesis(
                stack, "signed in as the DSL", budget["dsl"], args.seed,
                "--header", f"Cookie: {SESSION_COOKIE}={cookie}", "--header", f"X-CSRF-Token: {dsl.csrf}",
                "--exclude-name", "DELETE /api/v1/session",
                "--exclude-name", "POST /api/v1/session/second-factor")
            if dsl.get("/api/v1/session").status_code != 200:
                print("!!! the DSL's session ended during the run: what came after it was tested anonymously")
                codes["dsl-session"] = 1
        if "second-factor" in runs:
            codes["second-factor"] = schemathesis(
                stack, "second factor, from a fresh password-only session each time", budget["second-factor"],
                args.seed, "--include-name", "POST /api/v1/session/second-factor",
                env={"SCHEMATHESIS_HOOKS": "tests.fuzz_hooks", "HAVEN_FUZZ_BASE_URL": stack.base_url,
                     "HAVEN_FUZZ_EMAIL": DSL})
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
