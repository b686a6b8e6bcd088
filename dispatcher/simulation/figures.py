"""The figures of a run, read back from the database the run wrote (as the bar would).

Firm level: every charged decision gives each eligible firm its share (decision_share); a
firm's deviation is its offers minus that running entitlement, in its territory's rotation,
at every point of the sequence. Lawyer level: a firm's share split equally among its lawyers
eligible at that decision (from the decision's recorded exclusions), compared at the end.
Time to counsel: from the request reaching the service to the lawyer's acceptance, for every
detention that needed counsel (the suspect's own lawyer aside); one never filled never got
counsel and counts as waiting for ever (a percentile that falls there is None).
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime

import numpy as np
from sqlalchemy import select as sa_select
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, func, select
from typing_extensions import TypedDict

from dispatcher.models import (
    Appointment,
    Decision,
    DecisionShare,
    Firm,
    Invitation,
    Lawyer,
    Request,
    Requester,
    Territory,
)
from dispatcher.reports.fairness import texas_test
from policies.vocabulary import RequestStatus, Role, Urgency


# Keys of the JSON object `dispatcher simulate --json` prints, in this order.
class Figures(TypedDict):
    """One rule's figures over a run (the keys of `KEYS`, in that order)."""

    policy: str
    requests: int
    max_abs_deviation: float
    mean_abs_deviation: float
    lawyer_max_abs_deviation: float
    lawyer_mean_abs_deviation: float
    gini: float
    loosemore_hanby: float
    ttc_detention_p50_s: float | None
    ttc_detention_p90_s: float | None
    ttc_detention_p99_s: float | None
    unfilled_rate: float
    invitations_per_appointment: float
    max_requester_lawyer_share: float
    texas_failing: int  # territories whose top 10% of lawyers took more than 3x their share


# The figures' keys, in their order (the columns of the tables and the CSV).
KEYS = tuple(Figures.__annotations__)
# An investigator's share is measured once they have this many appointed requests.
MIN_REQUESTER_APPOINTMENTS = 20


@dataclass
class Measured:
    """The figures (stable keys) and the series the plots draw."""

    figures: Figures
    deviation_by_day: list[float] = field(default_factory=list)
    ttc_detention_s: list[float] = field(default_factory=list)
    texas: list[TexasRow] = field(default_factory=list)


class TexasRow(TypedDict):
    """The Texas test of one territory over the run (`reports.fairness.texas_test`)."""

    territory: str
    listed: int
    appointments: int
    top10_lawyers: int
    top10_share: float
    top10_limit: float
    passes: bool


def texas_by_territory(session: Session) -> list[TexasRow]:
    """The Texas top-10% test in every territory over the whole run."""
    rows: list[TexasRow] = []
    for territory in session.exec(select(Territory).order_by(col(Territory.code))).all():
        assert territory.id is not None
        top = texas_test(session, territory.id, None, None)
        rows.append(
            {
                "territory": territory.code,
                "listed": top["listed"],
                "appointments": top["appointments"],
                "top10_lawyers": top["top10_lawyers"],
                "top10_share": round(top["top10_share"], 4),
                "top10_limit": round(top["top10_limit"], 4),
                "passes": top["top10_share"] <= top["top10_limit"],
            }
        )
    return rows


def gini(values: np.ndarray) -> float:
    """Gini coefficient of non-negative values (0: all equal)."""
    if values.size == 0 or float(values.sum()) == 0.0:
        return 0.0
    ordered = np.sort(values)
    n = ordered.size
    ranks = np.arange(1, n + 1)
    return float((2 * (ranks * ordered).sum()) / (n * ordered.sum()) - (n + 1) / n)


