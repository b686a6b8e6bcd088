"""The bar's commands: `dispatcher report` and `dispatcher simulate-history`.

Kept apart from `dispatcher.cli`, which registers them; the heavy imports (scipy, matplotlib,
the simulator) happen only when a command runs.
"""

from __future__ import annotations

import json
import sys
import tempfile
from datetime import UTC, date, datetime, time
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer

from dispatcher.config import get_settings
from dispatcher.db import SchemaNotReady, create_schema, make_engine, unit_of_work
from dispatcher.errors import DomainError


class Format(StrEnum):
    csv = "csv"
    html = "html"
    pdf = "pdf"


def _day(value: date | datetime | None) -> datetime | None:
    """A day on the command line is its midnight, UTC."""
    if value is None:
        return None
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    return datetime.combine(value, time(0), tzinfo=UTC)


def report(
    territory: Annotated[str, typer.Option(help="Territory code")],
    from_: Annotated[
        datetime | None,
        typer.Option("--from", formats=["%Y-%m-%d", "%Y-%m-%dT%H:%M:%S"], help="Start (UTC)"),
    ] = None,
    to: Annotated[
        datetime | None,
        typer.Option(formats=["%Y-%m-%d", "%Y-%m-%dT%H:%M:%S"], help="End, exclusive (UTC)"),
    ] = None,
    format: Annotated[Format, typer.Option("--format", help="csv, html or pdf")] = Format.html,
    table: Annotated[
        str,
        typer.Option(
            help="For csv: firms, lawyers, declines, choices, positions, time_to_counsel, "
            "flags or territories"
        ),
    ] = "firms",
    output: Annotated[
        Path | None, typer.Option(help="Write here instead of standard output")
    ] = None,
) -> None:
    """The fairness report of a territory and period as CSV, self-contained HTML or PDF."""
    from dispatcher.reports import render
    from dispatcher.reports.tables import table_text

    engine = make_engine(get_settings().database_url)
    try:
        create_schema(engine)
    except SchemaNotReady as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from exc
    start, end = _day(from_), _day(to)
    try:
        with unit_of_work(engine) as session:
            if format is Format.csv:
                data: bytes = table_text(session, table, territory, start, end).encode()
            else:
                full = render.gather(session, territory, start, end, datetime.now(UTC))
                data = render.pdf(full) if format is Format.pdf else render.html(full).encode()
    except DomainError as exc:
        typer.echo(f"error: {exc.detail}", err=True)
        raise typer.Exit(2) from exc
    finally:
        engine.dispose()
    if output is None:
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()
    else:
        output.write_bytes(data)
        typer.echo(f"wrote {output} ({len(data)} bytes)", err=True)


def registry_for(territories: list[str], source: Path | None) -> dict[str, Any]:
    """The registry (the demo one by default) cut down to some territories.

    Lawyers and firms keep only those territories and are dropped when none is left; fallbacks,
    places and registered conflicts follow.
    """
    from dispatcher.simulation import DEMO_REGISTRY

    data: dict[str, Any] = json.loads(Path(source or DEMO_REGISTRY).read_text("utf-8"))
    keep = set(territories)
    unknown = keep - {t["code"] for t in data["territories"]}
    if unknown:
        raise typer.BadParameter(f"unknown territories: {', '.join(sorted(unknown))}")
    data["territories"] = [
        {**t, "fallback": [f for f in t.get("fallback", []) if f in keep]}
        for t in data["territories"]
        if t["code"] in keep
    ]
    lawyers = []
    for lawyer in data["lawyers"]:
        served = [t for t in lawyer["territories"] if t in keep]
        if served:
            lawyers.append({**lawyer, "territories": served})
    firms_with_lawyers = {lw["firm"] for lw in lawyers}
    data["firms"] = [
        {**f, "territories": [t for t in f["territories"] if t in keep]}
        for f in data["firms"]
        if f["code"] in firms_with_lawyers
    ]
    data["lawyers"] = lawyers
    data["places"] = [p for p in data.get("places", []) if p["territory"] in keep]
    licences = {lw["licence"] for lw in lawyers}
    data["conflicts"] = [c for c in data.get("conflicts", []) if c["lawyer"] in licences]
    return data


def simulate_history(
    days: Annotated[int, typer.Option(min=1, help="Days of history, ending today")] = 365,
    seed: Annotated[int, typer.Option(help="Seed of the simulated demand and behaviour")] = 1,
    territories: Annotated[
        list[str] | None,
        typer.Option("--territories", help="Only these territories (repeat the option)"),
    ] = None,
    registry_file: Annotated[
        Path | None, typer.Option("--registry", help="Registry file (default: the demo one)")
    ] = None,
    steer: Annotated[
        tuple[str, str] | None,
        typer.Option(help="INVESTIGATOR LICENCE: that investigator steers suspects to a lawyer"),
    ] = None,
) -> None:
    """Fill the configured database with a history made by the real workflow on a virtual
    clock (the simulator's `fill_history`), so the bar's reports show something true."""
    from dispatcher.logging import configure
    from dispatcher.simulation import fill_history

    settings = get_settings()
    # Each simulated step would log a line at INFO; the progress lines say enough.
    configure(settings.log_format, "WARNING")
    registry_path = str(registry_file) if registry_file else None
    with tempfile.TemporaryDirectory() as scratch:
        if territories:
            cut = Path(scratch) / "registry.json"
            cut.write_text(json.dumps(registry_for(territories, registry_file)), "utf-8")
            registry_path = str(cut)
        summary = fill_history(
            settings.database_url,
            days=days,
            seed=seed,
            registry_path=registry_path,
            steer=steer,
            progress=True,
        )
    typer.echo(json.dumps(summary, indent=2, default=str))
