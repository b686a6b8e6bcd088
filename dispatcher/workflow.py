"""The request workflow: request → (choice) → invitation → appointment, and every way out.

The state machine lives here and only here. Services take the caller's session and never
commit; side effects go to the outbox, and scheduling happens after the commit.
"""

from __future__ import annotations

import hashlib
import random
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import structlog
from sqlalchemy import bindparam, update
from sqlalchemy import select as select_columns
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, func, select

from dispatcher import allocation, audit, events, outbox, registry
from dispatcher.db import after_commit, utcnow
from dispatcher.errors import Conflict, Gone, Invalid, NotFound
from dispatcher.models import (
    Appointment,
    Choice,
    ChoiceSession,
    Decision,
    Firm,
    Invitation,
    Lawyer,
    Place,
    Request,
    Requester,
    Territory,
)
from dispatcher.schemas import (
    AppointmentOut,
    ChoiceIn,
    ContactOut,
    InvitationOut,
    LawyerAppointmentOut,
    LawyerInvitationOut,
    PlaceOut,
    RequestIn,
    RequestOut,
)
from dispatcher.tokens import check_callback_url, hash_token
from policies.config import Policy, PolicyBook
from policies.vocabulary import (
    ChoiceKind,
    InvitationStatus,
    Language,
    OutboxKind,
    RequestKind,
    RequestStatus,
)

log = structlog.get_logger(__name__)

# --- the state machine ----------------------------------------------------------------------

AWAITING_CHOICE = RequestStatus.AWAITING_CHOICE
INVITING = RequestStatus.INVITING
ASSIGNED = RequestStatus.ASSIGNED
UNFILLED = RequestStatus.UNFILLED
CANCELLED = RequestStatus.CANCELLED
PRIVATE_COUNSEL = RequestStatus.PRIVATE_COUNSEL

TRANSITIONS: dict[RequestStatus, frozenset[RequestStatus]] = {
    AWAITING_CHOICE: frozenset({INVITING, PRIVATE_COUNSEL, CANCELLED, UNFILLED}),
    INVITING: frozenset({ASSIGNED, UNFILLED, CANCELLED, AWAITING_CHOICE}),
    ASSIGNED: frozenset({CANCELLED}),
    UNFILLED: frozenset(),
    CANCELLED: frozenset(),
    PRIVATE_COUNSEL: frozenset(),
}
# States a request never leaves.
FINAL_STATES = frozenset(state for state, onward in TRANSITIONS.items() if not onward)


@dataclass(frozen=True)
class Hooks:
    """What the running service that owns a flow wants to hear of, each called after the
    commit that caused it (never for a transaction that rolled back)."""

    # (invitation id, deadline) of each invitation sent: the scheduler arms a timer.
    deadline_set: tuple[Callable[[str, datetime], None], ...] = ()
    # Each invitation sent (detached, its columns loaded): for a caller that wants more of it
    # than the id without reading it back, like the simulator.
    invitation_sent: tuple[Callable[[Invitation], None], ...] = ()
    # The outbox has something new: the courier may deliver now instead of at its next round.
    outbox_filled: tuple[Callable[[], None], ...] = ()

    def __add__(self, other: Hooks) -> Hooks:
        return Hooks(
            self.deadline_set + other.deadline_set,
            self.invitation_sent + other.invitation_sent,
            self.outbox_filled + other.outbox_filled,
        )


NO_HOOKS = Hooks()


@dataclass(frozen=True)
class Context:
    """What the flows need besides the session: the rules, who acts, and whom to tell.

    `shuffle` seeds the tablet lists' random order; left out, every list gets a fresh seed
    from the system's secure source (a replay gives its own generator to be repeatable).
    `hooks` belong to the running service (its scheduler, a replay) that makes the context.
    """

    policies: PolicyBook
    actor: str
    shuffle: random.Random | None = None
    hooks: Hooks = NO_HOOKS

    def list_order(self) -> random.Random:
        seed = self.shuffle.getrandbits(64) if self.shuffle else secrets.randbits(64)
        return random.Random(seed)

    def policy(self, territory_code: str) -> Policy:
        return self.policies.for_territory(territory_code)


# --- statements run at every step -------------------------------------------------------------
# Built once with bound parameters: building a statement and deriving its cache key anew on
# every call costs more than running it.

_BY_REFERENCE = select(Request).where(
    col(Request.requester_id) == bindparam("requester_id"),
    col(Request.external_ref) == bindparam("external_ref"),
)
_TERRITORY_BY_CODE = select(Territory).where(col(Territory.code) == bindparam("code"))
_POSSIBLE_DUPLICATES = select(Request.id).where(
    col(Request.case_number) == bindparam("case_number"),
    col(Request.id) != bindparam("request_id"),
    func.lower(Request.person_name) == bindparam("person_name"),
    col(Request.status).notin_([CANCELLED, UNFILLED]),
)
_INVITATIONS_SENT = (
    select(func.count())
    .select_from(Invitation)
    .where(col(Invitation.request_id) == bindparam("request_id"))
)
_UNSPENT_TOKENS = select(ChoiceSession.token_hash).where(
    col(ChoiceSession.request_id) == bindparam("request_id"),
    col(ChoiceSession.spent_at).is_(None),
)
_CHOICE_SESSION_BY_TOKEN = select(ChoiceSession).where(
    col(ChoiceSession.token_hash) == bindparam("token_hash")
)
_CHOSEN_LAWYER = select(Choice.id).where(
    col(Choice.request_id) == bindparam("request_id"),
    col(Choice.lawyer_id) == bindparam("lawyer_id"),
)


