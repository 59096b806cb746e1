"""A pupil's chronology, the significant-event flag, and the front sheet (with its household and
agencies). The DSL team reads everything; SLT read what is outside safeguarding; other staff neither.
"""
from __future__ import annotations

import base64
import gzip
from datetime import date

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel, Field, StrictBool

from services.common.errors import Forbidden

from ..deps import CurrentUser, Database, DslUser, Rpc
from .incidents import audited

router = APIRouter(prefix="/api/v1", tags=["chronology"])

ENTRY_TYPES = ("incident", "action", "decision", "outcome", "document", "case", "amendment", "transfer")
CHRONOLOGY_TIMEOUT = 30  # seconds: a chronology of many thousands of lines is still one query


def _reads_chronologies(user) -> None:
    if not (user.actor.is_dsl or user.actor.is_slt):
        raise Forbidden("Only the DSL team and senior leaders can read a pupil's chronology and front sheet.")


class ChronologyPupil(BaseModel):
    id: int
    name: str
    year_group: str
    form: str | None
    upn: str
    on_roll: bool


class ChronologyEntryOut(BaseModel):
    id: int
    entry_type: str = Field(json_schema_extra={"enum": list(ENTRY_TYPES)})
    occurred_at: str
    title: str
    incident_id: int | None
    ref_id: str = Field(description="The id of the record the line points at (action, decision, document…)")
    category_ids: list[int]
    role: str | None = Field(description="The pupil's role when they were a linked pupil in the incident")
    significant: bool


class ChronologyOut(BaseModel):
    pupil: ChronologyPupil
    entries: list[ChronologyEntryOut]


class SignificantIn(BaseModel):
    significant: StrictBool


class SignificantOut(ChronologyEntryOut):
    pupil_id: int
    significant_set_by: str | None
    significant_set_at: str | None


@router.get("/pupils/{pupil_id}/chronology", response_class=Response, responses={200: {"model": ChronologyOut}},
            summary="A pupil's chronology in the order things happened, with filters (DSL team; SLT outside "
                    "safeguarding) (audited)")
async def get_chronology(pupil_id: int, user: CurrentUser, rpc: Rpc, db: Database, request: Request,
                         category_id: int | None = Query(None, description="A category, with its sub-categories"),
                         date_from: str | None = Query(None, alias="from", max_length=40,
                                                       description="YYYY-MM-DD (the whole day, UTC) or ISO 8601"),
                         date_to: str | None = Query(None, alias="to", max_length=40,
                                                     description="YYYY-MM-DD (the whole day, UTC) or ISO 8601"),
                         entry_type: str | None = Query(None, alias="type", max_length=200,
                                                        description="One of " + ", ".join(ENTRY_TYPES)
                                                                    + "; several separated by commas"),
                         significant: bool | None = Query(None, description="true: significant events only")):
    filters = {"category_id": category_id, "from": date_from, "to": date_to, "type": entry_type,
               "significant": significant}

    async def read():
        _reads_chronologies(user)
        return await rpc.call("incidents", "get_chronology_gzip", user.actor_token, pupil_id, filters,
                              timeout=CHRONOLOGY_TIMEOUT)

    # Thousands of lines: the service sends the body already encoded and gzipped, and it is passed on
    # as it is — never decoded and re-encoded here, nor through FastAPI's (slow) jsonable_encoder.
    packed = await audited(db, user, request, "read_chronology", "pupil", pupil_id, read)
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


@router.put("/chronology/{entry_id}/significant", response_model=SignificantOut,
            summary="Mark or unmark a chronology line as a significant event (DSL team)")
async def set_significant(entry_id: int, body: SignificantIn, user: DslUser, rpc: Rpc, db: Database,
                          request: Request):
    return await audited(db, user, request, "flag_chronology_entry", "chronology_entry", entry_id,
                         lambda: rpc.call("incidents", "set_significant", user.actor_token, entry_id,
                                          body.significant))


# --- the front sheet ----------------------------------------------------------------------------------------

class HouseholdMemberIn(BaseModel):
    name: str = Field("", description="At most 200 characters")
    relationship: str = Field("", description="e.g. Mother, Stepfather, Foster carer (at most 60 characters)")
    parental_responsibility: bool = False
    lives_with_pupil: bool = True
    contact: str | None = Field(None, description="Telephone, address… (at most 200 characters)")


class HouseholdMemberOut(BaseModel):
    id: int
    name: str
    relationship: str
    parental_responsibility: bool
    lives_with_pupil: bool
    contact: str | None


class AgencyIn(BaseModel):
    agency: str = Field("", description="e.g. Children's social care, CAMHS, Early help (at most 120 characters)")
    contact: str | None = Field(None, description="e.g. the social worker's name and number (at most 200)")
    started_on: date | str | None = Field(None, description="YYYY-MM-DD; not in the future")
    ended_on: date | str | None = Field(None, description="YYYY-MM-DD; not before started_on")


class AgencyOut(BaseModel):
    id: int
    agency: str
    contact: str | None
    started_on: str | None
    ended_on: str | None
    current: bool
    recorded_at: str


class SiblingOut(BaseModel):
    id: int
    name: str
    year_group: str
    form: str | None
    on_roll: bool
    relationship: str


class OpenCase(BaseModel):
    id: int
    title: str
    owner: dict
    opened_at: str


class FrontSheet(BaseModel):
    pupil: dict = Field(description="id, name, legal and preferred names, UPN, date of birth, sex, year group, "
                                    "form, on roll, admission and leaving dates")
    flags: dict = Field(description="cp_plan, child_in_need, looked_after, previously_looked_after, eal, "
                                    "free_school_meals (true/false) and sen_status (none, sen_support, ehcp)")
    household: list[HouseholdMemberOut]
    siblings: list[SiblingOut]
    counts: dict = Field(description="incidents and open_actions, counting only what the reader may see")
    agencies: list[AgencyOut] | None = Field(None, description="DSL team only")
    open_cases: list[OpenCase] | None = Field(None, description="DSL team only")
    withheld: list[str] = Field(description="The sections left out for this reader (SLT: agencies, open_cases)")


@router.get("/pupils/{pupil_id}/front-sheet", response_model=FrontSheet, response_model_exclude_none=True,
            summary="A pupil's front sheet: key details, flags, agencies, household, siblings, open cases "
                    "(DSL team; SLT without agencies and cases) (audited)")
async def get_front_sheet(pupil_id: int, user: CurrentUser, rpc: Rpc, db: Database, request: Request):
    async def read():
        _reads_chronologies(user)
        return await rpc.call("incidents", "get_front_sheet", user.actor_token, pupil_id)
    return await audited(db, user, request, "read_front_sheet", "pupil", pupil_id, read)


@router.post("/pupils/{pupil_id}/household", status_code=201, response_model=HouseholdMemberOut,
             summary="Add a parent, carer or other adult to a pupil's household (DSL team)")
async def add_household_member(pupil_id: int, body: HouseholdMemberIn, user: DslUser, rpc: Rpc):
    return await rpc.call("incidents", "add_household_member", user.actor_token, pupil_id, body.model_dump())


@router.post("/pupils/{pupil_id}/agencies", status_code=201, response_model=AgencyOut,
             summary="Record an agency working with a pupil (DSL team)")
async def add_agency(pupil_id: int, body: AgencyIn, user: DslUser, rpc: Rpc):
    data = {k: v.isoformat() if isinstance(v, date) else v for k, v in body.model_dump().items()}
    return await rpc.call("incidents", "add_agency_involvement", user.actor_token, pupil_id, data)
