"""The authorisation matrix: every route of the JSON API and every web page, asked by every kind of
caller, against the answer the design says it must get (DESIGN: "Who sees what").

Callers (the columns, in this order):
  anon      no session
  pending   the DSL signed in with a password, second factor not given yet
  staff     a teacher, the recorder of the records below
  alerted   another teacher, named in the safeguarding record's alert
  senco     a category reader (the SENCO group: the SEN category, for one year group only)
  slt       senior leadership (second factor given)
  dsl       the DSL (second factor given, so stepped up)
  admin     an administrator and nothing else (second factor given)
  governor  a governor
  key       a monitoring system's API key (Authorization: Bearer)

Answers (the letters):
  A  allowed: the request got past every permission check (2xx, a redirect that is not to sign-in, 409,
     410 or 422: an empty body is sent to every write, so a write that is allowed fails validation)
  F  forbidden (403)
  N  not found (404): a record hidden from this caller, or an id that is not theirs to know
  U  not signed in, or not fully (401, or a page's redirect to the sign-in, second-factor or set-up page)

Writes are sent with an empty body: they measure the gateway's tier, which refuses before a body is
read. The services' record-level refusals of writes (amending another's record, adding an action where
one may not) are in services/incidents/tests/test_access.py and the probing tests at the end.

A route that the table does not list fails the test: a new route needs a decision about who may call it.
"""
from __future__ import annotations

import os
import re
import time
import uuid
from datetime import datetime, timedelta, timezone

import httpx
import pytest
from fastapi.routing import APIRoute, iter_route_contexts

from services.common.contracts import alerts as alerts_contract

from .client import Api

COLUMNS = ("anon", "pending", "staff", "alerted", "senco", "slt", "dsl", "admin", "governor", "key")
EMAILS = {"staff": "teacher@demo.haven.test", "alerted": "teacher2@demo.haven.test",
          "senco": "senco@demo.haven.test", "slt": "slt@demo.haven.test", "dsl": "dsl@demo.haven.test",
          "admin": "admin@demo.haven.test", "governor": "governor@demo.haven.test",
          "pending": "ddsl@demo.haven.test"}


def row(text: str) -> dict[str, str]:
    letters = text.split()
    assert len(letters) == len(COLUMNS), text
    return dict(zip(COLUMNS, letters))


# (method, path) -> {variant: answers}. A variant picks which records fill the path's ids (see `ids`):
# "sg" a safeguarding record the teacher wrote and alerted their colleague to; "sen" a SEN record of a
# pupil in the SENCO's year group; "sen_other" a SEN record of a pupil outside it; "beh" a behaviour record.
MATRIX: dict[tuple[str, str], dict[str, str]] = {}


def expect(method: str, path: str, answers: str, variant: str = "sg") -> None:
    MATRIX.setdefault((method, path), {})[variant] = answers


#                                                                     anon pend staff alerted senco slt dsl admin gov key
# --- signing in, the session, one's own account -----------------------------------------------
expect("POST", "/account/recovery-codes",                            "U U A A A A A A A U")
expect("GET", "/account/schools",                                    "U U A A A A A A A U")
expect("POST", "/account/schools",                                   "U U A A A A A A A U")
expect("GET", "/account/security",                                   "U U A A A A A A A U")
expect("POST", "/account/security/keys/{key_id}/remove",             "U U U U N N N N U U")
expect("POST", "/api/v1/account/set-password",                       "A A A A A A A A A A")
expect("GET", "/api/v1/health",                                      "A A A A A A A A A A")
expect("GET", "/healthz/live",                                        "A A A A A A A A A A")
expect("GET", "/healthz/ready",                                       "A A A A A A A A A A")
expect("DELETE", "/api/v1/session",                                  "U A A A A A A A A U")
expect("GET", "/api/v1/session",                                     "U A A A A A A A A U")
expect("POST", "/api/v1/session",                                    "A A A A A A A A A A")
expect("GET", "/api/v1/session/activity",                            "U A A A A A A A A U")
expect("POST", "/api/v1/session/activity",                           "U A A A A A A A A U")
expect("GET", "/api/v1/session/factors",                             "U A A A A A A A A U")
expect("POST", "/api/v1/session/recovery-code",                      "U A A A A A A A A U")
expect("POST", "/api/v1/session/recovery-codes",                     "U U A A A A A A A U")
expect("POST", "/api/v1/session/second-factor",                      "U A A A A A A A A U")
expect("POST", "/api/v1/session/school",                             "U U A A A A A A A U")
expect("POST", "/api/v1/session/step-up",                            "U U A A A A A A A U")
expect("POST", "/api/v1/session/totp/confirm",                       "U A A A A A A A A U")
expect("POST", "/api/v1/session/totp/enrol",                         "U F A A A A A A A U")
expect("POST", "/api/v1/session/webauthn/authenticate",              "U A A A A A A A A U")
expect("POST", "/api/v1/session/webauthn/authenticate/options",      "U A A A A A A A A U")
expect("DELETE", "/api/v1/session/webauthn/keys/{key_id}",           "U U F F N N N N F U")
expect("POST", "/api/v1/session/webauthn/register",                  "U A A A A A A A A U")
expect("POST", "/api/v1/session/webauthn/register/options",          "U F A A A A A A A U")
expect("GET", "/resume/{link}",                                      "U U N N N N N N N U")
expect("GET", "/set-password/{token}",                               "N N N N N N N N N N")
expect("POST", "/set-password/{token}",                              "N N N N N N N N N N")
expect("GET", "/sign-in",                                            "A U A A A A A A A A")
expect("POST", "/sign-in",                                           "F F F F F F F F F F")
expect("GET", "/sign-in/code",                                       "U A A A A A A A A U")
expect("POST", "/sign-in/code",                                      "U A A A A A A A A U")
expect("GET", "/sign-in/enrol",                                      "U U A A A A A A A U")
expect("POST", "/sign-in/enrol",                                     "U U A A A A A A A U")
expect("POST", "/sign-in/recovery",                                  "U A A A A A A A A U")
expect("POST", "/sign-out",                                          "U U U U U U U U U U")
expect("GET", "/step-up",                                            "U U A A A A A A A U")
expect("POST", "/step-up",                                           "U U A A A A A A A U")

