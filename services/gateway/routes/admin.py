"""The administrator's JSON API: staff accounts, set-password links, second-factor resets, the staff
import from the MIS and the school's groups. Every route is for an administrator who has given their
second factor (`AdminUser`); a refusal is audited. An administrator by that role alone reads no record:
nothing here answers with a pupil or an incident.

`POST /api/v1/account/set-password` is the one route here without a session: the e-mailed link is
its credential.
"""
from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Form, Query, UploadFile
from pydantic import BaseModel, Field

from services.common.actor import ROLES
from services.common.contracts.base import Contract, Id, Name, Text

from . import api_router, dead_letters
from ..admin import staff_csv, usecases as admin
from ..deps import AdminUser, Ctx, SameSiteOnly, TrustAdminUser, audits
from ..schemas import PathId
from ..usecases import AuditLabel

router = api_router("/api/v1/admin", "admin")
account_router = APIRouter(prefix="/api/v1/account", tags=["account"])
router.include_router(dead_letters.router)  # /api/v1/admin/dead-letters

STAFF = AuditLabel("admin_staff", "staff")
GROUPS = AuditLabel("admin_groups", "group")
IMPORT = AuditLabel("import_staff", "staff_import")
SCHOOLS = AuditLabel("trust_schools", "school")
Role = Literal[ROLES]


class StaffRequest(Contract):
    name: Name(200, min_length=1)
    email: Text(254, min_length=3)
    job_title: Text(100) | None = None
    roles: list[Role] = Field(["staff"], max_length=len(ROLES))
    group_ids: list[Id] = Field([], max_length=100)


class StaffChangesRequest(Contract):
    """Only the fields sent are changed."""

    name: Name(200, min_length=1) | None = None
    email: Text(254, min_length=3) | None = None
    job_title: Text(100) | None = None
    roles: list[Role] | None = Field(None, max_length=len(ROLES))
    group_ids: list[Id] | None = Field(None, max_length=100)


class GroupRequest(Contract):
    name: Text(100, min_length=1)
    category_ids: list[Id] = Field([], max_length=200)
    year_groups: list[Text(40)] | None = Field(None, max_length=40, description="None or []: every year group")


class GroupChangesRequest(Contract):
    name: Text(100, min_length=1) | None = None
    category_ids: list[Id] | None = Field(None, max_length=200)
    year_groups: list[Text(40)] | None = Field(None, max_length=40)
    active: bool | None = None


class SchoolRequest(Contract):
    name: Name(200, min_length=1)
    urn: Text(10, min_length=1, description="The DfE's Unique Reference Number (6 or 7 digits)")
    local_authority: Text(120, min_length=1)
    admin_name: Name(200, min_length=1, description="The school's first administrator")
    admin_email: Text(254, min_length=3)
    admin_only: bool = Field(False, description="true: the first administrator is not also the DSL")


class SchoolView(BaseModel):
    id: int
    name: str
    urn: str | None = None
    local_authority: str | None = None
    trust: str | None = None
    admin_user_id: int | None = None
    link_sent: bool | None = None


class SetPasswordRequest(BaseModel):
    token: Text(200, min_length=1)
    password: Text(1000, min_length=1)


class AdminStaffView(BaseModel):
    id: int
    name: str
    email: str
    job_title: str | None = None
    roles: list[str]
    active: bool
    group_ids: list[int]
    second_factor: bool
    factor_locked: bool
    created_at: str | None = None
    deactivated_at: str | None = None
    link_sent: bool | None = None
    home_school_id: int | None = None  # another school of the trust: roles here come from a membership
    membership: bool | None = None


class GroupView(BaseModel):
    id: int
    name: str
    category_ids: list[int]
    year_groups: list[str] | None = None
    active: bool
    member_ids: list[int]


# --- staff -------------------------------------------------------------------------------------------

@router.get("/staff", response_model=list[AdminStaffView], response_model_exclude_none=True,
            summary="The school's staff accounts (administrator)")
@audits(STAFF)
async def list_staff(user: AdminUser, ctx: Ctx, status: Literal["active", "inactive", "all"] = "active",
                     q: str = Query("", max_length=100)):
    return await admin.list_staff(ctx, user, status, q)


@router.post("/staff", status_code=201, response_model=AdminStaffView,
             summary="Add a member of staff; they are e-mailed a link to set their password")
@audits(STAFF)
async def add_staff(body: StaffRequest, user: AdminUser, ctx: Ctx):
    return await admin.add_member(ctx, user, **body.model_dump())


@router.get("/staff/{user_id}", response_model=AdminStaffView, response_model_exclude_none=True,
            summary="One member of staff's account")
@audits(STAFF, "user_id")
async def get_staff(user_id: PathId, user: AdminUser, ctx: Ctx):
    return await admin.get_member(ctx, user, user_id)


@router.patch("/staff/{user_id}", response_model=AdminStaffView, response_model_exclude_none=True,
              summary="Change a member of staff's name, e-mail, job title, roles or groups")
