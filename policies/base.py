"""One interface for every allocation rule: given the eligible firms and lawyers, whose turn.

The eligibility filter runs before any rule (dispatcher/allocation.py with
policies/eligibility.py), so a rule only ever sees lawyers it may invite: no rule can pick a
conflicted, off-duty or capped lawyer. The rules differ only in the order they put them in.
Every eligible firm still earns its entitlement at each decision, whatever the rule, so the
bar measures all of them against the same yardstick.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from types import MappingProxyType
from typing import Protocol

from policies.config import Rotation
from policies.quota import FirmStanding, LawyerStanding, RankedFirm, order_lawyers, rank_firms
from policies.vocabulary import RuleName


@dataclass(frozen=True)
class Standings:
    """What a rule sees at one decision."""

    firms: Sequence[FirmStanding]  # the eligible firms (code, weight, entitlement, offers)
    lawyers_of: Callable[[str], Sequence[LawyerStanding]]  # a firm's eligible lawyers
    settings: Rotation
    requester: str = ""  # who asks (for the wheel's human, who has favourites)
    draw_key: str = ""  # the same request at the same step draws the same
    # A detention steered to the lawyers who answer (`order_lawyers`); None: the plain order.
    answering_reach: float | None = None

    def rng(self) -> random.Random:
        """A generator seeded by the policy's seed and the decision, for rules that draw."""
        seed = f"{self.settings.draw_seed}:{self.draw_key}".encode()
        return random.Random(int.from_bytes(hashlib.sha256(seed).digest()[:8], "big"))

    def all_lawyers(self) -> list[tuple[str, LawyerStanding]]:
        """Every eligible lawyer with their firm, by licence."""
        found = [(f.firm, lw) for f in self.firms for lw in self.lawyers_of(f.firm)]
        return sorted(found, key=lambda pair: pair[1].licence)


@dataclass(frozen=True)
class Turn:
    """A rule's answer: the firm whose lawyer is invited, and in which order to try them."""

    firm: str
    queue: tuple[str, ...]  # licences of the firm's eligible lawyers, the one to invite first
    ranking: tuple[RankedFirm, ...]  # every eligible firm with its share, in the rule's order
    how: dict[str, object] = field(default_factory=dict)  # the rule's reasons, for the record


class Rule(Protocol):
    @property
    def name(self) -> str: ...

    def turn(self, standings: Standings) -> Turn: ...


def least_recently_offered(pairs: Sequence[tuple[str, LawyerStanding]]) -> list[str]:
    """Licences in round-robin order: never offered first, then the oldest last offer."""

    def key(pair: tuple[str, LawyerStanding]) -> tuple[int, float, str]:
        offered = pair[1].last_offer_at
        return (
            0 if offered is None else 1,
            offered.timestamp() if offered else 0.0,
            pair[1].licence,
        )

    return [lw.licence for _firm, lw in sorted(pairs, key=key)]


def turn_for_lawyer(
    standings: Standings, firm: str, first: str, rest: Sequence[str], how: dict[str, object]
) -> Turn:
    """The turn of a rule that picks a lawyer: their firm, them first, then `rest` of the firm."""
    ranking = rank_firms(standings.firms)
    ordered = sorted(ranking, key=lambda r: (r.firm != firm, r.firm))
    in_firm = {lw.licence for lw in standings.lawyers_of(firm)}
    queue = (first, *[x for x in rest if x in in_firm and x != first])
    return Turn(firm=firm, queue=queue, ranking=tuple(ordered), how=how)


def firm_queue(standings: Standings, firm: str) -> tuple[str, ...]:
    """A firm's lawyers in the service's within-firm order: furthest below their own
    entitlement first (`order_lawyers`; for a detention, those who answer within reach)."""
    ordered = order_lawyers(standings.lawyers_of(firm), answering_reach=standings.answering_reach)
    return tuple(s.licence for s in ordered)


@cache
def rule_registry() -> Mapping[RuleName, Rule]:
    """Every allocation rule by its name, in the order of `RuleName`.

    Built on first use: the rules' modules import this one.
    """
    from policies import lottery, quota_rule, round_robin, swrr, wheel

    rules: dict[RuleName, Rule] = {
        RuleName.QUOTA: quota_rule.QUOTA,
        RuleName.ROUND_ROBIN: round_robin.ROUND_ROBIN,
        RuleName.LOTTERY: lottery.LOTTERY,
        RuleName.WHEEL: wheel.WHEEL,
        RuleName.SWRR: swrr.SWRR,
    }
    return MappingProxyType({name: rules[name] for name in RuleName})


def rule_named(name: RuleName) -> Rule:
    """The rule a policy names (`[rotation] rule`)."""
    return rule_registry()[name]
