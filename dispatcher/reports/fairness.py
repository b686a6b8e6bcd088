"""Fairness figures for the bar, computed with SQL aggregates.

Every query groups by firm, lawyer, urgency, position or day; Python only does the small
arithmetic on the aggregated rows (indices, quantiles, tests). The source of truth is what
each decision stored: `DecisionShare` holds the share of every firm eligible at a charged
decision, `Choice` the list exactly as shown.

Definitions (the report's keys):

- `entitlement`: the sum of a firm's shares over the charged decisions of the period;
  `offers`: the charged decisions that went to it (rotation offers plus charged choices);
  `deviation = offers - entitlement`, `max_abs_deviation` its largest absolute value. The
  same figures for the rotation's offers and for the suspects' charged choices separately
  are under each firm's `stages`.
- per lawyer (`lawyers`): `entitlement`, the sum over the period's charged decisions of their
  firm's share split equally among the firm's lawyers eligible at that decision (the
  decision's recorded exclusions say who was not); `offers`, the charged decisions that went to
  them; `deviation = offers - entitlement`; `lawyer_max_abs_deviation` its largest absolute
  value. The rotation keeps the same standing (`lawyer_rotation_state`, with the firms'
  earnings not yet added in `lawyer_earning`) to order a firm's lawyers
  (`policies.quota.order_lawyers`).
- `optimum_deviation` (`optimum` as a fraction): B* of the territory's firm weights (their
  active lawyers), the least largest |offers − entitlement| any rotation can keep with those
  weights (`policies.optimum`); the rotation reaches it while eligibility does not change, so
  `max_abs_deviation` beside it shows what exclusions and choices cost.
- `loosemore_hanby`: ½ Σ |offers share − entitlement share| over the firms (0: proportional).
- `gini`: Gini coefficient of offers per unit of entitlement, each firm weighted by its
  entitlement (0: every firm got work exactly in proportion to its entitlement).
- `top10_share` / `top10_limit`: the Texas concentration test. The lawyers on the territory's
  list are its active lawyers plus anyone appointed there; the top 10% of them (rounded up) by
  appointments may take at most three times the share that the evenest spread of the same
  appointments gives them (`even_top_share`); `top10_exceeds` says whether they took more. Once
  every listed lawyer can have as many appointments as any other that share is k/n, the Texas
  rule's own; while appointments are fewer than lawyers, even the evenest spread gives the
  busiest k more (all of them when there are k appointments or fewer), and three times k/n
  would flag a spread that no rotation could make more even.
- `time_to_counsel`: seconds from request to accepted invitation, by urgency; `p50_s`, `p90_s`,
  `p99_s` are nearest-rank quantiles at one-second resolution.
- `choice_stage`: suspects' choices of a lawyer against the uniform choice from the list shown
  (a firm expects Σ its lawyers on a list / list length), with Pearson's chi-square.
- `position_choice_counts`: how often each list position was chosen against the uniform
  choice (a position p expects Σ over lists of at least p entries of 1 / list length).
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from fractions import Fraction

from scipy import stats
from sqlalchemy import ColumnElement, Float, Integer, case, cast
from sqlalchemy import select as sa_select
from sqlmodel import Session, col, func, select

from dispatcher.db import utcnow
from dispatcher.models import (
    Appointment,
    Choice,
    Decision,
    DecisionShare,
    Firm,
    FirmTerritory,
    Invitation,
    Lawyer,
    LawyerTerritory,
    Request,
    Territory,
)
from dispatcher.registry import get_territory
from dispatcher.reports.queries import list_entries, list_length, period, seconds_between
from dispatcher.reports.rows import (
    ChiSquare,
    ChoiceFirm,
    ChoiceStage,
    Concentration,
    CounselTimes,
    FairnessReport,
    FirmFigures,
    LawyerFigures,
    PositionCount,
    PositionCounts,
    StageFigures,
    TerritoryFigures,
)
from policies.optimum import b_star
from policies.vocabulary import (
    ChoiceKind,
    DecisionKind,
    InvitationStatus,
    LawyerStatus,
    Urgency,
)

URGENCIES = tuple(Urgency)
# The two ways a charged decision is taken: the rotation's offer, the suspect's choice.
STAGES = (DecisionKind.ROTATION, DecisionKind.CHOICE)
TRAILING_DAYS = (30, 90, 365)
# The Texas rule: the top tenth of the list may take at most three times its share.
TOP_FRACTION = 0.10
TOP_FACTOR = 3.0

# A histogram of whole seconds: (value, count) pairs.
Histogram = list[tuple[int, int]]
# Per firm code, per day: (day, cumulative entitlement, cumulative offers).
FirmSeries = dict[str, list[tuple[str, float, int]]]


def trailing(days: int, *, now: datetime | None = None) -> tuple[datetime, datetime]:
    """The period of the last `days` days up to `now`."""
    end = now or utcnow()
    return end - timedelta(days=days), end


# --- small arithmetic on aggregated rows --------------------------------------------------------


def loosemore_hanby(offers: Sequence[float], entitlement: Sequence[float]) -> float:
    """½ Σ |s_i − v_i| with s the shares of offers and v the shares of entitlement."""
    total_o, total_e = sum(offers), sum(entitlement)
    if total_o <= 0 or total_e <= 0:
        return 0.0
    return 0.5 * sum(
        abs(o / total_o - e / total_e) for o, e in zip(offers, entitlement, strict=True)
    )


def weighted_gini(values: Sequence[float], weights: Sequence[float]) -> float:
    """Gini coefficient of `values` where each counts with its weight (mean difference form)."""
    pairs = [(v, w) for v, w in zip(values, weights, strict=True) if w > 0]
    total_w = sum(w for _, w in pairs)
    if total_w <= 0:
        return 0.0
    mean = sum(v * w for v, w in pairs) / total_w
    if mean <= 0:
        return 0.0
    spread = sum(wi * wj * abs(vi - vj) for vi, wi in pairs for vj, wj in pairs)
    return spread / (2.0 * total_w * total_w * mean)


def nearest_rank(histogram: Sequence[tuple[int, int]], q: float) -> int | None:
    """The smallest value with at least a fraction `q` of the counts at or below it."""
    total = sum(n for _, n in histogram)
    if total == 0:
        return None
    rank = max(1, math.ceil(q * total))
    seen = 0
    for value, n in sorted(histogram):
        seen += n
        if seen >= rank:
            return value
    return sorted(histogram)[-1][0]  # pragma: no cover - the loop always reaches the rank


def even_top_share(total: int, listed: int, k: int) -> float:
    """The share of `total` appointments that the busiest `k` of `listed` lawyers take when the
    appointments are spread as evenly as possible: each lawyer gets ⌊total/listed⌋ and the
    remainder one more each (k/listed when there are none)."""
    if listed <= 0:
        return 0.0
    if total <= 0:
        return k / listed
    each, left = divmod(total, listed)
    return (k * each + min(k, left)) / total


def concentration(appointments: Iterable[int], listed: int) -> Concentration:
    """The Texas test over the appointment counts of the `listed` lawyers (zeros implied)."""
    counts = sorted(appointments, reverse=True)
    total = sum(counts)
    n = max(listed, len(counts))
    if n == 0:
        return {
            "listed": 0,
            "appointments": total,
            "top10_lawyers": 0,
            "top10_share": 0.0,
            "top10_limit": 0.0,
        }
    k = math.ceil(TOP_FRACTION * n)
    share = sum(counts[:k]) / total if total else 0.0
    limit = min(1.0, TOP_FACTOR * even_top_share(total, n, k))
    return {
        "listed": n,
        "appointments": total,
        "top10_lawyers": k,
        "top10_share": share,
        "top10_limit": limit,
    }


def chi_square(observed: Sequence[float], expected: Sequence[float]) -> ChiSquare:
    """Pearson's goodness of fit over the cells with a positive expectation."""
    cells = [(o, e) for o, e in zip(observed, expected, strict=True) if e > 0]
    if len(cells) < 2 or sum(o for o, _ in cells) == 0:
        return {"statistic": None, "dof": 0, "p_value": None}
    f_obs = [o for o, _ in cells]
    f_exp = [e for _, e in cells]
    # The expectations sum to the choices made; rescale away float dust before scipy checks it.
    scale = sum(f_obs) / sum(f_exp)
    result = stats.chisquare(f_obs, [e * scale for e in f_exp])
    return {
        "statistic": round(float(result.statistic), 6),
        "dof": len(cells) - 1,
        "p_value": float(result.pvalue),
    }