# --- output shape ---------------------------------------------------------------------------


# The request's answer reads columns, not rows: every route that changes a request answers
# with it, and loading whole invitations, lawyers and firms cost more than the reads.
_PENDING_INVITATION = (
    select_columns(
        col(Invitation.id),
        col(Invitation.deadline),
        col(Invitation.delivery),
        col(Lawyer.licence),
        col(Firm.code),
    )
    .join(Lawyer, col(Lawyer.id) == Invitation.lawyer_id)
    .join(Firm, col(Firm.id) == Invitation.firm_id)
    .where(
        col(Invitation.request_id) == bindparam("request_id"),
        col(Invitation.status) == InvitationStatus.PENDING,
    )
)
_APPOINTMENT = (
    select_columns(
        col(Appointment.id),
        col(Appointment.closed_at),
        col(Appointment.eta_minutes),
        col(Lawyer.licence),
        col(Lawyer.name),
        col(Lawyer.phone),
        col(Firm.code),
        col(Firm.name),
    )
    .join(Lawyer, col(Lawyer.id) == Appointment.lawyer_id)
    .join(Firm, col(Firm.id) == Appointment.firm_id)
    .where(col(Appointment.request_id) == bindparam("request_id"))
)


def request_out(session: Session, request: Request) -> RequestOut:
    """The request's JSON as the API contract gives it."""
    territory = session.get(Territory, request.territory_id)
    ids = {"request_id": request.id}
    invitation = session.execute(_PENDING_INVITATION, ids).first()
    appointment = session.execute(_APPOINTMENT, ids).first()
    return _request_json(
        request,
        territory.code if territory else None,
        (
            InvitationOut(
                id=invitation[0],
                lawyer=invitation[3],
                firm=invitation[4],
                deadline=invitation[1].isoformat(),
                delivery=invitation[2],
            )
            if invitation
            else None
        ),
        (
            AppointmentOut(
                id=appointment[0],
                lawyer=appointment[3],
                firm=appointment[6],
                closed=appointment[1] is not None,
                lawyer_name=appointment[4],
                firm_name=appointment[7],
                phone=appointment[5],
                eta_minutes=appointment[2],
            )
            if appointment
            else None
        ),
    )


def _request_json(
    request: Request,
    territory: str | None,
    invitation: InvitationOut | None,
    appointment: AppointmentOut | None,
) -> RequestOut:
    return RequestOut(
        id=request.id,
        external_ref=request.external_ref,
        kind=request.kind,
        status=request.status,
        territory=territory,
        case_number=request.case_number,
        urgency=request.urgency,
        category=request.category,
        invitation=invitation,
        appointment=appointment,
        created_at=request.created_at.isoformat(),
        updated_at=request.updated_at.isoformat(),
    )


# What a transaction that opens requests holds of them, for their answers (`opened_out`):
# the territory each was filed in, and the invitation `_invite` sent for it.
_OPENED_KEY = "opened_requests"
_INVITED_KEY = "invitations_sent"


def opened_out(session: Session, request: Request) -> RequestOut:
    """`request_out` of a request this transaction has just opened (`create_request` said it
    was created), built from what the transaction holds instead of read back: nothing else
    can have touched the request yet, so its territory is the one it was filed in, its
    pending invitation (if any) is the one this transaction sent, and it has no appointment.
    A request the transaction did not open, or one in a state this does not know, is read."""
    territory = session.info.get(_OPENED_KEY, {}).get(request.id)
    if territory is None:
        return request_out(session, request)
    invitation: InvitationOut | None = None
    if request.status == INVITING:
        invitation = session.info.get(_INVITED_KEY, {}).get(request.id)
        if invitation is None:
            return request_out(session, request)
    elif request.status not in (AWAITING_CHOICE, UNFILLED):
        return request_out(session, request)
    return _request_json(request, territory, invitation, None)


def where_and_whom(session: Session, request_id: str) -> tuple[PlaceOut | None, ContactOut | None]:
    """Where the request's lawyer is to come and whom to call there, as the requester gave."""
    request = session.get(Request, request_id)
    if request is None:
        return None, None
    place = session.get(Place, request.place_id) if request.place_id is not None else None
    territory = session.get(Territory, place.territory_id) if place is not None else None
    where = registry.place_out(place, territory.code) if place and territory else None
    return where, contact_of(request)


def contact_of(request: Request) -> ContactOut | None:
    """Whom the requester said to call, if anyone."""
    if request.contact_name is None or request.contact_phone is None:
        return None
    return ContactOut(name=request.contact_name, phone=request.contact_phone)


# --- helpers --------------------------------------------------------------------------------


# Fields the request body gained later: they count only when given, so that a request made
# before them hashes as it did and its identical retry still gets the same answer.
_OPTIONAL_LATER = ("place", "contact")


def _request_body(data: RequestIn) -> dict[str, Any]:
    body = data.model_dump(mode="json")
    for key in _OPTIONAL_LATER:
        if body.get(key) is None:
            body.pop(key, None)
    return body


