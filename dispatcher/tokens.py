"""Bearer tokens, stored hashed. A court's or investigator's token names its requester.

A token lives until it is revoked or, when it was created with an expiry, until then; `resolve`
reads the database on every call, so a revocation holds on the next request in every process.
The pages sign in with a token and get a session of their own (`open_page_session`): the cookie
carries a random id, stored hashed, that dies at its expiry, at logout, or with its token.

A requester also holds what its callbacks need: the secret they are signed with (Standard
Webhooks, "whsec_" and base64) and the URL prefixes a request's `callback_url` must start with.
"""

from __future__ import annotations

import base64
import hashlib
import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from pydantic import AnyHttpUrl, BaseModel, TypeAdapter, ValidationError
from sqlalchemy import or_, update
from sqlmodel import Session, col, select

from dispatcher import audit
from dispatcher.db import utcnow
from dispatcher.errors import Conflict, Invalid, NotFound
from dispatcher.models import ApiToken, Lawyer, PageSession, Requester, Territory
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
    expires_in: timedelta | None = None,
    actor: str = "cli",
) -> str:
    """Create a token and return it in clear; only its hash is kept.

    A court's or investigator's token creates its requester on first use of the name (with a
    callback signing secret) and needs `territories` or `any_territory`: the territories and
    `callback_prefixes` are added to the requester's, and `any_territory` lets it file anywhere.
    With `expires_in` the token is refused from then on; without, it lives until revoked.
    """
    if expires_in is not None and expires_in <= timedelta(0):
        raise Invalid("expires_in", "must be a positive duration")
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
        expires_at=utcnow() + expires_in if expires_in is not None else None,
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
            **({"expires_at": row.expires_at.isoformat()} if row.expires_at else {}),
        },
    )
    return token


# --- a token's lifecycle: expiry, use, listing, revocation ---------------------------------------

# `last_used_at` is written at most this often per token: a read does not become a write.
LAST_USED_EVERY = timedelta(minutes=1)
_DURATION = re.compile(r"(\d{1,6})([dh])")
_UNITS = {"d": "days", "h": "hours"}


def parse_duration(text: str, *, field: str = "expires_in") -> timedelta:
    """A duration as the CLI and the API take it: a whole number of days or hours, "90d", "12h".

    Anything else is `Invalid` naming `field`.
    """
    found = _DURATION.fullmatch(text.strip().lower())
    if found is None or int(found.group(1)) == 0:
        raise Invalid(
            field,
            f"{text!r} is not a duration: a positive number of days or hours, e.g. 90d or 12h",
        )
    return timedelta(**{_UNITS[found.group(2)]: int(found.group(1))})


def is_live(row: ApiToken, now: datetime) -> bool:
    """Neither revoked nor expired at `now`."""
    return row.revoked_at is None and (row.expires_at is None or row.expires_at > now)


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
    """The principal of a live token, or None (unknown, revoked or expired).

    Read from the database on every call, never cached: a revocation holds on the next request.
    """
    row = session.exec(select(ApiToken).where(ApiToken.token_hash == hash_token(token))).first()
    return _principal_of(session, row)


@dataclass(frozen=True)
class Sighting:
    """A live token as read, and whether its `last_used_at` is due to be written."""

    principal: Principal
    use_due: bool


def look_up(session: Session, token: str) -> Sighting | None:
    """`resolve` without its write: the principal of a live token (None as `resolve`) and
    whether `note_use` is due, so that a reading transaction can check a token and a writing
    one is opened only about once a minute per token."""
    row = session.exec(select(ApiToken).where(ApiToken.token_hash == hash_token(token))).first()
    return None if row is None else _sighting(row, utcnow())


def note_use(session: Session, token_id: int) -> None:
    """Write the token's `last_used_at`, unless a writer of the same minute did."""
    now = utcnow()
    # Guarded, so that of several processes using the token in the same minute one writes.
    session.execute(
        update(ApiToken)
        .where(
            col(ApiToken.id) == token_id,
            or_(
                col(ApiToken.last_used_at).is_(None),
                col(ApiToken.last_used_at) <= now - LAST_USED_EVERY,
            ),
        )
        .values(last_used_at=now)
    )


def _sighting(row: ApiToken, now: datetime) -> Sighting | None:
    """The principal of a live token and whether its use is due to be written; None if the
    token is revoked or expired."""
    if row.id is None or not is_live(row, now):
        return None
    principal = Principal(row.id, row.role, row.name, row.requester_id, row.lawyer_id)
    due = row.last_used_at is None or row.last_used_at <= now - LAST_USED_EVERY
    return Sighting(principal, due)


def _principal_of(session: Session, row: ApiToken | None) -> Principal | None:
    """`look_up`'s principal, with its use written when due."""
    seen = None if row is None else _sighting(row, utcnow())
    if seen is None:
        return None
    if seen.use_due:
        note_use(session, seen.principal.token_id)
    return seen.principal


class TokenOut(BaseModel):
    """A token as `token list` and `GET /api/v1/tokens` show it: never the token or its hash.

    `scope` is the requester's territory for a court or investigator, the licence for a lawyer.
    """

    id: int
    role: str
    name: str
    scope: str | None
    created_at: datetime
    expires_at: datetime | None
    last_used_at: datetime | None
    revoked_at: datetime | None


def list_tokens(session: Session) -> list[TokenOut]:
    """Every token, oldest first, revoked and expired ones included."""
    rows = session.exec(select(ApiToken).order_by(col(ApiToken.id))).all()
    return [_listing(session, row) for row in rows]


