"""The pool of the national registry's largest territory (the capital), request after request.

A national-shaped registry (`dispatcher.simulation.national`, as `bench_scale.py` builds it) is
imported into a scratch SQLite file and its facts read; then the largest territory's pool is
built for requests of drawn needs (urgency, language, juvenile) at drawn hours of a week:
`pool_of` alone (what the allocator judges in Python, from a moment given to it), with nobody
at their cap and with a share of the lawyers at their cap and a few paused, and `build_pool`
whole (the moment, invitations and conflicts read from the database first). Prints the
microseconds per pool and saves them.

    .venv/bin/python scripts/bench_pool.py [--lawyers 5000] [--pools 3000] [--out FILE]
"""

from __future__ import annotations

import argparse
import json
import platform
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import timedelta
from functools import partial
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sqlmodel import Session  # noqa: E402

from dispatcher import allocation, registry  # noqa: E402
from dispatcher.allocation.pool import Moment, pool_of  # noqa: E402
from dispatcher.db import create_schema, unit_of_work  # noqa: E402
from dispatcher.logging import configure  # noqa: E402
from dispatcher.models import Request  # noqa: E402
from dispatcher.simulation.national import national_registry  # noqa: E402
from dispatcher.simulation.run import DEFAULT_START, policy_book, scratch_engine  # noqa: E402
from policies.vocabulary import Category, RequestKind, RequestStatus  # noqa: E402

LAWYERS_PER_FIRM = 12.5  # as bench_scale.py: 5,000 lawyers in 400 firms
TERRITORIES = 80


def _requests(n: int, territory_id: int, rng: random.Random) -> list[tuple[Request, int]]:
    """Court orders of drawn needs, each with its minute of the week."""
    return [
        (
            Request(
                requester_id=1,
                external_ref=f"BENCH-{i}",
                payload_hash="0" * 64,
                kind=RequestKind.COURT_ORDER,
                category=Category.MINOR,
                status=RequestStatus.INVITING,
                case_number=f"CASE-{i}",
                territory_id=territory_id,
                urgency=rng.choice(["detention", "detention", "standard"]),
                person_name=f"Person {i}",
                person_language=rng.choices(["az", "ru", "en"], [0.7, 0.25, 0.05])[0],
                person_juvenile=rng.random() < 0.1,
            ),
            rng.randrange(7 * 24 * 60),
        )
        for i in range(n)
    ]


def _timed(calls: list[Callable[[], object]]) -> dict[str, float]:
    micros = []
    for call in calls:
        began = time.perf_counter()
        call()
        micros.append((time.perf_counter() - began) * 1e6)
    ordered = sorted(micros)
    return {
        "mean_us": round(statistics.fmean(micros), 1),
        "p50_us": round(ordered[len(ordered) // 2], 1),
        "p99_us": round(ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))], 1),
        "max_us": round(ordered[-1], 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--lawyers", type=int, default=5000)
    parser.add_argument("--pools", type=int, default=3000, help="pools per case")
    parser.add_argument("--at-cap", type=float, default=0.1, help="share at their cap")
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--out", type=Path, default=ROOT / "bench-results" / "pool.json")
    args = parser.parse_args()
    configure(level="WARNING")
    rng = random.Random(args.seed)
    firms = max(1, round(args.lawyers / LAWYERS_PER_FIRM))
    data = registry.RegistryFile.model_validate(
        national_registry(
            lawyers=args.lawyers, firms=firms, territories=TERRITORIES, seed=args.seed
        )
    )
    policy = policy_book("quota", seed=args.seed).default
    figures: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="bench-pool-") as tmp:
        engine = scratch_engine(f"sqlite:///{tmp}/pool.db")
        create_schema(engine)
        with unit_of_work(engine) as session:
            registry.import_registry(session, data, actor="bench")
        with Session(engine) as session:
            kept = allocation.kept_registry(session)
            every = [kept.facts_of(session, t) for t in kept.territories.values()]
            facts = max(every, key=lambda f: len(f.lawyers))
            requests = _requests(args.pools, facts.territory.id, rng)
            at = [DEFAULT_START + timedelta(minutes=m) for _, m in requests]
            ids = [lw.id for lw, standing, _ in facts.lawyers if standing is None]
            busy = rng.sample(ids, round(args.at_cap * len(ids)))
            loads = {lw.id: lw.max_open for lw, _, _ in facts.lawyers if lw.id in set(busy)}
            paused = frozenset(rng.sample(ids, 5))
            cases = {
                "pool_of, nobody at their cap": [Moment(t, frozenset(), {}) for t in at],
                f"pool_of, {args.at_cap:.0%} at their cap, 5 paused": [
                    Moment(t, paused, loads) for t in at
                ],
            }
            for name, moments in cases.items():
                figures[name] = _timed(
                    [
                        partial(pool_of, session, r, facts, policy, m, set(), {})
                        for (r, _), m in zip(requests, moments, strict=True)
                    ]
                )
            figures["build_pool (reads included)"] = _timed(
                [
                    partial(allocation.build_pool, session, r, facts, policy, t)
                    for (r, _), t in zip(requests, at, strict=True)
                ]
            )
    report = {
        "territory": facts.territory.code,
        "lawyers": len(facts.lawyers),
        "firms": len(facts.firms),
        "profiles": len({p for _, _, p in facts.lawyers}),
        "pools": args.pools,
        "machine": platform.processor() or platform.machine(),
        "figures": figures,
    }
    print(
        f"{report['territory']}: {report['lawyers']} lawyers, {report['firms']} firms, "
        f"{report['profiles']} profiles; {args.pools} pools per case"
    )
    for name, row in figures.items():
        cells = "  ".join(f"{k} {v:>8}" for k, v in row.items())
        print(f"  {name:<42} {cells}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    print(f"saved to {args.out}")


if __name__ == "__main__":
    main()
