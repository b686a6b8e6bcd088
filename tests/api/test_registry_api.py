"""The registry over HTTP: import is all-or-nothing and idempotent, entities round-trip by
their natural codes, and bad references are named."""

from __future__ import annotations

import copy
from typing import Any

import httpx
import pytest
from sqlmodel import func, select

from dispatcher.db import unit_of_work
from dispatcher.models import AuditEvent, Conflict, Firm, Lawyer, Territory
from tests.support.clients import Api
from tests.support.registries import small_registry

REGISTRY = "/api/v1/registry"


def audit_count(api: Api) -> int:
    with unit_of_work(api.rt.engine) as session:
        n: int = session.exec(select(func.count()).select_from(AuditEvent)).one()
        return n


def put(api: Api, path: str, body: dict[str, Any], who: str = "admin") -> httpx.Response:
    response: httpx.Response = api.client.put(path, json=body, headers=api.auth(who))
    return response


def locs(response: httpx.Response) -> list[str]:
    return [".".join(str(p) for p in e["loc"]) for e in response.json()["detail"]]


def snapshot(api: Api) -> tuple[int, int, int, int]:
    with unit_of_work(api.rt.engine) as session:
        return (
            session.exec(select(func.count()).select_from(Territory)).one(),
            session.exec(select(func.count()).select_from(Firm)).one(),
            session.exec(select(func.count()).select_from(Lawyer)).one(),
            session.exec(select(func.count()).select_from(Conflict)).one(),
        )


# --- import ----------------------------------------------------------------------------------


def test_importing_the_same_registry_again_changes_nothing(api: Api) -> None:
    api.auth("admin")
    before, events = snapshot(api), audit_count(api)
    r = api.post(f"{REGISTRY}/import", "admin", small_registry())
    assert r.status_code == 200, r.text
    assert r.json() == {"created": {}, "updated": {}, "changed": False}
    assert snapshot(api) == before
    assert audit_count(api) == events


def test_an_import_that_changes_something_says_what_and_is_audited(api: Api) -> None:
    data = small_registry()
    data["lawyers"][1]["max_open"] = 5
    data["territories"].append(
        {"code": "SOU", "name": {"az": "Cənub", "ru": "Юг", "en": "South"}, "fallback": []}
    )
    events = audit_count(api)
    r = api.post(f"{REGISTRY}/import", "admin", data)
    assert r.status_code == 200, r.text
    assert r.json() == {
        "created": {"territories": 1},
        "updated": {"lawyers": 1},
        "changed": True,
    }
    assert audit_count(api) == events + 1
    assert api.get(f"{REGISTRY}/lawyers/L-12", "bar").json()["max_open"] == 5
    again = api.post(f"{REGISTRY}/import", "admin", data)
    assert again.json()["changed"] is False
    assert audit_count(api) == events + 1


def test_a_bad_reference_is_named_and_nothing_from_the_file_is_written(api: Api) -> None:
    data = small_registry()
    data["territories"].append(
        {"code": "SOU", "name": {"az": "Cənub", "ru": "Юг", "en": "South"}, "fallback": ["CEN"]}
    )
    data["territories"][0]["name"]["en"] = "Renamed Centre"
    data["firms"].append(
        {"code": "F4", "name": "Fourth Bureau", "territories": ["SOU"], "status": "active"}
    )
    data["lawyers"][3] = {**data["lawyers"][3], "firm": "NOPE"}
    api.auth("admin")
    before, events = snapshot(api), audit_count(api)
    r = api.post(f"{REGISTRY}/import", "admin", data)
    assert r.status_code == 422, r.text
    assert any(loc.endswith("lawyers.3.firm") for loc in locs(r)), r.json()
    assert "NOPE" in r.text
    assert snapshot(api) == before
    assert audit_count(api) == events
    assert api.get(f"{REGISTRY}/territories/SOU", "admin").status_code == 404
    assert api.get(f"{REGISTRY}/firms/F4", "admin").status_code == 404
    assert api.get(f"{REGISTRY}/territories/CEN", "admin").json()["name"]["en"] == "Centre"
    assert api.get(f"{REGISTRY}/lawyers/L-21", "admin").json()["firm"] == "F2"


