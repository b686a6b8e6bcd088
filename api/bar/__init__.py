"""The bar's reports: the JSON/CSV API and the /bar dashboard, as one router to include."""

from __future__ import annotations

from fastapi import APIRouter

from api.bar import pages
from api.routes import reports

router = APIRouter()
router.include_router(reports.router)
router.include_router(pages.router)
