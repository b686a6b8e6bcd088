"""A duty rota as a CP-SAT model: plain data in (`RotaInput`), a plan out (`RotaPlan`).

The plan is solved with every rule as plain constraints (the solver's linear relaxation sees
them whole, which is what makes proofs quick). When the rules cannot all hold, each rule
becomes one group of constraints behind one assumption literal, the solver names a sufficient
set of groups (`AddAssumptions`, `SufficientAssumptionsForInfeasibility`), each group of it is
dropped in turn while the rest still cannot hold, and the plan says it in an administrator's
words ("3 Russian speakers cannot cover 28 nights within the weekly cap of 4 duties") rather
than guessing. Firm shares (every firm within 1 duty of its weight share; under 1 where the
other rules allow) are hard while the other rules allow them; when they do not, the plan is
made with the largest deviation as small as possible and says so. A complete greedy plan,
when the greedy finds one, is the solver's starting hint.
"""

from __future__ import annotations

import math
import time
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from enum import StrEnum
from typing import NotRequired
from zoneinfo import ZoneInfo

from ortools.sat.python import cp_model
from typing_extensions import TypedDict

from policies.config import Rota as RotaPolicy
from policies.vocabulary import RotaOutcome, RotaPart, RotaProblem

LANGUAGE_NAMES = {
    "az": "Azerbaijani",
    "ru": "Russian",
    "en": "English",
    "tr": "Turkish",
    "ka": "Georgian",
}


@dataclass(frozen=True)
class Slot:
    """One duty slot: `need` lawyers on duty from `start` to `end` (aware, local time)."""

    index: int
    start: datetime
    end: datetime
    night: bool
    weekend: bool
    week: int
    need: int


@dataclass(frozen=True)
class RotaLawyer:
    """What the planner knows of one lawyer who may be put on duty."""

    licence: str
    firm: str
    languages: frozenset[str]
    juvenile: bool
    # Leave: no duty overlapping these intervals.
    leave: tuple[tuple[datetime, datetime], ...] = ()
    # Approved duties in other territories: no duty overlapping them or within the rest.
    elsewhere: tuple[tuple[datetime, datetime], ...] = ()
    no_nights: bool = False
    no_weekends: bool = False


@dataclass(frozen=True)
class RotaInput:
    """Everything one plan is made from."""

    territory: str
    slots: tuple[Slot, ...]
    lawyers: tuple[RotaLawyer, ...]
    firm_weights: dict[str, int]
    night_languages: tuple[str, ...]
    juvenile_each_slot: bool
    rest_hours: int
    weekly_cap: int


@dataclass(frozen=True)
class SolverSettings:
    time_limit_s: float
    num_workers: int
    presolve: bool


class Spread(TypedDict):
    min: int
    max: int


class FirmFigure(TypedDict):
    firm: str
    weight: int
    share: float
    duties: int
    deviation: float


class Figures(TypedDict):
    """A plan's fairness figures (the same for a greedy plan and a solved one)."""

    slots: int
    duties: int
    lawyers: int
    firms: list[FirmFigure]
    firm_deviation_max: float
    totals: Spread
    nights: Spread
    weekends: Spread
    hinted: bool
    # Over every territory: the same lawyers' duties here plus their approved duties in other
    # territories during the period (min and max both over the `takes_all` lawyers). Rotas
    # planned before these figures existed lack them.
    totals_overall: NotRequired[Spread]
    nights_overall: NotRequired[Spread]


ProblemValue = str | int | float


@dataclass(frozen=True)
class Part:
    """One phrase of a problem: a subject that cannot be covered, or a limit (`RotaPart`)."""

    key: RotaPart
    values: Mapping[str, ProblemValue] = field(default_factory=dict)

    def text(self) -> str:
        """The phrase in English, as the CLI and the API say it."""
        v = self.values
        match self.key:
            case RotaPart.NO_LAWYERS:
                return (
                    f"no lawyer serves {v['territory']}, so its {v['slots']} slots cannot be filled"
                )
            case RotaPart.NO_SPEAKER:
                return (
                    f"no {_language(v['language'])} speaker serves {v['territory']}, "
                    f"so {v['nights']} nights cannot have one"
                )
            case RotaPart.SPEAKERS:
                n = int(v["count"])
                return (
                    f"{n} {_language(v['language'])} speaker{'s' if n != 1 else ''} "
                    f"cannot cover {v['nights']} nights"
                )
            case RotaPart.JUVENILE:
                n = int(v["count"])
                return (
                    f"{n} juvenile specialist{'s' if n != 1 else ''} cannot cover "
                    f"{v['slots']} slots"
                )
            case RotaPart.LAWYERS:
                n = int(v["count"])
                return (
                    f"{n} lawyer{'s' if n != 1 else ''} cannot fill {v['duties']} duties "
                    f"in {v['slots']} slots"
                )
            case RotaPart.FIRM_SHARES:
                return "every firm cannot be within 1 duty of its share"
            case RotaPart.UNPLANNABLE:
                return f"the rota of {v['territory']} cannot be planned"
            case RotaPart.WEEKLY_CAP:
                return f"the weekly cap of {v['cap']} duties"
            case RotaPart.REST:
                return f"{v['hours']} hours' rest between duties"
            case RotaPart.AVAILABILITY:
                return "their leave, opt-outs and duties in other territories"
            case RotaPart.FIRM_SHARE:
                return "every firm within 1 duty of its share"


