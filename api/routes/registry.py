"""The registry, maintained by the bar's administrators."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Depends, Header

from api.deps import RuntimeDep, UowDep, role
from api.responses import AUTH, BODY, errors
from api.schemas import ConflictAddedOut, ConflictRemovedOut
from dispatcher import photos, registry
from dispatcher.errors import Invalid, NotFound
from dispatcher.schemas import (
    ConflictOut,
    FirmOut,
    ImportSummary,
    LawyerOut,
    PlaceOut,
    TerritoryOut,
)
from dispatcher.tokens import Principal
from policies.vocabulary import PhotoType, Role

router = APIRouter(prefix="/api/v1/registry", tags=["registry"])

Admin = Annotated[Principal, Depends(role(Role.ADMIN))]
Reader = Annotated[Principal, Depends(role(Role.ADMIN, Role.BAR))]


def _same_key(path_key: str, body_key: str, field: str) -> None:
    if path_key != body_key:
        raise Invalid(field, f"does not match the path ({path_key})")


@router.post("/import", responses=errors(*AUTH, *BODY))
def import_registry(body: registry.RegistryFile, principal: Admin, uow: UowDep) -> ImportSummary:
    """Apply a whole registry file: all or nothing, and re-importing it changes nothing."""
    with uow() as session:
        return registry.import_registry(session, body, actor=principal.actor)


@router.get("/territories", responses=errors(*AUTH))
def list_territories(principal: Reader, uow: UowDep) -> list[TerritoryOut]:
    with uow() as session:
        return registry.list_territories(session)


@router.get("/territories/{code}", responses=errors(*AUTH, 404, 422))
def get_territory(code: str, principal: Reader, uow: UowDep) -> TerritoryOut:
    with uow() as session:
        return registry.read_territory(session, code)


@router.put("/territories/{code}", responses=errors(*AUTH, *BODY))
def put_territory(
    code: str, body: registry.TerritoryIn, principal: Admin, uow: UowDep
) -> TerritoryOut:
    _same_key(code, body.code, "code")
    with uow() as session:
        registry.save_territory(session, body, actor=principal.actor)
        return registry.read_territory(session, code)


@router.get("/firms", responses=errors(*AUTH))
def list_firms(principal: Reader, uow: UowDep) -> list[FirmOut]:
    with uow() as session:
        return registry.list_firms(session)


@router.get("/firms/{code}", responses=errors(*AUTH, 404, 422))
def get_firm(code: str, principal: Reader, uow: UowDep) -> FirmOut:
    with uow() as session:
        return registry.read_firm(session, code)


@router.put("/firms/{code}", responses=errors(*AUTH, *BODY))
def put_firm(code: str, body: registry.FirmIn, principal: Admin, uow: UowDep) -> FirmOut:
    _same_key(code, body.code, "code")
    with uow() as session:
        registry.save_firm(session, body, actor=principal.actor)
        return registry.read_firm(session, code)


@router.get("/lawyers", responses=errors(*AUTH, 404, 422))
def list_lawyers(principal: Reader, uow: UowDep, firm: str | None = None) -> list[LawyerOut]:
    with uow() as session:
        return registry.list_lawyers(session, firm=firm)


@router.get("/lawyers/{licence}", responses=errors(*AUTH, 404, 422))
def get_lawyer(licence: str, principal: Reader, uow: UowDep) -> LawyerOut:
    with uow() as session:
        return registry.read_lawyer(session, licence)


@router.put("/lawyers/{licence}", responses=errors(*AUTH, *BODY))
def put_lawyer(licence: str, body: registry.LawyerIn, principal: Admin, uow: UowDep) -> LawyerOut:
    _same_key(licence, body.licence, "licence")
    with uow() as session:
        registry.save_lawyer(session, body, actor=principal.actor)
        return registry.read_lawyer(session, licence)


_IMAGE = {"schema": {"type": "string", "format": "binary"}}


@router.put(
    "/lawyers/{licence}/photo",
    responses=errors(*AUTH, *BODY, 404, 415),
    openapi_extra={
        "requestBody": {"required": True, "content": {kind.value: _IMAGE for kind in PhotoType}}
    },
)
def put_lawyer_photo(
    licence: str,
    content: Annotated[bytes, Body(media_type=PhotoType.JPEG)],
    principal: Admin,
    uow: UowDep,
    runtime: RuntimeDep,
    content_type: Annotated[str | None, Header()] = None,
) -> LawyerOut:
    """Upload the lawyer's photo (PNG or JPEG, at most `DISPATCHER_MAX_PHOTO_BYTES`): kept
    re-encoded, without its metadata, and shown beside the name on the tablet's list."""
    kind = photos.media_type(content_type)
    settings = runtime.settings
    encoded = photos.encode(content, kind, max_bytes=settings.max_photo_bytes)
    with uow() as session:
        if registry.lawyer_by_licence(session, licence) is None:
            raise NotFound(f"unknown lawyer {licence}")
        stored = photos.store(settings.data_dir, licence, encoded, kind)
        photos.set_photo(session, licence=licence, photo=stored, actor=principal.actor)
        session.flush()
        return registry.read_lawyer(session, licence)


@router.get("/places", responses=errors(*AUTH, 404, 422))
def list_places(principal: Reader, uow: UowDep, territory: str | None = None) -> list[PlaceOut]:
    with uow() as session:
        return registry.list_places(session, territory=territory)


@router.get("/places/{code}", responses=errors(*AUTH, 404, 422))
def get_place(code: str, principal: Reader, uow: UowDep) -> PlaceOut:
    with uow() as session:
        return registry.read_place(session, code)


@router.put("/places/{code}", responses=errors(*AUTH, *BODY))
def put_place(code: str, body: registry.PlaceIn, principal: Admin, uow: UowDep) -> PlaceOut:
    _same_key(code, body.code, "code")
    with uow() as session:
        registry.save_place(session, body, actor=principal.actor)
        return registry.read_place(session, code)


@router.get("/conflicts", responses=errors(*AUTH))
def list_conflicts(principal: Reader, uow: UowDep) -> list[ConflictOut]:
    with uow() as session:
        return registry.list_conflicts(session)


@router.post("/conflicts", status_code=201, responses=errors(*AUTH, *BODY))
def add_conflict(body: registry.ConflictIn, principal: Admin, uow: UowDep) -> ConflictAddedOut:
    with uow() as session:
        change = registry.save_conflict(session, body, actor=principal.actor)
        return ConflictAddedOut(**body.model_dump(), created=change is registry.Change.CREATED)


@router.post("/conflicts/remove", responses=errors(*AUTH, *BODY, 404))
def remove_conflict(body: registry.ConflictIn, principal: Admin, uow: UowDep) -> ConflictRemovedOut:
    with uow() as session:
        registry.delete_conflict(session, body, actor=principal.actor)
        return ConflictRemovedOut(**body.model_dump(), removed=True)
