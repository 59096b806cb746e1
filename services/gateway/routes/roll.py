"""The roll: importing it from the MIS, a pupil's details, and family links."""
from __future__ import annotations

import base64
from typing import Annotated

from fastapi import APIRouter, Form, Request, UploadFile
from pydantic import BaseModel, Field

from services.common.errors import ValidationFailed

from ..deps import CurrentUser, Database, DslUser, Rpc
from .incidents import audited

router = APIRouter(prefix="/api/v1", tags=["roll"])

MAX_IMPORT_BYTES = 5 * 1024 * 1024  # the service checks again (roll.MAX_FILE_BYTES)
IMPORT_TIMEOUT = 120  # seconds: a whole secondary school's roll is a few seconds' work


class Pupil(BaseModel):
    id: int
    name: str
    year_group: str
    form: str | None = None


class Sibling(Pupil):
    on_roll: bool | None = Field(None, description="Only for the DSL team, who also see siblings who have left")


class PupilDetails(Pupil):
    """Everything below `form` is for the DSL team and SLT only; other staff get id, name, year and form."""
    upn: str | None = None
    legal_name: str | None = None
    legal_forename: str | None = None
    legal_surname: str | None = None
    preferred_forename: str | None = None
    preferred_surname: str | None = None
    initials: str | None = None
    date_of_birth: str | None = None
    sex: str | None = Field(None, description="M, F or X")
    on_roll: bool | None = None
    admission_date: str | None = None
    leaving_date: str | None = None
    flags: dict[str, bool] | None = Field(None, description="cp_plan, child_in_need, looked_after, "
                                                            "previously_looked_after, eal, free_school_meals")
    sen_status: str | None = Field(None, description="none, sen_support or ehcp")
    siblings: list[Sibling] | None = None


class ImportedPupil(BaseModel):
    upn: str
    name: str
    on_roll: bool | None = None


class ChangedPupil(ImportedPupil):
    fields: list[str]


class ImportReport(BaseModel):
    added: list[ImportedPupil]
    changed: list[ChangedPupil]
    left: list[ImportedPupil]
    unchanged: int
    dry_run: bool


class SiblingIn(BaseModel):
    pupil_id: int = Field(description="The sibling, another pupil on this school's roll")


@router.post("/roll/import", response_model=ImportReport, response_model_exclude_none=True,
             summary="Import or re-sync the roll from a MIS CSV export or a DfE Common Transfer File")
async def import_roll(user: DslUser, rpc: Rpc, db: Database, request: Request, file: UploadFile,
                      format: Annotated[str, Form(description="csv (a MIS export) or ctf (Common Transfer File)")],
                      mode: Annotated[str, Form(description="update: add and change pupils only; full: the "
                                                            "file is the whole roll, pupils not in it have left")]
                      = "update",
                      dry_run: Annotated[bool, Form(description="true: report what would change, change "
                                                                "nothing")] = False):
    content = await file.read(MAX_IMPORT_BYTES + 1)
    if len(content) > MAX_IMPORT_BYTES:
        raise ValidationFailed.one("file", f"The file is too large: Haven imports up to "
                                           f"{MAX_IMPORT_BYTES // (1024 * 1024)} MB at a time. Export one part "
                                           "of the roll at a time.")
    if not content.strip():
        raise ValidationFailed.one("file", "The file is empty. Choose the file exported from the MIS.")
    encoded = base64.b64encode(content).decode()
    return await audited(db, user, request, "dry_run_roll_import" if dry_run else "import_roll", "roll",
                         user.school_id, lambda: rpc.call("incidents", "import_roll", user.actor_token, encoded,
                                                          format.strip().lower(), mode.strip().lower(), dry_run,
                                                          timeout=IMPORT_TIMEOUT))


@router.get("/pupils/{pupil_id}", responses={200: {"model": PupilDetails}},
            summary="A pupil's details (DSL team and SLT: everything, with flags; other staff: name, year "
                    "and form) (audited)")
async def get_pupil(pupil_id: int, user: CurrentUser, rpc: Rpc, db: Database, request: Request):
    return await audited(db, user, request, "read_pupil", "pupil", pupil_id,
                         lambda: rpc.call("incidents", "get_pupil", user.actor_token, pupil_id))


@router.get("/pupils/{pupil_id}/siblings", responses={200: {"model": list[Sibling]}},
            summary="A pupil's siblings, for \"add siblings\" on the incident form (audited)")
async def list_siblings(pupil_id: int, user: CurrentUser, rpc: Rpc, db: Database, request: Request):
    return await audited(db, user, request, "read_siblings", "pupil", pupil_id,
                         lambda: rpc.call("incidents", "list_siblings", user.actor_token, pupil_id))


@router.post("/pupils/{pupil_id}/siblings", responses={200: {"model": list[Sibling]}},
             summary="Record that two pupils are siblings (both ways; DSL team)")
async def link_siblings(pupil_id: int, body: SiblingIn, user: DslUser, rpc: Rpc):
    return await rpc.call("incidents", "link_siblings", user.actor_token, pupil_id, body.pupil_id)


@router.delete("/pupils/{pupil_id}/siblings/{other_pupil_id}", responses={200: {"model": list[Sibling]}},
               summary="Remove a sibling link (both ways; DSL team)")
async def unlink_siblings(pupil_id: int, other_pupil_id: int, user: DslUser, rpc: Rpc):
    return await rpc.call("incidents", "unlink_siblings", user.actor_token, pupil_id, other_pupil_id)
