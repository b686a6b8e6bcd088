"""No credential and no personal data reaches the log of a real server process.

A tablet token in the path is a credential (whoever holds it chooses the lawyer), and so are a
lawyer's answer link, a calendar feed's link and a bearer token; a person's name is personal
data. The server is started
as an operator starts it (`dispatcher serve`, with one or several workers) and its whole output
is searched.
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
from sqlalchemy import create_engine
from sqlmodel import Session, select

from dispatcher import tokens
from dispatcher.config import Settings
from dispatcher.db import unit_of_work, utcnow
from dispatcher.models import Lawyer, OutboxMessage
from dispatcher.rota import calendar
from dispatcher.runtime import Runtime
from policies.vocabulary import OutboxKind
from tests.support.registries import load_registry, small_registry
from tests.support.servers import free_port, wait_until_up

SECRET_NAME = "Zaurbek Gizlinov"


def prepare(database_url: str) -> dict[str, str]:
    """The small registry and an investigator's token, before the server starts."""
    rt = Runtime.build(Settings(database_url=database_url, scheduler=False, log_level="WARNING"))
    try:
        load_registry(rt, small_registry())
        with unit_of_work(rt.engine) as session:
            investigator = tokens.create_token(
                session, role="investigator", name="Police One", territories=["CEN"]
            )
            lawyer = session.exec(select(Lawyer).where(Lawyer.licence == "L-11")).one()
            feed = calendar.new_link(session, lawyer=lawyer, now=utcnow(), actor="test")
    finally:
        rt.stop()
    return {"investigator": investigator, "feed": feed}


def answer_token(database_url: str, request_id: str) -> str:
    """The answer link's token of the request's invitation, where the notification reads it."""
    engine = create_engine(database_url)
    try:
        with Session(engine) as session:
            messages = session.exec(
                select(OutboxMessage).where(OutboxMessage.kind == OutboxKind.INVITATION)
            ).all()
    finally:
        engine.dispose()
    tokens_ = [m.payload["answer_token"] for m in messages if m.payload["request_id"] == request_id]
    assert len(tokens_) == 1, tokens_
    return str(tokens_[0])


@contextmanager
def served(database_url: str, workers: int, log: Path) -> Iterator[str]:
    """`dispatcher serve` on a free port, its stdout and stderr written to `log`."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("DISPATCHER_")}
    env |= {
        "DISPATCHER_DATABASE_URL": database_url,
        "DISPATCHER_LOG_LEVEL": "INFO",
        "DISPATCHER_LOG_FORMAT": "json",
    }
    command = [sys.executable, "-m", "dispatcher.cli", "serve", "--port", str(port)]
    with log.open("wb") as out:
        server = subprocess.Popen(
            [*command, "--workers", str(workers)], env=env, stdout=out, stderr=subprocess.STDOUT
        )
        try:
            base = f"http://127.0.0.1:{port}"
            wait_until_up(base, timeout_s=60)
            yield base
        finally:
            server.terminate()
            server.wait(timeout=30)


@pytest.mark.parametrize("workers", [1, pytest.param(2, marks=pytest.mark.slow)])
def test_the_server_log_carries_route_templates_never_tokens_or_names(
    tmp_path: Path, workers: int
) -> None:
    database_url = f"sqlite:///{tmp_path / 'log.db'}"
    made = prepare(database_url)
    police = {"Authorization": f"Bearer {made['investigator']}"}
    in_query = "q" + secrets.token_hex(12)
    in_missing_path = "m" + secrets.token_hex(12)
    unknown_tablet = "u" + secrets.token_hex(12)
    log = tmp_path / "server.log"
    with served(database_url, workers, log) as base, httpx.Client(base_url=base) as client:
        order = {
            "external_ref": "LOG-1",
            "kind": "investigation",
            "case_number": "1(101)-9/2026",
            "territory": "CEN",
            "urgency": "standard",
            "category": "grave",
            "person": {"name": SECRET_NAME, "language": "az", "juvenile": False},
        }
        created = client.post("/api/v1/requests", json=order, headers=police)
        assert created.status_code == 201, created.text
        request_id = created.json()["id"]
        opened = client.post(f"/api/v1/requests/{request_id}/choice-sessions", headers=police)
        assert opened.status_code in (200, 201), opened.text
        tablet = opened.json()["token"]
        assert client.get(f"/tablet/{tablet}").status_code == 200
        assert client.get(f"/api/v1/tablet/{tablet}", params={"token": in_query}).status_code == 200
        chosen = client.post(f"/api/v1/tablet/{tablet}/choice", json={"delegate": True})
        assert chosen.status_code == 200, chosen.text
        assert client.get(f"/api/v1/tablet/{unknown_tablet}").status_code in (404, 410)
        # The invited lawyer's answer link: its token is a credential too.
        answer = answer_token(database_url, request_id)
        assert client.get(f"/answer/{answer}").status_code == 200
        assert client.post(f"/answer/{answer}/decline", data={"reason": "busy"}).status_code == 303
        assert client.get(f"/answer/{unknown_tablet}").status_code == 404
        # The calendar feed's link: its token is the feed's only credential.
        feed = made["feed"]
        assert client.get(f"/lawyer/calendar/{feed}.ics", params={"lang": "ru"}).status_code == 200
        assert client.get(f"/lawyer/calendar/{unknown_tablet}.ics").status_code == 404
        assert client.get("/healthz", params={"access_token": in_query}).status_code == 200
        listed = client.get("/api/v1/requests", params={"q": in_query}, headers=police)
        assert listed.status_code == 200
        assert client.get(f"/api/v1/nowhere/{in_missing_path}").status_code == 404
    text = log.read_text(encoding="utf-8", errors="replace")
    bearer = made["investigator"]
    secrets_ = (
        tablet,
        answer,
        bearer,
        feed,
        in_query,
        in_missing_path,
        unknown_tablet,
        SECRET_NAME,
    )
    for secret in secrets_:
        assert secret not in text, f"{secret[:6]}… found in the server log"
    lines = [json.loads(line) for line in text.splitlines() if line.startswith("{")]
    requests = [line for line in lines if line.get("event") == "http.request"]
    routes = {line["route"] for line in requests}
    assert {
        "/api/v1/requests",
        "/api/v1/requests/{request_id}/choice-sessions",
        "/tablet/{token}",
        "/api/v1/tablet/{token}",
        "/api/v1/tablet/{token}/choice",
        "/answer/{token}",
        "/answer/{token}/decline",
        "/lawyer/calendar/{token}.ics",
        "unmatched",
    } <= routes, routes
    # Each request is logged once, by the application, with its request id.
    assert all(len(line["request_id"]) >= 16 for line in requests)
    assert not [line for line in lines if line.get("logger") == "uvicorn.access"]
    assert len([line for line in requests if line["route"] == "/tablet/{token}"]) == 1
