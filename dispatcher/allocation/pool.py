"""The pool: who may be invited for one request in one territory, and why the others may not.

The registry's facts come kept (`registry_facts`); what changes from one request to the next
is read here: the lawyers' loads, the request's invitations and conflicts, and, only for the
firms a rule looks into, the weighted workloads, last offers and the lawyers' own standings in
the territory's rotation.

The rules judge a territory's lawyers a profile at a time: every lawyer as the others of the
same languages, specialisations and duty roster are below their caps (the facts keep that
judgement per combination of the profiles' reasons), then one by one only those who differ at
this moment: at their cap, paused, invited, of a conflicted firm, or on an approved rota.
"""

from __future__ import annotations

from bisect import bisect_left
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlmodel import Session

from dispatcher.allocation.earnings import read_settled
from dispatcher.allocation.record import ExcludedFirm, ExcludedLawyer, PoolSummary, QueuedLawyer
from dispatcher.allocation.registry_facts import (
    Alike,
    FirmRow,
    LawyerRow,
    TerritoryFacts,
    TerritoryRow,
)
from dispatcher.allocation.statements import (
    AT_CAP,
    EXPIRED,
    INVITED,
    OTHER_DEFENCE,
    PAUSED,
    REGISTERED_CONFLICTS,
    SAME_CASE,
    WORKLOAD,
)
from dispatcher.models import Request
from policies.config import Policy
from policies.eligibility import Need, request_exclusion
from policies.quota import LawyerStanding, order_lawyers
from policies.vocabulary import FirmStatus, InvitationStatus, Urgency

# The invitations that bind a firm to the person it defends.
_DEFENDING = frozenset({InvitationStatus.PENDING, InvitationStatus.ACCEPTED})


@dataclass
class Weighed:
    """What `workloads` reads of some lawyers: weighted workloads, last offers, and their own
    standings (entitlement, offers) in the territory's rotation, and their loads (open
    appointments and pending invitations, unweighted: what the cap counts)."""

    workload: dict[int, float]
    last_offer: dict[int, datetime | None]
    standing: dict[int, tuple[float, int]]
    lapsed: set[int] = field(default_factory=set)  # let an invitation lapse since `lapses_since`
    load: dict[int, int] = field(default_factory=dict)


@dataclass(frozen=True)
class WorkloadReader:
    """Reads `workloads` for one decision: its session, its policy's weights, the territory
    whose rotation the standings are of."""

    session: Session
    policy: Policy
    territory_id: int
    lapses_since: datetime | None = None  # read who let an invitation lapse since (a detention)

    def __call__(self, lawyer_ids: list[int]) -> Weighed:
        return workloads(
            self.session,
            lawyer_ids,
            self.policy,
            territory_id=self.territory_id,
            lapses_since=self.lapses_since,
        )


