"""The registry's facts as allocation reads them, kept between decisions.

A territory's firms and lawyers, and the exclusions that hold whatever the request, are the
same for every request until the registry changes: a process reads them once per registry
version (`dispatcher/registry_version.py`) and keeps them per database.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import time as dtime
from functools import cached_property, lru_cache
from weakref import WeakKeyDictionary

from sqlalchemy import Text, cast
from sqlalchemy import select as sa_select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import aliased
from sqlmodel import Session, col
from typing_extensions import TypedDict

from dispatcher import registry_version
from dispatcher.allocation.record import ExcludedLawyer
from dispatcher.allocation.statements import TERRITORIES
from dispatcher.models import Firm, FirmTerritory, Lawyer, LawyerTerritory, Request
from dispatcher.rota.cover import NO_COVER, RotaCover, read_cover
from policies.eligibility import DutyWindow, standing_exclusion
from policies.vocabulary import LawyerStatus


@dataclass(frozen=True)
class LawyerRow:
    """The columns of a lawyer the rules read (plain values: no ORM object per candidate)."""

    id: int
    licence: str
    name: str
    firm_id: int
    languages: tuple[str, ...]
    specialisations: tuple[str, ...]
    max_open: int
    status: str
    duty: tuple[DutyWindow, ...]


@dataclass(frozen=True)
class FirmRow:
    """The columns of a firm the rules read."""

    id: int
    code: str
    status: str


@dataclass(frozen=True)
class TerritoryRow:
    """A territory as allocation reads it: its id, code and fallbacks in order."""

    id: int
    code: str
    fallback: tuple[str, ...]


# The lawyers the rules judge alike on the same side of their caps: the same languages,
# specialisations and duty roster (the cap counts only through whether the load reaches it).
Profile = tuple[tuple[str, ...], tuple[str, ...], tuple[DutyWindow, ...]]

# Each profile's reason (None: eligible), in the order of `Profiles.groups`.
Reasons = tuple[str | None, ...]


@dataclass(frozen=True)
class Profiles:
    """The territory's lawyers arranged to be judged a profile at a time (`pool._pool`).

    Only the lawyers without a standing exclusion are grouped; `at` and `by_firm` find the
    few a decision judges one by one (at their cap, paused, invited, conflicted, on a rota).
    """

    # Per profile with such lawyers: its number, one of its lawyers, their facts indexes.
    groups: tuple[tuple[int, LawyerRow, tuple[int, ...]], ...]
    at: dict[int, tuple[int, ...]]  # lawyer id -> facts indexes
    by_firm: dict[int, tuple[int, ...]]  # firm id -> facts indexes of its lawyers
    # Lawyers with a cap of 0 or below: at their cap with no load at all.
    capless: tuple[int, ...]


@dataclass(frozen=True)
class Alike:
    """A pool's lawyers when each is judged as its profile is, below the cap: the standing
    exclusions, then every other lawyer with the reason of its profile (`Reasons`)."""

    status: tuple[str | None, ...]  # per facts index: the reason, None when eligible
    excluded_at: list[int]  # facts indexes of the excluded, ascending
    excluded: list[ExcludedLawyer]  # their records, in the same order
    # Firm id -> facts indexes and rows of its eligible lawyers; firms by their first one.
    eligible_at: dict[int, list[int]]
    eligible: dict[int, list[LawyerRow]]


@dataclass(frozen=True)
class TerritoryFacts:
    """What the registry says of one territory, the same for every request until it changes.

    The firms serving it; every lawyer of those firms by licence, with the record of the
    reason that excludes the lawyer whatever the request (suspended firm or lawyer, on leave,
    not serving the territory) or None, and the lawyer's profile: a number shared by the
    lawyers of the same languages, specialisations and duty roster, whom the rules judge alike
    on the same side of their caps; and each firm's weight (its active lawyers serving the
    territory).
    """

    territory: TerritoryRow
    firms: dict[int, FirmRow]
    lawyers: tuple[tuple[LawyerRow, ExcludedLawyer | None, int], ...]
    weights: dict[int, float]
    # Who is on duty when by the territory's approved rotas (dispatcher/rota).
    rota: RotaCover = NO_COVER
    # The records of request-specific exclusions, made once per lawyer and reason and shared
    # by the decisions' explanations (which never change them).
    records: dict[tuple[int, str], ExcludedLawyer] = field(default_factory=dict, compare=False)
    # The pools' lawyers judged a profile at a time, by the profiles' reasons: a territory
    # sees a few dozen combinations of needs and hours, each one built once (`alike`).
    alikes: dict[Reasons, Alike] = field(default_factory=dict, compare=False)

    @cached_property
    def firms_by_code(self) -> tuple[tuple[int, FirmRow], ...]:
        """The firms serving the territory, by code."""
        return tuple(sorted(self.firms.items(), key=lambda kv: kv[1].code))

    @cached_property
    def profiles(self) -> Profiles:
        """The lawyers without a standing exclusion, grouped by profile."""
        members: dict[int, list[int]] = {}
        first: dict[int, LawyerRow] = {}
        at: dict[int, list[int]] = {}
        by_firm: dict[int, list[int]] = {}
        capless: list[int] = []
        for i, (lawyer, standing, profile) in enumerate(self.lawyers):
            if standing is not None:
                continue
            at.setdefault(lawyer.id, []).append(i)
            by_firm.setdefault(lawyer.firm_id, []).append(i)
            if lawyer.max_open <= 0:
                capless.append(i)
                continue
            members.setdefault(profile, []).append(i)
            first.setdefault(profile, lawyer)
        return Profiles(
            groups=tuple((p, first[p], tuple(ids)) for p, ids in members.items()),
            at={k: tuple(v) for k, v in at.items()},
            by_firm={k: tuple(v) for k, v in by_firm.items()},
            capless=tuple(capless),
        )

    def alike(self, reasons: Reasons) -> Alike:
        """The lawyers judged as their profiles are, by each profile's reason (in the order of
        `profiles.groups`); a lawyer with a cap of 0 or below counts as at it ("cap")."""
        found = self.alikes.get(reasons)
        if found is not None:
            return found
        status: list[str | None] = ["cap"] * len(self.lawyers)
        for (_profile, _lawyer, ids), reason in zip(self.profiles.groups, reasons, strict=True):
            for i in ids:
                status[i] = reason
        excluded_at: list[int] = []
        excluded_records: list[ExcludedLawyer] = []
        eligible_at: dict[int, list[int]] = {}
        eligible: dict[int, list[LawyerRow]] = {}
        for i, (lawyer, standing, _profile) in enumerate(self.lawyers):
            if standing is not None:
                status[i] = standing["reason"]
                excluded_at.append(i)
                excluded_records.append(standing)
                continue
            reason = status[i]
            if reason is None:
                eligible_at.setdefault(lawyer.firm_id, []).append(i)
                eligible.setdefault(lawyer.firm_id, []).append(lawyer)
            else:
                excluded_at.append(i)
                excluded_records.append(self.record(lawyer, reason))
        found = Alike(tuple(status), excluded_at, excluded_records, eligible_at, eligible)
        if len(self.alikes) >= _ALIKES_KEPT:
            self.alikes.clear()
        self.alikes[reasons] = found
        return found

    def record(self, lawyer: LawyerRow, reason: str) -> ExcludedLawyer:
        found = self.records.get((lawyer.id, reason))
        if found is None:
            found = self.records[(lawyer.id, reason)] = excluded(
                lawyer, self.firms[lawyer.firm_id], reason
            )
        return found


# Combinations of reasons kept per territory (beyond, the oldest are read again).
_ALIKES_KEPT = 256


def excluded(lawyer: LawyerRow, firm: FirmRow, reason: str) -> ExcludedLawyer:
    """How an explanation records an excluded lawyer."""
    return {"licence": lawyer.licence, "firm": firm.code, "reason": reason}


@dataclass
class Registry:
    """What one process keeps of one database's registry, at one version of it."""

    version: str
    territories: dict[int, TerritoryRow]
    by_code: dict[str, TerritoryRow]
    facts: dict[int, TerritoryFacts] = field(default_factory=dict)

    def facts_of(self, session: Session, territory: TerritoryRow) -> TerritoryFacts:
        """The territory's facts at this version, read at the first asking."""
        found = self.facts.get(territory.id)
        if found is None:
            found = self.facts[territory.id] = _read_facts(session, territory)
        return found

    def chain(self, request: Request) -> list[TerritoryRow]:
        """The request's territory, then its fallbacks in order."""
        home = self.territories[request.territory_id]
        chain = [home]
        for code in home.fallback:
            found = self.by_code.get(code)
            if found is not None and found not in chain:
                chain.append(found)
        return chain


