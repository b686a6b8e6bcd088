"""The FastAPI application: routers, error mapping, request ids, limits, metrics."""

from __future__ import annotations

import hmac
import importlib.util
import time
import uuid
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path

import structlog
from fastapi import FastAPI, HTTPException, Request, Response
from fastapi.exception_handlers import http_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, PlainTextResponse
from fastapi.staticfiles import StaticFiles
from prometheus_client import CONTENT_TYPE_LATEST, Counter, Histogram, generate_latest
from pydantic import BaseModel
from sqlalchemy import text
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import MutableHeaders
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api import pages
from api.bar import router as bar_router
from api.bodies import Utf8JsonBody
from api.deps import page_principal
from api.limits import LINK_PATHS, LOGIN_PATH, TooManyRequests, client_address
from api.pages import answer as answer_pages
from api.pages import landing
from api.pages import public as public_pages
from api.pages.rendering import STATIC, gettext, pick_language, render
from api.pages.session import HOME, LANGUAGE_COOKIE, render_staff
from api.routes import (
    accountability,
    batch,
    lawyers,
    registry,
    requests,
    rotas,
    tablet,
    tokens,
)
from dispatcher.config import Settings, get_settings
from dispatcher.errors import DomainError
from dispatcher.logging import configure
from dispatcher.ratelimit import StreamSlots
from dispatcher.runtime import Runtime

log = structlog.get_logger("api")


class ManifestIcon(BaseModel):
    src: str
    sizes: str
    type: str
    purpose: str


class WebManifest(BaseModel):
    """The web app manifest (https://www.w3.org/TR/appmanifest/) of the staff pages."""

    lang: str
    name: str
    short_name: str
    start_url: str
    scope: str
    display: str
    theme_color: str
    background_color: str
    icons: list[ManifestIcon]


WEB_MANIFEST = WebManifest(
    lang="en",
    name="Counsel dispatcher",
    short_name="Counsel",
    start_url="/lawyer",
    scope="/",
    display="standalone",
    theme_color="#0b3d91",
    background_color="#ffffff",
    icons=[
        ManifestIcon(
            src=f"/static/icons/icon-{size}.png",
            sizes=f"{size}x{size}",
            type="image/png",
            purpose="any maskable",
        )
        for size in (192, 512)
    ],
)

HTTP_REQUESTS = Counter(
    "dispatcher_http_requests_total", "HTTP requests", ["method", "route", "status"]
)
HTTP_SECONDS = Histogram("dispatcher_http_request_seconds", "HTTP latency", ["method", "route"])

# A 422 names the fields and quotes only a short excerpt of what was sent: a 40 MB list would
# otherwise come back whole, once per invalid item.
SHOWN_ERRORS = 20
EXCERPT_CHARS = 40
TEXT_CHARS = 300

Excerpt = str | int | float | bool | None


def _printable(text: str, limit: int) -> str:
    """At most `limit` characters of `text`, a lone surrogate escaped (UTF-8 cannot carry it)."""
    short = text if len(text) <= limit else text[:limit] + "…"
    return short.encode("utf-8", "backslashreplace").decode("utf-8")


def _excerpt(value: object) -> Excerpt:
    """What a 422 shows of an input: a short scalar as it is, a container by its size."""
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, int | float):
        return value if len(str(value)) <= EXCERPT_CHARS else _printable(str(value), EXCERPT_CHARS)
    if isinstance(value, str):
        return _printable(value, EXCERPT_CHARS)
    if isinstance(value, dict):
        return f"an object of {len(value)} fields"
    if isinstance(value, list | tuple):
        return f"a list of {len(value)} items"
    return type(value).__name__


def validation_errors(errors: Sequence[object]) -> list[dict[str, object]]:
    """Pydantic's errors as a 422 lists them: field, reason and a short excerpt of the input."""
    shown: list[dict[str, object]] = []
    for error in errors[:SHOWN_ERRORS]:
        if not isinstance(error, dict):
            continue
        item: dict[str, object] = {
            "type": str(error.get("type", "value_error")),
            "loc": [
                part if isinstance(part, int) else _printable(str(part), EXCERPT_CHARS)
                for part in error.get("loc", ())
            ],
            "msg": _printable(str(error.get("msg", "")), TEXT_CHARS),
        }
        if "input" in error:
            item["input"] = _excerpt(error["input"])
        ctx = error.get("ctx")
        if isinstance(ctx, dict):
            item["ctx"] = {
                str(key): _excerpt(value)
                if isinstance(value, int | float)
                else _printable(str(value), TEXT_CHARS)
                for key, value in ctx.items()
            }
        shown.append(item)
    if len(errors) > SHOWN_ERRORS:
        shown.append(
            {
                "type": "too_many_errors",
                "loc": [],
                "msg": f"and {len(errors) - SHOWN_ERRORS} more errors",
            }
        )
    return shown