# --- administration ---------------------------------------------------------------------------
expect("GET", "/admin",                                              "U U F F F F A A F U")
expect("GET", "/admin/alerts",                                       "U U F F F F A A F U")
expect("POST", "/admin/alerts",                                      "U U F F F F A A F U")
expect("GET", "/admin/dead-letters",                                 "U U F F F F A A F U")
expect("POST", "/admin/dead-letters/{queue}/replay",                 "U U F F F F A A F U")
expect("GET", "/admin/categories",                                   "U U F F F F A A F U")
expect("GET", "/admin/categories/new",                               "U U F F F F A A F U")
expect("POST", "/admin/categories/new",                              "U U F F F F A A F U")
expect("GET", "/admin/categories/{category_id}",                     "U U F F F F A A F U")
expect("POST", "/admin/categories/{category_id}",                    "U U F F F F A A F U")
expect("GET", "/admin/groups",                                       "U U F F F F A A F U")
expect("GET", "/admin/groups/new",                                   "U U F F F F A A F U")
expect("POST", "/admin/groups/new",                                  "U U F F F F A A F U")
expect("GET", "/admin/groups/{group_id}",                            "U U F F F F A A F U")
expect("POST", "/admin/groups/{group_id}",                           "U U F F F F N N F U")
expect("GET", "/admin/integrations",                                 "U U F F F F A A F U")
expect("POST", "/admin/integrations",                                "U U F F F F A A F U")
expect("POST", "/admin/integrations/{integration_id}/revoke",        "U U F F F F A A F U")
expect("GET", "/admin/staff/import",                                 "U U F F F F A A F U")
expect("POST", "/admin/staff/import",                                "U U F F F F A A F U")
expect("GET", "/admin/staff/new",                                    "U U F F F F A A F U")
expect("POST", "/admin/staff/new",                                   "U U F F F F A A F U")
expect("GET", "/admin/staff/{user_id}",                              "U U F F F F A A F U")
expect("POST", "/admin/staff/{user_id}",                             "U U F F F F A A F U")
expect("POST", "/admin/staff/{user_id}/{act}",                       "U U F F F F A A F U")
expect("GET", "/api/v1/admin/groups",                                "U U F F F F A A F U")
expect("GET", "/api/v1/admin/dead-letters",                          "U U F F F F A A F U")
expect("POST", "/api/v1/admin/dead-letters/{queue}/replay",          "U U F F F F A A F U")
expect("GET", "/api/v1/alert-settings",                              "U U F F F F A A F U")
expect("PUT", "/api/v1/alert-settings",                              "U U F F F F A A F U")
expect("POST", "/api/v1/admin/groups",                               "U U F F F F A A F U")
expect("DELETE", "/api/v1/admin/groups/{group_id}",                  "U U F F F F A A F U")
expect("PATCH", "/api/v1/admin/groups/{group_id}",                   "U U F F F F A A F U")
expect("DELETE", "/api/v1/admin/groups/{group_id}/members/{user_id}", "U U F F F F A A F U")
expect("PUT", "/api/v1/admin/groups/{group_id}/members/{user_id}",   "U U F F F F A A F U")
expect("GET", "/api/v1/admin/schools",                               "U U F F F F F F F U")
expect("POST", "/api/v1/admin/schools",                              "U U F F F F F F F U")
expect("GET", "/api/v1/admin/staff",                                 "U U F F F F A A F U")
expect("POST", "/api/v1/admin/staff",                                "U U F F F F A A F U")
expect("POST", "/api/v1/admin/staff/import",                         "U U F F F F A A F U")
expect("GET", "/api/v1/admin/staff/{user_id}",                       "U U F F F F A A F U")
expect("PATCH", "/api/v1/admin/staff/{user_id}",                     "U U F F F F A A F U")
expect("POST", "/api/v1/admin/staff/{user_id}/deactivate",           "U U F F F F A A F U")
expect("POST", "/api/v1/admin/staff/{user_id}/password-link",        "U U F F F F A A F U")
expect("POST", "/api/v1/admin/staff/{user_id}/reactivate",           "U U F F F F A A F U")
expect("POST", "/api/v1/admin/staff/{user_id}/reset-second-factor",  "U U F F F F A A F U")
expect("GET", "/api/v1/categories",                                  "U U A A A A A A A U")
expect("POST", "/api/v1/categories",                                 "U U F F F F A A F U")
expect("PATCH", "/api/v1/categories/{category_id}",                  "U U F F F F A A F U")
expect("GET", "/api/v1/integrations",                                "U U F F F F A A F U")
expect("POST", "/api/v1/integrations",                               "U U F F F F A A F U")
expect("DELETE", "/api/v1/integrations/{integration_id}",            "U U F F F F A A F U")

