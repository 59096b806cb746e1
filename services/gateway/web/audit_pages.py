"""The audit log's pages for the DSL team: the search (/audit, a GET form, so a search is a link),
and the "who has looked at this pupil's records" panel on the pupil's page."""
from __future__ import annotations

from urllib.parse import urlencode

from fastapi import APIRouter, Request

from services.common.contracts.base import validate
from services.common.errors import ValidationFailed

from ..deps import Ctx, DslUser, audits
from ..usecases import Context, audit_log
from ..usecases.audit_log import AuditFilters
from .common import FormErrors, render

router = APIRouter(include_in_schema=False)
FILTERS = ("user_id", "action", "object_type", "object_id", "pupil_id", "outcome", "from", "to", "offset")
PAGE_SIZE = 50
OUTCOMES = {"ok": "Allowed", "refused": "Refused", "invalid": "Not valid", "failed": "Failed"}
# Where an object can be opened (a page of ours for it).
PAGES = {"incident": "/incidents/{}", "pupil": "/pupils/{}", "case": "/cases/{}", "pupil_audit": "/pupils/{}"}


def present(entry: dict) -> dict:
    """An entry as the page shows it: what was done in words, the object with a link where there is a
    page for it, and the outcome in words."""
    kind, _, status = (entry.get("outcome") or "").partition(":")
    object_type, object_id = entry.get("object_type"), entry.get("object_id")
    link = PAGES.get(object_type, "").format(object_id) if object_id and object_id.isdigit() and object_type in PAGES else None
    return {**entry, "what": (entry.get("action") or "").replace("_", " ").capitalize(),
            "object": f"{(object_type or '').replace('_', ' ')} {object_id or ''}".strip(), "link": link,
            "outcome_label": OUTCOMES.get(kind, kind.capitalize()) + (f" ({status})" if status else ""),
            "outcome_kind": kind}


async def pupil_panel(ctx: Context, user, pupil_id: int) -> list[dict] | None:
    """For the pupil's page: the last 50 entries about the pupil's records (the DSL team), else None."""
    if not user.is_dsl:
        return None
    return [present(e) for e in await audit_log.pupil_history(ctx, user, pupil_id)]


@router.get("/audit")
@audits(audit_log.SEARCH_AUDIT_LOG)
async def audit_page(request: Request, user: DslUser, ctx: Ctx):
    typed = {k: request.query_params.get(k, "")[:100] for k in FILTERS}
    errors: list[dict] = []
    try:
        filters = validate(AuditFilters, {**{k: v for k, v in typed.items() if v}, "limit": PAGE_SIZE})
    except ValidationFailed as exc:
        errors, filters = exc.errors, None
    found = await audit_log.search(ctx, user, filters) if filters else {"entries": [], "total": 0, "offset": 0}
    offset = found["offset"]
    form_errors = FormErrors(errors, {k: f"audit-{k}" for k in FILTERS})
    pages = {"newer": _page_link(typed, offset - PAGE_SIZE) if offset > 0 else None,
             "older": _page_link(typed, offset + PAGE_SIZE)
             if offset + PAGE_SIZE < found["total"] or found.get("more") else None}
    return render(request, "audit.html", user, 422 if errors else 200, typed=typed, errors=form_errors,
                  summary=form_errors.summary, entries=[present(e) for e in found["entries"]],
                  total=found["total"], more=found.get("more", False), offset=offset, pages=pages,
                  staff=await audit_log.staff_names(ctx, user), searched=any(typed[k] for k in FILTERS if k != "offset"))


def _page_link(typed: dict, offset: int) -> str:
    pairs = [(k, v) for k, v in typed.items() if v and k != "offset"] + ([("offset", offset)] if offset > 0 else [])
    return "/audit" + (f"?{urlencode(pairs)}" if pairs else "")