def optimum_of(weights: Iterable[float]) -> Fraction:
    """B* of the firms of positive weight (0 with fewer than two)."""
    positive = [w for w in weights if w > 0]
    return b_star(positive) if len(positive) >= 2 else Fraction(0)


def _rate(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


# --- the report ---------------------------------------------------------------------------------


def fairness(
    session: Session, territory: str, start: datetime | None, end: datetime | None
) -> FairnessReport:
    """Every figure for one territory over [start, end): firms, lawyers, indices, choices, times."""
    t = get_territory(session, territory)
    assert t.id is not None
    charged: list[ColumnElement[bool]] = [
        col(Decision.territory_id) == t.id,
        col(Decision.charged).is_(True),
        *period(col(Decision.created_at), start, end),
    ]
    firms, entitled = _firm_rows(session, t.id, charged, _declines_by_reason(session, charged))
    decisions = session.exec(select(func.count()).select_from(Decision).where(*charged)).one()
    lawyers = _lawyer_rows(session, t.id, start, end, _lawyer_standings(session, charged))
    appointed = [r["appointments"] for r in lawyers]
    listed = _listed_lawyers(session, t.id, {r["lawyer"] for r in lawyers if r["appointments"]})
    top = concentration(appointed, listed)
    offers = [float(r["offers"]) for r in firms]
    per_unit = [o / e if e > 0 else 0.0 for o, e in zip(offers, entitled, strict=True)]
    deviations = [o - e for o, e in zip(offers, entitled, strict=True)]
    optimum = optimum_of([r["weight"] for r in firms])
    return {
        "territory": t.code,
        "from": start.isoformat() if start else None,
        "to": end.isoformat() if end else None,
        "decisions": int(decisions),
        "max_abs_deviation": round(max((abs(d) for d in deviations), default=0.0), 4),
        "max_deviation": round(max(deviations, default=0.0), 4),
        "min_deviation": round(min(deviations, default=0.0), 4),
        "loosemore_hanby": round(loosemore_hanby(offers, entitled), 6),
        "gini": round(weighted_gini(per_unit, entitled), 6),
        "listed_lawyers": top["listed"],
        "top10_lawyers": top["top10_lawyers"],
        "top10_share": round(top["top10_share"], 6),
        "top10_limit": round(top["top10_limit"], 6),
        "top10_exceeds": top["top10_share"] > top["top10_limit"],
        "optimum_deviation": round(float(optimum), 4),
        "optimum": str(optimum),
        "lawyer_max_abs_deviation": round(
            max((abs(r["deviation"]) for r in lawyers), default=0.0), 4
        ),
        "time_to_counsel": time_to_counsel(session, t.id, start, end),
        "choice_stage": _choice_stage(session, t.id, start, end),
        "position_choice_counts": _positions(session, t.id, start, end),
        "firms": firms,
        "lawyers": lawyers,
    }


class _Tally:
    """One firm's running figures in one stage, summed over the aggregated rows."""

    def __init__(self) -> None:
        self.entitlement = 0.0
        self.offers = 0
        self.accepted = 0
        self.declined = 0
        self.expired = 0

    def figures(self) -> StageFigures:
        return {
            "entitlement": round(self.entitlement, 4),
            "offers": self.offers,
            "accepted": self.accepted,
            "declined": self.declined,
            "expired": self.expired,
            "deviation": round(self.offers - self.entitlement, 4),
        }


def _firm_rows(
    session: Session,
    territory_id: int,
    charged: list[ColumnElement[bool]],
    declines: dict[str, dict[str, int]],
) -> tuple[list[FirmFigures], list[float]]:
    """The per-firm rows, and each firm's entitlement unrounded (for the indices)."""
    weights = dict(
        session.exec(
            select(Lawyer.firm_id, func.count())
            .join(LawyerTerritory, col(LawyerTerritory.lawyer_id) == Lawyer.id)
            .where(
                LawyerTerritory.territory_id == territory_id,
                Lawyer.status == LawyerStatus.ACTIVE,
            )
            .group_by(col(Lawyer.firm_id))
        ).all()
    )
    # Per firm and stage (rotation, choice): entitlement, offers and the answers.
    stage: dict[int, dict[str, _Tally]] = defaultdict(lambda: {kind: _Tally() for kind in STAGES})
    for firm_id, kind, entitlement, offers in session.exec(
        select(
            DecisionShare.firm_id,
            Decision.kind,
            func.sum(DecisionShare.share),
            func.sum(DecisionShare.charged),
        )
        .join(Decision, col(Decision.id) == DecisionShare.decision_id)
        .where(*charged)
        .group_by(col(DecisionShare.firm_id), col(Decision.kind))
    ).all():
        stage[firm_id][kind].entitlement += float(entitlement or 0.0)
        stage[firm_id][kind].offers += int(offers or 0)
    for firm_id, kind, accepted, declined, expired in session.execute(
        sa_select(
            col(Invitation.firm_id),
            col(Decision.kind),
            func.sum(case((col(Invitation.status) == InvitationStatus.ACCEPTED, 1), else_=0)),
            func.sum(case((col(Invitation.status) == InvitationStatus.DECLINED, 1), else_=0)),
            func.sum(case((col(Invitation.status) == InvitationStatus.EXPIRED, 1), else_=0)),
        )
        .join(Decision, col(Decision.id) == Invitation.decision_id)
        .where(*charged)
        .group_by(col(Invitation.firm_id), col(Decision.kind))
    ).all():
        tally = stage[firm_id][kind]
        tally.accepted += int(accepted or 0)
        tally.declined += int(declined or 0)
        tally.expired += int(expired or 0)
    firm_ids = set(
        session.exec(
            select(FirmTerritory.firm_id).where(FirmTerritory.territory_id == territory_id)
        ).all()
    ) | set(stage)
    codes = dict(session.exec(select(Firm.id, Firm.code).where(col(Firm.id).in_(firm_ids))).all())
    rows: list[FirmFigures] = []
    entitled: list[float] = []
    for firm_id in sorted(firm_ids, key=lambda f: codes.get(f, "")):
        by_stage = stage[firm_id] if firm_id in stage else {k: _Tally() for k in STAGES}
        tallies = [by_stage[k] for k in STAGES]
        entitlement = sum(t.entitlement for t in tallies)
        entitled.append(entitlement)
        offers = sum(t.offers for t in tallies)
        accepted = sum(t.accepted for t in tallies)
        declined = sum(t.declined for t in tallies)
        expired = sum(t.expired for t in tallies)
        code = codes.get(firm_id, str(firm_id))
        rows.append(
            {
                "firm": code,
                "weight": int(weights.get(firm_id, 0)),
                "entitlement": round(entitlement, 4),
                "offers": offers,
                "rotation_offers": by_stage[DecisionKind.ROTATION].offers,
                "chosen": by_stage[DecisionKind.CHOICE].offers,
                "accepted": accepted,
                "declined": declined,
                "expired": expired,
                "deviation": round(offers - entitlement, 4),
                "acceptance_rate": _rate(accepted, offers),
                "decline_rate": _rate(declined, offers),
                "expiry_rate": _rate(expired, offers),
                "declined_by_reason": declines.get(code, {}),
                "stages": {kind: tally.figures() for kind, tally in by_stage.items()},
            }
        )
    return rows, entitled


def _declines_by_reason(
    session: Session, charged: list[ColumnElement[bool]]
) -> dict[str, dict[str, int]]:
    out: dict[str, dict[str, int]] = defaultdict(dict)
    for code, reason, n in session.exec(
        select(Firm.code, Invitation.decline_reason, func.count())
        .join(Decision, col(Decision.id) == Invitation.decision_id)
        .join(Firm, col(Firm.id) == Invitation.firm_id)
        .where(*charged, col(Invitation.status) == InvitationStatus.DECLINED)
        .group_by(col(Firm.code), col(Invitation.decline_reason))
    ).all():
        out[code][reason or ""] = int(n)
    return dict(out)


def _lawyer_standings(
    session: Session, charged: list[ColumnElement[bool]]
) -> dict[str, tuple[str, float, int]]:
    """Each lawyer's firm, entitlement and offers over the charged decisions, by licence."""
    lawyers_of: dict[int, list[tuple[str, str]]] = defaultdict(list)
    for licence, firm_id, code in session.execute(
        sa_select(col(Lawyer.licence), col(Lawyer.firm_id), col(Firm.code)).join(
            Firm, col(Firm.id) == Lawyer.firm_id
        )
    ).all():
        lawyers_of[firm_id].append((licence, code))
    shares: dict[int, list[tuple[int, float]]] = defaultdict(list)
    for decision_id, firm_id, share in session.execute(
        sa_select(
            col(DecisionShare.decision_id), col(DecisionShare.firm_id), col(DecisionShare.share)
        )
        .join(Decision, col(Decision.id) == DecisionShare.decision_id)
        .where(*charged)
    ).all():
        shares[decision_id].append((firm_id, share))
    entitled: dict[str, float] = defaultdict(float)
    offers: dict[str, int] = defaultdict(int)
    firm_of: dict[str, str] = {}
    for decision_id, licence, explanation in session.execute(
        sa_select(col(Decision.id), col(Lawyer.licence), col(Decision.explanation))
        .outerjoin(Lawyer, col(Lawyer.id) == Decision.lawyer_id)
        .where(*charged)
    ).all():
        # A decision written without its pool (a bulk-written past) excluded no one.
        tried = explanation.get("tried") or [{"excluded_lawyers": []}]
        excluded = {e["licence"] for e in tried[-1]["excluded_lawyers"]}
        for firm_id, share in shares[decision_id]:
            eligible = [(lw, code) for lw, code in lawyers_of[firm_id] if lw not in excluded]
            for lw, code in eligible:
                entitled[lw] += share / len(eligible)
                firm_of[lw] = code
        if licence is not None:
            offers[licence] += 1
    return {
        lw: (firm_of.get(lw, ""), entitled.get(lw, 0.0), offers.get(lw, 0))
        for lw in set(entitled) | set(offers)
    }


def _lawyer_rows(
    session: Session,
    territory_id: int,
    start: datetime | None,
    end: datetime | None,
    standings: dict[str, tuple[str, float, int]],
) -> list[LawyerFigures]:
    """Every invitation of the territory's decisions (rotation and choice), per lawyer, with
    each lawyer's entitlement and offers (`standings`); an entitled lawyer never invited too."""
    rows = session.execute(
        sa_select(
            col(Lawyer.licence),
            col(Firm.code),
            func.count(),
            func.sum(case((col(Decision.kind) == DecisionKind.CHOICE, 1), else_=0)),
            func.sum(case((col(Invitation.status) == InvitationStatus.ACCEPTED, 1), else_=0)),
            func.sum(case((col(Invitation.status) == InvitationStatus.DECLINED, 1), else_=0)),
            func.sum(case((col(Invitation.status) == InvitationStatus.EXPIRED, 1), else_=0)),
        )
        .join(Decision, col(Decision.id) == Invitation.decision_id)
        .join(Lawyer, col(Lawyer.id) == Invitation.lawyer_id)
        .join(Firm, col(Firm.id) == Invitation.firm_id)
        .where(
            col(Decision.territory_id) == territory_id,
            *period(col(Decision.created_at), start, end),
        )
        .group_by(col(Lawyer.licence), col(Firm.code))
        .order_by(col(Lawyer.licence))
    ).all()
    out: list[LawyerFigures] = []
    for licence, firm, invitations, chosen, accepted, declined, expired in rows:
        invitations, accepted = int(invitations), int(accepted or 0)
        _firm, entitlement, offers = standings.get(licence, (firm, 0.0, 0))
        out.append(
            {
                "lawyer": licence,
                "firm": firm,
                "invitations": invitations,
                "chosen": int(chosen or 0),
                "accepted": accepted,
                "declined": int(declined or 0),
                "expired": int(expired or 0),
                # An accepted invitation is the appointment.
                "appointments": accepted,
                "acceptance_rate": _rate(accepted, invitations),
                "decline_rate": _rate(int(declined or 0), invitations),
                "entitlement": round(entitlement, 4),
                "offers": offers,
                "deviation": round(offers - entitlement, 4),
            }
        )
    invited = {r["lawyer"] for r in out}
    for licence, (firm, entitlement, offers) in standings.items():
        if licence in invited:
            continue
        out.append(
            {
                "lawyer": licence,
                "firm": firm,
                "invitations": 0,
                "chosen": 0,
                "accepted": 0,
                "declined": 0,
                "expired": 0,
                "appointments": 0,
                "acceptance_rate": None,
                "decline_rate": None,
                "entitlement": round(entitlement, 4),
                "offers": offers,
                "deviation": round(offers - entitlement, 4),
            }
        )
    return sorted(out, key=lambda r: r["lawyer"])


def texas_test(
    session: Session, territory_id: int, start: datetime | None, end: datetime | None
) -> Concentration:
    """The Texas concentration test over the territory's appointments in [start, end)."""
    lawyers = _lawyer_rows(session, territory_id, start, end, {})
    appointed = {r["lawyer"] for r in lawyers if r["appointments"]}
    return concentration(
        [r["appointments"] for r in lawyers], _listed_lawyers(session, territory_id, appointed)
    )


def _listed_lawyers(session: Session, territory_id: int, appointed: set[str]) -> int:
    listed = set(
        session.exec(
            select(Lawyer.licence)
            .join(LawyerTerritory, col(LawyerTerritory.lawyer_id) == Lawyer.id)
            .where(
                LawyerTerritory.territory_id == territory_id,
                Lawyer.status == LawyerStatus.ACTIVE,
            )
        ).all()
    )
    return len(listed | appointed)


def counsel_histogram(
    session: Session, territory_id: int | None, start: datetime | None, end: datetime | None
) -> dict[str, Histogram]:
    """Seconds from request to accepted invitation, counted per whole second, by urgency."""
    seconds = cast(
        func.round(seconds_between(session, col(Appointment.opened_at), col(Request.created_at))),
        Integer,
    )
    query = (
        select(Request.urgency, seconds, func.count())
        .join(Appointment, col(Appointment.request_id) == Request.id)
        .where(*period(col(Request.created_at), start, end))
        .group_by(col(Request.urgency), seconds)
    )
    if territory_id is not None:
        query = query.where(col(Request.territory_id) == territory_id)
    out: dict[str, Histogram] = {u: [] for u in URGENCIES}
    for urgency, value, n in session.exec(query).all():
        out.setdefault(urgency, []).append((int(value), int(n)))
    return out


def time_to_counsel(
    session: Session, territory_id: int | None, start: datetime | None, end: datetime | None
) -> dict[str, CounselTimes]:
    """Per urgency: requests, how many got counsel, and the p50/p90/p99 time to counsel."""
    opened = dict(
        session.exec(
            select(Request.urgency, func.count())
            .where(
                *period(col(Request.created_at), start, end),
                *([col(Request.territory_id) == territory_id] if territory_id is not None else []),
            )
            .group_by(col(Request.urgency))
        ).all()
    )
    out: dict[str, CounselTimes] = {}
    for urgency, histogram in counsel_histogram(session, territory_id, start, end).items():
        assigned = sum(n for _, n in histogram)
        out[urgency] = {
            "requests": int(opened.get(urgency, 0)),
            "assigned": assigned,
            "p50_s": nearest_rank(histogram, 0.50),
            "p90_s": nearest_rank(histogram, 0.90),
            "p99_s": nearest_rank(histogram, 0.99),
            "mean_s": (round(sum(v * n for v, n in histogram) / assigned, 1) if assigned else None),
        }
    return out


def _choices_of(
    territory_id: int, start: datetime | None, end: datetime | None
) -> list[ColumnElement[bool]]:
    return [
        col(Request.territory_id) == territory_id,
        *period(col(Choice.chosen_at), start, end),
    ]


def _choice_stage(
    session: Session, territory_id: int, start: datetime | None, end: datetime | None
) -> ChoiceStage:
    scope = _choices_of(territory_id, start, end)
    kinds = dict(
        session.exec(
            select(Choice.kind, func.count())
            .join(Request, col(Request.id) == Choice.request_id)
            .where(*scope)
            .group_by(col(Choice.kind))
        ).all()
    )
    chosen = dict(
        session.exec(
            select(Firm.code, func.count())
            .select_from(Choice)
            .join(Request, col(Request.id) == Choice.request_id)
            .join(Lawyer, col(Lawyer.id) == Choice.lawyer_id)
            .join(Firm, col(Firm.id) == Lawyer.firm_id)
            .where(*scope, col(Choice.kind) == ChoiceKind.LAWYER)
            .group_by(col(Firm.code))
        ).all()
    )
    _entries, _licence, firm = list_entries(session)
    expected = dict(
        session.exec(
            select(firm, func.sum(1.0 / cast(list_length(), Float)))
            .select_from(Choice)
            .join(Request, col(Request.id) == Choice.request_id)
            .where(*scope, col(Choice.kind) == ChoiceKind.LAWYER)
            .group_by(firm)
        ).all()
    )
    codes = sorted(set(chosen) | set(expected))
    rows: list[ChoiceFirm] = [
        {
            "firm": code,
            "chosen": int(chosen.get(code, 0)),
            "expected": round(float(expected.get(code, 0.0)), 4),
        }
        for code in codes
    ]
    return {
        "choices": int(sum(kinds.values())),
        "by_kind": {k: int(kinds.get(k, 0)) for k in ChoiceKind},
        "firms": rows,
        "chi_square": chi_square(
            [float(r["chosen"]) for r in rows],
            [float(expected.get(r["firm"], 0.0)) for r in rows],
        ),
    }


def _positions(
    session: Session, territory_id: int, start: datetime | None, end: datetime | None
) -> PositionCounts:
    length = list_length()
    cells = session.exec(
        select(length, Choice.position, func.count())
        .join(Request, col(Request.id) == Choice.request_id)
        .where(*_choices_of(territory_id, start, end), col(Choice.kind) == ChoiceKind.LAWYER)
        .group_by(length, col(Choice.position))
    ).all()
    lists: dict[int, int] = defaultdict(int)  # list length -> choices made from such lists
    observed: dict[int, int] = defaultdict(int)
    for size, position, n in cells:
        lists[int(size)] += int(n)
        observed[int(position or 0)] += int(n)
    longest = max(lists, default=0)
    positions = range(1, longest + 1)
    expected = {p: sum(n / size for size, n in lists.items() if size >= p) for p in positions}
    rows: list[PositionCount] = [
        {"position": p, "chosen": observed.get(p, 0), "expected": round(expected[p], 4)}
        for p in positions
    ]
    return {
        "positions": rows,
        "chi_square": chi_square(
            [float(observed.get(p, 0)) for p in positions], [expected[p] for p in positions]
        ),
    }


def firm_series(
    session: Session, territory: str, start: datetime | None, end: datetime | None
) -> FirmSeries:
    """Per firm and day: cumulative entitlement and offers (for the plot over time)."""
    t = get_territory(session, territory)
    day = func.date(Decision.created_at)
    rows = session.exec(
        select(Firm.code, day, func.sum(DecisionShare.share), func.sum(DecisionShare.charged))
        .select_from(DecisionShare)
        .join(Decision, col(Decision.id) == DecisionShare.decision_id)
        .join(Firm, col(Firm.id) == DecisionShare.firm_id)
        .where(
            col(Decision.territory_id) == t.id,
            col(Decision.charged).is_(True),
            *period(col(Decision.created_at), start, end),
        )
        .group_by(col(Firm.code), day)
        .order_by(col(Firm.code), day)
    ).all()
    series: FirmSeries = defaultdict(list)
    for code, when, share, charged in rows:
        last_e, last_o = (series[code][-1][1], series[code][-1][2]) if series[code] else (0.0, 0)
        series[code].append((str(when), last_e + float(share or 0.0), last_o + int(charged or 0)))
    return dict(series)


def territories_overview(
    session: Session, start: datetime | None, end: datetime | None
) -> list[TerritoryFigures]:
    """Per territory: decisions, largest firm deviation beside B* of its firm weights, and
    Loosemore–Hanby index."""
    rows = session.exec(
        select(
            Territory.code,
            DecisionShare.firm_id,
            func.sum(DecisionShare.share),
            func.sum(DecisionShare.charged),
        )
        .select_from(DecisionShare)
        .join(Decision, col(Decision.id) == DecisionShare.decision_id)
        .join(Territory, col(Territory.id) == Decision.territory_id)
        .where(col(Decision.charged).is_(True), *period(col(Decision.created_at), start, end))
        .group_by(col(Territory.code), col(DecisionShare.firm_id))
    ).all()
    per: dict[str, list[tuple[float, int]]] = defaultdict(list)
    for code, _firm, share, charged in rows:
        per[code].append((float(share or 0.0), int(charged or 0)))
    weights: dict[str, list[float]] = defaultdict(list)
    for code, count in session.exec(
        select(Territory.code, func.count())
        .select_from(Lawyer)
        .join(LawyerTerritory, col(LawyerTerritory.lawyer_id) == Lawyer.id)
        .join(Territory, col(Territory.id) == LawyerTerritory.territory_id)
        .where(Lawyer.status == LawyerStatus.ACTIVE)
        .group_by(col(Territory.code), col(Lawyer.firm_id))
    ).all():
        weights[code].append(float(count))
    out: list[TerritoryFigures] = []
    for code in territory_list(session):
        firms = per.get(code, [])
        entitled = [e for e, _ in firms]
        offers = [float(o) for _, o in firms]
        out.append(
            {
                "territory": code,
                "decisions": round(sum(entitled)),
                "firms": len(firms),
                "max_abs_deviation": round(
                    max((abs(o - e) for e, o in zip(entitled, offers, strict=True)), default=0.0),
                    4,
                ),
                "optimum_deviation": round(float(optimum_of(weights.get(code, []))), 4),
                "loosemore_hanby": round(loosemore_hanby(offers, entitled), 6),
            }
        )
    return out


def territory_list(session: Session) -> list[str]:
    """Every territory code, in order."""
    return list(session.exec(select(Territory.code).order_by(col(Territory.code))).all())
