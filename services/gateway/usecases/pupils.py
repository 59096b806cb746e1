"""Pupils: finding them, their details and siblings, their chronology (with its significant
events) and front sheet (with household and agencies). Reads of a pupil are audited."""
from __future__ import annotations

from services.common.contracts.base import validate
from services.common.contracts.incidents import AgencyIn, ChronologyQuery, HouseholdMemberIn
from services.common.errors import Forbidden, ValidationFailed

from .context import AuditLabel, Context
from .staff import NOT_STAFF, unknown_staff

READ_PUPIL = AuditLabel("read_pupil", "pupil")
READ_SIBLINGS = AuditLabel("read_siblings", "pupil")
READ_CHRONOLOGY = AuditLabel("read_chronology", "pupil")
READ_FRONT_SHEET = AuditLabel("read_front_sheet", "pupil")
ADD_HOUSEHOLD_MEMBER = AuditLabel("add_household_member", "pupil")
ADD_AGENCY = AuditLabel("add_agency_involvement", "pupil")
FLAG_CHRONOLOGY_ENTRY = AuditLabel("flag_chronology_entry", "chronology_entry")
SET_STAFF_RELATIVES = AuditLabel("set_staff_relatives", "pupil")

# The chronology's filters as a reader names them (query string, form) and as the contract does.
FILTER_NAMES = {"from": "date_from", "to": "date_to", "type": "entry_type"}
_READER_NAMES = {v: k for k, v in FILTER_NAMES.items()}


async def search(ctx: Context, user, q: str = "", limit: int = 20) -> list[dict]:
    return await ctx.clients.incidents.search_pupils(user.actor_token, q=q, limit=limit)


async def read_pupil(ctx: Context, user, pupil_id: int) -> dict:
    return await ctx.audited(user, READ_PUPIL, pupil_id,
                             lambda: ctx.clients.incidents.get_pupil(user.actor_token, pupil_id=pupil_id))


async def pupil_for_form(ctx: Context, user, pupil_id: int) -> dict:
    """The pupil already chosen on a form (not a read of their record: name, year and form)."""
    return await ctx.clients.incidents.get_pupil(user.actor_token, pupil_id=pupil_id)


async def siblings(ctx: Context, user, pupil_id: int) -> list[dict]:
    return await ctx.audited(user, READ_SIBLINGS, pupil_id,
                             lambda: ctx.clients.incidents.list_siblings(user.actor_token, pupil_id=pupil_id))


async def link_siblings(ctx: Context, user, pupil_id: int, other_pupil_id: int) -> list[dict]:
    return await ctx.clients.incidents.link_siblings(user.actor_token, pupil_id=pupil_id,
                                                     other_pupil_id=other_pupil_id)


async def unlink_siblings(ctx: Context, user, pupil_id: int, other_pupil_id: int) -> list[dict]:
    return await ctx.clients.incidents.unlink_siblings(user.actor_token, pupil_id=pupil_id,
                                                       other_pupil_id=other_pupil_id)


def chronology_query(pupil_id: int, filters: dict) -> ChronologyQuery:
    """`filters` as the reader names them (category_id, from, to, type, significant)."""
    given = {FILTER_NAMES.get(k, k): v for k, v in filters.items() if v is not None}
    try:
        return validate(ChronologyQuery, {"pupil_id": pupil_id, **given})
    except ValidationFailed as exc:
        raise _reader_names(exc) from None


def _reader_names(exc: ValidationFailed) -> ValidationFailed:
    errors = [{**e, "field": _READER_NAMES.get(e.get("field"), e.get("field"))} for e in exc.errors]
    return ValidationFailed(errors)


READERS_ONLY = "Only the DSL team, senior leaders and category readers can read a pupil's chronology or front sheet."


def reads_records(user) -> bool:
    """A reader of records — the DSL team, SLT, or a member of a group granted categories — with their
    second factor. The gateway checks this first; the incidents service decides which lines they read."""
    actor = user.actor
    return actor.is_dsl or actor.is_slt or (bool(actor.grants) and actor.second_factor_verified)


def _check_reader(user) -> None:
    if not reads_records(user):
        raise Forbidden(READERS_ONLY)


async def chronology(ctx: Context, user, pupil_id: int, filters: dict, gzipped: bool = False) -> dict:
    """A pupil's chronology (audited, refusals too); `gzipped`: the body already encoded and gzipped
    by the service (`{"gzip_b64"}`), to be passed on as it is."""
    method = ctx.clients.incidents.get_chronology_gzip if gzipped else ctx.clients.incidents.get_chronology

    async def read():
        _check_reader(user)
        query = chronology_query(pupil_id, filters)
        try:
            return await method(user.actor_token, command=query)
        except ValidationFailed as exc:
            raise _reader_names(exc) from None
    return await ctx.audited(user, READ_CHRONOLOGY, pupil_id, read)


async def set_significant(ctx: Context, user, entry_id: int, significant: bool) -> dict:
    return await ctx.audited(user, FLAG_CHRONOLOGY_ENTRY, entry_id,
                             lambda: ctx.clients.incidents.set_significant(user.actor_token, entry_id=entry_id,
                                                                           significant=significant))


async def front_sheet(ctx: Context, user, pupil_id: int) -> dict:
    async def read():
        _check_reader(user)
        return await ctx.clients.incidents.get_front_sheet(user.actor_token, pupil_id=pupil_id)
    return await ctx.audited(user, READ_FRONT_SHEET, pupil_id, read)


async def add_household_member(ctx: Context, user, pupil_id: int, member: HouseholdMemberIn | dict) -> dict:
    return await ctx.audited(user, ADD_HOUSEHOLD_MEMBER, pupil_id,
                             lambda: ctx.clients.incidents.add_household_member(user.actor_token, pupil_id=pupil_id,
                                                                                member=member))


async def add_agency(ctx: Context, user, pupil_id: int, involvement: AgencyIn | dict) -> dict:
    return await ctx.audited(user, ADD_AGENCY, pupil_id,
                             lambda: ctx.clients.incidents.add_agency_involvement(user.actor_token, pupil_id=pupil_id,
                                                                                  involvement=involvement))


async def set_staff_relatives(ctx: Context, user, pupil_id: int, user_ids: list[int]) -> dict:
    """The staff who are the pupil's parents or carers (the pupil's file is hidden from them); each must be
    one of the school's staff."""
    if user_ids and await ctx.db.run(lambda session: unknown_staff(session, user.school_id, user_ids)):
        raise ValidationFailed([{"field": "user_ids", "message": NOT_STAFF}])
    return await ctx.audited(user, SET_STAFF_RELATIVES, pupil_id,
                             lambda: ctx.clients.incidents.set_staff_relatives(
                                 user.actor_token, pupil_id=pupil_id, user_ids=user_ids))
