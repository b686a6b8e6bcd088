"""This service's rule behind the common interface: the quota rotation of firms (quota.py),
then, within the firm, the quota rule one level down: the lawyer furthest below their own
entitlement first (then workload and last offer)."""

from __future__ import annotations

from dataclasses import dataclass

from policies.base import Standings, Turn, firm_queue
from policies.quota import rank_with_bound
from policies.vocabulary import RuleName


def lawyer_order(answering_reach: float | None) -> str:
    """The within-firm order (`order_lawyers`) in the bar's words, as a decision records it."""
    plain = (
        "furthest below their own entitlement, then lightest workload, "
        "then longest since the last offer"
    )
    if answering_reach is None:
        return plain
    return (
        "a detention: first those who let no invitation lapse lately and stand within "
        f"{answering_reach:g} of the one furthest below their own entitlement; then " + plain
    )


@dataclass(frozen=True)
class QuotaRule:
    name: RuleName = RuleName.QUOTA

    def turn(self, standings: Standings) -> Turn:
        optimum = standings.settings.firm_bound == "optimum"
        ranking, bound = rank_with_bound(standings.firms, optimum=optimum)
        firm = ranking[0].firm
        how: dict[str, object] = {
            "firm_order": (
                "quota: the firm that would soonest fall behind its entitlement by more than "
                f"the bound, among those the turn keeps within it; bound: {bound.describe()}"
            ),
            "lawyer_order": lawyer_order(standings.answering_reach),
        }
        return Turn(firm=firm, queue=firm_queue(standings, firm), ranking=tuple(ranking), how=how)


QUOTA = QuotaRule()
