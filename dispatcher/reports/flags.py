"""The pocket-lawyer detector: requesters whose requests go to one lawyer far too often; and
the requests refused before they were written (a requester outside its lane or flooding one).

For each requester R and lawyer L the trials are R's requests that reached a lawyer:

- a suspect's choice of a lawyer from the tablet list: a success when L was chosen; under the
  null (the suspect chooses freely) L is chosen with probability 1/len(list) when L is on the
  list shown and 0 otherwise;
- a request whose appointment came from the rotation: a success when L was appointed; under the
  null L gets it with L's fraction of all rotation appointments in that territory and period.

`expected` is the sum of these probabilities. The test is one-sided binomial with n trials and
the mean probability expected/n: a binomial with the same mean is more spread than the exact
sum of unequal Bernoulli trials, so the p-value errs on the safe side (Hoeffding, 1956). Every
pair that could have had a success is tested; the p-values are corrected for their number with
Benjamini–Hochberg, and pairs with q < 0.05 are flagged with their evidence.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import numpy as np
import structlog
from scipy import stats
from sqlalchemy import ColumnElement, Float, cast
from sqlalchemy import select as sa_select
from sqlmodel import Session, col, func, select

from dispatcher.models import (
    Appointment,
    Choice,
    Decision,
    Invitation,
    Lawyer,
    Request,
    Requester,
    RequestRefusal,
)
from dispatcher.registry import get_territory
from dispatcher.reports.queries import list_entries, list_length, month_of, period
from dispatcher.reports.rows import Flag, PairTest, RefusalAlert
from policies.vocabulary import ChoiceKind, DecisionKind

log = structlog.get_logger(__name__)

FDR = 0.05
Pair = tuple[int, str]  # (requester id, lawyer licence)


def _scope(
    session: Session, territory: str | None, start: datetime | None, end: datetime | None
) -> list[ColumnElement[bool]]:
    """The requests of the territory (all when None) made inside [start, end)."""
    scope = period(col(Request.created_at), start, end)
    if territory is not None:
        scope.append(col(Request.territory_id) == get_territory(session, territory).id)
    return scope


def pair_tests(
    session: Session,
    *,
    territory: str | None = None,
    start: datetime | None = None,
    end: datetime | None = None,
) -> list[PairTest]:
    """Every tested requester × lawyer pair with its counts, p-value and q-value."""
    return _tests(session, _scope(session, territory, start, end), None).get("", [])


def pair_tests_by_month(
    session: Session, start: datetime | None = None, end: datetime | None = None
) -> dict[str, list[PairTest]]:
    """Each month's ('YYYY-MM') pair tests (of requests made inside [start, end)), read in one
    pass over the record: the same as `pair_tests` over that month's requests."""
    scope = period(col(Request.created_at), start, end)
    return _tests(session, scope, month_of(session, col(Request.created_at)))