@audits(STAFF, "user_id")
async def edit_staff(user_id: PathId, body: StaffChangesRequest, user: AdminUser, ctx: Ctx):
    return await admin.edit_member(ctx, user, user_id, body.model_dump(exclude_unset=True))


@router.post("/staff/{user_id}/deactivate", response_model=AdminStaffView, response_model_exclude_none=True,
             summary="Deactivate an account: every session it has ends at once")
@audits(STAFF, "user_id")
async def deactivate_staff(user_id: PathId, user: AdminUser, ctx: Ctx):
    return await admin.deactivate(ctx, user, user_id)


@router.post("/staff/{user_id}/reactivate", response_model=AdminStaffView, response_model_exclude_none=True,
             summary="Reactivate an account")
@audits(STAFF, "user_id")
async def reactivate_staff(user_id: PathId, user: AdminUser, ctx: Ctx):
    return await admin.reactivate(ctx, user, user_id)


@router.post("/staff/{user_id}/password-link", summary="E-mail a new set-password link (earlier ones stop working)")
@audits(STAFF, "user_id")
async def send_password_link(user_id: PathId, user: AdminUser, ctx: Ctx) -> dict:
    return await admin.send_link(ctx, user, user_id)


@router.post("/staff/{user_id}/reset-second-factor", response_model=AdminStaffView, response_model_exclude_none=True,
             summary="Remove an account's second factors: they enrol again at their next sign-in")
@audits(STAFF, "user_id")
async def reset_second_factor(user_id: PathId, user: AdminUser, ctx: Ctx):
    return await admin.reset_second_factor(ctx, user, user_id)


@router.post("/staff/import", summary="Import staff from the MIS's staff CSV (a preview unless dry_run is false)")
@audits(IMPORT)
async def import_staff(user: AdminUser, ctx: Ctx, file: UploadFile,
                       dry_run: Annotated[bool, Form(description="true (the default): report what would change, "
                                                                 "change nothing")] = True) -> dict:
    content = await file.read(staff_csv.MAX_FILE_BYTES + 1)
    return await admin.import_staff(ctx, user, content, dry_run)


# --- groups ------------------------------------------------------------------------------------------

@router.get("/groups", response_model=list[GroupView], summary="The school's groups (category readers)")
@audits(GROUPS)
async def list_groups(user: AdminUser, ctx: Ctx):
    return await admin.list_groups(ctx, user)


@router.post("/groups", status_code=201, response_model=GroupView,
             summary="Add a group: its members read and record in its categories (optionally some year groups)")
@audits(GROUPS)
async def create_group(body: GroupRequest, user: AdminUser, ctx: Ctx):
    return await admin.create_group(ctx, user, **body.model_dump())


@router.patch("/groups/{group_id}", response_model=GroupView, summary="Change, deactivate or reactivate a group")
@audits(GROUPS, "group_id")
async def edit_group(group_id: PathId, body: GroupChangesRequest, user: AdminUser, ctx: Ctx):
    return await admin.edit_group(ctx, user, group_id, body.model_dump(exclude_unset=True))


@router.delete("/groups/{group_id}", response_model=GroupView,
               summary="Deactivate a group (kept for the audit log; its members lose its grants at once)")
@audits(GROUPS, "group_id")
async def delete_group(group_id: PathId, user: AdminUser, ctx: Ctx):
    return await admin.edit_group(ctx, user, group_id, {"active": False})


@router.put("/groups/{group_id}/members/{user_id}", response_model=GroupView, summary="Add a member to a group")
@audits(GROUPS, "group_id")
async def add_group_member(group_id: PathId, user_id: PathId, user: AdminUser, ctx: Ctx):
    return await admin.group_member(ctx, user, group_id, user_id, add=True)


@router.delete("/groups/{group_id}/members/{user_id}", response_model=GroupView,
               summary="Take a member out of a group")
@audits(GROUPS, "group_id")
async def remove_group_member(group_id: PathId, user_id: PathId, user: AdminUser, ctx: Ctx):
    return await admin.group_member(ctx, user, group_id, user_id, add=False)


# --- schools of a trust (trust administrators) ----------------------------------------------------------

@router.get("/schools", response_model=list[SchoolView], response_model_exclude_none=True,
            summary="The schools of the trust administrator's trust")
@audits(SCHOOLS)
async def trust_schools(user: TrustAdminUser, ctx: Ctx):
    return await admin.trust_schools(ctx, user)


@router.post("/schools", status_code=201, response_model=SchoolView, response_model_exclude_none=True,
             summary="Add a school to the trust, with its first administrator (e-mailed a set-password link)")
@audits(SCHOOLS)
async def add_school(body: SchoolRequest, user: TrustAdminUser, ctx: Ctx):
    return await admin.add_school(ctx, user, **body.model_dump())


# --- the set-password link ----------------------------------------------------------------------------

@account_router.post("/set-password", status_code=204, dependencies=[SameSiteOnly],
                     summary="Set a password with the token from an e-mailed link (no session needed)")
async def set_password(body: SetPasswordRequest, ctx: Ctx):
    await admin.set_password(ctx, body.token, body.password)
