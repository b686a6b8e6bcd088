"""Tokens over HTTP: the admin's /api/v1/tokens, revocation on the next request (also in
another server process on the same database), and the pages' server-side sessions."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
from sqlmodel import select

from api.deps import PAGE_COOKIE
from dispatcher import tokens
from dispatcher.config import Settings
from dispatcher.db import unit_of_work
from dispatcher.models import ApiToken, PageSession
from dispatcher.runtime import Runtime
from tests.api.test_pages import Page
from tests.support.clients import Api
from tests.support.registries import load_registry, small_registry
from tests.support.servers import free_port, wait_until_up

LISTED = {"id", "role", "name", "scope", "created_at", "expires_at", "last_used_at", "revoked_at"}


def test_only_the_admin_reads_creates_and_revokes_tokens(api: Api) -> None:
    body = {"role": "bar", "name": "New reviewer"}
    for who in ("bar", "court", "investigator", "L-11"):
        assert api.get("/api/v1/tokens", who).status_code == 403
        assert api.post("/api/v1/tokens", who, body).status_code == 403
        assert api.post("/api/v1/tokens/1/revoke", who).status_code == 403
    assert api.get("/api/v1/tokens", None).status_code == 401
    assert api.post("/api/v1/tokens", None, body).status_code == 401
    assert api.post("/api/v1/tokens/1/revoke", None).status_code == 401
    with unit_of_work(api.rt.engine) as session:
        assert session.exec(select(ApiToken).where(ApiToken.name == "New reviewer")).first() is None
        assert all(t.revoked_at is None for t in tokens.list_tokens(session))


def test_the_admin_creates_a_token_that_is_shown_once_and_works(api: Api) -> None:
    made = api.post(
        "/api/v1/tokens",
        "admin",
        {"role": "court", "name": "Court Two", "territories": ["CEN"], "expires_in": "90d"},
    )
    assert made.status_code == 201, made.text
    assert made.headers["cache-control"] == "no-store"
    out = made.json()
    assert set(out) == LISTED | {"token"}
    assert out["scope"] == "CEN" and out["expires_at"] and out["revoked_at"] is None
    token = out["token"]
    mine = api.client.get("/api/v1/requests", headers={"Authorization": f"Bearer {token}"})
    assert mine.status_code == 200
    listed = api.get("/api/v1/tokens", "admin")
    assert listed.status_code == 200
    assert token not in listed.text and tokens.hash_token(token) not in listed.text
    assert all(set(t) == LISTED for t in listed.json())
    row = next(t for t in listed.json() if t["id"] == out["id"])
    assert row["last_used_at"] is not None  # the request above used it


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"role": "bar", "name": "x", "expires_in": "ninety days"}, "expires_in"),
        ({"role": "bar", "name": "x", "expires_in": "0h"}, "expires_in"),
        ({"role": "king", "name": "x"}, "role"),
        ({"role": "court", "name": "x"}, "territory"),
        ({"role": "lawyer", "name": "x", "lawyer": "NOPE"}, "lawyer"),
        ({"role": "bar", "name": ""}, "name"),
    ],
)
def test_a_bad_token_body_is_422_naming_the_field_and_writes_nothing(
    api: Api, body: dict[str, str], field: str
) -> None:
    before = len(api.get("/api/v1/tokens", "admin").json())
    refused = api.post("/api/v1/tokens", "admin", body)
    assert refused.status_code == 422, refused.text
    assert refused.json()["detail"][0]["loc"][-1] == field
    assert len(api.get("/api/v1/tokens", "admin").json()) == before


def test_a_revoked_token_is_refused_on_the_next_request(api: Api) -> None:
    assert api.get("/api/v1/requests", "court").status_code == 200
    court_id = next(
        t["id"] for t in api.get("/api/v1/tokens", "admin").json() if t["role"] == "court"
    )
    revoked = api.post(f"/api/v1/tokens/{court_id}/revoke", "admin")
    assert revoked.status_code == 200, revoked.text
    assert set(revoked.json()) == LISTED and revoked.json()["revoked_at"] is not None
    assert api.get("/api/v1/requests", "court").status_code == 401
    assert api.post("/api/v1/tokens/999999/revoke", "admin").status_code == 404
    assert api.post(f"/api/v1/tokens/{2**40}/revoke", "admin").status_code == 422


def test_the_page_cookie_is_a_session_that_logout_ends(api: Api) -> None:
    token = api.tokens["investigator"]
    page = Page(api, token)
    cookie = page.client.cookies[PAGE_COOKIE]
    assert cookie != token and token not in cookie
    with unit_of_work(api.rt.engine) as session:
        stored = session.exec(select(PageSession)).one()
        assert stored.session_hash == tokens.hash_token(cookie) != tokens.hash_token(token)
    assert page.get("/investigator").status_code == 200
    # The raw API token in the cookie signs nothing in.
    planted = Page(api)
    planted.client.cookies.set(PAGE_COOKIE, token)
    assert planted.client.get("/investigator").status_code == 303

    assert page.post("/logout", {}).status_code == 303
    copy = Page(api)
    copy.client.cookies.set(PAGE_COOKIE, cookie)
    assert copy.client.get("/investigator").status_code == 303
    assert copy.client.get("/investigator/requests/x/status.json").status_code == 401
    # The token itself still works, and signs in again with a new session.
    again = Page(api, token)
    assert again.client.cookies[PAGE_COOKIE] != cookie
    assert again.get("/investigator").status_code == 200


def test_revoking_a_token_ends_its_page_sessions(api: Api) -> None:
    page = Page(api, api.tokens["bar"])
    assert page.get("/bar").status_code == 200
    bar_id = next(t["id"] for t in api.get("/api/v1/tokens", "admin").json() if t["role"] == "bar")
    assert api.post(f"/api/v1/tokens/{bar_id}/revoke", "admin").status_code == 200
    assert page.client.get("/bar").status_code == 303
    assert page.client.post("/login", data={"token": api.tokens["bar"]}).status_code == 401


# --- two server processes on one database ------------------------------------------------------


@contextmanager
def served(database_url: str, log: Path) -> Iterator[str]:
    """`dispatcher serve` as an operator starts it, on a free port, its output in `log`."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("DISPATCHER_")}
    env |= {"DISPATCHER_DATABASE_URL": database_url, "DISPATCHER_LOG_LEVEL": "WARNING"}
    command = [sys.executable, "-m", "dispatcher.cli", "serve", "--port", str(port)]
    with log.open("wb") as out:
        server = subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        base = f"http://127.0.0.1:{port}"
        wait_until_up(base, timeout_s=60)
        yield base
    finally:
        server.terminate()
        server.wait(timeout=30)