def _tests(
    session: Session, scope: list[ColumnElement[bool]], group: ColumnElement[str] | None
) -> dict[str, list[PairTest]]:
    """The pair tests of the requests in `scope`, apart for each value of `group` (a month)."""
    by: list[ColumnElement[str]] = [group] if group is not None else []

    def split(row: Sequence[Any]) -> tuple[str, Sequence[Any]]:
        return (str(row[0]), row[1:]) if by else ("", row)

    trials: dict[tuple[str, int], int] = defaultdict(int)
    successes: dict[tuple[str, Pair], int] = defaultdict(int)
    expected: dict[tuple[str, Pair], float] = defaultdict(float)

    # The choice stage: one trial per choice of a lawyer, expectation from the list shown.
    chose = (
        sa_select(*by, col(Request.requester_id), col(Lawyer.licence), func.count())
        .select_from(Choice)
        .join(Request, col(Request.id) == Choice.request_id)
        .join(Lawyer, col(Lawyer.id) == Choice.lawyer_id)
        .where(*scope, col(Choice.kind) == ChoiceKind.LAWYER)
        .group_by(*by, col(Request.requester_id), col(Lawyer.licence))
    )
    for row in session.execute(chose).all():
        key, (requester_id, licence, n) = split(row)
        trials[(key, int(requester_id))] += int(n)
        successes[(key, (int(requester_id), str(licence)))] += int(n)
    _entries, licence_on_list, _firm = list_entries(session)
    listed = (
        sa_select(
            *by,
            col(Request.requester_id),
            licence_on_list,
            func.sum(1.0 / cast(list_length(), Float)),
        )
        .select_from(Choice)
        .join(Request, col(Request.id) == Choice.request_id)
        .where(*scope, col(Choice.kind) == ChoiceKind.LAWYER)
        .group_by(*by, col(Request.requester_id), licence_on_list)
    )
    for row in session.execute(listed).all():
        key, (requester_id, licence, e) = split(row)
        expected[(key, (int(requester_id), str(licence)))] += float(e)

    # The rotation: one trial per appointment it made, expectation from the lawyer's share.
    rotated = (
        sa_select(
            *by,
            col(Request.requester_id),
            col(Decision.territory_id),
            col(Lawyer.licence),
            func.count(),
        )
        .select_from(Appointment)
        .join(Request, col(Request.id) == Appointment.request_id)
        .join(Invitation, col(Invitation.id) == Appointment.invitation_id)
        .join(Decision, col(Decision.id) == Invitation.decision_id)
        .join(Lawyer, col(Lawyer.id) == Appointment.lawyer_id)
        .where(*scope, col(Decision.kind) == DecisionKind.ROTATION)
        .group_by(*by, col(Request.requester_id), col(Decision.territory_id), col(Lawyer.licence))
    )
    per_territory: dict[tuple[str, int], dict[str, int]] = defaultdict(lambda: defaultdict(int))
    requester_in: dict[tuple[str, int], dict[int, int]] = defaultdict(lambda: defaultdict(int))
    for row in session.execute(rotated).all():
        key, (requester_id, territory_id, licence, count) = split(row)
        n = int(count)
        trials[(key, requester_id)] += n
        successes[(key, (requester_id, str(licence)))] += n
        per_territory[(key, territory_id)][str(licence)] += n
        requester_in[(key, requester_id)][territory_id] += n
    for (key, requester_id), territories in requester_in.items():
        for territory_id, n in territories.items():
            lawyers = per_territory[(key, territory_id)]
            total = sum(lawyers.values())
            for licence, appointed in lawyers.items():
                expected[(key, (requester_id, licence))] += n * appointed / total

    requesters = {requester_id for _, requester_id in trials}
    names = dict(
        session.exec(
            select(Requester.id, Requester.name).where(col(Requester.id).in_(list(requesters)))
        ).all()
    )
    grouped: dict[str, list[tuple[Pair, float]]] = defaultdict(list)
    for (key, pair), e in sorted(expected.items()):
        grouped[key].append((pair, e))
    out: dict[str, list[PairTest]] = {}
    for key, pairs in grouped.items():
        p_values = p_values_of(
            [successes.get((key, pair), 0) for pair, _ in pairs],
            [trials[(key, pair[0])] for pair, _ in pairs],
            [e for _, e in pairs],
        )
        q_values = [float(q) for q in stats.false_discovery_control(p_values, method="bh")]
        out[key] = [
            {
                "requester": names.get(requester_id, str(requester_id)),
                "requester_id": requester_id,
                "lawyer": licence,
                "requests": trials[(key, requester_id)],
                "to_lawyer": successes.get((key, (requester_id, licence)), 0),
                "expected": round(e, 4),
                "p_value": p,
                "q_value": q,
                "flagged": q < FDR,
            }
            for ((requester_id, licence), e), p, q in zip(pairs, p_values, q_values, strict=True)
        ]
    return out


