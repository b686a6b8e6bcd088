"""The bar's dashboard in Chromium: sign in, read the plots and tables, follow a flagged pair
to the audit events of a request, choose a territory and a window, download a CSV."""

from __future__ import annotations

import re
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import uvicorn
from playwright.sync_api import Browser, Page, expect, sync_playwright

from api.main import create_app
from dispatcher.config import Settings
from dispatcher.runtime import Runtime
from tests.dispatcher.test_flags import STEERED_LAWYER, history
from tests.support import backends
from tests.support.clients import make_token
from tests.support.registries import load_registry, small_registry

CHROMIUM = Path("/usr/bin/chromium")


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    """The application on a loopback port with a steered history; (base URL, bar token)."""
    settings = Settings(
        database_url=backends.database_url(tmp_path_factory.mktemp("bar") / "bar.db"),
        redis_url=backends.REDIS_URL,
        scheduler=False,
        log_level="WARNING",
    )
    runtime = Runtime.build(settings)
    load_registry(runtime, small_registry())
    history(runtime, steer=True)
    bar = make_token(runtime, "bar", "Bar reviewer")
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    server = uvicorn.Server(
        uvicorn.Config(create_app(runtime=runtime), log_level="warning", access_log=False)
    )
    thread = threading.Thread(target=server.run, kwargs={"sockets": [listener]})
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "the server did not start"
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}", bar
    finally:
        server.should_exit = True
        thread.join(15)
        listener.close()
        runtime.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    assert CHROMIUM.exists(), f"{CHROMIUM} is missing: the dashboard test drives Chromium"
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=["--no-sandbox", "--disable-gpu"]
        )
        try:
            yield launched
        finally:
            launched.close()


def test_a_reviewer_reads_the_dashboard_and_follows_a_flag(
    site: tuple[str, str], browser: Browser
) -> None:
    base, token = site
    context = browser.new_context(base_url=base, accept_downloads=True)
    context.set_default_timeout(10_000)
    page: Page = context.new_page()
    refused: list[str] = []
    page.on("console", lambda m: refused.append(m.text) if "Security Policy" in m.text else None)

    page.goto("/bar")
    expect(page).to_have_url(re.compile(r"/login\?next=%2Fbar$"))
    page.locator("input[name=token]").fill(token)
    page.locator("form button[type=submit], form input[type=submit]").first.click()
    expect(page).to_have_url(re.compile(r"/bar$"))
    page.goto("/bar?territory=CEN&lang=en")
    expect(page.locator("h1")).to_contain_text("CEN")
    expect(page.locator(".plot img")).to_have_count(2)
    # Every plot was drawn with content, not an empty frame.
    assert all(
        box and box["height"] > 100
        for box in page.locator(".plot img").evaluate_all(
            "els => els.map(e => e.getBoundingClientRect().toJSON())"
        )
    )
    flagged = page.locator("tr.status-bad", has_text=STEERED_LAWYER)
    expect(flagged).to_have_count(1)
    expect(flagged).to_contain_text("Police A")

    flagged.get_by_role("link", name="Requests and audit record").click()
    expect(page.locator("h1")).to_have_text(f"Police A → {STEERED_LAWYER}")
    page.locator("main li a").first.click()
    expect(page.locator("h1")).to_contain_text("The audit record of request")
    expect(page.locator("table")).to_contain_text("choice.recorded")
    expect(page.locator("pre")).to_contain_text('"kind": "choice"')

    page.goto("/bar?lang=en")
    page.locator("select[name=territory]").select_option("NOR")
    page.locator("select[name=window]").select_option("90")
    page.get_by_role("button", name="Show").click()
    expect(page).to_have_url(re.compile(r"territory=NOR.*window=90"))
    expect(page.locator("h1")).to_contain_text("NOR")
    with page.expect_download() as download:
        page.get_by_role("link", name="Firms as CSV").click()
    saved = Path(download.value.path())
    assert saved.read_text("utf-8").startswith("firm,")  # the firms table
    assert download.value.suggested_filename == "firms-NOR.csv"
    assert refused == []
    context.close()
