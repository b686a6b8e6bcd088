"""API tokens, for the administrator: list, create (the token is shown once), revoke."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Response

from api.deps import UowDep, role
from api.responses import AUTH, BODY, errors
from api.schemas import TokenCreatedOut, TokenIn
from dispatcher import tokens
from dispatcher.tokens import Principal, TokenOut
from policies.vocabulary import Role

router = APIRouter(prefix="/api/v1/tokens", tags=["tokens"])

Admin = Annotated[Principal, Depends(role(Role.ADMIN))]
# A token's id as the database can hold it: a larger number is 422, not an overflow.
TokenId = Annotated[int, Path(ge=1, le=2**31 - 1)]


@router.get("", responses=errors(*AUTH))
def list_tokens(principal: Admin, uow: UowDep) -> list[TokenOut]:
    """Every token (never a token or its hash): id, role, name, scope, created, expires,
    last used, revoked."""
    with uow() as session:
        return tokens.list_tokens(session)


@router.post("", status_code=201, responses=errors(*AUTH, *BODY))
def create_token(
    body: TokenIn, principal: Admin, uow: UowDep, response: Response
) -> TokenCreatedOut:
    """Create a token; the answer carries it this once (only its hash is stored)."""
    lifetime = tokens.parse_duration(body.expires_in) if body.expires_in is not None else None
    with uow() as session:
        token = tokens.create_token(
            session,
            role=body.role,
            name=body.name,
            territories=body.territories,
            any_territory=body.any_territory,
            lawyer=body.lawyer,
            callback_prefixes=body.callback_prefixes,
            expires_in=lifetime,
            actor=principal.actor,
        )
        listed = tokens.listing_of(session, token)
    response.headers["Cache-Control"] = "no-store"
    return TokenCreatedOut(token=token, **listed.model_dump())


@router.post("/{token_id}/revoke", responses=errors(*AUTH, 404, 422))
def revoke_token(token_id: TokenId, principal: Admin, uow: UowDep) -> TokenOut:
    """Revoke a token: refused from the next request on, in every worker; its page sessions
    end. Revoking a revoked token again changes nothing."""
    with uow() as session:
        return tokens.revoke(session, id_or_name=str(token_id), actor=principal.actor)
