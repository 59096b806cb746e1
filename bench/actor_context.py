"""The cost of an actor context per call: Ed25519, bound to the method, the arguments and one use,
beside the HMAC-SHA256 context it replaced (measured in the same run, same actor and arguments).

    .venv/bin/python bench/actor_context.py [--calls 5000]

Prints microseconds per sign (the gateway, once per RPC) and per verify (the service), and the
ratio to HMAC. Spending the single-use id is one INSERT in the call's own transaction (not timed here:
bench/record_path.py measures the whole record path).
"""
from __future__ import annotations

import argparse
import base64
import hashlib
import hmac
import json
import os
import sys
import time
from dataclasses import asdict

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from services.common.actor import Actor, Grant, sign, verify  # noqa: E402
from services.common.keys import KeyRing, SigningKey  # noqa: E402

ACTOR = Actor(user_id=20, school_id=1, name="Dana Shah", roles=("staff", "dsl"), second_factor_at=time.time(),
              step_up_until=time.time() + 600, grants=(Grant(categories=(3, 5), year_groups=("Year 4",)),))
ARGS = {"incident_id": 7, "purpose": "read"}


def hmac_sign(key: bytes) -> str:  # what services/common/actor.py did before (HAVEN_ACTOR_KEY)
    body = base64.urlsafe_b64encode(json.dumps(asdict(ACTOR), separators=(",", ":")).encode()).rstrip(b"=")
    return f"{body.decode()}.{base64.urlsafe_b64encode(hmac.new(key, body, hashlib.sha256).digest()).decode()}"


def hmac_verify(token: str, key: bytes) -> dict:
    body, mac = token.split(".")
    expected = base64.urlsafe_b64encode(hmac.new(key, body.encode(), hashlib.sha256).digest()).decode()
    assert hmac.compare_digest(expected, mac)
    return json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))


def per_call(fn, calls: int) -> float:
    started = time.perf_counter()
    for _ in range(calls):
        fn()
    return (time.perf_counter() - started) / calls * 1e6


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=5000)
    calls = parser.parse_args().calls
    key = SigningKey.generate("gateway")
    ring = KeyRing.parse(key.public_text())
    secret = os.urandom(48)
    token = sign(ACTOR, key, "incidents.get_incident", ARGS, 25)
    old = hmac_sign(secret)
    rows = [("sign", per_call(lambda: hmac_sign(secret), calls),
             per_call(lambda: sign(ACTOR, key, "incidents.get_incident", ARGS, 25), calls)),
            ("verify", per_call(lambda: hmac_verify(old, secret), calls),
             per_call(lambda: verify(token, ring, "incidents.get_incident", ARGS), calls))]
    print(f"actor context, {calls} calls each (µs per call)")
    for what, before, after in rows:
        print(f"  {what:<7} HMAC {before:7.1f}   Ed25519 bound {after:7.1f}   ratio {after / before:5.1f}x")
    print(f"  context size: HMAC {len(old)} bytes, Ed25519 bound {len(token)} bytes")


if __name__ == "__main__":
    main()
