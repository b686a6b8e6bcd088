"""Where and who: the registry's places and lawyers' contacts (import and admin API), a request's
place and contact, what the invited lawyer sees, and the appointment as the requester sees it."""

from __future__ import annotations

import copy
from typing import Any

import httpx
from sqlmodel import func, select

from dispatcher.db import unit_of_work
from dispatcher.models import AuditEvent, Lawyer, Place, Request
from tests.support.clients import Api
from tests.support.registries import small_registry

REGISTRY = "/api/v1/registry"
REQUESTS = "/api/v1/requests"

CEN_POLICE = {
    "code": "CEN-POL",
    "territory": "CEN",
    "kind": "police_station",
    "name": {
        "az": "Mərkəz Rayon Polis İdarəsi",
        "ru": "Управление полиции района Центр",
        "en": "Centre District Police Department",
    },
    "address": "Mərkəz r-nu, Nizami küç. 12",
    "phone": "+994 12 498 11 22",
}
NOR_COURT = {
    "code": "NOR-CRT",
    "territory": "NOR",
    "kind": "court",
    "name": {"az": "Şimal Rayon Məhkəməsi", "ru": "Суд района Север", "en": "North District Court"},
    "address": "Şimal r-nu, Azadlıq küç. 3",
    "phone": "+994 22 255 10 10",
}


def with_places() -> dict[str, Any]:
    """The small registry with places and every CEN lawyer's contacts."""
    data = small_registry()
    data["places"] = [copy.deepcopy(CEN_POLICE), copy.deepcopy(NOR_COURT)]
    for i, lawyer in enumerate(data["lawyers"]):
        lawyer["phone"] = f"+994 50 200 10 {10 + i}"
        lawyer["email"] = f"{lawyer['licence'].lower()}@advokat.example"
    data["lawyers"][0]["notify"] = ["tgram://bottoken/12345", "mailto://l11@advokat.example"]
    return data


def counts(api: Api) -> tuple[int, int]:
    with unit_of_work(api.rt.engine) as session:
        places = session.exec(select(func.count()).select_from(Place)).one()
        events = session.exec(select(func.count()).select_from(AuditEvent)).one()
        return places, events


def locs(response: httpx.Response) -> list[str]:
    return [".".join(str(p) for p in e["loc"]) for e in response.json()["detail"]]


def put(api: Api, path: str, body: dict[str, Any], who: str = "admin") -> httpx.Response:
    response: httpx.Response = api.client.put(path, json=body, headers=api.auth(who))
    return response


# --- the registry ------------------------------------------------------------------------------


def test_a_file_with_places_and_contacts_imports_once_and_again_changes_nothing(api: Api) -> None:
    r = api.post(f"{REGISTRY}/import", "admin", with_places())
    assert r.status_code == 200, r.text
    assert r.json()["created"] == {"places": 2}
    assert r.json()["updated"] == {"lawyers": 6}
    before = counts(api)
    again = api.post(f"{REGISTRY}/import", "admin", with_places())
    assert again.json() == {"created": {}, "updated": {}, "changed": False}
    assert counts(api) == before
    assert api.get(f"{REGISTRY}/places/CEN-POL", "bar").json() == CEN_POLICE
    lawyer = api.get(f"{REGISTRY}/lawyers/L-11", "bar").json()
    assert lawyer["phone"] == "+994 50 200 10 10"
    assert lawyer["email"] == "l-11@advokat.example"
    assert lawyer["notify"] == ["tgram://bottoken/12345", "mailto://l11@advokat.example"]
    assert lawyer["photo"] is None


def test_a_file_without_the_new_fields_imports_as_before(api: Api) -> None:
    # The fixture's registry (no places, no contacts) is already in; it is unchanged, and a
    # lawyer of it reads with no contacts at all.
    r = api.post(f"{REGISTRY}/import", "admin", small_registry())
    assert r.json() == {"created": {}, "updated": {}, "changed": False}
    lawyer = api.get(f"{REGISTRY}/lawyers/L-12", "bar").json()
    assert (lawyer["phone"], lawyer["email"], lawyer["notify"]) == (None, None, [])
    assert api.get(f"{REGISTRY}/places", "bar").json() == []


