"""Sign in by pasting a token, sign out.

Signing in opens a server-side page session: the cookie holds its random id, never the token.
Signing out ends the session in the database, so a copy of the old cookie signs nothing in.
"""

from __future__ import annotations

from datetime import timedelta

from fastapi import APIRouter, Request, Response

from api.deps import PAGE_COOKIE, PagePrincipal, RuntimeDep, UowDep
from api.pages.session import HOME, form_allowed, local_path, render_staff, see_other
from dispatcher.tokens import end_page_session, open_page_session

router = APIRouter()


@router.get("/login")
def login_form(request: Request, principal: PagePrincipal, next: str | None = None) -> Response:
    return render_staff(
        request, "login.html", principal=principal, next=local_path(next, ""), error=False
    )


@router.post("/login")
async def login(request: Request, runtime: RuntimeDep, uow: UowDep) -> Response:
    form = await request.form()
    target = form.get("next")
    next_path = local_path(target if isinstance(target, str) else None, "")
    if not form_allowed(request, form.get("csrf"), signed_in=False):
        return render_staff(request, "forbidden.html", principal=None, status_code=403)
    token = form.get("token")
    token = token.strip() if isinstance(token, str) else ""
    lifetime = timedelta(hours=runtime.settings.page_session_hours)
    with uow() as session:
        opened = open_page_session(session, token=token, lifetime=lifetime) if token else None
    if opened is None:
        return render_staff(
            request,
            "login.html",
            principal=None,
            next=next_path,
            error=True,
            status_code=401,
        )
    session_id, principal = opened
    response = see_other(next_path or HOME.get(principal.role, "/login"))
    response.set_cookie(
        PAGE_COOKIE,
        session_id,
        max_age=int(lifetime.total_seconds()),
        httponly=True,
        samesite="strict",
        path="/",
        secure=request.url.scheme == "https",
    )
    return response


@router.post("/logout")
async def logout(request: Request, uow: UowDep) -> Response:
    form = await request.form()
    if not form_allowed(request, form.get("csrf")):
        return render_staff(request, "forbidden.html", principal=None, status_code=403)
    raw = request.cookies.get(PAGE_COOKIE)
    if raw:
        with uow() as session:
            end_page_session(session, raw)
    response = see_other("/login")
    response.delete_cookie(PAGE_COOKIE, path="/", httponly=True, samesite="strict")
    return response
