"""The start page: what the service is, and the ways in (sign-in, the public figures)."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from api.deps import PagePrincipal
from api.pages.session import HOME, render_staff

router = APIRouter()


@router.get("/")
def landing(request: Request, principal: PagePrincipal) -> Response:
    """A short page for a first visit, in the reader's language; a signed-in reader is offered
    their own page."""
    return render_staff(
        request,
        "landing.html",
        principal=principal,
        own_page=HOME.get(principal.role) if principal else None,
    )
