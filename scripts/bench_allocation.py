"""Time per allocation decision with the demo registry, on the embedded default (SQLite file).

Runs court orders through the real workflow (decision, invitation, outbox, audit), accepting
and closing each so that caps do not end the run, and prints and saves the figures.

    .venv/bin/python scripts/bench_allocation.py [--orders 2000]
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sqlmodel import Session, select  # noqa: E402

from dispatcher import allocation, registry, schemas, tokens, workflow  # noqa: E402
from dispatcher.config import Settings  # noqa: E402
from dispatcher.db import unit_of_work  # noqa: E402
from dispatcher.models import Invitation, Lawyer, Request, Requester  # noqa: E402
from dispatcher.runtime import Runtime  # noqa: E402


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--orders", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--out", type=Path, default=ROOT / "bench-results" / "allocation.json")
    args = parser.parse_args()

    rng = random.Random(args.seed)
    data = registry.RegistryFile.model_validate_json(
        (ROOT / "data" / "registry.json").read_text(encoding="utf-8")
    )
    with tempfile.TemporaryDirectory() as tmp:
        rt = Runtime.build(
            Settings(database_url=f"sqlite:///{tmp}/bench.db", scheduler=False, log_level="WARNING")
        )
        with unit_of_work(rt.engine) as session:
            registry.import_registry(session, data, actor="bench")
            for t in data.territories:
                tokens.create_token(
                    session, role="court", name=f"Court {t.code}", territories=[t.code]
                )
        territories = [t.code for t in data.territories]
        # Three quarters of the demand in the capital, as in the registry.
        weights = [3.0 if code.startswith("BAK") else 1.0 for code in territories]
        ctx = rt.context("bench")
        decision_ms: list[float] = []
        order_ms: list[float] = []
        timed = allocation.decide_rotation

        def timed_decide(
            session: Session, request: Request, policy_for: Any, *, note: str | None = None
        ) -> allocation.Outcome:
            started = time.perf_counter()
            try:
                return timed(session, request, policy_for, note=note)
            finally:
                decision_ms.append((time.perf_counter() - started) * 1000)

        allocation.decide_rotation = timed_decide
        started_all = time.perf_counter()
        for i in range(args.orders):
            code = rng.choices(territories, weights)[0]
            body = schemas.RequestIn.model_validate(
                {
                    "external_ref": f"B-{i}",
                    "kind": "court_order",
                    "case_number": f"1(101)-{i}/2026",
                    "territory": code,
                    "urgency": rng.choice(["standard", "detention"]),
                    "category": "grave",
                    "person": {"name": f"Person {i}", "language": rng.choice(["az", "az", "ru"])},
                }
            )
            started = time.perf_counter()
            with unit_of_work(rt.engine) as session:
                requester = session.exec(
                    select(Requester).where(Requester.name == f"Court {code}")
                ).one()
                request, _ = workflow.create_request(session, body, requester=requester, ctx=ctx)
            order_ms.append((time.perf_counter() - started) * 1000)
            with unit_of_work(rt.engine) as session:
                invitation = session.exec(
                    select(Invitation).where(
                        Invitation.request_id == request.id, Invitation.status == "pending"
                    )
                ).first()
                if invitation is not None:
                    lawyer = session.get(Lawyer, invitation.lawyer_id)
                    assert lawyer is not None
                    workflow.accept(session, invitation.id, lawyer, ctx)
                    appointment = workflow.lawyer_appointments(session, lawyer, True)[0]
                    workflow.close_appointment(session, appointment.id, lawyer, ctx)
        elapsed = time.perf_counter() - started_all
        allocation.decide_rotation = timed
        rt.stop()

    figures = {
        "orders": args.orders,
        "lawyers": len(data.lawyers),
        "firms": len(data.firms),
        "territories": len(data.territories),
        "decision_ms_p50": round(statistics.median(decision_ms), 3),
        "decision_ms_p99": round(percentile(decision_ms, 0.99), 3),
        "decision_ms_mean": round(statistics.fmean(decision_ms), 3),
        # Should not grow with the history: the first and the last quarter of the run.
        "decision_ms_p50_first_quarter": round(
            statistics.median(decision_ms[: len(decision_ms) // 4]), 3
        ),
        "decision_ms_p50_last_quarter": round(
            statistics.median(decision_ms[-len(decision_ms) // 4 :]), 3
        ),
        "order_transaction_ms_p50": round(statistics.median(order_ms), 3),
        "order_transaction_ms_p99": round(percentile(order_ms, 0.99), 3),
        "orders_per_second_incl_accept_close": round(args.orders / elapsed, 1),
    }
    width = max(len(k) for k in figures)
    for key, value in figures.items():
        print(f"{key:<{width}}  {value}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(figures, indent=2) + "\n", encoding="utf-8")
    print(f"saved to {args.out}")


if __name__ == "__main__":
    main()