# Per engine (database): the registry as read at the latest version this process has seen.
_KEPT: WeakKeyDictionary[Engine, Registry] = WeakKeyDictionary()


def kept_registry(session: Session) -> Registry:
    """The registry at the version this transaction sees: kept from earlier decisions while
    the version holds (one primary-key read), read again after any change
    (`dispatcher/registry_version.py`)."""
    version = registry_version.current(session)
    engine = session.get_bind().engine
    kept = _KEPT.get(engine)
    if kept is None or kept.version != version:
        rows = [
            TerritoryRow(id, code, tuple(fallback or ()))
            for id, code, fallback in session.execute(TERRITORIES).all()
        ]
        kept = Registry(version, {t.id: t for t in rows}, {t.code: t for t in rows})
        _KEPT[engine] = kept
    return kept


def forget_registry() -> None:
    """Drop what this process keeps of every registry (the next decision reads afresh)."""
    _KEPT.clear()


def prime(session: Session) -> int:
    """Read every territory's facts now rather than at its first decision; returns how many.

    A process that starts, or sees the registry change, reads a territory's facts at the
    territory's next decision, which then takes the time of that read (about 10 ms for a
    capital district of 700 lawyers); priming moves that cost out of the decisions.
    """
    kept = kept_registry(session)
    for territory in kept.territories.values():
        kept.facts_of(session, territory)
    return len(kept.territories)


