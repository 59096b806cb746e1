"""The alert pages: a member of staff's alerts and how they want them e-mailed; for the DSL team and
administrators, the alert e-mails that could not be delivered (each can be sent again) and the school's
alert settings. No page here shows a pupil or what happened: an alert names an incident by its number.
"""
from __future__ import annotations

import re

from fastapi import APIRouter, Request

from services.common.contracts.alerts import PreferencesIn, SchoolAlertSettingsIn
from services.common.contracts.base import validate
from services.common.errors import HavenError, ValidationFailed

from ..deps import Ctx, CurrentUser, DslOrAdminUser
from ..schemas import PathId
from ..usecases import alerts
from .common import FormErrors, error_page, form_text, redirect, render

router = APIRouter(include_in_schema=False)

# How the settings form names each field in a message, before the contract's own words ("give a number
# from 1 to 1440"), so the summary at the top of the page says which box is wrong.
SETTING_NAMES = {"escalate_after_minutes": "Minutes before an unopened urgent incident is escalated",
                 "digest_time": "Time of the daily digest",
                 "unactioned_after_days": "Days before an incident with no action or outcome is listed",
                 "category_in_email": "Category in e-mails"}
TIME_MESSAGE = "give the time as HH:MM on the 24-hour clock, for example 07:30."
ONE_DIGIT_HOUR = re.compile(r"^([0-9]):([0-5][0-9])$")


# --- my alerts -------------------------------------------------------------------------------------------

@router.get("/alerts")
async def alerts_page(request: Request, user: CurrentUser, ctx: Ctx):
    try:
        found = await alerts.list_alerts(ctx, user, unread_only=False, limit=100)
    except HavenError as exc:
        return error_page(request, exc.status_code, exc.message, user)
    return render(request, "alerts.html", user, alerts=found)


@router.post("/alerts/{alert_id}/read")
async def alert_read(request: Request, alert_id: PathId, user: CurrentUser, ctx: Ctx):
    try:
        await alerts.mark_read(ctx, user, alert_id)
    except HavenError as exc:
        return error_page(request, exc.status_code, exc.message, user)
    return redirect(f"/alerts#alert-{alert_id}")


# --- how my alerts are e-mailed ----------------------------------------------------------------------------

@router.get("/alerts/preferences")
async def alert_preferences_page(request: Request, user: CurrentUser, ctx: Ctx, done: str = ""):
    try:
        chosen = await alerts.preferences(ctx, user)
    except HavenError as exc:
        return error_page(request, exc.status_code, exc.message, user)
    return render(request, "alert_preferences.html", user, chosen=chosen, digest=chosen["digest"],
                  errors=FormErrors(), summary=[],
                  notice="Your choice has been saved." if done == "saved" else None)


@router.post("/alerts/preferences")
async def alert_preferences_submit(request: Request, user: CurrentUser, ctx: Ctx):
    how = form_text(await request.form(), "how", 20)
    try:
        if how not in ("each", "digest"):
            raise ValidationFailed.one("how", "Choose how your alert e-mails should come.")
        await alerts.save_preferences(ctx, user, PreferencesIn(digest=how == "digest"))
    except ValidationFailed as exc:
        errors = FormErrors(exc.errors, {"how": "how-each", "digest": "how-each"})
        try:
            chosen = await alerts.preferences(ctx, user)
        except HavenError as problem:
            return error_page(request, problem.status_code, problem.message, user)
        return render(request, "alert_preferences.html", user, 422, chosen=chosen, digest=None, errors=errors,
                      summary=errors.summary, notice=None)
    except HavenError as exc:
        return error_page(request, exc.status_code, exc.message, user, explain=False)
    return redirect("/alerts/preferences?done=saved")


# --- alert e-mails that failed (the DSL team and administrators) ----------------------------------------------

