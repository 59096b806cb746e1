"""The administrator's pages: staff accounts (add, edit, deactivate and reactivate, set-password links,
second-factor resets), the staff import from the MIS, the school's groups, categories and integrations;
and the set-password page a link from an e-mail opens. They show names, e-mail addresses, roles and groups — never a pupil or a
record: the administrator role by itself reads none.
"""
from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.datastructures import UploadFile

from services.common.contracts.base import validate
from services.common.contracts.incidents import ALERT_GROUP_LABELS as ALERT_GROUPS, CategoryChanges, CategoryIn
from services.common.contracts.incidents import SENSITIVITY_LABELS as SENSITIVITIES
from services.common.errors import HavenError, ValidationFailed

from ..admin import links, staff as staff_rules, staff_csv, usecases as admin
from ..deps import AdminUser, Ctx, MaybeSignedIn, SameSiteOnly
from ..schemas import PathId
from ..usecases import roll, tray
from .common import FormErrors, as_id, category_tree, error_page, form_text, ints, redirect, render

router = APIRouter(include_in_schema=False)

ROLE_NAMES = {"staff": "Staff (records concerns)", "dsl": "DSL team (reads everything)",
              "slt": "Senior leadership (reads non-safeguarding records)",
              "admin": "Administrator (staff, groups, categories, integrations; reads no record)",
              "governor": "Governor (anonymised statistics only)", "trust_admin": "Trust administrator"}
DONE = {"added": "The member of staff has been added and e-mailed a link to set their password.",
        "added_unsent": "The member of staff has been added, but the e-mail could not be sent. Send a new link below.",
        "joined": "They already have a Haven account at another school of the trust: they now hold these roles here too, and sign in as before.",
        "saved": "The changes have been saved.", "deactivated": "The account is deactivated: every session it had has ended.",
        "reactivated": "The account is active again.", "link": "A new set-password link has been e-mailed.",
        "link_unsent": "The e-mail could not be sent. Check the mail settings and try again.",
        "factor": "Their second factor has been removed: they set one up again at their next sign-in.",
        "group": "The group has been saved.", "member": "The group's members have been changed.",
        "imported": "The staff list has been imported."}
STAFF_ANCHORS = {"roles": "roles-staff", "group_ids": "groups"}


def _done(code: str) -> str | None:
    return DONE.get(code)


# --- staff ---------------------------------------------------------------------------------------------

@router.get("/admin")
async def admin_home(request: Request, user: AdminUser, ctx: Ctx, status: str = "active", q: str = "",
                     done: str = ""):
    status = status if status in ("active", "inactive", "all") else "active"
    found = await admin.list_staff(ctx, user, status, q[:100])
    return render(request, "admin_staff.html", user, staff=found, status=status, q=q[:100], notice=_done(done),
                  role_names=ROLE_NAMES)


async def _staff_form(request, user, ctx, values: dict, member: dict | None = None, errors=None,
                      status_code: int = 200, notice: str | None = None):
    form_errors = FormErrors(errors, STAFF_ANCHORS)
    return render(request, "admin_staff_form.html", user, status_code, values=values, member=member,
                  errors=form_errors, summary=form_errors.summary, groups=await admin.list_groups(ctx, user), notice=notice,
                  roles=staff_rules.assignable_roles(user.roles), role_names=ROLE_NAMES)


def _staff_values(form) -> dict:
    return {"name": form_text(form, "name", 300).strip(), "email": form_text(form, "email", 300).strip(),
            "job_title": form_text(form, "job_title", 200).strip(),
            "roles": [r for r in form.getlist("roles") if isinstance(r, str)][:10],
            "group_ids": ints(form.getlist("group_ids"))[:100]}


@router.get("/admin/staff/new")
async def new_staff_page(request: Request, user: AdminUser, ctx: Ctx):
    return await _staff_form(request, user, ctx, {"name": "", "email": "", "job_title": "", "roles": ["staff"],
                                                  "group_ids": []})


