"""The pickers: pupils, staff and categories; and managing the school's categories (DSL team)."""
from __future__ import annotations

from fastapi import APIRouter, HTTPException, Query
from pydantic import BaseModel, Field

from services.common.errors import ValidationFailed

from .. import accounts
from ..deps import CurrentUser, Database, DslUser, Rpc
from .incidents import unknown_staff

router = APIRouter(prefix="/api/v1", tags=["directory"])


@router.get("/pupils", summary="Search the roll by any part of a name, a preferred name or a UPN (typos forgiven)")
async def pupils(user: CurrentUser, rpc: Rpc, q: str = Query("", max_length=100),
                 limit: int = Query(20, ge=1, le=100)):
    return await rpc.call("incidents", "search_pupils", user.actor_token, q, limit)


@router.get("/staff", summary="Search staff to alert")
async def staff(user: CurrentUser, db: Database, q: str = Query("", max_length=100),
                limit: int = Query(20, ge=1, le=100)):
    def find(session):
        return [{"id": s.id, "name": s.name, "roles": list(s.roles), "job_title": s.job_title}
                for s in accounts.search_staff(session, user.school_id, q, limit)]
    return await db.run(find)


class CategoryIn(BaseModel):
    name: str = Field(max_length=200)
    parent_id: int | None = Field(None, description="The parent category; null for a top-level category")
    colour: str = Field("#5b6770", max_length=20, description="#rrggbb")
    sensitivity: str = Field(max_length=60, description="safeguarding, pastoral, behaviour, medical, sen, or a "
                                                        "school-defined slug (lower-case letters, digits, hyphens)")
    default_alert_groups: list[str] = Field(default_factory=list, max_length=10, description="dsl, slt")
    default_alert_user_ids: list[int] = Field(default_factory=list, max_length=200)
    active: bool = True


class CategoryChanges(BaseModel):
    """Only the fields sent are changed."""
    name: str | None = Field(None, max_length=200)
    parent_id: int | None = None
    colour: str | None = Field(None, max_length=20)
    sensitivity: str | None = Field(None, max_length=60)
    default_alert_groups: list[str] | None = Field(None, max_length=10)
    default_alert_user_ids: list[int] | None = Field(None, max_length=200)
    active: bool | None = None


async def _check_staff(db, user, ids: list[int] | None) -> None:
    if ids and await db.run(unknown_staff, user.school_id, ids):
        raise ValidationFailed.one("default_alert_user_ids",
                                   "One of the staff chosen to alert is not an active member of staff.")


@router.get("/categories", summary="The school's categories as a flat list in tree order (parent_id, depth)")
async def categories(user: CurrentUser, rpc: Rpc,
                     include_inactive: bool = Query(False, description="DSL team only: retired ones too")):
    if include_inactive and not user.is_dsl:
        raise HTTPException(403, "Only the DSL team can see retired categories.")
    return await rpc.call("incidents", "list_category_tree", user.actor_token, include_inactive)


@router.post("/categories", status_code=201, summary="Add a category (DSL team)")
async def create_category(body: CategoryIn, user: DslUser, rpc: Rpc, db: Database):
    await _check_staff(db, user, body.default_alert_user_ids)
    return await rpc.call("incidents", "create_category", user.actor_token, body.model_dump())


@router.patch("/categories/{category_id}",
              summary="Change, move, retire or reactivate a category (DSL team); saved records are untouched")
async def update_category(category_id: int, body: CategoryChanges, user: DslUser, rpc: Rpc, db: Database):
    changes = body.model_dump(exclude_unset=True)
    for f in ("name", "colour", "sensitivity", "default_alert_groups", "default_alert_user_ids", "active"):
        if f in changes and changes[f] is None:
            raise ValidationFailed.one(f, f"The {f.replace('_', ' ')} cannot be empty.")
    await _check_staff(db, user, changes.get("default_alert_user_ids"))
    return await rpc.call("incidents", "update_category", user.actor_token, category_id, changes)
