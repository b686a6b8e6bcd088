"""Browser tests: the real application on a loopback port, driven in Debian's Chromium.

One server and one browser per module; each test opens its own browser contexts. Every screen
is photographed into `screenshots/` (kept out of git) and checked with axe-core.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator

import pytest
import uvicorn
from playwright.sync_api import Browser, sync_playwright

from api.main import create_app
from dispatcher.config import Settings
from dispatcher.runtime import Runtime
from tests.support import backends
from tests.support.browser import CHROMIUM, CHROMIUM_ARGS, Screens, Server
from tests.support.clients import make_token
from tests.support.registries import load_registry, small_registry


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    path = tmp_path_factory.mktemp("browser") / "dispatcher.db"
    settings = Settings(
        database_url=backends.database_url(path),
        redis_url=backends.REDIS_URL,
        scheduler=False,
        log_level="WARNING",
    )
    runtime = Runtime.build(settings)
    load_registry(runtime, small_registry())
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    port = listener.getsockname()[1]
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
            url=f"http://127.0.0.1:{port}",
            runtime=runtime,
            investigator=make_token(runtime, "investigator", "Police One", territory="CEN"),
            court=make_token(runtime, "court", "Court One", territory="CEN"),
        )
    finally:
        uvicorn_server.should_exit = True
        thread.join(15)
        listener.close()
        runtime.stop()


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
