"""Schemathesis hooks for `make fuzz` (tests/fuzz.py), loaded through SCHEMATHESIS_HOOKS; what they do is
chosen by the environment the runner gives each run.

- HAVEN_FUZZ_EMAIL: the second-factor step, each generated request sent from a session of its own, signed
  in by password alone. One session would be ended by the fifth wrong code, and every request after it
  would stop at the 401 before the code is looked at.
- HAVEN_FUZZ_IDS: ids of records that exist ({"pupil": [...], "incident": [...], ...}). Half of the
  generated requests get them in place of the generated ids (in the path, the query and a JSON body), so
  that the fuzzer gets past "not found" into what the endpoints do with a real record.
"""
from __future__ import annotations

import json
import os
import random

import httpx
import schemathesis

from .client import DEMO_PASSWORD

SESSION_COOKIE = "haven_session"
# A parameter's or field's name → the kind of record its id names.
KINDS = {"pupil_id": "pupil", "other_pupil_id": "pupil", "incident_id": "incident", "incident_ids": "incident",
         "category_id": "category", "category_ids": "category", "parent_id": "category", "case_id": "case",
         "action_id": "action", "entry_id": "entry", "item_id": "item", "alert_id": "alert",
         "document_id": "document", "integration_id": "integration", "owner_user_id": "user",
         "assigned_to_user_id": "user", "dsl_informed_user_id": "user", "alert_user_ids": "user",
         "default_alert_user_ids": "user", "user_id": "user"}

if os.environ.get("HAVEN_FUZZ_EMAIL"):
    @schemathesis.auth(refresh_interval=None)  # no caching: a fresh session for every request
    class PasswordOnlySession:
        def get(self, case, context):
            r = httpx.post(os.environ["HAVEN_FUZZ_BASE_URL"] + "/api/v1/session", timeout=30,
                           json={"email": os.environ["HAVEN_FUZZ_EMAIL"], "password": DEMO_PASSWORD})
            r.raise_for_status()
            return r.cookies[SESSION_COOKIE], r.json()["csrf_token"]

        def set(self, case, data, context):
            cookie, csrf = data
            case.headers = {**(case.headers or {}), "Cookie": f"{SESSION_COOKIE}={cookie}", "X-CSRF-Token": csrf}


if os.environ.get("HAVEN_FUZZ_IDS"):
    IDS: dict[str, list] = {kind: ids for kind, ids in json.loads(os.environ["HAVEN_FUZZ_IDS"]).items() if ids}
    _random = random.Random(os.environ.get("HAVEN_FUZZ_SEED", "0"))

    def _real(values):
        """`values` (a dict) with the ids it names replaced by ids that exist, where the shape allows."""
        if not isinstance(values, dict):
            return values
        out = dict(values)
        for name, value in values.items():
            ids = IDS.get(KINDS.get(name, ""))
            if not ids or isinstance(value, bool):
                continue
            if isinstance(value, (int, str)):
                out[name] = _random.choice(ids) if isinstance(value, int) else str(_random.choice(ids))
            elif isinstance(value, list) and value:
                out[name] = [_random.choice(ids) for _ in value]
        return out

    @schemathesis.hook
    def map_case(context, case):
        if _random.random() < 0.5:
            return case
        case.path_parameters = _real(case.path_parameters)
        case.query = _real(case.query)
        case.body = _real(case.body)
        return case
