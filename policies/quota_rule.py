"""This service's rule behind the common interface: the quota rotation of firms (quota.py),
then the firm's lawyers by recent expiries (when the policy learns), workload and last offer."""

from __future__ import annotations

from dataclasses import dataclass

from policies.base import Standings, Turn, firm_queue
from policies.quota import rank_firms
from policies.vocabulary import RuleName


@dataclass(frozen=True)
class QuotaRule:
    name: RuleName = RuleName.QUOTA

    def turn(self, standings: Standings) -> Turn:
        ranking = rank_firms(standings.firms)
        firm = ranking[0].firm
        days = standings.settings.learn_answers_days
        how: dict[str, object] = {
            "firm_order": "quota (Tijdeman): furthest behind its entitlement within the bound",
            "lawyer_order": (
                f"fewest invitations let expire in {days} days, then lightest workload, "
                "then longest since the last offer"
                if days
                else "lightest workload, then longest since the last offer"
            ),
        }
        return Turn(firm=firm, queue=firm_queue(standings, firm), ranking=tuple(ranking), how=how)


QUOTA = QuotaRule()