def payload_hash(session: Session, data: RequestIn) -> str:
    """The body's keyed hash: it holds the person's name, so the chain commits to it keyed."""
    return audit.keyed(session, _request_body(data))


def _unkeyed_payload_hash(data: RequestIn) -> str:
    """The digest requests were stored with before keyed hashes: their retries still match."""
    return hashlib.sha256(audit.canonical(_request_body(data)).encode()).hexdigest()


def _move(
    session: Session, request: Request, to: RequestStatus, ctx: Context, **details: Any
) -> None:
    if to not in TRANSITIONS[RequestStatus(request.status)]:
        raise Conflict(f"request is {request.status}; it cannot become {to}")
    before = request.status
    request.status = to
    request.updated_at = utcnow()
    if to == ASSIGNED:
        request.assigned_at = request.updated_at
    session.add(request)
    audit.record(
        session,
        actor=ctx.actor,
        action="request.status",
        entity_type="request",
        entity_id=request.id,
        request_id=request.id,
        payload={"from": before, "to": to, **details},
    )
    if to in (ASSIGNED, UNFILLED) and request.callback_url:
        session.flush()
        outbox.enqueue(
            session,
            kind=OutboxKind.CALLBACK,
            target=request.callback_url,
            payload=request_out(session, request).model_dump(mode="json"),
        )
        _notify_outbox(session, ctx)


def _notify_outbox(session: Session, ctx: Context) -> None:
    for hook in ctx.hooks.outbox_filled:
        after_commit(session, hook)


def _policy_of(session: Session, request: Request, ctx: Context) -> Policy:
    return ctx.policy(allocation.request_territory_code(session, request))


def get_request(session: Session, request_id: str, *, requester_id: int | None = None) -> Request:
    """The request; 404 also when it belongs to another requester."""
    request = session.get(Request, request_id)
    if request is None or (requester_id is not None and request.requester_id != requester_id):
        raise NotFound("request not found")
    return request


def list_requests(
    session: Session,
    *,
    requester_id: int | None,
    status: str | None,
    limit: int,
    before: datetime | None = None,
) -> list[RequestOut]:
    """The newest requests first; a requester sees only its own."""
    query = select(Request).order_by(col(Request.created_at).desc()).limit(limit)
    if requester_id is not None:
        query = query.where(Request.requester_id == requester_id)
    if status is not None:
        query = query.where(Request.status == status)
    if before is not None:
        query = query.where(col(Request.created_at) < before)
    return [request_out(session, r) for r in session.exec(query).all()]


def lock_request(session: Session, request_id: str) -> Request:
    request = session.get(Request, request_id, with_for_update=True, populate_existing=True)
    if request is None:
        raise NotFound("request not found")
    return request


# --- flows ----------------------------------------------------------------------------------


def create_request(
    session: Session,
    data: RequestIn,
    *,
    requester: Requester,
    ctx: Context,
    allocate: bool = True,
) -> tuple[Request, bool]:
    """Open a request, or return the one already opened under the same reference.

    An identical retry returns the existing request (created False); a different payload under
    the same reference is a 409. A court order is allocated at once, unless `allocate` is
    False: a batch allocates its court orders together (`invite_batch`).
    """
    digest = payload_hash(session, data)
    assert requester.id is not None
    existing = _by_reference(session, requester.id, data.external_ref)
    if existing is not None:
        return _same_or_conflict(existing, digest, data), False
    territory = session.exec(_TERRITORY_BY_CODE, params={"code": data.territory}).first()
    if territory is None or territory.id is None:
        raise Invalid("territory", f"unknown territory {data.territory}")
    check_callback_url(requester, data.callback_url)
    place = _place_of(session, data.place, territory) if data.place is not None else None
    request = Request(
        requester_id=requester.id,
        external_ref=data.external_ref,
        payload_hash=digest,
        kind=data.kind,
        case_number=data.case_number,
        territory_id=territory.id,
        urgency=data.urgency,
        category=data.category,
        person_name=data.person.name,
        person_language=data.person.language,
        person_juvenile=data.person.juvenile,
        callback_url=str(data.callback_url) if data.callback_url else None,
        place_id=place.id if place is not None else None,
        contact_name=data.contact.name if data.contact else None,
        contact_phone=data.contact.phone if data.contact else None,
        status=AWAITING_CHOICE if data.kind == RequestKind.INVESTIGATION else INVITING,
    )
    try:
        with session.begin_nested():
            session.add(request)
            session.flush()
    except IntegrityError:
        # Another worker inserted the same reference between our read and our write.
        existing = _by_reference(session, requester.id, data.external_ref)
        if existing is None:
            raise
        return _same_or_conflict(existing, digest, data), False
    session.info.setdefault(_OPENED_KEY, {})[request.id] = territory.code
    duplicates = session.exec(
        _POSSIBLE_DUPLICATES,
        params={
            "case_number": request.case_number,
            "request_id": request.id,
            "person_name": request.person_name.lower(),
        },
    ).all()
    created: dict[str, Any] = {
        "external_ref": request.external_ref,
        "kind": request.kind,
        "territory": territory.code,
        "case_number": request.case_number,
        "urgency": request.urgency,
        "category": request.category,
        "status": request.status,
        "payload_hmac": digest,
        "possible_duplicate_of": list(duplicates),
    }
    if place is not None:
        created["place"] = place.code
    if data.contact is not None:
        # Whom to call is personal data: the chain records only that it was given.
        created["contact_given"] = True
    audit.record(
        session,
        actor=ctx.actor,
        action="request.created",
        entity_type="request",
        entity_id=request.id,
        request_id=request.id,
        payload=created,
    )
    if duplicates:
        log.warning("request.possible_duplicate", request_id=request.id, others=list(duplicates))
    if request.kind == RequestKind.COURT_ORDER and allocate:
        invite_next(session, request, ctx)
    return request, True