def first_event(client: httpx.Client, path: str) -> tuple[int, str]:
    """The status of an event stream and its first line with content (then it is closed)."""
    with client.stream("GET", path, timeout=10) as response:
        if response.status_code != 200:
            return response.status_code, ""
        for line in response.iter_lines():
            if line.strip():
                return 200, line
    return 200, ""


def test_a_revocation_holds_at_once_in_another_server_process(tmp_path: Path) -> None:
    database_url = f"sqlite:///{tmp_path / 'two.db'}"
    rt = Runtime.build(Settings(database_url=database_url, scheduler=False, log_level="WARNING"))
    try:
        load_registry(rt, small_registry())
        with unit_of_work(rt.engine) as session:
            admin = tokens.create_token(session, role="admin", name="Admin")
            lawyer = tokens.create_token(session, role="lawyer", name="Lawyer", lawyer="L-11")
    finally:
        rt.stop()
    bearer = {"Authorization": f"Bearer {lawyer}"}
    with (
        served(database_url, tmp_path / "one.log") as one,
        served(database_url, tmp_path / "two.log") as two,
        httpx.Client(base_url=two) as browser,
    ):
        assert browser.post("/login", data={"token": lawyer}).status_code == 303
        assert browser.get("/lawyer").status_code == 200
        # The event stream takes the page session as it took the token.
        status, line = first_event(browser, "/api/v1/invitations/events")
        assert status == 200 and line.startswith(("event:", ":", "data:", "retry:"))
        for base in (one, two):
            assert httpx.get(f"{base}/api/v1/invitations", headers=bearer).status_code == 200
        listed = httpx.get(f"{one}/api/v1/tokens", headers={"Authorization": f"Bearer {admin}"})
        lawyer_id = next(t["id"] for t in listed.json() if t["role"] == "lawyer")
        revoked = httpx.post(
            f"{one}/api/v1/tokens/{lawyer_id}/revoke",
            headers={"Authorization": f"Bearer {admin}"},
        )
        assert revoked.status_code == 200, revoked.text
        # The very next request, in the other process too.
        for base in (two, one):
            assert httpx.get(f"{base}/api/v1/invitations", headers=bearer).status_code == 401
        assert browser.get("/lawyer").status_code == 303
        assert first_event(browser, "/api/v1/invitations/events")[0] == 401
