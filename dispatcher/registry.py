"""The registry: territories, firms, lawyers, duty windows and conflicts.

Entities are addressed by their natural codes. Writing an entity is an upsert that changes
only what differs, so importing the same file twice changes nothing.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator
from sqlalchemy import and_
from sqlmodel import Session, col, delete, select

from dispatcher import audit
from dispatcher.errors import Invalid, NotFound
from dispatcher.models import Conflict, Firm, FirmTerritory, Lawyer, LawyerTerritory, Territory

Code = Annotated[str, StringConstraints(pattern=r"^[A-Z0-9][A-Z0-9-]{0,15}$")]
Licence = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9-]{0,31}$")]
Language = Annotated[str, StringConstraints(pattern=r"^[a-z]{2}$")]
Name = Annotated[str, StringConstraints(min_length=1, max_length=200, strip_whitespace=True)]
HHMM = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$")


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
    status: Literal["active", "suspended"] = "active"


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
    status: Literal["active", "on_leave", "suspended"] = "active"
    duty: list[DutyIn] = Field(default_factory=list, max_length=100)


class ConflictIn(_Strict):
    lawyer: Licence
    case_number: Annotated[str, StringConstraints(min_length=1, max_length=64)]
    role: Annotated[str, StringConstraints(min_length=1, max_length=64)]


class RegistryFile(_Strict):
    territories: list[TerritoryIn] = Field(default_factory=list, max_length=10_000)
    firms: list[FirmIn] = Field(default_factory=list, max_length=10_000)
    lawyers: list[LawyerIn] = Field(default_factory=list, max_length=100_000)
    conflicts: list[ConflictIn] = Field(default_factory=list, max_length=100_000)


@dataclass
class ImportSummary:
    created: dict[str, int] = field(default_factory=dict)
    updated: dict[str, int] = field(default_factory=dict)

    def count(self, kind: str, created: bool | None) -> None:
        if created is None:
            return
        bucket = self.created if created else self.updated
        bucket[kind] = bucket.get(kind, 0) + 1

    @property
    def changed(self) -> bool:
        return bool(self.created or self.updated)

    def as_dict(self) -> dict[str, Any]:
        return {"created": self.created, "updated": self.updated, "changed": self.changed}


# --- lookups -------------------------------------------------------------------------------


@dataclass
class Known:
    """The registry as one import has read it, by code, kept up to date by its own writes.

    An import resolves each firm, territory and lawyer once instead of once per mention; only
    its own transaction writes the registry while it runs (every writer locks the chain head).
    """

    territories: dict[str, int] = field(default_factory=dict)
    firms: dict[str, Firm] = field(default_factory=dict)
    firm_territories: dict[int, set[int]] = field(default_factory=dict)
    lawyers: dict[str, Lawyer] = field(default_factory=dict)
    lawyer_territories: dict[int, set[int]] = field(default_factory=dict)
    # New lawyers not yet written, with the territories to link them to.
    unlinked: list[tuple[Lawyer, list[int]]] = field(default_factory=list)

    @classmethod
    def load(cls, session: Session) -> Known:
        known = cls()
        for territory in session.exec(select(Territory)).all():
            if territory.id is not None:
                known.territories[territory.code] = territory.id
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
        return known

    def link_new(self, session: Session) -> None:
        """Write the new lawyers (one flush for all) and link them to their territories."""
        session.flush()
        for lawyer, territory_ids in self.unlinked:
            assert lawyer.id is not None
            _set_links(session, LawyerTerritory, "lawyer_id", lawyer.id, territory_ids, set())
            self.lawyer_territories[lawyer.id] = set(territory_ids)
        self.unlinked.clear()


def territory_by_code(session: Session, code: str) -> Territory | None:
    return session.exec(select(Territory).where(Territory.code == code)).first()


def firm_by_code(session: Session, code: str) -> Firm | None:
    return session.exec(select(Firm).where(Firm.code == code)).first()


def lawyer_by_licence(session: Session, licence: str) -> Lawyer | None:
    return session.exec(select(Lawyer).where(Lawyer.licence == licence)).first()


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


# --- public shapes -------------------------------------------------------------------------


def territory_out(t: Territory) -> dict[str, Any]:
    return {
        "code": t.code,
        "name": {"az": t.name_az, "ru": t.name_ru, "en": t.name_en},
        "fallback": list(t.fallback),
    }


def firm_out(session: Session, f: Firm) -> dict[str, Any]:
    assert f.id is not None
    return {
        "code": f.code,
        "name": f.name,
        "territories": territory_codes(session, firm_territory_ids(session, f.id)),
        "status": f.status,
    }


def lawyer_out(session: Session, lawyer: Lawyer, firm_code: str | None = None) -> dict[str, Any]:
    assert lawyer.id is not None
    if firm_code is None:
        firm = session.get(Firm, lawyer.firm_id)
        firm_code = firm.code if firm else ""
    return {
        "licence": lawyer.licence,
        "name": lawyer.name,
        "firm": firm_code,
        "territories": territory_codes(session, lawyer_territory_ids(session, lawyer.id)),
        "languages": list(lawyer.languages),
        "specialisations": list(lawyer.specialisations),
        "max_open": lawyer.max_open,
        "status": lawyer.status,
        "duty": list(lawyer.duty),
    }


# --- writes --------------------------------------------------------------------------------


def _territory_id(session: Session, code: str, known: Known | None) -> int | None:
    if known is not None:
        return known.territories.get(code)
    t = territory_by_code(session, code)
    return t.id if t is not None else None


def _resolve_territories(
    session: Session, codes: list[str], where: str, known: Known | None = None
) -> list[int]:
    ids: list[int] = []
    for i, code in enumerate(codes):
        territory_id = _territory_id(session, code, known)
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
    current: set[int] | None = None,
) -> bool:
    """Make the owner's territory links exactly `territory_ids` (`current`: the links now)."""
    owner_col = getattr(model, owner)
    if current is None:
        current = set(session.exec(select(model.territory_id).where(owner_col == owner_id)).all())
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


