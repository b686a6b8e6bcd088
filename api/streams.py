"""The event streams' shared limit: a token holds only a few open at once (429 beyond)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Request

from api.deps import bearer_or_page
from api.limits import TooManyRequests
from dispatcher.ratelimit import StreamSlots
from dispatcher.tokens import Principal

# A refused stream may try again once one of the token's others has closed.
RETRY_AFTER_S = 15


async def stream_place(
    request: Request, principal: Annotated[Principal, Depends(bearer_or_page)]
) -> AsyncIterator[None]:
    """Hold one of the token's stream places until the stream's response has ended."""
    slots: StreamSlots = request.app.state.streams
    with slots.hold(principal.token_id) as taken:
        if not taken:
            raise TooManyRequests(
                f"more than {slots.per_token} event streams open at once", RETRY_AFTER_S
            )
        yield


StreamPlace = Annotated[None, Depends(stream_place)]