# --- records ----------------------------------------------------------------------------------
expect("GET", "/api/v1/body-map/outline",                            "U U A A A A A A A U")
expect("GET", "/api/v1/documents/{document_id}",                     "U U A F F F A F F U")
expect("POST", "/api/v1/incidents",                                  "U U A A A A A F F U")
expect("POST", "/api/v1/incidents/check-text",                       "U U A A A A A F F U")
expect("GET", "/api/v1/incidents/{incident_id}",                     "U U A A F F A F F U")
expect("GET", "/api/v1/incidents/{incident_id}",                     "U U A F A F A F F U", "sen")
expect("GET", "/api/v1/incidents/{incident_id}",                     "U U A F F F A F F U", "sen_other")
expect("GET", "/api/v1/incidents/{incident_id}",                     "U U A F F A A F F U", "beh")
expect("GET", "/api/v1/incidents/{incident_id}/actions",             "U U A A F F A F F U")
expect("GET", "/api/v1/incidents/{incident_id}/actions",             "U U A F A F A F F U", "sen")
expect("GET", "/api/v1/incidents/{incident_id}/actions",             "U U A F F F A F F U", "sen_other")
expect("GET", "/api/v1/incidents/{incident_id}/actions",             "U U A F F A A F F U", "beh")
expect("POST", "/api/v1/incidents/{incident_id}/actions",            "U U A A F F A F F U")
expect("POST", "/api/v1/incidents/{incident_id}/actions",            "U U A F A F A F F U", "sen")
expect("POST", "/api/v1/incidents/{incident_id}/actions",            "U U A F F F A F F U", "sen_other")
expect("POST", "/api/v1/incidents/{incident_id}/actions",            "U U A F F A A F F U", "beh")
expect("POST", "/api/v1/incidents/{incident_id}/amendments",         "U U A A A A A F F U")
expect("POST", "/api/v1/incidents/{incident_id}/amendments",         "U U A A A A A F F U", "sen")
expect("POST", "/api/v1/incidents/{incident_id}/amendments",         "U U A A A A A F F U", "sen_other")
expect("POST", "/api/v1/incidents/{incident_id}/amendments",         "U U A A A A A F F U", "beh")
expect("GET", "/api/v1/incidents/{incident_id}/body-map.svg",        "U U A F F F A F F U")
expect("GET", "/api/v1/incidents/{incident_id}/body-map.svg",        "U U A F A F A F F U", "sen")
expect("GET", "/api/v1/incidents/{incident_id}/body-map.svg",        "U U A F F F A F F U", "sen_other")
expect("GET", "/api/v1/incidents/{incident_id}/body-map.svg",        "U U A F F A A F F U", "beh")
expect("GET", "/api/v1/incidents/{incident_id}/decisions",           "U U F F F F A F F U")
expect("GET", "/api/v1/incidents/{incident_id}/decisions",           "U U F F A F A F F U", "sen")
expect("GET", "/api/v1/incidents/{incident_id}/decisions",           "U U F F F F A F F U", "sen_other")
expect("GET", "/api/v1/incidents/{incident_id}/decisions",           "U U F F F A A F F U", "beh")
expect("POST", "/api/v1/incidents/{incident_id}/decisions",          "U U F F F F A F F U")
expect("POST", "/api/v1/incidents/{incident_id}/decisions",          "U U F F F F A F F U", "sen")
expect("POST", "/api/v1/incidents/{incident_id}/decisions",          "U U F F F F A F F U", "sen_other")
expect("POST", "/api/v1/incidents/{incident_id}/decisions",          "U U F F F F A F F U", "beh")
expect("POST", "/api/v1/incidents/{incident_id}/documents",          "U U A A A A A F F U")
expect("POST", "/api/v1/incidents/{incident_id}/documents",          "U U A A A A A F F U", "sen")
expect("POST", "/api/v1/incidents/{incident_id}/documents",          "U U A A A A A F F U", "sen_other")
expect("POST", "/api/v1/incidents/{incident_id}/documents",          "U U A A A A A F F U", "beh")
expect("PUT", "/api/v1/incidents/{incident_id}/excluded-staff",      "U U F F F F A F F U")
expect("PUT", "/api/v1/incidents/{incident_id}/excluded-staff",      "U U F F F F A F F U", "sen")
expect("PUT", "/api/v1/incidents/{incident_id}/excluded-staff",      "U U F F F F A F F U", "sen_other")
expect("PUT", "/api/v1/incidents/{incident_id}/excluded-staff",      "U U F F F F A F F U", "beh")
expect("GET", "/api/v1/incidents/{incident_id}/outcomes",            "U U F F F F A F F U")
expect("GET", "/api/v1/incidents/{incident_id}/outcomes",            "U U F F A F A F F U", "sen")
expect("GET", "/api/v1/incidents/{incident_id}/outcomes",            "U U F F F F A F F U", "sen_other")
expect("GET", "/api/v1/incidents/{incident_id}/outcomes",            "U U F F F A A F F U", "beh")
expect("POST", "/api/v1/incidents/{incident_id}/outcomes",           "U U F F F F A F F U")
expect("POST", "/api/v1/incidents/{incident_id}/outcomes",           "U U F F F F A F F U", "sen")
expect("POST", "/api/v1/incidents/{incident_id}/outcomes",           "U U F F F F A F F U", "sen_other")
expect("POST", "/api/v1/incidents/{incident_id}/outcomes",           "U U F F F F A F F U", "beh")
expect("PUT", "/api/v1/incidents/{incident_id}/restriction",         "U U F F F F A F F U")
expect("PUT", "/api/v1/incidents/{incident_id}/restriction",         "U U F F F F A F F U", "sen")
expect("PUT", "/api/v1/incidents/{incident_id}/restriction",         "U U F F F F A F F U", "sen_other")
expect("PUT", "/api/v1/incidents/{incident_id}/restriction",         "U U F F F F A F F U", "beh")
expect("POST", "/api/v1/incidents/{incident_id}/summary",            "U U F F F F A F F U")
expect("POST", "/api/v1/incidents/{incident_id}/summary",            "U U F F F F A F F U", "sen")
expect("POST", "/api/v1/incidents/{incident_id}/summary",            "U U F F F F A F F U", "sen_other")
expect("POST", "/api/v1/incidents/{incident_id}/summary",            "U U F F F F A F F U", "beh")
# Who has been alerted: the gateway asks for anyone signed in; the alerts service shows it to the DSL team
# and the incident's recorder alone.
expect("GET", "/api/v1/incidents/{incident_id}/alerts",              "U U A F F F A F F U")
expect("GET", "/incidents/new",                                      "U U A A A A A F F U")
expect("POST", "/incidents/new",                                     "U U A A A A A F F U")
expect("GET", "/incidents/{incident_id}",                            "U U A A F F A F F U")
expect("GET", "/incidents/{incident_id}",                            "U U A F A F A F F U", "sen")
expect("GET", "/incidents/{incident_id}",                            "U U A F F F A F F U", "sen_other")
expect("GET", "/incidents/{incident_id}",                            "U U A F F A A F F U", "beh")
expect("POST", "/incidents/{incident_id}/actions",                   "U U A A F F A F F U")
expect("POST", "/incidents/{incident_id}/actions",                   "U U A F A F A F F U", "sen")
expect("POST", "/incidents/{incident_id}/actions",                   "U U A F F F A F F U", "sen_other")
expect("POST", "/incidents/{incident_id}/actions",                   "U U A F F A A F F U", "beh")
expect("GET", "/incidents/{incident_id}/amend",                      "U U A F F F A F F U")
expect("GET", "/incidents/{incident_id}/amend",                      "U U A F F F A F F U", "sen")
expect("GET", "/incidents/{incident_id}/amend",                      "U U A F F F A F F U", "sen_other")
expect("GET", "/incidents/{incident_id}/amend",                      "U U A F F F A F F U", "beh")
expect("POST", "/incidents/{incident_id}/amend",                     "U U A F F F A F F U")
expect("POST", "/incidents/{incident_id}/amend",                     "U U A F F F A F F U", "sen")
expect("POST", "/incidents/{incident_id}/amend",                     "U U A F F F A F F U", "sen_other")
expect("POST", "/incidents/{incident_id}/amend",                     "U U A F F F A F F U", "beh")
expect("POST", "/incidents/{incident_id}/case",                      "U U F F F F A F F U")
expect("POST", "/incidents/{incident_id}/case",                      "U U F F F F A F F U", "sen")
expect("POST", "/incidents/{incident_id}/case",                      "U U F F F F A F F U", "sen_other")
expect("POST", "/incidents/{incident_id}/case",                      "U U F F F F A F F U", "beh")
expect("POST", "/incidents/{incident_id}/decisions",                 "U U F F F F A F F U")
expect("POST", "/incidents/{incident_id}/decisions",                 "U U F F F F A F F U", "sen")
expect("POST", "/incidents/{incident_id}/decisions",                 "U U F F F F A F F U", "sen_other")
expect("POST", "/incidents/{incident_id}/decisions",                 "U U F F F F A F F U", "beh")
expect("POST", "/incidents/{incident_id}/documents",                 "U U A A F F A F F U")
expect("POST", "/incidents/{incident_id}/documents",                 "U U A F A F A F F U", "sen")
expect("POST", "/incidents/{incident_id}/documents",                 "U U A F F F A F F U", "sen_other")
expect("POST", "/incidents/{incident_id}/documents",                 "U U A F F A A F F U", "beh")
expect("POST", "/incidents/{incident_id}/outcomes",                  "U U F F F F A F F U")
expect("POST", "/incidents/{incident_id}/outcomes",                  "U U F F F F A F F U", "sen")
expect("POST", "/incidents/{incident_id}/outcomes",                  "U U F F F F A F F U", "sen_other")
expect("POST", "/incidents/{incident_id}/outcomes",                  "U U F F F F A F F U", "beh")
expect("GET", "/incidents/{incident_id}/recorded",                   "U U A A F F A F F U")
expect("GET", "/incidents/{incident_id}/recorded",                   "U U A F A F A F F U", "sen")
expect("GET", "/incidents/{incident_id}/recorded",                   "U U A F F F A F F U", "sen_other")
expect("GET", "/incidents/{incident_id}/recorded",                   "U U A F F A A F F U", "beh")
expect("POST", "/incidents/{incident_id}/excluded-staff",            "U U F F F F A F F U")
expect("POST", "/incidents/{incident_id}/excluded-staff",            "U U F F F F A F F U", "sen")
expect("POST", "/incidents/{incident_id}/excluded-staff",            "U U F F F F A F F U", "sen_other")
expect("POST", "/incidents/{incident_id}/excluded-staff",            "U U F F F F A F F U", "beh")
expect("POST", "/incidents/{incident_id}/restriction",               "U U F F F F A F F U")
expect("POST", "/incidents/{incident_id}/restriction",               "U U F F F F A F F U", "sen")
expect("POST", "/incidents/{incident_id}/restriction",               "U U F F F F A F F U", "sen_other")
expect("POST", "/incidents/{incident_id}/restriction",               "U U F F F F A F F U", "beh")
expect("POST", "/incidents/{incident_id}/summary",                   "U U F F F F A F F U")
expect("POST", "/incidents/{incident_id}/summary",                   "U U F F F F A F F U", "sen")
expect("POST", "/incidents/{incident_id}/summary",                   "U U F F F F A F F U", "sen_other")
expect("POST", "/incidents/{incident_id}/summary",                   "U U F F F F A F F U", "beh")

