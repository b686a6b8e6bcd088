"""The national overview the bar opens on, the public figures, and their in-process cache.

`national` gives one row per territory (decisions, the worst firm's deviation, time to counsel,
the Texas test, flags) with an attention level, sorted so that what needs the bar comes first.
`public_rows` gives per territory and month what anyone may read: counts only, counts below
`SUPPRESS_BELOW` withheld. `names` reads the registry's names once (territories per language,
firms, lawyers), so that pages show names and not codes.

Every figure here is read from the same tables as `fairness`; `cached` keeps a result until the
audit chain's head moves (every change of the record appends to the chain), so a dashboard
opened twice on an unchanged record is computed once.
"""

from __future__ import annotations

import threading
from collections import OrderedDict, defaultdict
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from datetime import datetime
from typing import TypeVar
from typing import cast as typed

from sqlalchemy import Integer, case, cast
from sqlalchemy import select as sa_select
from sqlmodel import Session, col, func, select
from typing_extensions import TypedDict

from dispatcher.models import (
    Appointment,
    AuditHead,
    Decision,
    DecisionShare,
    Firm,
    Lawyer,
    LawyerTerritory,
    Request,
    Requester,
    Territory,
)
from dispatcher.reports import flags
from dispatcher.reports.fairness import concentration, loosemore_hanby, nearest_rank
from dispatcher.reports.queries import month_bounds, month_of, period, seconds_between
from policies.vocabulary import Attention, LawyerStatus, Urgency

# Counsel within this many seconds of the request is "within the hour" on every page.
WITHIN_SECONDS = 3600
# The public page withholds any count of 1 to 4: so few cases could point at a person.
SUPPRESS_BELOW = 5
# A firm further than this from its entitlement is a warning, beyond `BAD_DEVIATION` a problem.
WARN_DEVIATION = 1.0
BAD_DEVIATION = 2.0
# Detention: a territory where fewer than this share got counsel within the hour is a warning.
WARN_WITHIN_HOUR = 0.8


class Names(TypedDict):
    """The registry's names: territories per language, firms and lawyers by code."""

    territories: dict[str, dict[str, str]]
    firms: dict[str, str]
    lawyers: dict[str, str]


class TerritoryStanding(TypedDict):
    """One territory in the national overview."""

    territory: str
    decisions: int
    requests: int
    served: int
    detained_served: int  # detained people who got a lawyer
    within_hour: int  # of them, those whose lawyer accepted within the hour
    detention_p90_s: int | None
    worst_firm: str | None
    max_abs_deviation: float
    loosemore_hanby: float
    top10_lawyers: int
    listed_lawyers: int
    top10_share: float
    top10_limit: float
    top10_exceeds: bool
    top_lawyers: list[str]
    flags: int
    attention: str
    problems: list[str]


class PublicRow(TypedDict):
    """One territory and month as the public page shows it (None: withheld, fewer than 5)."""

    territory: str
    month: str
    requests: int | None
    served: int | None
    within_hour_share: float | None
    evenness: float | None
    flags: int | None


def names(session: Session) -> Names:
    """The registry's names, read once."""
    territories = {
        code: {"az": az, "ru": ru, "en": en}
        for code, az, ru, en in session.exec(
            select(Territory.code, Territory.name_az, Territory.name_ru, Territory.name_en)
        ).all()
    }
    return {
        "territories": territories,
        "firms": dict(session.exec(select(Firm.code, Firm.name)).all()),
        "lawyers": dict(session.exec(select(Lawyer.licence, Lawyer.name)).all()),
    }


