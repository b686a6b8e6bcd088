"""The tablet for a frightened person in Chromium, in az and ru, on a phone and a laptop: the
three ways within the first screen, the rights and the link's time left, photos, the printable
receipt. Every screen is photographed and has no axe-core violation of any impact."""

from __future__ import annotations

import io
from collections.abc import Iterator

import httpx
import pytest
from PIL import Image
from playwright.sync_api import Browser, Page, expect
from sqlalchemy import update

from api.pages.rendering import gettext
from dispatcher.db import unit_of_work
from dispatcher.models import Lawyer
from tests.support.browser import (
    PHONE,
    SCREENSHOTS,
    Screens,
    Server,
    csp_guard,
    new_context,
    serving,
)
from tests.support.clients import make_token
from tests.support.registries import small_registry

pytestmark = pytest.mark.browser

SIZES = {"phone": True, "laptop": False}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    folder = tmp_path_factory.mktemp("tablet16")
    with serving(
        folder / "dispatcher.db", small_registry(), data_dir=str(folder / "uploads")
    ) as running:
        yield running


def no_violation(screens: Screens, page: Page, name: str) -> None:
    assert screens.check(page, name) == {}, name


def licences_on(page: Page) -> list[str]:
    found: list[str] = page.locator("li.option").evaluate_all(
        "items => items.map(item => item.dataset.licence)"
    )
    return found


def upload_photo(server: Server, licence: str) -> None:
    picture = Image.new("RGB", (300, 300), (200, 160, 120))
    out = io.BytesIO()
    picture.save(out, format="PNG")
    admin = make_token(server.runtime, "admin", f"Admin {licence}")
    with httpx.Client(base_url=server.url) as client:
        uploaded = client.put(
            f"/api/v1/registry/lawyers/{licence}/photo",
            content=out.getvalue(),
            headers={"Authorization": f"Bearer {admin}", "Content-Type": "image/png"},
        )
    assert uploaded.status_code == 200, uploaded.text


@pytest.mark.parametrize("size", sorted(SIZES))
@pytest.mark.parametrize("lang", ["az", "ru"])
def test_the_list_shows_the_three_ways_first_with_rights_and_time_left(
    browser: Browser, server: Server, screens: Screens, lang: str, size: str
) -> None:
    request_id = server.investigation(f"FS-{lang}-{size}", language=lang)
    path = server.tablet_path(request_id)
    context = new_context(browser, server, phone=SIZES[size])
    page = context.new_page()
    refused = csp_guard(page)
    page.goto(path)
    expect(page.locator("html")).to_have_attribute("lang", lang)
    rights = server.runtime.policies.for_territory("CEN").choice.rights.text(lang)
    expect(page.locator("#rights-text")).to_have_text(rights)
    clock = page.locator(".link-time")
    before = clock.inner_text()
    assert before.startswith(gettext(lang, "Time left on this link: {time}").split("{time}")[0])
    page.wait_for_timeout(1200)
    assert clock.inner_text() != before  # it counts down in the browser
    no_violation(screens, page, f"tablet16-list-{lang}-{size}")

    height = page.viewport_size["height"] if page.viewport_size else PHONE["height"]
    assert page.evaluate("() => window.scrollY") == 0
    for way in ("#way-list", 'button[name="delegate"]', "#own-counsel", ".way-own button"):
        box = page.locator(way).bounding_box()
        assert box is not None, way
        assert box["y"] + box["height"] <= height, (way, box, height)
    fits = page.evaluate("() => document.documentElement.scrollWidth <= window.innerWidth")
    assert fits, "the page scrolls sideways"

    page.locator("#way-list").click()  # the first way leads to the cards
    expect(page.locator("#lawyers-title")).to_be_in_viewport()
    assert refused == []
    context.close()


@pytest.mark.parametrize("size", sorted(SIZES))
@pytest.mark.parametrize("lang", ["az", "ru"])
def test_a_photo_the_confirmation_and_a_receipt_that_prints(
    browser: Browser, server: Server, screens: Screens, lang: str, size: str
) -> None:
    request_id = server.investigation(f"FS-RECEIPT-{lang}-{size}", language=lang)
    path = server.tablet_path(request_id)
    context = new_context(browser, server, phone=SIZES[size])
    page = context.new_page()
    refused = csp_guard(page)
    page.goto(path)
    listed = licences_on(page)
    pictured = listed[0]
    # The server is shared by the cases: the others' photos are taken away, this one's given.
    with unit_of_work(server.runtime.engine) as session:
        session.execute(update(Lawyer).values(photo=None))
    upload_photo(server, pictured)
    page.reload()
    photo = page.locator(f'li.option[data-licence="{pictured}"] img.photo')
    expect(photo).to_be_visible()
    loaded = photo.evaluate("img => img.complete && img.naturalWidth > 0")
    assert loaded, "the photo did not load"
    if len(listed) > 1:
        expect(
            page.locator(f'li.option[data-licence="{listed[1]}"] svg.placeholder')
        ).to_have_count(1)
    no_violation(screens, page, f"tablet16-photo-{lang}-{size}")

    page.locator(f'button[name="lawyer"][value="{pictured}"]').click()
    expect(page.get_by_role("heading", level=1)).to_have_text(
        gettext(lang, "Please check your choice")
    )
    minutes = server.runtime.policies.for_territory("CEN").deadline_s("detention") // 60
    expect(page.locator(".next")).to_contain_text(f"{minutes}")
    no_violation(screens, page, f"tablet16-confirm-{lang}-{size}")

    page.get_by_role("button", name=gettext(lang, "Yes, record my choice")).click()
    expect(page.get_by_role("heading", level=1)).to_have_text(
        gettext(lang, "Your choice is recorded")
    )
    case_number = server.request(request_id)["case_number"]
    expect(page.locator("#case-reference")).to_have_text(case_number)
    expect(page.locator("#receipt-firm")).not_to_be_empty()
    expect(page.locator("#print")).to_be_visible()
    no_violation(screens, page, f"tablet16-receipt-{lang}-{size}")

    page.emulate_media(media="print")  # what the investigator's printer gets
    expect(page.locator(".masthead")).to_be_hidden()
    expect(page.locator("#print")).to_be_hidden()
    expect(page.locator("#case-reference")).to_be_visible()
    page.screenshot(path=str(SCREENSHOTS / f"tablet16-receipt-print-{lang}-{size}.png"))
    page.emulate_media(media="screen")
    assert refused == []
    context.close()
