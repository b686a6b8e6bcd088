"""Four weeks of duty rotas for every territory of the demo registry and of the national
registry (dispatcher/simulation/national.py, the capital's largest district included): solve
time, status and fairness figures per territory, and the solver settings measured on the
largest territories (threads, presolve). Each feasible rota is approved before the next
territory is planned, so that lawyers serving several territories are planned around their
duties elsewhere, as in service.

    .venv/bin/python scripts/bench_rota.py [--time-limit 30] [--from 2027-01-04]
        [--skip-national | --skip-demo] [--out docs/rota.json]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from datetime import date
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sqlmodel import select  # noqa: E402

from dispatcher import registry  # noqa: E402
from dispatcher.db import create_schema, make_engine, unit_of_work  # noqa: E402
from dispatcher.models import Territory  # noqa: E402
from dispatcher.rota import service  # noqa: E402
from dispatcher.rota.model import SolverSettings, solve  # noqa: E402
from dispatcher.simulation.national import national_registry  # noqa: E402
from policies.config import load_policy_book  # noqa: E402


def _load(data: dict[str, Any], path: Path) -> Any:
    engine = make_engine(f"sqlite:///{path}")
    create_schema(engine)
    with unit_of_work(engine) as session:
        registry.import_registry(session, registry.RegistryFile.model_validate(data), actor="bench")
    return engine


def plan_all(
    name: str, data: dict[str, Any], first: date, time_limit: float, workdir: Path
) -> list[dict[str, Any]]:
    engine = _load(data, workdir / f"{name}.db")
    policies = load_policy_book(os.environ.get("DISPATCHER_POLICY_FILE"))
    codes = [t["code"] for t in data["territories"]]
    rows = []
    for code in codes:
        with unit_of_work(engine) as session:
            made = service.plan(
                session,
                territory=code,
                first_day=first,
                days=28,
                time_limit_s=time_limit,
                policies=policies,
                actor="bench",
            )
            if made.status != "infeasible":
                service.approve(session, rota_id=made.id, policies=policies, actor="bench")
        figures: dict[str, Any] = dict(made.figures) if made.figures else {}
        row = {
            "registry": name,
            "territory": code,
            "lawyers": figures.get("lawyers"),
            "status": str(made.status),
            "solve_s": made.solve_s,
            "firm_deviation_max": figures.get("firm_deviation_max"),
            "totals": figures.get("totals"),
            "nights": figures.get("nights"),
            "weekends": figures.get("weekends"),
            "hinted": figures.get("hinted"),
            "problems": made.problems,
        }
        rows.append(row)
        print(
            f"{name:8} {code:8} {row['lawyers'] or 0:4} {row['status']:10} "
            f"{made.solve_s:6.2f} s  firm dev {row['firm_deviation_max']}  "
            f"nights {row['nights']}  {'; '.join(made.problems)}",
            flush=True,
        )
    engine.dispose()
    return rows


def measure(
    data: dict[str, Any], code: str, first: date, workdir: Path, limit: float
) -> list[dict[str, Any]]:
    """The same territory under each setting: threads 1 or 2, presolve on or off."""
    engine = _load(data, workdir / f"measure-{code}.db")
    policy = load_policy_book().for_territory(code)
    with unit_of_work(engine) as session:
        place = session.exec(select(Territory).where(Territory.code == code)).one()
        rota_input, _ = service.rota_input(
            session, territory=place, first_day=first, days=28, policy=policy
        )
    engine.dispose()
    found = []
    for workers in (1, 2):
        for presolve in (True, False):
            started = time.perf_counter()
            plan = solve(rota_input, SolverSettings(limit, workers, presolve))
            found.append(
                {
                    "territory": code,
                    "lawyers": len(rota_input.lawyers),
                    "num_workers": workers,
                    "presolve": presolve,
                    "status": str(plan.status),
                    "seconds": round(time.perf_counter() - started, 2),
                    "figures": plan.figures
                    and {
                        k: plan.figures[k]
                        for k in ("firm_deviation_max", "totals", "nights", "weekends")
                    },
                }
            )
            print(f"measure {code} workers={workers} presolve={presolve}: {found[-1]}", flush=True)
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--time-limit", type=float, default=30.0)
    parser.add_argument("--from", dest="first", type=date.fromisoformat, default=date(2027, 1, 4))
    parser.add_argument("--skip-national", action="store_true")
    parser.add_argument("--skip-demo", action="store_true")
    parser.add_argument("--measure-limit", type=float, default=10.0)
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "rota.json")
    args = parser.parse_args()
    demo = json.loads((ROOT / "data" / "registry.json").read_text(encoding="utf-8"))
    national = national_registry()
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        rows = (
            [] if args.skip_demo else plan_all("demo", demo, args.first, args.time_limit, workdir)
        )
        if not args.skip_national:
            rows += plan_all("national", national, args.first, args.time_limit, workdir)
        measured = []
        if not args.skip_demo:
            biggest_demo = max(
                (r for r in rows if r["registry"] == "demo"), key=lambda r: r["lawyers"] or 0
            )
            measured += measure(
                demo, biggest_demo["territory"], args.first, workdir, args.measure_limit
            )
        if not args.skip_national:
            biggest = max(
                (r for r in rows if r["registry"] == "national"), key=lambda r: r["lawyers"] or 0
            )
            measured += measure(
                national, biggest["territory"], args.first, workdir, args.measure_limit
            )
    summary = {
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count()},
        "time_limit_s": args.time_limit,
        "territories": rows,
        "settings": measured,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(summary, indent=2, default=str) + "\n", encoding="utf-8")
    print(f"saved {args.out}")


if __name__ == "__main__":
    main()
