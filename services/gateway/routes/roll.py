"""The roll: importing it from the MIS (a CSV export or a DfE Common Transfer File)."""
from __future__ import annotations

from typing import Annotated

from fastapi import Form, UploadFile

from services.common.contracts.incidents import MAX_ROLL_FILE_BYTES

from . import api_router
from ..deps import Ctx, DslUser, audits
from ..schemas import ImportReport
from ..usecases import roll

router = api_router("/api/v1/roll", "roll")
MAX_IMPORT_BYTES = MAX_ROLL_FILE_BYTES  # the contract's limit, read by limits.py


@router.post("/import", response_model=ImportReport, response_model_exclude_none=True,
             summary="Import or re-sync the roll from a MIS CSV export or a DfE Common Transfer File")
@audits(roll.IMPORT_ROLL)
async def import_roll(user: DslUser, ctx: Ctx, file: UploadFile,
                      format: Annotated[str, Form(description="csv (a MIS export) or ctf (Common Transfer File)")],
                      mode: Annotated[str, Form(description="update: add and change pupils only; full: the "
                                                            "file is the whole roll, pupils not in it have left")]
                      = "update",
                      dry_run: Annotated[bool, Form(description="true: report what would change, change "
                                                                "nothing")] = False):
    content = await file.read(MAX_ROLL_FILE_BYTES + 1)
    return await roll.import_roll(ctx, user, content, format, mode, dry_run)