# --- pupils, chronology and front sheet -------------------------------------------------------
expect("PUT", "/api/v1/chronology/{entry_id}/significant",           "U U F F F F A F F U")
expect("GET", "/api/v1/pupils",                                      "U U A A A A A F F U")
expect("GET", "/api/v1/pupils/{pupil_id}",                           "U U A A A A A F F U")
expect("GET", "/api/v1/pupils/{pupil_id}",                           "U U A A A A A F F U", "sen")
expect("GET", "/api/v1/pupils/{pupil_id}",                           "U U A A A A A F F U", "sen_other")
expect("GET", "/api/v1/pupils/{pupil_id}",                           "U U A A A A A F F U", "beh")
expect("POST", "/api/v1/pupils/{pupil_id}/agencies",                 "U U F F F F A F F U")
expect("POST", "/api/v1/pupils/{pupil_id}/agencies",                 "U U F F F F A F F U", "sen")
expect("POST", "/api/v1/pupils/{pupil_id}/agencies",                 "U U F F F F A F F U", "sen_other")
expect("POST", "/api/v1/pupils/{pupil_id}/agencies",                 "U U F F F F A F F U", "beh")
expect("GET", "/api/v1/pupils/{pupil_id}/audit",                     "U U F F F F A F F U")
expect("GET", "/api/v1/pupils/{pupil_id}/audit",                     "U U F F F F A F F U", "sen")
expect("GET", "/api/v1/pupils/{pupil_id}/audit",                     "U U F F F F A F F U", "sen_other")
expect("GET", "/api/v1/pupils/{pupil_id}/audit",                     "U U F F F F A F F U", "beh")
expect("GET", "/api/v1/pupils/{pupil_id}/chronology",                "U U F F A A A F F U")
expect("GET", "/api/v1/pupils/{pupil_id}/chronology",                "U U F F A A A F F U", "sen")
expect("GET", "/api/v1/pupils/{pupil_id}/chronology",                "U U F F A A A F F U", "sen_other")
expect("GET", "/api/v1/pupils/{pupil_id}/chronology",                "U U F F A A A F F U", "beh")
expect("GET", "/api/v1/pupils/{pupil_id}/front-sheet",               "U U F F A A A F F U")
expect("GET", "/api/v1/pupils/{pupil_id}/front-sheet",               "U U F F A A A F F U", "sen")
expect("GET", "/api/v1/pupils/{pupil_id}/front-sheet",               "U U F F A A A F F U", "sen_other")
expect("GET", "/api/v1/pupils/{pupil_id}/front-sheet",               "U U F F A A A F F U", "beh")
expect("POST", "/api/v1/pupils/{pupil_id}/household",                "U U F F F F A F F U")
expect("POST", "/api/v1/pupils/{pupil_id}/household",                "U U F F F F A F F U", "sen")
expect("POST", "/api/v1/pupils/{pupil_id}/household",                "U U F F F F A F F U", "sen_other")
expect("POST", "/api/v1/pupils/{pupil_id}/household",                "U U F F F F A F F U", "beh")
expect("GET", "/api/v1/pupils/{pupil_id}/siblings",                  "U U A A A A A F F U")
expect("GET", "/api/v1/pupils/{pupil_id}/siblings",                  "U U A A A A A F F U", "sen")
expect("GET", "/api/v1/pupils/{pupil_id}/siblings",                  "U U A A A A A F F U", "sen_other")
expect("GET", "/api/v1/pupils/{pupil_id}/siblings",                  "U U A A A A A F F U", "beh")
expect("POST", "/api/v1/pupils/{pupil_id}/siblings",                 "U U F F F F A F F U")
expect("POST", "/api/v1/pupils/{pupil_id}/siblings",                 "U U F F F F A F F U", "sen")
expect("POST", "/api/v1/pupils/{pupil_id}/siblings",                 "U U F F F F A F F U", "sen_other")
expect("POST", "/api/v1/pupils/{pupil_id}/siblings",                 "U U F F F F A F F U", "beh")
expect("DELETE", "/api/v1/pupils/{pupil_id}/siblings/{other_pupil_id}", "U U F F F F A F F U")
expect("DELETE", "/api/v1/pupils/{pupil_id}/siblings/{other_pupil_id}", "U U F F F F A F F U", "sen")
expect("DELETE", "/api/v1/pupils/{pupil_id}/siblings/{other_pupil_id}", "U U F F F F A F F U", "sen_other")
expect("DELETE", "/api/v1/pupils/{pupil_id}/siblings/{other_pupil_id}", "U U F F F F A F F U", "beh")
expect("PUT", "/api/v1/pupils/{pupil_id}/staff-relatives",           "U U F F F F A F F U")
expect("PUT", "/api/v1/pupils/{pupil_id}/staff-relatives",           "U U F F F F A F F U", "sen")
expect("PUT", "/api/v1/pupils/{pupil_id}/staff-relatives",           "U U F F F F A F F U", "sen_other")
expect("PUT", "/api/v1/pupils/{pupil_id}/staff-relatives",           "U U F F F F A F F U", "beh")
expect("POST", "/api/v1/roll/import",                                "U U F F F F A F F U")
expect("POST", "/chronology/{entry_id}/significant",                 "U U F F F F A F F U")
expect("GET", "/pupils",                                             "U U F F A A A F F U")
expect("GET", "/pupils/{pupil_id}",                                  "U U F F A A A F F U")
expect("GET", "/pupils/{pupil_id}",                                  "U U F F A A A F F U", "sen")
expect("GET", "/pupils/{pupil_id}",                                  "U U F F A A A F F U", "sen_other")
expect("GET", "/pupils/{pupil_id}",                                  "U U F F A A A F F U", "beh")
expect("POST", "/pupils/{pupil_id}/agencies",                        "U U F F F F A F F U")
expect("POST", "/pupils/{pupil_id}/agencies",                        "U U F F F F A F F U", "sen")
expect("POST", "/pupils/{pupil_id}/agencies",                        "U U F F F F A F F U", "sen_other")
expect("POST", "/pupils/{pupil_id}/agencies",                        "U U F F F F A F F U", "beh")
expect("POST", "/pupils/{pupil_id}/staff-relatives",                 "U U F F F F A F F U")
expect("POST", "/pupils/{pupil_id}/staff-relatives",                 "U U F F F F A F F U", "sen")
expect("POST", "/pupils/{pupil_id}/staff-relatives",                 "U U F F F F A F F U", "sen_other")
expect("POST", "/pupils/{pupil_id}/staff-relatives",                 "U U F F F F A F F U", "beh")
expect("POST", "/pupils/{pupil_id}/household",                       "U U F F F F A F F U")
expect("POST", "/pupils/{pupil_id}/household",                       "U U F F F F A F F U", "sen")
expect("POST", "/pupils/{pupil_id}/household",                       "U U F F F F A F F U", "sen_other")
expect("POST", "/pupils/{pupil_id}/household",                       "U U F F F F A F F U", "beh")
expect("GET", "/roll/import",                                        "U U F F F F A F F U")
expect("POST", "/roll/import",                                       "U U F F F F A F F U")

