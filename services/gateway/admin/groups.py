"""Groups the school defines (SENCO, first-aid lead, pastoral leads…): their members read and record in
the group's categories, optionally for some year groups only. A change applies at once: the gateway
reads a member's grants afresh on every request (accounts.grants_of). A group is never deleted, only
deactivated, so the audit log's references to it stay meaningful."""
from __future__ import annotations

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from services.common.errors import NotFound, ValidationFailed

from .. import accounts
from ..models import GroupMember, StaffGroup, StaffMember

MAX_YEAR_GROUPS = 20
NO_SUCH_GROUP = "No such group."


def public(group: StaffGroup, member_ids: list[int]) -> dict:
    return {"id": group.id, "name": group.name, "category_ids": list(group.category_ids or []),
            "year_groups": None if group.year_groups is None else list(group.year_groups),
            "active": group.active, "member_ids": member_ids}


def members_of(session: Session, group_id: int) -> list[int]:
    return list(session.scalars(select(GroupMember.user_id).where(GroupMember.group_id == group_id)
                                .order_by(GroupMember.user_id)))


def get_group(session: Session, school_id: int, group_id: int) -> StaffGroup:
    group = session.get(StaffGroup, group_id)
    if group is None or group.school_id != school_id:
        raise NotFound(NO_SUCH_GROUP)
    return group


def list_groups(session: Session, school_id: int) -> list[dict]:
    groups = session.scalars(select(StaffGroup).where(StaffGroup.school_id == school_id)
                             .order_by(StaffGroup.active.desc(), func.lower(StaffGroup.name)))
    return [public(g, members_of(session, g.id)) for g in groups]


def clean_year_groups(year_groups) -> list[str] | None:
    """None or [] means every year group; otherwise each named once, as the roll names them ("Year 4")."""
    if not year_groups:
        return None
    cleaned: list[str] = []
    for y in year_groups:
        y = y.strip() if isinstance(y, str) else ""
        if not y or len(y) > 40 or not accounts.storable(y):
            raise ValidationFailed.one("year_groups", "Give each year group as the roll names it, e.g. 'Year 4' "
                                                      "(at most 40 characters).")
        if y not in cleaned:
            cleaned.append(y)
    if len(cleaned) > MAX_YEAR_GROUPS:
        raise ValidationFailed.one("year_groups", f"Choose at most {MAX_YEAR_GROUPS} year groups.")
    return cleaned


def _check_name(session: Session, school_id: int, name, but: int | None = None) -> str:
    name = name.strip() if isinstance(name, str) else ""
    if not name or len(name) > 100 or not accounts.storable(name):
        raise ValidationFailed.one("name", "Give the group a name, e.g. 'SENCO' (at most 100 characters).")
    query = select(StaffGroup.id).where(StaffGroup.school_id == school_id,
                                        func.lower(StaffGroup.name) == name.lower())
    if but is not None:
        query = query.where(StaffGroup.id != but)
    if session.scalar(query) is not None:
        raise ValidationFailed.one("name", "The school already has a group with that name.")
    return name


def check_categories(category_ids, known: set[int]) -> list[int]:
    """`known`: the school's category ids, from the incidents service."""
    ids = sorted(set(category_ids or []))
    if any(i not in known for i in ids):
        raise ValidationFailed.one("category_ids", "One of the categories chosen is not one of the school's categories.")
    return ids


def create_group(session: Session, school_id: int, *, name, category_ids: list[int], year_groups) -> StaffGroup:
    group = StaffGroup(school_id=school_id, name=_check_name(session, school_id, name),
                       category_ids=category_ids, year_groups=clean_year_groups(year_groups), active=True)
    session.add(group)
    session.flush()
    return group


def edit_group(session: Session, school_id: int, group_id: int, changes: dict) -> tuple[StaffGroup, list[str]]:
    """Change the fields given (name, category_ids, year_groups, active); (the group, what changed)."""
    group = get_group(session, school_id, group_id)
    changed = []
    if changes.get("name") is not None:
        name = _check_name(session, school_id, changes["name"], but=group.id)
        if name != group.name:
            group.name = name
            changed.append("name")
    if changes.get("category_ids") is not None and list(changes["category_ids"]) != list(group.category_ids or []):
        group.category_ids = list(changes["category_ids"])
        changed.append("categories")
    if "year_groups" in changes:
        year_groups = clean_year_groups(changes["year_groups"])
        if year_groups != group.year_groups:
            group.year_groups = year_groups
            changed.append("year_groups")
    if changes.get("active") is not None and changes["active"] != group.active:
        group.active = changes["active"]
        changed.append("active")
    session.flush()
    return group, changed


def add_member(session: Session, school_id: int, group_id: int, user_id: int) -> StaffGroup:
    group = get_group(session, school_id, group_id)
    user = session.get(StaffMember, user_id)
    if user is None or accounts.standing_at(session, user, school_id) is None:  # members from the trust too
        raise NotFound("No such member of staff.")
    if session.get(GroupMember, (group.id, user.id)) is None:
        session.add(GroupMember(group_id=group.id, user_id=user.id))
        session.flush()
    return group


def remove_member(session: Session, school_id: int, group_id: int, user_id: int) -> StaffGroup:
    group = get_group(session, school_id, group_id)
    session.execute(delete(GroupMember).where(GroupMember.group_id == group.id, GroupMember.user_id == user_id))
    return group
