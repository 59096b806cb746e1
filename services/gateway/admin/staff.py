"""Staff accounts as an administrator manages them: add, edit, deactivate and reactivate, reset a
second factor. Every save goes through `accounts.save_staff_member`, which tells the other services
(staff_member_saved). A school never loses its last administrator, and an administrator cannot lock
themselves out by deactivating their own account.

Trusts: adding an e-mail address that belongs to an account of another school of the same trust gives that
account a membership here (roles and job title of this school; no new password, no link). The school's
staff list, edits, deactivation and reactivation cover members too, and touch only this school's
membership; the account's name, address, password and second factor stay with its home school.
"""
from __future__ import annotations

import re

from sqlalchemy import and_, delete, func, not_, or_, select, update
from sqlalchemy.orm import Session

from services.common.actor import ADMIN, ROLES, TRUST_ADMIN
from services.common.contracts.base import name_problem
from services.common.db import contains_pattern, utcnow
from services.common.errors import Conflict, NotFound, ValidationFailed

from .. import accounts, factors
from ..models import GroupMember, LoginSession, Membership, School, StaffGroup, StaffMember, WebAuthnCredential
from .links import end_sessions

EMAIL = re.compile(r"[^@\s]{1,64}@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+")
LAST_ADMIN = ("This is the school's only active administrator. Give the administrator role to someone else "
              "first, so the school is never left without one.")
NO_SUCH_STAFF = "No such member of staff."
HOME_SCHOOL_KEEPS = ("{what} is kept by their home school (this account belongs to another school of the trust). "
                     "Ask that school's administrator.")
OTHER_TRUST = ("That e-mail address belongs to an account at a school outside this trust. An account can hold "
               "roles only at schools of its own trust; use another address.")


def public(user: StaffMember, group_ids: list[int] | None = None, has_key: bool = False,
           member: Membership | None = None) -> dict:
    """What the administrator sees of an account: never its password hash or second-factor secret. For a
    member from another school of the trust, the roles, job title and state are this school's."""
    here = member or user
    return {"id": user.id, "name": user.name, "email": user.email, "job_title": here.job_title,
            "roles": list(here.roles or []), "active": bool(user.active and here.active),
            "group_ids": group_ids or [], "second_factor": factors.has_totp(user) or has_key,
            "factor_locked": bool(user.factor_locked), "home_school_id": user.school_id,
            "created_at": _iso(here.created_at), "deactivated_at": _iso(here.deactivated_at)}


def _iso(value):
    return value.isoformat() + "Z" if value is not None else None


def get_member(session: Session, school_id: int, user_id: int) -> StaffMember:
    """This school's member of staff, or NotFound (another school's id is as unknown as a missing one)."""
    user = session.get(StaffMember, user_id)
    if user is None or user.school_id != school_id:
        raise NotFound(NO_SUCH_STAFF)
    return user


def find_staff(session: Session, school_id: int, user_id: int) -> tuple[StaffMember, Membership | None]:
    """This school's member of staff: its own account (membership None), or an account of another school of
    the trust with a membership here (active or not). Anyone else is NotFound, like an id never used."""
    user = session.get(StaffMember, user_id)
    if user is None:
        raise NotFound(NO_SUCH_STAFF)
    if user.school_id == school_id:
        return user, None
    member = accounts.membership(session, user.id, school_id)
    if member is None:
        raise NotFound(NO_SUCH_STAFF)
    return user, member


def home_member(session: Session, school_id: int, user_id: int) -> StaffMember:
    """`get_member` for what only the home school may do (a password link, a second-factor reset): a
    member from another school of the trust is told where to go."""
    user, member = find_staff(session, school_id, user_id)
    if member is not None:
        raise Conflict(HOME_SCHOOL_KEEPS.format(what="Their password and second factor"))
    return user


def group_ids_of(session: Session, user_id: int, school_id: int | None = None) -> list[int]:
    """The account's groups (at `school_id` only, when given: a member keeps other groups at home)."""
    query = select(GroupMember.group_id).where(GroupMember.user_id == user_id)
    if school_id is not None:
        query = query.join(StaffGroup, StaffGroup.id == GroupMember.group_id).where(StaffGroup.school_id == school_id)
    return list(session.scalars(query.order_by(GroupMember.group_id)))