# --- follow-up, cases, alerts, the tray and the audit log -------------------------------------
expect("GET", "/",                                                   "U U A A A A A A A U")
expect("GET", "/actions",                                            "U U A A A A A A A U")
expect("POST", "/actions/{action_id}/complete",                      "U U F F F F A F F U")
expect("GET", "/alerts",                                             "U U A A A A A A A U")
expect("POST", "/alerts/{alert_id}/read",                            "U U N A N N N N N U")
expect("GET", "/alerts/failed",                                      "U U F F F F A A F U")
expect("POST", "/alerts/failed/{mail_id}/retry",                     "U U F F F F N N F U")
expect("GET", "/alerts/preferences",                                 "U U A A A A A A A U")
expect("POST", "/alerts/preferences",                                "U U A A A A A A A U")
expect("GET", "/api/v1/actions",                                     "U U F F F F A F F U")
expect("POST", "/api/v1/actions/{action_id}/complete",               "U U F F F F A F F U")
expect("GET", "/api/v1/alerts",                                      "U U A A A A A A A U")
expect("POST", "/api/v1/alerts/{alert_id}/read",                     "U U N A N N N N N U")
# Failed alert e-mails: the DSL team and administrators (an id never used: not found); each one's own
# choice of how their alert e-mails come: anyone signed in.
expect("GET", "/api/v1/alerts/failed",                               "U U F F F F A A F U")
expect("POST", "/api/v1/alerts/failed/{mail_id}/retry",              "U U F F F F N N F U")
expect("GET", "/api/v1/alerts/preferences",                          "U U A A A A A A A U")
expect("PUT", "/api/v1/alerts/preferences",                          "U U A A A A A A A U")
expect("GET", "/api/v1/audit",                                       "U U F F F F A F F U")
expect("GET", "/api/v1/cases",                                       "U U F F F F A F F U")
expect("GET", "/api/v1/dashboard",                                   "U U F F F F A F F U")
expect("POST", "/api/v1/cases",                                      "U U F F F F A F F U")
expect("GET", "/api/v1/cases/{case_id}",                             "U U F F F F A F F U")
expect("POST", "/api/v1/cases/{case_id}/incidents",                  "U U F F F F A F F U")
expect("PUT", "/api/v1/cases/{case_id}/owner",                       "U U F F F F A F F U")
expect("PUT", "/api/v1/cases/{case_id}/status",                      "U U F F F F A F F U")
expect("GET", "/api/v1/staff",                                       "U U A A A A A F F U")
expect("GET", "/api/v1/tray",                                        "U U F F F F A F F U")
expect("POST", "/api/v1/tray/alerts",                                "U U U U U U U U U A")
expect("POST", "/api/v1/tray/{item_id}/attach",                      "U U F F F F A F F U")
expect("POST", "/api/v1/tray/{item_id}/dismiss",                     "U U F F F F A F F U")
expect("GET", "/audit",                                              "U U F F F F A F F U")
expect("GET", "/cases",                                              "U U F F F F A F F U")
expect("GET", "/dashboard",                                          "U U F F F F A F F U")
expect("GET", "/cases/new",                                          "U U F F F F A F F U")
expect("POST", "/cases/new",                                         "U U F F F F A F F U")
expect("GET", "/cases/{case_id}",                                    "U U F F F F A F F U")
expect("POST", "/cases/{case_id}/incidents",                         "U U F F F F A F F U")
expect("POST", "/cases/{case_id}/owner",                             "U U F F F F A F F U")
expect("POST", "/cases/{case_id}/status",                            "U U F F F F A F F U")
expect("GET", "/tray",                                               "U U F F F F A F F U")
expect("POST", "/tray/{item_id}/attach",                             "U U F F F F A F F U")
expect("POST", "/tray/{item_id}/dismiss",                            "U U F F F F A F F U")