@dataclass(frozen=True)
class Pool:
    """The eligible firms and lawyers of one territory for one request, with the exclusions.

    Built whole by `build_pool`; only the workloads, last offers and lawyers' standings are
    filled in later, firm by firm, as a rule asks for them (`weigh`).
    """

    territory: TerritoryRow
    firms: dict[int, FirmRow]
    weights: dict[int, float]
    eligible: dict[int, list[LawyerRow]]  # firm id -> eligible lawyers
    # Lawyer id -> open appointments + pending invitations: read for the lawyers at their cap
    # when the pool is built (the cap is the only rule it enters), and for the others of a
    # firm when it is weighed (`weigh`), the queue's record.
    load: dict[int, int]
    excluded_firms: list[ExcludedFirm]
    excluded_lawyers: list[ExcludedLawyer]
    firm_ids: dict[str, int]  # eligible firms by code
    weigher: WorkloadReader
    attempt: int  # invitations already sent for this request
    # The load weighted by case category: read when a rule orders a firm's lawyers (`weigh`).
    workload: dict[int, float] = field(default_factory=lambda: defaultdict(float))
    # When each lawyer was last offered a case: read with the workloads, for the same firms.
    last_offer: dict[int, datetime | None] = field(default_factory=dict)
    # Each lawyer's (entitlement, offers) in the territory's rotation (read with the
    # workloads, for the same firms; a lawyer the rotation has not met yet has none).
    standing: dict[int, tuple[float, int]] = field(default_factory=dict)
    weighed_firms: set[int] = field(default_factory=set)
    # Lawyers who let an invitation lapse lately (read with the workloads, for a detention).
    lapsed: set[int] = field(default_factory=set)
    # Only paused lawyers could be invited, so the pause was set aside for this decision.
    pause_waived: bool = False

    @property
    def answering_reach(self) -> float | None:
        """For a detention under [pause] detentions_to_answering, how far behind the lawyer
        furthest below their share a lawyer who answers may stand and still go first."""
        if self.weigher.lapses_since is None:
            return None
        return self.weigher.policy.pause.answering_reach

    def weigh(self, firm_id: int) -> None:
        """Read the workloads, last offers and standings of a firm's eligible lawyers, once.

        The cap needs only counts, which the indexes give without the cases; the weights by
        case category and the last offers matter only to order the lawyers of the firms a rule
        looks into: the turn firm's alone for the quota rule, so one small read. A second firm
        asked for reads every eligible firm at once (rules that rank all lawyers ask for all).
        """
        if firm_id in self.weighed_firms:
            return
        wanted = [firm_id] if not self.weighed_firms else list(self.eligible)
        wanted = [f for f in wanted if f not in self.weighed_firms]
        weighed = self.weigher([lw.id for f in wanted for lw in self.eligible.get(f, [])])
        self.workload.update(weighed.workload)
        self.load.update(weighed.load)
        self.last_offer.update(weighed.last_offer)
        self.standing.update(weighed.standing)
        self.lapsed.update(weighed.lapsed)
        self.weighed_firms.update(wanted)

    def firm_id(self, code: str) -> int:
        """The id of an eligible firm, from the code the rotation rule ranks it by."""
        return self.firm_ids[code]

    def exclusion(self, lawyer_id: int, licence: str) -> str | None:
        """Why the rules excluded this lawyer (None when eligible)."""
        if any(lw.id == lawyer_id for lws in self.eligible.values() for lw in lws):
            return None
        for entry in self.excluded_lawyers:
            if entry["licence"] == licence:
                return str(entry["reason"])
        return "territory"  # not a lawyer of a firm serving the territory

    def summary(self) -> PoolSummary:
        """The territory as a decision's explanation records it among those tried."""
        summary: PoolSummary = {
            "territory": self.territory.code,
            "eligible_firms": sorted(self.firms[f].code for f in self.eligible),
            "excluded_firms": self.excluded_firms,
            "excluded_lawyers": self.excluded_lawyers,
        }
        if self.pause_waived:
            summary["pause_waived"] = True
        return summary


def conflicted_firms(session: Session, request: Request) -> dict[int, str]:
    """Firms that may not defend this person in this case, with the reason."""
    reasons: dict[int, str] = {}
    registered = session.execute(REGISTERED_CONFLICTS, {"case": request.case_number}).all()
    for firm_id, licence, role in registered:
        reasons.setdefault(firm_id, f"registered {role} of {licence} in this case")
    # Defending another person in the same case: a firm defends one person per case.
    # Found through the case number first, so the cost does not grow with the history.
    same_case = list(
        session.execute(
            SAME_CASE,
            {
                "case": request.case_number,
                "request": request.id,
                "person": request.person_name.lower(),
            },
        ).scalars()
    )
    if not same_case:
        return reasons
    # Only then the invitations of those requests, found by the request's index; their status
    # is checked here and not in SQL, where a condition on status lets the planner prefer the
    # status index and walk every accepted invitation of the history.
    for firm_id, other, status in session.execute(OTHER_DEFENCE, {"requests": same_case}).all():
        if status in _DEFENDING:
            reasons.setdefault(firm_id, f"defends another person in this case (request {other})")
    return reasons


_UNJUDGED = "not judged yet"  # a marker no reason equals (compared by identity)


@dataclass(frozen=True)
class Moment:
    """What every request in a territory shares at one moment, read once: who is paused, and
    the lawyers at their cap with their loads (a lawyer not here is below it)."""

    now: datetime
    paused: frozenset[int]
    at_cap: dict[int, int]


def read_moment(session: Session, facts: TerritoryFacts, now: datetime) -> Moment:
    """Who is paused at `now` and who of the territory's lawyers is at their cap."""
    paused = frozenset(session.execute(PAUSED, {"now": now}).scalars())
    at_cap = {
        lawyer_id: n
        for lawyer_id, n in session.execute(AT_CAP, {"territory": facts.territory.id}).all()
    }
    return Moment(now, paused, at_cap)


