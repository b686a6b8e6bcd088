"""Four weeks of duty rotas for every territory of the demo registry and of the national
registry (dispatcher/simulation/national.py, the capital's largest district included): solve
time, status and fairness figures per territory, and the solver settings measured on the
largest territories (threads, presolve). Each feasible rota is approved before the next
territory is planned, so that lawyers serving several territories are planned around their
duties elsewhere, as in service.

    .venv/bin/python scripts/bench_rota.py [--time-limit 30] [--from 2027-01-04]
        [--skip-national | --skip-demo] [--order constrained|registry] [--out docs/rota.json]

After every rota of the period is approved, each territory's spreads of nights and duties
are counted over every territory (its lawyers' duties in all approved rotas), with a
verdict where a spread is over 1 (`verdict`).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Mapping
from datetime import date, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sqlmodel import select  # noqa: E402

from dispatcher import registry  # noqa: E402
from dispatcher.db import create_schema, make_engine, unit_of_work  # noqa: E402
from dispatcher.models import RotaAssignment, Territory  # noqa: E402
from dispatcher.rota import service  # noqa: E402
from dispatcher.rota.model import (  # noqa: E402
    RotaInput,
    Slot,
    SolverSettings,
    available,
    can_serve_alone,
    duties_elsewhere,
    figures,
    least_spread,
    rest_span,
    solve,
    takes_all,
)
from dispatcher.simulation.national import national_registry  # noqa: E402
from policies.config import load_policy_book  # noqa: E402


def _load(data: dict[str, Any], path: Path) -> Any:
    engine = make_engine(f"sqlite:///{path}")
    create_schema(engine)
    with unit_of_work(engine) as session:
        registry.import_registry(session, registry.RegistryFile.model_validate(data), actor="bench")
    return engine


def constrained_first(data: dict[str, Any], codes: list[str], policies: Any) -> list[str]:
    """The territories with the fewest lawyers able to take a night first (speakers of every
    night language), then the fewest lawyers: the ones with least choice are planned before
    the ones that can plan around them."""
    speakers: dict[str, int] = dict.fromkeys(codes, 0)
    lawyers: dict[str, int] = dict.fromkeys(codes, 0)
    for lawyer in data["lawyers"]:
        for code in lawyer["territories"]:
            if code not in lawyers:
                continue
            lawyers[code] += 1
            needed = policies.for_territory(code).rota.night_languages
            speakers[code] += all(language in lawyer["languages"] for language in needed)
    return sorted(codes, key=lambda code: (speakers[code], lawyers[code], code))


def plan_all(
    name: str, data: dict[str, Any], first: date, time_limit: float, workdir: Path, order: str
) -> list[dict[str, Any]]:
    engine = _load(data, workdir / f"{name}.db")
    policies = load_policy_book(os.environ.get("DISPATCHER_POLICY_FILE"))
    codes = [t["code"] for t in data["territories"]]
    if order == "constrained":
        codes = constrained_first(data, codes, policies)
    rows = []
    approved: dict[str, str] = {}
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
                approved[code] = made.id
                # As the plan saw them: its lawyers' duties in the rotas approved before it.
                at_plan = overall(session, code, made.id, first, policies, time_limit)
        shown: dict[str, Any] = dict(made.figures) if made.figures else {}
        row = {
            "registry": name,
            "territory": code,
            "lawyers": shown.get("lawyers"),
            "status": str(made.status),
            "solve_s": made.solve_s,
            "firm_deviation_max": shown.get("firm_deviation_max"),
            "totals": shown.get("totals"),
            "nights": shown.get("nights"),
            "weekends": shown.get("weekends"),
            "hinted": shown.get("hinted"),
            "problems": made.problems,
        }
        if code in approved:
            row["at_plan"] = at_plan
        rows.append(row)
        print(
            f"{name:8} {code:8} {row['lawyers'] or 0:4} {row['status']:10} "
            f"{made.solve_s:6.2f} s  firm dev {row['firm_deviation_max']}  "
            f"nights {row['nights']}  {'; '.join(made.problems)}",
            flush=True,
        )
    # Over every territory, once every rota of the period is approved: a territory planned
    # early did not see its lawyers' duties in the territories planned after it.
    for row in rows:
        code = row["territory"]
        if code not in approved:
            continue
        with unit_of_work(engine) as session:
            final = overall(session, code, approved[code], first, policies, time_limit)
        row["overall"] = final
        for name_ in ("nights", "totals"):
            row[f"{name_}_overall"] = final[name_]["spread"]
            row[f"{name_}_verdict"] = verdict(row["at_plan"][name_], final[name_])
        print(
            f"{name:8} {code:8} over all territories: "
            f"nights {_span(row['nights_overall'])} {row['nights_verdict']}  "
            f"duties {_span(row['totals_overall'])} {row['totals_verdict']}",
            flush=True,
        )
    engine.dispose()
    return rows


def _span(spread: Any) -> str:
    return f"{spread['min']}–{spread['max']}"


def verdict(at_plan: dict[str, Any], final: dict[str, Any]) -> str:
    """Why a spread over every territory is over 1:
    - `limit`: no plan of this territory is more even, with the other rotas as they are
      (`limit (n elsewhere)`: a lawyer holds n in other territories alone, which sets the
      max whatever this plan does);
    - `order`: the plan was the most even possible with the rotas approved before it, and
      rotas approved after it loaded its lawyers;
    - `trade`: a more even plan existed when it was made, and the objective preferred
      something else (firm shares, the other spreads);
    - `not proven`: a least spread was not found within the time limit."""
    spread = final["spread"]
    width = spread["max"] - spread["min"]
    if width <= 1:
        return "within 1"
    least = final.get("least")
    if least is None:
        return "not proven"
    if least >= width:
        floor = final["most_elsewhere"]
        return f"limit ({floor} elsewhere)" if floor > spread["min"] + 1 else "limit"
    was = at_plan["spread"]["max"] - at_plan["spread"]["min"]
    then = at_plan.get("least")
    if was > 1 and then is None:
        return "not proven"
    if was > 1 and was > then:
        return f"trade (then {was}, {then} possible)"
    return f"order ({least} possible now)"


def overall(
    session: Any, code: str, rota_id: str, first: date, policies: Any, limit: float
) -> dict[str, Any]:
    """A planned territory's spreads of nights and duties over its lawyers, counting their
    approved duties in every other territory's rota of the period as they stand now, the
    least spreads the rules allow here with those duties as they are, and the low end's
    reasons (`judge`)."""
    policy = policies.for_territory(code)
    place = session.exec(select(Territory).where(Territory.code == code)).one()
    data, ids = service.rota_input(
        session, territory=place, first_day=first, days=28, policy=policy
    )
    licence_of = {v: k for k, v in ids.items()}
    by_start = {s.start: s for s in data.slots}
    here = [
        (licence_of[a.lawyer_id], by_start[a.starts_at])
        for a in session.exec(select(RotaAssignment).where(RotaAssignment.rota_id == rota_id))
    ]
    found = figures(data, here, hinted=False)
    settings = SolverSettings(limit, policy.rota.num_workers, policy.rota.presolve)
    row: dict[str, Any] = {}
    for name, night, spread in (
        ("nights", True, found["nights_overall"]),
        ("totals", False, found["totals_overall"]),
    ):
        chosen = [s for s in data.slots if s.night or not night]
        row[name] = {
            "spread": spread,
            # The most any of these lawyers holds in other territories alone: a floor for the
            # max that no plan here can lower.
            "most_elsewhere": max(
                (
                    duties_elsewhere(lw, chosen)
                    for lw in data.lawyers
                    if takes_all(lw, chosen, data)
                ),
                default=0,
            ),
        }
        if spread["max"] - spread["min"] > 1:
            row[name]["least"] = least_spread(data, settings, night=night)
            row[name]["low"] = judge(data, here, night=night)
    return row


def judge(data: RotaInput, here: list[tuple[str, Slot]], *, night: bool) -> dict[str, int]:
    """Why the lawyers at the low end (2 or more below the most loaded, over every territory)
    have fewer: how many hold duties in other territories (counted, and their rest blocks
    slots here), have leave or opt-outs, reached this rota's weekly cap in some week, or none
    of these; and how many could take one of a top lawyer's slots here as the plan stands
    (free then, rest and this rota's cap kept, a speaker where a night needs one)."""
    chosen = [s for s in data.slots if s.night or not night]
    lawyers = [lw for lw in data.lawyers if takes_all(lw, chosen, data)]
    mine: dict[str, list[Slot]] = {lw.licence: [] for lw in data.lawyers}
    for licence, slot in here:
        mine[licence].append(slot)
    count = {
        lw.licence: sum(1 for s in mine[lw.licence] if s in chosen) + duties_elsewhere(lw, chosen)
        for lw in lawyers
    }
    top = max(count.values())
    high = [lw for lw in lawyers if count[lw.licence] == top]
    rest = timedelta(hours=data.rest_hours)
    span = rest_span(
        data.rest_hours, (data.slots[0].end - data.slots[0].start).total_seconds() / 3600
    )
    tally = {"lawyers": 0, "elsewhere": 0, "leave_or_opt_out": 0, "cap": 0, "none": 0, "movable": 0}
    for lw in (lw for lw in lawyers if count[lw.licence] <= top - 2):
        weekly: dict[int, int] = defaultdict(int)
        for s in mine[lw.licence]:
            weekly[s.week] += 1
        reasons = {
            "elsewhere": duties_elsewhere(lw, data.slots) > 0,
            "leave_or_opt_out": bool(lw.leave or lw.no_nights or lw.no_weekends),
            "cap": any(n >= data.weekly_cap for n in weekly.values()),
        }
        taken = {s.index for s in mine[lw.licence]}
        movable = any(
            s in chosen
            and available(lw, s, rest)
            and can_serve_alone(lw, s, data, languages=True)
            and not any(abs(s.index - t) <= span for t in taken)
            and weekly[s.week] < data.weekly_cap
            for h in high
            for s in mine[h.licence]
        )
        tally["lawyers"] += 1
        for key, held in reasons.items():
            tally[key] += held
        tally["none"] += not any(reasons.values())
        tally["movable"] += movable
    return tally


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


def _spread(found: Mapping[str, Any] | None) -> str:
    return "" if not found else f"{found['min']}–{found['max']}"


def markdown_tables(summary: Mapping[str, Any]) -> str:
    """The per-territory tables of docs/benchmarks.md, one per registry, from a saved run."""
    head = (
        "| territory | lawyers | status | solve s | firm deviation (max) | duties here | "
        "nights here | nights, all territories | verdict | duties, all territories | verdict | "
        "problems |\n" + "|---" * 12 + "|"
    )
    out: list[str] = []
    for which in ("demo", "national"):
        rows = sorted(
            (x for x in summary["territories"] if x["registry"] == which),
            key=lambda x: x["territory"],
        )
        if not rows:
            continue
        lines = [f"{which} registry", "", head]
        for x in rows:
            deviation = x["firm_deviation_max"]
            cells = [
                x["territory"],
                x["lawyers"] or "",
                x["status"],
                f"{x['solve_s']:.2f}",
                "" if deviation is None else f"{deviation:.3f}",
                _spread(x["totals"]),
                _spread(x["nights"]),
                _spread(x.get("nights_overall")),
                x.get("nights_verdict") or "",
                _spread(x.get("totals_overall")),
                x.get("totals_verdict") or "",
                "; ".join(x["problems"]),
            ]
            lines.append("| " + " | ".join(str(c) for c in cells) + " |")
        out.append("\n".join(lines))
    return "\n\n".join(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--markdown",
        action="store_true",
        help="print the per-territory tables of the run saved at --out, and plan nothing",
    )
    parser.add_argument("--time-limit", type=float, default=30.0)
    parser.add_argument("--from", dest="first", type=date.fromisoformat, default=date(2027, 1, 4))
    parser.add_argument("--skip-national", action="store_true")
    parser.add_argument("--skip-demo", action="store_true")
    parser.add_argument(
        "--order",
        choices=("registry", "constrained"),
        default="constrained",
        help="plan the fewest night speakers first (default), or in the registry's order",
    )
    parser.add_argument("--measure-limit", type=float, default=10.0)
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "rota.json")
    args = parser.parse_args()
    if args.markdown:
        print(markdown_tables(json.loads(args.out.read_text(encoding="utf-8"))))
        return
    demo = json.loads((ROOT / "data" / "registry.json").read_text(encoding="utf-8"))
    national = national_registry()
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        rows = (
            []
            if args.skip_demo
            else plan_all("demo", demo, args.first, args.time_limit, workdir, args.order)
        )
        if not args.skip_national:
            rows += plan_all("national", national, args.first, args.time_limit, workdir, args.order)
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
        "order": args.order,
        "territories": rows,
        "settings": measured,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(summary, indent=2, default=str) + "\n", encoding="utf-8")
    print(f"saved {args.out} (tables for docs/benchmarks.md: --markdown)")


if __name__ == "__main__":
    main()
