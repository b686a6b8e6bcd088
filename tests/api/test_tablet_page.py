"""The tablet for a frightened person: the three ways first, the rights from the policy file,
the link's time left, what happens next, the printable receipt, and the lawyers' photos (the
admin's upload, shown to the live list only)."""

from __future__ import annotations

import io
import re
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
from PIL import Image
from sqlmodel import col, select

from api.pages.rendering import LANGUAGES, gettext
from dispatcher.db import unit_of_work
from dispatcher.models import AuditEvent, ChoiceSession, Firm, Lawyer
from tests.api.test_pages import Page, investigation, stored_licences, tablet_token, text_of
from tests.support.clients import Api

PHOTO = "/api/v1/registry/lawyers/{licence}/photo"
ROOT = Path(__file__).resolve().parents[2]


def image(kind: str = "PNG", size: tuple[int, int] = (900, 600), **save: Any) -> bytes:
    picture = Image.new("RGB", size, (40, 90, 160))
    out = io.BytesIO()
    picture.save(out, format=kind, **save)
    return out.getvalue()


def upload(api: Api, licence: str, content: bytes, content_type: str, who: str = "admin") -> Any:
    return api.client.put(
        PHOTO.format(licence=licence),
        content=content,
        headers={**api.auth(who), "Content-Type": content_type},
    )


def stored_photo(api: Api, licence: str) -> str | None:
    with unit_of_work(api.rt.engine) as session:
        lawyer = session.exec(select(Lawyer).where(Lawyer.licence == licence)).one()
        return lawyer.photo


# --- the list --------------------------------------------------------------------------------


def test_the_three_ways_come_before_the_cards(api: Api) -> None:
    token = tablet_token(api, investigation(api, "TAB-WAYS", language="en"))
    html = Page(api).get(f"/tablet/{token}").text
    first_card = html.index('class="option"')
    for way in ('id="way-list"', 'name="delegate"', 'id="own-counsel"'):
        assert html.index(way) < first_card, way
    assert html.index('id="rights-text"') < first_card
    assert len(re.findall(r'class="option"', html)) == len(stored_licences(api, token))


def test_the_rights_notice_is_the_policy_files_in_each_language(api: Api) -> None:
    token = tablet_token(api, investigation(api, "TAB-RIGHTS", language="az"))
    rights = api.rt.policies.for_territory("CEN").choice.rights
    page = Page(api)
    texts = set()
    for lang in LANGUAGES:
        shown = text_of(page.get(f"/tablet/{token}", lang=lang).text)
        assert rights.text(lang) in shown, lang
        assert gettext(lang, "Your rights") in shown
        texts.add(rights.text(lang))
    assert len(texts) == 3  # three languages, not one text three times
    assert "[choice.rights]" in (ROOT / "policies" / "default.toml").read_text(encoding="utf-8")


def test_the_page_says_how_long_the_link_lives_and_what_happens_next(api: Api) -> None:
    request_id = investigation(api, "TAB-NEXT", language="en")
    token = tablet_token(api, request_id)
    html = Page(api).get(f"/tablet/{token}", lang="en").text
    with unit_of_work(api.rt.engine) as session:
        expires_at = session.exec(
            select(ChoiceSession.expires_at).where(ChoiceSession.request_id == request_id)
        ).one()
    found = re.search(r'class="countdown link-time" data-deadline="([^"]+)"', html)
    assert found is not None
    assert datetime.fromisoformat(found.group(1)) == expires_at
    ttl = api.rt.policies.for_territory("CEN").choice.session_ttl_s
    shown = re.search(r"Time left on this link: (\d+):(\d\d)", text_of(html))
    assert shown is not None
    assert ttl - 5 <= int(shown.group(1)) * 60 + int(shown.group(2)) <= ttl
    assert "countdown.js" in html

    order = api.order("TAB-NEXT", kind="investigation")
    minutes = api.rt.policies.for_territory("CEN").deadline_s(order["urgency"]) // 60
    expected = gettext(
        "en",
        "The lawyer you chose will be asked now. If they cannot come within %(minutes)s "
        "minutes, the next lawyer in turn will be asked.",
    ) % {"minutes": minutes}
    assert expected in text_of(html)


def test_the_receipt_holds_the_case_reference_the_firm_and_the_time_and_prints(
    api: Api,
) -> None:
    request_id = investigation(api, "TAB-RECEIPT", language="ru")
    token = tablet_token(api, request_id)
    first = stored_licences(api, token)[0]
    page = Page(api)
    recorded = page.post(f"/tablet/{token}/choice", {"lang": "ru", "lawyer": first})
    assert recorded.status_code == 303
    receipt = page.get(recorded.headers["location"])
    assert receipt.status_code == 200
    case_number = api.get(f"/api/v1/requests/{request_id}", "investigator").json()["case_number"]
    firm = re.search(r'id="receipt-firm">([^<]+)<', receipt.text)
    reference = re.search(r'id="case-reference">([^<]+)<', receipt.text)
    assert reference is not None and reference.group(1) == case_number
    with unit_of_work(api.rt.engine) as session:
        lawyer = session.exec(select(Lawyer).where(Lawyer.licence == first)).one()
        chosen_firm = session.get(Firm, lawyer.firm_id)
        assert chosen_firm is not None
    assert firm is not None and firm.group(1) == chosen_firm.name
    assert "<time datetime=" in receipt.text
    assert 'id="print"' in receipt.text and gettext("ru", "Print the receipt") in receipt.text
    css = (ROOT / "api" / "static" / "pages.css").read_text(encoding="utf-8")
    assert "@media print" in css


