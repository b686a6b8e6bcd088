"""How long the bar's full report takes over a year of national activity, and what it shows.

Uses the database named by DISPATCHER_DATABASE_URL (default: a SQLite file under
bench-results/). When it holds no requests yet, it is first filled with `--days` of simulated
history of a national bar (`--registry`) through the real workflow (the simulator's
`fill_history`, as `dispatcher simulate-history` does), and that time is measured too.
Then, `--repeat` times, it builds the full report: every territory's fairness figures, the
national territory table, the pocket-lawyer detector over the whole country, and the rendered
dashboard (plots, HTML, PDF) of the busiest territory. Prints a table and saves JSON under
bench-results/.

    .venv/bin/python scripts/bench_report.py [--days 365 --seed 1 --repeat 3]
    DISPATCHER_DATABASE_URL=postgresql+psycopg://... .venv/bin/python scripts/bench_report.py
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sqlmodel import func, select  # noqa: E402

from dispatcher.db import create_schema, make_engine, unit_of_work  # noqa: E402
from dispatcher.logging import configure  # noqa: E402
from dispatcher.models import Decision, Request  # noqa: E402
from dispatcher.reports import fairness, flags, render  # noqa: E402
from dispatcher.simulation import fill_history  # noqa: E402
from dispatcher.simulation.national import national_registry  # noqa: E402

RESULTS = ROOT / "bench-results"
T = TypeVar("T")


def timed(action: Callable[[], T]) -> tuple[T, float]:
    started = time.perf_counter()
    result = action()
    return result, time.perf_counter() - started


def full_report(url: str) -> dict[str, Any]:
    """Every figure the bar sees for the whole period, with the time of each part."""
    engine = make_engine(url)
    parts: dict[str, float] = {}
    try:
        with unit_of_work(engine) as session:
            codes = fairness.territory_list(session)
            per_territory, parts["fairness_all_territories_s"] = timed(
                lambda: {code: fairness.fairness(session, code, None, None) for code in codes}
            )
            overview, parts["territory_table_s"] = timed(
                lambda: fairness.territories_overview(session, None, None)
            )
            flagged, parts["flags_national_s"] = timed(
                lambda: flags.pocket_lawyers(session, territory=None)
            )
            national, parts["time_to_counsel_national_s"] = timed(
                lambda: fairness.time_to_counsel(session, None, None, None)
            )
            busiest = max(codes, key=lambda c: per_territory[c]["decisions"])
            full, parts["dashboard_data_s"] = timed(
                lambda: render.gather(session, busiest, None, None, datetime.now(UTC))
            )
        _, parts["plots_html_s"] = timed(lambda: render.html(full))
        _, parts["pdf_s"] = timed(lambda: render.pdf(full))
    finally:
        engine.dispose()
    parts["total_s"] = sum(parts.values())
    return {
        "parts": parts,
        "per_territory": per_territory,
        "overview": overview,
        "flagged": flagged,
        "national_time_to_counsel": national,
        "busiest": busiest,
    }


def findings(result: dict[str, Any]) -> dict[str, Any]:
    """What the report shows, in a few numbers."""
    per = result["per_territory"]
    worst = max(per.values(), key=lambda r: r["max_abs_deviation"])
    exceeded = sorted(code for code, r in per.items() if r["top10_exceeds"])
    return {
        "territories": len(per),
        "charged_decisions": sum(r["decisions"] for r in per.values()),
        "max_abs_deviation": worst["max_abs_deviation"],
        "max_abs_deviation_territory": worst["territory"],
        "territories_within_1": sum(1 for r in per.values() if r["max_abs_deviation"] < 1),
        "loosemore_hanby_max": max(r["loosemore_hanby"] for r in per.values()),
        "gini_max": max(r["gini"] for r in per.values()),
        "top10_exceeded_in": exceeded,
        "time_to_counsel": result["national_time_to_counsel"],
        "flagged_pairs": result["flagged"],
        "busiest_territory": result["busiest"],
    }


def registry_file(choice: str) -> str | None:
    """The registry to fill the history with (None: the simulator's default, the demo one)."""
    if choice == "demo":
        return None
    if choice != "national":
        return choice
    path = RESULTS / "national-registry.json"
    path.write_text(json.dumps(national_registry()), encoding="utf-8")
    return str(path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument(
        "--registry",
        default="national",
        help="'national' (2,500 lawyers, 140 firms, 80 territories: about 60,000 requests a "
        "year), 'demo' (data/registry.json) or a registry file",
    )
    args = parser.parse_args()
    configure("console", "WARNING")
    RESULTS.mkdir(exist_ok=True)
    url = os.environ.get("DISPATCHER_DATABASE_URL") or f"sqlite:///{RESULTS / 'report-year.db'}"
    engine = make_engine(url)
    create_schema(engine)
    with unit_of_work(engine) as session:
        existing = session.exec(select(func.count()).select_from(Request)).one()
    engine.dispose()
    build: dict[str, Any] | None = None
    if existing == 0:
        print(f"filling {args.days} days of history (seed {args.seed}) ...", file=sys.stderr)
        build = fill_history(
            url,
            days=args.days,
            seed=args.seed,
            registry_path=registry_file(args.registry),
            progress=True,
        )
    engine = make_engine(url)
    with unit_of_work(engine) as session:
        requests = session.exec(select(func.count()).select_from(Request)).one()
        decisions = session.exec(select(func.count()).select_from(Decision)).one()
    dialect = engine.dialect.name
    engine.dispose()

    runs = [full_report(url) for _ in range(max(1, args.repeat))]
    totals = [r["parts"]["total_s"] for r in runs]
    parts = {k: statistics.median(r["parts"][k] for r in runs) for k in runs[0]["parts"]}
    shown = findings(runs[-1])
    out = {
        "database": dialect,
        "requests": requests,
        "decisions": decisions,
        "build": build,
        "report_total_s": {"median": statistics.median(totals), "runs": totals},
        "report_parts_median_s": parts,
        "findings": shown,
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count()},
        "at": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    print(f"database: {dialect}, {requests} requests, {decisions} decisions")
    if build:
        print(f"history built in {build['wall_s']} s ({build['requests_per_s']} requests/s)")
    print(f"full report: median {statistics.median(totals):.2f} s over {len(totals)} runs")
    for name, seconds in parts.items():
        print(f"  {name:<30} {seconds:8.3f} s")
    print("what it shows:")
    print(json.dumps(shown, indent=2, default=str))
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
    path = RESULTS / f"report-{dialect}-{stamp}.json"
    path.write_text(json.dumps(out, indent=2, default=str), encoding="utf-8")
    print(f"saved {path.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
