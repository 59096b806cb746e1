"""The JSON API: one router per resource, each a thin adapter over `services/gateway/usecases/`."""
from __future__ import annotations


from fastapi import APIRouter
from fastapi.routing import APIRoute


class ViewRoute(APIRoute):
    """A route whose answer is a service's view: the response model documents it (and is checked),
    but only what the service answered is sent — a field a reader may not see is left out, not
    sent as null."""

    def __init__(self, *args, **kwargs):
        kwargs["response_model_exclude_unset"] = True  # APIRouter passes False explicitly
        super().__init__(*args, **kwargs)


def api_router(prefix: str, tag: str) -> APIRouter:
    return APIRouter(prefix=prefix, tags=[tag], route_class=ViewRoute)
