"""Browser tests: the real application on a loopback port, driven in Debian's Chromium.

One server and one browser per module; each test opens its own browser contexts. Every screen
is photographed into `screenshots/` (kept out of git) and checked with axe-core.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, sync_playwright

from tests.support.browser import CHROMIUM, CHROMIUM_ARGS, Screens, Server, serving
from tests.support.registries import small_registry


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with serving(tmp_path_factory.mktemp("browser") / "dispatcher.db", small_registry()) as running:
        yield running


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not CHROMIUM.exists():
        pytest.fail(
            f"{CHROMIUM} is missing: the browser tests drive Debian's Chromium "
            "(apt-get install chromium; ./scripts/test installs it where it can)"
        )
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture(scope="module")
def screens(request: pytest.FixtureRequest) -> Iterator[Screens]:
    found = Screens(request.module.__name__.rsplit(".", 1)[-1])
    yield found
    found.save()