class BodyLimit:
    """Refuse request bodies above a size with 413, whether or not a length is declared.

    Registry imports get their own, larger limit: a national registry is a few megabytes.
    """

    def __init__(
        self, app: ASGIApp, max_bytes: int, max_import_bytes: int, import_path: str
    ) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.max_import_bytes = max_import_bytes
        self.import_path = import_path

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.max_import_bytes if scope["path"] == self.import_path else self.max_bytes
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            await _too_large(scope, receive, send, limit)
            return
        seen = 0
        refused = False

        async def limited_receive() -> Message:
            nonlocal seen, refused
            message = await receive()
            seen += len(message.get("body", b""))
            if seen > limit and not refused:
                # Answer now, and tell the application the client went away.
                refused = True
                await _too_large(scope, receive, send, limit)
            return {"type": "http.disconnect"} if refused else message

        async def guarded_send(message: Message) -> None:
            if not refused:
                await send(message)

        await self.app(scope, limited_receive, guarded_send)


# Files served as they are may be kept by a browser; every other answer (the API's JSON, the
# pages, the OpenAPI document) may carry a token or a person's data and is never stored.
STATIC_PREFIXES = ("/static/", "/docs/static/")


class ResponseHeaders:
    """Every response says `nosniff`; every one but a static file says `no-store`."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        cacheable = str(scope["path"]).startswith(STATIC_PREFIXES)

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                headers["X-Content-Type-Options"] = "nosniff"
                if not cacheable:
                    headers["Cache-Control"] = "no-store"
            await send(message)

        await self.app(scope, receive, send_with_headers)


def _swagger_ui_files() -> Path:
    """Swagger UI 5's files as the `swagger-ui-py` package ships them (Apache-2.0, LICENSE
    beside them), found without importing the package's own web-framework adapters."""
    spec = importlib.util.find_spec("swagger_ui")
    assert spec is not None and spec.submodule_search_locations, "swagger-ui-py is installed"
    return Path(next(iter(spec.submodule_search_locations))) / "static"


# /docs works without reaching any other host (the OpenAPI document is 3.1, which Swagger UI
# reads from version 5 on); the page starts it from /static/docs.js, since its policy allows no
# inline script.
SWAGGER_UI = _swagger_ui_files()
DOCS_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
        "connect-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'"
    ),
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
}
DOCS_PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Counsel dispatcher: API</title>
<link rel="stylesheet" href="/docs/static/swagger-ui.css">
<link rel="icon" type="image/png" href="/docs/static/favicon-32x32.png">
</head>
<body>
<div id="swagger-ui" data-openapi-url="/openapi.json"></div>
<script src="/docs/static/swagger-ui-bundle.js"></script>
<script src="/static/docs.js"></script>
</body>
</html>
"""


async def _too_large(scope: Scope, receive: Receive, send: Send, limit: int) -> None:
    response = JSONResponse({"detail": f"request body larger than {limit} bytes"}, 413)
    await response(scope, receive, send)


def too_many(request: Request, exc: TooManyRequests) -> Response:
    """429 with Retry-After: JSON under /api/, a page in the reader's language elsewhere."""
    headers = dict(exc.headers or {})
    if request.url.path.startswith("/api/"):
        return JSONResponse({"detail": exc.detail}, status_code=429, headers=headers)
    language = pick_language(request.query_params.get("lang"), request.cookies.get(LANGUAGE_COOKIE))
    return render(
        request,
        "too_many.html",
        language=language,
        status_code=429,
        headers=headers,
        principal=None,
        csrf="",
    )


# A page's error, by status: the page that says it in the reader's language. Any other
# status (a 303 to sign in, a 401, a 413) keeps its usual answer.
ERROR_PAGES = {
    403: "forbidden.html",
    404: "not_found.html",
    405: "not_allowed.html",
    410: "gone.html",
}
# Addresses that answer machines: their errors stay JSON wherever they are.
MACHINE_PATHS = ("/api/", "/docs/", "/static/", "/metrics", "/healthz", "/readyz", "/openapi")
MACHINE_SUFFIXES = (".json", ".csv", ".pdf", ".js", ".webmanifest", ".ics")


def wants_page(request: Request) -> bool:
    """Whether an error at this address is read by a person in a browser (an HTML page)."""
    path = request.url.path
    return not path.startswith(MACHINE_PATHS) and not path.endswith(MACHINE_SUFFIXES)


