"""Server-rendered pages: the suspect's tablet, the investigator's and the lawyer's pages.

They call the same workflow functions as the JSON API, in the same unit of work; the staff
pages authenticate with the same tokens, kept in an HttpOnly cookie.
"""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.staticfiles import StaticFiles

from api.pages import auth, investigator, lawyer, rotas, tablet
from api.pages.rendering import STATIC

router = APIRouter(include_in_schema=False)
for module in (auth, tablet, investigator, lawyer, rotas):
    router.include_router(module.router)
router.mount("/static", StaticFiles(directory=STATIC), name="static")

__all__ = ["router"]
