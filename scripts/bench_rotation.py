"""How closely the rotation rule keeps firms to their entitlement, and what one ranking costs.

Drives `policies.quota.rank_firms` the way the allocator does (each ranked firm earns its share,
the first one gets the turn) over a long run of decisions among firms with seeded random
weights, once with every firm eligible at every decision and once with each firm excluded
independently at random (conflicts, caps, duty windows), each under both firm bounds of the
policy (`[rotation] firm_bound`: Tijdeman's, and B* of the weights where the rotation is on its
track), and prints and saves the figures.

    .venv/bin/python scripts/bench_rotation.py [--decisions 10000 --firms 15 --exclusion 0.2]
"""

from __future__ import annotations

import argparse
import json
import platform
import random
import statistics
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from policies.optimum import b_star  # noqa: E402
from policies.quota import FirmStanding, quota_slack, rank_firms  # noqa: E402


@dataclass(frozen=True)
class Scenario:
    name: str
    exclusion: float
    decisions: int
    max_abs_deviation: float
    mean_abs_deviation: float  # over every firm and every decision
    mean_abs_deviation_end: float
    max_abs_deviation_end: float
    us_per_rank: float
    median_us_per_rank: float


def run(
    name: str,
    weights: dict[str, float],
    decisions: int,
    exclusion: float,
    rng: random.Random,
    optimum: bool,
) -> Scenario:
    """Run the rotation over `decisions` decisions; a firm is left out of a decision with
    probability `exclusion` (a decision with no eligible firm does not happen)."""
    entitlement = dict.fromkeys(weights, 0.0)
    offers = dict.fromkeys(weights, 0)
    worst = 0.0
    total_abs = 0.0
    timings_ns: list[int] = []
    made = 0
    for _ in range(decisions):
        standings = [
            FirmStanding(firm, weight, entitlement[firm], offers[firm])
            for firm, weight in weights.items()
            if rng.random() >= exclusion
        ]
        if not standings:
            continue
        started = time.perf_counter_ns()
        ranked = rank_firms(standings, optimum=optimum)
        timings_ns.append(time.perf_counter_ns() - started)
        for r in ranked:
            entitlement[r.firm] += r.share
        offers[ranked[0].firm] += 1
        made += 1
        deviations = [abs(offers[f] - entitlement[f]) for f in weights]
        worst = max(worst, *deviations)
        total_abs += sum(deviations)
    end = [abs(offers[f] - entitlement[f]) for f in weights]
    return Scenario(
        name=name,
        exclusion=exclusion,
        decisions=made,
        max_abs_deviation=worst,
        mean_abs_deviation=total_abs / max(1, made * len(weights)),
        mean_abs_deviation_end=statistics.fmean(end),
        max_abs_deviation_end=max(end),
        us_per_rank=statistics.fmean(timings_ns) / 1000,
        median_us_per_rank=statistics.median(timings_ns) / 1000,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--decisions", type=int, default=10_000)
    parser.add_argument("--firms", type=int, default=15)
    parser.add_argument("--exclusion", type=float, default=0.2)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--out", type=Path, default=ROOT / "bench-results" / "rotation.json")
    args = parser.parse_args()

    rng = random.Random(args.seed)
    weights = {f"F{i:03d}": float(rng.randint(1, 15)) for i in range(args.firms)}
    scenarios = [
        run(
            f"{label}, {'B*' if optimum else 'Tijdeman'}",
            weights,
            args.decisions,
            exclusion,
            random.Random(args.seed + offset),
            optimum,
        )
        for optimum in (False, True)
        for label, exclusion, offset in (
            ("no exclusions", 0.0, 1),
            (f"{args.exclusion:.0%} random exclusions", args.exclusion, 2),
        )
    ]
    bound = quota_slack(args.firms)
    best = b_star(list(weights.values()))

    print(
        f"rotation: {args.firms} firms, {args.decisions} decisions, seed {args.seed}, "
        f"weights {[int(w) for w in weights.values()]}"
    )
    print(
        f"quota bound without exclusions: 1 - 1/(2n-2) = {bound:.4f}; "
        f"B* = {best} = {float(best):.4f}"
    )
    header = (
        f"{'scenario':<36} {'decisions':>9} {'max |dev|':>10} {'mean |dev|':>11} "
        f"{'mean |dev| end':>15} "
        f"{'max |dev| end':>14} {'us/rank mean':>13} {'us/rank p50':>12}"
    )
    print(header)
    print("-" * len(header))
    for s in scenarios:
        print(
            f"{s.name:<36} {s.decisions:>9} {s.max_abs_deviation:>10.4f} "
            f"{s.mean_abs_deviation:>11.4f} "
            f"{s.mean_abs_deviation_end:>15.4f} {s.max_abs_deviation_end:>14.4f} "
            f"{s.us_per_rank:>13.2f} {s.median_us_per_rank:>12.2f}"
        )

    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(
        json.dumps(
            {
                "benchmark": "rotation",
                "firms": args.firms,
                "decisions": args.decisions,
                "exclusion": args.exclusion,
                "seed": args.seed,
                "weights": weights,
                "quota_bound": bound,
                "b_star": float(best),
                "python": platform.python_version(),
                "scenarios": [asdict(s) for s in scenarios],
            },
            indent=2,
        )
        + "\n",
        encoding="utf-8",
    )
    print(f"saved {args.out.relative_to(ROOT) if args.out.is_relative_to(ROOT) else args.out}")


if __name__ == "__main__":
    main()
