"""Demand: who asks for counsel, where and when, drawn once for the whole run from a seed.

Detentions peak at night and at weekends; court orders come in office hours. Territories
bring work in proportion to their bar's size, damped, so the thin regional pools carry more
than their share of lawyers. Some cases have several defendants (the same case number for
different persons, which the rules treat as a conflict between their defenders), and a few
carry a registered tie of a local lawyer to the case.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

import numpy as np

from dispatcher.registry import RegistryFile
from policies.vocabulary import Category, Language, LawyerStatus, RequestKind, Urgency

# Requests a year per active lawyer: 60,000 for a national bar of about 2,500.
REQUESTS_PER_LAWYER_YEAR = 24.0
# (kind, urgency) and its share of the demand.
STREAMS: tuple[tuple[str, str, float], ...] = (
    (RequestKind.INVESTIGATION, Urgency.DETENTION, 0.40),
    (RequestKind.INVESTIGATION, Urgency.STANDARD, 0.15),
    (RequestKind.COURT_ORDER, Urgency.DETENTION, 0.07),
    (RequestKind.COURT_ORDER, Urgency.STANDARD, 0.38),
)
CATEGORIES = (
    (Category.MINOR, 0.2),
    (Category.LESS_GRAVE, 0.35),
    (Category.GRAVE, 0.35),
    (Category.ESPECIALLY_GRAVE, 0.1),
)
# The persons' languages: the pages' three, and some the pages do not speak.
LANGUAGES = (
    (Language.AZ, 0.83),
    (Language.RU, 0.14),
    (Language.EN, 0.015),
    ("tr", 0.01),
    ("ka", 0.005),
)
JUVENILE_RATE = 0.04
# Share of cases with co-defendants, and how many more persons such a case brings (1 to 3).
CO_DEFENDANT_CASES = 0.12
REGISTERED_TIE_RATE = 0.02
INVESTIGATORS_PER_TERRITORY = 3


def court_name(territory: str) -> str:
    return f"Court {territory}"


def investigator_name(territory: str, n: int) -> str:
    """The investigating bodies of a territory are numbered from 1."""
    return f"Investigator {territory} {n}"


@dataclass(frozen=True)
class Arrival:
    """One request as it will reach the service, with what the simulation knows beside it."""

    at_s: float  # seconds after the start of the run
    ref: str
    territory: str
    kind: str
    urgency: str
    category: str
    language: str
    juvenile: bool
    case_number: str
    person: str
    requester: str
    tied_lawyer: str | None  # a local lawyer with a registered tie to the case, if any

    def body(self) -> dict[str, object]:
        """The request as a requester sends it."""
        return {
            "external_ref": self.ref,
            "kind": self.kind,
            "case_number": self.case_number,
            "territory": self.territory,
            "urgency": self.urgency,
            "category": self.category,
            "person": {"name": self.person, "language": self.language, "juvenile": self.juvenile},
        }


def hour_profile(urgency: str, weekday: int, hour: int) -> float:
    """Relative rate in a local hour: detentions at night and weekends, orders in office hours."""
    weekend = weekday >= 5
    if urgency == Urgency.DETENTION:
        night = hour >= 20 or hour < 5
        return (2.2 if night else 1.0) * (1.5 if weekend else 1.0)
    office = 9 <= hour < 18
    return 1.0 if office and not weekend else 0.08


def territory_weights(data: RegistryFile) -> dict[str, float]:
    """Work a territory brings: its active lawyers to the power 0.75 (at least one)."""
    serving: dict[str, int] = defaultdict(int)
    for lawyer in data.lawyers:
        if lawyer.status == LawyerStatus.ACTIVE:
            for code in lawyer.territories:
                serving[code] += 1
    return {t.code: max(1, serving[t.code]) ** 0.75 for t in data.territories}


def draw_demand(
    data: RegistryFile,
    *,
    days: int,
    seed: int,
    start: datetime,
    timezone: str = "Asia/Baku",
    requests_per_year: float | None = None,
) -> list[Arrival]:
    """Every request of the run in time order, the same for the same seed and registry."""
    rng = np.random.default_rng(seed)
    active = sum(1 for lawyer in data.lawyers if lawyer.status == LawyerStatus.ACTIVE)
    per_year = requests_per_year or REQUESTS_PER_LAWYER_YEAR * active
    co_factor = 1 + CO_DEFENDANT_CASES * 2.0  # expected persons per case
    cases_total = per_year * days / 365.0 / co_factor
    weights = territory_weights(data)
    codes = sorted(weights)
    p_territory = np.array([weights[c] for c in codes])
    p_territory /= p_territory.sum()
    local = ZoneInfo(timezone)
    hours = days * 24
    # Expected cases in each hour for each stream, from the local-time profile.
    shape = np.empty((len(STREAMS), hours))
    for h in range(hours):
        moment = datetime.fromtimestamp(start.timestamp() + h * 3600.0, local)
        for s, (_kind, urgency, _share) in enumerate(STREAMS):
            shape[s, h] = hour_profile(urgency, moment.weekday(), moment.hour)
    shares = np.array([share for _k, _u, share in STREAMS])
    rates = shape / shape.sum(axis=1, keepdims=True) * (shares * cases_total)[:, None]
    counts = rng.poisson(rates)
    lawyers_in: dict[str, list[str]] = defaultdict(list)
    for lawyer in data.lawyers:
        if lawyer.status == LawyerStatus.ACTIVE:
            for code in lawyer.territories:
                lawyers_in[code].append(lawyer.licence)
    court_of = {code: 100 + i for i, code in enumerate(codes)}
    category_names = [c for c, _ in CATEGORIES]
    category_p = np.array([p for _, p in CATEGORIES])
    language_names = [c for c, _ in LANGUAGES]
    language_p = np.array([p for _, p in LANGUAGES])
    # One draw per case for each attribute, in a fixed order: the same seed, the same demand.
    stream_of = np.repeat(np.arange(len(STREAMS)).repeat(hours), counts.ravel())
    hour_of = np.repeat(np.tile(np.arange(hours), len(STREAMS)), counts.ravel())
    n = len(stream_of)
    at = hour_of * 3600.0 + rng.uniform(0.0, 3600.0, n)
    territory = rng.choice(len(codes), size=n, p=p_territory)
    category = rng.choice(len(category_names), size=n, p=category_p)
    extra = np.where(rng.random(n) < CO_DEFENDANT_CASES, rng.integers(1, 4, n), 0)
    tie = rng.random(n)
    tie_pick = rng.random(n)
    desk = rng.integers(1, INVESTIGATORS_PER_TERRITORY + 1, n)
    persons_total = int(n + extra.sum())
    language = rng.choice(len(language_names), size=persons_total, p=language_p)
    juvenile = rng.random(persons_total) < JUVENILE_RATE
    # Co-defendants follow within the next hours, by the same requester.
    offset = rng.exponential(1800.0, persons_total)
    year = start.year
    arrivals: list[Arrival] = []
    k = 0
    for i in np.argsort(at, kind="stable"):
        kind, urgency, _share = STREAMS[int(stream_of[i])]
        code = codes[int(territory[i])]
        case = f"1({court_of[code]})-{i + 1}/{year}"
        pool = lawyers_in[code]
        tied = pool[int(tie_pick[i] * len(pool))] if pool and tie[i] < REGISTERED_TIE_RATE else None
        requester = (
            court_name(code)
            if kind == RequestKind.COURT_ORDER
            else investigator_name(code, int(desk[i]))
        )
        for person in range(1 + int(extra[i])):
            ref = f"S{i + 1}-{person + 1}"
            arrivals.append(
                Arrival(
                    at_s=float(at[i]) + (float(offset[k]) if person else 0.0),
                    ref=ref,
                    territory=code,
                    kind=kind,
                    urgency=urgency,
                    category=category_names[int(category[i])],
                    language=language_names[int(language[k])],
                    juvenile=bool(juvenile[k]),
                    case_number=case,
                    person=f"Suspect {ref}",
                    requester=requester,
                    tied_lawyer=tied if person == 0 else None,
                )
            )
            k += 1
    limit = days * 86400.0
    arrivals = [a for a in arrivals if a.at_s < limit]
    arrivals.sort(key=lambda a: (a.at_s, a.ref))
    return arrivals
