"""Dependencies: the runtime, the unit of work, the caller's token and role checks."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Annotated

import structlog
from fastapi import Depends, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlmodel import Session

from dispatcher import workflow
from dispatcher.db import unit_of_work
from dispatcher.models import Lawyer
from dispatcher.runtime import Runtime
from dispatcher.tokens import Principal, resolve
from policies.vocabulary import REQUESTER_ROLES, Role

bearer = HTTPBearer(auto_error=False, description="A token from `dispatcher token create`.")


def get_runtime(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]
UnitOfWork = Callable[[], AbstractContextManager[Session]]


def get_uow(runtime: RuntimeDep) -> UnitOfWork:
    """A factory for the route's one transaction: `with uow() as session: ...`."""
    return lambda: unit_of_work(runtime.engine)


UowDep = Annotated[UnitOfWork, Depends(get_uow)]


def get_principal(
    runtime: RuntimeDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> Principal:
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise HTTPException(401, "missing bearer token", headers={"WWW-Authenticate": "Bearer"})
    with unit_of_work(runtime.engine) as session:
        principal = resolve(session, credentials.credentials)
    if principal is None:
        raise HTTPException(401, "invalid token", headers={"WWW-Authenticate": "Bearer"})
    structlog.contextvars.bind_contextvars(role=principal.role, token_id=principal.token_id)
    if not runtime.limiter.hit(principal.token_id):
        raise HTTPException(
            429,
            f"more than {runtime.settings.rate_limit_per_minute} requests a minute",
            headers={"Retry-After": "60"},
        )
    return principal


def role(*allowed: Role) -> Callable[..., Principal]:
    """A dependency that lets only the given roles through (403 otherwise)."""

    def check(principal: Annotated[Principal, Depends(get_principal)]) -> Principal:
        if principal.role not in allowed:
            raise HTTPException(403, f"role {principal.role} may not do this")
        return principal

    return check


def context(
    runtime: Runtime, principal: Principal | None, actor: str | None = None
) -> workflow.Context:
    return runtime.context(actor or (principal.actor if principal else "anonymous"))


def lawyer_of(session: Session, principal: Principal) -> Lawyer:
    lawyer = session.get(Lawyer, principal.lawyer_id) if principal.lawyer_id else None
    if lawyer is None:
        raise HTTPException(403, "this token is not linked to a lawyer")
    return lawyer


def requester_scope(principal: Principal) -> int | None:
    """The requester whose requests this caller may see (None: all of them)."""
    return principal.requester_id if principal.role in REQUESTER_ROLES else None


# The web pages keep the caller's token in this cookie (HttpOnly, SameSite=Strict), set by
# the login page; the same token and the same `resolve` as the JSON API, no second auth path.
PAGE_COOKIE = "dispatcher_session"


def page_principal(runtime: RuntimeDep, request: Request) -> Principal | None:
    """The principal of the page's session cookie, or None (the page then asks to log in)."""
    raw = request.cookies.get(PAGE_COOKIE)
    if not raw:
        return None
    with unit_of_work(runtime.engine) as session:
        principal = resolve(session, raw)
    if principal is not None:
        structlog.contextvars.bind_contextvars(role=principal.role, token_id=principal.token_id)
    return principal


PagePrincipal = Annotated[Principal | None, Depends(page_principal)]


def bearer_or_page(
    runtime: RuntimeDep,
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> Principal:
    """A bearer token, or else the page's session cookie (an EventSource sends no header)."""
    if credentials is not None:
        return get_principal(runtime, credentials)
    principal = page_principal(runtime, request)
    if principal is None:
        raise HTTPException(401, "missing bearer token", headers={"WWW-Authenticate": "Bearer"})
    return principal