def p_values_of(
    successes: Sequence[int], trials: Sequence[int], expected: Sequence[float]
) -> list[float]:
    """Each pair's one-sided binomial p-value of its successes in its trials at the mean
    probability: P(X ≥ k), what `scipy.stats.binomtest(..., alternative="greater")` gives,
    computed for every pair in one array call (a year holds tens of thousands of pairs)."""
    if not successes:
        return []
    k = np.asarray(successes, dtype=float)
    n = np.asarray(trials, dtype=float)
    p = np.minimum(1.0, np.asarray(expected, dtype=float) / n)
    tail = stats.binom.sf(k - 1, n, p)
    return [1.0 if hits == 0 else float(v) for hits, v in zip(successes, tail, strict=True)]


def pocket_lawyers(
    session: Session,
    *,
    territory: str | None = None,
    start: datetime | None = None,
    end: datetime | None = None,
) -> list[Flag]:
    """The flagged pairs, most significant first, with the contract's keys."""
    tested = pair_tests(session, territory=territory, start=start, end=end)
    flagged = sorted(
        (r for r in tested if r["flagged"]), key=lambda r: (r["q_value"], r["p_value"])
    )
    log.info("flags.computed", territory=territory, pairs=len(tested), flagged=len(flagged))
    return [
        {
            "requester": r["requester"],
            "lawyer": r["lawyer"],
            "requests": r["requests"],
            "to_lawyer": r["to_lawyer"],
            "expected": r["expected"],
            "p_value": r["p_value"],
            "q_value": r["q_value"],
        }
        for r in flagged
    ]


def requests_of_pair(
    session: Session,
    *,
    requester: str,
    lawyer: str,
    territory: str | None = None,
    start: datetime | None = None,
    end: datetime | None = None,
    limit: int = 200,
) -> list[str]:
    """The ids of the requester's requests that went to the lawyer (for the drill-down)."""
    scope = _scope(session, territory, start, end)
    by_choice = (
        select(Request.id)
        .join(Requester, col(Requester.id) == Request.requester_id)
        .join(Choice, col(Choice.request_id) == Request.id)
        .join(Lawyer, col(Lawyer.id) == Choice.lawyer_id)
        .where(*scope, col(Requester.name) == requester, col(Lawyer.licence) == lawyer)
    )
    by_appointment = (
        select(Request.id)
        .join(Requester, col(Requester.id) == Request.requester_id)
        .join(Appointment, col(Appointment.request_id) == Request.id)
        .join(Lawyer, col(Lawyer.id) == Appointment.lawyer_id)
        .where(*scope, col(Requester.name) == requester, col(Lawyer.licence) == lawyer)
    )
    found = set(session.exec(by_choice).all()) | set(session.exec(by_appointment).all())
    return sorted(found)[:limit]


def refusals(
    session: Session,
    *,
    territory: str | None = None,
    start: datetime | None = None,
    end: datetime | None = None,
) -> list[RefusalAlert]:
    """Requests refused before they were written (`dispatcher.lanes`), per requester, territory
    and reason, the most refused first: the report's alert lines."""
    query = (
        sa_select(
            col(Requester.name),
            col(Requester.role),
            col(RequestRefusal.territory),
            col(RequestRefusal.reason),
            func.count(),
            func.min(col(RequestRefusal.at)),
            func.max(col(RequestRefusal.at)),
        )
        .join(Requester, col(Requester.id) == RequestRefusal.requester_id)
        .where(*period(col(RequestRefusal.at), start, end))
        .group_by(
            col(Requester.name),
            col(Requester.role),
            col(RequestRefusal.territory),
            col(RequestRefusal.reason),
        )
    )
    if territory is not None:
        query = query.where(col(RequestRefusal.territory) == territory)
    alerts: list[RefusalAlert] = [
        {
            "requester": name,
            "role": role,
            "territory": code,
            "reason": reason,
            "refused": int(n),
            "first_at": first.isoformat(),
            "last_at": last.isoformat(),
        }
        for name, role, code, reason, n, first, last in session.execute(query).all()
    ]
    alerts.sort(key=lambda a: (-a["refused"], a["requester"], a["territory"], a["reason"]))
    if alerts:
        log.warning("flags.refusals", territory=territory, alerts=len(alerts))
    return alerts