@router.get("/alerts/failed")
async def failed_mail_page(request: Request, user: DslOrAdminUser, ctx: Ctx, done: str = ""):
    try:
        failed = await alerts.failed_mail(ctx, user)
    except HavenError as exc:
        return error_page(request, exc.status_code, exc.message, user)
    return render(request, "failed_mail.html", user, failed=failed,
                  notice="The e-mail will be sent again now, with its retries as before." if done == "retried"
                  else None)


@router.post("/alerts/failed/{mail_id}/retry")
async def retry_failed_mail(request: Request, mail_id: PathId, user: DslOrAdminUser, ctx: Ctx):
    try:
        await alerts.retry_mail(ctx, user, mail_id)
    except HavenError as exc:
        return error_page(request, exc.status_code, exc.message, user, explain=False)
    return redirect("/alerts/failed?done=retried")


# --- the school's alert settings (the DSL team and administrators) ------------------------------------------------

def _number(typed: str) -> int | str:
    """A box of digits as the number; anything else as typed, for the contract to refuse and the form to show."""
    return int(typed) if typed.isascii() and typed.isdigit() else typed


def _setting_values(form) -> dict:
    """What was typed (shown again if it is refused), numbers as numbers; the contract checks them."""
    digest_time = form_text(form, "digest_time", 20).strip()
    digest_time = ONE_DIGIT_HOUR.sub(r"0\1:\2", digest_time)  # "7:30" is what people type
    return {"escalate_after_minutes": _number(form_text(form, "escalate_after_minutes", 20).strip()),
            "digest_time": digest_time,
            "category_in_email": form_text(form, "category_in_email", 5) == "yes",
            "unactioned_after_days": _number(form_text(form, "unactioned_after_days", 20).strip())}


def _whole_number_between(field: str) -> str | None:
    """"give a whole number from 1 to 1440.", with the bounds the contract sets for `field`."""
    info = SchoolAlertSettingsIn.model_fields.get(field)
    low = next((m.ge for m in info.metadata if hasattr(m, "ge")), None) if info else None
    high = next((m.le for m in info.metadata if hasattr(m, "le")), None) if info else None
    return f"give a whole number from {low} to {high}." if low is not None and high is not None else None


def _setting_errors(errors: list[dict]) -> FormErrors:
    """The service's and the contract's field errors, each saying which box it is about."""
    named = []
    for error in errors:
        field = str(error.get("field") or "").removeprefix("settings.")
        message = str(error.get("message") or "")
        if field == "digest_time" and "expected form" in message:
            message = TIME_MESSAGE
        elif message.startswith(("Give a whole number", "Give a number")):
            message = _whole_number_between(field) or message
        if field in SETTING_NAMES:
            message = f"{SETTING_NAMES[field]}: {message[:1].lower()}{message[1:]}"
        named.append({"field": field, "message": message})
    return FormErrors(named)


def _settings_form(request, user, values: dict, errors: FormErrors | None = None, status_code: int = 200,
                   notice: str | None = None):
    errors = errors or FormErrors()
    return render(request, "alert_settings.html", user, status_code, values=values, errors=errors,
                  summary=errors.summary, notice=notice)


@router.get("/admin/alerts")
async def alert_settings_page(request: Request, user: DslOrAdminUser, ctx: Ctx, done: str = ""):
    try:
        values = await alerts.school_settings(ctx, user)
    except HavenError as exc:
        return error_page(request, exc.status_code, exc.message, user)
    return _settings_form(request, user, values,
                          notice="The alert settings have been saved." if done == "saved" else None)


@router.post("/admin/alerts")
async def alert_settings_submit(request: Request, user: DslOrAdminUser, ctx: Ctx):
    values = _setting_values(await request.form())
    try:
        await alerts.save_school_settings(ctx, user, validate(SchoolAlertSettingsIn, values))
    except ValidationFailed as exc:
        return _settings_form(request, user, values, _setting_errors(exc.errors), 422)
    except HavenError as exc:
        return error_page(request, exc.status_code, exc.message, user, explain=False)
    return redirect("/admin/alerts?done=saved")
