"""The event loop: demand and behaviour replayed through the real workflow on a virtual clock.

Every step is what the service does for a real request, in a unit of work of its own:
`workflow.create_request`, `open_choice_session` and `record_choice` for the tablet,
`accept` and `decline` for the lawyer's answer, `deadlines.expire_one` when a deadline
passes, `close_appointment` when a case ends, registry writes for leave and registered ties,
and the outbox delivered to a recording channel. The loop only decides *when* each happens
and *what* the people do; the rules, the ladder and the records are the domain's own.
"""

from __future__ import annotations

import heapq
import random
import sys
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import structlog
from sqlalchemy.engine import Engine
from sqlmodel import select
from typing_extensions import TypedDict

from dispatcher import deadlines, registry, schemas, tokens, workflow
from dispatcher.db import unit_of_work
from dispatcher.errors import DomainError
from dispatcher.models import Invitation, Lawyer, Request, Requester, Territory
from dispatcher.outbox import Courier
from dispatcher.simulation import behaviour
from dispatcher.simulation.clock import VirtualClock, replaying
from dispatcher.simulation.demand import (
    INVESTIGATORS_PER_TERRITORY,
    Arrival,
    court_name,
    draw_demand,
    investigator_name,
)
from policies.config import PolicyBook
from policies.vocabulary import LawyerStatus, RequestKind, Role, Urgency

log = structlog.get_logger(__name__)

OUTBOX_EVERY_S = 3600.0  # the courier's round, in simulated seconds
# After the last arrival, the ladders still running are followed this long.
WIND_DOWN_S = 2 * 86400.0


class RecordingChannel:
    """Where the simulated invitations go: counted, not sent."""

    def __init__(self) -> None:
        self.sent = 0

    def send(self, lawyer: str, message: dict[str, Any]) -> None:
        self.sent += 1


@dataclass(frozen=True)
class Steer:
    """An investigator whose suspects are steered to one lawyer whenever the list shows them."""

    requester: str
    lawyer: str


@dataclass
class Tally:
    """What the run did, for the summary and the progress line."""

    requests: int = 0
    steps: int = 0
    invitations: int = 0
    choices: Counter[str] = field(default_factory=Counter)
    refused: Counter[str] = field(default_factory=Counter)


def import_registry_if_empty(engine: Engine, data: registry.RegistryFile, actor: str) -> bool:
    """Load the registry into an empty database; True when it did."""
    with unit_of_work(engine) as session:
        if session.exec(select(Territory.id)).first() is not None:
            return False
        registry.import_registry(session, data, actor=actor)
        return True


def ensure_requesters(engine: Engine, data: registry.RegistryFile) -> dict[str, int]:
    """A court and numbered investigating bodies per territory; their ids by name."""
    with unit_of_work(engine) as session:
        known = {r.name: r.id for r in session.exec(select(Requester)).all()}
        for t in data.territories:
            wanted = [(Role.COURT, court_name(t.code))] + [
                (Role.INVESTIGATOR, investigator_name(t.code, n))
                for n in range(1, INVESTIGATORS_PER_TERRITORY + 1)
            ]
            for role, name in wanted:
                if name not in known:
                    tokens.create_token(
                        session, role=role, name=name, territories=[t.code], actor="simulation"
                    )
        return {r.name: r.id for r in session.exec(select(Requester)).all() if r.id is not None}


class ReplaySummary(TypedDict):
    """What a replay did, in numbers (its speed apart from the registry's loading: `replay_`)."""

    days: int
    seed: int
    requests: int
    steps: int
    invitations: int
    notifications_delivered: int
    choices: dict[str, int]
    refused_steps: dict[str, int]
    wall_s: float
    requests_per_s: float | None
    replay_s: float
    replay_requests_per_s: float | None