def upsert_territory(session: Session, data: TerritoryIn, *, where: str = "body") -> bool | None:
    """Create or update a territory; None when nothing changed, else True if created."""
    existing = territory_by_code(session, data.code)
    values: dict[str, Any] = {
        "name_az": data.name.az,
        "name_ru": data.name.ru,
        "name_en": data.name.en,
        "fallback": list(dict.fromkeys(data.fallback)),
    }
    if data.code in values["fallback"]:
        raise Invalid(f"{where}.fallback", "a territory cannot fall back to itself")
    if existing is None:
        session.add(
            Territory(
                code=data.code,
                name_az=data.name.az,
                name_ru=data.name.ru,
                name_en=data.name.en,
                fallback=values["fallback"],
            )
        )
        session.flush()
        return True
    if all(getattr(existing, k) == v for k, v in values.items()):
        return None
    for k, v in values.items():
        setattr(existing, k, v)
    session.add(existing)
    return False


def check_fallbacks(
    session: Session, data: TerritoryIn, *, where: str, known: Known | None = None
) -> None:
    for i, code in enumerate(data.fallback):
        if _territory_id(session, code, known) is None:
            raise Invalid(f"{where}.fallback.{i}", f"unknown territory {code}")


def upsert_firm(
    session: Session, data: FirmIn, *, where: str = "body", known: Known | None = None
) -> bool | None:
    territory_ids = _resolve_territories(session, data.territories, f"{where}.territories", known)
    existing = known.firms.get(data.code) if known is not None else firm_by_code(session, data.code)
    created = existing is None
    if existing is None:
        existing = Firm(code=data.code, name=data.name, status=data.status)
        session.add(existing)
        session.flush()
        changed = True
    else:
        changed = existing.name != data.name or existing.status != data.status
        existing.name, existing.status = data.name, data.status
        session.add(existing)
    assert existing.id is not None
    current = None if known is None else known.firm_territories.get(existing.id, set())
    changed = (
        _set_links(session, FirmTerritory, "firm_id", existing.id, territory_ids, current)
        or changed
    )
    if known is not None:
        known.firms[data.code] = existing
        known.firm_territories[existing.id] = set(territory_ids)
    return created if changed else None


