"""Sign in by pasting a token, sign out: the cookie holds the same token as a bearer header."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from api.deps import PAGE_COOKIE, PagePrincipal, UowDep
from api.pages.session import HOME, form_allowed, local_path, render_staff, see_other
from dispatcher.tokens import resolve

router = APIRouter()


@router.get("/login")
def login_form(request: Request, principal: PagePrincipal, next: str | None = None) -> Response:
    return render_staff(
        request, "login.html", principal=principal, next=local_path(next, ""), error=False
    )


@router.post("/login")
async def login(request: Request, uow: UowDep) -> Response:
    form = await request.form()
    target = form.get("next")
    next_path = local_path(target if isinstance(target, str) else None, "")
    if not form_allowed(request, form.get("csrf"), signed_in=False):
        return render_staff(request, "forbidden.html", principal=None, status_code=403)
    token = form.get("token")
    token = token.strip() if isinstance(token, str) else ""
    with uow() as session:
        principal = resolve(session, token) if token else None
    if principal is None:
        return render_staff(
            request,
            "login.html",
            principal=None,
            next=next_path,
            error=True,
            status_code=401,
        )
    response = see_other(next_path or HOME.get(principal.role, "/login"))
    response.set_cookie(
        PAGE_COOKIE,
        token,
        httponly=True,
        samesite="strict",
        path="/",
        secure=request.url.scheme == "https",
    )
    return response


@router.post("/logout")
async def logout(request: Request) -> Response:
    form = await request.form()
    if not form_allowed(request, form.get("csrf")):
        return render_staff(request, "forbidden.html", principal=None, status_code=403)
    response = see_other("/login")
    response.delete_cookie(PAGE_COOKIE, path="/", httponly=True, samesite="strict")
    return response
