"""The simulator's virtual clock: the domain reads it wherever it asks for the time.

The domain takes the time from `dispatcher.db.utcnow`; while `replaying` is active that is
the virtual clock. (Tablet lists are shuffled from the replay's own generator, given in the
workflow's context.) Nothing sleeps: the clock jumps to the next event.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

from dispatcher import db


class VirtualClock:
    """The simulated time, aware UTC; it only moves forward."""

    def __init__(self, start: datetime) -> None:
        if start.tzinfo is None:
            raise ValueError("the virtual clock needs an aware start time")
        self.now = start.astimezone(UTC)
        self.start = self.now

    def move_to(self, when: datetime) -> None:
        """Jump to `when` (never back: events are taken in time order)."""
        if when > self.now:
            self.now = when

    def at(self, seconds: float) -> datetime:
        """The instant `seconds` after the start of the simulation."""
        return self.start + timedelta(seconds=seconds)

    def elapsed_s(self, when: datetime | None = None) -> float:
        return ((when or self.now) - self.start).total_seconds()


@contextmanager
def replaying(clock: VirtualClock) -> Iterator[VirtualClock]:
    """Run the domain on `clock` until the block ends."""
    with db.clocked(lambda: clock.now):
        yield clock