def invite_batch(session: Session, requests: list[Request], ctx: Context) -> None:
    """Decide a batch's new court orders together (`allocation.decide_batch`) and invite each
    one's lawyer; a request no territory of its chain could serve ends unfilled."""
    outcomes = allocation.decide_batch(session, requests, ctx.policy)
    for request in requests:
        outcome = outcomes[request.id]
        _record_decision(session, request, outcome.decision, ctx)
        if outcome.lawyer is None or outcome.firm is None:
            _move(
                session,
                request,
                UNFILLED,
                ctx,
                reason="no eligible lawyer",
                decision=outcome.decision.id,
            )
            continue
        policy = _policy_of(session, request, ctx)
        _invite(session, request, outcome.lawyer, outcome.firm, outcome.decision.id, policy, ctx)


def _place_of(session: Session, code: str, territory: Territory) -> Place:
    """The named place, which must be one of the request's territory."""
    place = session.exec(select(Place).where(Place.code == code)).first()
    if place is None:
        raise Invalid("place", f"unknown place {code}")
    if place.territory_id != territory.id:
        raise Invalid("place", f"place {code} is not in territory {territory.code}")
    return place


def _by_reference(session: Session, requester_id: int, ref: str) -> Request | None:
    return session.exec(
        _BY_REFERENCE, params={"requester_id": requester_id, "external_ref": ref}
    ).first()


def _same_or_conflict(existing: Request, digest: str, data: RequestIn) -> Request:
    if existing.payload_hash != digest and existing.payload_hash != _unkeyed_payload_hash(data):
        raise Conflict(
            f"external_ref {existing.external_ref} was already used with a different payload"
        )
    return existing


def invite_next(session: Session, request: Request, ctx: Context, note: str | None = None) -> None:
    """Take the next rotation decision for the request and invite, or end it unfilled."""
    policy = _policy_of(session, request, ctx)
    sent = session.exec(_INVITATIONS_SENT, params={"request_id": request.id}).one()
    if sent >= policy.rotation.max_invitations:
        _move(session, request, UNFILLED, ctx, reason="ladder exhausted", invitations=sent)
        return
    outcome = allocation.decide_rotation(session, request, ctx.policy, note=note)
    _record_decision(session, request, outcome.decision, ctx)
    if outcome.lawyer is None or outcome.firm is None:
        _move(
            session,
            request,
            UNFILLED,
            ctx,
            reason="no eligible lawyer",
            decision=outcome.decision.id,
        )
        return
    if request.status != INVITING:
        _move(session, request, INVITING, ctx)
    _invite(session, request, outcome.lawyer, outcome.firm, outcome.decision.id, policy, ctx)


def _record_decision(session: Session, request: Request, decision: Any, ctx: Context) -> None:
    digest = hashlib.sha256(audit.canonical(decision.explanation).encode()).hexdigest()
    chosen = decision.explanation.get("chosen")
    audit.record(
        session,
        actor=ctx.actor,
        action=f"decision.{decision.kind}",
        entity_type="decision",
        entity_id=decision.id,
        request_id=request.id,
        payload={
            "chosen": chosen,
            "via_fallback": decision.via_fallback,
            "policy_version": decision.policy_version,
            "explanation_sha256": digest,
        },
    )


def _invite(
    session: Session,
    request: Request,
    lawyer: allocation.Invitee,
    firm: allocation.FirmRow,
    decision_id: int | None,
    policy: Policy,
    ctx: Context,
) -> Invitation:
    assert lawyer.id is not None and firm.id is not None and decision_id is not None
    deadline = utcnow() + timedelta(seconds=policy.deadline_s(request.urgency))
    # The answer link's token: only its hash is kept; the token itself leaves in the outbox
    # message that notifies the lawyer, and nowhere else (not in the audit, not in the log).
    answer_token = secrets.token_urlsafe(32)
    invitation = Invitation(
        request_id=request.id,
        lawyer_id=lawyer.id,
        firm_id=firm.id,
        decision_id=decision_id,
        deadline=deadline,
        answer_token_hash=hash_token(answer_token),
    )
    # Its id and columns are set here (no flush): it is written with the transaction's next.
    session.add(invitation)
    session.info.setdefault(_INVITED_KEY, {})[request.id] = InvitationOut(
        id=invitation.id,
        lawyer=lawyer.licence,
        firm=firm.code,
        deadline=deadline.isoformat(),
        delivery=invitation.delivery,
    )
    audit.record(
        session,
        actor=ctx.actor,
        action="invitation.sent",
        entity_type="invitation",
        entity_id=invitation.id,
        request_id=request.id,
        payload={
            "lawyer": lawyer.licence,
            "firm": firm.code,
            "deadline": deadline.isoformat(),
            "decision": decision_id,
        },
    )
    outbox.enqueue(
        session,
        kind=OutboxKind.INVITATION,
        target=lawyer.licence,
        payload={
            "invitation_id": invitation.id,
            "request_id": request.id,
            "case_number": request.case_number,
            "urgency": request.urgency,
            "deadline": deadline.isoformat(),
            "answer_token": answer_token,
        },
    )
    _notify_outbox(session, ctx)
    # The lawyer's open page shows the new invitation at once.
    events.lawyer_changed(session, lawyer.id, "invitation.sent")
    for armed in ctx.hooks.deadline_set:
        after_commit(session, lambda hook=armed: hook(invitation.id, deadline))  # type: ignore[misc]
    for sent in ctx.hooks.invitation_sent:
        after_commit(session, lambda hook=sent: hook(invitation))  # type: ignore[misc]
    return invitation