def list_staff(session: Session, school_id: int, status: str = "active", q: str = "") -> list[dict]:
    """The school's staff, members from other schools of the trust included: `status` active, inactive or
    all; `q` matches names and e-mail addresses."""
    here = and_(Membership.user_id == StaffMember.id, Membership.school_id == school_id)
    query = (select(StaffMember, Membership).outerjoin(Membership, here)
             .where(or_(StaffMember.school_id == school_id, Membership.id.is_not(None))))
    active = and_(StaffMember.active.is_(True), or_(Membership.id.is_(None), Membership.active.is_(True)))
    if status in ("active", "inactive"):
        query = query.where(active if status == "active" else not_(active))
    if q and not accounts.storable(q):
        return []
    for term in (q or "").split()[:4]:
        pattern = contains_pattern(term)
        query = query.where(or_(StaffMember.name.ilike(pattern, escape="\\"),
                                StaffMember.email.ilike(pattern, escape="\\")))
    rows = list(session.execute(query.order_by(func.lower(StaffMember.name), StaffMember.id).limit(2000)))
    groups: dict[int, list[int]] = {}
    keys: set[int] = set()
    if rows:
        ids = [user.id for user, _ in rows]
        for member in session.scalars(select(GroupMember).join(StaffGroup, StaffGroup.id == GroupMember.group_id)
                                      .where(GroupMember.user_id.in_(ids), StaffGroup.school_id == school_id)):
            groups.setdefault(member.user_id, []).append(member.group_id)
        keys = set(session.scalars(select(WebAuthnCredential.user_id).where(WebAuthnCredential.user_id.in_(ids))))
    return [public(u, sorted(groups.get(u.id, [])), u.id in keys, m) for u, m in rows]


def view(session: Session, user: StaffMember, school_id: int | None = None) -> dict:
    """One account as the administrator of `school_id` (default: its home) sees it: its membership there if
    it is not its home, its groups there and whether it has a security key."""
    school_id = user.school_id if school_id is None else school_id
    member = accounts.membership(session, user.id, school_id) if school_id != user.school_id else None
    return public(user, group_ids_of(session, user.id, school_id), factors.has_keys(session, user), member)


# --- checking what an administrator sends -----------------------------------------------------------

def assignable_roles(admin_roles) -> tuple[str, ...]:
    """Only a trust administrator may make another."""
    return ROLES if TRUST_ADMIN in admin_roles else tuple(r for r in ROLES if r != TRUST_ADMIN)


def check_details(name, email, job_title, roles, admin_roles) -> list[dict]:
    """Field errors for an account's details (each may be None: not being changed)."""
    errors = []
    if name is not None and (not name.strip() or len(name.strip()) > 200 or not accounts.storable(name)):
        errors.append({"field": "name", "message": "Give the member of staff's name (at most 200 characters)."})
    elif name is not None and name_problem(name):  # their name reaches e-mails (alerts, set-password links)
        errors.append({"field": "name", "message": name_problem(name)})
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
    """Active administrators of the school other than `user_id`, members from the trust included."""
    others = session.scalars(select(StaffMember).where(StaffMember.school_id == school_id,
                                                        StaffMember.active.is_(True), StaffMember.id != user_id))
    members = session.scalars(select(Membership).join(StaffMember, StaffMember.id == Membership.user_id)
                              .where(Membership.school_id == school_id, Membership.active.is_(True),
                                     StaffMember.active.is_(True), Membership.user_id != user_id))
    return sum(1 for u in others if ADMIN in (u.roles or [])) + sum(1 for m in members if ADMIN in (m.roles or []))


def _save(session: Session, user: StaffMember, **changes) -> StaffMember:
    values = {"name": user.name, "email": user.email, "roles": list(user.roles or []),
              "job_title": user.job_title, "active": user.active, **changes}
    return accounts.save_staff_member(session, school_id=user.school_id, **values)


def set_groups(session: Session, user_id: int, group_ids: list[int], school_id: int | None = None) -> None:
    """The account's groups (at `school_id` only, when given: its groups at other schools stay)."""
    gone = delete(GroupMember).where(GroupMember.user_id == user_id)
    if school_id is not None:
        gone = gone.where(GroupMember.group_id.in_(select(StaffGroup.id).where(StaffGroup.school_id == school_id)))
    session.execute(gone)
    for group_id in sorted(set(group_ids)):
        session.add(GroupMember(group_id=group_id, user_id=user_id))
    session.flush()


# --- the changes ------------------------------------------------------------------------------------

def add_member(session: Session, school_id: int, admin_roles, *, name: str, email: str, job_title: str | None,
               roles: list[str], group_ids: list[int] | None = None) -> tuple[StaffMember, Membership | None]:
    """A new account with an unguessable password nobody knows: the set-password link is its way in. An
    address of an account of another school of the same trust gives that account a membership here instead
    (returned beside it): it signs in as before."""
    errors = check_details(name, email, job_title, roles, admin_roles)
    if errors:
        raise ValidationFailed(errors)
    check_groups(session, school_id, group_ids)
    existing = session.scalar(select(StaffMember).where(StaffMember.email == email.strip().lower()))
    if existing is not None:
        return existing, _add_trust_member(session, school_id, existing, roles, job_title, group_ids)
    user = accounts.save_staff_member(session, school_id=school_id, name=name.strip(), email=email.strip().lower(),
                                      roles=_ordered_roles(roles), job_title=(job_title or "").strip() or None)
    if group_ids:
        set_groups(session, user.id, group_ids)
    return user, None


def same_trust(session: Session, school_id: int, other_id: int) -> bool:
    """Whether two schools belong to one trust (both named, and the same name)."""
    trusts = {s.id: s.trust for s in session.scalars(select(School).where(School.id.in_([school_id, other_id])))}
    return bool(trusts.get(school_id)) and trusts.get(school_id) == trusts.get(other_id)