def upsert_lawyer(
    session: Session, data: LawyerIn, *, where: str = "body", known: Known | None = None
) -> bool | None:
    firm = known.firms.get(data.firm) if known is not None else firm_by_code(session, data.firm)
    if firm is None or firm.id is None:
        raise Invalid(f"{where}.firm", f"unknown firm {data.firm}")
    territory_ids = _resolve_territories(session, data.territories, f"{where}.territories", known)
    served = (
        known.firm_territories.get(firm.id, set())
        if known is not None
        else set(firm_territory_ids(session, firm.id))
    )
    outside = set(territory_ids) - served
    if outside:
        missing = ", ".join(territory_codes(session, sorted(outside)))
        raise Invalid(f"{where}.territories", f"firm {firm.code} does not serve {missing}")
    values: dict[str, Any] = {
        "name": data.name,
        "firm_id": firm.id,
        "languages": sorted(set(data.languages)),
        "specialisations": sorted(set(data.specialisations)),
        "max_open": data.max_open,
        "status": data.status,
        "duty": [d.model_dump() for d in data.duty],
    }
    existing = (
        known.lawyers.get(data.licence) if known else lawyer_by_licence(session, data.licence)
    )
    created = existing is None
    if existing is None:
        existing = Lawyer(licence=data.licence, **values)
        session.add(existing)
        if known is not None:
            # Inserted with the import's new lawyers in one flush, then linked: see `link_new`.
            known.lawyers[data.licence] = existing
            known.unlinked.append((existing, territory_ids))
            return True
        session.flush()
        changed = True
    else:
        changed = any(getattr(existing, k) != v for k, v in values.items())
        if changed:
            for k, v in values.items():
                setattr(existing, k, v)
            session.add(existing)
    assert existing.id is not None
    current = None if known is None else known.lawyer_territories.get(existing.id, set())
    changed = (
        _set_links(session, LawyerTerritory, "lawyer_id", existing.id, territory_ids, current)
        or changed
    )
    if known is not None:
        known.lawyers[data.licence] = existing
        known.lawyer_territories[existing.id] = set(territory_ids)
    return created if changed else None


def _find_conflict(session: Session, lawyer_id: int | None, data: ConflictIn) -> Conflict | None:
    return session.exec(
        select(Conflict).where(
            Conflict.lawyer_id == lawyer_id,
            Conflict.case_number == data.case_number,
            Conflict.role == data.role,
        )
    ).first()


def add_conflict(
    session: Session, data: ConflictIn, *, where: str = "body", known: Known | None = None
) -> bool | None:
    lawyer = (
        known.lawyers.get(data.lawyer)
        if known is not None
        else lawyer_by_licence(session, data.lawyer)
    )
    if lawyer is None or lawyer.id is None:
        raise Invalid(f"{where}.lawyer", f"unknown lawyer {data.lawyer}")
    if _find_conflict(session, lawyer.id, data) is not None:
        return None
    session.add(Conflict(lawyer_id=lawyer.id, case_number=data.case_number, role=data.role))
    session.flush()
    return True


def remove_conflict(session: Session, data: ConflictIn) -> None:
    lawyer = get_lawyer(session, data.lawyer)
    found = _find_conflict(session, lawyer.id, data)
    if found is None:
        raise NotFound("conflict not found")
    session.delete(found)


def list_conflicts(session: Session) -> list[dict[str, str]]:
    rows = session.exec(
        select(Conflict, Lawyer.licence)
        .join(Lawyer, col(Lawyer.id) == Conflict.lawyer_id)
        .order_by(col(Conflict.id))
    ).all()
    return [{"lawyer": lic, "case_number": c.case_number, "role": c.role} for c, lic in rows]