def app_routes() -> set[tuple[str, str]]:
    """Every (method, path) the gateway answers, from the app itself (not a hand list)."""
    from services.common.testing import TEST_SECRETS_KEY, key_settings
    from services.gateway.app import create_app
    from services.gateway.settings import GatewaySettings

    app = create_app(GatewaySettings(env="test", cookie_secure=False, **key_settings("gateway"),
                                     secrets_key=TEST_SECRETS_KEY,
                                     gateway_database_url="postgresql://postgres@127.0.0.1:5432/postgres"))
    app.state.db.engine.dispose()  # made, never connected
    # FastAPI lists an included router's routes behind it: walk through to each route as mounted.
    return {(method, r.path) for r in iter_route_contexts(app.routes) if isinstance(r.original_route, APIRoute)
            for method in r.methods if method != "HEAD"
            and r.path not in ("/favicon.ico",)}


def test_the_matrix_lists_every_route():
    routes = app_routes()
    missing = sorted(routes - set(MATRIX))
    assert not missing, f"routes with no entry in the authorisation matrix: {missing}"
    gone = sorted(set(MATRIX) - routes)
    assert not gone, f"the matrix lists routes the app no longer has: {gone}"


# --- the run -----------------------------------------------------------------------------------------

def _now(hours: float = 0) -> str:
    return (datetime.now(timezone.utc) - timedelta(hours=hours)).strftime("%Y-%m-%dT%H:%M:%SZ")


@pytest.fixture(scope="module")
def own_stack():
    """Its own Haven: the run deactivates a member of staff, deletes a group and revokes a key."""
    from .stack import Stack
    stack = Stack()
    try:
        yield stack.start()
    finally:
        stack.stop()


