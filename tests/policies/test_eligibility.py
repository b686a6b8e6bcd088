"""Who may be invited (invariant 2): duty windows and each exclusion reason."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from policies.config import Policy, load_policy_book
from policies.eligibility import Candidate, DutyWindow, Need, exclusion, on_duty

MONDAY = datetime(2026, 3, 2)  # a Monday
DAY_US = 24 * 3600 * 1_000_000
WEEK_US = 7 * DAY_US


def at(day: int, hour: int, minute: int = 0) -> datetime:
    """Local time on the given weekday (0 = Monday) of the week of MONDAY."""
    return MONDAY + timedelta(days=day, hours=hour, minutes=minute)


def week_us(weekday: int, clock: time) -> int:
    """Microseconds since Monday 00:00."""
    seconds = clock.hour * 3600 + clock.minute * 60 + clock.second
    return weekday * DAY_US + seconds * 1_000_000 + clock.microsecond


def covers(window: DutyWindow, local: datetime) -> bool:
    """Independent reading of a duty window: an interval on the weekly clock, where an end at
    or before the start means the next day, and Sunday night runs into Monday morning."""
    start = week_us(window.weekday, window.start)
    end = week_us(window.weekday, window.end)
    if end <= start:
        end += DAY_US
    now = week_us(local.weekday(), local.time())
    return start <= now < end or start <= now + WEEK_US < end


WEEKDAY_9_TO_18 = tuple(DutyWindow(d, time(9), time(18)) for d in range(5))
MONDAY_NIGHT = (DutyWindow(0, time(18), time(9)),)


@pytest.mark.parametrize(
    ("local", "expected"),
    [
        (at(0, 9), True),
        (at(0, 8, 59), False),
        (at(2, 12), True),
        (at(4, 17, 59), True),
        (at(4, 18), False),
        (at(5, 12), False),  # Saturday
        (at(6, 12), False),  # Sunday
    ],
)
def test_weekday_windows(local: datetime, expected: bool) -> None:
    assert on_duty(WEEKDAY_9_TO_18, local) is expected


@pytest.mark.parametrize(
    ("local", "expected"),
    [
        (at(0, 17, 59), False),
        (at(0, 18), True),
        (at(0, 23), True),
        (at(1, 0), True),
        (at(1, 8, 59), True),
        (at(1, 9), False),
        (at(1, 23), False),  # only Monday's night, not Tuesday's
        (at(6, 23), False),
    ],
)
def test_window_crossing_midnight(local: datetime, expected: bool) -> None:
    assert on_duty(MONDAY_NIGHT, local) is expected


def test_sunday_night_window_runs_into_monday() -> None:
    windows = (DutyWindow(6, time(22), time(6)),)
    assert on_duty(windows, at(6, 23))
    assert on_duty(windows, at(0, 5, 59))
    assert not on_duty(windows, at(0, 6))


def test_aware_local_time_is_read_on_its_own_clock() -> None:
    baku = ZoneInfo("Asia/Baku")
    assert on_duty(WEEKDAY_9_TO_18, at(0, 9).replace(tzinfo=baku))
    assert not on_duty(WEEKDAY_9_TO_18, at(0, 8).replace(tzinfo=baku))


@pytest.mark.parametrize("local", [at(0, 3), at(3, 12), at(6, 23, 59)])
def test_no_windows_means_always_on_duty(local: datetime) -> None:
    assert on_duty((), local)


@settings(max_examples=300, deadline=None)
@given(
    windows=st.lists(
        st.builds(DutyWindow, st.integers(0, 6), st.times(), st.times()),
        min_size=1,
        max_size=4,
    ),
    local=st.datetimes(min_value=datetime(2026, 1, 1), max_value=datetime(2026, 12, 31)),
)
def test_on_duty_matches_the_weekly_clock(windows: list[DutyWindow], local: datetime) -> None:
    assert on_duty(windows, local) is any(covers(w, local) for w in windows)


POLICY = load_policy_book().default
JUVENILE = POLICY.eligibility.juvenile_specialisation

ELIGIBLE = Candidate(
    licence="A-0001",
    firm="F001",
    status="active",
    firm_status="active",
    serves_territory=True,
    languages=frozenset({"az", "ru"}),
    specialisations=frozenset({JUVENILE}),
    max_open=3,
    load=2,
    duty=WEEKDAY_9_TO_18,
    conflicted=None,
    already_invited=False,
)
DETENTION = Need(urgency="detention", language="az", juvenile=True, local_time=at(0, 10))
OFF_HOURS = at(0, 20)


def test_fully_eligible_candidate() -> None:
    assert exclusion(ELIGIBLE, DETENTION, POLICY) is None


@pytest.mark.parametrize(
    ("candidate_change", "need_change", "reason"),
    [
        ({"firm_status": "suspended"}, {}, "firm_suspended"),
        ({"status": "suspended"}, {}, "suspended"),
        ({"status": "on_leave"}, {}, "on_leave"),
        ({"serves_territory": False}, {}, "territory"),
        ({"conflicted": "registered victim_counsel of A-0002 in this case"}, {}, "conflict"),
        ({"already_invited": True}, {}, "already_invited"),
        ({"languages": frozenset({"ru", "en"})}, {}, "language"),
        ({}, {"language": "en"}, "language"),
        ({"specialisations": frozenset()}, {}, "specialisation"),
        ({"load": 3}, {}, "cap"),
        ({"load": 4}, {}, "cap"),
        ({"max_open": 0, "load": 0}, {}, "cap"),
        ({}, {"local_time": OFF_HOURS}, "off_duty"),
        ({"duty": MONDAY_NIGHT}, {}, "off_duty"),
    ],
)
def test_each_reason_alone(
    candidate_change: dict[str, Any], need_change: dict[str, Any], reason: str
) -> None:
    candidate = replace(ELIGIBLE, **candidate_change)
    need = replace(DETENTION, **need_change)
    assert exclusion(candidate, need, POLICY) == reason


def test_off_duty_applies_only_to_detention() -> None:
    standard = replace(DETENTION, urgency="standard", local_time=OFF_HOURS)
    assert exclusion(ELIGIBLE, standard, POLICY) is None
    assert exclusion(ELIGIBLE, replace(standard, urgency="detention"), POLICY) == "off_duty"


def test_no_duty_windows_is_never_off_duty() -> None:
    assert (
        exclusion(replace(ELIGIBLE, duty=()), replace(DETENTION, local_time=OFF_HOURS), POLICY)
        is None
    )


def test_specialisation_only_for_juveniles() -> None:
    adult = replace(DETENTION, juvenile=False)
    assert exclusion(replace(ELIGIBLE, specialisations=frozenset()), adult, POLICY) is None


def test_language_rule_can_be_switched_off() -> None:
    relaxed = POLICY.model_copy(
        update={"eligibility": POLICY.eligibility.model_copy(update={"require_language": False})}
    )
    need = replace(DETENTION, language="en")
    assert exclusion(ELIGIBLE, need, relaxed) is None
    assert exclusion(ELIGIBLE, need, POLICY) == "language"


LANGUAGES = ["az", "ru", "en"]
SPECIALISATIONS = [JUVENILE, "economic"]

candidates = st.builds(
    Candidate,
    licence=st.just("A-0001"),
    firm=st.just("F001"),
    status=st.sampled_from(["active", "on_leave", "suspended"]),
    firm_status=st.sampled_from(["active", "suspended"]),
    serves_territory=st.booleans(),
    languages=st.frozensets(st.sampled_from(LANGUAGES)),
    specialisations=st.frozensets(st.sampled_from(SPECIALISATIONS)),
    max_open=st.integers(0, 4),
    load=st.integers(0, 5),
    duty=st.lists(st.builds(DutyWindow, st.integers(0, 6), st.times(), st.times()), max_size=3).map(
        tuple
    ),
    conflicted=st.none() | st.just("registered witness_counsel of A-0009 in this case"),
    already_invited=st.booleans(),
)
needs = st.builds(
    Need,
    urgency=st.sampled_from(["detention", "standard"]),
    language=st.sampled_from(LANGUAGES),
    juvenile=st.booleans(),
    local_time=st.datetimes(min_value=datetime(2026, 1, 1), max_value=datetime(2026, 12, 31)),
)


def failed_conditions(candidate: Candidate, need: Need, policy: Policy) -> set[str]:
    """Every rule the candidate breaks, re-derived from the specification."""
    failed: set[str] = set()
    if candidate.firm_status != "active":
        failed.add("firm_suspended")
    if candidate.status == "suspended":
        failed.add("suspended")
    if candidate.status == "on_leave":
        failed.add("on_leave")
    if not candidate.serves_territory:
        failed.add("territory")
    if candidate.conflicted is not None:
        failed.add("conflict")
    if candidate.already_invited:
        failed.add("already_invited")
    if policy.eligibility.require_language and need.language not in candidate.languages:
        failed.add("language")
    if need.juvenile and JUVENILE not in candidate.specialisations:
        failed.add("specialisation")
    if candidate.load >= candidate.max_open:
        failed.add("cap")
    if (
        need.urgency == "detention"
        and candidate.duty
        and not any(covers(w, need.local_time) for w in candidate.duty)
    ):
        failed.add("off_duty")
    return failed


@settings(max_examples=400, deadline=None)
@given(candidate=candidates, need=needs, require_language=st.booleans())
def test_exclusion_is_none_only_when_every_rule_holds(
    candidate: Candidate, need: Need, require_language: bool
) -> None:
    policy = POLICY.model_copy(
        update={
            "eligibility": POLICY.eligibility.model_copy(
                update={"require_language": require_language}
            )
        }
    )
    reason = exclusion(candidate, need, policy)
    failed = failed_conditions(candidate, need, policy)
    if reason is None:
        assert not failed
    else:
        # The recorded reason is one the candidate really breaks.
        assert reason in failed