@pytest.mark.parametrize(
    ("mutate", "where"),
    [
        (lambda d: d["firms"][0].update(territories=["ZZZ"]), "firms.0.territories.0"),
        (lambda d: d["territories"][0].update(fallback=["ZZZ"]), "territories.0.fallback.0"),
        (lambda d: d["lawyers"][2].update(territories=["NOR"]), "lawyers.2.territories"),
        (lambda d: d["conflicts"][0].update(lawyer="L-00"), "conflicts.0.lawyer"),
        # L-31 is left out of the file but still serves NOR, which F3 no longer would.
        (
            lambda d: (d["firms"][2].update(territories=["CEN"]), d["lawyers"].pop()),
            "firms.2.territories",
        ),
        (lambda d: d["lawyers"][0].update(languages=["russian"]), "lawyers.0.languages.0"),
        (
            lambda d: d["lawyers"][0].update(
                duty=[{"weekday": 7, "start": "09:00", "end": "18:00"}]
            ),
            "lawyers.0.duty.0.weekday",
        ),
        (
            lambda d: d["lawyers"][0].update(duty=[{"weekday": 1, "start": "9am", "end": "18:00"}]),
            "lawyers.0.duty.0.start",
        ),
    ],
    ids=[
        "firm territory",
        "fallback",
        "lawyer outside firm",
        "conflict lawyer",
        "firm drops a lawyer's territory",
        "language",
        "weekday",
        "start",
    ],
)
def test_each_kind_of_bad_registry_entry_is_422_naming_it(
    api: Api, mutate: Any, where: str
) -> None:
    data = copy.deepcopy(small_registry())
    data["lawyers"][5] = {**data["lawyers"][5], "max_open": 7}  # a change that must not land
    mutate(data)
    api.auth("admin")
    events = audit_count(api)
    r = api.post(f"{REGISTRY}/import", "admin", data)
    assert r.status_code == 422, r.text
    assert any(loc.endswith(where) for loc in locs(r)), (where, r.json())
    assert audit_count(api) == events
    assert api.get(f"{REGISTRY}/lawyers/L-31", "bar").json()["max_open"] == 3


def test_only_an_administrator_imports(api: Api) -> None:
    for who in ("bar", "court", "investigator", "L-11"):
        r = api.post(f"{REGISTRY}/import", who, small_registry())
        assert r.status_code == 403, (who, r.text)
    assert api.post(f"{REGISTRY}/import", None, small_registry()).status_code == 401
    # The bar may read the registry but not write it.
    assert api.get(f"{REGISTRY}/lawyers", "bar").status_code == 200
    lawyer = api.get(f"{REGISTRY}/lawyers/L-11", "bar").json()
    assert put(api, f"{REGISTRY}/lawyers/L-11", lawyer, who="bar").status_code == 403
    assert api.get(f"{REGISTRY}/lawyers", "court").status_code == 403


# --- entities by natural code ------------------------------------------------------------------


def test_territories_firms_and_lawyers_round_trip(api: Api) -> None:
    territory = {
        "code": "SOU",
        "name": {"az": "Cənub", "ru": "Юг", "en": "South"},
        "fallback": ["CEN"],
    }
    firm = {
        "code": "F4",
        "name": "Fourth Bureau",
        "territories": ["NOR", "SOU"],
        "status": "active",
    }
    lawyer = {
        "licence": "L-41",
        "name": "Nigar Nəsibova",
        "firm": "F4",
        "territories": ["SOU"],
        "languages": ["az", "en"],
        "specialisations": ["juvenile"],
        "max_open": 4,
        "status": "on_leave",
        "duty": [{"weekday": 0, "start": "09:00", "end": "18:00"}],
        "phone": "+994 50 123 45 67",
        "email": "nigar.nesibova@advokat.example",
        "photo": "photos/L-41.jpg",
        "notify": ["mailto://nigar.nesibova@advokat.example", "json://localhost:8099/hook"],
    }
    for path, body in (
        (f"{REGISTRY}/territories/SOU", territory),
        (f"{REGISTRY}/firms/F4", firm),
        (f"{REGISTRY}/lawyers/L-41", lawyer),
    ):
        r = put(api, path, body)
        assert r.status_code == 200, r.text
        assert r.json() == body
        got = api.get(path, "bar")
        assert got.status_code == 200, got.text
        assert got.json() == body
        # Saving the same thing again is not a change.
        events = audit_count(api)
        assert put(api, path, body).json() == body
        assert audit_count(api) == events
    assert "L-41" in [
        lw["licence"] for lw in api.get(f"{REGISTRY}/lawyers", "bar", firm="F4").json()
    ]
    assert "SOU" in [t["code"] for t in api.get(f"{REGISTRY}/territories", "bar").json()]
    assert "F4" in [f["code"] for f in api.get(f"{REGISTRY}/firms", "bar").json()]

    moved = {**lawyer, "territories": ["NOR", "SOU"], "status": "active", "max_open": 2}
    events = audit_count(api)
    r = put(api, f"{REGISTRY}/lawyers/L-41", moved)
    assert r.status_code == 200, r.text
    assert api.get(f"{REGISTRY}/lawyers/L-41", "admin").json() == moved
    assert audit_count(api) == events + 1


def test_a_lawyers_territories_must_be_served_by_the_firm(api: Api) -> None:
    lawyer = api.get(f"{REGISTRY}/lawyers/L-12", "admin").json()
    r = put(api, f"{REGISTRY}/lawyers/L-12", {**lawyer, "territories": ["CEN", "NOR"]})
    assert r.status_code == 422, r.text
    assert any(loc.endswith("territories") for loc in locs(r))
    assert api.get(f"{REGISTRY}/lawyers/L-12", "admin").json() == lawyer


