"""What an administrator does, under both front doors (routes/admin.py, web/admin_pages.py), and the
set-password link anyone with one may use.

Each change is one transaction that ends with its audit entry (which fields changed, never a value that
is a secret); a set-password e-mail is sent after that transaction has committed, so a link is never
mailed for an account that was not saved. Nothing here reads a pupil or a record.
"""
from __future__ import annotations

from services.common.errors import ValidationFailed

from .. import accounts, mailer
from ..models import StaffMember
from ..usecases import Context
from . import groups, links, schools, staff, staff_csv


def _audit(session, ctx: Context, admin, action: str, object_type: str, object_id, detail: str | None = None) -> None:
    accounts.audit(session, action=action, outcome="ok", user_id=admin.id, school_id=admin.school_id,
                   object_type=object_type, object_id=object_id, ip=ctx.ip, detail=detail)


def link_url(ctx: Context, token: str) -> str:
    return ctx.settings.public_url.rstrip("/") + "/set-password/" + token


async def _mail_links(ctx: Context, invitations: list[dict]) -> int:
    """Send each {to, name, school, token, first}; how many went."""
    sent = 0
    for i in invitations:
        message = mailer.set_password_message(ctx.settings, to=i["to"], name=i["name"], school=i["school"],
                                              link=link_url(ctx, i["token"]), hours=links.LINK_HOURS,
                                              first=i["first"])
        sent += await mailer.deliver(ctx.settings, message)
    return sent


def _invitation(session, user: StaffMember, created_by: int | None, first: bool) -> dict:
    return {"to": user.email, "name": user.name, "school": schools.school_name(session, user.school_id),
            "token": links.new_link(session, user, created_by), "first": first}


# --- staff -------------------------------------------------------------------------------------------

async def list_staff(ctx: Context, admin, status: str = "active", q: str = "") -> list[dict]:
    return await ctx.db.run(staff.list_staff, admin.school_id, status, q)


async def get_member(ctx: Context, admin, user_id: int) -> dict:
    def load(session):
        user, _ = staff.find_staff(session, admin.school_id, user_id)
        return staff.view(session, user, admin.school_id)
    return await ctx.db.run(load)


async def add_member(ctx: Context, admin, *, name: str, email: str, job_title: str | None, roles: list[str],
                     group_ids: list[int] | None = None) -> dict:
    """A new account, and its set-password link by e-mail; or, for an account of another school of the
    trust, a membership here (no link: they sign in as before, and switch school)."""
    def add(session):
        user, member = staff.add_member(session, admin.school_id, admin.roles, name=name, email=email,
                                        job_title=job_title, roles=roles, group_ids=group_ids)
        here = member or user
        invitation = None if member else _invitation(session, user, admin.id, first=True)
        _audit(session, ctx, admin, "add_staff", "staff", user.id,
               ("membership, home school " + str(user.school_id) + " " if member else "")
               + "roles=" + ",".join(here.roles) + (" groups=" + ",".join(map(str, sorted(group_ids))) if group_ids else ""))
        return staff.view(session, user, admin.school_id), invitation
    view, invitation = await ctx.db.run(add)
    if invitation is None:
        return {**view, "link_sent": False, "membership": True}
    return {**view, "link_sent": bool(await _mail_links(ctx, [invitation]))}


async def edit_member(ctx: Context, admin, user_id: int, changes: dict) -> dict:
    def edit(session):
        user, changed = staff.edit_member(session, admin.school_id, admin.roles, user_id, changes)
        if changed:
            detail = "changed=" + ",".join(changed)
            shown = staff.view(session, user, admin.school_id)
            if "roles" in changed:
                detail += " roles=" + ",".join(shown["roles"])
            _audit(session, ctx, admin, "edit_staff", "staff", user.id, detail)
        return staff.view(session, user, admin.school_id)
    return await ctx.db.run(edit)


async def deactivate(ctx: Context, admin, user_id: int) -> dict:
    def run(session):
        user = staff.deactivate(session, admin.school_id, admin.id, user_id)
        member = user.school_id != admin.school_id
        _audit(session, ctx, admin, "deactivate_staff", "staff", user.id,
               "membership ended, sessions here ended" if member else "sessions ended")
        return staff.view(session, user, admin.school_id)
    return await ctx.db.run(run)


async def reactivate(ctx: Context, admin, user_id: int) -> dict:
    def run(session):
        user = staff.reactivate(session, admin.school_id, user_id)
        _audit(session, ctx, admin, "reactivate_staff", "staff", user.id)
        return staff.view(session, user, admin.school_id)
    return await ctx.db.run(run)


async def send_link(ctx: Context, admin, user_id: int) -> dict:
    """A new set-password link (the earlier ones stop working); for an active account only."""
    def run(session):
        user = staff.home_member(session, admin.school_id, user_id)
        if not user.active:
            raise ValidationFailed.one("user_id", "This account is deactivated. Reactivate it first.")
        invitation = _invitation(session, user, admin.id, first=False)
        _audit(session, ctx, admin, "send_password_link", "staff", user.id)
        return invitation
    invitation = await ctx.db.run(run)
    return {"id": user_id, "link_sent": bool(await _mail_links(ctx, [invitation]))}


async def reset_second_factor(ctx: Context, admin, user_id: int) -> dict:
    def run(session):
        user = staff.reset_second_factor(session, admin.school_id, user_id)
        _audit(session, ctx, admin, "factor_reset", "staff", user.id, "app, security keys, recovery codes; sessions ended")
        return staff.view(session, user)
    return await ctx.db.run(run)


# --- the staff import ----------------------------------------------------------------------------------