def request_territory_code(session: Session, request: Request) -> str:
    """The code of the request's territory ("" when the registry no longer has it)."""
    found = kept_registry(session).territories.get(request.territory_id)
    return found.code if found else ""


def _read_facts(session: Session, territory: TerritoryRow) -> TerritoryFacts:
    firms = {
        row[0]: FirmRow(row[0], row[1], row[2])
        for row in session.execute(
            sa_select(col(Firm.id), col(Firm.code), col(Firm.status))
            .join(FirmTerritory, col(FirmTerritory.firm_id) == Firm.id)
            .where(col(FirmTerritory.territory_id) == territory.id)
        ).all()
    }
    return territory_facts(
        territory, firms, _lawyer_rows(session, territory.id), read_cover(session, territory.id)
    )


def territory_facts(
    territory: TerritoryRow,
    firms: dict[int, FirmRow],
    lawyers_read: Iterable[tuple[LawyerRow, bool]],
    rota: RotaCover = NO_COVER,
) -> TerritoryFacts:
    """The facts of a territory from its firms and their lawyers by licence, each with whether
    the lawyer serves the territory too."""
    weights: dict[int, float] = dict.fromkeys(firms, 0.0)
    lawyers: list[tuple[LawyerRow, ExcludedLawyer | None, int]] = []
    profiles: dict[Profile, int] = {}
    for lawyer, serves in lawyers_read:
        firm = firms[lawyer.firm_id]
        if lawyer.status == LawyerStatus.ACTIVE and serves:
            weights[lawyer.firm_id] += 1.0
        reason = standing_exclusion(firm.status, lawyer.status, serves)
        entry = None if reason is None else excluded(lawyer, firm, reason)
        profile = (lawyer.languages, lawyer.specialisations, lawyer.duty)
        lawyers.append((lawyer, entry, profiles.setdefault(profile, len(profiles))))
    return TerritoryFacts(
        territory=territory,
        firms=firms,
        lawyers=tuple(lawyers),
        weights={f: w for f, w in weights.items() if w > 0},
        rota=rota,
    )


# A lawyer's columns as read: id, licence, name, firm id, then languages, specialisations
# (JSON text), cap, status and duty roster (JSON text).
_LawyerColumns = tuple[int, str, str, int, str, str, int, str, str]


def _lawyer_rows(session: Session, territory_id: int) -> list[tuple[LawyerRow, bool]]:
    """Every lawyer of the firms serving the territory, by licence, and whether the lawyer
    serves it too: one query."""
    serves = aliased(LawyerTerritory)
    rows = session.execute(
        sa_select(
            col(Lawyer.id),
            col(Lawyer.licence),
            col(Lawyer.name),
            col(Lawyer.firm_id),
            cast(col(Lawyer.languages), Text),
            cast(col(Lawyer.specialisations), Text),
            col(Lawyer.max_open),
            col(Lawyer.status),
            cast(col(Lawyer.duty), Text),
            col(serves.lawyer_id),
        )
        .join(FirmTerritory, col(FirmTerritory.firm_id) == Lawyer.firm_id)
        .outerjoin(
            serves,
            (col(serves.lawyer_id) == Lawyer.id) & (col(serves.territory_id) == territory_id),
        )
        .where(col(FirmTerritory.territory_id) == territory_id)
        .order_by(col(Lawyer.licence))
    ).all()
    return [(_lawyer_row(tuple(row[:9])), row[9] is not None) for row in rows]


@lru_cache(maxsize=65536)
def _lawyer_row(row: _LawyerColumns) -> LawyerRow:
    """A lawyer's columns as the rules read them; the same columns give the same object."""
    return LawyerRow(
        id=row[0],
        licence=row[1],
        name=row[2],
        firm_id=row[3],
        languages=_texts(row[4]),
        specialisations=_texts(row[5]),
        max_open=row[6],
        status=row[7],
        duty=_duty_text(row[8]),
    )


class _DutyJson(TypedDict):
    """A duty window as the registry stores it."""

    weekday: int
    start: str
    end: str


def _duty(windows: Iterable[_DutyJson]) -> tuple[DutyWindow, ...]:
    return _parse_duty(tuple((int(w["weekday"]), w["start"], w["end"]) for w in windows))


@lru_cache(maxsize=4096)
def _parse_duty(windows: tuple[tuple[int, str, str], ...]) -> tuple[DutyWindow, ...]:
    return tuple(
        DutyWindow(day, dtime.fromisoformat(start), dtime.fromisoformat(end))
        for day, start, end in windows
    )


# The registry's JSON columns are read as text and parsed once per distinct text: a territory
# has hundreds of lawyers but only a handful of distinct language lists and duty rosters.
@lru_cache(maxsize=4096)
def _texts(raw: str) -> tuple[str, ...]:
    return tuple(json.loads(raw))


@lru_cache(maxsize=4096)
def _duty_text(raw: str) -> tuple[DutyWindow, ...]:
    return _duty(json.loads(raw))
