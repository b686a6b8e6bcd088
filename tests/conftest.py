"""Shared fixtures: a real database per test (a SQLite file, or PostgreSQL: see
tests/support/backends.py), a small registry and an API client. Helpers live in tests/support."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from api.main import create_app
from dispatcher.config import Settings
from dispatcher.runtime import Runtime
from tests.support import backends
from tests.support.channels import RecordingChannel
from tests.support.clients import Api
from tests.support.registries import load_registry, small_registry

# A test process starts hundreds of services: none reads the whole registry at start, and none
# freezes the test process's objects out of the collector (tests/dispatcher/test_registry_cache
# starts one that does). Servers the tests spawn inherit this too.
os.environ.setdefault("DISPATCHER_PRIME_REGISTRY", "false")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark `browser` every test that drives Chromium: those under tests/browser and in modules
    named *_browser (so that ./scripts/test --quick can leave them out)."""
    for item in items:
        if item.path.parent.name == "browser" or item.path.stem.endswith("_browser"):
            item.add_marker(pytest.mark.browser)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(
        database_url=backends.database_url(tmp_path / "dispatcher.db"),
        redis_url=backends.REDIS_URL,
        scheduler=False,
        log_level="WARNING",
        data_dir=str(tmp_path / "uploads"),
    )


@pytest.fixture
def channel() -> RecordingChannel:
    return RecordingChannel()


@pytest.fixture
def runtime(settings: Settings, channel: RecordingChannel) -> Iterator[Runtime]:
    rt = Runtime.build(settings, channel=channel)
    yield rt
    rt.stop()


@pytest.fixture
def small(runtime: Runtime) -> Runtime:
    load_registry(runtime, small_registry())
    return runtime


@pytest.fixture
def api(small: Runtime) -> Iterator[Api]:
    with TestClient(create_app(runtime=small)) as client:
        yield Api(client, small, "CEN")