def _language(code: ProblemValue) -> str:
    return LANGUAGE_NAMES.get(str(code), str(code))


@dataclass(frozen=True)
class Problem:
    """What the planner says of a rota it could not make as the rules ask: a key
    (`RotaProblem`) and values, so that a page can say it in its reader's language; `text()`
    is the English of the CLI and the API."""

    key: RotaProblem
    values: Mapping[str, ProblemValue] = field(default_factory=dict)
    # For a conflict of rules: what cannot be covered, and the limits it cannot be within.
    subjects: tuple[Part, ...] = ()
    limits: tuple[Part, ...] = ()

    def conflict(self) -> str:
        text = "; ".join(p.text() for p in self.subjects)
        if self.limits:
            words = [p.text() for p in self.limits]
            text += " within " + (
                words[0] if len(words) == 1 else ", ".join(words[:-1]) + " and " + words[-1]
            )
        return text[:1].upper() + text[1:]

    def text(self) -> str:
        """The problem in English, as the CLI and the API say it."""
        v = self.values
        match self.key:
            case RotaProblem.RULES_CONFLICT:
                return self.conflict()
            case RotaProblem.FIRM_SHARES_RELAXED:
                return (
                    f"{self.conflict()}: firm duties are planned as close to their shares as "
                    "possible"
                )
            case RotaProblem.NOT_FOUND_IN_TIME:
                return (
                    f"No rota of {v['territory']} was found within {v['seconds']:g} s: not "
                    "proven infeasible, the time ran out before a rota was found or shown "
                    "impossible (plan again with a longer time limit)"
                )
            case RotaProblem.NOT_EXPLAINED_IN_TIME:
                return (
                    f"The rules of the rota of {v['territory']} cannot all hold, and the time "
                    "ran out before the planner could name which"
                )

    def as_json(self) -> dict[str, object]:
        """How a rota keeps it (`Rota.problems`): the English beside the key and values."""
        return {
            "text": self.text(),
            "key": str(self.key),
            "values": dict(self.values),
            "subjects": [{"key": str(p.key), "values": dict(p.values)} for p in self.subjects],
            "limits": [{"key": str(p.key), "values": dict(p.values)} for p in self.limits],
        }


@dataclass(frozen=True)
class RotaPlan:
    status: RotaOutcome
    solve_s: float
    assignments: tuple[tuple[str, Slot], ...]  # (licence, slot)
    figures: Figures | None
    problems: tuple[Problem, ...]


def _clock(text: str) -> tuple[int, int]:
    hours, minutes = text.split(":")
    return int(hours), int(minutes)


def is_night(begins: datetime, policy: RotaPolicy) -> bool:
    """Whether a slot starting at `begins` (local time) is a night slot."""
    night_from = _clock(policy.night_from)
    night_until = _clock(policy.night_until)
    at = (begins.hour, begins.minute)
    if night_from > night_until:
        return at >= night_from or at < night_until
    return night_from <= at < night_until