@pytest.fixture(scope="module")
def world(own_stack):
    """The callers, and records for every id a path can hold."""
    base = own_stack.base_url
    people = {name: Api(base).login(email) for name, email in EMAILS.items() if name != "pending"}
    pending = Api(base).login(EMAILS["pending"], totp=False)
    teacher, dsl, admin = people["staff"], people["dsl"], people["admin"]
    by_name = {c["name"]: c for c in teacher.get("/api/v1/categories").json()}
    categories = {"safeguarding": by_name["Safeguarding"]["id"], "sen": by_name["SEN"]["id"],
                  "behaviour": by_name["Behaviour"]["id"]}
    pupils = dsl.get("/api/v1/pupils", params={"q": "", "limit": 100}).json()
    p1 = pupils[0]
    p2 = next(p for p in pupils if p.get("year_group") != p1.get("year_group"))
    group = next(g for g in admin.get("/api/v1/admin/groups").json() if g["name"] == "SENCO")
    r = admin.request("PATCH", f"/api/v1/admin/groups/{group['id']}", json={"year_groups": [p1["year_group"]]})
    assert r.status_code == 200, r.text

    def record(pupil, sensitivity, **extra):
        r = teacher.post("/api/v1/incidents", json={
            "pupil_id": pupil["id"], "occurred_at": _now(2), "account": "Matrix record.",
            "category_ids": [categories[sensitivity]], "record_type": "observation", **extra})
        assert r.status_code == 201, r.text
        return r.json()["id"]

    alerted_id = people["alerted"].user["id"]
    sg = record(p1, "safeguarding", alert_user_ids=[alerted_id])
    sen, sen_other, beh = record(p1, "sen"), record(p2, "sen"), record(p1, "behaviour")
    action = dsl.post(f"/api/v1/incidents/{sg}/actions", json={"description": "Strategy meeting held."})
    assert action.status_code == 201, action.text
    case = dsl.post("/api/v1/cases", json={"pupil_id": p1["id"], "title": "Matrix case",
                                           "owner_user_id": dsl.user["id"], "incident_ids": [sg]})
    assert case.status_code == 201, case.text
    document = teacher.post(f"/api/v1/incidents/{sg}/documents",
                            files={"file": ("note.txt", b"a note", "text/plain")})
    assert document.status_code == 201, document.text
    made = admin.post("/api/v1/integrations", json={"name": f"Matrix {uuid.uuid4().hex[:6]}"})
    assert made.status_code == 201, made.text
    key = made.json()["api_key"]
    # Another key for the rows that revoke one (the key above must keep working for its column).
    doomed = admin.post("/api/v1/integrations", json={"name": f"Matrix {uuid.uuid4().hex[:6]}"})
    assert doomed.status_code == 201, doomed.text
    upn = dsl.get(f"/api/v1/pupils/{p1['id']}").json().get("upn") or "unknown"
    tray = httpx.post(f"{base}/api/v1/tray/alerts", headers={"Authorization": f"Bearer {key}"}, timeout=30,
                      json={"external_id": f"m-{uuid.uuid4().hex[:10]}", "pupil_identifier": upn,
                            "severity": "high", "summary": "Matrix alert.", "occurred_at": _now(1)})
    assert tray.status_code in (200, 201), tray.text
    sibling = dsl.post(f"/api/v1/pupils/{p1['id']}/siblings", json={"pupil_id": p2["id"]})
    assert sibling.status_code in (200, 201), sibling.text
    chronology = dsl.get(f"/api/v1/pupils/{p1['id']}/chronology").json()
    entry = next(e["id"] for e in chronology["entries"] if e.get("incident_id") == sg)
    alerts = []
    for _ in range(60):  # the alert arrives through the bus
        alerts = people["alerted"].get("/api/v1/alerts").json()
        if alerts:
            break
        time.sleep(0.5)
    assert alerts, "the alerted teacher's alert never arrived"
    staff = {s["email"]: s["id"] for s in admin.get("/api/v1/admin/staff", params={"status": "all"}).json()}
    common = {"pupil_id": p1["id"], "other_pupil_id": p2["id"], "action_id": action.json()["id"],
              "case_id": case.json()["id"], "document_id": document.json()["id"], "entry_id": entry,
              "integration_id": doomed.json()["id"], "item_id": tray.json()["id"], "group_id": group["id"],
              "user_id": staff["ta@demo.haven.test"], "category_id": categories["behaviour"],
              "alert_id": alerts[0]["id"], "key_id": 999999, "act": "deactivate", "mail_id": 999999,
              "queue": alerts_contract.on_incident_recorded.queue,
              "token": "not-a-real-link", "link": "not-a-real-link"}
    ids = {"sg": {**common, "incident_id": sg}, "sen": {**common, "incident_id": sen},
           "sen_other": {**common, "incident_id": sen_other, "pupil_id": p2["id"]},
           "beh": {**common, "incident_id": beh}}
    callers = {name: people[name] for name in people}
    callers["pending"] = pending
    return {"base": base, "callers": callers, "key": key, "ids": ids}


SIGN_IN_PAGES = ("/sign-in", "/step-up", "/account/set-up", "/account/enrol")


def classify(response: httpx.Response) -> str:
    status = response.status_code
    assert status < 500, f"{response.request.method} {response.request.url.path}: {status} {response.text[:300]}"
    assert status != 429, f"throttled: {response.request.url.path}"
    if status == 401:
        return "U"
    if status in (301, 302, 303, 307, 308):
        target = httpx.URL(response.headers.get("location", "")).path
        return "U" if target.startswith(SIGN_IN_PAGES) else "A"
    return {403: "F", 404: "N"}.get(status, "A")


def ask(world, caller: str, method: str, path: str, variant: str) -> str:
    url = re.sub(r"{(\w+)}", lambda m: str(world["ids"][variant][m.group(1)]), path)
    kwargs: dict = {"headers": {}}
    if method != "GET":
        if path.startswith("/api/"):
            kwargs["json"] = {}
        else:
            kwargs["data"] = {}
    if caller == "anon":
        response = httpx.request(method, world["base"] + url, timeout=30, **kwargs)
    elif caller == "key":
        kwargs["headers"]["Authorization"] = f"Bearer {world['key']}"
        response = httpx.request(method, world["base"] + url, timeout=30, **kwargs)
    else:
        client = world["callers"][caller]
        if method != "GET" and "data" in kwargs:
            kwargs["data"] = {"csrf_token": client.csrf}
        response = client.request(method, url, **kwargs)
    return classify(response)


# Routes that end the caller's session, or take away what later rows need, run last.
LAST = {("DELETE", "/api/v1/session"): 3, ("POST", "/sign-out"): 3}


def run_order(key):
    method, path = key
    return (LAST.get(key, {"GET": 0, "DELETE": 2}.get(method, 1)), path, method)


# --- probing by id: another school's records, and records hidden from the caller -------------------

@pytest.fixture(scope="module")
def elsewhere(own_stack):
    """A record of another school on the same Haven, written by that school's own recorder."""
    from services.common.actor import Actor
    from services.common.contracts.base import validate
    from services.common.contracts.incidents import IncidentIn
    from services.common.db import make_engine, session_factory, transaction
    from services.incidents.models import Category, Pupil, School
    from services.incidents.record.incidents import record_incident

    engine = make_engine(own_stack.databases["incidents"])
    try:
        with transaction(session_factory(engine)) as session:
            school = School(id=4242, name="Elsewhere Academy")
            session.add(school)
            session.flush()
            pupil = Pupil(school_id=school.id, upn="E424242424242", legal_forename="Other", legal_surname="Child",
                          year_group="Year 4")
            category = Category(school_id=school.id, name="Safeguarding", sensitivity="safeguarding",
                                default_alert_groups=[], default_alert_user_ids=[])
            session.add_all([pupil, category])
            session.flush()
            recorder = Actor(user_id=900001, school_id=school.id, name="Their Teacher", roles=("staff",))
            made = record_incident(session, recorder, validate(IncidentIn, {
                "pupil_id": pupil.id, "occurred_at": _now(3), "account": "Another school's record.",
                "category_ids": [category.id]}))
            return {"incident_id": made["id"], "pupil_id": pupil.id}
    finally:
        engine.dispose()