class Simulation:
    """One run: a registry in a database, a policy book, a demand, people and a clock."""

    def __init__(
        self,
        engine: Engine,
        policies: PolicyBook,
        data: registry.RegistryFile,
        *,
        days: int,
        seed: int,
        start: datetime,
        steer: Steer | None = None,
        requests_per_year: float | None = None,
        progress: bool = False,
        deliver_outbox: bool = True,
        on_day: Callable[[int], None] | None = None,
    ) -> None:
        self.engine = engine
        self.policies = policies
        self.data = data
        self.days = days
        self.seed = seed
        self.clock = VirtualClock(start)
        self.steer = steer
        self.progress = progress
        self.deliver_outbox = deliver_outbox
        self.on_day = on_day
        self.arrivals = draw_demand(
            data,
            days=days,
            seed=seed,
            start=start,
            timezone=policies.default.timezone,
            requests_per_year=requests_per_year,
        )
        self.lists = random.Random(f"{seed}:lists")
        people = random.Random(f"{seed}:habits")
        self.habits = {lw.licence: behaviour.draw_habits(people) for lw in data.lawyers}
        self.channel = RecordingChannel()
        self.courier = Courier(engine, channel=self.channel)
        self.tally = Tally()
        self._queue: list[tuple[float, int, str, tuple[Any, ...]]] = []
        self._seq = 0
        self._armed: list[Invitation] = []
        # The replay hears of each invitation sent after its commit, instead of reading it back.
        self.hooks = workflow.Hooks(invitation_sent=(self._armed.append,))
        self._answered: set[str] = set()
        self._lawyer_ids: dict[str, int] = {}
        self._licences: dict[int, str] = {}
        # The lawyers as loaded at the start, detached: a lawyer's answer is checked against
        # the invitation by id alone, so no step reads the lawyer again for it.
        self._lawyers: dict[int, Lawyer] = {}
        self._requesters: dict[str, Requester] = {}  # detached: only their ids are read
        self._requester_of: dict[str, str] = {}
        self._ref_of: dict[str, str] = {}  # request id -> the arrival's reference
        self._urgency_of: dict[str, str] = {}  # request id -> its urgency
        self._visits: Counter[str] = Counter()  # tablet hand-overs so far, by request
        self._leaves = self._draw_leaves(random.Random(f"{seed}:leave"))

    # --- set-up ---------------------------------------------------------------------------

    def _draw_leaves(self, rng: random.Random) -> list[tuple[float, float, str]]:
        leaves = []
        for lawyer in self.data.lawyers:
            if (
                lawyer.status == LawyerStatus.ACTIVE
                and rng.random() < behaviour.LEAVE_SHARE * self.days / 365
            ):
                begin = rng.uniform(0, self.days * 86400.0)
                length = rng.randint(*behaviour.LEAVE_DAYS) * 86400.0
                leaves.append((begin, begin + length, lawyer.licence))
        return leaves

    def _prepare(self) -> None:
        import_registry_if_empty(self.engine, self.data, "simulation")
        ensure_requesters(self.engine, self.data)
        with unit_of_work(self.engine) as session:
            self._requesters = {r.name: r for r in session.exec(select(Requester)).all()}
            for lawyer in session.exec(select(Lawyer)).all():
                assert lawyer.id is not None
                self._lawyer_ids[lawyer.licence] = lawyer.id
                self._licences[lawyer.id] = lawyer.licence
                self._lawyers[lawyer.id] = lawyer

    def _at(self, at_s: float, kind: str, *args: Any) -> None:
        self._seq += 1
        heapq.heappush(self._queue, (at_s, self._seq, kind, args))

    def _draw(self, kind: str, *keys: str) -> random.Random:
        """The generator of one person's draws about one request.

        Keyed by what they are about (this suspect at this hand-over, this lawyer asked about
        this request), not by the order of events: every rule meets the same suspects, and a
        lawyer asked about the same request answers it the same way, whatever the rule did
        before (common random numbers, so the rules' figures differ by the rules alone).
        """
        return random.Random(f"{self.seed}:{kind}:{':'.join(keys)}")

    def _ctx(self, actor: str) -> workflow.Context:
        return workflow.Context(self.policies, actor, shuffle=self.lists, hooks=self.hooks)

    # --- the run --------------------------------------------------------------------------

    def run(self) -> ReplaySummary:
        """Replay the whole period; returns what happened in numbers."""
        started = time.perf_counter()
        with replaying(self.clock):
            self._prepare()
            prepared = time.perf_counter()
            for arrival in self.arrivals:
                self._at(arrival.at_s, "arrival", arrival)
            for begin, end, licence in self._leaves:
                self._at(begin, "leave", licence, LawyerStatus.ON_LEAVE)
                self._at(end, "leave", licence, LawyerStatus.ACTIVE)
            if self.deliver_outbox:
                self._at(OUTBOX_EVERY_S, "outbox")
            self._loop(started)
        ended = time.perf_counter()
        wall = ended - started
        replay = ended - prepared
        return {
            "days": self.days,
            "seed": self.seed,
            "requests": self.tally.requests,
            "steps": self.tally.steps,
            "invitations": self.tally.invitations,
            "notifications_delivered": self.channel.sent,
            "choices": dict(sorted(self.tally.choices.items())),
            "refused_steps": dict(sorted(self.tally.refused.items())),
            "wall_s": round(wall, 2),
            "requests_per_s": round(self.tally.requests / wall, 1) if wall else None,
            # The replay alone, without loading the registry into the empty database.
            "replay_s": round(replay, 2),
            "replay_requests_per_s": round(self.tally.requests / replay, 1) if replay else None,
        }

    def _loop(self, started: float) -> None:
        end_s = self.days * 86400.0
        stop_s = end_s + WIND_DOWN_S
        day = 0
        handlers: dict[str, Callable[..., None]] = {
            "arrival": self._arrival,
            "tablet": self._tablet,
            "choice": self._choice,
            "answer": self._answer,
            "deadline": self._deadline,
            "close": self._close,
            "leave": self._leave,
            "outbox": self._outbox,
        }
        while self._queue:
            at_s, _seq, kind, args = heapq.heappop(self._queue)
            if at_s > stop_s or (at_s >= end_s and kind in ("close", "leave", "outbox")):
                continue
            self.clock.move_to(self.clock.at(at_s) if kind != "deadline" else args[1])
            while at_s >= (day + 1) * 86400.0 and day < self.days:
                day += 1
                if self.on_day is not None:
                    self.on_day(day)
                if self.progress and (day % 10 == 0 or day == self.days):
                    wall = time.perf_counter() - started
                    print(
                        f"day {day}/{self.days}: {self.tally.requests} requests, "
                        f"{self.tally.invitations} invitations, {wall:.1f} s",
                        file=sys.stderr,
                        flush=True,
                    )
            self.tally.steps += 1
            handlers[kind](*args)
            self._arm(at_s)

    def _arm(self, now_s: float) -> None:
        """Give each invitation sent in the last step to its lawyer, and mind its deadline."""
        if not self._armed:
            return
        armed = self._armed.copy()
        self._armed.clear()
        for invitation in armed:
            # The invitation as sent, read in the step's own transaction: no query here.
            invitation_id, deadline = invitation.id, invitation.deadline
            lawyer_id, request_id = invitation.lawyer_id, invitation.request_id
            urgency = self._urgency_of.get(request_id) or self._read_urgency(request_id)
            self.tally.invitations += 1
            licence = self._licences[lawyer_id]
            habits = self.habits[licence]
            asked = self._draw("answer", licence, self._ref_of.get(request_id, request_id))
            reply = behaviour.answer(habits, urgency, asked)
            left_s = (deadline - self.clock.now).total_seconds()
            if reply.action is not None and reply.after_s < left_s - 1.0:
                self._at(now_s + reply.after_s, "answer", invitation_id, lawyer_id, reply.action)
            self._at(self.clock.elapsed_s(deadline), "deadline", invitation_id, deadline)

    def _read_urgency(self, request_id: str) -> str:
        """The urgency of a request this run did not open (a database replayed into again)."""
        with unit_of_work(self.engine) as session:
            request = session.get(Request, request_id)
            assert request is not None
            self._urgency_of[request_id] = request.urgency
            return request.urgency

    # --- the steps ------------------------------------------------------------------------

    def _arrival(self, arrival: Arrival) -> None:
        if arrival.tied_lawyer is not None:
            with unit_of_work(self.engine) as session:
                registry.save_conflict(
                    session,
                    registry.ConflictIn(
                        lawyer=arrival.tied_lawyer,
                        case_number=arrival.case_number,
                        role="victim_counsel",
                    ),
                    actor="admin:simulation",
                )
        role = Role.COURT if arrival.kind == RequestKind.COURT_ORDER else Role.INVESTIGATOR
        body = schemas.RequestIn.model_validate(arrival.body())
        with unit_of_work(self.engine) as session:
            request, _ = workflow.create_request(
                session,
                body,
                requester=self._requesters[arrival.requester],
                ctx=self._ctx(f"{role}:{arrival.requester}"),
            )
            request_id = request.id
        self.tally.requests += 1
        self._requester_of[request_id] = arrival.requester
        self._ref_of[request_id] = arrival.ref
        self._urgency_of[request_id] = request.urgency
        if arrival.kind == RequestKind.INVESTIGATION:
            self._tablet_again(request_id, arrival.requester, arrival.urgency)

    def _tablet(self, request_id: str, requester: str) -> None:
        ctx = self._ctx(f"investigator:{requester}")
        with unit_of_work(self.engine) as session:
            request = session.get(Request, request_id)
            if request is None or request.status != workflow.AWAITING_CHOICE:
                return
            opened = workflow.open_choice_session(session, request, ctx)
            options = list(opened.session.options)
        steered = (
            self.steer.lawyer
            if self.steer is not None and self.steer.requester == requester
            else None
        )
        ref, visit = self._ref_of[request_id], str(self._visits[request_id])
        # The time taken apart from the choice: lists of other lengths take other draws.
        delay = behaviour.choice_delay_s(self._draw("choosing", ref, visit))
        answer = behaviour.choose(options, self._draw("suspect", ref, visit), steered_to=steered)
        self.tally.choices[next(iter(answer))] += 1
        self._at(
            self.clock.elapsed_s() + delay, "choice", request_id, requester, opened.token, answer
        )

    def _choice(
        self, request_id: str, requester: str, token: str, answer: behaviour.TabletAnswer
    ) -> None:
        try:
            with unit_of_work(self.engine) as session:
                request = workflow.record_choice(
                    session, token, schemas.ChoiceIn.model_validate(answer), self._ctx("tablet")
                )
                waiting = request.status == workflow.AWAITING_CHOICE
                urgency = request.urgency
        except DomainError as exc:
            self.tally.refused[f"choice:{type(exc).__name__}"] += 1
            self._back_to_tablet(request_id, requester)
            return
        # Read in the choice's own transaction: no second one to learn the request's state.
        if waiting:
            self._tablet_again(request_id, requester, urgency)

    def _back_to_tablet(self, request_id: str, requester: str) -> None:
        """When the rules hand the choice back to the suspect, the investigator does so."""
        with unit_of_work(self.engine) as session:
            request = session.get(Request, request_id)
            waiting = request is not None and request.status == workflow.AWAITING_CHOICE
            urgency = request.urgency if request is not None else Urgency.STANDARD
        if waiting:
            self._tablet_again(request_id, requester, urgency)

    def _tablet_again(self, request_id: str, requester: str, urgency: str) -> None:
        self._visits[request_id] += 1
        visit = str(self._visits[request_id])
        delay = behaviour.tablet_delay_s(
            urgency, self._draw("tablet", self._ref_of[request_id], visit)
        )
        self._at(self.clock.elapsed_s() + delay, "tablet", request_id, requester)

    def _answer(self, invitation_id: str, lawyer_id: int, action: str) -> None:
        licence = self._licences[lawyer_id]
        ctx = self._ctx(f"lawyer:{licence}")
        try:
            with unit_of_work(self.engine) as session:
                lawyer = self._lawyers[lawyer_id]
                if action == "accept":
                    request, appointment = workflow.accept_with_appointment(
                        session, invitation_id, lawyer, ctx
                    )
                    appointment_id = appointment.id
                    self._at(
                        self.clock.elapsed_s()
                        + behaviour.case_length_s(
                            self._draw("case", self._ref_of.get(request.id, request.id))
                        ),
                        "close",
                        appointment_id,
                        lawyer_id,
                    )
                else:
                    request = workflow.decline(session, invitation_id, lawyer, "busy", ctx)
                request_id = request.id
                # Read in the answer's own transaction: no second one to learn the state.
                waiting = request.status == workflow.AWAITING_CHOICE
                urgency = request.urgency
        except DomainError as exc:
            # Withdrawn or expired meanwhile: the lawyer's answer came too late.
            self.tally.refused[f"{action}:{type(exc).__name__}"] += 1
            return
        self._answered.add(invitation_id)
        if action == "decline" and self.policies.default.choice.reoffer_on_decline and waiting:
            self._tablet_again(request_id, self._requester_of.get(request_id, ""), urgency)

    def _deadline(self, invitation_id: str, deadline: datetime) -> None:
        if invitation_id in self._answered:
            self._answered.discard(invitation_id)
            return
        deadlines.expire_one(self.engine, self.policies, invitation_id, self.hooks)

    def _close(self, appointment_id: str, lawyer_id: int) -> None:
        licence = self._licences[lawyer_id]
        try:
            with unit_of_work(self.engine) as session:
                lawyer = self._lawyers[lawyer_id]
                workflow.close_appointment(
                    session, appointment_id, lawyer, self._ctx(f"lawyer:{licence}")
                )
        except DomainError as exc:
            self.tally.refused[f"close:{type(exc).__name__}"] += 1

    def _leave(self, licence: str, status: str) -> None:
        entry = next(lw for lw in self.data.lawyers if lw.licence == licence)
        with unit_of_work(self.engine) as session:
            registry.save_lawyer(
                session, entry.model_copy(update={"status": status}), actor="admin:simulation"
            )

    def _outbox(self) -> None:
        while self.courier.deliver_due(limit=500):
            pass
        self._at(self.clock.elapsed_s() + OUTBOX_EVERY_S, "outbox")
