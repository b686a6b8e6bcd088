"""Limits beyond the JSON API: signed-in pages and the costly exports per token, sign-in and
unknown link tokens per client address, and a few event streams per token; each answers 429
with Retry-After (a readable page where a person is reading)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from api.main import create_app
from api.pages.rendering import DEFAULT_LANGUAGE, gettext
from dispatcher.config import Settings
from dispatcher.runtime import Runtime
from tests.api.test_pages import BASE, Page, investigation, tablet_token
from tests.support.browser import serving
from tests.support.channels import RecordingChannel
from tests.support.clients import Api, make_token
from tests.support.registries import load_registry, small_registry

LIMITS = {
    "rate_limit_per_minute": 8,
    "export_rate_limit_per_minute": 2,
    "login_rate_limit_per_minute": 4,
    "unknown_link_rate_limit_per_minute": 3,
}


@pytest.fixture
def limited(settings: Settings, channel: RecordingChannel) -> Iterator[Api]:
    runtime = Runtime.build(settings.model_copy(update=LIMITS), channel=channel)
    load_registry(runtime, small_registry())
    try:
        with TestClient(create_app(runtime=runtime)) as client:
            yield Api(client, runtime, "CEN")
    finally:
        runtime.stop()


def assert_refused_page(answer: httpx.Response, language: str = DEFAULT_LANGUAGE) -> None:
    assert answer.status_code == 429
    assert 0 < int(answer.headers["retry-after"]) <= 60
    assert answer.headers["content-type"].startswith("text/html")
    assert gettext(language, "Too many requests") in answer.text


def test_signed_in_pages_count_against_the_token(limited: Api) -> None:
    page = Page(limited, limited.tokens["investigator"])
    answers = [
        page.get("/investigator").status_code for _ in range(LIMITS["rate_limit_per_minute"])
    ]
    assert answers == [200] * LIMITS["rate_limit_per_minute"]
    refused = page.get("/investigator", lang="ru")
    assert_refused_page(refused, "ru")
    assert gettext("ru", "Too many requests") != "Too many requests"
    # The same token's API calls share the minute: the limit is the token's, not the page's.
    assert limited.get("/api/v1/requests", "investigator").status_code == 429
    # Another token is not affected.
    assert Page(limited, limited.tokens["bar"]).get("/bar").status_code == 200


def test_exports_have_a_lower_limit_of_their_own(limited: Api) -> None:
    page = Page(limited, limited.tokens["bar"])
    export = "/bar/report.html"
    for _ in range(LIMITS["export_rate_limit_per_minute"]):
        assert page.get(export, territory="CEN").status_code == 200
    assert_refused_page(page.get(export, territory="CEN"))
    assert page.get("/bar/report.pdf", territory="CEN").status_code == 429
    # The dashboard itself still answers: only the exports are used up.
    assert page.get("/bar", territory="CEN").status_code == 200


def test_sign_in_attempts_are_limited_per_address(limited: Api) -> None:
    client = httpx.Client(transport=limited.client._transport, base_url=BASE)
    for _ in range(LIMITS["login_rate_limit_per_minute"]):
        assert client.post("/login", data={"token": "guess"}).status_code == 401
    refused = client.post("/login", data={"token": limited.tokens["bar"]})
    assert_refused_page(refused)
    assert "dispatcher_session" not in refused.cookies
    # Reading the sign-in form is not an attempt.
    assert client.get("/login").status_code == 200


def test_unknown_link_tokens_are_limited_per_address(limited: Api) -> None:
    request_id = investigation(limited, "LIM-1")
    token = tablet_token(limited, request_id)
    # Known tokens cost nothing, however often the tablet reloads.
    for _ in range(10):
        assert limited.client.get(f"/tablet/{token}").status_code == 200
    for guess in range(LIMITS["unknown_link_rate_limit_per_minute"]):
        assert limited.client.get(f"/tablet/guess-{guess}").status_code == 404
    assert_refused_page(limited.client.get(f"/tablet/{token}"))
    api_refused = limited.client.get(f"/api/v1/tablet/{token}")
    assert api_refused.status_code == 429
    assert api_refused.json()["detail"].startswith("more than 3 unknown links")
    assert int(api_refused.headers["retry-after"]) > 0
    assert limited.client.get("/answer/guess").status_code == 429


# --- event streams, against a real server (a stream must really stay open) --------------------


Stream = tuple[httpx.Client, httpx.Response, Iterator[str]]


def open_stream(url: str, token: str) -> Stream:
    """A stream as a browser holds it (its line iterator is kept: dropping it hangs up)."""
    client = httpx.Client(headers={"Authorization": f"Bearer {token}"}, timeout=10)
    response = client.send(client.build_request("GET", url), stream=True)
    return client, response, response.iter_lines()


def close(stream: Stream) -> None:
    client, response, _ = stream
    response.close()
    client.close()


@pytest.fixture
def streams_server(tmp_path: Path) -> Iterator[Any]:
    with serving(tmp_path / "dispatcher.db", small_registry(), event_streams_per_token=3) as server:
        yield server


def test_a_token_holds_only_a_few_event_streams_and_a_closed_one_frees_its_place(
    streams_server: Any,
) -> None:
    server = streams_server
    with server.api(server.investigator) as api:
        body = {
            "external_ref": "LIM-STREAM",
            "kind": "investigation",
            "case_number": "1(101)-LIM-STREAM/2026",
            "territory": "CEN",
            "urgency": "standard",
            "category": "grave",
            "person": {"name": "Person LIM", "language": "az", "juvenile": False},
        }
        created = api.post("/api/v1/requests", json=body)
        assert created.status_code == 201, created.text
        events = f"{server.url}/api/v1/requests/{created.json()['id']}/events"
    held = [open_stream(events, server.investigator) for _ in range(3)]
    try:
        for _, response, lines in held:
            assert response.status_code == 200
            assert next(lines).startswith("event: request")
        refused = open_stream(events, server.investigator)
        assert refused[1].status_code == 429
        assert int(refused[1].headers["retry-after"]) > 0
        close(refused)
        # Still full: a refused stream took no place.
        again = open_stream(events, server.investigator)
        assert again[1].status_code == 429
        close(again)
        # Another token has places of its own.
        other = open_stream(events, make_token(server.runtime, "bar"))
        assert other[1].status_code == 200
        close(other)
        # Closing one stream gives its place back (the server notices the closed connection).
        close(held.pop())
        reopened = wait_for_place(events, server.investigator)
        assert reopened is not None, "a closed stream's place was never given back"
        held.append(reopened)
    finally:
        for stream in held:
            close(stream)


def wait_for_place(url: str, token: str) -> Stream | None:
    pause = threading.Event()
    for _ in range(100):
        stream = open_stream(url, token)
        if stream[1].status_code == 200:
            return stream
        close(stream)
        pause.wait(0.1)
    return None
