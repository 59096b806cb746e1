"""The web UI (placeholder until the UI lands)."""
from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse
from fastapi.staticfiles import StaticFiles
import os

router = APIRouter(include_in_schema=False)


def to_sign_in(request: Request):
    return RedirectResponse("/sign-in", status_code=303)


def static_files():
    return StaticFiles(directory=os.path.join(os.path.dirname(__file__), "static"))
