"""The lawyer's answer link in Chromium on a phone: the invitation's facts and one tap."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Browser, expect
from sqlmodel import col, select

from api.pages.rendering import gettext
from dispatcher.db import unit_of_work
from dispatcher.models import OutboxMessage
from policies.vocabulary import OutboxKind
from tests.support.browser import Screens, Server, csp_guard, new_context

pytestmark = pytest.mark.browser


def court_order(server: Server, ref: str) -> str:
    body = {
        "external_ref": ref,
        "kind": "court_order",
        "case_number": f"1(101)-{ref}/2026",
        "territory": "CEN",
        "urgency": "detention",
        "category": "grave",
        "person": {"name": f"Person {ref}", "language": "ru"},
    }
    with server.api(server.court) as client:
        created = client.post("/api/v1/requests", json=body)
    assert created.status_code == 201, created.text
    return str(created.json()["id"])


def answer_token(server: Server, request_id: str) -> str:
    """The token of the request's newest invitation, where the notification reads it."""
    with unit_of_work(server.runtime.engine) as session:
        messages = session.exec(
            select(OutboxMessage)
            .where(OutboxMessage.kind == OutboxKind.INVITATION)
            .order_by(col(OutboxMessage.id).desc())
        ).all()
    return next(
        str(m.payload["answer_token"]) for m in messages if m.payload["request_id"] == request_id
    )


def test_the_answer_link_accepts_with_forty_minutes_on_a_phone(
    browser: Browser, server: Server, screens: Screens
) -> None:
    request_id = court_order(server, "LINK-1")
    token = answer_token(server, request_id)
    phone = new_context(browser, server, phone=True)
    page = phone.new_page()
    refused = csp_guard(page)
    page.goto(f"/answer/{token}")
    lang = page.locator("html").get_attribute("lang")
    assert lang is not None
    card = page.locator("article.invitation")
    expect(page.locator("h1")).to_contain_text("1(101)-LINK-1/2026")
    expect(card).to_contain_text("Person LINK-1")
    expect(card.locator(".countdown")).to_have_text(re.compile(r"\d+:\d\d"))
    screens.check(page, "answer-link")
    page.get_by_role("navigation").locator('a[lang="en"]').click()
    expect(page.locator("html")).to_have_attribute("lang", "en")
    page.get_by_label(gettext("en", "I can be there in (minutes, optional)")).fill("40")
    page.get_by_role("button", name=gettext("en", "Accept")).click()
    expect(page.get_by_role("status")).to_contain_text(
        gettext("en", "You accepted the invitation. The case is now among your appointments.")
    )
    expect(page.get_by_role("button", name=gettext("en", "Accept"))).to_have_count(0)
    screens.check(page, "answer-link-accepted")
    with server.api(server.court) as client:
        shown = client.get(f"/api/v1/requests/{request_id}").json()
    assert shown["status"] == "assigned"
    assert shown["appointment"]["eta_minutes"] == 40
    # The used link shows the outcome and cannot answer again.
    page.goto(f"/answer/{token}?lang=en")
    expect(page.get_by_role("status")).to_be_visible()
    expect(page.get_by_role("button", name=gettext("en", "Decline"))).to_have_count(0)
    assert refused == []
    phone.close()
