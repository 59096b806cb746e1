"""Importing the roll from the MIS (a CSV export or a Common Transfer File), audited; and the
school's categories."""
from __future__ import annotations

import base64

from services.common.contracts.base import validate
from services.common.contracts.incidents import MAX_ROLL_FILE_BYTES, CategoryChanges, CategoryIn, ImportRoll
from services.common.errors import ValidationFailed

from .context import AuditLabel, Context
from .staff import check_alerted_staff

IMPORT_ROLL = AuditLabel("import_roll", "roll")
DRY_RUN_ROLL_IMPORT = AuditLabel("dry_run_roll_import", "roll")


def file_problem(content: bytes) -> str | None:
    """Why this file cannot be imported, or None (`content` read to one byte past the limit)."""
    if len(content) > MAX_ROLL_FILE_BYTES:
        return (f"The file is too large: Haven imports up to {MAX_ROLL_FILE_BYTES // (1024 * 1024)} MB at a time. "
                "Export one part of the roll at a time.")
    if not content.strip():
        return "The file is empty. Choose the file exported from the MIS."
    return None


async def import_roll(ctx: Context, user, content: bytes, file_format: str, mode: str = "update",
                      dry_run: bool = False) -> dict:
    problem = file_problem(content)
    if problem:
        raise ValidationFailed.one("file", problem)
    try:
        command = validate(ImportRoll, {"content_b64": base64.b64encode(content).decode(),
                                        "file_format": file_format.strip().lower(), "mode": mode.strip().lower(),
                                        "dry_run": dry_run})
    except ValidationFailed as exc:
        # the form and the API call it `format`
        raise ValidationFailed([{**e, "field": "format" if e["field"] == "file_format" else e["field"]}
                                for e in exc.errors]) from None
    return await ctx.audited(user, DRY_RUN_ROLL_IMPORT if dry_run else IMPORT_ROLL, user.school_id,
                             lambda: ctx.clients.incidents.import_roll(user.actor_token, command=command))


# --- categories --------------------------------------------------------------------------------------

async def category_tree(ctx: Context, user, include_inactive: bool = False) -> list[dict]:
    return await ctx.clients.incidents.list_category_tree(user.actor_token, include_inactive=include_inactive)


async def create_category(ctx: Context, user, category: CategoryIn) -> dict:
    await check_alerted_staff(ctx, user, category.default_alert_user_ids, "default_alert_user_ids")
    return await ctx.clients.incidents.create_category(user.actor_token, category=category)


async def update_category(ctx: Context, user, category_id: int, changes: CategoryChanges) -> dict:
    """Only the fields sent are changed; a field sent as null is refused (it cannot be emptied)."""
    given = changes.model_dump(exclude_unset=True)
    for name in ("name", "colour", "sensitivity", "default_alert_groups", "default_alert_user_ids", "active"):
        if name in given and given[name] is None:
            raise ValidationFailed.one(name, f"The {name.replace('_', ' ')} cannot be empty.")
    await check_alerted_staff(ctx, user, given.get("default_alert_user_ids"), "default_alert_user_ids")
    return await ctx.clients.incidents.update_category(user.actor_token, category_id=category_id, changes=changes)