def build_pool(
    session: Session, request: Request, facts: TerritoryFacts, policy: Policy, now: datetime
) -> Pool:
    """Apply every eligibility rule to the lawyers of the firms serving the facts' territory.

    The registry's facts come kept (`Registry.facts_of`); what changes from one request to the
    next is read here: the lawyers' loads, this request's invitations and conflicts, and who
    is paused for letting invitations lapse. A pause never leaves the territory without a
    lawyer: when only paused lawyers could be invited, they are (`Pool.pause_waived`).
    """
    moment = read_moment(session, facts, now)
    invited = set(session.execute(INVITED, {"request": request.id}).scalars())
    return pool_of(
        session, request, facts, policy, moment, invited, conflicted_firms(session, request)
    )


# How a lawyer alike in everything else is judged (`_pool`), by (profile, at cap, on the rota).
Judged = dict[tuple[int, bool, bool | None], str | None]


def pool_of(
    session: Session,
    request: Request,
    facts: TerritoryFacts,
    policy: Policy,
    moment: Moment,
    invited: set[int],
    conflicts: dict[int, str],
    judged: Judged | None = None,
) -> Pool:
    """`build_pool` over what it reads: the moment, this request's invitations and conflicts.

    `judged` may be shared by requests of the same need (urgency, language, juvenile) under
    the same policy at the same moment: it keeps how the lawyers alike were judged.
    """
    judged = {} if judged is None else judged
    pool = _pool(session, request, facts, policy, moment, moment.paused, invited, conflicts, judged)
    if pool.eligible or not moment.paused:
        return pool
    waived = _pool(session, request, facts, policy, moment, frozenset(), invited, conflicts, judged)
    if not waived.eligible:
        return pool
    return replace(waived, pause_waived=True)


def _pool(
    session: Session,
    request: Request,
    facts: TerritoryFacts,
    policy: Policy,
    moment: Moment,
    paused: frozenset[int],
    invited: set[int],
    conflicts: dict[int, str],
    judged: Judged,
) -> Pool:
    now = moment.now
    territory = facts.territory
    firms = facts.firms
    # Only the lawyers at their cap: a lawyer not read is below it, whatever the exact count.
    load: dict[int, int] = defaultdict(int, moment.at_cap)
    need = Need(
        urgency=request.urgency,
        language=request.person_language,
        juvenile=request.person_juvenile,
        local_time=now.astimezone(ZoneInfo(policy.timezone)),
    )
    # An approved rota covering the moment: its lawyers on duty (None: the duty windows rule).
    rota = facts.rota.on_duty(now)
    off_rota = None if rota is None else False
    lawyers = facts.lawyers
    profiles = facts.profiles

    def judge(i: int) -> str | None:
        """A lawyer's reason (None: eligible). One with no conflict and no invitation for this
        request is judged as the others of the same profile and the same side of the cap are:
        once per decision (`judged`)."""
        lawyer, _standing, profile = lawyers[i]
        lawyer_load = load.get(lawyer.id, 0)
        conflicted = conflicts.get(lawyer.firm_id) if conflicts else None
        alone = conflicted is not None or lawyer.id in invited or lawyer.id in paused
        on_rota = None if rota is None else lawyer.id in rota
        alike = (profile, lawyer_load >= lawyer.max_open, on_rota)
        reason = _UNJUDGED if alone else judged.get(alike, _UNJUDGED)
        if reason is _UNJUDGED:
            reason = request_exclusion(
                conflicted=conflicted,
                already_invited=lawyer.id in invited,
                languages=lawyer.languages,
                specialisations=lawyer.specialisations,
                load=lawyer_load,
                max_open=lawyer.max_open,
                duty=lawyer.duty,
                need=need,
                policy=policy,
                on_rota=on_rota,
                paused=lawyer.id in paused,
            )
            if not alone:
                judged[alike] = reason
        return reason

    # Every lawyer as its profile is judged below the cap, off any rota (kept per facts by the
    # profiles' reasons); then the few who are not alike are judged one by one: at their cap,
    # paused, invited, of a conflicted firm, or on the rota.
    reasons: list[str | None] = []
    for profile, lawyer, _ids in profiles.groups:
        key = (profile, False, off_rota)
        reason = judged.get(key, _UNJUDGED)
        if reason is _UNJUDGED:
            reason = judged[key] = judge_alike(lawyer, need, policy, on_rota=off_rota)
        reasons.append(reason)
    common = facts.alike(tuple(reasons))
    at = profiles.at
    others: set[int] = set(profiles.capless)
    for lawyer_id in at.keys() & set(moment.at_cap).union(invited, paused, rota or ()):
        others.update(at[lawyer_id])
    for firm_id in conflicts:
        others.update(profiles.by_firm.get(firm_id, ()))
    status = common.status
    changed = [(i, reason) for i in sorted(others) if (reason := judge(i)) != status[i]]
    eligible, excluded = _patched(facts, common, changed)
    weights: dict[int, float] = defaultdict(
        float,
        dict.fromkeys(facts.weights, 1.0) if policy.rotation.weight == "equal" else facts.weights,
    )
    return Pool(
        territory=territory,
        firms=firms,
        weights=weights,
        eligible=eligible,
        load=load,
        excluded_firms=_excluded_firms(facts, eligible, conflicts),
        excluded_lawyers=excluded,
        firm_ids={firms[f].code: f for f in eligible},
        weigher=WorkloadReader(session, policy, territory.id, _lapses_since(request, policy, now)),
        attempt=len(invited),
    )


