"""Duty rotas: the administrator plans and approves; the bar may read."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends

from api.deps import RuntimeDep, UowDep, role
from api.responses import AUTH, BODY, errors
from dispatcher.rota import service
from dispatcher.rota.service import RotaOut, RotaPlanIn
from dispatcher.tokens import Principal
from policies.vocabulary import Role

router = APIRouter(prefix="/api/v1/rotas", tags=["rotas"])

Admin = Annotated[Principal, Depends(role(Role.ADMIN))]
Reader = Annotated[Principal, Depends(role(Role.ADMIN, Role.BAR))]


@router.post("", status_code=201, responses=errors(*AUTH, *BODY, 404))
def plan_rota(body: RotaPlanIn, principal: Admin, uow: UowDep, runtime: RuntimeDep) -> RotaOut:
    """Plan a territory's rota and keep it as a draft (an infeasible one with its reasons)."""
    with uow() as session:
        return service.plan(
            session,
            territory=body.territory,
            first_day=body.from_,
            days=body.days,
            time_limit_s=body.time_limit_s,
            policies=runtime.policies,
            actor=principal.actor,
        )


@router.get("/{rota_id}", responses=errors(*AUTH, 404, 422))
def get_rota(rota_id: str, principal: Reader, uow: UowDep, runtime: RuntimeDep) -> RotaOut:
    with uow() as session:
        return service.read(session, rota_id=rota_id, policies=runtime.policies)


@router.post("/{rota_id}/approve", responses=errors(*AUTH, 404, 409, 422))
def approve_rota(rota_id: str, principal: Admin, uow: UowDep, runtime: RuntimeDep) -> RotaOut:
    """Approve a draft: during its period only its lawyers on duty take detentions."""
    with uow() as session:
        return service.approve(
            session, rota_id=rota_id, policies=runtime.policies, actor=principal.actor
        )
