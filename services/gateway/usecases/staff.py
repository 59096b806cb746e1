"""The gateway's staff table, as the use cases need it: the services know staff only by id, so the
gateway checks the ids a member of staff sends and supplies the names a record keeps."""
from __future__ import annotations

from services.common.actor import DSL
from services.common.errors import ValidationFailed

from .. import accounts
from .context import Context

NOT_STAFF = "One of the staff chosen to alert is not an active member of staff."


def unknown_staff(session, school_id: int, ids: list[int]) -> list[int]:
    if not ids:
        return []
    found = accounts.standings_at(session, school_id, ids)  # members from the trust's other schools too
    return [i for i in ids if i not in found]


def dsl_team_member(session, school_id: int, user_id) -> str | None:
    """The name of an active member of this school's DSL team, or None."""
    if not isinstance(user_id, int) or isinstance(user_id, bool):
        return None
    member, here = accounts.standings_at(session, school_id, [user_id]).get(user_id, (None, None))
    if member is None or DSL not in here.roles:  # the DSL team at this school, whatever they are elsewhere
        return None
    return member.name


def staff_name(session, school_id: int, user_id) -> str | None:
    """The name of an active member of this school's staff, or None."""
    if not isinstance(user_id, int) or isinstance(user_id, bool):
        return None
    member, _ = accounts.standings_at(session, school_id, [user_id]).get(user_id, (None, None))
    return member.name if member is not None else None


def staff_names(session, school_id: int, ids: list[int]) -> dict[int, str]:
    if not ids:
        return {}
    return {i: member.name for i, (member, _) in accounts.standings_at(session, school_id, ids, active_only=False).items()}


async def check_alerted_staff(ctx: Context, user, ids: list[int] | None, field: str = "alert_user_ids") -> None:
    if ids and await ctx.db.run(unknown_staff, user.school_id, ids):
        raise ValidationFailed.one(field, NOT_STAFF)


async def assignee_name(ctx: Context, user, user_id, field: str = "assigned_to_user_id") -> str:
    name = await ctx.db.run(staff_name, user.school_id, user_id)
    if name is None:
        raise ValidationFailed.one(field, "That person is not an active member of staff. Choose who to assign "
                                          "this to from the list.")
    return name


async def case_owner_name(ctx: Context, user, user_id, field: str = "owner_user_id") -> str:
    name = await ctx.db.run(dsl_team_member, user.school_id, user_id)
    if name is None:
        raise ValidationFailed.one(field, "That person is not on the DSL team. Choose the DSL or a deputy to "
                                          "own the case.")
    return name


async def search(ctx: Context, user, q: str = "", limit: int = 20) -> list[dict]:
    """The staff picker."""
    def find(session):
        found = accounts.search_staff(session, user.school_id, q, limit)
        here = accounts.standings_at(session, user.school_id, [s.id for s in found])  # roles at this school
        return [{"id": s.id, "name": s.name, "roles": list(here[s.id][1].roles), "job_title": here[s.id][1].job_title}
                for s in found if s.id in here]
    return await ctx.db.run(find)


async def names(ctx: Context, user, ids: list[int]) -> dict[int, str]:
    return await ctx.db.run(staff_names, user.school_id, ids)