@router.post("/admin/staff/new")
async def new_staff_submit(request: Request, user: AdminUser, ctx: Ctx):
    values = _staff_values(await request.form())
    try:
        added = await admin.add_member(ctx, user, **values)
    except ValidationFailed as exc:
        return await _staff_form(request, user, ctx, values, errors=exc.errors, status_code=422)
    except HavenError as exc:
        return error_page(request, exc.status_code, exc.message, user)
    done = "joined" if added.get("membership") else "added" if added["link_sent"] else "added_unsent"
    return redirect(f"/admin/staff/{added['id']}?done={done}")


@router.get("/admin/staff/import")
async def import_page(request: Request, user: AdminUser):
    return _import_view(request, user)


def _import_view(request, user, report: dict | None = None, errors=None, status_code: int = 200, file_name: str = ""):
    form_errors = FormErrors(errors, {"file": "file"})
    return render(request, "admin_import.html", user, status_code, report=report, errors=form_errors,
                  summary=form_errors.summary, file_name=file_name, max_kb=staff_csv.MAX_FILE_BYTES // 1024)


@router.post("/admin/staff/import")
async def import_submit(request: Request, user: AdminUser, ctx: Ctx):
    form = await request.form()
    upload = form.get("file")
    name = upload.filename if isinstance(upload, UploadFile) and upload.filename else ""
    if not name:
        return _import_view(request, user, errors=[{"field": "file", "message": "Choose the staff list exported "
                                                                                  "from the MIS, as CSV."}],
                            status_code=422)
    content = await upload.read(staff_csv.MAX_FILE_BYTES + 1)
    dry_run = form_text(form, "action", 20) != "import"
    try:
        report = await admin.import_staff(ctx, user, content, dry_run)
    except ValidationFailed as exc:
        return _import_view(request, user, errors=exc.errors, status_code=422, file_name=name)
    return _import_view(request, user, report=report, file_name=name)


@router.get("/admin/staff/{user_id}")
async def staff_page(request: Request, user_id: PathId, user: AdminUser, ctx: Ctx, done: str = ""):
    try:
        member = await admin.get_member(ctx, user, user_id)
    except HavenError as exc:
        return error_page(request, exc.status_code, exc.message, user)
    values = {k: member[k] or "" for k in ("name", "email", "job_title")}
    values.update(roles=member["roles"], group_ids=member["group_ids"])
    return await _staff_form(request, user, ctx, values, member, notice=_done(done))


@router.post("/admin/staff/{user_id}")
async def staff_submit(request: Request, user_id: PathId, user: AdminUser, ctx: Ctx):
    values = _staff_values(await request.form())
    try:
        await admin.edit_member(ctx, user, user_id, values)
    except ValidationFailed as exc:
        member = await admin.get_member(ctx, user, user_id)
        return await _staff_form(request, user, ctx, values, member, errors=exc.errors, status_code=422)
    except HavenError as exc:
        return error_page(request, exc.status_code, exc.message, user, explain=False)
    return redirect(f"/admin/staff/{user_id}?done=saved")


@router.post("/admin/staff/{user_id}/{act}")
async def staff_act(request: Request, user_id: PathId, act: str, user: AdminUser, ctx: Ctx):
    """The buttons under an account: deactivate, reactivate, password-link, reset-second-factor."""
    try:
        if act == "deactivate":
            await admin.deactivate(ctx, user, user_id)
            done = "deactivated"
        elif act == "reactivate":
            await admin.reactivate(ctx, user, user_id)
            done = "reactivated"
        elif act == "password-link":
            done = "link" if (await admin.send_link(ctx, user, user_id))["link_sent"] else "link_unsent"
        elif act == "reset-second-factor":
            await admin.reset_second_factor(ctx, user, user_id)
            done = "factor"
        else:
            return error_page(request, 404, None, user)
    except HavenError as exc:
        return error_page(request, exc.status_code, exc.message, user, explain=False)
    return redirect(f"/admin/staff/{user_id}?done={done}")


# --- groups ---------------------------------------------------------------------------------------------

async def _category_choices(ctx, user) -> tuple[list[dict], str | None]:
    try:
        return category_tree(await admin.school_categories(ctx, user)), None
    except HavenError as exc:
        return [], exc.message


@router.get("/admin/groups")
async def groups_page(request: Request, user: AdminUser, ctx: Ctx, done: str = ""):
    found = await admin.list_groups(ctx, user)
    categories, problem = await _category_choices(ctx, user)
    names = {c["id"]: c["name"] for c in categories}
    return render(request, "admin_groups.html", user, groups=found, category_names=names, problem=problem,
                  notice=_done(done))


async def _group_form(request, user, ctx, values: dict, group: dict | None = None, errors=None,
                      status_code: int = 200, notice: str | None = None):
    categories, problem = await _category_choices(ctx, user)
    members, everyone = [], []
    if group:
        everyone = await admin.list_staff(ctx, user, "active")
        members = [s for s in await admin.list_staff(ctx, user, "all") if s["id"] in group["member_ids"]]
    form_errors = FormErrors(errors, {"category_ids": "categories", "year_groups": "year_groups"})
    return render(request, "admin_group_form.html", user, status_code, values=values, group=group,
                  categories=categories, problem=problem, members=members,
                  others=[s for s in everyone if not group or s["id"] not in group["member_ids"]],
                  errors=form_errors, summary=form_errors.summary, notice=notice)


def _group_values(form) -> dict:
    years = [y.strip() for y in form_text(form, "year_groups", 2000).replace("\n", ",").split(",") if y.strip()]
    return {"name": form_text(form, "name", 200).strip(), "category_ids": ints(form.getlist("category_ids"))[:200],
            "year_groups": years[:41] or None}


@router.get("/admin/groups/new")
async def new_group_page(request: Request, user: AdminUser, ctx: Ctx):
    return await _group_form(request, user, ctx, {"name": "", "category_ids": [], "year_groups": None})


@router.post("/admin/groups/new")
async def new_group_submit(request: Request, user: AdminUser, ctx: Ctx):
    values = _group_values(await request.form())
    try:
        group = await admin.create_group(ctx, user, **values)
    except ValidationFailed as exc:
        return await _group_form(request, user, ctx, values, errors=exc.errors, status_code=422)
    except HavenError as exc:
        return error_page(request, exc.status_code, exc.message, user, explain=False)
    return redirect(f"/admin/groups/{group['id']}?done=group")


async def _find_group(ctx, user, group_id: int) -> dict | None:
    return next((g for g in await admin.list_groups(ctx, user) if g["id"] == group_id), None)


@router.get("/admin/groups/{group_id}")
async def group_page(request: Request, group_id: PathId, user: AdminUser, ctx: Ctx, done: str = ""):
    group = await _find_group(ctx, user, group_id)
    if group is None:
        return error_page(request, 404, "No such group.", user)
    return await _group_form(request, user, ctx, group, group, notice=_done(done))


@router.post("/admin/groups/{group_id}")
async def group_submit(request: Request, group_id: PathId, user: AdminUser, ctx: Ctx):
    form = await request.form()
    action = form_text(form, "action", 30)
    try:
        if action in ("add_member", "remove_member"):
            member_id = as_id(form_text(form, "user_id", 12))
            if member_id is None:
                raise ValidationFailed.one("user_id", "Choose a member of staff.")
            await admin.group_member(ctx, user, group_id, member_id, add=action == "add_member")
            return redirect(f"/admin/groups/{group_id}?done=member")
        if action not in ("save", "deactivate", "reactivate"):
            return error_page(request, 404, None, user)
        changes = _group_values(form) if action == "save" else {"active": action == "reactivate"}
        await admin.edit_group(ctx, user, group_id, changes)
    except ValidationFailed as exc:
        group = await _find_group(ctx, user, group_id)
        if group is None:
            return error_page(request, 404, "No such group.", user)
        values = {**group, **(_group_values(form) if action == "save" else {})}
        return await _group_form(request, user, ctx, values, group, errors=exc.errors, status_code=422)
    except HavenError as exc:
        return error_page(request, exc.status_code, exc.message, user, explain=False)
    return redirect(f"/admin/groups/{group_id}?done=group")


# --- the set-password link ---------------------------------------------------------------------------------

def _link_problem(request, exc: HavenError):
    return render(request, "set_password.html", None, exc.status_code, gone=exc.message, errors=FormErrors(),
                  summary=[], token="", person="")


@router.get("/set-password/{token}")
async def set_password_page(request: Request, token: str, ctx: Ctx, user: MaybeSignedIn):
    try:
        who = await admin.check_link(ctx, token[:200])
    except (links.LinkUnknown, links.LinkGone) as exc:
        return _link_problem(request, exc)
    return render(request, "set_password.html", None, gone=None, errors=FormErrors(), summary=[], token=token,
                  person=who["name"], min_chars=links.MIN_PASSWORD_CHARS,
                  signed_in_as=user.name if user else None)


@router.post("/set-password/{token}", dependencies=[SameSiteOnly])
async def set_password_submit(request: Request, token: str, ctx: Ctx):
    form = await request.form()
    password, again = form_text(form, "password", 1001), form_text(form, "confirm", 1001)
    try:
        who = await admin.check_link(ctx, token[:200])
        if password != again:
            raise ValidationFailed.one("confirm", "The two passwords are not the same. Type it again in both boxes.")
        await admin.set_password(ctx, token[:200], password)
    except (links.LinkUnknown, links.LinkGone) as exc:
        return _link_problem(request, exc)
    except ValidationFailed as exc:
        errors = FormErrors(exc.errors)
        return render(request, "set_password.html", None, 422, gone=None, errors=errors, summary=errors.summary,
                      token=token, person=who["name"], min_chars=links.MIN_PASSWORD_CHARS, signed_in_as=None)
    return render(request, "set_password.html", None, gone=None, done=True, errors=FormErrors(), summary=[],
                  token="", person=who["name"])


# --- categories (the tree, colours, sensitivity, default alerts) ---------------------------------------------

def _category_values(form) -> dict:
    return {"name": form_text(form, "name", 200).strip(), "parent_id": as_id(form_text(form, "parent_id", 12)),
            "colour": form_text(form, "colour", 20).strip() or "#5b6770",
            "sensitivity": form_text(form, "sensitivity", 60).strip(),
            "default_alert_groups": [g for g in form.getlist("default_alert_groups") if isinstance(g, str)][:5],
            "active": form_text(form, "active", 5) != "false"}


async def _category_form(request, user, ctx, values: dict, category: dict | None = None, errors=None,
                         status_code: int = 200, notice: str | None = None):
    categories, problem = await _category_choices(ctx, user)
    form_errors = FormErrors(errors, {"default_alert_groups": "alert-dsl", "sensitivity": "sensitivity"})
    parents = [c for c in categories if not category or c["id"] != category["id"]]
    return render(request, "admin_category_form.html", user, status_code, values=values, category=category,
                  parents=parents, problem=problem, errors=form_errors, summary=form_errors.summary, notice=notice,
                  sensitivities=SENSITIVITIES, alert_groups=ALERT_GROUPS)


@router.get("/admin/categories")
async def categories_page(request: Request, user: AdminUser, ctx: Ctx, done: str = ""):
    categories, problem = await _category_choices(ctx, user)
    return render(request, "admin_categories.html", user, categories=categories, problem=problem,
                  notice="The category has been saved." if done == "saved" else None,
                  sensitivities=SENSITIVITIES, alert_groups=ALERT_GROUPS)


@router.get("/admin/categories/new")
async def new_category_page(request: Request, user: AdminUser, ctx: Ctx):
    return await _category_form(request, user, ctx, {"name": "", "parent_id": None, "colour": "#5b6770",
                                                     "sensitivity": "pastoral", "default_alert_groups": [],
                                                     "active": True})


@router.post("/admin/categories/new")
async def new_category_submit(request: Request, user: AdminUser, ctx: Ctx):
    values = _category_values(await request.form())
    try:
        await roll.create_category(ctx, user, validate(CategoryIn, values))
    except ValidationFailed as exc:
        return await _category_form(request, user, ctx, values, errors=exc.errors, status_code=422)
    except HavenError as exc:
        return error_page(request, exc.status_code, exc.message, user, explain=False)
    return redirect("/admin/categories?done=saved")


async def _find_category(ctx, user, category_id: int) -> dict | None:
    categories, _ = await _category_choices(ctx, user)
    return next((c for c in categories if c["id"] == category_id), None)


@router.get("/admin/categories/{category_id}")
async def category_page(request: Request, category_id: PathId, user: AdminUser, ctx: Ctx):
    category = await _find_category(ctx, user, category_id)
    if category is None:
        return error_page(request, 404, "No such category.", user)
    return await _category_form(request, user, ctx, category, category)


@router.post("/admin/categories/{category_id}")
async def category_submit(request: Request, category_id: PathId, user: AdminUser, ctx: Ctx):
    category = await _find_category(ctx, user, category_id)
    if category is None:
        return error_page(request, 404, "No such category.", user)
    values = _category_values(await request.form())
    current = {**category, "default_alert_groups": category.get("default_alert_groups") or [],
               "active": category.get("active") is not False}
    # Only what was changed is sent (no parent chosen leaves the parent as it is).
    changes = {k: v for k, v in values.items() if v != current.get(k) and not (k == "parent_id" and v is None)}
    try:
        if changes:
            await roll.update_category(ctx, user, category_id, validate(CategoryChanges, changes))
    except ValidationFailed as exc:
        return await _category_form(request, user, ctx, {**category, **values}, category, errors=exc.errors,
                                    status_code=422)
    except HavenError as exc:
        return error_page(request, exc.status_code, exc.message, user, explain=False)
    return redirect("/admin/categories?done=saved")


# --- integrations (monitoring systems and their API keys) ------------------------------------------------------

async def _integrations_view(request, user, ctx, new: dict | None = None, errors=None, status_code: int = 200,
                             name: str = "", notice: str | None = None):
    form_errors = FormErrors(errors)
    return render(request, "admin_integrations.html", user, status_code,
                  integrations=await tray.list_integrations(ctx, user), new=new, given_name=name, errors=form_errors,
                  summary=form_errors.summary, notice=notice)


@router.get("/admin/integrations")
async def integrations_page(request: Request, user: AdminUser, ctx: Ctx, done: str = ""):
    return await _integrations_view(request, user, ctx,
                                    notice="The key has been revoked." if done == "revoked" else None)


@router.post("/admin/integrations")
async def integrations_submit(request: Request, user: AdminUser, ctx: Ctx):
    name = form_text(await request.form(), "name", 200)
    try:
        new = await tray.create_integration(ctx, user, name)
    except ValidationFailed as exc:
        return await _integrations_view(request, user, ctx, errors=exc.errors, status_code=422, name=name)
    return await _integrations_view(request, user, ctx, new=new)


@router.post("/admin/integrations/{integration_id}/revoke")
async def integration_revoke(request: Request, integration_id: PathId, user: AdminUser, ctx: Ctx):
    try:
        await tray.revoke_integration(ctx, user, integration_id)
    except HavenError as exc:
        return error_page(request, exc.status_code, exc.message, user, explain=False)
    return redirect("/admin/integrations?done=revoked")
