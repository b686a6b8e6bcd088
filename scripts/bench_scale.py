"""Allocation at national scale on the embedded default (SQLite file), and the simulator's speed.

For each scenario: a national-shaped registry (`dispatcher.simulation.national`) imported
through the service's own import, past decisions written in bulk
(`dispatcher.simulation.past`), then court orders through the real workflow on a virtual
clock with the demand's territories, hours, urgencies and languages; each decision
(`allocation.decide_rotation`, inside the order's transaction) is timed, and each invited
lawyer accepts and closes the case (untimed) so that caps do not end the run. Then the
simulator replays days of national demand and counts simulated requests per wall second.

    .venv/bin/python scripts/bench_scale.py [--quick] [--decisions 1000] [--history 1000000]
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import json
import math
import platform
import pstats
import statistics
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sqlalchemy import event  # noqa: E402
from sqlmodel import Session, select  # noqa: E402

from dispatcher import allocation, registry, schemas, tokens, workflow  # noqa: E402
from dispatcher.db import create_schema, make_engine, unit_of_work  # noqa: E402
from dispatcher.logging import configure  # noqa: E402
from dispatcher.models import Decision, Invitation, Lawyer, Request, Requester  # noqa: E402
from dispatcher.simulation.clock import VirtualClock, replaying  # noqa: E402
from dispatcher.simulation.demand import REQUESTS_PER_LAWYER_YEAR, draw_demand  # noqa: E402
from dispatcher.simulation.loop import Simulation  # noqa: E402
from dispatcher.simulation.national import national_registry  # noqa: E402
from dispatcher.simulation.past import write_past  # noqa: E402
from dispatcher.simulation.run import DEFAULT_START, policy_book, scratch_engine  # noqa: E402

LAWYERS_PER_FIRM = 12.5  # 5,000 lawyers in 400 firms
TERRITORIES = 80
HISTORY_PER_LAWYER = 200  # 1,000,000 past decisions for 5,000 lawyers


@dataclass(frozen=True)
class Scenario:
    name: str
    lawyers: int
    history: int


@dataclass(frozen=True)
class Figures:
    scenario: str
    lawyers: int
    firms: int
    territories: int
    past_decisions: int
    past_rows: int
    past_write_s: float
    import_s: float
    # Reading every territory's registry facts once (`allocation.prime`), as a process does at
    # its first decision in each territory and again after any registry change: the mean and
    # the largest territory's read.
    facts_read_ms_mean: float
    facts_read_ms_max: float
    decisions: int
    decision_ms_p50: float
    decision_ms_p90: float
    decision_ms_p99: float
    decision_ms_max: float
    decision_ms_mean: float
    # The same in this process's CPU time: what the decision costs on a machine shared with
    # other work, whose wall times include waiting for a core.
    decision_cpu_ms_p50: float
    decision_cpu_ms_mean: float
    decision_cpu_ms_p99: float
    decisions_per_s: float  # one process, back to back: 1 / mean decision time
    order_ms_p50: float  # the whole order's transaction, commit included
    orders_per_s: float  # orders committed per second (without the untimed answers)
    fallback_share: float  # decisions that went to a fallback territory
    unfilled: int


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def scenarios(quick: bool, history: int) -> list[Scenario]:
    if quick:
        return [
            Scenario("500 lawyers", 500, 20_000),
            Scenario("5,000 lawyers, no history", 5000, 0),
            Scenario("5,000 lawyers", 5000, 100_000),
        ]
    return [
        Scenario("500 lawyers", 500, min(history, 500 * HISTORY_PER_LAWYER)),
        Scenario("5,000 lawyers, no history", 5000, 0),
        Scenario("5,000 lawyers", 5000, history),
        Scenario("50,000 lawyers", 50_000, history),
    ]


class StatementProfile:
    """The database's share of the timed decisions: each statement's CPU time (this thread's:
    SQLite runs in it; on a shared machine wall time would count waiting for a core), summed by
    the statement's opening words. Rows a statement returns are read after it, so their
    reading counts as Python's, with the rest of the decision's CPU time. The decisions also
    run under cProfile (`python_profile`), which slows them: the figures of a profiled run are
    not the scenario's."""

    def __init__(self) -> None:
        self.on = False
        self.ms: dict[str, float] = {}
        self.calls: dict[str, int] = {}
        self._began: list[float] = []
        self.python_profile = cProfile.Profile()

    def attach(self, engine: Any) -> None:
        event.listen(engine, "before_cursor_execute", self._before)
        event.listen(engine, "after_cursor_execute", self._after)

    def _before(self, *_args: Any) -> None:
        self._began.append(time.thread_time())

    def _after(
        self, _conn: Any, _cursor: Any, statement: str, _p: Any, _c: Any, many: bool
    ) -> None:
        began = self._began.pop()
        if not self.on:
            return
        key = ("many: " if many else "") + " ".join(statement.split())[:90]
        self.ms[key] = self.ms.get(key, 0.0) + (time.thread_time() - began) * 1000
        self.calls[key] = self.calls.get(key, 0) + 1

    def rows(self, decisions: int, decision_cpu_ms_mean: float) -> list[dict[str, Any]]:
        out = [
            {
                "statement": key,
                "ms_per_decision": round(ms / decisions, 3),
                "calls_per_decision": round(self.calls[key] / decisions, 2),
            }
            for key, ms in sorted(self.ms.items(), key=lambda kv: -kv[1])
        ]
        sql = sum(self.ms.values()) / decisions
        out.append(
            {
                "statement": "(outside the database: Python)",
                "ms_per_decision": round(decision_cpu_ms_mean - sql, 3),
                "calls_per_decision": 0,
            }
        )
        return out


