"""The simulator's virtual clock: the domain reads it wherever it asks for the time.

The domain takes the time from `dispatcher.db.utcnow` and shuffles each tablet list with a
fresh random seed. A replay needs both under its control, so while `replaying` is active the
clock behind `utcnow` is the virtual one and the shuffle's seed comes from the replay's own
generator; both are put back on exit. Nothing sleeps: the clock jumps to the next event.
"""

from __future__ import annotations

import random
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta, tzinfo

from dispatcher import db, workflow


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


class _SeededSecrets:
    """Stands in for `secrets` in the workflow: seeded list shuffles, real tablet tokens."""

    def __init__(self, rng: random.Random) -> None:
        self._rng = rng

    def randbits(self, k: int) -> int:
        return self._rng.getrandbits(k)

    @staticmethod
    def token_urlsafe(nbytes: int | None = None) -> str:
        return secrets.token_urlsafe(nbytes)


@contextmanager
def replaying(clock: VirtualClock, rng: random.Random) -> Iterator[VirtualClock]:
    """Run the domain on `clock`, with tablet lists shuffled from `rng`, until the block ends."""

    class _Clocked(datetime):
        @classmethod
        def now(cls, tz: tzinfo | None = None) -> datetime:  # type: ignore[override]
            if tz is None:
                return clock.now.replace(tzinfo=None)
            return clock.now if tz is UTC else clock.now.astimezone(tz)

    # The names the two modules look up at call time (see the module's docstring).
    clocked, seeded = vars(db), vars(workflow)
    real_datetime, real_secrets = clocked["datetime"], seeded["secrets"]
    clocked["datetime"], seeded["secrets"] = _Clocked, _SeededSecrets(rng)
    try:
        yield clock
    finally:
        clocked["datetime"], seeded["secrets"] = real_datetime, real_secrets