def test_an_import_with_a_bad_place_writes_nothing(api: Api) -> None:
    before = counts(api)
    data = with_places()
    data["places"][1]["territory"] = "XXX"
    r = api.post(f"{REGISTRY}/import", "admin", data)
    assert r.status_code == 422, r.text
    assert locs(r) == ["body.places.1.territory"]
    assert counts(api) == before
    # Nor did the lawyers' contacts of the same file land.
    assert api.get(f"{REGISTRY}/lawyers/L-11", "bar").json()["phone"] is None
    data = with_places()
    data["places"][0]["kind"] = "embassy"
    r = api.post(f"{REGISTRY}/import", "admin", data)
    assert r.status_code == 422 and locs(r)[0].startswith("body.places.0.kind"), r.text
    data = with_places()
    data["places"].append(copy.deepcopy(CEN_POLICE))
    r = api.post(f"{REGISTRY}/import", "admin", data)
    assert r.status_code == 422 and locs(r) == ["body.places.2.code"], r.text
    assert counts(api) == before


def test_notification_urls_and_contacts_are_checked(api: Api) -> None:
    lawyer = api.get(f"{REGISTRY}/lawyers/L-12", "bar").json()
    for field, value in (
        ("notify", ["not a url"]),
        ("notify", [42]),
        ("notify", [f"json://h/{i}" for i in range(6)]),
        ("phone", "call me"),
        ("email", "nobody"),
    ):
        r = put(api, f"{REGISTRY}/lawyers/L-12", {**lawyer, field: value})
        assert r.status_code == 422, (field, value, r.text)
        assert any(loc.startswith(f"body.{field}") for loc in locs(r)), r.text
    assert api.get(f"{REGISTRY}/lawyers/L-12", "bar").json() == lawyer


def test_places_by_code_through_the_admin_api(api: Api) -> None:
    path = f"{REGISTRY}/places/CEN-POL"
    assert api.get(path, "bar").status_code == 404
    r = put(api, path, CEN_POLICE)
    assert r.status_code == 200, r.text
    assert r.json() == CEN_POLICE
    _, events = counts(api)
    assert put(api, path, CEN_POLICE).json() == CEN_POLICE
    assert counts(api)[1] == events  # the same again is not a change
    moved = {**CEN_POLICE, "address": "Mərkəz r-nu, Füzuli küç. 7", "phone": None}
    assert put(api, path, moved).json() == moved
    assert counts(api)[1] == events + 1
    assert put(api, f"{REGISTRY}/places/NOR-CRT", NOR_COURT).status_code == 200
    assert [p["code"] for p in api.get(f"{REGISTRY}/places", "bar").json()] == [
        "CEN-POL",
        "NOR-CRT",
    ]
    assert [p["code"] for p in api.get(f"{REGISTRY}/places", "bar", territory="NOR").json()] == [
        "NOR-CRT"
    ]
    assert api.get(f"{REGISTRY}/places", "bar", territory="XXX").status_code == 404
    # Only an administrator writes; the path and the body name the same place.
    assert put(api, path, CEN_POLICE, who="bar").status_code == 403
    assert api.get(path, "court").status_code == 403
    r = put(api, path, NOR_COURT)
    assert r.status_code == 422 and locs(r) == ["body.code"], r.text
    r = put(api, f"{REGISTRY}/places/X-1", {**CEN_POLICE, "code": "X-1", "territory": "ZZZ"})
    assert r.status_code == 422 and locs(r)[0].endswith(".territory"), r.text


# --- requests ----------------------------------------------------------------------------------


def test_a_place_of_another_territory_is_refused_naming_the_place(api: Api) -> None:
    api.post(f"{REGISTRY}/import", "admin", with_places())
    for place in ("NOR-CRT", "NOWHERE"):
        r = api.post(REQUESTS, "court", api.order(f"P-{place}", place=place))
        assert r.status_code == 422, r.text
        assert locs(r) == ["body.place"], r.text
    with unit_of_work(api.rt.engine) as session:
        assert session.exec(select(func.count()).select_from(Request)).one() == 0


def test_a_contact_is_checked(api: Api) -> None:
    for contact in (
        {"name": "Officer", "phone": "ring ring"},
        {"name": "", "phone": "+994 12 498 11 22"},
        {"name": "x" * 201, "phone": "+994 12 498 11 22"},
        {"name": "Officer"},
    ):
        r = api.post(REQUESTS, "court", api.order("C-1", contact=contact))
        assert r.status_code == 422, (contact, r.text)
        assert all(loc.startswith("body.contact") for loc in locs(r)), r.text