def _firm_deviation(
    session: Session, start: datetime, days: int
) -> tuple[float, float, float, list[float]]:
    """Max over time and mean at the end of |offers - entitlement|, Loosemore-Hanby, by day."""
    rows = session.execute(
        sa_select(
            col(Decision.territory_id),
            col(DecisionShare.decision_id),
            col(DecisionShare.firm_id),
            col(DecisionShare.share),
            col(DecisionShare.charged),
            col(Decision.created_at),
        )
        .join(Decision, col(Decision.id) == DecisionShare.decision_id)
        .order_by(col(DecisionShare.decision_id))
    ).all()
    by_territory: dict[int, list[tuple[int, int, float, int, datetime]]] = defaultdict(list)
    for territory_id, decision_id, firm_id, share, charged, at in rows:
        by_territory[territory_id].append((decision_id, firm_id, share, charged, at))
    worst = 0.0
    final: list[float] = []
    offers_by_firm: dict[int, float] = defaultdict(float)
    entitled_by_firm: dict[int, float] = defaultdict(float)
    daily = np.zeros(days + 1)
    for entries in by_territory.values():
        decisions = sorted({e[0] for e in entries})
        firms = sorted({e[1] for e in entries})
        d_index = {d: i for i, d in enumerate(decisions)}
        f_index = {f: i for i, f in enumerate(firms)}
        shares = np.zeros((len(decisions), len(firms)))
        charged = np.zeros((len(decisions), len(firms)))
        day_of = np.zeros(len(decisions), dtype=int)
        for decision_id, firm_id, share, hit, at in entries:
            i, j = d_index[decision_id], f_index[firm_id]
            shares[i, j] = share
            charged[i, j] = hit
            day_of[i] = min(days, max(0, int((at - start).total_seconds() // 86400) + 1))
        deviation = np.cumsum(charged, axis=0) - np.cumsum(shares, axis=0)
        running = np.abs(deviation).max(axis=1)
        worst = max(worst, float(running.max()))
        final.extend(np.abs(deviation[-1]).tolist())
        # The territory's largest deviation so far, as it stands at the end of each day.
        ceiling = np.maximum.accumulate(running)
        for day in range(1, days + 1):
            upto = np.searchsorted(day_of, day, side="right")
            if upto:
                daily[day] = max(daily[day], ceiling[upto - 1])
        for j, firm_id in enumerate(firms):
            offers_by_firm[firm_id] += float(charged[:, j].sum())
            entitled_by_firm[firm_id] += float(shares[:, j].sum())
    total_offers = sum(offers_by_firm.values()) or 1.0
    total_entitled = sum(entitled_by_firm.values()) or 1.0
    lh = 0.5 * sum(
        abs(offers_by_firm[f] / total_offers - entitled_by_firm[f] / total_entitled)
        for f in entitled_by_firm
    )
    mean = float(np.mean(final)) if final else 0.0
    return worst, mean, lh, np.maximum.accumulate(daily)[1:].tolist()


def _lawyer_deviation(session: Session) -> tuple[float, float, float]:
    """Max and mean |offers - entitlement| per lawyer at the end, and the Gini of offers per
    unit of entitlement."""
    firm_code = {f.id: f.code for f in session.exec(select(Firm)).all() if f.id is not None}
    lawyers_of: dict[str, list[str]] = defaultdict(list)
    for licence, firm_id in session.exec(select(Lawyer.licence, Lawyer.firm_id)).all():
        lawyers_of[firm_code[firm_id]].append(licence)
    licence_of = dict(session.exec(select(Lawyer.id, Lawyer.licence)).all())
    entitled: dict[str, float] = defaultdict(float)
    offers: dict[str, float] = defaultdict(float)
    shares: dict[int, dict[str, float]] = defaultdict(dict)  # decision -> firm code -> share
    for decision_id, firm_id, share in session.exec(
        select(DecisionShare.decision_id, DecisionShare.firm_id, DecisionShare.share)
    ).all():
        shares[decision_id][firm_code[firm_id]] = share
    for charged_id, lawyer_id, explanation in session.exec(
        select(Decision.id, Decision.lawyer_id, Decision.explanation).where(
            col(Decision.charged).is_(True)
        )
    ).all():
        assert charged_id is not None
        summary = explanation["tried"][-1]
        excluded = {e["licence"] for e in summary["excluded_lawyers"]}
        for firm, share in shares[charged_id].items():
            eligible = [lw for lw in lawyers_of[firm] if lw not in excluded]
            for licence in eligible:
                entitled[licence] += share / len(eligible)
        if lawyer_id is not None:
            offers[licence_of[lawyer_id]] += 1.0
    names = sorted(entitled)
    if not names:
        return 0.0, 0.0, 0.0
    deviation = np.array([abs(offers[n] - entitled[n]) for n in names])
    served = [n for n in names if entitled[n] >= 1.0]
    ratio = np.array([offers[n] / entitled[n] for n in served])
    return float(deviation.max()), float(deviation.mean()), gini(ratio)


def _percentile(values: list[float], q: float) -> float | None:
    """The q-th percentile, None when there are no values or it falls among those that never
    got counsel."""
    if not values:
        return None
    found = float(np.percentile(values, q, method="higher"))
    return round(found, 1) if math.isfinite(found) else None


def measure(engine: Engine, *, policy: str, start: datetime, days: int) -> Measured:
    """Every figure of the run in `engine`'s database."""
    with Session(engine) as session:
        worst, mean, lh, by_day = _firm_deviation(session, start, days)
        lawyer_worst, lawyer_mean, gini_index = _lawyer_deviation(session)
        texas = texas_by_territory(session)
        statuses = dict(
            session.exec(select(Request.status, func.count()).group_by(Request.status)).all()
        )
        requests = sum(statuses.values())
        needing = (
            requests
            - statuses.get(RequestStatus.PRIVATE_COUNSEL, 0)
            - statuses.get(RequestStatus.CANCELLED, 0)
        )
        # Every detention that needed counsel counts: one that never got a lawyer (unfilled)
        # waited for ever, so a rule cannot look faster by giving up sooner.
        ttc = [
            (assigned - created).total_seconds() if assigned is not None else math.inf
            for created, assigned in session.exec(
                select(Request.created_at, Request.assigned_at).where(
                    Request.urgency == Urgency.DETENTION,
                    col(Request.status).notin_(
                        [RequestStatus.PRIVATE_COUNSEL, RequestStatus.CANCELLED]
                    ),
                )
            ).all()
        ]
        invitations = session.exec(select(func.count()).select_from(Invitation)).one()
        appointments = session.exec(select(func.count()).select_from(Appointment)).one()
        held = session.exec(
            select(Request.requester_id, Appointment.lawyer_id, func.count())
            .join(Appointment, col(Appointment.request_id) == Request.id)
            .join(Requester, col(Requester.id) == Request.requester_id)
            .where(Requester.role == Role.INVESTIGATOR)
            .group_by(col(Request.requester_id), col(Appointment.lawyer_id))
        ).all()
    per_requester: dict[int, list[int]] = defaultdict(list)
    for requester_id, _lawyer, n in held:
        per_requester[requester_id].append(int(n))
    shares = [
        max(counts) / sum(counts)
        for counts in per_requester.values()
        if sum(counts) >= MIN_REQUESTER_APPOINTMENTS
    ]
    figures: Figures = {
        "policy": policy,
        "requests": requests,
        "max_abs_deviation": round(worst, 3),
        "mean_abs_deviation": round(mean, 3),
        "lawyer_max_abs_deviation": round(lawyer_worst, 3),
        "lawyer_mean_abs_deviation": round(lawyer_mean, 3),
        "gini": round(gini_index, 4),
        "loosemore_hanby": round(lh, 4),
        "ttc_detention_p50_s": _percentile(ttc, 50),
        "ttc_detention_p90_s": _percentile(ttc, 90),
        "ttc_detention_p99_s": _percentile(ttc, 99),
        "unfilled_rate": round(statuses.get(RequestStatus.UNFILLED, 0) / needing, 4)
        if needing
        else 0.0,
        "invitations_per_appointment": (
            round(invitations / appointments, 3) if appointments else math.inf
        ),
        "max_requester_lawyer_share": round(max(shares), 4) if shares else 0.0,
        "texas_failing": sum(1 for row in texas if not row["passes"]),
    }
    return Measured(figures, by_day, ttc, texas)
