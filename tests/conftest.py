"""Shared fixtures: a real database per test (a SQLite file, or PostgreSQL: see backends.py),
a small registry, tokens and an API client."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from api.main import create_app
from dispatcher import registry, tokens
from dispatcher.config import Settings
from dispatcher.db import unit_of_work
from dispatcher.outbox import NotificationChannel
from dispatcher.runtime import Runtime
from tests import backends

# A test process starts hundreds of services: none reads the whole registry at start, and none
# freezes the test process's objects out of the collector (tests/dispatcher/test_registry_cache
# starts one that does). Servers the tests spawn inherit this too.
os.environ.setdefault("DISPATCHER_PRIME_REGISTRY", "false")

ROOT = Path(__file__).resolve().parents[1]
DEMO_REGISTRY = ROOT / "data" / "registry.json"


class RecordingChannel:
    """A notification channel that keeps what it was asked to send."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, dict[str, Any]]] = []

    def send(self, lawyer: str, message: dict[str, Any]) -> None:
        self.sent.append((lawyer, message))


def small_registry() -> dict[str, Any]:
    """Two territories, three firms (weights 3, 2, 1 in CEN), a conflict, a juvenile lawyer."""
    return {
        "territories": [
            {
                "code": "CEN",
                "name": {"az": "Mərkəz", "ru": "Центр", "en": "Centre"},
                "fallback": ["NOR"],
            },
            {"code": "NOR", "name": {"az": "Şimal", "ru": "Север", "en": "North"}, "fallback": []},
        ],
        "firms": [
            {"code": "F1", "name": "First Bureau", "territories": ["CEN"], "status": "active"},
            {"code": "F2", "name": "Second Bureau", "territories": ["CEN"], "status": "active"},
            {
                "code": "F3",
                "name": "Third Bureau",
                "territories": ["CEN", "NOR"],
                "status": "active",
            },
        ],
        "lawyers": [
            {
                "licence": "L-11",
                "name": "Aysel Məmmədova",
                "firm": "F1",
                "territories": ["CEN"],
                "languages": ["az", "ru"],
                "specialisations": ["juvenile"],
                "max_open": 3,
            },
            {
                "licence": "L-12",
                "name": "Elvin Quliyev",
                "firm": "F1",
                "territories": ["CEN"],
                "languages": ["az"],
                "max_open": 3,
            },
            {
                "licence": "L-13",
                "name": "Rəşad Əliyev",
                "firm": "F1",
                "territories": ["CEN"],
                "languages": ["az", "en"],
                "max_open": 3,
            },
            {
                "licence": "L-21",
                "name": "Günel Hüseynova",
                "firm": "F2",
                "territories": ["CEN"],
                "languages": ["az", "ru"],
                "max_open": 3,
            },
            {
                "licence": "L-22",
                "name": "Tural Həsənov",
                "firm": "F2",
                "territories": ["CEN"],
                "languages": ["az"],
                "max_open": 3,
            },
            {
                "licence": "L-31",
                "name": "Irina Petrova",
                "firm": "F3",
                "territories": ["CEN", "NOR"],
                "languages": ["az", "ru"],
                "max_open": 3,
            },
        ],
        "conflicts": [
            {"lawyer": "L-22", "case_number": "1(101)-77/2026", "role": "victim_counsel"}
        ],
    }


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(
        database_url=backends.database_url(tmp_path / "dispatcher.db"),
        redis_url=backends.REDIS_URL,
        scheduler=False,
        log_level="WARNING",
    )


@pytest.fixture
def channel() -> RecordingChannel:
    return RecordingChannel()


@pytest.fixture
def runtime(settings: Settings, channel: RecordingChannel) -> Iterator[Runtime]:
    rt = Runtime.build(settings, channel=channel)
    yield rt
    rt.stop()


def load_registry(rt: Runtime, data: dict[str, Any]) -> None:
    with unit_of_work(rt.engine) as session:
        registry.import_registry(session, registry.RegistryFile.model_validate(data), actor="test")


@pytest.fixture
def small(runtime: Runtime) -> Runtime:
    load_registry(runtime, small_registry())
    return runtime


def make_token(rt: Runtime, role: str, name: str | None = None, **kw: Any) -> str:
    with unit_of_work(rt.engine) as session:
        return tokens.create_token(session, role=role, name=name or f"{role} one", **kw)


class Api:
    """A test client holding a token per role."""

    def __init__(self, client: TestClient, rt: Runtime, territory: str) -> None:
        self.client = client
        self.rt = rt
        self.tokens = {
            "admin": make_token(rt, "admin"),
            "bar": make_token(rt, "bar"),
            "court": make_token(rt, "court", "Court One", territory=territory),
            "investigator": make_token(rt, "investigator", "Police One", territory=territory),
        }
        self._lawyers: dict[str, str] = {}

    def auth(self, role_or_licence: str) -> dict[str, str]:
        if role_or_licence in self.tokens:
            return {"Authorization": f"Bearer {self.tokens[role_or_licence]}"}
        if role_or_licence not in self._lawyers:
            self._lawyers[role_or_licence] = make_token(
                self.rt, "lawyer", f"lawyer {role_or_licence}", lawyer=role_or_licence
            )
        return {"Authorization": f"Bearer {self._lawyers[role_or_licence]}"}

    def post(self, path: str, who: str | None, body: Any = None) -> httpx.Response:
        response: httpx.Response = self.client.post(
            path, json=body, headers=self.auth(who) if who else {}
        )
        return response

    def get(self, path: str, who: str | None, **params: Any) -> httpx.Response:
        response: httpx.Response = self.client.get(
            path, params=params, headers=self.auth(who) if who else {}
        )
        return response

    def order(self, ref: str, **over: Any) -> dict[str, Any]:
        body: dict[str, Any] = {
            "external_ref": ref,
            "kind": "court_order",
            "case_number": f"1(101)-{ref}/2026",
            "territory": "CEN",
            "urgency": "standard",
            "category": "grave",
            "person": {"name": f"Person {ref}", "language": "az", "juvenile": False},
        }
        body.update(over)
        return body


@pytest.fixture
def api(small: Runtime) -> Iterator[Api]:
    with TestClient(create_app(runtime=small)) as client:
        yield Api(client, small, "CEN")


def demo_registry() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(DEMO_REGISTRY.read_text(encoding="utf-8"))
    return data


__all__ = [
    "Api",
    "NotificationChannel",
    "RecordingChannel",
    "demo_registry",
    "load_registry",
    "make_token",
    "small_registry",
]