# --- the tablet -----------------------------------------------------------------------------


@dataclass(frozen=True)
class OpenedSession:
    token: str
    session: ChoiceSession


def open_choice_session(session: Session, request: Request, ctx: Context) -> OpenedSession:
    """A one-time tablet token with the regional list frozen as it will be shown."""
    request = lock_request(session, request.id)
    if request.kind != RequestKind.INVESTIGATION:
        raise Conflict("only investigation requests have a choice on the tablet")
    if request.status != AWAITING_CHOICE:
        raise Conflict(f"request is {request.status}; the choice is no longer open")
    policy = _policy_of(session, request, ctx)
    now = utcnow()
    # Every session after the first is a re-open: a few are a lost tablet or a slow suspect,
    # more would let an investigator fish for a list they like.
    reopens = session.exec(
        select(func.count())
        .select_from(ChoiceSession)
        .where(col(ChoiceSession.request_id) == request.id)
    ).one()
    if reopens > policy.choice.max_reopens:
        raise Conflict(
            f"the choice session was already re-opened {policy.choice.max_reopens} times"
        )
    # Only the newest session is usable: older unspent ones are superseded.
    _close_choice_sessions(session, request.id)
    decision, options = allocation.regional_list(session, request, policy, ctx.list_order())
    token = secrets.token_urlsafe(24)
    language = request.person_language if request.person_language in set(Language) else Language.AZ
    choice_session = ChoiceSession(
        request_id=request.id,
        token_hash=hash_token(token),
        language=language,
        options=list(options),
        decision_id=decision.id,
        expires_at=now + timedelta(seconds=policy.choice.session_ttl_s),
    )
    session.add(choice_session)
    session.flush()
    audit.record(
        session,
        actor=ctx.actor,
        action="choice_session.opened",
        entity_type="choice_session",
        entity_id=choice_session.id,
        request_id=request.id,
        payload={
            "options": [{"position": o["position"], "lawyer": o["lawyer"]} for o in options],
            "expires_at": choice_session.expires_at.isoformat(),
            "decision": decision.id,
            # The first opening is 0; the bar's report counts the others.
            **({"reopen": reopens} if reopens else {}),
        },
    )
    return OpenedSession(token, choice_session)


def _close_choice_sessions(session: Session, request_id: str) -> None:
    """Spend every unspent tablet token of the request."""
    unspent = (col(ChoiceSession.request_id) == request_id, col(ChoiceSession.spent_at).is_(None))
    closing = list(session.exec(_UNSPENT_TOKENS, params={"request_id": request_id}).all())
    session.execute(update(ChoiceSession).where(*unspent).values(spent_at=utcnow()))
    events.tablets_closed(session, closing)


def tablet_session(session: Session, token: str) -> ChoiceSession:
    """The live session behind a tablet token: 404 unknown, 410 spent or expired."""
    return _live_choice_session(session, token, lock=False)[0]


def _live_choice_session(
    session: Session, token: str, *, lock: bool
) -> tuple[ChoiceSession, Request]:
    """The live session behind a tablet token and its request, locked when `lock`."""
    found = session.exec(_CHOICE_SESSION_BY_TOKEN, params={"token_hash": hash_token(token)}).first()
    if found is None:
        raise NotFound("unknown tablet token")
    if found.spent_at is not None:
        raise Gone("this tablet link has already been used")
    if found.expires_at <= utcnow():
        raise Gone("this tablet link has expired")
    request = (
        session.get(Request, found.request_id, with_for_update=True, populate_existing=True)
        if lock
        else session.get(Request, found.request_id)
    )
    if request is None or request.status != AWAITING_CHOICE:
        raise Gone("the choice for this request is closed")
    return found, request


def tablet_receipt(session: Session, token: str) -> Choice | None:
    """The choice recorded with a tablet token, if any: what a spent token's page shows."""
    return session.exec(
        select(Choice)
        .join(ChoiceSession, col(ChoiceSession.id) == Choice.session_id)
        .where(ChoiceSession.token_hash == hash_token(token))
    ).first()


