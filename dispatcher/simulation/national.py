"""A registry of any size shaped like the national bar, for benchmarks and national runs.

Three quarters of the lawyers in the capital's districts, thin pools in the regions; firms of
one to twenty lawyers serving one to four neighbouring territories; languages, a juvenile
specialisation, duty windows for about half of the lawyers (office hours or night duty).
Deterministic for a seed.
"""

from __future__ import annotations

import random
from typing import Any

from policies.vocabulary import FirmStatus, Language, LawyerStatus

CAPITAL_SHARE = 0.75


def national_registry(
    *, lawyers: int = 2500, firms: int = 140, territories: int = 80, seed: int = 2026
) -> dict[str, Any]:
    """A registry file (the JSON of the specification) with these many of each."""
    rng = random.Random(seed)
    capital = max(1, territories // 7)
    codes = [f"C{i:02d}" for i in range(capital)] + [
        f"R{i:02d}" for i in range(territories - capital)
    ]
    territory_rows = []
    for i, code in enumerate(codes):
        neighbours = (
            [codes[(i + 1) % len(codes)]] if code.startswith("R") else [codes[(i + 1) % capital]]
        )
        territory_rows.append(
            {
                "code": code,
                "name": {"az": f"Ərazi {code}", "ru": f"Округ {code}", "en": f"Territory {code}"},
                "fallback": [c for c in neighbours if c != code]
                + (["C00"] if code.startswith("R") else []),
            }
        )
    capital_firms = max(1, round(firms * CAPITAL_SHARE))
    firm_rows = []
    for f in range(firms):
        if f < capital_firms:
            home = rng.randrange(capital)
            served = sorted(
                {codes[home], *(codes[rng.randrange(capital)] for _ in range(rng.randint(0, 3)))}
            )
        else:
            home = capital + (f - capital_firms) % (territories - capital)
            served = sorted({codes[home], codes[capital + rng.randrange(territories - capital)]})
        firm_rows.append(
            {
                "code": f"F{f:04d}",
                "name": f"Bureau {f}",
                "territories": served,
                "status": FirmStatus.ACTIVE,
            }
        )
    lawyer_rows = []
    capital_lawyers = round(lawyers * CAPITAL_SHARE)
    for n in range(lawyers):
        if n < capital_lawyers:
            firm = firm_rows[n % capital_firms]
        else:
            firm = (
                firm_rows[capital_firms + (n % max(1, firms - capital_firms))]
                if firms > capital_firms
                else firm_rows[n % firms]
            )
        languages = (
            [Language.AZ]
            + ([Language.RU] if rng.random() < 0.7 else [])
            + ([Language.EN] if rng.random() < 0.15 else [])
        )
        roll = rng.random()
        if roll < 0.5:
            duty: list[dict[str, Any]] = []
        elif roll < 0.85:
            duty = [{"weekday": d, "start": "09:00", "end": "18:00"} for d in range(5)]
        else:
            duty = [{"weekday": d, "start": "18:00", "end": "09:00"} for d in range(7)]
        lawyer_rows.append(
            {
                "licence": f"N-{n:05d}",
                "name": f"Lawyer {n}",
                "firm": firm["code"],
                "territories": list(firm["territories"]),
                "languages": languages,
                "specialisations": ["juvenile"] if rng.random() < 0.15 else [],
                "max_open": rng.randint(6, 12),
                "status": LawyerStatus.ACTIVE if rng.random() > 0.04 else LawyerStatus.ON_LEAVE,
                "duty": duty,
            }
        )
    return {
        "territories": territory_rows,
        "firms": firm_rows,
        "lawyers": lawyer_rows,
        "conflicts": [],
    }
