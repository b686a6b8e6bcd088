"""The registry: territories, firms, lawyers, duty windows, places and conflicts.

Entities are addressed by their natural codes. Writing an entity is an upsert that changes
only what differs and says what it did (`Change`), so importing the same file twice changes
nothing. Listings read a fixed number of queries, whatever the number of rows.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from enum import StrEnum
from typing import Annotated, TypedDict

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator
from sqlalchemy import and_
from sqlmodel import Session, col, delete, select

from dispatcher import audit
from dispatcher.errors import Invalid, NotFound
from dispatcher.models import (
    Conflict,
    DutyEntry,
    Firm,
    FirmTerritory,
    Lawyer,
    LawyerTerritory,
    Place,
    Territory,
)
from dispatcher.schemas import (
    Code,
    ConflictOut,
    DutyOut,
    FirmOut,
    ImportSummary,
    LawyerOut,
    NamesOut,
    Phone,
    PlaceOut,
    RegistrySection,
    TerritoryOut,
)
from policies.vocabulary import FirmStatus, LawyerStatus, PlaceKind

Licence = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9-]{0,31}$")]
Language = Annotated[str, StringConstraints(pattern=r"^[a-z]{2}$")]
Name = Annotated[str, StringConstraints(min_length=1, max_length=200, strip_whitespace=True)]
HHMM = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$")
# A place's code: a territory's code and a suffix ("BAK-NSM-POL1").
PlaceCode = Annotated[str, StringConstraints(pattern=r"^[A-Z0-9][A-Z0-9-]{0,31}$")]
Email = Annotated[
    str,
    StringConstraints(
        max_length=254, strip_whitespace=True, pattern=r"^[^@\s<>,;]+@[^@\s<>,;]+\.[^@\s<>,;]+$"
    ),
]
# An apprise notification URL ("mailto://...", "tgram://...", "json://..."): apprise itself
# reads the rest when it sends.
NotifyUrl = Annotated[
    str,
    StringConstraints(
        min_length=4, max_length=2000, pattern=r"^[A-Za-z][A-Za-z0-9+.-]{0,31}://\S+$"
    ),
]
MAX_NOTIFY = 5


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Names(_Strict):
    az: Name
    ru: Name
    en: Name


class TerritoryIn(_Strict):
    code: Code
    name: Names
    fallback: list[Code] = Field(default_factory=list, max_length=10)


class FirmIn(_Strict):
    code: Code
    name: Annotated[str, StringConstraints(min_length=1, max_length=300, strip_whitespace=True)]
    territories: list[Code] = Field(min_length=1, max_length=100)
    status: FirmStatus = FirmStatus.ACTIVE


class DutyIn(_Strict):
    weekday: int = Field(ge=0, le=6)
    start: str
    end: str

    @field_validator("start", "end")
    @classmethod
    def _hhmm(cls, value: str) -> str:
        if not HHMM.match(value):
            raise ValueError("must be a time of day as HH:MM")
        return value


class LawyerIn(_Strict):
    licence: Licence
    name: Name
    firm: Code
    territories: list[Code] = Field(min_length=1, max_length=100)
    languages: list[Language] = Field(min_length=1, max_length=20)
    specialisations: list[Annotated[str, StringConstraints(max_length=64)]] = Field(
        default_factory=list, max_length=20
    )
    max_open: int = Field(default=8, ge=0, le=1000)
    status: LawyerStatus = LawyerStatus.ACTIVE
    duty: list[DutyIn] = Field(default_factory=list, max_length=100)
    phone: Phone | None = None
    email: Email | None = None
    # A path to the photo the administrator uploaded.
    photo: Annotated[str, StringConstraints(min_length=1, max_length=500)] | None = None
    notify: list[NotifyUrl] = Field(default_factory=list, max_length=MAX_NOTIFY)


class PlaceIn(_Strict):
    code: PlaceCode
    territory: Code
    kind: PlaceKind
    name: Names
    address: Annotated[str, StringConstraints(min_length=1, max_length=300, strip_whitespace=True)]
    phone: Phone | None = None


class ConflictIn(_Strict):
    lawyer: Licence
    case_number: Annotated[str, StringConstraints(min_length=1, max_length=64)]
    role: Annotated[str, StringConstraints(min_length=1, max_length=64)]


class RegistryFile(_Strict):
    """A whole registry; each list is bounded, so an oversized one is refused as it is read
    (a national registry has about 5,000 lawyers in 400 firms: ten times that is allowed)."""

    territories: list[TerritoryIn] = Field(default_factory=list, max_length=5_000)
    firms: list[FirmIn] = Field(default_factory=list, max_length=10_000)
    lawyers: list[LawyerIn] = Field(default_factory=list, max_length=50_000)
    places: list[PlaceIn] = Field(default_factory=list, max_length=10_000)
    conflicts: list[ConflictIn] = Field(default_factory=list, max_length=50_000)


class Change(StrEnum):
    """What a write did to one registry entity."""

    CREATED = "created"
    UPDATED = "updated"
    UNCHANGED = "unchanged"


def _tally(summary: ImportSummary, section: RegistrySection, change: Change) -> None:
    if change is Change.CREATED:
        summary.created[section] = summary.created.get(section, 0) + 1
    elif change is Change.UPDATED:
        summary.updated[section] = summary.updated.get(section, 0) + 1


# --- lookups -------------------------------------------------------------------------------


class Known:
    """The registry as a write reads it, by code, kept up to date by the write itself.

    Every upsert resolves codes through here and nowhere else. `Known.load` reads the whole
    registry at once, so that an import resolves each code once instead of once per mention;
    `Known(session)` reads an entity the first time it is asked for, which is all that the
    write of one entity needs. Only the holder's transaction writes the registry meanwhile
    (every writer locks the audit chain's head).
    """

    def __init__(self, session: Session, *, complete: bool = False) -> None:
        self.session = session
        # Everything was read at once: a code missing here is missing from the registry.
        self.complete = complete
        self.territories: dict[str, Territory | None] = {}
        self.firms: dict[str, Firm | None] = {}
        self.firm_territories: dict[int, set[int]] = {}
        self.lawyers: dict[str, Lawyer | None] = {}
        self.lawyer_territories: dict[int, set[int]] = {}
        self.places: dict[str, Place | None] = {}
        # New lawyers not yet written, with the territories to link them to.
        self.unlinked: list[tuple[Lawyer, list[int]]] = []

    @classmethod
    def load(cls, session: Session) -> Known:
        """The whole registry, in six queries."""
        known = cls(session, complete=True)
        known.territories = {t.code: t for t in session.exec(select(Territory)).all()}
        known.firms = {f.code: f for f in session.exec(select(Firm)).all()}
        for firm_id, territory_id in session.exec(
            select(FirmTerritory.firm_id, FirmTerritory.territory_id)
        ).all():
            known.firm_territories.setdefault(firm_id, set()).add(territory_id)
        known.lawyers = {lw.licence: lw for lw in session.exec(select(Lawyer)).all()}
        for lawyer_id, territory_id in session.exec(
            select(LawyerTerritory.lawyer_id, LawyerTerritory.territory_id)
        ).all():
            known.lawyer_territories.setdefault(lawyer_id, set()).add(territory_id)
        known.places = {p.code: p for p in session.exec(select(Place)).all()}
        return known

    def territory(self, code: str) -> Territory | None:
        if code not in self.territories and not self.complete:
            self.territories[code] = territory_by_code(self.session, code)
        return self.territories.get(code)

    def territory_id(self, code: str) -> int | None:
        found = self.territory(code)
        return found.id if found is not None else None

    def firm(self, code: str) -> Firm | None:
        if code not in self.firms and not self.complete:
            self.firms[code] = firm_by_code(self.session, code)
        return self.firms.get(code)

    def lawyer(self, licence: str) -> Lawyer | None:
        if licence not in self.lawyers and not self.complete:
            self.lawyers[licence] = lawyer_by_licence(self.session, licence)
        return self.lawyers.get(licence)

    def place(self, code: str) -> Place | None:
        if code not in self.places and not self.complete:
            self.places[code] = place_by_code(self.session, code)
        return self.places.get(code)

    def firm_links(self, firm_id: int) -> set[int]:
        """The territories the firm serves now."""
        if firm_id not in self.firm_territories:
            self.firm_territories[firm_id] = (
                set() if self.complete else set(firm_territory_ids(self.session, firm_id))
            )
        return self.firm_territories[firm_id]

    def lawyer_links(self, lawyer_id: int) -> set[int]:
        """The territories the lawyer serves now."""
        if lawyer_id not in self.lawyer_territories:
            self.lawyer_territories[lawyer_id] = (
                set() if self.complete else set(lawyer_territory_ids(self.session, lawyer_id))
            )
        return self.lawyer_territories[lawyer_id]

    def link_new(self) -> None:
        """Write the new lawyers (one flush for all) and link them to their territories."""
        self.session.flush()
        for lawyer, territory_ids in self.unlinked:
            assert lawyer.id is not None
            _set_links(self.session, LawyerTerritory, "lawyer_id", lawyer.id, territory_ids, set())
            self.lawyer_territories[lawyer.id] = set(territory_ids)
        self.unlinked.clear()


def territory_by_code(session: Session, code: str) -> Territory | None:
    return session.exec(select(Territory).where(Territory.code == code)).first()


def firm_by_code(session: Session, code: str) -> Firm | None:
    return session.exec(select(Firm).where(Firm.code == code)).first()


def lawyer_by_licence(session: Session, licence: str) -> Lawyer | None:
    return session.exec(select(Lawyer).where(Lawyer.licence == licence)).first()


def place_by_code(session: Session, code: str) -> Place | None:
    return session.exec(select(Place).where(Place.code == code)).first()


def get_place(session: Session, code: str) -> Place:
    found = place_by_code(session, code)
    if found is None:
        raise NotFound(f"place {code} not found")
    return found


def get_territory(session: Session, code: str) -> Territory:
    found = territory_by_code(session, code)
    if found is None:
        raise NotFound(f"territory {code} not found")
    return found


def get_firm(session: Session, code: str) -> Firm:
    found = firm_by_code(session, code)
    if found is None:
        raise NotFound(f"firm {code} not found")
    return found


def get_lawyer(session: Session, licence: str) -> Lawyer:
    found = lawyer_by_licence(session, licence)
    if found is None:
        raise NotFound(f"lawyer {licence} not found")
    return found


def territory_codes(session: Session, territory_ids: list[int]) -> list[str]:
    if not territory_ids:
        return []
    rows = session.exec(select(Territory.code).where(col(Territory.id).in_(territory_ids))).all()
    return sorted(rows)


def firm_territory_ids(session: Session, firm_id: int) -> list[int]:
    return list(
        session.exec(
            select(FirmTerritory.territory_id).where(FirmTerritory.firm_id == firm_id)
        ).all()
    )


def lawyer_territory_ids(session: Session, lawyer_id: int) -> list[int]:
    return list(
        session.exec(
            select(LawyerTerritory.territory_id).where(LawyerTerritory.lawyer_id == lawyer_id)
        ).all()
    )


# --- reads: the registry as the API lists it -------------------------------------------------
# A listing reads its rows and their territory codes in a fixed number of queries, whatever
# the number of rows; one entity is a listing filtered to it.


def _codes_by_owner(rows: Sequence[tuple[int, str]]) -> dict[int, list[str]]:
    """Territory codes per owner id, each owner's sorted."""
    codes: dict[int, list[str]] = {}
    for owner_id, code in rows:
        codes.setdefault(owner_id, []).append(code)
    for owned in codes.values():
        owned.sort()
    return codes


def territory_out(t: Territory) -> TerritoryOut:
    return TerritoryOut(
        code=t.code,
        name=NamesOut(az=t.name_az, ru=t.name_ru, en=t.name_en),
        fallback=list(t.fallback),
    )


def list_territories(session: Session) -> list[TerritoryOut]:
    """Every territory, by code."""
    rows = session.exec(select(Territory).order_by(col(Territory.code))).all()
    return [territory_out(t) for t in rows]


def read_territory(session: Session, code: str) -> TerritoryOut:
    """One territory (404 when there is none)."""
    return territory_out(get_territory(session, code))


def _firms(session: Session, *, code: str | None = None) -> list[FirmOut]:
    """Firms by code (only `code`'s when given), in two queries."""
    firms = select(Firm).order_by(col(Firm.code))
    links = select(FirmTerritory.firm_id, Territory.code).join(
        Territory, col(Territory.id) == FirmTerritory.territory_id
    )
    if code is not None:
        firms = firms.where(Firm.code == code)
        links = links.join(Firm, col(Firm.id) == FirmTerritory.firm_id).where(Firm.code == code)
    served = _codes_by_owner(session.exec(links).all())
    return [
        FirmOut(code=f.code, name=f.name, territories=served.get(f.id or 0, []), status=f.status)
        for f in session.exec(firms).all()
    ]


def list_firms(session: Session) -> list[FirmOut]:
    """Every firm, by code."""
    return _firms(session)


def read_firm(session: Session, code: str) -> FirmOut:
    """One firm (404 when there is none)."""
    found = _firms(session, code=code)
    if not found:
        raise NotFound(f"firm {code} not found")
    return found[0]


def _lawyers(
    session: Session, *, licence: str | None = None, firm_id: int | None = None
) -> list[LawyerOut]:
    """Lawyers by licence (only `licence`, or only `firm_id`'s, when given), in two queries."""
    lawyers = (
        select(Lawyer, Firm.code)
        .join(Firm, col(Firm.id) == Lawyer.firm_id)
        .order_by(col(Lawyer.licence))
    )
    links = (
        select(LawyerTerritory.lawyer_id, Territory.code)
        .join(Territory, col(Territory.id) == LawyerTerritory.territory_id)
        .join(Lawyer, col(Lawyer.id) == LawyerTerritory.lawyer_id)
    )
    if licence is not None:
        lawyers = lawyers.where(Lawyer.licence == licence)
        links = links.where(Lawyer.licence == licence)
    if firm_id is not None:
        lawyers = lawyers.where(Lawyer.firm_id == firm_id)
        links = links.where(Lawyer.firm_id == firm_id)
    served = _codes_by_owner(session.exec(links).all())
    return [
        LawyerOut(
            licence=lawyer.licence,
            name=lawyer.name,
            firm=firm_code,
            territories=served.get(lawyer.id or 0, []),
            languages=list(lawyer.languages),
            specialisations=list(lawyer.specialisations),
            max_open=lawyer.max_open,
            status=lawyer.status,
            duty=[DutyOut.model_validate(d) for d in lawyer.duty],
            phone=lawyer.phone,
            email=lawyer.email,
            photo=lawyer.photo,
            notify=list(lawyer.notify),
        )
        for lawyer, firm_code in session.exec(lawyers).all()
    ]


def list_lawyers(session: Session, *, firm: str | None = None) -> list[LawyerOut]:
    """Every lawyer by licence, or only a firm's (404 when there is no such firm)."""
    return _lawyers(session, firm_id=None if firm is None else get_firm(session, firm).id)


def read_lawyer(session: Session, licence: str) -> LawyerOut:
    """One lawyer (404 when there is none)."""
    found = _lawyers(session, licence=licence)
    if not found:
        raise NotFound(f"lawyer {licence} not found")
    return found[0]


def place_out(place: Place, territory_code: str) -> PlaceOut:
    return PlaceOut(
        code=place.code,
        territory=territory_code,
        kind=PlaceKind(place.kind),
        name=NamesOut(az=place.name_az, ru=place.name_ru, en=place.name_en),
        address=place.address,
        phone=place.phone,
    )


def _places(
    session: Session, *, code: str | None = None, territory: str | None = None
) -> list[PlaceOut]:
    """Places by code (only `code`, or only `territory`'s, when given), in one query."""
    query = (
        select(Place, Territory.code)
        .join(Territory, col(Territory.id) == Place.territory_id)
        .order_by(col(Place.code))
    )
    if code is not None:
        query = query.where(Place.code == code)
    if territory is not None:
        query = query.where(Territory.code == territory)
    return [place_out(place, territory_code) for place, territory_code in session.exec(query)]


def list_places(session: Session, *, territory: str | None = None) -> list[PlaceOut]:
    """Every place by code, or only a territory's (404 when there is no such territory)."""
    if territory is not None:
        get_territory(session, territory)
    return _places(session, territory=territory)


def read_place(session: Session, code: str) -> PlaceOut:
    """One place (404 when there is none)."""
    found = _places(session, code=code)
    if not found:
        raise NotFound(f"place {code} not found")
    return found[0]


def list_conflicts(session: Session) -> list[ConflictOut]:
    """Every registered conflict, oldest first."""
    rows = session.exec(
        select(Conflict, Lawyer.licence)
        .join(Lawyer, col(Lawyer.id) == Conflict.lawyer_id)
        .order_by(col(Conflict.id))
    ).all()
    return [ConflictOut(lawyer=lic, case_number=c.case_number, role=c.role) for c, lic in rows]


# --- writes --------------------------------------------------------------------------------
# One path each: every lookup goes through `Known`, whether it read the registry beforehand
# (an import) or reads as asked (one entity's write).


def _resolve_territories(codes: list[str], where: str, known: Known) -> list[int]:
    ids: list[int] = []
    for i, code in enumerate(codes):
        territory_id = known.territory_id(code)
        if territory_id is None:
            raise Invalid(f"{where}.{i}", f"unknown territory {code}")
        ids.append(territory_id)
    return sorted(set(ids))


def _set_links(
    session: Session,
    model: type[FirmTerritory] | type[LawyerTerritory],
    owner: str,
    owner_id: int,
    territory_ids: list[int],
    current: set[int],
) -> bool:
    """Make the owner's territory links exactly `territory_ids` (`current`: the links now)."""
    owner_col = getattr(model, owner)
    wanted = set(territory_ids)
    if current == wanted:
        return False
    if current - wanted:
        session.execute(
            delete(model).where(
                owner_col == owner_id, col(model.territory_id).in_(current - wanted)
            )
        )
    for territory_id in wanted - current:
        session.add(model(**{owner: owner_id, "territory_id": territory_id}))
    return True


def upsert_territory(
    session: Session, data: TerritoryIn, *, where: str = "body", known: Known
) -> Change:
    """Create or update a territory (its fallbacks are checked apart: `check_fallbacks`)."""
    fallback = list(dict.fromkeys(data.fallback))
    if data.code in fallback:
        raise Invalid(f"{where}.fallback", "a territory cannot fall back to itself")
    existing = known.territory(data.code)
    if existing is None:
        created = Territory(
            code=data.code,
            name_az=data.name.az,
            name_ru=data.name.ru,
            name_en=data.name.en,
            fallback=fallback,
        )
        session.add(created)
        session.flush()
        known.territories[data.code] = created
        return Change.CREATED
    wanted = (data.name.az, data.name.ru, data.name.en, fallback)
    if (existing.name_az, existing.name_ru, existing.name_en, existing.fallback) == wanted:
        return Change.UNCHANGED
    existing.name_az, existing.name_ru, existing.name_en, existing.fallback = wanted
    session.add(existing)
    return Change.UPDATED


def check_fallbacks(data: TerritoryIn, *, where: str, known: Known) -> None:
    for i, code in enumerate(data.fallback):
        if known.territory_id(code) is None:
            raise Invalid(f"{where}.fallback.{i}", f"unknown territory {code}")


def upsert_firm(session: Session, data: FirmIn, *, where: str = "body", known: Known) -> Change:
    """Create or update a firm and its territories."""
    territory_ids = _resolve_territories(data.territories, f"{where}.territories", known)
    firm = known.firm(data.code)
    if firm is None:
        firm = Firm(code=data.code, name=data.name, status=data.status)
        session.add(firm)
        session.flush()
        assert firm.id is not None
        known.firms[data.code] = firm
        known.firm_territories[firm.id] = set()
        change = Change.CREATED
    elif firm.name != data.name or firm.status != data.status:
        firm.name, firm.status = data.name, data.status
        session.add(firm)
        change = Change.UPDATED
    else:
        change = Change.UNCHANGED
    assert firm.id is not None
    relinked = _set_links(
        session, FirmTerritory, "firm_id", firm.id, territory_ids, known.firm_links(firm.id)
    )
    known.firm_territories[firm.id] = set(territory_ids)
    return Change.UPDATED if relinked and change is Change.UNCHANGED else change


class _LawyerFields(TypedDict):
    """A lawyer's columns as a write sets them (all but the licence, its key)."""

    name: str
    firm_id: int
    languages: list[str]
    specialisations: list[str]
    max_open: int
    status: LawyerStatus
    duty: list[DutyEntry]
    phone: str | None
    email: str | None
    photo: str | None
    notify: list[str]


def upsert_lawyer(session: Session, data: LawyerIn, *, where: str = "body", known: Known) -> Change:
    """Create or update a lawyer and their territories.

    A new lawyer is written and linked to their territories by `known.link_new()`: an import
    writes all its new lawyers in one flush.
    """
    firm = known.firm(data.firm)
    if firm is None or firm.id is None:
        raise Invalid(f"{where}.firm", f"unknown firm {data.firm}")
    territory_ids = _resolve_territories(data.territories, f"{where}.territories", known)
    outside = set(territory_ids) - known.firm_links(firm.id)
    if outside:
        missing = ", ".join(territory_codes(session, sorted(outside)))
        raise Invalid(f"{where}.territories", f"firm {firm.code} does not serve {missing}")
    values: _LawyerFields = {
        "name": data.name,
        "firm_id": firm.id,
        "languages": sorted(set(data.languages)),
        "specialisations": sorted(set(data.specialisations)),
        "max_open": data.max_open,
        "status": data.status,
        "duty": [DutyEntry(weekday=d.weekday, start=d.start, end=d.end) for d in data.duty],
        "phone": data.phone,
        "email": data.email,
        "photo": data.photo,
        "notify": list(dict.fromkeys(data.notify)),
    }
    lawyer = known.lawyer(data.licence)
    if lawyer is None:
        lawyer = Lawyer(licence=data.licence, **values)
        session.add(lawyer)
        known.lawyers[data.licence] = lawyer
        known.unlinked.append((lawyer, territory_ids))
        return Change.CREATED
    change = Change.UNCHANGED
    if lawyer.firm_id != firm.id:
        # The old firm's earnings not yet added include this lawyer's: added before they leave.
        from dispatcher.allocation.earnings import settle_firms

        settle_firms(session, [lawyer.firm_id])
    if any(getattr(lawyer, k) != v for k, v in values.items()):
        for k, v in values.items():
            setattr(lawyer, k, v)
        session.add(lawyer)
        change = Change.UPDATED
    assert lawyer.id is not None
    relinked = _set_links(
        session,
        LawyerTerritory,
        "lawyer_id",
        lawyer.id,
        territory_ids,
        known.lawyer_links(lawyer.id),
    )
    known.lawyer_territories[lawyer.id] = set(territory_ids)
    return Change.UPDATED if relinked else change


def upsert_place(session: Session, data: PlaceIn, *, where: str = "body", known: Known) -> Change:
    """Create or update a place of a territory."""
    territory_id = known.territory_id(data.territory)
    if territory_id is None:
        raise Invalid(f"{where}.territory", f"unknown territory {data.territory}")
    wanted = (
        territory_id,
        str(data.kind),
        data.name.az,
        data.name.ru,
        data.name.en,
        data.address,
        data.phone,
    )
    place = known.place(data.code)
    if place is None:
        place = Place(
            code=data.code,
            territory_id=territory_id,
            kind=data.kind,
            name_az=data.name.az,
            name_ru=data.name.ru,
            name_en=data.name.en,
            address=data.address,
            phone=data.phone,
        )
        session.add(place)
        known.places[data.code] = place
        return Change.CREATED
    current = (
        place.territory_id,
        place.kind,
        place.name_az,
        place.name_ru,
        place.name_en,
        place.address,
        place.phone,
    )
    if current == wanted:
        return Change.UNCHANGED
    (
        place.territory_id,
        place.kind,
        place.name_az,
        place.name_ru,
        place.name_en,
        place.address,
        place.phone,
    ) = wanted
    session.add(place)
    return Change.UPDATED


def _find_conflict(session: Session, lawyer_id: int | None, data: ConflictIn) -> Conflict | None:
    return session.exec(
        select(Conflict).where(
            Conflict.lawyer_id == lawyer_id,
            Conflict.case_number == data.case_number,
            Conflict.role == data.role,
        )
    ).first()


def add_conflict(
    session: Session, data: ConflictIn, *, where: str = "body", known: Known
) -> Change:
    """Register a conflict; UNCHANGED when it was registered already."""
    lawyer = known.lawyer(data.lawyer)
    if lawyer is None or lawyer.id is None:
        raise Invalid(f"{where}.lawyer", f"unknown lawyer {data.lawyer}")
    if _find_conflict(session, lawyer.id, data) is not None:
        return Change.UNCHANGED
    session.add(Conflict(lawyer_id=lawyer.id, case_number=data.case_number, role=data.role))
    session.flush()
    return Change.CREATED


def remove_conflict(session: Session, data: ConflictIn) -> None:
    lawyer = get_lawyer(session, data.lawyer)
    found = _find_conflict(session, lawyer.id, data)
    if found is None:
        raise NotFound("conflict not found")
    session.delete(found)


def _refuse_repeats(data: RegistryFile) -> None:
    """A file names each entity once: otherwise which entry wins would be an accident."""
    sections: list[tuple[str, str, list[str]]] = [
        ("territories", "code", [t.code for t in data.territories]),
        ("firms", "code", [f.code for f in data.firms]),
        ("lawyers", "licence", [lw.licence for lw in data.lawyers]),
        ("places", "code", [p.code for p in data.places]),
    ]
    for section, key, values in sections:
        first: dict[str, int] = {}
        for i, value in enumerate(values):
            if value in first:
                raise Invalid(
                    f"{section}.{i}.{key}",
                    f"{value} is listed twice (also at index {first[value]})",
                )
            first[value] = i


def check_firm_covers_lawyers(session: Session, firm: Firm, *, where: str) -> None:
    """Refuse a firm whose lawyers would serve territories the firm no longer serves."""
    assert firm.id is not None
    served = set(firm_territory_ids(session, firm.id))
    stray = session.exec(
        select(Lawyer.licence)
        .join(LawyerTerritory, col(LawyerTerritory.lawyer_id) == Lawyer.id)
        .where(Lawyer.firm_id == firm.id, col(LawyerTerritory.territory_id).notin_(served))
    ).first()
    if stray is not None:
        raise Invalid(
            f"{where}.territories",
            f"lawyer {stray} of firm {firm.code} still serves a territory dropped from the firm",
        )


def _any_stray_lawyer(session: Session, firm_ids: list[int]) -> bool:
    """Whether a lawyer of these firms serves a territory the lawyer's firm does not."""
    served = and_(
        col(FirmTerritory.firm_id) == Lawyer.firm_id,
        col(FirmTerritory.territory_id) == LawyerTerritory.territory_id,
    )
    stray = session.exec(
        select(Lawyer.id)
        .join(LawyerTerritory, col(LawyerTerritory.lawyer_id) == Lawyer.id)
        .outerjoin(FirmTerritory, served)
        .where(col(Lawyer.firm_id).in_(firm_ids), col(FirmTerritory.firm_id).is_(None))
        .limit(1)
    ).first()
    return stray is not None


def _write_first(session: Session) -> None:
    """Take the audit chain's head before a registry write changes any row.

    Every writing transaction takes it, and allocation takes it first of all its locks
    (`audit.lock_head`); a registry write taking it only at its audit event, after flushing
    lawyers, could hold a lawyer's row that a decision holding the head waits for, a deadlock
    PostgreSQL would break by failing one of them. Taking it first also puts a lawyer's move
    to another firm after any decision in progress, so the old firm's earnings it adds
    (`earnings.settle_firms`) are the ones that decision left, not ones it adds itself too.
    """
    audit.lock_head(session)


def import_registry(session: Session, data: RegistryFile, *, actor: str) -> ImportSummary:
    """Apply a whole registry file inside the caller's transaction (all or nothing)."""
    _refuse_repeats(data)
    _write_first(session)
    summary = ImportSummary()
    known = Known.load(session)
    for i, t in enumerate(data.territories):
        _tally(
            summary,
            "territories",
            upsert_territory(session, t, where=f"territories.{i}", known=known),
        )
    for i, t in enumerate(data.territories):
        check_fallbacks(t, where=f"territories.{i}", known=known)
    for i, f in enumerate(data.firms):
        _tally(summary, "firms", upsert_firm(session, f, where=f"firms.{i}", known=known))
    session.flush()
    for i, lw in enumerate(data.lawyers):
        _tally(summary, "lawyers", upsert_lawyer(session, lw, where=f"lawyers.{i}", known=known))
    known.link_new()
    session.flush()
    firm_ids = [firm.id for f in data.firms if (firm := known.firm(f.code)) is not None]
    if _any_stray_lawyer(session, [i for i in firm_ids if i is not None]):
        # Name the first such firm of the file, and one of its lawyers, as the check does.
        for i, f in enumerate(data.firms):
            check_firm_covers_lawyers(session, get_firm(session, f.code), where=f"firms.{i}")
    for i, p in enumerate(data.places):
        _tally(summary, "places", upsert_place(session, p, where=f"places.{i}", known=known))
    for i, c in enumerate(data.conflicts):
        _tally(summary, "conflicts", add_conflict(session, c, where=f"conflicts.{i}", known=known))
    session.flush()
    if summary.changed:
        digest = hashlib.sha256(data.model_dump_json().encode()).hexdigest()
        audit.record(
            session,
            actor=actor,
            action="registry.imported",
            entity_type="registry",
            entity_id=digest[:16],
            payload={"sha256": digest, **summary.as_dict()},
        )
    return summary


def _audit_write(session: Session, *, actor: str, kind: str, key: str, data: BaseModel) -> None:
    """One audit event for an administrator's write that changed something."""
    audit.record(
        session,
        actor=actor,
        action=f"registry.{kind}.saved",
        entity_type=kind,
        entity_id=key,
        payload=data.model_dump(mode="json"),
    )


def save_territory(session: Session, data: TerritoryIn, *, actor: str) -> Change:
    """An administrator's write of one territory."""
    _write_first(session)
    known = Known(session)
    check_fallbacks(data, where="body", known=known)
    change = upsert_territory(session, data, known=known)
    if change is not Change.UNCHANGED:
        _audit_write(session, actor=actor, kind="territory", key=data.code, data=data)
    return change


def save_firm(session: Session, data: FirmIn, *, actor: str) -> Change:
    """An administrator's write of one firm; it may not drop a territory its lawyers serve."""
    _write_first(session)
    change = upsert_firm(session, data, known=Known(session))
    session.flush()
    check_firm_covers_lawyers(session, get_firm(session, data.code), where="body")
    if change is not Change.UNCHANGED:
        _audit_write(session, actor=actor, kind="firm", key=data.code, data=data)
    return change


def save_lawyer(session: Session, data: LawyerIn, *, actor: str) -> Change:
    """An administrator's write of one lawyer."""
    _write_first(session)
    known = Known(session)
    change = upsert_lawyer(session, data, known=known)
    known.link_new()
    if change is not Change.UNCHANGED:
        _audit_write(session, actor=actor, kind="lawyer", key=data.licence, data=data)
    return change


def save_place(session: Session, data: PlaceIn, *, actor: str) -> Change:
    """An administrator's write of one place."""
    _write_first(session)
    change = upsert_place(session, data, known=Known(session))
    if change is not Change.UNCHANGED:
        session.flush()
        _audit_write(session, actor=actor, kind="place", key=data.code, data=data)
    return change


def save_conflict(session: Session, data: ConflictIn, *, actor: str) -> Change:
    """Register a conflict: CREATED, or UNCHANGED when it was registered already."""
    _write_first(session)
    change = add_conflict(session, data, known=Known(session))
    if change is not Change.UNCHANGED:
        _audit_write(session, actor=actor, kind="conflict", key=data.lawyer, data=data)
    return change


def delete_conflict(session: Session, data: ConflictIn, *, actor: str) -> None:
    """Remove a registered conflict (404 when there is none)."""
    _write_first(session)
    remove_conflict(session, data)
    _audit_write(session, actor=actor, kind="conflict_removed", key=data.lawyer, data=data)
