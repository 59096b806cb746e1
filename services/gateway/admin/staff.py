"""Staff accounts as an administrator manages them: add, edit, deactivate and reactivate, reset a
second factor. Every save goes through `accounts.save_staff_member`, which tells the other services
(staff_member_saved). A school never loses its last administrator, and an administrator cannot lock
themselves out by deactivating their own account.
"""
from __future__ import annotations

import re

from sqlalchemy import delete, func, or_, select
from sqlalchemy.orm import Session

from services.common.actor import ADMIN, ROLES, TRUST_ADMIN
from services.common.db import contains_pattern, utcnow
from services.common.errors import Conflict, NotFound, ValidationFailed

from .. import accounts, factors
from ..models import GroupMember, StaffGroup, StaffMember, WebAuthnCredential
from .links import end_sessions

EMAIL = re.compile(r"[^@\s]{1,64}@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+")
LAST_ADMIN = ("This is the school's only active administrator. Give the administrator role to someone else "
              "first, so the school is never left without one.")
NO_SUCH_STAFF = "No such member of staff."


def public(user: StaffMember, group_ids: list[int] | None = None, has_key: bool = False) -> dict:
    """What the administrator sees of an account: never its password hash or second-factor secret."""
    return {"id": user.id, "name": user.name, "email": user.email, "job_title": user.job_title,
            "roles": list(user.roles or []), "active": user.active, "group_ids": group_ids or [],
            "second_factor": factors.has_totp(user) or has_key,
            "factor_locked": bool(user.factor_locked),
            "created_at": _iso(user.created_at), "deactivated_at": _iso(user.deactivated_at)}


def _iso(value):
    return value.isoformat() + "Z" if value is not None else None


def get_member(session: Session, school_id: int, user_id: int) -> StaffMember:
    """This school's member of staff, or NotFound (another school's id is as unknown as a missing one)."""
    user = session.get(StaffMember, user_id)
    if user is None or user.school_id != school_id:
        raise NotFound(NO_SUCH_STAFF)
    return user


def group_ids_of(session: Session, user_id: int) -> list[int]:
    return list(session.scalars(select(GroupMember.group_id).where(GroupMember.user_id == user_id)
                                .order_by(GroupMember.group_id)))


def list_staff(session: Session, school_id: int, status: str = "active", q: str = "") -> list[dict]:
    """The school's staff: `status` active, inactive or all; `q` matches names and e-mail addresses."""
    query = select(StaffMember).where(StaffMember.school_id == school_id)
    if status in ("active", "inactive"):
        query = query.where(StaffMember.active.is_(status == "active"))
    if q and not accounts.storable(q):
        return []
    for term in (q or "").split()[:4]:
        pattern = contains_pattern(term)
        query = query.where(or_(StaffMember.name.ilike(pattern, escape="\\"),
                                StaffMember.email.ilike(pattern, escape="\\")))
    users = list(session.scalars(query.order_by(func.lower(StaffMember.name), StaffMember.id).limit(2000)))
    groups: dict[int, list[int]] = {}
    keys: set[int] = set()
    if users:
        ids = [u.id for u in users]
        for member in session.scalars(select(GroupMember).where(GroupMember.user_id.in_(ids))):
            groups.setdefault(member.user_id, []).append(member.group_id)
        keys = set(session.scalars(select(WebAuthnCredential.user_id).where(WebAuthnCredential.user_id.in_(ids))))
    return [public(u, sorted(groups.get(u.id, [])), u.id in keys) for u in users]


def view(session: Session, user: StaffMember) -> dict:
    """One account as the administrator sees it, with its groups and whether it has a security key."""
    return public(user, group_ids_of(session, user.id), factors.has_keys(session, user))


# --- checking what an administrator sends -----------------------------------------------------------

def assignable_roles(admin_roles) -> tuple[str, ...]:
    """Only a trust administrator may make another."""
    return ROLES if TRUST_ADMIN in admin_roles else tuple(r for r in ROLES if r != TRUST_ADMIN)


def check_details(name, email, job_title, roles, admin_roles) -> list[dict]:
    """Field errors for an account's details (each may be None: not being changed)."""
    errors = []
    if name is not None and (not name.strip() or len(name.strip()) > 200 or not accounts.storable(name)):
        errors.append({"field": "name", "message": "Give the member of staff's name (at most 200 characters)."})
    if email is not None and (len(email.strip()) > 254 or not EMAIL.fullmatch(email.strip())
                              or not accounts.storable(email)):
        errors.append({"field": "email", "message": "Give their school e-mail address, e.g. j.smith@school.org.uk."})
    if job_title is not None and (len(job_title.strip()) > 100 or not accounts.storable(job_title)):
        errors.append({"field": "job_title", "message": "The job title can be at most 100 characters."})
    if roles is not None:
        allowed = assignable_roles(admin_roles)
        if not roles:
            errors.append({"field": "roles", "message": "Choose at least one role (most people are 'staff')."})
        elif any(r not in allowed for r in roles):
            errors.append({"field": "roles", "message": "Choose roles from the list: " + ", ".join(allowed) + "."})
    return errors


def check_groups(session: Session, school_id: int, group_ids) -> None:
    if group_ids:
        found = set(session.scalars(select(StaffGroup.id).where(StaffGroup.id.in_(group_ids),
                                                                 StaffGroup.school_id == school_id)))
        if set(group_ids) - found:
            raise ValidationFailed.one("group_ids", "One of the groups chosen is not one of the school's groups.")


