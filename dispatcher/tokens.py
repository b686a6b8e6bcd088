"""Bearer tokens, stored hashed. A court's or investigator's token names its requester.

A requester also holds what its callbacks need: the secret they are signed with (Standard
Webhooks, "whsec_" and base64) and the URL prefixes a request's `callback_url` must start with.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
from collections.abc import Sequence
from dataclasses import dataclass

from pydantic import AnyHttpUrl, TypeAdapter, ValidationError
from sqlalchemy import update
from sqlmodel import Session, col, select

from dispatcher import audit
from dispatcher.errors import Conflict, Invalid, NotFound
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
    territories: Sequence[str] = (),
    any_territory: bool = False,
    lawyer: str | None = None,
    callback_prefixes: Sequence[str] = (),
    actor: str = "cli",
) -> str:
    """Create a token and return it in clear; only its hash is kept.

    A court's or investigator's token creates its requester on first use of the name (with a
    callback signing secret) and needs `territories` or `any_territory`: the territories and
    `callback_prefixes` are added to the requester's, and `any_territory` lets it file anywhere.
    """
    if role not in set(Role):
        raise Invalid("role", f"must be one of {', '.join(Role)}")
    if not name.strip():
        raise Invalid("name", "must not be empty")
    prefixes = [normalize_prefix(p) for p in callback_prefixes]
    if prefixes and role not in REQUESTER_ROLES:
        raise Invalid(
            "callback_prefix", "only court and investigator tokens take callback prefixes"
        )
    codes = list(dict.fromkeys(t.strip() for t in territories))
    if (codes or any_territory) and role not in REQUESTER_ROLES:
        raise Invalid("territory", "only court and investigator tokens take territories")
    requester_id: int | None = None
    lawyer_id: int | None = None
    if role in REQUESTER_ROLES:
        requester = _requester_for(
            session, role=role, name=name, codes=codes, any_territory=any_territory
        )
        added = [p for p in dict.fromkeys(prefixes) if p not in requester.callback_prefixes]
        if added:
            requester.callback_prefixes = [*requester.callback_prefixes, *added]
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
        payload={
            "role": role,
            "name": row.name,
            "territories": codes,
            **({"any_territory": True} if any_territory else {}),
            "lawyer": lawyer,
            **({"callback_prefixes": prefixes} if prefixes else {}),
        },
    )
    return token


def _requester_for(
    session: Session, *, role: str, name: str, codes: list[str], any_territory: bool
) -> Requester:
    """The requester named `name`, made now if new, holding `codes` and `any_territory` too.

    Territories are only ever added: a later token widens the requester's lane, never narrows
    it (the first territory stays its home).
    """
    if not codes and not any_territory:
        raise Invalid(
            "territory", f"a {role} token needs --territory (repeatable) or --any-territory"
        )
    found = {
        t.code: t
        for t in session.exec(select(Territory).where(col(Territory.code).in_(codes))).all()
    }
    unknown = [c for c in codes if c not in found]
    if unknown:
        raise Invalid("territory", f"unknown territory {', '.join(unknown)}")
    requester = session.exec(
        select(Requester).where(Requester.role == role, Requester.name == name)
    ).first()
    if requester is None:
        requester = Requester(
            role=role,
            name=name,
            territory_id=found[codes[0]].id if codes else None,
            webhook_secret=new_webhook_secret(),
        )
    added = [c for c in codes if c not in requester.territories]
    if added:
        requester.territories = [*requester.territories, *added]
    if any_territory:
        requester.any_territory = True
    return requester


def resolve(session: Session, token: str) -> Principal | None:
    row = session.exec(select(ApiToken).where(ApiToken.token_hash == hash_token(token))).first()
    if row is None or row.revoked_at is not None or row.id is None:
        return None
    return Principal(row.id, row.role, row.name, row.requester_id, row.lawyer_id)


# --- callbacks: where they may go, and the secret they are signed with -------------------------

WEBHOOK_SECRET_PREFIX = "whsec_"
_URL = TypeAdapter(AnyHttpUrl)


def new_webhook_secret() -> str:
    """A fresh secret in the Standard Webhooks format: "whsec_" and 32 random bytes in base64."""
    return WEBHOOK_SECRET_PREFIX + base64.b64encode(secrets.token_bytes(32)).decode()


def normalize_prefix(prefix: str) -> str:
    """A callback prefix as request URLs are compared with it (an http(s) URL, host lowercased).

    A prefix without a path gets "/", so that "https://court.example" does not let
    "https://court.example.attacker.net/" through.
    """
    try:
        return str(_URL.validate_python(prefix.strip()))
    except ValidationError as exc:
        raise Invalid("callback_prefix", f"{prefix!r} is not an http(s) URL") from exc


def check_callback_url(requester: Requester, callback_url: AnyHttpUrl | None) -> None:
    """A 422 naming `callback_url` unless it starts with one of the requester's prefixes.

    A requester with no registered prefix may not ask for callbacks at all.
    """
    if callback_url is None:
        return
    url = str(callback_url)
    registered = requester.callback_prefixes
    if not registered:
        raise Invalid(
            "callback_url",
            "this requester has no registered callback prefix, so no callback_url is accepted "
            "(the administrator registers one: dispatcher token create ... --callback-prefix URL)",
        )
    if not any(url.startswith(prefix) for prefix in registered):
        raise Invalid(
            "callback_url",
            f"must start with one of the requester's registered prefixes: {', '.join(registered)}",
        )


def find_requester(session: Session, *, name: str, role: str | None = None) -> Requester:
    """The requester created under `name` at `token create`; `role` only where it is ambiguous."""
    if role is not None and role not in REQUESTER_ROLES:
        raise Invalid("role", f"must be one of {', '.join(REQUESTER_ROLES)}")
    query = select(Requester).where(col(Requester.name).in_({name, name.strip()}))
    if role is not None:
        query = query.where(Requester.role == role)
    found = session.exec(query.order_by(col(Requester.id))).all()
    if not found:
        raise NotFound(f"no requester named {name!r}" + (f" with role {role}" if role else ""))
    if len(found) > 1:
        roles = " and ".join(sorted(r.role for r in found))
        raise Conflict(f"the name {name!r} is ambiguous ({roles}): say which with --role")
    return found[0]


def ensure_webhook_secret(session: Session, requester: Requester, *, actor: str) -> str:
    """The requester's secret, made now if it has none (a requester older than secrets).

    The guarded UPDATE lets two processes race: one secret wins and both return it.
    """
    if requester.webhook_secret:
        return requester.webhook_secret
    assert requester.id is not None
    made = session.execute(
        update(Requester)
        .where(col(Requester.id) == requester.id, col(Requester.webhook_secret).is_(None))
        .values(webhook_secret=new_webhook_secret())
    )
    session.refresh(requester)
    if made.rowcount:  # type: ignore[attr-defined]
        _audit_secret(session, requester, actor=actor, action="requester.secret_created")
    assert requester.webhook_secret is not None
    return requester.webhook_secret


def requester_secret(
    session: Session, *, name: str, role: str | None = None, rotate: bool = False, actor: str
) -> str:
    """The requester's callback secret (a new one with `rotate`); reading and rotating are
    audited, the secret itself never."""
    requester = find_requester(session, name=name, role=role)
    if rotate:
        requester.webhook_secret = new_webhook_secret()
        session.add(requester)
        session.flush()
        _audit_secret(session, requester, actor=actor, action="requester.secret_rotated")
        return requester.webhook_secret
    secret = ensure_webhook_secret(session, requester, actor=actor)
    _audit_secret(session, requester, actor=actor, action="requester.secret_read")
    return secret


def _audit_secret(session: Session, requester: Requester, *, actor: str, action: str) -> None:
    audit.record(
        session,
        actor=actor,
        action=action,
        entity_type="requester",
        entity_id=requester.id or 0,
        payload={"role": requester.role, "name": requester.name},
    )
