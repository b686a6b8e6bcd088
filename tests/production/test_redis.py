"""Redis where it earns its place, and the service without it.

These tests need a Redis server (./scripts/test starts one); the degraded ones point at a port
where nothing listens.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis
from fastapi.testclient import TestClient

from api.main import create_app
from dispatcher.config import Settings
from dispatcher.runtime import Runtime
from dispatcher.tokens import hash_token
from tests.support import backends
from tests.support.channels import RecordingChannel
from tests.support.clients import Api
from tests.support.registries import load_registry, small_registry
from tests.support.servers import free_port, serving

# Every test here needs the Redis server ./scripts/test starts (--quick starts none).
pytestmark = pytest.mark.redis


@pytest.fixture(scope="module")
def redis_url() -> str:
    return backends.required("DISPATCHER_TEST_REDIS_SERVER", "a Redis server")


def runtime_with(tmp_path: Path, redis_url: str | None, **over: Any) -> Runtime:
    settings = Settings(
        database_url=backends.database_url(tmp_path / "redis.db"),
        redis_url=redis_url,
        scheduler=False,
        log_level="WARNING",
        **over,
    )
    return Runtime.build(settings, channel=RecordingChannel())


@pytest.fixture
def shared(tmp_path: Path, redis_url: str) -> Iterator[tuple[Api, Api]]:
    """Two API processes' worth of runtime on one database and one Redis."""
    redis.Redis.from_url(redis_url).flushdb()
    first = runtime_with(tmp_path, redis_url, rate_limit_per_minute=6)
    second = runtime_with(tmp_path, redis_url, rate_limit_per_minute=6)
    try:
        load_registry(first, small_registry())
        with (
            TestClient(create_app(runtime=first)) as one,
            TestClient(create_app(runtime=second)) as two,
        ):
            a = Api(one, first, "CEN")
            b = Api(two, second, "CEN")
            b.tokens = a.tokens
            yield a, b
    finally:
        first.stop()
        second.stop()


def test_the_rate_limit_counts_across_workers(shared: tuple[Api, Api]) -> None:
    a, b = shared
    answers = [(a if i % 2 else b).get("/api/v1/requests", "court").status_code for i in range(6)]
    assert answers == [200] * 6
    refused = a.get("/api/v1/requests", "court")
    assert refused.status_code == 429
    assert refused.headers["Retry-After"] == "60"
    assert b.get("/api/v1/requests", "court").status_code == 429
    # Another token has its own minute.
    assert a.get("/api/v1/requests", "investigator").status_code == 200


def test_a_tablet_list_is_cached_briefly_and_dropped_once_spent(
    shared: tuple[Api, Api], redis_url: str
) -> None:
    a, b = shared
    opened = a.post("/api/v1/requests", "investigator", a.order("T-1", kind="investigation")).json()
    token = a.post(f"/api/v1/requests/{opened['id']}/choice-sessions", "investigator").json()[
        "token"
    ]
    first = a.get(f"/api/v1/tablet/{token}", None)
    assert first.status_code == 200
    key = f"dispatcher:tablet:{hash_token(token)}"
    cached: Any = redis.Redis.from_url(redis_url).get(key)
    assert cached is not None and json.loads(cached) == first.json()
    assert b.get(f"/api/v1/tablet/{token}", None).json() == first.json()
    chose = b.post(f"/api/v1/tablet/{token}/choice", None, {"delegate": True})
    assert chose.status_code == 200
    assert redis.Redis.from_url(redis_url).get(key) is None
    assert a.get(f"/api/v1/tablet/{token}", None).status_code == 410


