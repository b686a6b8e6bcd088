"""Tokens and an API client for tests, acting as each role through the real HTTP face."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx
from fastapi.testclient import TestClient

from dispatcher import tokens
from dispatcher.db import unit_of_work
from dispatcher.runtime import Runtime

# The callback URL prefix the test court registers: its requests may call back under it only.
COURT_HOOKS = "https://court.example/hooks/"


def make_token(
    rt: Runtime, role: str, name: str | None = None, territory: str | None = None, **kw: Any
) -> str:
    """A new token of `role` (named after the role unless `name` is given); `kw` as create_token,
    and `territory` the requester's one territory (`territories=[territory]`)."""
    if territory is not None:
        kw["territories"] = [territory]
    with unit_of_work(rt.engine) as session:
        return tokens.create_token(session, role=role, name=name or f"{role} one", **kw)


def page_session(rt: Runtime, token: str) -> str:
    """A page session opened with `token`, as signing in makes one: the value of its cookie."""
    lifetime = timedelta(hours=rt.settings.page_session_hours)
    with unit_of_work(rt.engine) as session:
        opened = tokens.open_page_session(session, token=token, lifetime=lifetime)
    assert opened is not None, "the token is not live"
    return opened[0]


class Api:
    """A test client holding a token per role."""

    def __init__(self, client: TestClient, rt: Runtime, territory: str) -> None:
        self.client = client
        self.rt = rt
        self.tokens = {
            "admin": make_token(rt, "admin"),
            "bar": make_token(rt, "bar"),
            "court": make_token(
                rt, "court", "Court One", territory=territory, callback_prefixes=[COURT_HOOKS]
            ),
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
