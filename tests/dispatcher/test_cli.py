"""The command line: tokens alone on stdout, idempotent registry import, the demo set-up."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlmodel import select
from typer.testing import CliRunner

from dispatcher import cli
from dispatcher.config import Settings, get_settings
from dispatcher.db import make_engine, unit_of_work
from dispatcher.models import Requester
from dispatcher.tokens import hash_token, resolve
from tests.support.registries import DEMO_REGISTRY, small_registry

runner = CliRunner()


@pytest.fixture
def database(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    monkeypatch.setenv("DISPATCHER_DATABASE_URL", url)
    get_settings.cache_clear()
    yield url
    get_settings.cache_clear()


def test_registry_import_is_idempotent_and_tokens_print_alone(
    database: str, tmp_path: Path
) -> None:
    file = tmp_path / "registry.json"
    file.write_text(json.dumps(small_registry()), encoding="utf-8")
    first = runner.invoke(cli.app, ["registry", "import", "--create", str(file)])
    assert first.exit_code == 0, first.output
    assert json.loads(first.stdout)["changed"] is True
    again = runner.invoke(cli.app, ["registry", "import", "--create", str(file)])
    assert json.loads(again.stdout)["changed"] is False

    made = runner.invoke(
        cli.app, ["token", "create", "--role", "court", "--name", "Court", "--territory", "CEN"]
    )
    assert made.exit_code == 0
    token = made.stdout.strip()
    assert made.stdout == token + "\n" and len(token) >= 32
    with unit_of_work(make_engine(database)) as session:
        principal = resolve(session, token)
        assert principal is not None and principal.role == "court"

    refused = runner.invoke(
        cli.app, ["token", "create", "--role", "court", "--name", "X", "--territory", "NOPE"]
    )
    assert refused.exit_code == 2 and refused.stdout == ""
    assert "territory" in refused.stderr


def test_a_bad_registry_file_is_refused_naming_the_entry(database: str, tmp_path: Path) -> None:
    data = small_registry()
    data["lawyers"][2]["firm"] = "F9"
    file = tmp_path / "bad.json"
    file.write_text(json.dumps(data), encoding="utf-8")
    result = runner.invoke(cli.app, ["registry", "import", "--create", str(file)])
    assert result.exit_code == 2
    assert "lawyers.2.firm" in result.stderr


def test_the_demo_has_a_working_token_for_every_role(tmp_path: Path) -> None:
    settings = Settings(
        database_url=f"sqlite:///{tmp_path / 'demo.db'}", demo_registry=str(DEMO_REGISTRY)
    )
    made = cli.prepare_demo(settings)
    assert made["territory"] == "BAK-NSM"
    with unit_of_work(make_engine(settings.database_url)) as session:
        for role in ("admin", "bar", "court", "investigator", "lawyer"):
            principal = resolve(session, made[role])
            assert principal is not None and principal.role == role
        # The demo court may call back to a receiver on this machine (the README's example),
        # signed with the secret the demo hands out.
        court = session.exec(select(Requester).where(Requester.role == "court")).one()
        assert court.webhook_secret == made["court_webhook_secret"]
        assert court.webhook_secret.startswith("whsec_")
        assert "http://127.0.0.1:9000/" in court.callback_prefixes
    # A second demo start begins from a fresh database: the old tokens are gone.
    again = cli.prepare_demo(settings)
    with unit_of_work(make_engine(settings.database_url)) as session:
        assert resolve(session, made["court"]) is None
        assert resolve(session, again["court"]) is not None


@pytest.mark.slow
def test_serve_demo_answers_with_the_tokens_it_printed(tmp_path: Path) -> None:
    """The quick start, end to end: the printed court token works against the served demo."""
    import os
    import subprocess
    import sys

    import httpx

    from tests.support.servers import free_port, wait_until_up

    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("DISPATCHER_")}
    server = subprocess.Popen(
        [sys.executable, "-m", "dispatcher.cli", "serve", "--demo", "--port", str(port)],
        cwd=tmp_path,
        env=env | {"DISPATCHER_LOG_LEVEL": "WARNING"},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        wait_until_up(base, timeout_s=60)
        shell = (tmp_path / "dispatcher-demo.env").read_text(encoding="utf-8")
        court = next(line.split("=", 1)[1] for line in shell.splitlines() if "COURT_TOKEN=" in line)
        answer = httpx.get(
            f"{base}/api/v1/requests", headers={"Authorization": f"Bearer {court}"}, timeout=10
        )
        assert answer.status_code == 200
        assert (tmp_path / "dispatcher-demo.db").exists()
        assert not (tmp_path / "dispatcher.db").exists()
    finally:
        server.terminate()
        server.wait(timeout=20)


def test_the_demo_can_start_with_past_activity(tmp_path: Path) -> None:
    from sqlmodel import func, select

    from dispatcher.models import Decision, Request

    settings = Settings(
        database_url=f"sqlite:///{tmp_path / 'demo.db'}", demo_registry=str(DEMO_REGISTRY)
    )
    made = cli.prepare_demo(settings)
    cli.demo_history(settings, 1)
    engine = make_engine(settings.database_url)
    with unit_of_work(engine) as session:
        assert session.exec(select(func.count()).select_from(Request)).one() > 0
        assert session.exec(select(func.count()).select_from(Decision)).one() > 0
        # The demo's own tokens still work after the history was added.
        assert resolve(session, made["court"]) is not None
    engine.dispose()


def _small_registry_in(database: str, tmp_path: Path) -> None:
    file = tmp_path / "registry.json"
    file.write_text(json.dumps(small_registry()), encoding="utf-8")
    assert runner.invoke(cli.app, ["registry", "import", "--create", str(file)]).exit_code == 0


def test_token_list_shows_no_secret_and_revoke_refuses_an_ambiguous_name(
    database: str, tmp_path: Path
) -> None:
    _small_registry_in(database, tmp_path)
    made = [
        runner.invoke(cli.app, ["token", "create", "--role", "bar", "--name", "Twin"]),
        runner.invoke(
            cli.app, ["token", "create", "--role", "admin", "--name", "Twin", "--expires-in", "12h"]
        ),
        runner.invoke(
            cli.app,
            ["token", "create", "--role", "court", "--name", "Court", "--territory", "CEN"],
        ),
    ]
    assert all(m.exit_code == 0 for m in made), [m.output for m in made]
    secrets = [m.stdout.strip() for m in made]

    table = runner.invoke(cli.app, ["token", "list"])
    assert table.exit_code == 0
    header, *rows = table.stdout.splitlines()
    assert header.split()[:4] == ["id", "role", "name", "scope"]
    assert len(rows) == 3 and "CEN" in rows[2]
    listed = runner.invoke(cli.app, ["token", "list", "--json"])
    entries = json.loads(listed.stdout)
    assert [e["name"] for e in entries] == ["Twin", "Twin", "Court"]
    assert entries[0]["expires_at"] is None and entries[1]["expires_at"] is not None
    for secret in secrets:
        for output in (table.stdout, listed.stdout):
            assert secret not in output and hash_token(secret) not in output

    ambiguous = runner.invoke(cli.app, ["token", "revoke", "Twin"])
    assert ambiguous.exit_code != 0 and ambiguous.stdout == ""
    assert f"ids {entries[0]['id']}, {entries[1]['id']}" in ambiguous.stderr
    by_id = runner.invoke(cli.app, ["token", "revoke", str(entries[0]["id"])])
    assert by_id.exit_code == 0 and by_id.stdout == "" and "revoked" in by_id.stderr
    by_name = runner.invoke(cli.app, ["token", "revoke", "Court"])
    assert by_name.exit_code == 0
    with unit_of_work(make_engine(database)) as session:
        assert resolve(session, secrets[0]) is None
        assert resolve(session, secrets[1]) is not None
        assert resolve(session, secrets[2]) is None
    unknown = runner.invoke(cli.app, ["token", "revoke", "Nobody"])
    assert unknown.exit_code != 0 and "Nobody" in unknown.stderr


def test_token_create_refuses_a_bad_expiry_naming_it(database: str, tmp_path: Path) -> None:
    _small_registry_in(database, tmp_path)
    refused = runner.invoke(
        cli.app, ["token", "create", "--role", "bar", "--name", "B", "--expires-in", "3 weeks"]
    )
    assert refused.exit_code == 2 and refused.stdout == ""
    assert "expires_in" in refused.stderr and "90d" in refused.stderr
    listed = runner.invoke(cli.app, ["token", "list", "--json"])
    assert json.loads(listed.stdout) == []