def _counsel(
    session: Session, start: datetime | None, end: datetime | None
) -> tuple[dict[str, tuple[int, int, int, int]], dict[str, int | None]]:
    """Per territory: (requests, served, detained people served, of them within the hour); and
    the detention p90 in seconds. The hour is the measure of detentions only: a request for
    someone not detained has a deadline of hours, and counting it flagged territories whose
    detained people all had counsel within the hour."""
    seconds = cast(
        func.round(seconds_between(session, col(Appointment.opened_at), col(Request.created_at))),
        Integer,
    )
    requests = dict(
        session.exec(
            select(Territory.code, func.count())
            .select_from(Request)
            .join(Territory, col(Territory.id) == Request.territory_id)
            .where(*period(col(Request.created_at), start, end))
            .group_by(col(Territory.code))
        ).all()
    )
    histograms: dict[str, list[tuple[int, int]]] = defaultdict(list)
    served: dict[str, int] = defaultdict(int)
    detained: dict[str, int] = defaultdict(int)
    within: dict[str, int] = defaultdict(int)
    for code, urgency, value, n in session.exec(
        select(Territory.code, Request.urgency, seconds, func.count())
        .select_from(Request)
        .join(Appointment, col(Appointment.request_id) == Request.id)
        .join(Territory, col(Territory.id) == Request.territory_id)
        .where(*period(col(Request.created_at), start, end))
        .group_by(col(Territory.code), col(Request.urgency), seconds)
    ).all():
        served[code] += int(n)
        if urgency == Urgency.DETENTION:
            detained[code] += int(n)
            if int(value) <= WITHIN_SECONDS:
                within[code] += int(n)
            histograms[code].append((int(value), int(n)))
    counts = {
        code: (int(n), served.get(code, 0), detained.get(code, 0), within.get(code, 0))
        for code, n in requests.items()
    }
    return counts, {code: nearest_rank(h, 0.90) for code, h in histograms.items()}


def _appointments(
    session: Session, start: datetime | None, end: datetime | None
) -> dict[str, dict[str, int]]:
    """Per territory, per lawyer's licence: appointments from requests of the period."""
    out: dict[str, dict[str, int]] = defaultdict(dict)
    for code, licence, n in session.exec(
        select(Territory.code, Lawyer.licence, func.count())
        .select_from(Appointment)
        .join(Request, col(Request.id) == Appointment.request_id)
        .join(Lawyer, col(Lawyer.id) == Appointment.lawyer_id)
        .join(Territory, col(Territory.id) == Request.territory_id)
        .where(*period(col(Request.created_at), start, end))
        .group_by(col(Territory.code), col(Lawyer.licence))
    ).all():
        out[code][licence] = int(n)
    return out


def _listed(session: Session) -> dict[str, set[str]]:
    out: dict[str, set[str]] = defaultdict(set)
    for code, licence in session.exec(
        select(Territory.code, Lawyer.licence)
        .select_from(LawyerTerritory)
        .join(Lawyer, col(Lawyer.id) == LawyerTerritory.lawyer_id)
        .join(Territory, col(Territory.id) == LawyerTerritory.territory_id)
        .where(Lawyer.status == LawyerStatus.ACTIVE)
    ).all():
        out[code].add(licence)
    return out


def _firm_ledgers(
    session: Session, start: datetime | None, end: datetime | None
) -> dict[str, list[tuple[str, float, int]]]:
    """Per territory: (firm code, entitlement, charged offers) over the period."""
    out: dict[str, list[tuple[str, float, int]]] = defaultdict(list)
    for code, firm, share, charged in session.exec(
        select(
            Territory.code,
            Firm.code,
            func.sum(DecisionShare.share),
            func.sum(DecisionShare.charged),
        )
        .select_from(DecisionShare)
        .join(Decision, col(Decision.id) == DecisionShare.decision_id)
        .join(Territory, col(Territory.id) == Decision.territory_id)
        .join(Firm, col(Firm.id) == DecisionShare.firm_id)
        .where(col(Decision.charged).is_(True), *period(col(Decision.created_at), start, end))
        .group_by(col(Territory.code), col(Firm.code))
    ).all():
        out[code].append((firm, float(share or 0.0), int(charged or 0)))
    return out


def _flags_per_territory(
    session: Session, start: datetime | None, end: datetime | None
) -> dict[str, int]:
    out: dict[str, int] = defaultdict(int)
    codes = {
        tid: code
        for tid, code in session.exec(select(Territory.id, Territory.code)).all()
        if tid is not None
    }
    for test in flags.pair_tests(session, start=start, end=end):
        if test["flagged"]:
            out[_requester_territory(session, test["requester_id"], codes)] += 1
    return out


def _requester_territory(session: Session, requester_id: int, codes: dict[int, str]) -> str:
    requester = session.get(Requester, requester_id)
    if requester is None or requester.territory_id is None:
        return ""
    return codes.get(requester.territory_id, "")


