from __future__ import annotations

import asyncio

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from services.common.errors import HavenError

from ..deps import Rpc

router = APIRouter(prefix="/api/v1", tags=["health"])
SERVICES = ("incidents", "alerts", "documents", "transfers")


@router.get("/health", summary="Is every service answering?")
async def health(rpc: Rpc):
    async def probe(service):
        try:
            return "ok" if await rpc.call(service, "health", timeout=3) == "ok" else "unhealthy"
        except HavenError as exc:
            return "unavailable" if exc.status_code == 503 else "timeout" if exc.status_code == 504 else "error"

    results = await asyncio.gather(*(probe(s) for s in SERVICES))
    services = dict(zip(SERVICES, results))
    failing = [s for s, r in services.items() if r != "ok"]
    body = {"status": "ok" if not failing else "degraded", "services": services}
    if failing:
        body["failing"] = failing
        return JSONResponse(body, status_code=503)
    return body
