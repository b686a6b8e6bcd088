"""How people behave in the simulation: lawyers answering invitations, suspects choosing.

Each lawyer gets habits once, from the seed: how often they let an invitation go unanswered,
how often they decline, and how fast they answer. Most answer; about one in five is
unreliable. Suspects choose on the tablet as suspects do: some by position on the list (the
first name most of all), some at random, many let the system choose, a few have their own
lawyer. All draws come from generators the run owns, so a seed replays the same people.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from typing import Literal

from typing_extensions import TypedDict

from dispatcher.models import TabletOption
from policies.vocabulary import ChoiceKind, Urgency

UNRELIABLE_SHARE = 0.2
# Median seconds to answer, by urgency, for a lawyer of average speed.
MEDIAN_ANSWER_S: dict[str, float] = {Urgency.DETENTION: 240.0, Urgency.STANDARD: 2400.0}
ANSWER_SPREAD = 0.9  # sigma of the log-normal answer time
# How long an appointment stays open (median days, log-normal).
MEDIAN_CASE_DAYS = 14.0
CASE_SPREAD = 0.8
# The investigator hands over the tablet after this (median seconds), the suspect takes
# between the two bounds to choose.
MEDIAN_TABLET_S: dict[str, float] = {Urgency.DETENTION: 600.0, Urgency.STANDARD: 1800.0}
CHOICE_S = (60.0, 300.0)
# How suspects choose: (way, probability).
SUSPECT_WAYS: tuple[tuple[str, float], ...] = (
    (ChoiceKind.OWN_COUNSEL, 0.08),
    (ChoiceKind.DELEGATE, 0.37),
    ("position", 0.30),
    ("random", 0.25),
)
# A suspect who chooses by position takes the first name this often, else the next ones.
FIRST_POSITION = 0.6
LEAVE_SHARE = 0.3  # lawyers who take one leave during a year
LEAVE_DAYS = (7, 21)


@dataclass(frozen=True)
class Habits:
    """One lawyer's way of answering."""

    ignores: float  # probability of letting an invitation expire
    declines: float  # probability of declining when answering
    speed: float  # multiplies the median answer time


def draw_habits(rng: random.Random) -> Habits:
    unreliable = rng.random() < UNRELIABLE_SHARE
    ignores = rng.uniform(0.2, 0.5) if unreliable else rng.uniform(0.01, 0.06)
    return Habits(
        ignores=ignores,
        declines=rng.uniform(0.05, 0.25),
        speed=math.exp(rng.gauss(0.0, 0.5)),
    )


@dataclass(frozen=True)
class Answer:
    """What the lawyer will do with one invitation, and when (None: never answers)."""

    action: Literal["accept", "decline"] | None
    after_s: float


def answer(habits: Habits, urgency: str, rng: random.Random) -> Answer:
    if rng.random() < habits.ignores:
        return Answer(None, math.inf)
    median = MEDIAN_ANSWER_S.get(urgency, MEDIAN_ANSWER_S[Urgency.STANDARD]) * habits.speed
    after = median * math.exp(rng.gauss(0.0, ANSWER_SPREAD))
    return Answer("decline" if rng.random() < habits.declines else "accept", after)


def case_length_s(rng: random.Random) -> float:
    return MEDIAN_CASE_DAYS * 86400.0 * math.exp(rng.gauss(0.0, CASE_SPREAD))


def tablet_delay_s(urgency: str, rng: random.Random) -> float:
    median = MEDIAN_TABLET_S.get(urgency, MEDIAN_TABLET_S[Urgency.STANDARD])
    return median * math.exp(rng.gauss(0.0, 0.6))


def choice_delay_s(rng: random.Random) -> float:
    return rng.uniform(*CHOICE_S)


class TabletAnswer(TypedDict, total=False):
    """What the tablet posts: exactly one of the three (`ChoiceIn`'s fields)."""

    lawyer: str
    delegate: bool
    own_counsel: str


def choose(
    options: list[TabletOption],
    rng: random.Random,
    *,
    steered_to: str | None = None,
) -> TabletAnswer:
    """The suspect's answer on the tablet, as the tablet would post it.

    `steered_to` is the lawyer an investigator pushes: the suspect takes that lawyer whenever
    the list shows them (a pocket lawyer, for the bar's detector to find).
    """
    licences = [o["lawyer"] for o in sorted(options, key=lambda o: o["position"])]
    if steered_to is not None and steered_to in licences:
        return {"lawyer": steered_to}
    roll = rng.random()
    way = SUSPECT_WAYS[-1][0]
    for name, p in SUSPECT_WAYS:
        if roll < p:
            way = name
            break
        roll -= p
    if way == ChoiceKind.OWN_COUNSEL:
        return {"own_counsel": "Private Counsel"}
    if way == ChoiceKind.DELEGATE or not licences:
        return {"delegate": True}
    if way == "position":
        index = 0
        while index + 1 < len(licences) and rng.random() >= FIRST_POSITION:
            index += 1
        return {"lawyer": licences[index]}
    return {"lawyer": licences[rng.randrange(len(licences))]}
