"""Runs: one rule over a period, or every rule over the same demand, with table, files, plots.

Each rule gets its own database and the same registry, seed and demand; the comparison rules
run with one fixed answer deadline, no lapse pause and no steering of detentions to
the lawyers who answer, as the rosters they stand for do, while
`quota` runs with the policy file as it is.
"""

from __future__ import annotations

import csv
import hashlib
import json
import sys
import tempfile
import tomllib
from collections.abc import Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from sqlalchemy import event
from sqlalchemy.engine import Engine

from dispatcher.db import create_schema, make_engine
from dispatcher.simulation.figures import KEYS, Measured, measure
from dispatcher.simulation.loop import ReplaySummary, Simulation
from policies import round_robin
from policies.base import rule_registry
from policies.config import DEFAULT_POLICY_FILE, PolicyBook
from policies.vocabulary import RuleName

SCRATCH_CACHE_KIB = 64 * 1024
# Every rule the policies know, in their registry's order (`--policy all` runs them in turn).
RULES = tuple(rule_registry())
# A Monday, midnight in Baku: runs of the same length see the same weekdays.
DEFAULT_START = datetime(2026, 1, 4, 20, 0, tzinfo=UTC)


def policy_book(rule: str, *, seed: int, policy_file: str | None = None) -> PolicyBook:
    """The policy file with `rule` giving the turn; the rosters get one fixed deadline."""
    path = Path(policy_file) if policy_file else DEFAULT_POLICY_FILE
    raw: dict[str, Any] = tomllib.loads(path.read_text(encoding="utf-8"))
    rotation = raw.setdefault("rotation", {})
    rotation["rule"] = rule
    rotation["draw_seed"] = seed
    if rule != RuleName.QUOTA:
        fixed = round_robin.FIXED_DEADLINE_S
        raw["deadlines"] = {"detention_s": fixed, "standard_s": fixed}
        raw.setdefault("pause", {})["lapses"] = 0
        raw["pause"]["detentions_to_answering"] = False
    digest = hashlib.sha256(json.dumps(raw, sort_keys=True).encode()).hexdigest()
    return PolicyBook(raw, digest)


def scratch_engine(url: str) -> Engine:
    """An engine for a run's throwaway SQLite file: nothing in it outlives the run, so commits
    need not wait for the disk (the service's own engine keeps its settings)."""
    engine = make_engine(url)

    @event.listens_for(engine, "connect")
    def _scratch(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA synchronous=OFF")
        cursor.execute(f"PRAGMA cache_size=-{SCRATCH_CACHE_KIB}")
        cursor.close()

    return engine


@dataclass(frozen=True)
class RunSpec:
    rule: str
    days: int
    seed: int
    database_url: str | None = None
    registry_path: str | None = None
    policy_file: str | None = None
    requests_per_year: float | None = None
    progress: bool = True


def run_one(spec: RunSpec) -> tuple[Measured, ReplaySummary]:
    """Simulate one rule into its own database; its figures and the run's summary."""
    from dispatcher.simulation import read_registry

    with tempfile.TemporaryDirectory(prefix="simulation-") as tmp:
        engine = (
            make_engine(spec.database_url)
            if spec.database_url
            else scratch_engine(f"sqlite:///{tmp}/{spec.rule}.db")
        )
        try:
            create_schema(engine)
            simulation = Simulation(
                engine,
                policy_book(spec.rule, seed=spec.seed, policy_file=spec.policy_file),
                read_registry(spec.registry_path),
                days=spec.days,
                seed=spec.seed,
                start=DEFAULT_START,
                requests_per_year=spec.requests_per_year,
                progress=spec.progress,
            )
            if spec.progress:
                print(f"{spec.rule}: {len(simulation.arrivals)} requests", file=sys.stderr)
            summary = simulation.run()
            measured = measure(engine, policy=spec.rule, start=DEFAULT_START, days=spec.days)
        finally:
            engine.dispose()
    return measured, summary


def run_all(specs: list[RunSpec], jobs: int) -> list[tuple[Measured, ReplaySummary]]:
    if jobs <= 1:
        return [run_one(spec) for spec in specs]
    with ProcessPoolExecutor(max_workers=jobs) as pool:
        return list(pool.map(run_one, specs))


def table(rows: Sequence[Mapping[str, object]]) -> str:
    """The figures as a plain text table, one rule a row."""
    widths = {k: max(len(k), *(len(str(r[k])) for r in rows)) for k in KEYS}
    lines = ["  ".join(k.ljust(widths[k]) for k in KEYS)]
    lines += ["  ".join(str(r[k]).ljust(widths[k]) for k in KEYS) for r in rows]
    return "\n".join(lines)


def markdown_table(rows: Sequence[Mapping[str, object]]) -> str:
    lines = ["| " + " | ".join(KEYS) + " |", "|" + "---|" * len(KEYS)]
    lines += ["| " + " | ".join(str(r[k]) for k in KEYS) + " |" for r in rows]
    return "\n".join(lines)


def write_results(
    out: Path, results: list[tuple[Measured, ReplaySummary]], meta: dict[str, str | int]
) -> None:
    """results.json, results.csv and the two plots into `out`."""
    from dispatcher.simulation import plots  # matplotlib only when plots are drawn

    out.mkdir(parents=True, exist_ok=True)
    rows = [m.figures for m, _ in results]
    (out / "results.json").write_text(
        json.dumps(
            {
                "run": meta,
                "results": rows,
                "summaries": [s for _, s in results],
                "texas": {m.figures["policy"]: m.texas for m, _ in results},
            },
            indent=2,
        )
        + "\n",
        encoding="utf-8",
    )
    with (out / "results.csv").open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(KEYS))
        writer.writeheader()
        writer.writerows(rows)
    plots.deviation(
        out / "deviation.png", {m.figures["policy"]: m.deviation_by_day for m, _ in results}
    )
    plots.time_to_counsel(
        out / "ttc_detention.png", {m.figures["policy"]: m.ttc_detention_s for m, _ in results}
    )


