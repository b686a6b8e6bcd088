"""Row ids: UUIDs of version 7 in the 32 hex digits ids always had, ordered by creation."""

from __future__ import annotations

import time
import uuid

from dispatcher.allocation.redact import _REQUEST_ID
from dispatcher.models import new_id


def test_an_id_is_a_version_7_uuid_in_32_hex_digits() -> None:
    made = new_id()
    assert len(made) == 32 and made == made.lower()
    parsed = uuid.UUID(made)
    assert parsed.hex == made
    assert parsed.version == 7 and parsed.variant == uuid.RFC_4122
    # The first 48 bits are the time of making, in milliseconds.
    assert abs(int(made[:12], 16) - time.time_ns() // 1_000_000) < 5_000
    # Free text naming it is still redacted.
    assert _REQUEST_ID.fullmatch(made)


def test_ids_made_later_sort_after_and_never_repeat() -> None:
    first = [new_id() for _ in range(5_000)]
    time.sleep(0.002)
    later = new_id()
    assert all(earlier < later for earlier in first)
    assert len(set(first)) == len(first)
    # 74 random bits: ids made in the same millisecond still differ in their random part.
    same_ms = [i for i in first if i[:12] == first[0][:12]]
    assert len({i[13:16] + i[17:] for i in same_ms}) == len(same_ms)