def _patched(
    facts: TerritoryFacts, common: Alike, changed: list[tuple[int, str | None]]
) -> tuple[dict[int, list[LawyerRow]], list[ExcludedLawyer]]:
    """The eligible lawyers by firm and the excluded lawyers, both in facts order, of the
    lawyers judged alike (`common`, left unchanged) with the reasons of those judged otherwise
    (`changed`: facts index and reason, by index)."""
    if not changed:
        return {f: list(lws) for f, lws in common.eligible.items()}, list(common.excluded)
    lawyers = facts.lawyers
    status = common.status
    record = facts.record
    # The excluded: runs of the common records between the changed lawyers.
    excluded: list[ExcludedLawyer] = []
    at, records = common.excluded_at, common.excluded
    start = 0
    by_firm: dict[int, list[tuple[int, LawyerRow, str | None]]] = {}
    for i, reason in changed:
        lawyer = lawyers[i][0]
        by_firm.setdefault(lawyer.firm_id, []).append((i, lawyer, reason))
        end = bisect_left(at, i, start)
        if end > start:
            excluded += records[start:end]
        if status[i] is not None:
            end += 1  # no longer for the common reason
        if reason is not None:
            excluded.append(record(lawyer, reason))
        start = end
    excluded += records[start:]
    # The eligible: the firms of changed lawyers only, the same way.
    eligible = {f: list(lws) for f, lws in common.eligible.items() if f not in by_firm}
    reordered = False
    firsts: dict[int, int] = {}
    for firm_id, changes in by_firm.items():
        at = common.eligible_at.get(firm_id, [])
        rows = common.eligible.get(firm_id, [])
        mine: list[LawyerRow] = []
        first = -1
        start = 0
        for i, lawyer, reason in changes:
            end = bisect_left(at, i, start)
            if end > start:
                first = at[start] if first < 0 else first
                mine += rows[start:end]
            if status[i] is None:
                end += 1  # no longer eligible
            if reason is None:
                first = i if first < 0 else first
                mine.append(lawyer)
            start = end
        if start < len(at):
            first = at[start] if first < 0 else first
            mine += rows[start:]
        if mine:
            eligible[firm_id] = mine
            firsts[firm_id] = first
        if first != (at[0] if at else -1):
            reordered = True
    if not reordered:
        # Every firm keeps its first eligible lawyer: the common order holds.
        return {f: eligible[f] for f in common.eligible if f in eligible}, excluded
    # Firms in the order of their first eligible lawyer, as when judged one by one.
    for firm_id in eligible:
        if firm_id not in firsts:
            firsts[firm_id] = common.eligible_at[firm_id][0]
    return {f: eligible[f] for f in sorted(eligible, key=firsts.__getitem__)}, excluded


def judge_alike(
    lawyer: LawyerRow, need: Need, policy: Policy, *, on_rota: bool | None = None
) -> str | None:
    """How the lawyers of `lawyer`'s profile are judged for `need` when they are below their
    caps (a cap of 1 or more, no load), not invited, paused or conflicted."""
    return request_exclusion(
        conflicted=None,
        already_invited=False,
        languages=lawyer.languages,
        specialisations=lawyer.specialisations,
        load=0,
        max_open=lawyer.max_open,
        duty=lawyer.duty,
        need=need,
        policy=policy,
        on_rota=on_rota,
    )


