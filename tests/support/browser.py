"""What the browser tests share: the server they drive, screen checks with axe-core, and
browser contexts of a tablet's (or a phone's) size."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import uvicorn
from playwright.sync_api import Browser, BrowserContext, Page, ViewportSize

from api.main import create_app
from dispatcher.config import Settings
from dispatcher.runtime import Runtime
from tests.support import backends
from tests.support.clients import make_token
from tests.support.registries import load_registry

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
HERE = Path(__file__).resolve().parents[1] / "browser"
SCREENSHOTS = HERE / "screenshots"
AXE_SOURCE = (HERE / "vendor" / "axe.min.js").read_text(encoding="utf-8")
# The impacts that fail a screen; "minor" and "moderate" ones are reported, not failed.
FAILING_IMPACTS = ("serious", "critical")
TABLET = ViewportSize(width=1280, height=800)
PHONE = ViewportSize(width=390, height=844)


@dataclass
class Server:
    """The running application and what the tests need to act on it."""

    url: str
    runtime: Runtime
    investigator: str
    court: str
    lawyer_tokens: dict[str, str] = field(default_factory=dict)

    def api(self, token: str) -> httpx.Client:
        return httpx.Client(base_url=self.url, headers={"Authorization": f"Bearer {token}"})

    def lawyer_token(self, licence: str) -> str:
        if licence not in self.lawyer_tokens:
            self.lawyer_tokens[licence] = make_token(
                self.runtime, "lawyer", f"Lawyer {licence}", lawyer=licence
            )
        return self.lawyer_tokens[licence]

    def investigation(self, ref: str, language: str = "az") -> str:
        """Open an investigation request through the JSON API; its id."""
        body = {
            "external_ref": ref,
            "kind": "investigation",
            "case_number": f"1(101)-{ref}/2026",
            "territory": "CEN",
            "urgency": "detention",
            "category": "grave",
            "person": {"name": f"Person {ref}", "language": language},
        }
        with self.api(self.investigator) as client:
            created = client.post("/api/v1/requests", json=body)
        assert created.status_code == 201, created.text
        return str(created.json()["id"])

    def tablet_path(self, request_id: str) -> str:
        """A new tablet session for the request; the tablet page's path."""
        with self.api(self.investigator) as client:
            opened = client.post(f"/api/v1/requests/{request_id}/choice-sessions")
        assert opened.status_code == 201, opened.text
        return str(opened.json()["url"])

    def request(self, request_id: str) -> dict[str, Any]:
        with self.api(self.investigator) as client:
            shown = client.get(f"/api/v1/requests/{request_id}")
        assert shown.status_code == 200
        result: dict[str, Any] = shown.json()
        return result


class Screens:
    """Photographs each screen and checks it with axe-core; keeps the findings by screen."""

    def __init__(self, module: str) -> None:
        self.module = module
        self.findings: dict[str, dict[str, list[str]]] = {}
        SCREENSHOTS.mkdir(exist_ok=True)

    def check(self, page: Page, name: str) -> dict[str, list[str]]:
        """Screenshot `page` as `name`, run axe on it; fail on serious or critical findings."""
        page.wait_for_load_state("load")
        page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)
        if not page.evaluate("() => typeof window.axe === 'object'"):
            # Evaluated through the debugging protocol, so the pages' strict CSP stays on.
            page.evaluate(AXE_SOURCE + "\n;undefined")
        violations: list[dict[str, Any]] = page.evaluate(
            """async () => (await axe.run(document, {resultTypes: ["violations"]})).violations
                .map(v => ({id: v.id, impact: v.impact, nodes: v.nodes.length}))"""
        )
        by_impact: dict[str, list[str]] = {}
        for violation in violations:
            by_impact.setdefault(violation["impact"] or "unknown", []).append(
                f"{violation['id']} ({violation['nodes']})"
            )
        self.findings[name] = by_impact
        failing = {impact: by_impact[impact] for impact in FAILING_IMPACTS if impact in by_impact}
        assert failing == {}, f"{name}: accessibility violations {failing}"
        return by_impact

    def save(self) -> None:
        report = SCREENSHOTS / f"accessibility-{self.module}.json"
        report.write_text(json.dumps(self.findings, indent=2, sort_keys=True), encoding="utf-8")


def new_context(
    browser: Browser, server: Server, *, phone: bool = False, locale: str = "en-GB"
) -> BrowserContext:
    """A fresh browser profile at the size of a 10-inch tablet (or a phone), touch enabled."""
    context = browser.new_context(
        base_url=server.url,
        viewport=PHONE if phone else TABLET,
        has_touch=True,
        is_mobile=phone,
        locale=locale,
    )
    context.set_default_timeout(10_000)
    return context


def csp_guard(page: Page) -> list[str]:
    """Collect what the pages' Content-Security-Policy refused (there should be nothing)."""
    refused: list[str] = []
    page.on(
        "console",
        lambda message: (
            refused.append(message.text) if "Content Security Policy" in message.text else None
        ),
    )
    return refused


@contextmanager
def serving(database: Path, registry: dict[str, Any], **settings: Any) -> Iterator[Server]:
    """The application on a free loopback port, on the database standing for the file
    `database` with `registry` loaded, its public URL its own address; `settings` replace
    fields (the scheduler is off: tests deliver and expire when they choose)."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    url = f"http://127.0.0.1:{listener.getsockname()[1]}"
    values: dict[str, Any] = {
        "database_url": backends.database_url(database),
        "redis_url": backends.REDIS_URL,
        "scheduler": False,
        "log_level": "WARNING",
        "public_url": url,
    }
    runtime = Runtime.build(Settings(**(values | settings)))
    load_registry(runtime, registry)
    config = uvicorn.Config(
        create_app(runtime=runtime), log_level="warning", access_log=False, lifespan="on"
    )
    uvicorn_server = uvicorn.Server(config)
    thread = threading.Thread(target=uvicorn_server.run, kwargs={"sockets": [listener]})
    thread.start()
    deadline = time.monotonic() + 15
    while not uvicorn_server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "the server did not start"
        time.sleep(0.02)
    try:
        yield Server(
            url=url,
            runtime=runtime,
            investigator=make_token(runtime, "investigator", "Police One", territory="CEN"),
            court=make_token(runtime, "court", "Court One", territory="CEN"),
        )
    finally:
        uvicorn_server.should_exit = True
        thread.join(15)
        listener.close()
        runtime.stop()
