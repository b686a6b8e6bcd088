"""The demo registry's places and contacts through the command line: every territory has its
police, court and prosecutor; importing again changes nothing; a bad place writes nothing."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlmodel import func, select
from typer.testing import CliRunner

from dispatcher import cli
from dispatcher.config import get_settings
from dispatcher.db import make_engine, unit_of_work
from dispatcher.models import Lawyer, Place, Territory
from policies.vocabulary import PlaceKind
from tests.support.registries import DEMO_REGISTRY, demo_registry

runner = CliRunner()


@pytest.fixture
def database(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    url = f"sqlite:///{tmp_path / 'places.db'}"
    monkeypatch.setenv("DISPATCHER_DATABASE_URL", url)
    get_settings.cache_clear()
    yield url
    get_settings.cache_clear()


def test_the_demo_registry_brings_places_and_contacts_once(database: str) -> None:
    first = runner.invoke(cli.app, ["registry", "import", "--create", str(DEMO_REGISTRY)])
    assert first.exit_code == 0, first.output
    summary = json.loads(first.stdout)
    assert summary["created"]["places"] == len(demo_registry()["places"])
    again = runner.invoke(cli.app, ["registry", "import", "--create", str(DEMO_REGISTRY)])
    assert json.loads(again.stdout) == {"created": {}, "updated": {}, "changed": False}
    with unit_of_work(make_engine(database)) as session:
        territories = session.exec(select(Territory)).all()
        kinds: dict[int, set[str]] = {}
        for place in session.exec(select(Place)).all():
            kinds.setdefault(place.territory_id, set()).add(place.kind)
            assert place.phone and place.phone.startswith("+994 ")
        for territory in territories:
            assert {PlaceKind.POLICE_STATION, PlaceKind.COURT, PlaceKind.PROSECUTOR} <= kinds[
                territory.id or 0
            ], territory.code
        no_contact = session.exec(
            select(func.count())
            .select_from(Lawyer)
            .where((Lawyer.phone == None) | (Lawyer.email == None))  # noqa: E711
        ).one()
        assert no_contact == 0


def test_a_file_with_a_bad_place_writes_nothing(database: str, tmp_path: Path) -> None:
    data = demo_registry()
    data["places"][-1]["territory"] = "NOPE"
    file = tmp_path / "registry.json"
    file.write_text(json.dumps(data), encoding="utf-8")
    refused = runner.invoke(cli.app, ["registry", "import", "--create", str(file)])
    assert refused.exit_code == 2
    assert f"places.{len(data['places']) - 1}.territory" in refused.stderr
    with unit_of_work(make_engine(database)) as session:
        assert session.exec(select(func.count()).select_from(Lawyer)).one() == 0
        assert session.exec(select(func.count()).select_from(Place)).one() == 0
