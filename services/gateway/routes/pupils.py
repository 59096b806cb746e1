"""Everything under /pupils: finding a pupil, their details (audited), siblings, chronology (audited,
passed on gzipped as the service wrote it), front sheet, household and agencies."""
from __future__ import annotations

import base64
import gzip

from fastapi import Query, Request
from fastapi.responses import Response

from services.common.contracts import incidents as contract
from services.common.contracts.incidents import ENTRY_TYPES

from . import api_router
from ..deps import Ctx, CurrentUser, DslUser, audits
from ..schemas import (AgencyRequest, ChronologyView, FrontSheetView, HouseholdMemberRequest, PathId, PupilFound,
                       PupilView, SiblingRequest, _without)
from ..usecases import pupils

router = api_router("/api/v1/pupils", "pupils")

StaffRelativesRequest = _without(contract.SetStaffRelatives, "pupil_id", name="StaffRelativesRequest",
                                 doc="Every member of staff who is the pupil's parent or carer.")


@router.get("", response_model=list[PupilFound],
            summary="Search the roll by any part of a name, a preferred name or a UPN (typos forgiven)")
async def search(user: CurrentUser, ctx: Ctx, q: str = "", limit: int = 20):
    return await pupils.search(ctx, user, q, limit)


@router.get("/{pupil_id}", response_model=PupilView,
            summary="A pupil's details (readers of records: date of birth, UPN, legal name; the DSL team "
                    "alone: safeguarding flags and staff relatives; other staff: name, year and form) (audited)")
@audits(pupils.READ_PUPIL, "pupil_id")
async def get_pupil(pupil_id: PathId, user: CurrentUser, ctx: Ctx):
    return await pupils.read_pupil(ctx, user, pupil_id)


@router.get("/{pupil_id}/siblings", response_model=list[dict],
            summary="A pupil's siblings, for \"add siblings\" on the incident form (audited)")
@audits(pupils.READ_SIBLINGS, "pupil_id")
async def list_siblings(pupil_id: PathId, user: CurrentUser, ctx: Ctx):
    return await pupils.siblings(ctx, user, pupil_id)


@router.post("/{pupil_id}/siblings", response_model=list[dict],
             summary="Record that two pupils are siblings (both ways; DSL team)")
async def link_siblings(pupil_id: PathId, body: SiblingRequest, user: DslUser, ctx: Ctx):
    return await pupils.link_siblings(ctx, user, pupil_id, body.pupil_id)


@router.delete("/{pupil_id}/siblings/{other_pupil_id}", response_model=list[dict],
               summary="Remove a sibling link (both ways; DSL team)")
async def unlink_siblings(pupil_id: PathId, other_pupil_id: PathId, user: DslUser, ctx: Ctx):
    return await pupils.unlink_siblings(ctx, user, pupil_id, other_pupil_id)


@router.get("/{pupil_id}/chronology", response_class=Response, responses={200: {"model": ChronologyView}},
            summary="A pupil's chronology in the order things happened, with filters (DSL team; SLT and "
                    "category readers the lines of records they read; safeguarding lines after a recent second "
                    "factor, `hidden_needing_step_up` counting the rest) (audited)")
@audits(pupils.READ_CHRONOLOGY, "pupil_id")
async def get_chronology(pupil_id: PathId, user: CurrentUser, ctx: Ctx, request: Request,
                         category_id: int | None = Query(None, description="A category, with its sub-categories"),
                         date_from: str | None = Query(None, alias="from",
                                                       description="YYYY-MM-DD (the whole day, UTC) or ISO 8601"),
                         date_to: str | None = Query(None, alias="to",
                                                     description="YYYY-MM-DD (the whole day, UTC) or ISO 8601"),
                         entry_type: str | None = Query(None, alias="type",
                                                        description="One of " + ", ".join(ENTRY_TYPES)
                                                                    + "; several separated by commas"),
                         significant: bool | None = Query(None, description="true: significant events only")):
    filters = {"category_id": category_id, "from": date_from, "to": date_to, "type": entry_type,
               "significant": significant}
    # Thousands of lines: the service sends the body already encoded and gzipped, and it is passed on
    # as it is — never decoded and re-encoded here, nor through FastAPI's (slow) jsonable_encoder.
    packed = await pupils.chronology(ctx, user, pupil_id, filters, gzipped=True)
    body = base64.b64decode(packed["gzip_b64"])
    if accepts_gzip(request.headers.get("accept-encoding", "")):
        return Response(body, media_type="application/json",
                        headers={"Content-Encoding": "gzip", "Vary": "Accept-Encoding"})
    return Response(gzip.decompress(body), media_type="application/json", headers={"Vary": "Accept-Encoding"})


def accepts_gzip(header: str) -> bool:
    """Whether an Accept-Encoding header allows gzip ("gzip", "gzip;q=0.5", "*"; not "gzip;q=0")."""
    allowed = {}
    for part in header.lower().split(","):
        coding, _, params = part.strip().partition(";")
        q = 1.0
        for param in params.split(";"):
            name, _, value = param.strip().partition("=")
            if name == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        allowed[coding.strip()] = q
    return allowed.get("gzip", allowed.get("*", 0.0)) > 0


@router.get("/{pupil_id}/front-sheet", response_model=FrontSheetView, response_model_exclude_none=True,
            summary="A pupil's front sheet: key details, flags, agencies, household, siblings, open cases "
                    "(DSL team; SLT and category readers without flags, household, agencies and cases) (audited)")
@audits(pupils.READ_FRONT_SHEET, "pupil_id")
async def get_front_sheet(pupil_id: PathId, user: CurrentUser, ctx: Ctx):
    return await pupils.front_sheet(ctx, user, pupil_id)


@router.post("/{pupil_id}/household", status_code=201, response_model=dict,
             summary="Add a parent, carer or other adult to a pupil's household (DSL team)")
async def add_household_member(pupil_id: PathId, body: HouseholdMemberRequest, user: DslUser, ctx: Ctx):
    return await pupils.add_household_member(ctx, user, pupil_id, body)


@router.post("/{pupil_id}/agencies", status_code=201, response_model=dict,
             summary="Record an agency working with a pupil (DSL team)")
async def add_agency(pupil_id: PathId, body: AgencyRequest, user: DslUser, ctx: Ctx):
    return await pupils.add_agency(ctx, user, pupil_id, body)


@router.put("/{pupil_id}/staff-relatives", response_model=contract.StaffRelativesView,
            summary="Say which staff are the pupil's parents or carers: the pupil's file is hidden from them "
                    "(DSL team)")
@audits(pupils.SET_STAFF_RELATIVES, "pupil_id")
async def set_staff_relatives(pupil_id: PathId, body: StaffRelativesRequest, user: DslUser, ctx: Ctx):
    """The whole list (an empty list clears it)."""
    return await pupils.set_staff_relatives(ctx, user, pupil_id, body.user_ids)
