"""The limits as the HTTP face applies them: per token on the pages and their costly exports,
per client address on sign-in and on link tokens that match nothing, and one answer for all of
them: 429 with Retry-After (api.main answers it as JSON under /api/ and as a page elsewhere).

The pages' package imports api.deps, which imports this module: nothing here imports a page."""

from __future__ import annotations

from fastapi import HTTPException, Request

from dispatcher.runtime import Runtime
from dispatcher.tokens import Principal

# Exports that cost seconds of CPU each (the PDF about 9 s) have a lower limit of their own.
COSTLY_EXPORTS = ("/bar/report.",)
# Paths whose token is the credential: an address that keeps guessing is slowed down.
LINK_PATHS = ("/tablet/", "/api/v1/tablet/", "/answer/")
LOGIN_PATH = "/login"


class TooManyRequests(HTTPException):
    """429 with the seconds after which a request would be counted again."""

    def __init__(self, detail: str, retry_after_s: int) -> None:
        super().__init__(429, detail, headers={"Retry-After": str(retry_after_s)})


def check_page_principal(runtime: Runtime, path: str, principal: Principal) -> None:
    """Count a signed-in page or export against its token; TooManyRequests beyond the limit."""
    settings = runtime.settings
    key = str(principal.token_id)
    if path.startswith(COSTLY_EXPORTS):
        per_minute = settings.export_rate_limit_per_minute
        verdict = runtime.limiter.take("export", key, per_minute)
        what = "exports"
    else:
        per_minute = settings.rate_limit_per_minute
        verdict = runtime.limiter.take("token", key)
        what = "requests"
    if not verdict.allowed:
        raise TooManyRequests(f"more than {per_minute} {what} a minute", verdict.retry_after_s)


def client_address(request: Request) -> str:
    return request.client.host if request.client else "unknown"
