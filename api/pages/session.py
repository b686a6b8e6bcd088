"""The pages' session: the token cookie, sign-in redirects, and forms no other site can post."""

from __future__ import annotations

import hashlib
import hmac
from urllib.parse import quote, urlsplit

from fastapi import Request, Response
from fastapi.responses import RedirectResponse

from api.deps import PAGE_COOKIE
from api.pages.rendering import pick_language, render
from dispatcher.tokens import Principal
from policies.vocabulary import Role

# Staff pages remember the reader's language here; the tablet never does (it is shared).
LANGUAGE_COOKIE = "dispatcher_lang"
# Where each role lands after signing in.
HOME: dict[str, str] = {
    Role.INVESTIGATOR: "/investigator",
    Role.LAWYER: "/lawyer",
    Role.BAR: "/bar",
    Role.ADMIN: "/bar",
}


def csrf_token(request: Request) -> str:
    """A form token derived from the session cookie: another site can read neither."""
    raw = request.cookies.get(PAGE_COOKIE, "")
    return hashlib.sha256(f"csrf:{raw}".encode()).hexdigest()


def same_origin(request: Request) -> bool:
    """False when the browser says the form came from another site (Origin, else Referer)."""
    source = request.headers.get("origin") or request.headers.get("referer")
    if not source or source == "null":
        # Browsers send Origin with every form POST; a client without one is no browser
        # carrying this site's cookie on another site's behalf.
        return source is None
    host = request.headers.get("host", "")
    return urlsplit(source).netloc == host


def form_allowed(request: Request, csrf: object, *, signed_in: bool = True) -> bool:
    """A state-changing form is accepted only from this site, with the session's form token."""
    if not same_origin(request):
        return False
    if not signed_in:
        return True
    return isinstance(csrf, str) and hmac.compare_digest(csrf, csrf_token(request))


def local_path(target: str | None, fallback: str) -> str:
    """`target` if it is a path on this site, else `fallback`: no open redirects."""
    if not target or not target.startswith("/") or target.startswith("//"):
        return fallback
    # Browsers drop tabs and newlines and read "\\" as "/": "/\t/evil" would leave the site.
    if "\\" in target or any(c.isspace() or not c.isprintable() for c in target):
        return fallback
    parts = urlsplit(target)
    return fallback if parts.scheme or parts.netloc else target


def staff_language(request: Request) -> str:
    """The language a staff page speaks: ?lang=, else the remembered one, else the territory's."""
    return pick_language(request.query_params.get("lang"), request.cookies.get(LANGUAGE_COOKIE))


def render_staff(
    request: Request,
    template: str,
    *,
    principal: Principal | None,
    status_code: int = 200,
    **context: object,
) -> Response:
    """A staff page in the reader's language; a ?lang= choice is remembered in a cookie."""
    language = staff_language(request)
    response = render(
        request,
        template,
        language=language,
        status_code=status_code,
        headers=None,
        principal=principal,
        csrf=csrf_token(request) if principal else "",
        **context,
    )
    if request.query_params.get("lang") == language:
        response.set_cookie(
            LANGUAGE_COOKIE, language, max_age=365 * 24 * 3600, samesite="strict", httponly=True
        )
    return response


def guard(request: Request, principal: Principal | None, role: Role) -> Principal | Response:
    """The signed-in principal of `role`; else a redirect to sign in, or a 403 page."""
    if principal is None:
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return RedirectResponse(f"/login?next={quote(target, safe='')}", status_code=303)
    if principal.role != role:
        return render_staff(request, "forbidden.html", principal=principal, status_code=403)
    return principal


def see_other(path: str) -> RedirectResponse:
    """After a form that changed something: go and read the result (POST, redirect, GET)."""
    return RedirectResponse(path, status_code=303)