def simulate(
    days: Annotated[int, typer.Option(help="Days of demand to replay", min=1)] = 365,
    policy: Annotated[str, typer.Option(help=f"{', '.join(RULES)} or all")] = RuleName.QUOTA,
    seed: Annotated[int, typer.Option(help="Seed of the demand and the people")] = 1,
    as_json: Annotated[bool, typer.Option("--json", help="Only the figures, as JSON")] = False,
    out: Annotated[Path | None, typer.Option(help="Write results.json/.csv and plots here")] = None,
    database_url: Annotated[
        str | None, typer.Option(help="Database of a single rule's run (default: a temp file)")
    ] = None,
    registry_file: Annotated[
        Path | None, typer.Option("--registry", help="Registry file (default: the demo's)")
    ] = None,
    requests_per_year: Annotated[
        float | None, typer.Option(help="Demand (default: 24 per active lawyer)")
    ] = None,
    jobs: Annotated[int, typer.Option(help="Rules run side by side in processes", min=1)] = 1,
    policy_file: Annotated[
        Path | None,
        typer.Option(
            help="Policy file (default: policies/default.toml)", exists=True, dir_okay=False
        ),
    ] = None,
) -> None:
    """Replay demand through the real workflow under a rule (or all five) and print figures."""
    from dispatcher.logging import configure

    configure(level="WARNING")
    rules = list(RULES) if policy == "all" else [policy]
    if any(r not in RULES for r in rules):
        raise typer.BadParameter(f"choose one of {', '.join(RULES)} or all", param_hint="--policy")
    if database_url and len(rules) > 1:
        raise typer.BadParameter(
            "one database per rule: give --policy", param_hint="--database-url"
        )
    specs = [
        RunSpec(
            rule=r,
            days=days,
            seed=seed,
            database_url=database_url,
            registry_path=str(registry_file) if registry_file else None,
            requests_per_year=requests_per_year,
            policy_file=str(policy_file) if policy_file else None,
        )
        for r in rules
    ]
    results = run_all(specs, jobs)
    rows = [m.figures for m, _ in results]
    if out is not None:
        meta: dict[str, str | int] = {
            "command": " ".join(["dispatcher", "simulate", *sys.argv[2:]]),
            "days": days,
            "seed": seed,
            "registry": str(registry_file) if registry_file else "data/registry.json",
            "policy_file": str(policy_file) if policy_file else "policies/default.toml",
        }
        write_results(out, results, meta)
    if as_json:
        typer.echo(json.dumps(rows[0] if len(rows) == 1 else {"results": rows}))
        return
    typer.echo(table(rows))
    for _, summary in results:
        typer.echo(
            f"{summary['requests']} requests in {summary['wall_s']} s "
            f"({summary['requests_per_s']} requests/s)",
            err=True,
        )