def _refuse_repeats(data: RegistryFile) -> None:
    """A file names each entity once: otherwise which entry wins would be an accident."""
    sections: list[tuple[str, str, list[str]]] = [
        ("territories", "code", [t.code for t in data.territories]),
        ("firms", "code", [f.code for f in data.firms]),
        ("lawyers", "licence", [lw.licence for lw in data.lawyers]),
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


def import_registry(session: Session, data: RegistryFile, *, actor: str) -> ImportSummary:
    """Apply a whole registry file inside the caller's transaction (all or nothing)."""
    _refuse_repeats(data)
    summary = ImportSummary()
    for i, t in enumerate(data.territories):
        summary.count("territories", upsert_territory(session, t, where=f"territories.{i}"))
    session.flush()
    known = Known.load(session)
    for i, t in enumerate(data.territories):
        check_fallbacks(session, t, where=f"territories.{i}", known=known)
    for i, f in enumerate(data.firms):
        summary.count("firms", upsert_firm(session, f, where=f"firms.{i}", known=known))
    session.flush()
    for i, lw in enumerate(data.lawyers):
        summary.count("lawyers", upsert_lawyer(session, lw, where=f"lawyers.{i}", known=known))
    known.link_new(session)
    session.flush()
    firm_ids = [known.firms[f.code].id for f in data.firms]
    if _any_stray_lawyer(session, [i for i in firm_ids if i is not None]):
        # Name the first such firm of the file, and one of its lawyers, as the check does.
        for i, f in enumerate(data.firms):
            check_firm_covers_lawyers(session, get_firm(session, f.code), where=f"firms.{i}")
    for i, c in enumerate(data.conflicts):
        summary.count("conflicts", add_conflict(session, c, where=f"conflicts.{i}", known=known))
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


def _audit_change(
    session: Session, *, actor: str, kind: str, key: str, data: BaseModel, changed: bool | None
) -> None:
    """One audit event for an administrator's write, when it changed something."""
    if changed is None:
        return
    audit.record(
        session,
        actor=actor,
        action=f"registry.{kind}.saved",
        entity_type=kind,
        entity_id=key,
        payload=data.model_dump(mode="json"),
    )


def save_territory(session: Session, data: TerritoryIn, *, actor: str) -> None:
    """An administrator's write of one territory."""
    check_fallbacks(session, data, where="body")
    changed = upsert_territory(session, data)
    _audit_change(session, actor=actor, kind="territory", key=data.code, data=data, changed=changed)


def save_firm(session: Session, data: FirmIn, *, actor: str) -> None:
    """An administrator's write of one firm; it may not drop a territory its lawyers serve."""
    changed = upsert_firm(session, data)
    session.flush()
    check_firm_covers_lawyers(session, get_firm(session, data.code), where="body")
    _audit_change(session, actor=actor, kind="firm", key=data.code, data=data, changed=changed)


def save_lawyer(session: Session, data: LawyerIn, *, actor: str) -> None:
    """An administrator's write of one lawyer."""
    changed = upsert_lawyer(session, data)
    _audit_change(session, actor=actor, kind="lawyer", key=data.licence, data=data, changed=changed)


def save_conflict(session: Session, data: ConflictIn, *, actor: str) -> bool:
    """Register a conflict; False when it was registered already."""
    created = add_conflict(session, data)
    _audit_change(
        session, actor=actor, kind="conflict", key=data.lawyer, data=data, changed=created
    )
    return bool(created)


def delete_conflict(session: Session, data: ConflictIn, *, actor: str) -> None:
    """Remove a registered conflict (404 when there is none)."""
    remove_conflict(session, data)
    _audit_change(
        session, actor=actor, kind="conflict_removed", key=data.lawyer, data=data, changed=True
    )
