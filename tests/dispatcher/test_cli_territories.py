"""`token create --territory T...` and `--any-territory`: the territories a requester files in."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlmodel import select
from typer.testing import CliRunner

from dispatcher import cli
from dispatcher.config import get_settings
from dispatcher.db import make_engine, unit_of_work
from dispatcher.models import Requester
from tests.support.registries import small_registry

runner = CliRunner()


@pytest.fixture
def database(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    monkeypatch.setenv("DISPATCHER_DATABASE_URL", url)
    get_settings.cache_clear()
    file = tmp_path / "registry.json"
    file.write_text(json.dumps(small_registry()), encoding="utf-8")
    assert runner.invoke(cli.app, ["registry", "import", "--create", str(file)]).exit_code == 0
    yield url
    get_settings.cache_clear()


def create(*args: str) -> tuple[int, str, str]:
    result = runner.invoke(cli.app, ["token", "create", *args])
    return result.exit_code, result.stdout, result.stderr


def lane(url: str, name: str) -> tuple[list[str], bool, int | None]:
    with unit_of_work(make_engine(url)) as session:
        found = session.exec(select(Requester).where(Requester.name == name)).one()
        return found.territories, found.any_territory, found.territory_id


def test_territory_repeats_and_later_tokens_add_to_the_requester(database: str) -> None:
    code, out, _ = create(
        "--role", "court", "--name", "Court", "--territory", "CEN", "--territory", "NOR"
    )
    assert code == 0 and len(out.strip()) >= 32
    territories, anywhere, home = lane(database, "Court")
    assert territories == ["CEN", "NOR"] and not anywhere and home is not None
    # A second token for the same court adds a territory and keeps the first ones and the home.
    assert create("--role", "court", "--name", "Court", "--territory", "NOR")[0] == 0
    assert lane(database, "Court") == (["CEN", "NOR"], False, home)


def test_any_territory_and_a_requester_token_needs_one_of_them(database: str) -> None:
    code, out, _ = create("--role", "investigator", "--name", "Police", "--any-territory")
    assert code == 0 and out.strip()
    assert lane(database, "Police") == ([], True, None)

    code, out, err = create("--role", "court", "--name", "Nowhere")
    assert code == 2 and out == ""
    assert "--territory" in err and "--any-territory" in err

    # One unknown code refuses the whole token, and nothing is written.
    code, out, err = create(
        "--role", "court", "--name", "Half", "--territory", "CEN", "--territory", "NOPE"
    )
    assert code == 2 and out == "" and "NOPE" in err
    with unit_of_work(make_engine(database)) as session:
        assert session.exec(select(Requester).where(Requester.name == "Half")).first() is None


def test_other_roles_take_no_territory(database: str) -> None:
    code, out, err = create("--role", "bar", "--name", "Bar", "--territory", "CEN")
    assert code == 2 and out == "" and "territor" in err
    code, out, err = create("--role", "admin", "--name", "Admin", "--any-territory")
    assert code == 2 and out == ""