def attention(row: TerritoryStanding) -> tuple[str, list[str]]:
    """The attention level of a territory and the problems behind it, worst first."""
    problems: list[str] = []
    if row["top10_exceeds"]:
        problems.append("concentration")
    if row["flags"]:
        problems.append("flags")
    if row["max_abs_deviation"] >= BAD_DEVIATION:
        problems.append("deviation")
    bad = bool(problems)
    if WARN_DEVIATION <= row["max_abs_deviation"] < BAD_DEVIATION:
        problems.append("deviation")
    if row["detained_served"] and row["within_hour"] / row["detained_served"] < WARN_WITHIN_HOUR:
        problems.append("slow")
    if row["requests"] and row["served"] < row["requests"] * WARN_WITHIN_HOUR:
        problems.append("unserved")
    if bad:
        return Attention.ACT, problems
    if problems:
        return Attention.WATCH, problems
    return (Attention.QUIET if row["decisions"] == 0 else Attention.GOOD), problems


ATTENTION_ORDER = {Attention.ACT: 0, Attention.WATCH: 1, Attention.GOOD: 2, Attention.QUIET: 3}


def national(
    session: Session, start: datetime | None, end: datetime | None
) -> list[TerritoryStanding]:
    """Every territory's standing over [start, end), those needing attention first."""
    counsel, p90 = _counsel(session, start, end)
    appointed = _appointments(session, start, end)
    listed = _listed(session)
    ledgers = _firm_ledgers(session, start, end)
    flagged = _flags_per_territory(session, start, end)
    rows: list[TerritoryStanding] = []
    for code in session.exec(select(Territory.code).order_by(col(Territory.code))).all():
        firms = ledgers.get(code, [])
        worst = max(firms, key=lambda f: abs(f[2] - f[1]), default=None)
        counts = appointed.get(code, {})
        top = concentration(counts.values(), len(listed.get(code, set()) | set(counts)))
        ranked = sorted(counts, key=lambda licence: (-counts[licence], licence))
        requests, served, detained, within = counsel.get(code, (0, 0, 0, 0))
        row: TerritoryStanding = {
            "territory": code,
            "decisions": round(sum(e for _, e, _ in firms)),
            "requests": requests,
            "served": served,
            "detained_served": detained,
            "within_hour": within,
            "detention_p90_s": p90.get(code),
            "worst_firm": worst[0] if worst else None,
            "max_abs_deviation": round(abs(worst[2] - worst[1]), 4) if worst else 0.0,
            "loosemore_hanby": round(
                loosemore_hanby([float(o) for *_, o in firms], [e for _, e, _ in firms]), 6
            ),
            "top10_lawyers": top["top10_lawyers"],
            "listed_lawyers": top["listed"],
            "top10_share": round(top["top10_share"], 6),
            "top10_limit": round(top["top10_limit"], 6),
            "top10_exceeds": top["top10_share"] > top["top10_limit"],
            "top_lawyers": ranked[: top["top10_lawyers"]],
            "flags": flagged.get(code, 0),
            "attention": Attention.GOOD,
            "problems": [],
        }
        row["attention"], row["problems"] = attention(row)
        rows.append(row)
    rows.sort(
        key=lambda r: (
            ATTENTION_ORDER[Attention(r["attention"])],
            -len(r["problems"]),
            -r["max_abs_deviation"],
            -r["decisions"],
            r["territory"],
        )
    )
    return rows


# --- the public page --------------------------------------------------------------------------


def withheld(n: int) -> int | None:
    """A count as the public may read it: None for 1 to 4 (0 says nothing of anyone)."""
    return None if 0 < n < SUPPRESS_BELOW else n


def public_months(session: Session) -> list[str]:
    """The months ('YYYY-MM') with requests, newest first."""
    month_r = month_of(session, col(Request.created_at))
    found = session.execute(sa_select(month_r).select_from(Request).distinct()).scalars()
    return sorted((str(m) for m in found), reverse=True)