def _excluded_firms(
    facts: TerritoryFacts, eligible: dict[int, list[LawyerRow]], conflicts: dict[int, str]
) -> list[ExcludedFirm]:
    """The firms with no eligible lawyer, by code, and why."""
    excluded_firms: list[ExcludedFirm] = []
    for firm_id, firm in facts.firms_by_code:
        if firm_id in eligible:
            continue
        if firm.status != FirmStatus.ACTIVE:
            why = "firm_suspended"
        elif firm_id in conflicts:
            why = "conflict"
        else:
            why = "no_eligible_lawyer"
        entry: ExcludedFirm = {"firm": firm.code, "reason": why}
        if firm_id in conflicts:
            entry["detail"] = conflicts[firm_id]
        excluded_firms.append(entry)
    return excluded_firms


def _lapses_since(request: Request, policy: Policy, now: datetime) -> datetime | None:
    """Since when a lapse steers a detention away from a lawyer (None: no steering)."""
    if not policy.pause.detentions_to_answering or request.urgency != Urgency.DETENTION:
        return None
    return now - timedelta(hours=policy.pause.within_hours)


def workloads(
    session: Session,
    lawyer_ids: list[int],
    policy: Policy,
    *,
    territory_id: int,
    lapses_since: datetime | None = None,
) -> Weighed:
    """Open appointments and pending invitations of these lawyers, weighted by case category,
    when each was last offered a case, their standings in the territory's rotation, and (with
    `lapses_since`) who of them let an invitation lapse since."""
    found: dict[int, float] = defaultdict(float)
    load: dict[int, int] = defaultdict(int)
    if not lawyer_ids:
        return Weighed(found, {}, {})
    for lawyer_id, category, n in session.execute(WORKLOAD, {"lawyers": lawyer_ids}).all():
        found[lawyer_id] += n * policy.workload.weight(category)
        load[lawyer_id] += n
    # Their firms' earnings not yet added are added as their standings are read.
    standing, last_offer = read_settled(session, territory_id, lawyer_ids)
    lapsed: set[int] = set()
    if lapses_since is not None:
        lapsed = {
            lawyer_id
            for lawyer_id, _n in session.execute(
                EXPIRED, {"lawyers": lawyer_ids, "since": lapses_since}
            ).all()
        }
    return Weighed(found, last_offer, standing, lapsed, load)


def lawyer_standings(pool: Pool, firm_id: int) -> list[LawyerStanding]:
    """A firm's eligible lawyers as the rules weigh them (their workloads read first)."""
    pool.weigh(firm_id)
    return [
        LawyerStanding(
            lw.licence,
            pool.workload[lw.id],
            pool.last_offer.get(lw.id),
            *pool.standing.get(lw.id, (0.0, 0)),
            lapsed=lw.id in pool.lapsed,
        )
        for lw in pool.eligible[firm_id]
    ]


def queue_record(
    pool: Pool, firm_id: int, lawyers: Sequence[LawyerRow], share: float
) -> list[QueuedLawyer]:
    """The firm's queue as a decision records it (its `lawyer_queue`): each lawyer's own
    standing with this decision's part of the firm's `share` (every eligible lawyer of the firm
    earns the same part), and for a detention who let an invitation lapse lately. The pool
    must have been weighed for the firm (`Pool.weigh`)."""
    earned = share / len(pool.eligible[firm_id])
    queue: list[QueuedLawyer] = []
    for lw in lawyers:
        entitlement, offers = pool.standing.get(lw.id, (0.0, 0))
        at = pool.last_offer.get(lw.id)
        entry: QueuedLawyer = {
            "licence": lw.licence,
            "load": pool.load[lw.id],
            "workload": pool.workload[lw.id],
            "last_offer_at": at.isoformat() if at else None,
            "entitlement": round(entitlement + earned, 9),
            "offers": offers,
            "shortfall": round(entitlement + earned - offers, 9),
        }
        if pool.answering_reach is not None:
            entry["lapsed"] = lw.id in pool.lapsed
        queue.append(entry)
    return queue


def lawyers_in_turn(pool: Pool, firm_id: int) -> list[LawyerRow]:
    """The firm's eligible lawyers, the one to invite first."""
    by_licence = {lw.licence: lw for lw in pool.eligible[firm_id]}
    ordered = order_lawyers(lawyer_standings(pool, firm_id), answering_reach=pool.answering_reach)
    return [by_licence[s.licence] for s in ordered]