def error_page(request: Request, status_code: int, headers: dict[str, str] | None) -> Response:
    """A page error (403, 404, 405, 410) in the reader's language, with a way back; the reader
    signed in keeps the staff header and is offered their own page."""
    runtime: Runtime = request.app.state.runtime
    principal = page_principal(runtime, request)
    page = render_staff(
        request,
        ERROR_PAGES[status_code],
        principal=principal,
        status_code=status_code,
        own_page=HOME.get(principal.role) if principal else None,
    )
    page.headers.update(headers or {})
    return page


async def _refuse(
    request: Request, detail: str, retry_after_s: int, scope: Scope, receive: Receive, send: Send
) -> None:
    """Answer 429 (a page or JSON, as `too_many` chooses) with its Retry-After."""
    await too_many(request, TooManyRequests(detail, retry_after_s))(scope, receive, send)


class AddressLimits:
    """Per client address: every sign-in attempt counts; on a link whose token is the
    credential, every token that matched nothing counts, and the address is refused once its
    minute is used up (before the lookup, so a guesser learns nothing more).

    Plain ASGI, like the two above: Starlette's `BaseHTTPMiddleware` runs the application in a
    task of its own and streams the answer back through a queue, which cost more CPU per request
    than the rest of the HTTP layer together."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if scope["type"] != "http" or not (
            (path == LOGIN_PATH and scope["method"] == "POST") or path.startswith(LINK_PATHS)
        ):
            await self.app(scope, receive, send)
            return
        request = Request(scope, receive)
        runtime: Runtime = request.app.state.runtime
        settings = runtime.settings
        address = client_address(request)
        if path == LOGIN_PATH:
            per_minute = settings.login_rate_limit_per_minute
            verdict = runtime.limiter.take("login", address, per_minute)
            if not verdict.allowed:
                detail = f"more than {per_minute} sign-in attempts a minute"
                await _refuse(request, detail, verdict.retry_after_s, scope, receive, send)
                return
            await self.app(scope, receive, send)
            return
        per_minute = settings.unknown_link_rate_limit_per_minute
        verdict = runtime.limiter.peek("unknown-link", address, per_minute)
        if not verdict.allowed:
            detail = f"more than {per_minute} unknown links a minute"
            await _refuse(request, detail, verdict.retry_after_s, scope, receive, send)
            return

        async def counting_send(message: Message) -> None:
            if message["type"] == "http.response.start" and message["status"] == 404:
                runtime.limiter.take("unknown-link", address, per_minute)
            await send(message)

        await self.app(scope, receive, counting_send)


class RequestContext:
    """A request id for the logs (the caller's `X-Request-ID`, or a new one) and, once the
    answer starts, the request's metrics and its access line, by route template: never the
    raw path, since a tablet path carries a credential."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        given = dict(scope["headers"]).get(b"x-request-id")
        request_id = (given.decode("latin-1") if given else uuid.uuid4().hex)[:64]
        structlog.contextvars.clear_contextvars()
        structlog.contextvars.bind_contextvars(request_id=request_id)
        started = time.perf_counter()

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                elapsed = time.perf_counter() - started
                method, status = scope["method"], message["status"]
                template = getattr(scope.get("route"), "path", "unmatched")
                HTTP_REQUESTS.labels(method, template, str(status)).inc()
                HTTP_SECONDS.labels(method, template).observe(elapsed)
                MutableHeaders(scope=message)["X-Request-ID"] = request_id
                log.info(
                    "http.request",
                    method=method,
                    route=template,
                    status=status,
                    ms=round(elapsed * 1000, 1),
                )
            await send(message)

        await self.app(scope, receive, send_with_id)


def create_app(settings: Settings | None = None, runtime: Runtime | None = None) -> FastAPI:
    """Build the application; `runtime` lets tests and the CLI pass one they own."""
    settings = settings or (runtime.settings if runtime else get_settings())
    configure(settings.log_format, settings.log_level)
    owned = runtime is None

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        rt = runtime or Runtime.build(settings)
        app.state.runtime = rt
        rt.start()
        log.info("service.started", database=rt.engine.url.get_backend_name())
        try:
            yield
        finally:
            if owned:
                rt.stop()

    app = FastAPI(
        title="Counsel dispatcher",
        version="1.0",
        description="Appoints state-funded defence lawyers: fair rotation, the suspect's "
        "choice, deadlines, and an audit trail the bar can verify.",
        lifespan=lifespan,
        # Served below from the package's files; ReDoc would load itself from a CDN.
        docs_url=None,
        redoc_url=None,
    )
    if runtime is not None:
        app.state.runtime = runtime
    # Event streams held open per token, in this process (api.streams).
    app.state.streams = StreamSlots(settings.event_streams_per_token)

    @app.exception_handler(DomainError)
    async def domain_error(request: Request, exc: DomainError) -> Response:
        if exc.status_code in ERROR_PAGES and wants_page(request):
            return await run_in_threadpool(error_page, request, exc.status_code, None)
        return JSONResponse({"detail": exc.detail}, status_code=exc.status_code)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        """A page's 403, 404, 405 or 410 is a page; the API's and every other stay as they were."""
        if exc.status_code in ERROR_PAGES and wants_page(request):
            headers = dict(exc.headers or {})
            return await run_in_threadpool(error_page, request, exc.status_code, headers)
        return await http_exception_handler(request, exc)

    @app.exception_handler(TooManyRequests)
    async def rate_limited(request: Request, exc: TooManyRequests) -> Response:
        return too_many(request, exc)

    @app.exception_handler(RequestValidationError)
    async def invalid_input(_: Request, exc: RequestValidationError) -> JSONResponse:
        return JSONResponse({"detail": validation_errors(exc.errors())}, status_code=422)

    # The address limits run inside the request context (whose log line counts the 429).
    app.add_middleware(AddressLimits)
    app.add_middleware(RequestContext)
    app.add_middleware(Utf8JsonBody)  # inside the size limit: a body too large is 413 first
    app.add_middleware(
        BodyLimit,
        max_bytes=settings.max_body_bytes,
        max_import_bytes=settings.max_import_bytes,
        import_path="/api/v1/registry/import",
    )
    app.add_middleware(ResponseHeaders)

    for module in (batch, requests, tablet, lawyers, registry, accountability, tokens, rotas):
        app.include_router(module.router)
    app.include_router(pages.router)
    app.include_router(answer_pages.router)
    app.include_router(bar_router)
    app.mount("/docs/static", StaticFiles(directory=SWAGGER_UI), name="swagger-ui")

    @app.get("/docs", include_in_schema=False, response_class=HTMLResponse)
    def docs() -> HTMLResponse:
        """The interactive API documentation, with nothing loaded from another host."""
        return HTMLResponse(DOCS_PAGE, headers=DOCS_HEADERS)

    app.include_router(public_pages.router)
    app.include_router(landing.router, include_in_schema=False)

    @app.get("/manifest.webmanifest", include_in_schema=False, response_model=WebManifest)
    def manifest(lang: str | None = None) -> JSONResponse:
        """The staff pages as an installable web app: the lawyer's phone opens its invitations.
        Named in the page's language (`?lang=`, as the pages link it)."""
        language = pick_language(lang)
        named = WEB_MANIFEST.model_copy(
            update={
                "lang": language,
                "name": gettext(language, "Counsel dispatcher"),
                "short_name": gettext(language, "Counsel"),
            }
        )
        return JSONResponse(named.model_dump(mode="json"), media_type="application/manifest+json")

    @app.get("/sw.js", include_in_schema=False)
    def service_worker() -> FileResponse:
        """The lawyer page's service worker, from the root so that it may serve every page."""
        return FileResponse(
            STATIC / "sw.js",
            media_type="text/javascript",
            headers={"Cache-Control": "no-cache", "X-Content-Type-Options": "nosniff"},
        )

    @app.get("/healthz", tags=["operations"])
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz", tags=["operations"])
    def readyz(request: Request) -> JSONResponse:
        rt: Runtime = request.app.state.runtime
        checks: dict[str, str] = {}
        try:
            with rt.engine.connect() as conn:
                conn.execute(text("SELECT 1"))
            checks["database"] = "ok"
        except Exception as exc:
            checks["database"] = f"error: {type(exc).__name__}"
        if rt.jobs is not None:
            # "standby": another process holds the scheduler; this one takes over if it dies.
            checks["scheduler"] = (
                ("active" if rt.jobs.active else "standby") if rt.jobs.running else "stopped"
            )
        degraded = False
        if rt.redis is None:
            checks["redis"] = "not configured"
        elif rt.redis.check():
            checks["redis"] = "ok"
        else:
            # Still serving: allocation needs only the database (see dispatcher.redis_link).
            checks["redis"] = "unavailable: no live events across workers, per-process limits"
            degraded = True
        ready = checks["database"] == "ok" and checks.get("scheduler") != "stopped"
        status = ("degraded" if degraded else "ready") if ready else "not ready"
        return JSONResponse({"status": status, "checks": checks}, status_code=200 if ready else 503)

    @app.get("/metrics", tags=["operations"], response_class=PlainTextResponse)
    def metrics(request: Request) -> Response:
        """Prometheus figures; with `DISPATCHER_METRICS_TOKEN` set, only for its bearer."""
        expected = settings.metrics_token
        if expected:
            given = request.headers.get("authorization", "")
            if not hmac.compare_digest(given.encode(), f"Bearer {expected}".encode()):
                raise HTTPException(
                    401, "metrics need their bearer token", headers={"WWW-Authenticate": "Bearer"}
                )
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    return app
