"""What a court or investigator may read of how its request was decided.

A decision's explanation and the audit events record everything the rules saw: another
person's request in the same case ("defends another person in this case (request cae201…)"),
a lawyer's registered conflict, a lawyer's or firm's status. The bar and the administrator read
them whole; a requester reads the same record with those withheld: an exclusion for a conflict
or a status says `withheld` (the exclusion itself stays, so the record still adds up), a
conflict's detail is dropped, and `possible_duplicate_of` keeps only the requester's own
requests. One function per record; the HTTP face applies them by role.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Collection
from typing import Any

from sqlmodel import Session, col, select

from dispatcher.allocation.record import (
    ExcludedFirm,
    ExcludedLawyer,
    Explanation,
    PoolSummary,
)
from dispatcher.models import Request
from policies.vocabulary import Disclosure, LawyerStatus

# Exclusion reasons (policies/eligibility.py, allocation/pool.py) that tell a lawyer's or a
# firm's status, or a conflict (registered, or defending another person in the case).
WITHHELD_REASONS = frozenset(
    {"conflict", "firm_suspended", LawyerStatus.SUSPENDED, LawyerStatus.ON_LEAVE}
)
# The same words inside a decision's free-text note ("chosen lawyer A-1 excluded: suspended").
_IN_NOTE = re.compile(r"\b(" + "|".join(sorted(WITHHELD_REASONS)) + r")\b")
# A request id (32 hex digits: `models.new_id`) named in free text.
_REQUEST_ID = re.compile(r"\b[0-9a-f]{32}\b")


def _reason(reason: str) -> str:
    return Disclosure.WITHHELD if reason in WITHHELD_REASONS else reason


def _pool(pool: PoolSummary) -> PoolSummary:
    firms: list[ExcludedFirm] = [
        {"firm": firm["firm"], "reason": _reason(firm["reason"])}  # no detail: it names whom
        for firm in pool["excluded_firms"]
    ]
    lawyers: list[ExcludedLawyer] = [
        {**lawyer, "reason": _reason(lawyer["reason"])} for lawyer in pool["excluded_lawyers"]
    ]
    return {**pool, "excluded_firms": firms, "excluded_lawyers": lawyers}


def _note(note: str | None) -> str | None:
    if note is None:
        return None
    return _REQUEST_ID.sub(Disclosure.WITHHELD, _IN_NOTE.sub(Disclosure.WITHHELD, note))


def explanation_for_requester(explanation: Explanation) -> Explanation:
    """The explanation as a court or investigator reads it (a copy; the record is untouched)."""
    shown = copy.deepcopy(explanation)
    for decision in shown["decisions"]:
        decision["tried"] = [_pool(pool) for pool in decision["tried"]]
        if "note" in decision:
            decision["note"] = _note(decision["note"])
    return shown


def audit_payload_for_requester(
    payload: dict[str, Any], own_requests: Collection[str]
) -> dict[str, Any]:
    """An audit event's payload as a requester reads it: other requests' ids are withheld
    (`possible_duplicate_of` keeps those in `own_requests`), and so are reasons and notes that
    would tell a status or a conflict."""
    shown: dict[str, Any] = {}
    for key, value in payload.items():
        if key == "possible_duplicate_of" and isinstance(value, list):
            shown[key] = [v for v in value if v in own_requests]
        elif isinstance(value, str) and key in ("reason", "note", "why"):
            shown[key] = _note(value)
        else:
            shown[key] = value
    return shown


def own_requests(session: Session, requester_id: int, ids: Collection[str]) -> set[str]:
    """Which of `ids` are the requester's own requests."""
    if not ids:
        return set()
    return set(
        session.exec(
            select(Request.id).where(
                col(Request.id).in_(list(ids)), Request.requester_id == requester_id
            )
        ).all()
    )


def mentioned_requests(payloads: Collection[dict[str, Any]]) -> set[str]:
    """The request ids the payloads' `possible_duplicate_of` lists name."""
    return {
        v
        for payload in payloads
        for v in payload.get("possible_duplicate_of") or []
        if isinstance(v, str)
    }