def _add_trust_member(session: Session, school_id: int, user: StaffMember, roles, job_title,
                      group_ids) -> Membership:
    if user.school_id == school_id or accounts.membership(session, user.id, school_id) is not None:
        raise ValidationFailed.one("email", "Another account already uses that e-mail address.")
    if not same_trust(session, school_id, user.school_id):
        raise Conflict(OTHER_TRUST)
    member = accounts.save_membership(session, user, school_id, roles=_ordered_roles(roles),
                                      job_title=(job_title or "").strip() or None)
    if group_ids:
        set_groups(session, user.id, group_ids, school_id)
    return member


def edit_member(session: Session, school_id: int, admin_roles, user_id: int, changes: dict) -> tuple[StaffMember, list[str]]:
    """Change the fields given (name, email, job_title, roles, group_ids); (the account, what changed)."""
    user, member = find_staff(session, school_id, user_id)
    if member is not None:
        return user, _edit_trust_member(session, school_id, admin_roles, user, member, changes)
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


def _edit_trust_member(session: Session, school_id: int, admin_roles, user: StaffMember, member: Membership,
                       changes: dict) -> list[str]:
    """A member's roles, job title and groups here; their name and address belong to their home school."""
    errors = check_details(None, None, changes.get("job_title"), changes.get("roles"), admin_roles)
    for field in ("name", "email"):
        sent = changes.get(field)
        if sent is not None and sent.strip().lower() != (getattr(user, field) or "").lower():
            errors.append({"field": field, "message": HOME_SCHOOL_KEEPS.format(what="Their " + field.replace("email", "e-mail address"))})
    if errors:
        raise ValidationFailed(errors)
    if TRUST_ADMIN in (member.roles or []) and TRUST_ADMIN not in admin_roles and "roles" in changes:
        raise ValidationFailed.one("roles", "Only a trust administrator can change a trust administrator's roles.")
    check_groups(session, school_id, changes.get("group_ids"))
    roles, job_title, changed = list(member.roles or []), member.job_title, []
    if "job_title" in changes and ((changes["job_title"] or "").strip() or None) != member.job_title:
        job_title = (changes["job_title"] or "").strip() or None
        changed.append("job_title")
    if changes.get("roles") is not None and _ordered_roles(changes["roles"]) != _ordered_roles(roles):
        roles = _ordered_roles(changes["roles"])
        changed.append("roles")
        if (ADMIN in (member.roles or []) and ADMIN not in roles and member.active and user.active
                and not other_active_admins(session, school_id, user.id)):
            raise Conflict(LAST_ADMIN)
    if changed:
        accounts.save_membership(session, user, school_id, roles=roles, job_title=job_title, active=member.active)
    if (changes.get("group_ids") is not None
            and sorted(set(changes["group_ids"])) != group_ids_of(session, user.id, school_id)):
        set_groups(session, user.id, changes["group_ids"], school_id)
        changed.append("groups")
    return changed


def deactivate(session: Session, school_id: int, admin_id: int, user_id: int) -> StaffMember:
    """The account stops working at once: every live session ends, its cookies are refused. For a member
    from another school of the trust, only the membership here ends (and any session working here)."""
    user, member = find_staff(session, school_id, user_id)
    if user.id == admin_id:
        raise Conflict("You cannot deactivate your own account. Ask another administrator.")
    here = member or user
    if ADMIN in (here.roles or []) and here.active and not other_active_admins(session, school_id, user.id):
        raise Conflict(LAST_ADMIN)
    if member is not None:
        if member.active:
            accounts.save_membership(session, user, school_id, roles=list(member.roles or []),
                                     job_title=member.job_title, active=False)
        end_sessions_at(session, user.id, school_id)
        return user
    if user.active:
        user.deactivated_at = utcnow()
        _save(session, user, active=False)
    end_sessions(session, user.id)
    return user


def end_sessions_at(session: Session, user_id: int, school_id: int) -> None:
    """The account's live sessions working in `school_id` (a membership's) end now; the others go on."""
    session.execute(update(LoginSession).where(LoginSession.user_id == user_id, LoginSession.school_id == school_id,
                                               LoginSession.ended_at.is_(None)).values(ended_at=utcnow()))


def reactivate(session: Session, school_id: int, user_id: int) -> StaffMember:
    user, member = find_staff(session, school_id, user_id)
    if member is not None:
        if not member.active:
            accounts.save_membership(session, user, school_id, roles=list(member.roles or []),
                                     job_title=member.job_title, active=True)
        return user
    if not user.active:
        user.deactivated_at = None
        _save(session, user, active=True)
    return user


def reset_second_factor(session: Session, school_id: int, user_id: int) -> StaffMember:
    """The account sets up a second factor again at its next sign-in (factors.reset: the authenticator app,
    security keys and recovery codes removed, the factor's lock and failure count cleared)."""
    user = home_member(session, school_id, user_id)
    factors.reset(session, user)
    end_sessions(session, user.id)  # a session signed in with the old factor ends with it
    return user
