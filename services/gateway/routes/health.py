"""Is the gateway, and Haven behind it, answering? (No sign-in: for load balancers, monitoring and the
orchestrator's probes.)

- `/api/v1/health`: every service, for monitoring (in the API document).
- `/healthz/live`: the process answers; nothing else is asked, so a broker or database outage never
  makes the orchestrator restart a gateway that would be fine once they are back.
- `/healthz/ready`: its own database and broker connection answer, so a load balancer sends requests only
  to a gateway that can serve them. The services are asked and listed, but one that is down does not make
  the gateway unready: every replica would be taken out of the load balancer at once, and with them
  sign-in and every page that does not need that service (those that do answer 503 naming it).
  Both are left out of the API document: they are for the machine that runs the gateway, not for clients.
"""
from __future__ import annotations


from fastapi.responses import JSONResponse

from . import api_router
from ..deps import Ctx
from ..schemas import HealthView
from ..usecases import health as checks

router = api_router("", "health")


@router.get("/api/v1/health", response_model=HealthView, response_model_exclude_none=True,
            summary="Is every service answering?", responses={503: {"model": HealthView}})
async def health(ctx: Ctx):
    services = await checks.health(ctx)
    failing = [s for s, r in services.items() if r != "ok"]
    body = {"status": "ok" if not failing else "degraded", "services": services}
    if failing:
        body["failing"] = failing
        return JSONResponse(body, status_code=503)
    return body


@router.get("/healthz/live", include_in_schema=False)
async def live():
    return {"status": "ok"}


@router.get("/healthz/ready", include_in_schema=False)
async def ready(ctx: Ctx):
    parts = await checks.readiness(ctx)
    ok = parts["database"] == parts["broker"] == "ok"
    status = "fail" if not ok else "ok" if all(r == "ok" for r in parts["services"].values()) else "degraded"
    return JSONResponse({"status": status, **parts}, status_code=200 if ok else 503)