def test_the_invited_lawyer_sees_where_to_go_whom_to_call_and_whom_to_defend(api: Api) -> None:
    api.post(f"{REGISTRY}/import", "admin", with_places())
    contact = {"name": "Kapitan Rauf Məmmədov", "phone": "+994 50 321 54 76"}
    body = api.order("W-1", urgency="detention", place="CEN-POL", contact=contact)
    r = api.post(REQUESTS, "court", body)
    assert r.status_code == 201, r.text
    # An identical retry is the same request; a different place under the same reference is not.
    assert api.post(REQUESTS, "court", body).status_code == 200
    other = {**body, "contact": {**contact, "phone": "+994 50 111 11 11"}}
    assert api.post(REQUESTS, "court", other).status_code == 409
    assert api.post(REQUESTS, "court", {**body, "place": None}).status_code == 409
    request = r.json()
    # The request's JSON carries no person's name, nor the contact.
    assert "Person W-1" not in r.text and "Rauf" not in r.text
    invited = request["invitation"]["lawyer"]
    mine = api.get("/api/v1/invitations", invited).json()
    assert len(mine) == 1
    invitation = mine[0]
    assert invitation["person_name"] == "Person W-1"
    assert invitation["language"] == "az"
    assert invitation["case_number"] == "1(101)-W-1/2026"
    assert invitation["urgency"] == "detention"
    assert invitation["category"] == "grave"
    assert invitation["deadline"] == request["invitation"]["deadline"]
    assert invitation["place"] == CEN_POLICE
    assert invitation["contact"] == contact
    # Another lawyer sees none of it.
    other_lawyer = next(lic for lic in ("L-11", "L-12", "L-21") if lic != invited)
    assert api.get("/api/v1/invitations", other_lawyer).json() == []
    # Once the lawyer declined, the person's name is no longer given to that lawyer.
    api.post(f"/api/v1/invitations/{invitation['id']}/decline", invited, {"reason": "in court"})
    after = api.get("/api/v1/invitations", invited).json()[0]
    assert after["status"] == "declined" and after["person_name"] is None
    assert after["place"] == CEN_POLICE


def test_a_request_without_place_or_contact_hashes_as_before(api: Api) -> None:
    r = api.post(REQUESTS, "court", api.order("H-1"))
    assert r.status_code == 201
    with unit_of_work(api.rt.engine) as session:
        stored = session.exec(select(Request)).one()
        assert (stored.place_id, stored.contact_name, stored.contact_phone) == (None, None, None)
    assert api.post(REQUESTS, "court", api.order("H-1")).status_code == 200
    invited = r.json()["invitation"]["lawyer"]
    invitation = api.get("/api/v1/invitations", invited).json()[0]
    assert (invitation["place"], invitation["contact"]) == (None, None)


# --- the appointment ---------------------------------------------------------------------------


def _lawyer_facts(api: Api, licence: str) -> tuple[str, str | None]:
    with unit_of_work(api.rt.engine) as session:
        lawyer = session.exec(select(Lawyer).where(Lawyer.licence == licence)).one()
        return lawyer.name, lawyer.phone


def test_the_appointment_names_the_lawyer_the_firm_the_phone_and_the_time_given(api: Api) -> None:
    api.post(f"{REGISTRY}/import", "admin", with_places())
    firms = {"F1": "First Bureau", "F2": "Second Bureau", "F3": "Third Bureau"}
    for ref, body in (("E-1", {"eta_minutes": 40}), ("E-2", None)):
        request = api.post(REQUESTS, "court", api.order(ref)).json()
        invitation = request["invitation"]
        url = f"/api/v1/invitations/{invitation['id']}/accept"
        if body is not None:
            for bad in ({"eta_minutes": 0}, {"eta_minutes": 1441}, {"eta_minutes": "soon"}):
                r = api.post(url, invitation["lawyer"], bad)
                assert r.status_code == 422, r.text
                assert locs(r) == ["body.eta_minutes"], r.text
        r = api.post(url, invitation["lawyer"], body)
        assert r.status_code == 200, r.text
        appointment = r.json()["appointment"]
        name, phone = _lawyer_facts(api, invitation["lawyer"])
        assert appointment["lawyer"] == invitation["lawyer"]
        assert appointment["lawyer_name"] == name
        assert appointment["firm_name"] == firms[invitation["firm"]]
        assert appointment["phone"] == phone and phone is not None
        assert appointment["eta_minutes"] == (40 if body else None)
        assert api.get(f"{REQUESTS}/{request['id']}", "court").json()["appointment"] == appointment