def read_token(session: Session, token_id: int) -> TokenOut:
    row = session.get(ApiToken, token_id)
    if row is None:
        raise NotFound(f"no token {token_id}")
    return _listing(session, row)


def listing_of(session: Session, token: str) -> TokenOut:
    """The listing of the token given in clear (as just created), without using it."""
    row = session.exec(select(ApiToken).where(ApiToken.token_hash == hash_token(token))).first()
    if row is None:
        raise NotFound("no such token")
    return _listing(session, row)


def _listing(session: Session, row: ApiToken) -> TokenOut:
    assert row.id is not None
    return TokenOut(
        id=row.id,
        role=row.role,
        name=row.name,
        scope=_scope(session, row),
        created_at=row.created_at,
        expires_at=row.expires_at,
        last_used_at=row.last_used_at,
        revoked_at=row.revoked_at,
    )


def _scope(session: Session, row: ApiToken) -> str | None:
    if row.lawyer_id is not None:
        lawyer = session.get(Lawyer, row.lawyer_id)
        return lawyer.licence if lawyer else None
    if row.requester_id is not None:
        requester = session.get(Requester, row.requester_id)
        if requester is not None:
            return "any territory" if requester.any_territory else " ".join(requester.territories)
    return None


def revoke(session: Session, *, id_or_name: str, actor: str) -> TokenOut:
    """Revoke a token named by its id (digits) or its name, and end its page sessions.

    A name must match exactly one live token (several: `Conflict` naming their ids). Revoking
    a revoked token again changes nothing.
    """
    row = _find_to_revoke(session, id_or_name.strip())
    if row.revoked_at is None:
        now = utcnow()
        row.revoked_at = now
        session.add(row)
        session.execute(
            update(PageSession)
            .where(col(PageSession.token_id) == row.id, col(PageSession.ended_at).is_(None))
            .values(ended_at=now)
        )
        session.flush()
        audit.record(
            session,
            actor=actor,
            action="token.revoked",
            entity_type="token",
            entity_id=row.id or 0,
            payload={"role": row.role, "name": row.name},
        )
    return _listing(session, row)


def _find_to_revoke(session: Session, id_or_name: str) -> ApiToken:
    if not id_or_name:
        raise Invalid("id_or_name", "must name a token: its id or its name")
    if id_or_name.isdigit():
        row = session.get(ApiToken, int(id_or_name))
        if row is None:
            raise NotFound(f"no token {id_or_name}")
        return row
    now = utcnow()
    named = session.exec(
        select(ApiToken).where(ApiToken.name == id_or_name).order_by(col(ApiToken.id))
    ).all()
    live = [row for row in named if is_live(row, now)]
    if not live:
        raise NotFound(f"no live token named {id_or_name!r}")
    if len(live) > 1:
        ids = ", ".join(str(row.id) for row in live)
        raise Conflict(
            f"{len(live)} live tokens are named {id_or_name!r} (ids {ids}): revoke one by its id"
        )
    return live[0]


# --- page sessions: what the pages' cookie holds ----------------------------------------------


def open_page_session(
    session: Session, *, token: str, lifetime: timedelta
) -> tuple[str, Principal] | None:
    """Sign a browser in with a token: a new session id for its cookie and the principal, or
    None when the token is not live. The session ends after `lifetime`, or sooner with its
    token."""
    row = session.exec(select(ApiToken).where(ApiToken.token_hash == hash_token(token))).first()
    principal = _principal_of(session, row)
    if principal is None:
        return None
    session_id = secrets.token_urlsafe(32)
    now = utcnow()
    session.add(
        PageSession(
            session_hash=hash_token(session_id),
            token_id=principal.token_id,
            created_at=now,
            expires_at=now + lifetime,
        )
    )
    session.flush()
    return session_id, principal


def resolve_page_session(session: Session, session_id: str) -> Principal | None:
    """The principal of a page session that is neither ended nor expired, and whose token is
    live; None otherwise. Read from the database on every call, like `resolve`."""
    found = session.exec(
        select(PageSession, ApiToken)
        .join(ApiToken, col(ApiToken.id) == col(PageSession.token_id))
        .where(PageSession.session_hash == hash_token(session_id))
    ).first()
    if found is None:
        return None
    page, row = found
    if page.ended_at is not None or page.expires_at <= utcnow():
        return None
    return _principal_of(session, row)


def end_page_session(session: Session, session_id: str) -> bool:
    """Log out: the session id no longer signs anything in. False when it was not open."""
    ended = session.execute(
        update(PageSession)
        .where(
            col(PageSession.session_hash) == hash_token(session_id),
            col(PageSession.ended_at).is_(None),
        )
        .values(ended_at=utcnow())
    )
    return bool(ended.rowcount)  # type: ignore[attr-defined]


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
        url = _URL.validate_python(prefix.strip())
    except ValidationError as exc:
        raise Invalid("callback_prefix", f"{prefix[:200]!r} is not an http(s) URL") from exc
    if url.username or url.password:
        raise Invalid("callback_prefix", "must not carry credentials (user:password@)")
    return str(url)


def check_callback_url(requester: Requester, callback_url: AnyHttpUrl | None) -> None:
    """A 422 naming `callback_url` unless it starts with one of the requester's prefixes.

    A requester with no registered prefix may not ask for callbacks at all.
    """
    if callback_url is None:
        return
    if callback_url.username or callback_url.password:
        raise Invalid("callback_url", "must not carry credentials (user:password@)")
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
