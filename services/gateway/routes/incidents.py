"""Incidents: recording one, reading it (audited), correcting it, its body map."""
from __future__ import annotations

from typing import Annotated, Literal

from fastapi import Header
from fastapi.responses import JSONResponse, Response

from . import api_router
from services.common.contracts import alerts as alerts_contract
from services.common.contracts import incidents as contract

from ..deps import Ctx, CurrentUser, DslUser, Recorder, audits
from ..schemas import (AmendedView, AmendmentRequest, IncidentRequest, IncidentTextsRequest, IncidentView, PathId,
                       TextWarnings, _without)
from ..usecases import alerts, incidents

router = api_router("/api/v1", "incidents")

RestrictionRequest = _without(contract.RestrictIncident, "incident_id", name="RestrictionRequest",
                              doc="Restrict the record to the DSL team (`reason` required), or lift it.")
SummaryRequest = _without(contract.IncidentSummaryIn, "incident_id", name="SummaryRequest",
                          doc="The DSL's one-line summary for the incident's chronology line; empty clears it.")
ExcludedStaffRequest = _without(contract.SetExcludedStaff, "incident_id", name="ExcludedStaffRequest",
                                doc="Every member of staff the record is about: it is hidden from each of them.")


@router.post("/incidents", status_code=201, response_model=IncidentView, summary="Record a concern or incident",
             responses={200: {"description": "Sent before with this client token: the saved record",
                              "model": IncidentView}})
async def record_incident(body: IncidentRequest, user: Recorder, ctx: Ctx,
                          idempotency_key: Annotated[str | None, Header(max_length=64)] = None):
    """Answers with the record as saved, plus `warnings` (e.g. a linked pupil named in full in the
    text): the record is saved; the warnings say what to correct with an amendment. A submission
    sent again with the same client token (or Idempotency-Key) answers 200 with the saved record."""
    data = body.model_dump(exclude_unset=True)
    if not data.get("client_token") and idempotency_key:
        data["client_token"] = idempotency_key
    saved = await incidents.record_incident(ctx, user, data)
    if saved.pop("replayed", False):
        return JSONResponse(saved, status_code=200)
    return saved


@router.post("/incidents/check-text", response_model=TextWarnings,
             summary="Check a record's text before saving (linked pupils named in full)")
async def check_incident_text(body: IncidentTextsRequest, user: Recorder, ctx: Ctx):
    """Answers `{"warnings": [{"field", "pupil_id", "message"}]}`; nothing is saved."""
    return await incidents.check_text(ctx, user, body)


@router.get("/body-map/outline", summary="The body map's front and back outlines (polygons in a 0–1 box)")
async def body_map_outline(user: CurrentUser, ctx: Ctx):
    return await incidents.body_map_outline(ctx, user)


@router.get("/incidents/{incident_id}", response_model=IncidentView, response_model_exclude_unset=True,
            summary="Read an incident (audited)")
@audits(incidents.READ_INCIDENT, "incident_id")
async def get_incident(incident_id: PathId, user: CurrentUser, ctx: Ctx):
    return await incidents.read_incident(ctx, user, incident_id)


@router.get("/incidents/{incident_id}/body-map.svg", summary="Draw an incident's body map as SVG (audited)",
            response_class=Response, responses={200: {"content": {"image/svg+xml": {}}}})
@audits(incidents.READ_BODY_MAP, "incident_id")
async def body_map_svg(incident_id: PathId, user: CurrentUser, ctx: Ctx, side: Literal["front", "back"] | None = None):
    svg = await incidents.body_map_svg(ctx, user, incident_id, side)
    # The drawing holds nothing active; forbid it everything anyway, in case it is opened on its own.
    return Response(svg, media_type="image/svg+xml",
                    headers={"Cache-Control": "no-store", "Content-Security-Policy": "default-src 'none'",
                             "Content-Disposition": f'inline; filename="incident-{incident_id}-body-map.svg"'})


@router.post("/incidents/{incident_id}/amendments", status_code=201, response_model=AmendedView,
             summary="Correct a saved record (with a reason)")
@audits(incidents.AMEND_INCIDENT, "incident_id")
async def amend_incident(incident_id: PathId, body: AmendmentRequest, user: Recorder, ctx: Ctx):
    """For the member of staff who recorded it and the DSL team. The original is kept; answers
    `{"amendment": {...}, "incident": {...}}` with the record as this reader now sees it."""
    return await incidents.amend_incident(ctx, user, incident_id, body)


@router.put("/incidents/{incident_id}/restriction", response_model=contract.RestrictionView,
            summary="Restrict a record to the DSL team, or lift the restriction (DSL team)")
@audits(incidents.RESTRICT_INCIDENT, "incident_id")
async def restrict_incident(incident_id: PathId, body: RestrictionRequest, user: DslUser, ctx: Ctx):
    """E.g. an allegation about a member of staff: then only the DSL team reads it, its chronology lines
    and counts (not even its recorder). Answers `{incident_id, restricted, restriction}`."""
    return await incidents.restrict_incident(ctx, user, incident_id, body.restricted, body.reason)


@router.put("/incidents/{incident_id}/excluded-staff", response_model=contract.ExcludedStaffView,
            summary="Say which staff a record is about: it is hidden from them, whatever their role (DSL team)")
@audits(incidents.SET_EXCLUDED_STAFF, "incident_id")
async def set_excluded_staff(incident_id: PathId, body: ExcludedStaffRequest, user: DslUser, ctx: Ctx):
    """The whole list (an empty list clears it). A DSL the record names gets 404: another DSL does this."""
    return await incidents.set_excluded_staff(ctx, user, incident_id, body.user_ids)


@router.get("/incidents/{incident_id}/alerts", response_model=alerts_contract.IncidentAlertsView,
            summary="Who has been alerted about an incident, its escalations, and who has opened it (audited)")
@audits(alerts.READ_INCIDENT_ALERTS, "incident_id")
async def incident_alerts(incident_id: PathId, user: CurrentUser, ctx: Ctx):
    """For the DSL team and the member of staff who recorded it (the alerts service decides): each
    recipient with when they were alerted, when they opened it (or not yet) and how the e-mail went."""
    return await alerts.incident_alerts(ctx, user, incident_id)


@router.post("/incidents/{incident_id}/summary", response_model=contract.IncidentSummaryView,
             summary="Write the one-line summary the incident's chronology line shows (DSL team)")
@audits(incidents.SET_INCIDENT_SUMMARY, "incident_id")
async def set_summary(incident_id: PathId, body: SummaryRequest, user: DslUser, ctx: Ctx):
    """The DSL team's chronology shows it in place of the account's first 160 characters; an empty
    summary clears it. The record itself is not changed."""
    return await incidents.set_summary(ctx, user, incident_id, body.summary)
