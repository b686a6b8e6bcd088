"""The pool as the rules give it lawyer by lawyer: the reference the allocator's pools
(`dispatcher/allocation/pool.py`, judged a profile at a time) are compared with."""

from __future__ import annotations

from collections import defaultdict
from typing import Any
from zoneinfo import ZoneInfo

from dispatcher.allocation.pool import Moment, Pool
from dispatcher.allocation.record import ExcludedFirm, ExcludedLawyer
from dispatcher.allocation.registry_facts import LawyerRow, TerritoryFacts
from dispatcher.models import Request
from policies.config import Policy
from policies.eligibility import Need, request_exclusion
from policies.vocabulary import FirmStatus


def _reference(
    request: Request,
    facts: TerritoryFacts,
    policy: Policy,
    moment: Moment,
    paused: frozenset[int],
    invited: set[int],
    conflicts: dict[int, str],
) -> dict[str, Any]:
    """Every lawyer judged on their own, in facts order."""
    load: dict[int, int] = defaultdict(int, moment.at_cap)
    need = Need(
        urgency=request.urgency,
        language=request.person_language,
        juvenile=request.person_juvenile,
        local_time=moment.now.astimezone(ZoneInfo(policy.timezone)),
    )
    rota = facts.rota.on_duty(moment.now)
    eligible: dict[int, list[LawyerRow]] = {}
    excluded: list[ExcludedLawyer] = []
    for lawyer, standing, _profile in facts.lawyers:
        if standing is not None:
            excluded.append(standing)
            continue
        reason = request_exclusion(
            conflicted=conflicts.get(lawyer.firm_id),
            already_invited=lawyer.id in invited,
            languages=lawyer.languages,
            specialisations=lawyer.specialisations,
            load=load.get(lawyer.id, 0),
            max_open=lawyer.max_open,
            duty=lawyer.duty,
            need=need,
            policy=policy,
            on_rota=None if rota is None else lawyer.id in rota,
            paused=lawyer.id in paused,
        )
        if reason is None:
            eligible.setdefault(lawyer.firm_id, []).append(lawyer)
        else:
            excluded.append(facts.record(lawyer, reason))
    weights = dict(facts.weights)
    if policy.rotation.weight == "equal":
        weights = dict.fromkeys(weights, 1.0)
    excluded_firms: list[ExcludedFirm] = []
    for firm_id, firm in sorted(facts.firms.items(), key=lambda kv: kv[1].code):
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
    return {
        "eligible": list(eligible.items()),
        "excluded_lawyers": excluded,
        "excluded_firms": excluded_firms,
        "weights": weights,
        "load": dict(load),
        "firm_ids": {facts.firms[f].code: f for f in eligible},
        "attempt": len(invited),
    }


def reference_pool(
    request: Request,
    facts: TerritoryFacts,
    policy: Policy,
    moment: Moment,
    invited: set[int],
    conflicts: dict[int, str],
) -> dict[str, Any]:
    """The pool lawyer by lawyer, with the pause set aside when only paused lawyers could be
    invited."""
    found = _reference(request, facts, policy, moment, moment.paused, invited, conflicts)
    found["pause_waived"] = False
    if found["eligible"] or not moment.paused:
        return found
    waived = _reference(request, facts, policy, moment, frozenset(), invited, conflicts)
    if not waived["eligible"]:
        return found
    waived["pause_waived"] = True
    return waived


def as_found(pool: Pool) -> dict[str, Any]:
    """A pool's fields as `reference_pool` gives them (firms and lawyers in order)."""
    return {
        "eligible": list(pool.eligible.items()),
        "excluded_lawyers": pool.excluded_lawyers,
        "excluded_firms": pool.excluded_firms,
        "weights": dict(pool.weights),
        "load": dict(pool.load),
        "firm_ids": pool.firm_ids,
        "attempt": pool.attempt,
        "pause_waived": pool.pause_waived,
    }
