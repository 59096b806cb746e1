"""The pickers: pupils, staff and categories."""
from __future__ import annotations

from fastapi import APIRouter, Query

from .. import accounts
from ..deps import CurrentUser, Database, Rpc

router = APIRouter(prefix="/api/v1", tags=["directory"])


@router.get("/pupils", summary="Search the roll by name or UPN")
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


@router.get("/categories", summary="The school's active categories")
async def categories(user: CurrentUser, rpc: Rpc):
    return await rpc.call("incidents", "list_categories", user.actor_token)
