"""Importing the roll (the DSL team): choose the MIS export or CTF, preview what would change, import.

"Preview" is a dry run: the service reads the whole file and reports what it would add, change and
take off the roll, changing nothing. A file with problems is refused whole, with each line or
element at fault.
"""
from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.datastructures import UploadFile

from services.common.errors import HavenError, ValidationFailed

from services.common.contracts.incidents import MAX_ROLL_FILE_BYTES, ROLL_FORMATS, ROLL_MODES

from ..deps import Ctx, DslUser
from ..usecases import roll
from .common import FormErrors, error_page, form_text, render

router = APIRouter(include_in_schema=False)


def _view(request, user, values: dict, report: dict | None = None, errors: list[dict] | None = None,
          status_code: int = 200, file_name: str = ""):
    form_errors = FormErrors(errors, {"file": "file", "format": "format-csv", "mode": "mode-update"})
    file_problems = [e.get("message") for e in errors or [] if e.get("field") == "file"]
    return render(request, "roll_import.html", user, status_code, values=values, report=report,
                  errors=form_errors, summary=form_errors.summary, file_name=file_name, file_problems=file_problems,
                  max_mb=MAX_ROLL_FILE_BYTES // (1024 * 1024))


@router.get("/roll/import")
async def roll_import_page(request: Request, user: DslUser):
    return _view(request, user, {"format": "csv", "mode": "update"})


@router.post("/roll/import")
async def roll_import_submit(request: Request, user: DslUser, ctx: Ctx):
    form = await request.form()
    values = {"format": form_text(form, "format", 10), "mode": form_text(form, "mode", 10)}
    dry_run = form_text(form, "action", 20) != "import"
    upload = form.get("file")
    name = upload.filename if isinstance(upload, UploadFile) and upload.filename else ""
    content = await upload.read(MAX_ROLL_FILE_BYTES + 1) if name else b""
    errors = []
    problem = roll.file_problem(content) if name else "Choose the file exported from the MIS, or the CTF."
    if problem:
        errors.append({"field": "file", "message": problem})
    if values["format"] not in ROLL_FORMATS:
        errors.append({"field": "format", "message": "Choose the file's format: a CSV from the MIS or a CTF."})
    if values["mode"] not in ROLL_MODES:
        errors.append({"field": "mode", "message": "Choose whether the file is the whole roll or only changes."})
    if errors:
        return _view(request, user, values, errors=errors, status_code=422, file_name=name)
    try:
        report = await roll.import_roll(ctx, user, content, values["format"], values["mode"], dry_run)
    except ValidationFailed as exc:
        return _view(request, user, values, errors=exc.errors, status_code=422, file_name=name)
    except HavenError as exc:
        return error_page(request, exc.status_code, exc.message, user)
    return _view(request, user, values, report=report, file_name=name)