def record_choice(session: Session, token: str, data: ChoiceIn, ctx: Context) -> Request:
    """Record the suspect's choice (immutable), spend the token, then invite accordingly."""
    given = [k for k in ChoiceKind if getattr(data, k) not in (None, False)]
    if len(given) != 1:
        raise Invalid("lawyer", "give exactly one of lawyer, delegate (true) or own_counsel")
    # The request is read once, locked (what `lock_request` does).
    choice_session, request = _live_choice_session(session, token, lock=True)
    # Spend the token with a guarded update: two taps at once record one choice.
    spent = session.execute(
        update(ChoiceSession)
        .where(col(ChoiceSession.id) == choice_session.id, col(ChoiceSession.spent_at).is_(None))
        .values(spent_at=utcnow())
    )
    if spent.rowcount != 1:  # type: ignore[attr-defined]
        raise Gone("this tablet link has already been used")
    events.tablets_closed(session, [choice_session.token_hash])
    if request.status != AWAITING_CHOICE:
        raise Conflict(f"request is {request.status}; the choice is no longer open")
    sctx = Context(ctx.policies, f"suspect:{choice_session.id}", hooks=ctx.hooks)
    position: int | None = None
    lawyer: Lawyer | None = None
    if data.lawyer is not None:
        option = next((o for o in choice_session.options if o["lawyer"] == data.lawyer), None)
        if option is None:
            raise Invalid("lawyer", f"{data.lawyer} is not on the list shown")
        position = int(option["position"])
        lawyer = session.exec(select(Lawyer).where(Lawyer.licence == data.lawyer)).one()
    choice = Choice(
        request_id=request.id,
        session_id=choice_session.id,
        kind=ChoiceKind.LAWYER
        if lawyer
        else (ChoiceKind.DELEGATE if data.delegate else ChoiceKind.OWN_COUNSEL),
        lawyer_id=lawyer.id if lawyer else None,
        position=position,
        own_counsel=data.own_counsel,
        options=choice_session.options,
        language=data.language or choice_session.language,
    )
    session.add(choice)
    session.flush()
    audit.record(
        session,
        actor=sctx.actor,
        action="choice.recorded",
        entity_type="choice",
        entity_id=choice.id or 0,
        request_id=request.id,
        payload={
            "kind": choice.kind,
            "lawyer": data.lawyer,
            "position": position,
            "options": [o["lawyer"] for o in choice.options],
            "language": choice.language,
            "own_counsel_given": bool(data.own_counsel),
        },
    )
    if choice.kind == ChoiceKind.OWN_COUNSEL:
        _move(session, request, PRIVATE_COUNSEL, sctx)
        return request
    _move(session, request, INVITING, sctx)
    policy = _policy_of(session, request, ctx)
    if lawyer is not None:
        outcome = allocation.decide_choice(session, request, policy, lawyer)
        if isinstance(outcome, allocation.ChoiceRecorded):
            _record_decision(session, request, outcome.decision, sctx)
            _invite(session, request, lawyer, outcome.firm, outcome.decision.id, policy, sctx)
            return request
        invite_next(
            session,
            request,
            sctx,
            note=f"chosen lawyer {lawyer.licence} excluded: {outcome.reason}",
        )
        return request
    invite_next(session, request, sctx, note="the suspect let the system choose")
    return request


# --- the lawyer's answers -------------------------------------------------------------------


def _lawyer_invitation(session: Session, invitation_id: str, lawyer: Lawyer) -> Invitation:
    invitation = session.get(Invitation, invitation_id)
    if invitation is None or invitation.lawyer_id != lawyer.id:
        raise NotFound("invitation not found")
    return invitation


def _settle(
    session: Session, invitation: Invitation, status: InvitationStatus, **values: Any
) -> bool:
    """Move a pending invitation on, exactly once: the guard is in the UPDATE itself."""
    result = session.execute(
        update(Invitation)
        .where(
            col(Invitation.id) == invitation.id, col(Invitation.status) == InvitationStatus.PENDING
        )
        .values(status=status, answered_at=utcnow(), **values)
        # The same values land on the invitation in the session: no read back.
        .execution_options(synchronize_session="evaluate")
    )
    return bool(result.rowcount == 1)  # type: ignore[attr-defined]


def accept(
    session: Session,
    invitation_id: str,
    lawyer: Lawyer,
    ctx: Context,
    *,
    eta_minutes: int | None = None,
) -> Request:
    return accept_with_appointment(session, invitation_id, lawyer, ctx, eta_minutes=eta_minutes)[0]


def accept_with_appointment(
    session: Session,
    invitation_id: str,
    lawyer: Lawyer,
    ctx: Context,
    *,
    eta_minutes: int | None = None,
) -> tuple[Request, Appointment]:
    """Accept an invitation: the request, now assigned, and the appointment it opened.

    `eta_minutes`: the minutes the lawyer said they need to get there, when they said.
    """
    invitation = _lawyer_invitation(session, invitation_id, lawyer)
    request = lock_request(session, invitation.request_id)
    if invitation.status != InvitationStatus.PENDING:
        raise Conflict(f"invitation is {invitation.status}")
    if invitation.deadline <= utcnow():
        raise Conflict("the deadline to answer has passed")
    if not _settle(session, invitation, InvitationStatus.ACCEPTED):
        raise Conflict("invitation was answered meanwhile")
    appointment = Appointment(
        request_id=request.id,
        invitation_id=invitation.id,
        lawyer_id=invitation.lawyer_id,
        firm_id=invitation.firm_id,
        eta_minutes=eta_minutes,
    )
    session.add(appointment)
    session.flush()
    accepted: dict[str, Any] = {"appointment": appointment.id}
    if eta_minutes is not None:
        accepted["eta_minutes"] = eta_minutes
    audit.record(
        session,
        actor=ctx.actor,
        action="invitation.accepted",
        entity_type="invitation",
        entity_id=invitation.id,
        request_id=request.id,
        payload=accepted,
    )
    _move(session, request, ASSIGNED, ctx, appointment=appointment.id)
    return request, appointment