@pytest.mark.parametrize(
    ("path", "change", "where"),
    [
        ("lawyers/L-12", {"firm": "F9"}, "firm"),
        ("lawyers/L-12", {"licence": "L-13"}, "licence"),
        ("lawyers/L-12", {"territories": ["ZZZ"]}, "territories.0"),
        ("lawyers/L-12", {"max_open": -1}, "max_open"),
        ("lawyers/L-12", {"status": "retired"}, "status"),
        ("firms/F1", {"territories": []}, "territories"),
        ("firms/F1", {"code": "F2"}, "code"),
        ("territories/CEN", {"fallback": ["ZZZ"]}, "fallback.0"),
        ("territories/CEN", {"fallback": ["CEN"]}, "fallback"),
    ],
)
def test_bad_entity_writes_are_422_naming_the_field_and_change_nothing(
    api: Api, path: str, change: dict[str, Any], where: str
) -> None:
    url = f"{REGISTRY}/{path}"
    before = api.get(url, "admin").json()
    events = audit_count(api)
    r = put(api, url, {**before, **change})
    assert r.status_code == 422, r.text
    assert any(loc.endswith(where) for loc in locs(r)), (where, r.json())
    assert api.get(url, "admin").json() == before
    assert audit_count(api) == events


def test_unknown_entities_are_404(api: Api) -> None:
    for path in ("territories/ZZZ", "firms/F9", "lawyers/L-99"):
        assert api.get(f"{REGISTRY}/{path}", "bar").status_code == 404, path
    assert api.get(f"{REGISTRY}/lawyers", "bar", firm="F9").status_code == 404


# --- conflicts -------------------------------------------------------------------------------


def test_conflicts_can_be_added_listed_and_removed(api: Api) -> None:
    conflict = {"lawyer": "L-11", "case_number": "1(101)-88/2026", "role": "co_defendant_counsel"}
    r = api.post(f"{REGISTRY}/conflicts", "admin", conflict)
    assert r.status_code == 201, r.text
    assert r.json()["created"] is True
    listed = api.get(f"{REGISTRY}/conflicts", "bar").json()
    assert conflict in listed
    assert {"lawyer": "L-22", "case_number": "1(101)-77/2026", "role": "victim_counsel"} in listed
    again = api.post(f"{REGISTRY}/conflicts", "admin", conflict)
    assert again.json()["created"] is False
    assert api.get(f"{REGISTRY}/conflicts", "bar").json().count(conflict) == 1

    # The new conflict is applied: F1 is not invited in that case.
    order = api.post(
        "/api/v1/requests", "court", api.order("ORD-88", case_number="1(101)-88/2026")
    ).json()
    assert order["invitation"]["firm"] != "F1"

    r = api.post(f"{REGISTRY}/conflicts/remove", "admin", conflict)
    assert r.status_code == 200, r.text
    assert conflict not in api.get(f"{REGISTRY}/conflicts", "bar").json()
    assert api.post(f"{REGISTRY}/conflicts/remove", "admin", conflict).status_code == 404


def test_bad_conflicts_are_refused(api: Api) -> None:
    r = api.post(
        f"{REGISTRY}/conflicts", "admin", {"lawyer": "L-99", "case_number": "X", "role": "victim"}
    )
    assert r.status_code == 422, r.text
    assert any(loc.endswith("lawyer") for loc in locs(r))
    r = api.post(f"{REGISTRY}/conflicts", "admin", {"lawyer": "L-11", "case_number": "X"})
    assert r.status_code == 422, r.text
    assert any(loc.endswith("role") for loc in locs(r))
    conflict = {"lawyer": "L-22", "case_number": "1(101)-77/2026", "role": "victim_counsel"}
    assert api.post(f"{REGISTRY}/conflicts", "bar", conflict).status_code == 403
    assert api.post(f"{REGISTRY}/conflicts/remove", "bar", conflict).status_code == 403
    assert len(api.get(f"{REGISTRY}/conflicts", "bar").json()) == 1


@pytest.mark.parametrize("kind", ["lawyers", "territories", "firms"])
def test_a_file_listing_an_entity_twice_is_refused_or_reimports_as_no_change(
    api: Api, kind: str
) -> None:
    """Re-importing the same file changes nothing, even when it names an entity twice with
    different values (refusing such a file with a 422 that names the entry is fine too)."""
    data = small_registry()
    twice: dict[str, Any] = copy.deepcopy(data[kind][0])
    if kind == "lawyers":
        twice["max_open"] = 5
    elif kind == "territories":
        twice["name"]["en"] = "Centre, again"
    else:
        twice["name"] = "First Bureau, again"
    data[kind].append(twice)
    api.auth("admin")
    before, events = snapshot(api), audit_count(api)
    first = api.post(f"{REGISTRY}/import", "admin", data)
    if first.status_code == 422:
        assert any(loc.startswith(f"body.{kind}.") for loc in locs(first)), first.json()
        assert snapshot(api) == before and audit_count(api) == events
        return
    assert first.status_code == 200, first.text
    events = audit_count(api)
    again = api.post(f"{REGISTRY}/import", "admin", data)
    assert again.status_code == 200, again.text
    assert again.json()["changed"] is False, again.json()
    assert audit_count(api) == events