def test_without_redis_the_service_keeps_allocating_and_says_it_is_degraded(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    dead = f"redis://127.0.0.1:{free_port()}/0"
    rt = runtime_with(tmp_path, dead, rate_limit_per_minute=3)
    load_registry(rt, small_registry())
    with TestClient(create_app(runtime=rt)) as client:
        api = Api(client, rt, "CEN")
        made = [api.post("/api/v1/requests", "court", api.order(f"D-{i}")) for i in range(3)]
        assert [r.status_code for r in made] == [201, 201, 201]
        assert all(r.json()["invitation"] is not None for r in made)
        # The per-process limit still holds.
        assert api.post("/api/v1/requests", "court", api.order("D-9")).status_code == 429
        ready = client.get("/readyz")
        assert ready.status_code == 200
        assert ready.json()["status"] == "degraded"
        assert ready.json()["checks"]["redis"].startswith("unavailable")
        opened = api.post(
            "/api/v1/requests", "investigator", api.order("D-T", kind="investigation")
        ).json()
        token = api.post(f"/api/v1/requests/{opened['id']}/choice-sessions", "investigator")
        assert api.get(f"/api/v1/tablet/{token.json()['token']}", None).status_code == 200
    assert "redis.unavailable" in capsys.readouterr().err
    rt.stop()


def read_events(
    url: str, headers: dict[str, str], seen: list[dict[str, Any]], stop: threading.Event
) -> None:
    with httpx.stream("GET", url, headers=headers, timeout=30) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        for line in response.iter_lines():
            if line.startswith("data:"):
                seen.append(json.loads(line.removeprefix("data:").strip()))
            if stop.is_set():
                return


def wait_for(seen: list[dict[str, Any]], status: str, timeout_s: float) -> float:
    started = time.monotonic()
    while time.monotonic() - started < timeout_s:
        if any(e["status"] == status for e in seen):
            return time.monotonic() - started
        time.sleep(0.02)
    raise AssertionError(f"no {status} event within {timeout_s} s; saw {seen}")


def test_a_follower_on_one_worker_hears_a_change_made_on_another(
    shared: tuple[Api, Api],
) -> None:
    a, b = shared
    opened = a.post("/api/v1/requests", "investigator", a.order("E-1", kind="investigation")).json()
    with serving(create_app(runtime=a.rt)) as base:
        seen: list[dict[str, Any]] = []
        stop = threading.Event()
        reader = threading.Thread(
            target=read_events,
            args=(f"{base}/api/v1/requests/{opened['id']}/events", a.auth("investigator"), seen),
            kwargs={"stop": stop},
            daemon=True,
        )
        reader.start()
        wait_for(seen, "awaiting_choice", 10)
        # The change happens in the other "worker": only Redis can carry it across in time
        # (the stream re-reads on its own only every 15 s).
        token = b.post(f"/api/v1/requests/{opened['id']}/choice-sessions", "investigator")
        chose = b.post(f"/api/v1/tablet/{token.json()['token']}/choice", None, {"delegate": True})
        assert chose.json()["status"] == "inviting"
        assert wait_for(seen, "inviting", 10) < 10
        invitation = chose.json()["invitation"]
        b.post(f"/api/v1/invitations/{invitation['id']}/accept", invitation["lawyer"])
        wait_for(seen, "assigned", 10)
        stop.set()
        reader.join(timeout=5)
    assert seen[0]["id"] == opened["id"]


def test_events_need_a_token_and_answer_only_for_ones_own_requests(
    shared: tuple[Api, Api],
) -> None:
    a, _ = shared
    opened = a.post("/api/v1/requests", "court", a.order("E-2")).json()
    url = f"/api/v1/requests/{opened['id']}/events"
    assert a.client.get(url).status_code == 401
    assert a.get(url, "investigator").status_code == 404
    assert a.get(url, "L-11").status_code == 403


def test_a_superseded_or_cancelled_tablet_is_not_served_from_the_cache(
    shared: tuple[Api, Api], redis_url: str
) -> None:
    a, b = shared
    opened = a.post("/api/v1/requests", "investigator", a.order("T-2", kind="investigation")).json()
    sessions = f"/api/v1/requests/{opened['id']}/choice-sessions"
    first = a.post(sessions, "investigator").json()["token"]
    assert a.get(f"/api/v1/tablet/{first}", None).status_code == 200  # now cached
    second = b.post(sessions, "investigator").json()["token"]
    assert a.get(f"/api/v1/tablet/{first}", None).status_code == 410
    assert a.get(f"/api/v1/tablet/{second}", None).status_code == 200  # cached in turn
    b.post(f"/api/v1/requests/{opened['id']}/cancel", "investigator")
    assert a.get(f"/api/v1/tablet/{second}", None).status_code == 410
    assert redis.Redis.from_url(redis_url).keys("dispatcher:tablet:*") == []