def email_taken(session: Session, email: str, but: int | None = None) -> bool:
    query = select(StaffMember.id).where(StaffMember.email == email.strip().lower())
    if but is not None:
        query = query.where(StaffMember.id != but)
    return session.scalar(query) is not None


def _ordered_roles(roles) -> list[str]:
    return [r for r in ROLES if r in set(roles)]


def other_active_admins(session: Session, school_id: int, user_id: int) -> int:
    others = session.scalars(select(StaffMember).where(StaffMember.school_id == school_id,
                                                        StaffMember.active.is_(True), StaffMember.id != user_id))
    return sum(1 for u in others if ADMIN in (u.roles or []))


def _save(session: Session, user: StaffMember, **changes) -> StaffMember:
    values = {"name": user.name, "email": user.email, "roles": list(user.roles or []),
              "job_title": user.job_title, "active": user.active, **changes}
    return accounts.save_staff_member(session, school_id=user.school_id, **values)


def set_groups(session: Session, user_id: int, group_ids: list[int]) -> None:
    session.execute(delete(GroupMember).where(GroupMember.user_id == user_id))
    for group_id in sorted(set(group_ids)):
        session.add(GroupMember(group_id=group_id, user_id=user_id))
    session.flush()


# --- the changes ------------------------------------------------------------------------------------

def add_member(session: Session, school_id: int, admin_roles, *, name: str, email: str, job_title: str | None,
               roles: list[str], group_ids: list[int] | None = None) -> StaffMember:
    """A new account with an unguessable password nobody knows: the set-password link is its way in."""
    errors = check_details(name, email, job_title, roles, admin_roles)
    if errors:
        raise ValidationFailed(errors)
    check_groups(session, school_id, group_ids)
    if email_taken(session, email):
        raise ValidationFailed.one("email", "Another account already uses that e-mail address.")
    user = accounts.save_staff_member(session, school_id=school_id, name=name.strip(), email=email.strip().lower(),
                                      roles=_ordered_roles(roles), job_title=(job_title or "").strip() or None)
    if group_ids:
        set_groups(session, user.id, group_ids)
    return user


def edit_member(session: Session, school_id: int, admin_roles, user_id: int, changes: dict) -> tuple[StaffMember, list[str]]:
    """Change the fields given (name, email, job_title, roles, group_ids); (the account, what changed)."""
    user = get_member(session, school_id, user_id)
    errors = check_details(changes.get("name"), changes.get("email"), changes.get("job_title"),
                           changes.get("roles"), admin_roles)
    if errors:
        raise ValidationFailed(errors)
    if TRUST_ADMIN in (user.roles or []) and TRUST_ADMIN not in admin_roles and "roles" in changes:
        raise ValidationFailed.one("roles", "Only a trust administrator can change a trust administrator's roles.")
    check_groups(session, school_id, changes.get("group_ids"))
    new = {}
    if changes.get("name") is not None and changes["name"].strip() != user.name:
        new["name"] = changes["name"].strip()
    if changes.get("email") is not None and changes["email"].strip().lower() != user.email:
        if email_taken(session, changes["email"], but=user.id):
            raise ValidationFailed.one("email", "Another account already uses that e-mail address.")
        new["email"] = changes["email"].strip().lower()
    if "job_title" in changes and ((changes["job_title"] or "").strip() or None) != user.job_title:
        new["job_title"] = (changes["job_title"] or "").strip() or None
    if changes.get("roles") is not None and _ordered_roles(changes["roles"]) != _ordered_roles(user.roles or []):
        new["roles"] = _ordered_roles(changes["roles"])
        if (ADMIN in (user.roles or []) and ADMIN not in new["roles"] and user.active
                and not other_active_admins(session, school_id, user.id)):
            raise Conflict(LAST_ADMIN)
    changed = sorted(new)
    if "email" in new:
        user.email = new["email"]  # save_staff_member finds the account by its (new) address
        session.flush()
    if new:
        _save(session, user, **new)
    if changes.get("group_ids") is not None and sorted(set(changes["group_ids"])) != group_ids_of(session, user.id):
        set_groups(session, user.id, changes["group_ids"])
        changed.append("groups")
    return user, changed


def deactivate(session: Session, school_id: int, admin_id: int, user_id: int) -> StaffMember:
    """The account stops working at once: every live session ends, its cookies are refused."""
    user = get_member(session, school_id, user_id)
    if user.id == admin_id:
        raise Conflict("You cannot deactivate your own account. Ask another administrator.")
    if ADMIN in (user.roles or []) and user.active and not other_active_admins(session, school_id, user.id):
        raise Conflict(LAST_ADMIN)
    if user.active:
        user.deactivated_at = utcnow()
        _save(session, user, active=False)
    end_sessions(session, user.id)
    return user


def reactivate(session: Session, school_id: int, user_id: int) -> StaffMember:
    user = get_member(session, school_id, user_id)
    if not user.active:
        user.deactivated_at = None
        _save(session, user, active=True)
    return user


def reset_second_factor(session: Session, school_id: int, user_id: int) -> StaffMember:
    """The account sets up a second factor again at its next sign-in (factors.reset: the authenticator app,
    security keys and recovery codes removed, the factor's lock and failure count cleared)."""
    user = get_member(session, school_id, user_id)
    factors.reset(session, user)
    end_sessions(session, user.id)  # a session signed in with the old factor ends with it
    return user