def public_rows(session: Session, month: str | None = None) -> list[PublicRow]:
    """Per territory and month (every month, or only `month`): requests, served, counsel
    within the hour, evenness, flags."""
    start, end = month_bounds(month) if month else (None, None)
    month_r = month_of(session, col(Request.created_at))
    within = seconds_between(session, col(Appointment.opened_at), col(Request.created_at))
    cells: dict[tuple[str, str], list[int]] = {}
    for code, month, requests, served, quick in session.execute(
        sa_select(
            col(Territory.code),
            month_r,
            func.count(col(Request.id)),
            func.count(col(Appointment.id)),
            func.sum(case((within <= WITHIN_SECONDS, 1), else_=0)),
        )
        .select_from(Request)
        .join(Territory, col(Territory.id) == Request.territory_id)
        .outerjoin(Appointment, col(Appointment.request_id) == Request.id)
        .where(*period(col(Request.created_at), start, end))
        .group_by(col(Territory.code), month_r)
    ).all():
        cells[(code, str(month))] = [int(requests), int(served), int(quick or 0)]
    month_d = month_of(session, col(Decision.created_at))
    ledgers: dict[tuple[str, str], list[tuple[float, int]]] = defaultdict(list)
    for code, month, share, charged in session.exec(
        select(
            Territory.code,
            month_d,
            func.sum(DecisionShare.share),
            func.sum(DecisionShare.charged),
        )
        .select_from(DecisionShare)
        .join(Decision, col(Decision.id) == DecisionShare.decision_id)
        .join(Territory, col(Territory.id) == Decision.territory_id)
        .where(col(Decision.charged).is_(True), *period(col(Decision.created_at), start, end))
        .group_by(col(Territory.code), month_d, col(DecisionShare.firm_id))
    ).all():
        ledgers[(code, str(month))].append((float(share or 0.0), int(charged or 0)))
    flagged = _monthly_flags(session, start, end)
    rows: list[PublicRow] = []
    for (code, month), (requests, served, quick) in sorted(cells.items()):
        firms = ledgers.get((code, month), [])
        decisions = round(sum(e for e, _ in firms))
        index = loosemore_hanby([float(o) for _, o in firms], [e for e, _ in firms])
        rows.append(
            {
                "territory": code,
                "month": month,
                "requests": withheld(requests),
                "served": withheld(served),
                "within_hour_share": (
                    round(quick / served, 3) if served >= SUPPRESS_BELOW else None
                ),
                "evenness": round(1.0 - index, 3) if decisions >= SUPPRESS_BELOW else None,
                "flags": withheld(flagged.get((code, month), 0)),
            }
        )
    return rows


def _monthly_flags(
    session: Session, start: datetime | None, end: datetime | None
) -> dict[tuple[str, str], int]:
    """Flagged pairs per (territory, month): every month's tests from one pass over the record."""
    codes = {
        tid: code
        for tid, code in session.exec(select(Territory.id, Territory.code)).all()
        if tid is not None
    }
    out: dict[tuple[str, str], int] = defaultdict(int)
    for month, tested in flags.pair_tests_by_month(session, start, end).items():
        for test in tested:
            if test["flagged"]:
                out[(_requester_territory(session, test["requester_id"], codes), month)] += 1
    return out


# --- the cache --------------------------------------------------------------------------------

T = TypeVar("T")


def record_version(session: Session) -> int:
    """The audit chain's head: it moves with every change of the record."""
    head = session.get(AuditHead, 1)
    return head.seq if head else 0


@dataclass
class Cache:
    """Results keyed by what they were computed from and the record's version, newest kept."""

    size: int = 64

    def __post_init__(self) -> None:
        self._items: OrderedDict[Hashable, object] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def get(self, session: Session, key: Hashable, compute: Callable[[], T]) -> T:
        """The value of `key` at the record's present version, computed once per version."""
        full = (key, record_version(session), str(session.get_bind().engine.url))
        with self._lock:
            if full in self._items:
                self._items.move_to_end(full)
                self.hits += 1
                return typed(T, self._items[full])
        value = compute()
        with self._lock:
            self.misses += 1
            self._items[full] = value
            while len(self._items) > self.size:
                self._items.popitem(last=False)
        return value

    def clear(self) -> None:
        with self._lock:
            self._items.clear()


cache = Cache()
