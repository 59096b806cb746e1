"""The school's categories: the tree for the pickers (anyone signed in), and managing it (an administrator)."""
from __future__ import annotations

from fastapi import Query

from . import api_router
from ..deps import AdminUser, Ctx, CurrentUser, audits
from ..schemas import CategoryChangesRequest, CategoryNode, CategoryRequest, PathId
from ..usecases import AuditLabel, roll

router = api_router("/api/v1/categories", "categories")
CATEGORIES = AuditLabel("manage_categories", "category")


@router.get("", response_model=list[CategoryNode],
            summary="The school's categories as a flat list in tree order (parent_id, depth)")
async def categories(user: CurrentUser, ctx: Ctx,
                     include_inactive: bool = Query(False, description="Administrators and the DSL team: retired ones too")):
    return await roll.category_tree(ctx, user, include_inactive)


@router.post("", status_code=201, response_model=CategoryNode, summary="Add a category (administrator)")
@audits(CATEGORIES)
async def create_category(body: CategoryRequest, user: AdminUser, ctx: Ctx):
    return await roll.create_category(ctx, user, body)


@router.patch("/{category_id}", response_model=CategoryNode,
              summary="Change, move, retire or reactivate a category (administrator); saved records are untouched")
@audits(CATEGORIES, "category_id")
async def update_category(category_id: PathId, body: CategoryChangesRequest, user: AdminUser, ctx: Ctx):
    return await roll.update_category(ctx, user, category_id, body)