def bench_allocation(
    scenario: Scenario,
    decisions: int,
    tmp: Path,
    seed: int,
    profile: StatementProfile | None = None,
) -> Figures:
    """One scenario in its own database file (with `profile`, each statement of the timed
    decisions is timed too)."""
    firms = max(1, round(scenario.lawyers / LAWYERS_PER_FIRM))
    data = registry.RegistryFile.model_validate(
        national_registry(lawyers=scenario.lawyers, firms=firms, territories=TERRITORIES, seed=seed)
    )
    path = tmp / f"scale-{scenario.lawyers}-{scenario.history}.db"
    engine = make_engine(f"sqlite:///{path}")
    create_schema(engine)
    if profile is not None:
        profile.attach(engine)
    policies = policy_book("quota", seed=seed)
    started = time.perf_counter()
    with unit_of_work(engine) as session:
        registry.import_registry(session, data, actor="bench")
        for t in data.territories:
            tokens.create_token(session, role="court", name=f"Court {t.code}", territories=[t.code])
    import_s = time.perf_counter() - started
    past = write_past(engine, decisions=scenario.history, end=DEFAULT_START, seed=seed)
    print(
        f"{scenario.name}: registry in {import_s:.1f} s, {past.decisions} past decisions "
        f"({past.rows} rows) in {past.seconds:.1f} s",
        file=sys.stderr,
        flush=True,
    )
    # The demand of the coming days gives each order its territory, hour, urgency, language.
    per_day = REQUESTS_PER_LAWYER_YEAR * scenario.lawyers / 365
    days = math.ceil(1.3 * decisions / per_day) + 1
    arrivals = draw_demand(data, days=days, seed=seed, start=DEFAULT_START)[:decisions]
    ctx = workflow.Context(policies, "bench")
    decision_ms: list[float] = []
    decision_cpu_ms: list[float] = []
    order_ms: list[float] = []
    fallbacks = 0
    unfilled = 0
    original = allocation.decide_rotation

    def timed(
        session: Session, request: Request, policy_for: Any, *, note: str | None = None
    ) -> allocation.Outcome:
        # What the order wrote before the decision (the request, its audit event) goes to the
        # database first, untimed: the ORM would otherwise write it at the decision's first
        # statement, inside the decision's time.
        session.flush()
        began, began_cpu = time.perf_counter(), time.thread_time()
        if profile is not None:
            profile.on = True
            profile.python_profile.enable()
        try:
            return original(session, request, policy_for, note=note)
        finally:
            if profile is not None:
                profile.python_profile.disable()
                profile.on = False
            decision_ms.append((time.perf_counter() - began) * 1000)
            decision_cpu_ms.append((time.thread_time() - began_cpu) * 1000)

    # The registry's facts are read once per territory before the timed decisions, as a
    # running service has them; what that read costs is measured here, territory by territory.
    reads_ms: list[float] = []
    with unit_of_work(engine) as session:
        kept = allocation.kept_registry(session)
        for territory in kept.territories.values():
            began = time.perf_counter()
            kept.facts_of(session, territory)
            reads_ms.append((time.perf_counter() - began) * 1000)
        # And B* of each territory's firms, as `Runtime.start` computes it.
        allocation.prime_bounds(session, policies.for_territory)
    # Then, as `Runtime.start` does, what the process holds leaves the collector's full passes.
    gc.collect()
    gc.freeze()
    clock = VirtualClock(DEFAULT_START)
    allocation.decide_rotation = timed
    try:
        with replaying(clock):
            with unit_of_work(engine) as session:
                courts = {
                    r.name: r for r in session.exec(select(Requester)).all() if r.id is not None
                }
            orders_s = 0.0
            for i, arrival in enumerate(arrivals):
                clock.move_to(clock.at(arrival.at_s))
                body = schemas.RequestIn.model_validate(
                    {**arrival.body(), "kind": "court_order", "external_ref": f"BENCH-{i}"}
                )
                began = time.perf_counter()
                with unit_of_work(engine) as session:
                    request, _ = workflow.create_request(
                        session, body, requester=courts[f"Court {arrival.territory}"], ctx=ctx
                    )
                elapsed = time.perf_counter() - began
                orders_s += elapsed
                order_ms.append(elapsed * 1000)
                _answer(engine, request.id, ctx, clock)
                with unit_of_work(engine) as session:
                    settled = session.get(Request, request.id)
                    assert settled is not None
                    if settled.status == workflow.UNFILLED:
                        unfilled += 1
            with unit_of_work(engine) as session:
                fallbacks = sum(
                    1
                    for (via,) in session.execute(
                        select(Decision.via_fallback).where(Decision.policy_version != "past")
                    ).all()
                    if via
                )
    finally:
        allocation.decide_rotation = original
        gc.unfreeze()
        engine.dispose()
        path.unlink(missing_ok=True)
    return Figures(
        scenario=scenario.name,
        lawyers=len(data.lawyers),
        firms=len(data.firms),
        territories=len(data.territories),
        past_decisions=past.decisions,
        past_rows=past.rows,
        past_write_s=round(past.seconds, 1),
        import_s=round(import_s, 1),
        facts_read_ms_mean=round(statistics.fmean(reads_ms), 2),
        facts_read_ms_max=round(max(reads_ms), 2),
        decisions=len(decision_ms),
        decision_ms_p50=round(statistics.median(decision_ms), 2),
        decision_ms_p90=round(percentile(decision_ms, 0.90), 2),
        decision_ms_p99=round(percentile(decision_ms, 0.99), 2),
        decision_ms_max=round(max(decision_ms), 2),
        decision_ms_mean=round(statistics.fmean(decision_ms), 2),
        decision_cpu_ms_p50=round(statistics.median(decision_cpu_ms), 2),
        decision_cpu_ms_p99=round(percentile(decision_cpu_ms, 0.99), 2),
        decision_cpu_ms_mean=round(statistics.fmean(decision_cpu_ms), 2),
        decisions_per_s=round(1000 / statistics.fmean(decision_ms), 1),
        order_ms_p50=round(statistics.median(order_ms), 2),
        orders_per_s=round(len(order_ms) / orders_s, 1),
        fallback_share=round(fallbacks / max(1, len(decision_ms)), 4),
        unfilled=unfilled,
    )


