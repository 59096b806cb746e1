"""Is every service answering? (No sign-in: for load balancers and monitoring.)"""
from __future__ import annotations


from fastapi.responses import JSONResponse

from . import api_router
from ..deps import Ctx
from ..schemas import HealthView
from ..usecases import health as checks

router = api_router("/api/v1", "health")


@router.get("/health", response_model=HealthView, response_model_exclude_none=True,
            summary="Is every service answering?", responses={503: {"model": HealthView}})
async def health(ctx: Ctx):
    services = await checks.health(ctx)
    failing = [s for s, r in services.items() if r != "ok"]
    body = {"status": "ok" if not failing else "degraded", "services": services}
    if failing:
        body["failing"] = failing
        return JSONResponse(body, status_code=503)
    return body