def test_another_schools_record_cannot_be_read_amended_attached_to_or_followed_up_by_id(world, elsewhere):
    incident, pupil = elsewhere["incident_id"], elsewhere["pupil_id"]
    probes = [("GET", f"/api/v1/incidents/{incident}", None), ("GET", f"/incidents/{incident}", None),
              ("POST", f"/api/v1/incidents/{incident}/amendments", {"field": "account", "new_value": "Changed.", "reason": "A probe of the permissions."}),
              ("GET", f"/api/v1/incidents/{incident}/actions", None),
              ("POST", f"/api/v1/incidents/{incident}/actions", {"description": "Probe."}),
              ("GET", f"/api/v1/incidents/{incident}/body-map.svg", None),
              ("GET", f"/api/v1/pupils/{pupil}", None), ("GET", f"/api/v1/pupils/{pupil}/chronology", None),
              ("GET", f"/api/v1/pupils/{pupil}/front-sheet", None)]
    for caller in ("staff", "senco", "slt", "dsl"):
        client = world["callers"][caller]
        for method, path, body in probes:
            r = client.request(method, path, json=body) if body is not None else client.request(method, path)
            assert r.status_code in (403, 404), f"{caller} {method} {path}: {r.status_code} {r.text[:200]}"
            assert "Another school" not in r.text and "Other Child" not in r.text
        r = client.post(f"/api/v1/incidents/{incident}/documents", files={"file": ("x.txt", b"probe", "text/plain")})
        assert r.status_code in (403, 404), f"{caller} attach: {r.status_code}"
    # The DSL's answer for another school's record is the answer for an id never used: it says nothing.
    dsl = world["callers"]["dsl"]
    assert dsl.get(f"/api/v1/incidents/{incident}").status_code == dsl.get("/api/v1/incidents/2000000000").status_code


def test_a_record_restricted_to_the_dsl_team_is_closed_to_its_recorder_and_those_alerted(world):
    teacher, alerted, dsl = (world["callers"][c] for c in ("staff", "alerted", "dsl"))
    pupil = world["ids"]["sg"]["pupil_id"]
    categories = {c["name"]: c["id"] for c in teacher.get("/api/v1/categories").json()}
    r = teacher.post("/api/v1/incidents", json={
        "pupil_id": pupil, "occurred_at": _now(1), "account": "Concern about a colleague's conduct.",
        "category_ids": [categories["Safeguarding"]], "alert_user_ids": [alerted.user["id"]]})
    assert r.status_code == 201, r.text
    incident = r.json()["id"]
    document = teacher.post(f"/api/v1/incidents/{incident}/documents", files={"file": ("n.txt", b"note", "text/plain")})
    assert document.status_code == 201, document.text
    r = dsl.request("PUT", f"/api/v1/incidents/{incident}/restriction",
                    json={"restricted": True, "reason": "An allegation about a member of staff."})
    assert r.status_code == 200, r.text
    for client in (teacher, alerted):
        assert client.get(f"/api/v1/incidents/{incident}").status_code in (403, 404)
        assert client.post(f"/api/v1/incidents/{incident}/amendments",
                           json={"field": "account", "new_value": "More.", "reason": "A probe of the permissions."}).status_code in (403, 404)
        assert client.post(f"/api/v1/incidents/{incident}/documents",
                           files={"file": ("x.txt", b"x", "text/plain")}).status_code in (403, 404)
        assert client.get(f"/api/v1/documents/{document.json()['id']}").status_code in (403, 404)
    assert dsl.get(f"/api/v1/incidents/{incident}").json()["restricted"] is True
    assert dsl.get(f"/api/v1/documents/{document.json()['id']}").status_code == 200


def test_a_record_about_a_member_of_staff_does_not_exist_for_them(world):
    teacher, alerted, dsl = (world["callers"][c] for c in ("staff", "alerted", "dsl"))
    pupil = world["ids"]["sg"]["pupil_id"]
    categories = {c["name"]: c["id"] for c in teacher.get("/api/v1/categories").json()}
    r = teacher.post("/api/v1/incidents", json={
        "pupil_id": pupil, "occurred_at": _now(1), "account": "Low-level concern about a colleague.",
        "category_ids": [categories["Safeguarding"]], "about_staff_ids": [alerted.user["id"]],
        "alert_user_ids": [alerted.user["id"]]})
    assert r.status_code == 201, r.text
    incident = r.json()["id"]
    # Not found, exactly as an id never used; not in their alerts; not in the pupil's lists.
    assert alerted.get(f"/api/v1/incidents/{incident}").status_code == 404
    assert alerted.get("/api/v1/incidents/2000000000").status_code == 404
    time.sleep(1)  # the alert, were it sent, goes through the bus
    assert all(a.get("incident_id") != incident for a in alerted.get("/api/v1/alerts").json())
    assert dsl.get(f"/api/v1/incidents/{incident}").status_code == 200


# --- the matrix (last: it signs every caller out) ------------------------------------------------

def test_every_caller_gets_the_answer_the_design_gives(world):
    if os.environ.get("MATRIX_PRINT"):  # writing the table: ask every route, listed or not
        for key in app_routes() - set(MATRIX):
            unknown = " ".join("?" * len(COLUMNS))
            record_ids = "{incident_id}" in key[1] or "{pupil_id}" in key[1]
            MATRIX[key] = {v: unknown for v in (("sg", "sen", "sen_other", "beh") if record_ids else ("sg",))}
    observed, wrong = {}, []
    for key in sorted(MATRIX, key=run_order):
        method, path = key
        for variant, answers in MATRIX[key].items():
            got = {caller: ask(world, caller, method, path, variant) for caller in COLUMNS}
            observed[(method, path, variant)] = got
            want = row(answers)
            if got != want:
                wrong.append(f"{method} {path} [{variant}]: want {answers!r}, got {' '.join(got[c] for c in COLUMNS)!r}")
    if os.environ.get("MATRIX_PRINT"):
        for (method, path, variant), got in observed.items():
            print(f"expect({method!r}, {path!r},".ljust(70), f"{' '.join(got[c] for c in COLUMNS)!r}, {variant!r})")
    assert not wrong, "\n".join(wrong)