def decline(
    session: Session, invitation_id: str, lawyer: Lawyer, reason: str, ctx: Context
) -> Request:
    invitation = _lawyer_invitation(session, invitation_id, lawyer)
    request = lock_request(session, invitation.request_id)
    if invitation.status == InvitationStatus.PENDING and invitation.deadline <= utcnow():
        # Too late to decline: the deadline made it an expiry, which the bar counts apart.
        raise Conflict("the deadline to answer has passed")
    if not _settle(session, invitation, InvitationStatus.DECLINED, decline_reason=reason):
        raise Conflict(f"invitation is {invitation.status}")
    audit.record(
        session,
        actor=ctx.actor,
        action="invitation.declined",
        entity_type="invitation",
        entity_id=invitation.id,
        request_id=request.id,
        payload={"reason": reason},
    )
    _escalate(session, request, invitation, ctx)
    return request


def expire(session: Session, invitation_id: str, ctx: Context) -> bool:
    """Expire an overdue pending invitation and move the ladder on; False if nothing to do.

    Safe to call any number of times, from any number of processes: only the call whose
    guarded UPDATE moves the invitation escalates.
    """
    invitation = session.get(Invitation, invitation_id)
    if (
        invitation is None
        or invitation.status != InvitationStatus.PENDING
        or invitation.deadline > utcnow()
    ):
        return False
    request = lock_request(session, invitation.request_id)
    if not _settle(session, invitation, InvitationStatus.EXPIRED):
        return False
    audit.record(
        session,
        actor=ctx.actor,
        action="invitation.expired",
        entity_type="invitation",
        entity_id=invitation.id,
        request_id=request.id,
        payload={"deadline": invitation.deadline.isoformat()},
    )
    _pause_after_lapse(session, request, invitation, ctx)
    _escalate(session, request, invitation, ctx)
    return True


def _pause_after_lapse(
    session: Session, request: Request, invitation: Invitation, ctx: Context
) -> None:
    """Pause the lawyer when this lapse completes the policy's count, and audit the pause."""
    pause = allocation.after_lapse(
        session,
        lawyer_id=invitation.lawyer_id,
        now=utcnow(),
        policy=_policy_of(session, request, ctx),
    )
    if pause is None:
        return
    lawyer = session.get(Lawyer, invitation.lawyer_id)
    assert lawyer is not None
    audit.record(
        session,
        actor=ctx.actor,
        action="lawyer.paused",
        entity_type="lawyer",
        entity_id=lawyer.licence,
        request_id=request.id,
        payload={
            "from": pause.starts_at.isoformat(),
            "until": pause.ends_at.isoformat(),
            "lapses": pause.lapses,
        },
    )


def undeliverable(
    session: Session,
    invitation_id: str,
    ctx: Context,
    *,
    why: str,
    channels: list[str] | None = None,
) -> bool:
    """End a pending invitation that no channel could bring to its lawyer, and invite the next
    lawyer at once: it counts as an offer and uses up the firm's turn, as an expiry does.
    False if nothing to do (answered meanwhile, or done already: the guarded UPDATE decides)."""
    invitation = session.get(Invitation, invitation_id)
    if invitation is None or invitation.status != InvitationStatus.PENDING:
        return False
    request = lock_request(session, invitation.request_id)
    if not _settle(session, invitation, InvitationStatus.UNDELIVERABLE):
        return False
    audit.record(
        session,
        actor=ctx.actor,
        action="invitation.undeliverable",
        entity_type="invitation",
        entity_id=invitation.id,
        request_id=request.id,
        payload={"why": why, "channels": channels or []},
    )
    _escalate(session, request, invitation, ctx, why=why)
    return True


def _escalate(
    session: Session, request: Request, invitation: Invitation, ctx: Context, why: str | None = None
) -> None:
    if request.status != INVITING:
        return
    policy = _policy_of(session, request, ctx)
    from_choice = session.exec(
        _CHOSEN_LAWYER, params={"request_id": request.id, "lawyer_id": invitation.lawyer_id}
    ).first()
    if from_choice is not None and policy.choice.reoffer_on_decline:
        _move(session, request, AWAITING_CHOICE, ctx, reason="the chosen lawyer did not accept")
        return
    note = f"after {invitation.status} invitation {invitation.id}"
    invite_next(session, request, ctx, note=f"{note}: {why}" if why else note)


# --- cancel and close -----------------------------------------------------------------------