async def import_staff(ctx: Context, admin, content: bytes, dry_run: bool = True) -> dict:
    """The plan (a preview changes nothing), or the plan carried out with a link sent to each new account."""
    def run(session):
        report = staff_csv.plan(session, admin.school_id, content)
        if dry_run:
            _audit(session, ctx, admin, "dry_run_staff_import", "staff_import", admin.school_id)
            return report, []
        created = staff_csv.apply(session, admin.school_id, report)
        invitations = [_invitation(session, user, admin.id, first=True) for user in created]
        _audit(session, ctx, admin, "import_staff", "staff_import", admin.school_id,
               f"new={len(created)} changed={len(report['changed'])}")
        return report, invitations
    report, invitations = await ctx.db.run(run)
    sent = await _mail_links(ctx, invitations) if invitations else 0
    return {**report, "dry_run": dry_run, "links_sent": sent}


# --- groups ----------------------------------------------------------------------------------------------

async def school_categories(ctx: Context, admin) -> list[dict]:
    """The school's categories (retired ones too), for choosing a group's."""
    return await ctx.clients.incidents.list_category_tree(admin.actor_token, include_inactive=True)


async def _known_category_ids(ctx: Context, admin, wanted) -> set[int]:
    if not wanted:
        return set()
    return {c["id"] for c in await school_categories(ctx, admin)}


async def list_groups(ctx: Context, admin) -> list[dict]:
    return await ctx.db.run(groups.list_groups, admin.school_id)


async def create_group(ctx: Context, admin, *, name, category_ids, year_groups) -> dict:
    category_ids = groups.check_categories(category_ids, await _known_category_ids(ctx, admin, category_ids))

    def run(session):
        group = groups.create_group(session, admin.school_id, name=name, category_ids=category_ids,
                                    year_groups=year_groups)
        _audit(session, ctx, admin, "create_group", "group", group.id,
               "categories=" + ",".join(map(str, category_ids)))
        return groups.public(group, [])
    return await ctx.db.run(run)


async def edit_group(ctx: Context, admin, group_id: int, changes: dict) -> dict:
    if changes.get("category_ids") is not None:
        changes = {**changes, "category_ids": groups.check_categories(
            changes["category_ids"], await _known_category_ids(ctx, admin, changes["category_ids"]))}

    def run(session):
        group, changed = groups.edit_group(session, admin.school_id, group_id, changes)
        if changed:
            _audit(session, ctx, admin, "edit_group", "group", group.id, "changed=" + ",".join(changed))
        return groups.public(group, groups.members_of(session, group.id))
    return await ctx.db.run(run)


async def group_member(ctx: Context, admin, group_id: int, user_id: int, add: bool) -> dict:
    def run(session):
        change = groups.add_member if add else groups.remove_member
        group = change(session, admin.school_id, group_id, user_id)
        _audit(session, ctx, admin, "add_group_member" if add else "remove_group_member", "group", group.id,
               f"user={user_id}")
        return groups.public(group, groups.members_of(session, group.id))
    return await ctx.db.run(run)


# --- schools of a trust ------------------------------------------------------------------------------------

async def add_school(ctx: Context, trust_admin, *, name: str, urn: str, local_authority: str, admin_name: str,
                     admin_email: str, admin_only: bool = False) -> dict:
    """A trust administrator adds a school to their trust, with its first administrator (e-mailed a link).
    The new school's records are its own: nothing crosses between schools but a transfer."""
    roles = ["admin"] if admin_only else ["dsl", "admin"]

    def run(session):
        errors = (schools.school_problems(name, urn, local_authority)
                  + [{**e, "field": "admin_" + e["field"]}
                     for e in staff.check_details(admin_name, admin_email, None, roles, roles)])
        if errors:
            raise ValidationFailed(errors)
        if staff.email_taken(session, admin_email):
            raise ValidationFailed.one("admin_email", "Another account already uses that e-mail address.")
        school = schools.create_school(session, name=name, urn=urn, local_authority=local_authority,
                                       trust=schools.trust_of(session, trust_admin.school_id))
        user = accounts.save_staff_member(session, school_id=school.id, name=admin_name.strip(),
                                          email=admin_email.strip().lower(), roles=roles)
        invitation = _invitation(session, user, trust_admin.id, first=True)
        _audit(session, ctx, trust_admin, "add_school", "school", school.id,
               f"first administrator {user.id}, roles={','.join(roles)}")
        return {"id": school.id, "name": school.name, "urn": school.urn, "local_authority": school.local_authority,
                "trust": school.trust, "admin_user_id": user.id}, invitation
    made, invitation = await ctx.db.run(run)
    return {**made, "link_sent": bool(await _mail_links(ctx, [invitation]))}


async def trust_schools(ctx: Context, trust_admin) -> list[dict]:
    return await ctx.db.run(schools.schools_of_trust, trust_admin.school_id)


# --- the set-password link (no session: the link is the credential) --------------------------------------

async def check_link(ctx: Context, token: str) -> dict:
    """Who the link is for (name only, for the page), or LinkUnknown / LinkGone."""
    def run(session):
        _, user = links.find_link(session, token)
        return {"name": user.name, "email": user.email}
    return await ctx.db.run(run)


async def set_password(ctx: Context, token: str, password) -> None:
    """Set the password; a refused link is audited too (without saying whose it might have been)."""
    def run(session):
        user = links.set_password(session, token, password)
        accounts.audit(session, action="set_password", outcome="ok", user_id=user.id, school_id=user.school_id,
                       object_type="staff", object_id=user.id, ip=ctx.ip, detail="sessions ended")

    def refused(session, status: int):
        accounts.audit(session, action="set_password", outcome=f"refused:{status}", object_type="account_link",
                       ip=ctx.ip)
    try:
        await ctx.db.run(run)
    except (links.LinkUnknown, links.LinkGone) as exc:
        await ctx.db.run(refused, exc.status_code)
        raise
