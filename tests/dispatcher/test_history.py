"""`dispatcher simulate-history` fills a database through the real workflow (the simulator's
`fill_history`), and `dispatcher report` turns it into CSV, HTML and PDF."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import typer
from sqlmodel import col, func, select
from typer.testing import CliRunner

from dispatcher import audit, cli
from dispatcher.config import get_settings
from dispatcher.db import make_engine, unit_of_work
from dispatcher.models import Request, Territory
from dispatcher.reports import fairness
from dispatcher.reports.commands import registry_for
from tests.support import backends
from tests.support.registries import demo_registry

runner = CliRunner()
TERRITORY = "BAK-NSM"


@pytest.fixture
def database(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    url = backends.database_url(tmp_path / "history.db")
    monkeypatch.setenv("DISPATCHER_DATABASE_URL", url)
    get_settings.cache_clear()
    yield url
    get_settings.cache_clear()


def test_the_registry_is_cut_down_to_the_territories_asked_for() -> None:
    data = registry_for([TERRITORY, "BAK-YSM"], None)
    assert {t["code"] for t in data["territories"]} == {TERRITORY, "BAK-YSM"}
    assert data["lawyers"] and all(
        set(lw["territories"]) <= {TERRITORY, "BAK-YSM"} for lw in data["lawyers"]
    )
    firms = {f["code"] for f in data["firms"]}
    assert {lw["firm"] for lw in data["lawyers"]} == firms
    assert len(data["lawyers"]) < len(demo_registry()["lawyers"])
    with pytest.raises(typer.BadParameter):
        registry_for(["NOPE"], None)


def test_a_simulated_history_feeds_the_reports(database: str, tmp_path: Path) -> None:
    made = runner.invoke(
        cli.app,
        ["simulate-history", "--days", "2", "--seed", "5", "--territories", TERRITORY],
    )
    assert made.exit_code == 0, made.output
    summary = json.loads(made.stdout[made.stdout.index("{") :])
    assert summary["days"] == 2 and summary["requests"] > 0
    engine = make_engine(database)
    try:
        with unit_of_work(engine) as session:
            assert session.exec(select(Territory.code)).all() == [TERRITORY]
            first, last, n = session.exec(
                select(
                    func.min(Request.created_at), func.max(Request.created_at), func.count()
                ).where(col(Request.id).is_not(None))
            ).one()
            report = fairness.fairness(session, TERRITORY, None, None)
            assert audit.verify(session).ok
    finally:
        engine.dispose()
    # The virtual clock put the history in the two days before today (and the wind-down).
    today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    assert first is not None and last is not None
    assert today - timedelta(days=2) <= first.replace(tzinfo=UTC) and last < today + timedelta(
        days=2
    )
    assert n == summary["requests"]
    assert report["decisions"] > 0
    assert sum(f["offers"] for f in report["firms"]) == report["decisions"]
    for firm in report["firms"]:
        stages = firm["stages"].values()
        for key in ("offers", "accepted", "declined", "expired"):
            assert sum(s[key] for s in stages) == firm[key], (firm["firm"], key)
        assert firm["stages"]["rotation"]["offers"] == firm["rotation_offers"]
    assert sum(f["entitlement"] for f in report["firms"]) == pytest.approx(
        report["decisions"], abs=1e-3
    )

    as_csv = runner.invoke(cli.app, ["report", "--territory", TERRITORY, "--format", "csv"])
    assert as_csv.exit_code == 0, as_csv.output
    rows = list(csv.DictReader(io.StringIO(as_csv.stdout)))
    assert sum(int(r["offers"]) for r in rows) == report["decisions"]
    page = tmp_path / "report.html"
    as_html = runner.invoke(
        cli.app,
        ["report", "--territory", TERRITORY, "--format", "html", "--output", str(page)],
    )
    assert as_html.exit_code == 0, as_html.output
    assert page.read_text("utf-8").count("<svg") == 4
    as_pdf = runner.invoke(
        cli.app,
        ["report", "--territory", TERRITORY, "--from", "2000-01-01", "--format", "pdf"],
    )
    assert as_pdf.exit_code == 0 and as_pdf.stdout_bytes.startswith(b"%PDF")
    missing = runner.invoke(cli.app, ["report", "--territory", "NOPE", "--format", "csv"])
    assert missing.exit_code == 2 and "NOPE" in missing.stderr
