"""The registry, maintained by the bar's administrators."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends
from sqlmodel import col, select

from api.deps import UowDep, role
from dispatcher import registry
from dispatcher.errors import Invalid
from dispatcher.models import Firm, Lawyer, Territory
from dispatcher.tokens import Principal
from policies.vocabulary import Role

router = APIRouter(prefix="/api/v1/registry", tags=["registry"])

Admin = Annotated[Principal, Depends(role(Role.ADMIN))]
Reader = Annotated[Principal, Depends(role(Role.ADMIN, Role.BAR))]


def _same_key(path_key: str, body_key: str, field: str) -> None:
    if path_key != body_key:
        raise Invalid(field, f"does not match the path ({path_key})")


@router.post("/import")
def import_registry(body: registry.RegistryFile, principal: Admin, uow: UowDep) -> dict[str, Any]:
    """Apply a whole registry file: all or nothing, and re-importing it changes nothing."""
    with uow() as session:
        return registry.import_registry(session, body, actor=principal.actor).as_dict()


@router.get("/territories")
def list_territories(principal: Reader, uow: UowDep) -> list[dict[str, Any]]:
    with uow() as session:
        rows = session.exec(select(Territory).order_by(col(Territory.code))).all()
        return [registry.territory_out(t) for t in rows]


@router.get("/territories/{code}")
def get_territory(code: str, principal: Reader, uow: UowDep) -> dict[str, Any]:
    with uow() as session:
        return registry.territory_out(registry.get_territory(session, code))


@router.put("/territories/{code}")
def put_territory(
    code: str, body: registry.TerritoryIn, principal: Admin, uow: UowDep
) -> dict[str, Any]:
    _same_key(code, body.code, "code")
    with uow() as session:
        registry.save_territory(session, body, actor=principal.actor)
        return registry.territory_out(registry.get_territory(session, code))


@router.get("/firms")
def list_firms(principal: Reader, uow: UowDep) -> list[dict[str, Any]]:
    with uow() as session:
        return [
            registry.firm_out(session, f)
            for f in session.exec(select(Firm).order_by(col(Firm.code))).all()
        ]


@router.get("/firms/{code}")
def get_firm(code: str, principal: Reader, uow: UowDep) -> dict[str, Any]:
    with uow() as session:
        return registry.firm_out(session, registry.get_firm(session, code))


@router.put("/firms/{code}")
def put_firm(code: str, body: registry.FirmIn, principal: Admin, uow: UowDep) -> dict[str, Any]:
    _same_key(code, body.code, "code")
    with uow() as session:
        registry.save_firm(session, body, actor=principal.actor)
        return registry.firm_out(session, registry.get_firm(session, code))


@router.get("/lawyers")
def list_lawyers(principal: Reader, uow: UowDep, firm: str | None = None) -> list[dict[str, Any]]:
    with uow() as session:
        query = select(Lawyer).order_by(col(Lawyer.licence))
        if firm is not None:
            query = query.where(Lawyer.firm_id == registry.get_firm(session, firm).id)
        return [registry.lawyer_out(session, lw) for lw in session.exec(query).all()]


@router.get("/lawyers/{licence}")
def get_lawyer(licence: str, principal: Reader, uow: UowDep) -> dict[str, Any]:
    with uow() as session:
        return registry.lawyer_out(session, registry.get_lawyer(session, licence))


@router.put("/lawyers/{licence}")
def put_lawyer(
    licence: str, body: registry.LawyerIn, principal: Admin, uow: UowDep
) -> dict[str, Any]:
    _same_key(licence, body.licence, "licence")
    with uow() as session:
        registry.save_lawyer(session, body, actor=principal.actor)
        return registry.lawyer_out(session, registry.get_lawyer(session, licence))


@router.get("/conflicts")
def list_conflicts(principal: Reader, uow: UowDep) -> list[dict[str, str]]:
    with uow() as session:
        return registry.list_conflicts(session)


@router.post("/conflicts", status_code=201)
def add_conflict(body: registry.ConflictIn, principal: Admin, uow: UowDep) -> dict[str, Any]:
    with uow() as session:
        created = registry.save_conflict(session, body, actor=principal.actor)
        return {**body.model_dump(), "created": bool(created)}


@router.post("/conflicts/remove")
def remove_conflict(body: registry.ConflictIn, principal: Admin, uow: UowDep) -> dict[str, Any]:
    with uow() as session:
        registry.delete_conflict(session, body, actor=principal.actor)
        return {**body.model_dump(), "removed": True}