def cancel(session: Session, request: Request, ctx: Context) -> Request:
    request = lock_request(session, request.id)
    if CANCELLED not in TRANSITIONS[RequestStatus(request.status)]:
        raise Conflict(f"request is {request.status}; it cannot be cancelled")
    pending = session.exec(
        select(Invitation).where(
            Invitation.request_id == request.id, Invitation.status == InvitationStatus.PENDING
        )
    ).all()
    for invitation in pending:
        if _settle(session, invitation, InvitationStatus.WITHDRAWN):
            lawyer = session.get(Lawyer, invitation.lawyer_id)
            audit.record(
                session,
                actor=ctx.actor,
                action="invitation.withdrawn",
                entity_type="invitation",
                entity_id=invitation.id,
                request_id=request.id,
                payload={},
            )
            outbox.enqueue(
                session,
                kind=OutboxKind.INVITATION,
                target=lawyer.licence if lawyer else "",
                payload={
                    "invitation_id": invitation.id,
                    "request_id": request.id,
                    "withdrawn": True,
                },
            )
            _notify_outbox(session, ctx)
    _close_choice_sessions(session, request.id)
    open_appointment = session.exec(
        select(Appointment).where(
            Appointment.request_id == request.id, col(Appointment.closed_at).is_(None)
        )
    ).first()
    if open_appointment is not None:
        open_appointment.closed_at = utcnow()
        session.add(open_appointment)
    _move(session, request, CANCELLED, ctx)
    return request


def close_appointment(
    session: Session, appointment_id: str, lawyer: Lawyer, ctx: Context
) -> Appointment:
    appointment = session.get(Appointment, appointment_id)
    if appointment is None or appointment.lawyer_id != lawyer.id:
        raise NotFound("appointment not found")
    result = session.execute(
        update(Appointment)
        .where(col(Appointment.id) == appointment_id, col(Appointment.closed_at).is_(None))
        .values(closed_at=utcnow())
        .execution_options(synchronize_session="evaluate")
    )
    if result.rowcount != 1:  # type: ignore[attr-defined]
        raise Conflict("appointment is already closed")
    audit.record(
        session,
        actor=ctx.actor,
        action="appointment.closed",
        entity_type="appointment",
        entity_id=appointment.id,
        request_id=appointment.request_id,
        payload={},
    )
    return appointment


def lawyer_invitations(
    session: Session, lawyer: Lawyer, status: InvitationStatus | None
) -> list[LawyerInvitationOut]:
    """The lawyer's invitations (only those in `status` when given), newest first.

    Each carries where to go and whom to call; the person's name only while the invitation is
    pending or accepted (the lawyer who does not defend the person needs it no longer).
    """
    query = (
        select(Invitation, Request, Appointment.id, Place)
        .join(Request, col(Request.id) == Invitation.request_id)
        .outerjoin(Appointment, col(Appointment.invitation_id) == Invitation.id)
        .outerjoin(Place, col(Place.id) == Request.place_id)
        .where(Invitation.lawyer_id == lawyer.id)
        .order_by(col(Invitation.created_at).desc())
        .limit(500)
    )
    if status:
        query = query.where(Invitation.status == status)
    rows = session.exec(query).all()
    territory_ids = {place.territory_id for *_, place in rows if place is not None}
    territory_codes = dict(
        session.exec(
            select(Territory.id, Territory.code).where(col(Territory.id).in_(territory_ids))
        ).all()
        if territory_ids
        else []
    )
    return [
        LawyerInvitationOut(
            id=inv.id,
            request_id=req.id,
            status=inv.status,
            deadline=inv.deadline.isoformat(),
            case_number=req.case_number,
            urgency=req.urgency,
            category=req.category,
            language=req.person_language,
            juvenile=req.person_juvenile,
            decline_reason=inv.decline_reason,
            appointment=appointment_id,
            person_name=(
                req.person_name
                if inv.status in _NAME_SHOWN and req.personal_data_erased_at is None
                else None
            ),
            place=(
                registry.place_out(place, territory_codes[place.territory_id])
                if place is not None
                else None
            ),
            contact=contact_of(req),
            personal_data_erased=req.personal_data_erased_at is not None,
        )
        for inv, req, appointment_id, place in rows
    ]


# The invitations whose lawyer sees the person's name.
_NAME_SHOWN = frozenset({InvitationStatus.PENDING, InvitationStatus.ACCEPTED})


def lawyer_appointments(
    session: Session, lawyer: Lawyer, open_only: bool
) -> list[LawyerAppointmentOut]:
    """The lawyer's appointments (only the open ones when `open_only`), newest first."""
    query = (
        select(Appointment, Request)
        .join(Request, col(Request.id) == Appointment.request_id)
        .where(Appointment.lawyer_id == lawyer.id)
        .order_by(col(Appointment.opened_at).desc())
        .limit(500)
    )
    if open_only:
        query = query.where(col(Appointment.closed_at).is_(None))
    return [
        LawyerAppointmentOut(
            id=a.id,
            request_id=r.id,
            case_number=r.case_number,
            opened_at=a.opened_at.isoformat(),
            closed_at=a.closed_at.isoformat() if a.closed_at else None,
        )
        for a, r in session.exec(query).all()
    ]


def explanation(session: Session, request: Request) -> allocation.Explanation:
    """Every decision taken for the request, with its full explanation, in order."""
    decisions = session.exec(
        select(Decision).where(Decision.request_id == request.id).order_by(col(Decision.id))
    ).all()
    choices = session.exec(select(Choice).where(Choice.request_id == request.id)).all()
    return allocation.explained(request, list(decisions), list(choices))
