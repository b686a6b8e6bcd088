"""Bearer tokens, stored hashed. A court's or investigator's token names its requester."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass

from sqlmodel import Session, select

from dispatcher import audit
from dispatcher.errors import Invalid
from dispatcher.models import ApiToken, Lawyer, Requester, Territory
from policies.vocabulary import REQUESTER_ROLES, Role


@dataclass(frozen=True)
class Principal:
    token_id: int
    role: str
    name: str
    requester_id: int | None
    lawyer_id: int | None

    @property
    def actor(self) -> str:
        return f"{self.role}:{self.name}"


def hash_token(token: str) -> str:
    """How every bearer or tablet token is stored: its SHA-256, never the token."""
    return hashlib.sha256(token.encode()).hexdigest()


def create_token(
    session: Session,
    *,
    role: str,
    name: str,
    territory: str | None = None,
    lawyer: str | None = None,
    actor: str = "cli",
) -> str:
    """Create a token and return it in clear; only its hash is kept."""
    if role not in set(Role):
        raise Invalid("role", f"must be one of {', '.join(Role)}")
    if not name.strip():
        raise Invalid("name", "must not be empty")
    requester_id: int | None = None
    lawyer_id: int | None = None
    if role in REQUESTER_ROLES:
        if not territory:
            raise Invalid("territory", f"a {role} token needs --territory")
        t = session.exec(select(Territory).where(Territory.code == territory)).first()
        if t is None:
            raise Invalid("territory", f"unknown territory {territory}")
        requester = session.exec(
            select(Requester).where(Requester.role == role, Requester.name == name)
        ).first()
        if requester is None:
            requester = Requester(role=role, name=name, territory_id=t.id)
            session.add(requester)
            session.flush()
        requester_id = requester.id
    if role == Role.LAWYER:
        if not lawyer:
            raise Invalid("lawyer", "a lawyer token needs --lawyer LICENCE")
        found = session.exec(select(Lawyer).where(Lawyer.licence == lawyer)).first()
        if found is None:
            raise Invalid("lawyer", f"unknown lawyer {lawyer}")
        lawyer_id = found.id
    token = secrets.token_urlsafe(32)
    row = ApiToken(
        token_hash=hash_token(token),
        role=role,
        name=name.strip(),
        requester_id=requester_id,
        lawyer_id=lawyer_id,
    )
    session.add(row)
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="token.created",
        entity_type="token",
        entity_id=row.id or 0,
        payload={"role": role, "name": row.name, "territory": territory, "lawyer": lawyer},
    )
    return token


def resolve(session: Session, token: str) -> Principal | None:
    row = session.exec(select(ApiToken).where(ApiToken.token_hash == hash_token(token))).first()
    if row is None or row.revoked_at is not None or row.id is None:
        return None
    return Principal(row.id, row.role, row.name, row.requester_id, row.lawyer_id)