def _answer(engine: Any, request_id: str, ctx: workflow.Context, clock: VirtualClock) -> None:
    """The invited lawyer accepts at once and the case closes: workloads stay as they were."""
    with unit_of_work(engine) as session:
        invitation = session.exec(
            select(Invitation).where(
                Invitation.request_id == request_id, Invitation.status == "pending"
            )
        ).first()
        if invitation is None:
            return
        lawyer = session.get(Lawyer, invitation.lawyer_id)
        assert lawyer is not None
        workflow.accept(session, invitation.id, lawyer, ctx)
        appointment = workflow.lawyer_appointments(session, lawyer, True)[0]
        workflow.close_appointment(session, appointment.id, lawyer, ctx)
    clock.move_to(clock.now + timedelta(seconds=1))


def bench_simulator(days: int, seed: int, tmp: Path) -> dict[str, Any]:
    """Days of national demand (2,500 lawyers, 140 firms, 80 territories) through the simulator."""
    data = registry.RegistryFile.model_validate(national_registry(seed=seed))
    engine = scratch_engine(f"sqlite:///{tmp}/simulator.db")
    try:
        create_schema(engine)
        simulation = Simulation(
            engine,
            policy_book("quota", seed=seed),
            data,
            days=days,
            seed=seed,
            start=DEFAULT_START,
        )
        summary = simulation.run()
    finally:
        engine.dispose()
    per_s = summary["replay_requests_per_s"] or 0.0
    year = len(draw_demand(data, days=365, seed=seed, start=DEFAULT_START))
    return {
        "registry": "national: 2,500 lawyers, 140 firms, 80 territories",
        "days": days,
        "requests": summary["requests"],
        "invitations": summary["invitations"],
        "steps": summary["steps"],
        "registry_load_s": round(summary["wall_s"] - summary["replay_s"], 1),
        "replay_s": summary["replay_s"],
        "requests_per_s": round(per_s, 1),
        "year_requests": year,
        "year_estimated_s": round(year / per_s, 0) if per_s else None,
    }