# --- photos ----------------------------------------------------------------------------------


def test_an_uploaded_photo_is_kept_re_encoded_and_shown_to_the_live_list_only(
    api: Api,
) -> None:
    token = tablet_token(api, investigation(api, "TAB-PHOTO", language="az"))
    listed = stored_licences(api, token)
    pictured, plain = listed[0], listed[1]
    exif = Image.Exif()
    exif[0x010F] = "Camera maker"  # metadata the stored photo must not keep
    uploaded = upload(api, pictured, image("JPEG", exif=exif.tobytes()), "image/jpeg")
    assert uploaded.status_code == 200, uploaded.text
    photo = uploaded.json()["photo"]
    assert photo == stored_photo(api, pictured)
    kept = Path(api.rt.settings.data_dir) / photo
    with Image.open(kept) as stored:
        assert stored.format == "JPEG"
        assert max(stored.size) == 512
        assert not stored.getexif()
    with unit_of_work(api.rt.engine) as session:
        audited = session.exec(
            select(AuditEvent).where(col(AuditEvent.action) == "registry.lawyer.photo_saved")
        ).all()
        assert [event.entity_id for event in audited] == [pictured]

    page = Page(api)
    html = page.get(f"/tablet/{token}").text
    assert f'src="/tablet/{token}/photos/{pictured}"' in html
    assert f"/photos/{plain}" not in html
    assert html.count('class="photo placeholder"') == len(listed) - 1
    served = page.get(f"/tablet/{token}/photos/{pictured}")
    assert served.status_code == 200
    assert served.headers["content-type"] == "image/jpeg"
    assert served.content == kept.read_bytes()
    assert page.get(f"/tablet/{token}/photos/{plain}").status_code == 404  # no photo
    assert page.get(f"/tablet/not-a-token/photos/{pictured}").status_code == 404
    with unit_of_work(api.rt.engine) as session:
        everyone = session.exec(select(Lawyer.licence)).all()
    outsider = next(licence for licence in everyone if licence not in listed)
    assert upload(api, outsider, image(), "image/png").status_code == 200
    assert page.get(f"/tablet/{token}/photos/{outsider}").status_code == 404  # not on the list

    page.post(f"/tablet/{token}/choice", {"delegate": "1"})  # the link is spent
    assert page.get(f"/tablet/{token}/photos/{pictured}").status_code == 404


def test_a_photo_that_is_not_a_png_or_jpeg_is_refused_and_nothing_is_written(
    api: Api,
) -> None:
    before = stored_photo(api, "L-11")
    data_dir = Path(api.rt.settings.data_dir)
    cases = [
        (image(), "text/plain", 415),
        (image(), "", 422),  # no type: read as JSON, which it is not
        (b"{}", "application/json", 422),  # JSON is not a photo: the body is at fault
        (image("PNG"), "image/jpeg", 422),  # a PNG sent as a JPEG
        (b"not an image at all", "image/png", 422),
        (image("PNG")[:200], "image/png", 422),  # cut short
        (b"\0" * (api.rt.settings.max_photo_bytes + 1), "image/png", 413),
    ]
    for content, content_type, status in cases:
        refused = upload(api, "L-11", content, content_type)
        assert refused.status_code == status, (content_type, refused.text)
        if status == 422 and content_type.startswith("image/"):
            assert refused.json()["detail"][0]["loc"] == ["body", "photo"]
    assert upload(api, "NO-SUCH", image(), "image/png").status_code == 404
    assert upload(api, "L-11", image(), "image/png", who="bar").status_code == 403
    assert stored_photo(api, "L-11") == before
    assert not (data_dir / "photos").exists() or list((data_dir / "photos").iterdir()) == []


def test_a_photo_outside_the_data_directory_is_never_served(api: Api, tmp_path: Path) -> None:
    secret = tmp_path / "secret.png"
    secret.write_bytes(image())
    token = tablet_token(api, investigation(api, "TAB-ESCAPE", language="en"))
    licence = stored_licences(api, token)[0]
    with unit_of_work(api.rt.engine) as session:
        lawyer = session.exec(select(Lawyer).where(Lawyer.licence == licence)).one()
        lawyer.photo = "../secret.png"  # an imported registry's path that leaves the directory
        session.add(lawyer)
    response = httpx.Client(transport=api.client._transport, base_url="http://testserver").get(
        f"/tablet/{token}/photos/{licence}"
    )
    assert response.status_code == 404