def make_slots(first_day: date, days: int, timezone: str, policy: RotaPolicy) -> tuple[Slot, ...]:
    """The period's slots: back to back from `first_slot` local time on `first_day`."""
    zone = ZoneInfo(timezone)
    hour, minute = _clock(policy.first_slot)
    start = datetime(first_day.year, first_day.month, first_day.day, hour, minute, tzinfo=zone)
    length = timedelta(hours=policy.slot_hours)
    slots = []
    for i in range(days * 24 // policy.slot_hours):
        begins = (start.astimezone(ZoneInfo("UTC")) + i * length).astimezone(zone)
        night = is_night(begins, policy)
        slots.append(
            Slot(
                index=i,
                start=begins,
                end=(begins.astimezone(ZoneInfo("UTC")) + length).astimezone(zone),
                night=night,
                weekend=begins.weekday() >= 5,
                week=(begins.date() - first_day).days // 7,
                need=policy.lawyers_per_night_slot if night else policy.lawyers_per_day_slot,
            )
        )
    return tuple(slots)


def available(lawyer: RotaLawyer, slot: Slot, rest: timedelta) -> bool:
    """Whether the lawyer may be on duty in the slot (leave, opt-outs, duties elsewhere)."""
    if lawyer.no_nights and slot.night:
        return False
    if lawyer.no_weekends and slot.weekend:
        return False
    if any(slot.start < b and a < slot.end for a, b in lawyer.leave):
        return False
    return not any(slot.start < b + rest and a < slot.end + rest for a, b in lawyer.elsewhere)


def can_serve_alone(lawyer: RotaLawyer, slot: Slot, data: RotaInput, *, languages: bool) -> bool:
    """Whether the lawyer may be the slot's only lawyer on duty: with one lawyer a slot, every
    slot needs a juvenile specialist where the policy asks and, with `languages`, a night needs
    a speaker of every night language."""
    if slot.need != 1:
        return True
    if (
        languages
        and slot.night
        and not all(language in lawyer.languages for language in data.night_languages)
    ):
        return False
    return lawyer.juvenile or not data.juvenile_each_slot


def takes_all(lawyer: RotaLawyer, slots: Sequence[Slot], data: RotaInput) -> bool:
    """Whether the lawyer may take every one of the slots but for duties in other territories
    (which `duties_elsewhere` counts instead): the lawyers over whom a spread's minimum is
    taken. The night languages count only for a spread of nights alone (a lawyer who speaks
    none of them still takes their share of all duties and of weekends, by day)."""
    rest = timedelta(hours=data.rest_hours)
    here = replace(lawyer, elsewhere=())
    languages = all(s.night for s in slots)
    return all(
        available(here, s, rest) and can_serve_alone(lawyer, s, data, languages=languages)
        for s in slots
    )


def duties_elsewhere(lawyer: RotaLawyer, slots: Sequence[Slot]) -> int:
    """The lawyer's approved duties in other territories that overlap the slots: counted with
    the duties planned here in the spreads' minimum, so that a lawyer serving several
    territories still holds the others' duties up."""
    return sum(1 for a, b in lawyer.elsewhere if any(a < s.end and s.start < b for s in slots))


def week_room(lawyer: RotaLawyer, slots: Sequence[Slot], cap: int) -> dict[int, int]:
    """How many duties the lawyer may still take in each week of the plan under the weekly
    cap, which counts the lawyer's duties in every territory: the approved duties elsewhere
    that start in the week (weeks counted from the plan's first slot) come off the cap."""
    if not slots:
        return {}
    first = slots[0].start
    weeks = sorted({s.week for s in slots})
    room = {}
    for week in weeks:
        begins, ends = first + timedelta(days=7 * week), first + timedelta(days=7 * (week + 1))
        taken = sum(1 for a, _ in lawyer.elsewhere if begins <= a < ends)
        room[week] = max(0, cap - taken)
    return room


def over_weekly_cap(
    first: datetime,
    last: datetime,
    here: Sequence[tuple[int, datetime]],
    elsewhere: Mapping[int, Sequence[tuple[datetime, datetime]]],
    cap: int,
) -> tuple[int, int, int] | None:
    """A lawyer whose duties here (lawyer, start) and approved duties elsewhere starting in the
    same week (weeks counted from `first`, the rota's start, up to `last`) exceed the weekly
    cap: (lawyer, week from 0, duties), the first such by lawyer and week; None if none does.
    Weeks without a duty here are the other rotas' business."""
    week = timedelta(days=7)
    counts: dict[tuple[int, int], int] = defaultdict(int)
    for lawyer, start in here:
        counts[lawyer, (start - first) // week] += 1
    for lawyer in {lawyer for lawyer, _ in here}:
        for start, _end in elsewhere.get(lawyer, ()):
            if first <= start < last and (lawyer, (start - first) // week) in counts:
                counts[lawyer, (start - first) // week] += 1
    over = sorted((key, n) for key, n in counts.items() if n > cap)
    return None if not over else (over[0][0][0], over[0][0][1], over[0][1])


def rest_span(rest_hours: int, slot_hours: float) -> int:
    """How many slots apart two duties of one lawyer must at least be, minus one."""
    return math.ceil(rest_hours / slot_hours) if rest_hours > 0 else 0


class _Rule(StrEnum):
    COVER = "cover"
    LANGUAGE = "language"
    JUVENILE = "juvenile"
    REST = "rest"
    WEEKLY_CAP = "weekly_cap"
    FIRM_SHARE = "firm_share"
    AVAILABILITY = "availability"


@dataclass
class _Built:
    model: cp_model.CpModel
    x: dict[tuple[int, int], cp_model.IntVar]  # (lawyer index, slot index)
    rules: dict[tuple[_Rule, str], cp_model.IntVar]


def _slot_hours(data: RotaInput) -> float:
    first = data.slots[0]
    return (first.end - first.start).total_seconds() / 3600


def _build(
    data: RotaInput,
    *,
    firm_share_hard: bool,
    assumptions: bool,
    objective: bool = True,
    only: frozenset[tuple[_Rule, str]] | None = None,
) -> _Built:
    """The model. With `assumptions`, every rule's constraints are enforced by its literal
    (for naming a conflict); without, they are plain constraints, which the solver's linear
    relaxation sees whole: planning and proving a conflict are much faster that way. With
    `only`, the rules not named are left out."""
    model = cp_model.CpModel()
    slots, lawyers = data.slots, data.lawyers
    rest = timedelta(hours=data.rest_hours)
    rules: dict[tuple[_Rule, str], cp_model.IntVar] = {}

    def hold(
        constraint: cp_model.BoundedLinearExpression | bool, kind: _Rule, detail: str = ""
    ) -> None:
        key = (kind, detail)
        if only is not None and key not in only:
            return
        added = model.add(constraint)
        if assumptions:
            if key not in rules:
                rules[key] = model.new_bool_var(f"{kind}:{detail}")
            added.only_enforce_if(rules[key])

    x = {
        (li, s.index): model.new_bool_var(f"x{li}_{s.index}")
        for li in range(len(lawyers))
        for s in slots
    }
    for li, lawyer in enumerate(lawyers):
        for s in slots:
            if not available(lawyer, s, rest):
                hold(x[li, s.index] == 0, _Rule.AVAILABILITY)
    for s in slots:
        on = [x[li, s.index] for li in range(len(lawyers))]
        hold(sum(on) == s.need, _Rule.COVER)
        if s.night:
            for language in data.night_languages:
                speakers = [
                    x[li, s.index] for li, lw in enumerate(lawyers) if language in lw.languages
                ]
                hold(sum(speakers) >= 1, _Rule.LANGUAGE, language)
        if data.juvenile_each_slot:
            juvenile = [x[li, s.index] for li, lw in enumerate(lawyers) if lw.juvenile]
            hold(sum(juvenile) >= 1, _Rule.JUVENILE)
    span = rest_span(data.rest_hours, _slot_hours(data))
    weeks = sorted({s.week for s in slots})
    for li in range(len(lawyers)):
        if span:
            for start in range(len(slots) - 1):
                window = [x[li, t] for t in range(start, min(len(slots), start + span + 1))]
                hold(sum(window) <= 1, _Rule.REST)
        room = week_room(lawyers[li], slots, data.weekly_cap)
        for week in weeks:
            hold(
                sum(x[li, s.index] for s in slots if s.week == week) <= room[week],
                _Rule.WEEKLY_CAP,
            )
    # Firm shares, in whole numbers: |duties * W - D * w| <= W is |duties - share| <= 1, the
    # rule; the target is under 1 (W - 1), which a firm can always meet by taking its share
    # rounded down or up, so a duty count at exactly 1 from the share is a cost, not a breach.
    total_weight = sum(data.firm_weights.values())
    duties = sum(s.need for s in slots)
    firm_excess: list[cp_model.IntVar] = []
    firm_peak: cp_model.IntVar | None = None
    if total_weight:
        by_firm: dict[str, list[cp_model.IntVar]] = defaultdict(list)
        for li, lawyer in enumerate(lawyers):
            by_firm[lawyer.firm].extend(x[li, s.index] for s in slots)
        if not firm_share_hard:
            firm_peak = model.new_int_var(0, duties * total_weight, "firm_peak")
        for firm, weight in data.firm_weights.items():
            scaled = sum(by_firm.get(firm, [])) * total_weight - duties * weight
            if firm_share_hard:
                hold(scaled <= total_weight, _Rule.FIRM_SHARE)
                hold(scaled >= -total_weight, _Rule.FIRM_SHARE)
            excess = model.new_int_var(0, duties * total_weight, f"excess_{firm}")
            model.add(excess >= scaled - (total_weight - 1))
            model.add(excess >= -scaled - (total_weight - 1))
            firm_excess.append(excess)
            if firm_peak is not None:
                model.add(firm_peak >= excess)
    if objective:
        _objective(model, data, x, firm_excess, firm_peak)
    return _Built(model, x, rules)


def _objective(
    model: cp_model.CpModel,
    data: RotaInput,
    x: dict[tuple[int, int], cp_model.IntVar],
    firm_excess: Sequence[cp_model.IntVar],
    firm_peak: cp_model.IntVar | None,
) -> None:
    """Firm shares first: no firm at 1 duty or more from its share where that can be avoided
    and, when shares are relaxed, the largest deviation as small as possible, then the sum.
    Then lawyers' nights within 1 of even where the rules allow; then lawyers' totals, nights
    and weekend duties as even as possible (max minus min over the lawyers who may take every
    such slot but for duties elsewhere, `takes_all`, each counted with their approved duties
    in other territories); then the most anyone takes here."""
    terms: list[cp_model.LinearExprT] = []
    spreads: list[tuple[int, cp_model.LinearExprT, int]] = []  # weight, max - min, its bound
    ties: list[tuple[int, cp_model.IntVar, int]] = []  # weight, max here, its bound
    beyond: list[tuple[cp_model.IntVar, int]] = []  # nights' spread beyond 1, its bound
    # Weekday days too: a lawyer who opts out of nights and weekends is free for no other set,
    # and would otherwise count in no minimum at all.
    for weight, pick, night in (
        (4, lambda s: True, False),
        (2, lambda s: s.night, True),
        (2, lambda s: s.weekend, False),
        (1, lambda s: not s.night and not s.weekend, False),
    ):
        chosen = [s for s in data.slots if pick(s)]
        if not chosen:
            continue
        bound = len(chosen)
        duties = sum(s.need for s in chosen)
        # The spread is over every territory: both ends count a lawyer's duties elsewhere
        # (before, the max counted duties here only, so a lawyer serving several territories
        # took a full share in each). The max here alone breaks ties, so that a lawyer
        # loaded elsewhere above everyone here does not leave the others' count here free.
        credits = [duties_elsewhere(lawyer, chosen) for lawyer in data.lawyers]
        top = bound + max(credits, default=0)
        high = model.new_int_var(0, top, "high")
        high_here = model.new_int_var(0, bound, "high_here")
        low = model.new_int_var(0, top, "low")
        free = 0
        credited = 0
        for li, lawyer in enumerate(data.lawyers):
            count = sum(x[li, s.index] for s in chosen)
            model.add(high_here >= count)
            if takes_all(lawyer, chosen, data):
                model.add(high >= count + credits[li])
                model.add(low <= count + credits[li])
                free += 1
                credited += credits[li]
        model.add(high >= high_here)
        # The bounds an even spread gives, stated so that the solver proves optimality sooner.
        if data.lawyers:
            model.add(high_here >= -(-duties // len(data.lawyers)))
        if free:
            model.add(low <= (duties + credited) // free)
        spreads.append((weight, high - low, top))
        ties.append((weight, high_here, bound))
        if night:
            over = model.new_int_var(0, top, "nights_over_1")
            model.add(over >= high - low - 1)
            beyond.append((over, top))
    # Each spread over every territory costs more than all the ties it breaks.
    tie_bound = sum(weight * bound for weight, _, bound in ties) + 1
    for weight, spread, _ in spreads:
        terms.append(weight * tie_bound * spread)
    for weight, tie, _ in ties:
        terms.append(weight * tie)
    evenness_bound = tie_bound * (sum(weight * top for weight, _, top in spreads) + 1)
    # Nights within 1 of even (over every territory) wherever the rules allow, before any
    # other spread: with the nights weighed against all duties, the solver gave a night's
    # evenness for a duty's (SUM: nights 4-6 where 5-6 was possible).
    for over, top in beyond:
        terms.append(over * evenness_bound)
        evenness_bound *= top + 1
    # One unit of firm excess costs more than any unevenness among lawyers; the peak more than
    # any sum of excesses it bounds.
    unit = evenness_bound + 1
    if firm_excess:
        terms.append(sum(firm_excess) * unit)
    if firm_peak is not None:
        terms.append(firm_peak * unit * (len(firm_excess) + 1))
    model.minimize(sum(terms))


def greedy(data: RotaInput) -> dict[tuple[int, int], int] | None:
    """A complete plan made slot by slot, or None when the greedy gets stuck.

    Each slot takes the lawyers free for it (rest, weekly cap, availability) that cover a
    language or juvenile need still open, then of the firm furthest below its share, then
    with the fewest duties.
    """
    rest = timedelta(hours=data.rest_hours)
    span = rest_span(data.rest_hours, _slot_hours(data))
    total_weight = sum(data.firm_weights.values()) or 1
    last: dict[int, int] = {}
    week_count: dict[tuple[int, int], int] = defaultdict(int)
    # Duties elsewhere come off the weekly cap: the greedy starts each week that much in.
    for li, lw in enumerate(data.lawyers):
        for week, room in week_room(lw, data.slots, data.weekly_cap).items():
            week_count[li, week] = data.weekly_cap - room
    totals: dict[int, int] = defaultdict(int)
    nights: dict[int, int] = defaultdict(int)
    firm_count: dict[str, int] = defaultdict(int)
    placed = 0
    chosen: dict[tuple[int, int], int] = {}
    for s in data.slots:
        free = [
            li
            for li, lw in enumerate(data.lawyers)
            if available(lw, s, rest)
            and (li not in last or s.index - last[li] > span)
            and week_count[li, s.week] < data.weekly_cap
        ]
        needs: list[frozenset[int]] = []
        if s.night:
            for language in data.night_languages:
                needs.append(frozenset(li for li in free if language in data.lawyers[li].languages))
        if data.juvenile_each_slot:
            needs.append(frozenset(li for li in free if data.lawyers[li].juvenile))
        taken: list[int] = []
        for _ in range(s.need):
            open_needs = [n for n in needs if not (n & set(taken))]
            pool = [li for li in free if li not in taken]
            if not pool:
                return None
            expected = placed + len(taken) + 1

            def key(li: int) -> tuple[int, float, int, int]:
                lw = data.lawyers[li]
                covers = sum(1 for n in open_needs if li in n)  # noqa: B023 (used at once)
                share = expected * data.firm_weights.get(lw.firm, 0) / total_weight  # noqa: B023
                return (-covers, firm_count[lw.firm] - share, totals[li], nights[li])

            best = min(pool, key=key)
            taken.append(best)
            firm_count[data.lawyers[best].firm] += 1
        if any(not (n & set(taken)) for n in needs):
            return None
        for li in taken:
            chosen[li, s.index] = 1
            last[li] = s.index
            week_count[li, s.week] += 1
            totals[li] += 1
            nights[li] += s.night
        placed += len(taken)
    return chosen


def figures(data: RotaInput, assignments: Sequence[tuple[str, Slot]], *, hinted: bool) -> Figures:
    """The plan's fairness figures: each firm's duties against its share, and the spread of
    lawyers' totals, nights and weekend duties here (the min over the lawyers who may take
    every such slot but for duties elsewhere, `takes_all`: with one lawyer a night, the night
    languages' speakers); and of totals and nights over every territory (`*_overall`: the
    same lawyers' duties here and their approved duties elsewhere in the period, what the
    planner evens)."""
    totals: dict[str, int] = dict.fromkeys((lw.licence for lw in data.lawyers), 0)
    nights = dict(totals)
    weekends = dict(totals)
    firm_of = {lw.licence: lw.firm for lw in data.lawyers}
    by_firm: dict[str, int] = defaultdict(int)
    for licence, slot in assignments:
        totals[licence] += 1
        nights[licence] += slot.night
        weekends[licence] += slot.weekend
        by_firm[firm_of[licence]] += 1
    duties = len(assignments)
    total_weight = sum(data.firm_weights.values()) or 1
    firms: list[FirmFigure] = []
    for firm, weight in sorted(data.firm_weights.items()):
        share = duties * weight / total_weight
        firms.append(
            {
                "firm": firm,
                "weight": weight,
                "share": round(share, 3),
                "duties": by_firm[firm],
                "deviation": round(by_firm[firm] - share, 3),
            }
        )

    def spread(counts: dict[str, int], pick: str) -> Spread:
        chosen = [s for s in data.slots if pick == "all" or getattr(s, pick)]
        free = [lw.licence for lw in data.lawyers if takes_all(lw, chosen, data)]
        return {
            "min": min((counts[lic] for lic in free), default=0),
            "max": max(counts.values(), default=0),
        }

    def overall(counts: dict[str, int], pick: str) -> Spread:
        chosen = [s for s in data.slots if pick == "all" or getattr(s, pick)]
        found = [
            counts[lw.licence] + duties_elsewhere(lw, chosen)
            for lw in data.lawyers
            if takes_all(lw, chosen, data)
        ]
        return {"min": min(found, default=0), "max": max(found, default=0)}

    return {
        "slots": len(data.slots),
        "duties": duties,
        "lawyers": len(data.lawyers),
        "firms": firms,
        "firm_deviation_max": round(max((abs(f["deviation"]) for f in firms), default=0.0), 3),
        "totals": spread(totals, "all"),
        "nights": spread(nights, "night"),
        "weekends": spread(weekends, "weekend"),
        "hinted": hinted,
        "totals_overall": overall(totals, "all"),
        "nights_overall": overall(nights, "night"),
    }


def least_spread(data: RotaInput, settings: SolverSettings, *, night: bool) -> int | None:
    """The least spread of nights (or of all duties) over every territory that the rules
    allow here, with the duties elsewhere as they are: `figures`' `nights_overall` (or
    `totals_overall`) as it would be if nothing else counted, firm shares included as the
    plan would hold them. None when not proven within the time limit. For judging whether a
    plan's spread is the rules' limit or a trade made for something else."""
    firm_share_hard = True
    for _ in range(2):
        built = _build(data, firm_share_hard=firm_share_hard, assumptions=False, objective=False)
        chosen = [s for s in data.slots if s.night or not night]
        counts = [
            sum(built.x[li, s.index] for s in chosen) + duties_elsewhere(lw, chosen)
            for li, lw in enumerate(data.lawyers)
            if takes_all(lw, chosen, data)
        ]
        if not counts:
            return 0
        top = len(chosen) + len(data.slots)
        high = built.model.new_int_var(0, top, "high")
        low = built.model.new_int_var(0, top, "low")
        for count in counts:
            built.model.add(high >= count)
            built.model.add(low <= count)
        built.model.minimize(high - low)
        solver = _solver(settings, settings.time_limit_s)
        status = solver.solve(built.model)
        if status == cp_model.OPTIMAL:
            return round(solver.objective_value)
        if status != cp_model.INFEASIBLE or not firm_share_hard:
            return None
        firm_share_hard = False
    return None


def _speakers(data: RotaInput, language: str) -> int:
    return sum(1 for lw in data.lawyers if language in lw.languages)


def explain(data: RotaInput, core: Sequence[tuple[str, str]]) -> Problem:
    """A sufficient set of rules that cannot all hold, in an administrator's words."""
    if not data.lawyers:
        # Every rule fails alike; what the bar must fix is that nobody serves the territory.
        return Problem(
            RotaProblem.RULES_CONFLICT,
            subjects=(
                Part(RotaPart.NO_LAWYERS, {"territory": data.territory, "slots": len(data.slots)}),
            ),
        )
    kinds = {kind for kind, _ in core}
    nights = sum(1 for s in data.slots if s.night)
    subjects: list[Part] = []
    for kind, detail in sorted(core):
        if kind == _Rule.LANGUAGE:
            n = _speakers(data, detail)
            subjects.append(
                Part(
                    RotaPart.NO_SPEAKER,
                    {"language": detail, "territory": data.territory, "nights": nights},
                )
                if n == 0
                else Part(RotaPart.SPEAKERS, {"count": n, "language": detail, "nights": nights})
            )
    if _Rule.JUVENILE in kinds:
        n = sum(1 for lw in data.lawyers if lw.juvenile)
        subjects.append(Part(RotaPart.JUVENILE, {"count": n, "slots": len(data.slots)}))
    if _Rule.COVER in kinds and not subjects:
        duties = sum(s.need for s in data.slots)
        subjects.append(
            Part(
                RotaPart.LAWYERS,
                {"count": len(data.lawyers), "duties": duties, "slots": len(data.slots)},
            )
        )
    limits: list[Part] = []
    if _Rule.WEEKLY_CAP in kinds:
        limits.append(Part(RotaPart.WEEKLY_CAP, {"cap": data.weekly_cap}))
    if _Rule.REST in kinds:
        limits.append(Part(RotaPart.REST, {"hours": data.rest_hours}))
    if _Rule.AVAILABILITY in kinds:
        limits.append(Part(RotaPart.AVAILABILITY))
    if _Rule.FIRM_SHARE in kinds:
        if subjects:
            limits.append(Part(RotaPart.FIRM_SHARE))
        else:
            subjects.append(Part(RotaPart.FIRM_SHARES))
    if not subjects:
        subjects.append(Part(RotaPart.UNPLANNABLE, {"territory": data.territory}))
    return Problem(RotaProblem.RULES_CONFLICT, subjects=tuple(subjects), limits=tuple(limits))


def _solver(settings: SolverSettings, time_limit_s: float) -> cp_model.CpSolver:
    solver = cp_model.CpSolver()
    solver.parameters.max_time_in_seconds = max(0.05, time_limit_s)
    solver.parameters.num_workers = settings.num_workers
    solver.parameters.cp_model_presolve = settings.presolve
    return solver


# The order in which a reason's rules are tried for dropping: the ones an administrator can least
# change stay in the words.
_DROP_FIRST = (
    _Rule.FIRM_SHARE,
    _Rule.AVAILABILITY,
    _Rule.REST,
    _Rule.JUVENILE,
    _Rule.LANGUAGE,
    _Rule.WEEKLY_CAP,
    _Rule.COVER,
)


def _core(
    data: RotaInput,
    settings: SolverSettings,
    time_limit_s: float,
    *,
    firm_share_hard: bool,
    hint: dict[tuple[int, int], int] | None,
) -> Problem:
    """Why the rules cannot all hold: the solver's sufficient assumptions (found on one
    thread: the cores of assumptions are a single search's, given a third of the time), then
    each rule of them dropped in turn while the rest still cannot hold, so that the words name
    only what matters. Each drop is tried on a model without assumption literals, whose
    conflicts the solver proves quickly; when the assumptions take too long, every rule is
    the start and the drops alone narrow it."""
    deadline = time.perf_counter() + time_limit_s
    one_thread = SolverSettings(time_limit_s, num_workers=1, presolve=settings.presolve)
    named = _build(data, firm_share_hard=firm_share_hard, assumptions=True, objective=False)
    named.model.add_assumptions(list(named.rules.values()))
    solver = _solver(one_thread, time_limit_s / 3)
    by_index = {var.index: key for key, var in named.rules.items()}
    if solver.solve(named.model) == cp_model.INFEASIBLE:
        core = [
            by_index[i] for i in solver.sufficient_assumptions_for_infeasibility() if i in by_index
        ]
        from_assumptions = True
    else:
        core = list(named.rules)
        from_assumptions = False
    for kind in _DROP_FIRST:
        for key in [k for k in core if k[0] == kind]:
            left = deadline - time.perf_counter()
            if left <= 0.05:
                if not from_assumptions:
                    return Problem(RotaProblem.NOT_EXPLAINED_IN_TIME, {"territory": data.territory})
                break
            if len(core) == 1:
                break
            trial = [k for k in core if k != key]
            check = _build(
                data,
                firm_share_hard=firm_share_hard,
                assumptions=False,
                objective=False,
                only=frozenset(trial),
            )
            if hint is not None:
                for (li, si), var in check.x.items():
                    check.model.add_hint(var, hint.get((li, si), 0))
            if _solver(settings, left).solve(check.model) == cp_model.INFEASIBLE:
                core = trial
    return explain(data, core)


def solve(data: RotaInput, settings: SolverSettings) -> RotaPlan:
    """Plan the rota: optimal or feasible within the time limit, else infeasible with the
    reasons in words."""
    started = time.perf_counter()
    problems: list[Problem] = []
    if not data.slots:
        raise ValueError("a rota needs at least one slot")
    hint = greedy(data)
    firm_share_hard = True
    while True:
        built = _build(data, firm_share_hard=firm_share_hard, assumptions=False)
        if hint is not None:
            for (li, si), var in built.x.items():
                built.model.add_hint(var, hint.get((li, si), 0))
        left = settings.time_limit_s - (time.perf_counter() - started)
        solver = _solver(settings, left)
        status = solver.solve(built.model)
        if status in (cp_model.OPTIMAL, cp_model.FEASIBLE):
            assignments = tuple(
                (data.lawyers[li].licence, data.slots[si])
                for (li, si), var in sorted(built.x.items(), key=lambda kv: (kv[0][1], kv[0][0]))
                if solver.boolean_value(var)
            )
            outcome = RotaOutcome.OPTIMAL if status == cp_model.OPTIMAL else RotaOutcome.FEASIBLE
            return RotaPlan(
                outcome,
                round(time.perf_counter() - started, 3),
                assignments,
                figures(data, assignments, hinted=hint is not None),
                tuple(problems),
            )
        left = settings.time_limit_s - (time.perf_counter() - started)
        if status != cp_model.INFEASIBLE:
            # Not proven: the status stays one of the three, the words say it was the time.
            problems.append(
                Problem(
                    RotaProblem.NOT_FOUND_IN_TIME,
                    {"territory": data.territory, "seconds": settings.time_limit_s},
                )
            )
            break
        reason = _core(data, settings, max(left, 1.0), firm_share_hard=firm_share_hard, hint=hint)
        firm_share = {RotaPart.FIRM_SHARE, RotaPart.FIRM_SHARES}
        if firm_share_hard and any(p.key in firm_share for p in reason.subjects + reason.limits):
            problems.append(
                Problem(
                    RotaProblem.FIRM_SHARES_RELAXED,
                    subjects=reason.subjects,
                    limits=reason.limits,
                )
            )
            firm_share_hard = False
            continue
        problems.append(reason)
        break
    return RotaPlan(
        RotaOutcome.INFEASIBLE, round(time.perf_counter() - started, 3), (), None, tuple(problems)
    )
