"""How fast the bar's pages answer over a year of demo history: dashboard, exports, public.

Uses a copy of `--database` (a SQLite file; default bench-results/demo-year.db). When that file
does not exist it is first filled with `--days` of the demo registry's history through the real
workflow (`dispatcher simulate-history` does the same), which takes a few minutes. The pages are
then asked through the real application (a signed-in bar reviewer, HTTP in process): each path
once cold (a fresh process cache) and `--repeat` times warm. Prints a table and saves JSON under
bench-results/.

    .venv/bin/python scripts/bench_reports_pages.py [--days 365 --seed 1 --repeat 3]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from fastapi.testclient import TestClient  # noqa: E402
from sqlmodel import col, func, select  # noqa: E402

from api.main import create_app  # noqa: E402
from dispatcher import tokens  # noqa: E402
from dispatcher.config import Settings  # noqa: E402
from dispatcher.db import unit_of_work  # noqa: E402
from dispatcher.logging import configure  # noqa: E402
from dispatcher.models import Decision, Request, Territory  # noqa: E402
from dispatcher.runtime import Runtime  # noqa: E402
from dispatcher.simulation import fill_history  # noqa: E402

RESULTS = ROOT / "bench-results"


def busiest(runtime: Runtime) -> tuple[str, int, int]:
    """The territory with the most decisions; the requests and decisions of the database."""
    with unit_of_work(runtime.engine) as session:
        code, _ = session.exec(
            select(Territory.code, func.count())
            .select_from(Decision)
            .join(Territory, col(Territory.id) == Decision.territory_id)
            .group_by(col(Territory.code))
            .order_by(func.count().desc())
            .limit(1)
        ).one()
        requests = session.exec(select(func.count()).select_from(Request)).one()
        decisions = session.exec(select(func.count()).select_from(Decision)).one()
    return code, int(requests), int(decisions)


def measure(database: Path, repeat: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as scratch:
        copy = Path(scratch) / "bench.db"
        shutil.copy(database, copy)
        # The exports' per-token limit (a few a minute) would refuse the repeated runs.
        settings = Settings(
            database_url=f"sqlite:///{copy}",
            scheduler=False,
            log_level="WARNING",
            export_rate_limit_per_minute=1000,
        )
        runtime = Runtime.build(settings)
        try:
            territory, requests, decisions = busiest(runtime)
            with unit_of_work(runtime.engine) as session:
                token = tokens.create_token(session, role="bar", name="Bench reviewer")
            paths = {
                "overview": "/bar",
                "dashboard": f"/bar?territory={territory}",
                "dashboard_ru": f"/bar?territory={territory}&lang=ru",
                "pdf": f"/bar/report.pdf?territory={territory}",
                "pdf_ru": f"/bar/report.pdf?territory={territory}&lang=ru",
                "html_export": f"/bar/report.html?territory={territory}",
                "html_export_az": f"/bar/report.html?territory={territory}&lang=az",
                "public": "/public",
                "public_json": "/public.json",
            }
            timings: dict[str, dict[str, Any]] = {}
            with TestClient(create_app(runtime=runtime)) as client:
                signed = client.post("/login", data={"token": token}, follow_redirects=False)
                assert signed.status_code == 303, signed.text
                for name, path in paths.items():
                    runs: list[float] = []
                    status = 0
                    for _ in range(1 + repeat):
                        started = time.perf_counter()
                        answer = client.get(path, follow_redirects=False)
                        runs.append(time.perf_counter() - started)
                        status = answer.status_code
                    timings[name] = {
                        "path": path,
                        "status": status,
                        "cold_s": round(runs[0], 3),
                        "warm_median_s": round(statistics.median(runs[1:]), 3) if repeat else None,
                    }
        finally:
            runtime.stop()
    return {
        "territory": territory,
        "requests": requests,
        "decisions": decisions,
        "timings": timings,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database", type=Path, default=RESULTS / "demo-year.db")
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--label", default="", help="a word saved with the figures (before/after)")
    args = parser.parse_args()
    configure("console", "WARNING")
    RESULTS.mkdir(exist_ok=True)
    build = None
    if not args.database.exists():
        print(f"filling {args.days} days of demo history into {args.database} ...", file=sys.stderr)
        build = fill_history(
            f"sqlite:///{args.database}", days=args.days, seed=args.seed, progress=True
        )
    result = measure(args.database, args.repeat)
    out = {
        "label": args.label,
        **result,
        "build": build,
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count()},
        "at": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    print(
        f"{result['requests']} requests, {result['decisions']} decisions; "
        f"busiest territory {result['territory']}"
    )
    print(f"{'page':<14} {'status':>6} {'cold s':>8} {'warm s':>8}")
    for name, t in result["timings"].items():
        warm = "—" if t["warm_median_s"] is None else f"{t['warm_median_s']:.3f}"
        print(f"{name:<14} {t['status']:>6} {t['cold_s']:>8.3f} {warm:>8}")
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
    path = RESULTS / f"reports-pages-{args.label or 'run'}-{stamp}.json"
    path.write_text(json.dumps(out, indent=2, default=str), encoding="utf-8")
    print(f"saved {path.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