def table(rows: list[dict[str, Any]], keys: list[str]) -> str:
    widths = {k: max(len(k), *(len(str(r[k])) for r in rows)) for k in keys}
    lines = ["  ".join(k.ljust(widths[k]) for k in keys)]
    lines += ["  ".join(str(r[k]).ljust(widths[k]) for k in keys) for r in rows]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="a small version, under a minute")
    parser.add_argument("--decisions", type=int, default=None, help="timed decisions per scenario")
    parser.add_argument("--history", type=int, default=1_000_000, help="past decisions (full run)")
    parser.add_argument("--simulator-days", type=int, default=None)
    parser.add_argument(
        "--lawyers", type=int, nargs="*", help="only the scenarios of these bar sizes"
    )
    parser.add_argument(
        "--profile",
        action="store_true",
        help="time each statement of the decisions (of the last scenario run) and print them",
    )
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--out", type=Path, default=ROOT / "bench-results" / "scale.json")
    args = parser.parse_args()
    configure(level="WARNING")
    decisions = args.decisions or (200 if args.quick else 1000)
    days = args.simulator_days or (1 if args.quick else 7)
    results: list[Figures] = []
    profile: StatementProfile | None = None
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="bench-") as tmp:
        for scenario in scenarios(args.quick, args.history):
            if args.lawyers and scenario.lawyers not in args.lawyers:
                continue
            profile = StatementProfile() if args.profile else None
            results.append(bench_allocation(scenario, decisions, Path(tmp), args.seed, profile))
        print(f"simulator: {days} days of national demand", file=sys.stderr, flush=True)
        simulator = bench_simulator(days, args.seed, Path(tmp))
    rows = [asdict(r) for r in results]
    keys: list[str] = [
        "scenario",
        "lawyers",
        "firms",
        "past_decisions",
        "decisions",
        "decision_ms_p50",
        "decision_ms_p90",
        "decision_ms_p99",
        "decision_cpu_ms_p50",
        "decision_cpu_ms_p99",
        "decisions_per_s",
        "orders_per_s",
        "fallback_share",
        "facts_read_ms_mean",
        "facts_read_ms_max",
    ]
    print(table(rows, keys))
    print()
    print(table([simulator], list(simulator)))
    profiled: list[dict[str, Any]] = []
    if profile is not None and results:
        last = results[-1]
        profiled = profile.rows(last.decisions, last.decision_cpu_ms_mean)
        print()
        print(
            f"where a decision's CPU time goes (profiled): {last.scenario}, "
            f"mean {last.decision_cpu_ms_mean} ms"
        )
        print(table(profiled, ["ms_per_decision", "calls_per_decision", "statement"]))
        print()
        pstats.Stats(profile.python_profile).sort_stats("tottime").print_stats(25)
    report = {
        "command": " ".join(["scripts/bench", *sys.argv[1:]]),
        "quick": args.quick,
        "machine": {"python": platform.python_version(), "platform": platform.platform()},
        "at": datetime.now(UTC).isoformat(timespec="seconds"),
        "wall_s": round(time.perf_counter() - started, 1),
        "allocation": rows,
        "simulator": simulator,
    }
    if profiled:
        report["profile"] = {"scenario": results[-1].scenario, "statements": profiled}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    print(f"saved to {args.out}")


if __name__ == "__main__":
    main()
