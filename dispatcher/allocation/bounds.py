"""B*, the least bound a rotation over a set of firms can keep, computed before decisions need it.

The quota rule keeps B* of the weights of a decision's eligible firms (`policies.quota`,
`firm_bound = "optimum"`), computed once per set of weights and kept for the process. A new
set costs a few earliest-due-date passes over the cycle (about 2 ms for a capital district of
900 lawyers), and a territory meets many sets: a person's language and age decide which firms
have a lawyer for them, and for a detention so does the hour (the lawyers' duty windows). A
process meeting those sets for the first time in its decisions paid that time in them: the
slowest hundredth of a fresh process's decisions were nearly all such.

So a process computes them when it starts (`Runtime.start`): for every territory, every
language its lawyers speak, a juvenile or not, a standard request and a detention at every
moment of the week where a duty window opens or closes, the set of firms with a lawyer
eligible when no one is at their cap, paused, invited or conflicted. Sets those make (a firm
whose lawyers are all busy) are still computed at their first decision, as are those of an
approved rota's weeks. Each set with one or two firms left out is computed too (a
co-defendant's firm, a firm whose lawyers are all busy): for the national registry of 5,000
lawyers, about 2,400 sets in 1.5 s.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlmodel import Session

from dispatcher.allocation.pool import judge_alike
from dispatcher.allocation.registry_facts import Reasons, TerritoryFacts, kept_registry
from policies.config import Policy
from policies.eligibility import DutyWindow, Need
from policies.quota import prime_bound
from policies.vocabulary import FirmStatus, RuleName, Urgency

# A Monday: the moments of the week are placed in it (only the weekday and the hour count).
_MONDAY = datetime(2026, 1, 5)


# A decision also meets a set of the module's with a firm or two missing: firms defending a
# co-defendant in the same case, or whose lawyers are all at their cap. B* is of the weights
# alone, so each distinct weight left out gives one set; beyond two the sets multiply.
ABSENT_FIRMS = 2


def prime_bounds(session: Session, policy_for: Callable[[str], Policy]) -> int:
    """Compute B* of every set of firms each territory's decisions can meet when no lawyer
    is busy (see the module), and of those sets with up to `ABSENT_FIRMS` firms left out, for
    the territories whose rotation keeps it; returns how many sets of weights."""
    kept = kept_registry(session)
    sets: set[tuple[float, ...]] = set()
    for territory in kept.territories.values():
        policy = policy_for(territory.code)
        rotation = policy.rotation
        if rotation.rule != RuleName.QUOTA or rotation.firm_bound != "optimum":
            continue
        sets |= weight_sets(kept.facts_of(session, territory), policy)
    layer = sets
    for _ in range(ABSENT_FIRMS):
        layer = {fewer for weights in layer for fewer in one_left_out(weights)} - sets
        sets |= layer
    return sum(1 for weights in sets if prime_bound(weights) is not None)


def one_left_out(weights: tuple[float, ...]) -> Iterator[tuple[float, ...]]:
    """The weights with one firm left out, once per distinct weight (two firms or more)."""
    if len(weights) <= 2:
        return
    for weight in sorted(set(weights)):
        at = weights.index(weight)
        yield weights[:at] + weights[at + 1 :]


def weight_sets(facts: TerritoryFacts, policy: Policy) -> set[tuple[float, ...]]:
    """The weights (sorted) of each of `firm_sets`' sets of two firms or more: B* is of the
    weights alone."""
    equal = policy.rotation.weight == "equal"
    sets: set[tuple[float, ...]] = set()
    for firms in firm_sets(facts, policy):
        weights = tuple(sorted(1.0 if equal else facts.weights.get(f, 0.0) for f in firms))
        if len(weights) >= 2 and weights[0] > 0:
            sets.add(weights)
    return sets


def firm_sets(facts: TerritoryFacts, policy: Policy) -> set[frozenset[int]]:
    """Every set of firms (ids) with an eligible lawyer for some need of the territory, when
    no lawyer is busy."""
    groups = facts.profiles.groups
    sets: set[frozenset[int]] = set()
    seen: set[Reasons] = set()
    for need in _needs(facts, policy):
        reasons = tuple(judge_alike(lawyer, need, policy) for _profile, lawyer, _ids in groups)
        if reasons in seen:
            continue
        seen.add(reasons)
        sets.add(
            frozenset(
                facts.lawyers[i][0].firm_id
                for (_profile, _lawyer, ids), reason in zip(groups, reasons, strict=True)
                if reason is None
                for i in ids
                if facts.firms[facts.lawyers[i][0].firm_id].status == FirmStatus.ACTIVE
            )
        )
    return sets


def _needs(facts: TerritoryFacts, policy: Policy) -> Iterator[Need]:
    """Every need the territory's lawyers could be judged for, by language, age, urgency and
    (for a detention) each moment of the week a duty window opens or closes."""
    languages = sorted(
        {lang for _p, lawyer, _ids in facts.profiles.groups for lang in lawyer.languages}
    )
    zone = ZoneInfo(policy.timezone)
    moments = [_MONDAY.replace(tzinfo=zone)] + [
        moment.replace(tzinfo=zone)
        for moment in sorted(
            {m for _p, lawyer, _ids in facts.profiles.groups for m in _edges(lawyer.duty)}
        )
    ]
    for language in languages:
        for juvenile in (False, True):
            yield Need(Urgency.STANDARD, language, juvenile, moments[0])
            for moment in moments:
                yield Need(Urgency.DETENTION, language, juvenile, moment)


def _edges(duty: tuple[DutyWindow, ...]) -> Iterator[datetime]:
    """The moments of the week (placed in one week from a Monday) where a window opens or
    closes."""
    for w in duty:
        yield _MONDAY + timedelta(days=w.weekday) + _since_midnight(w.start)
        closing_day = (w.weekday + (0 if w.start < w.end else 1)) % 7
        yield _MONDAY + timedelta(days=closing_day) + _since_midnight(w.end)


def _since_midnight(at: time) -> timedelta:
    return timedelta(hours=at.hour, minutes=at.minute, seconds=at.second)
