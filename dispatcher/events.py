"""Live request events: after a change to a request commits, its followers hear of it.

An event says only which request changed and how (the audit action); a follower reads the
request again to learn its state, so a lost event costs a moment, never a wrong picture.
Events go through Redis pub/sub when it is configured and up, so every API worker's followers
hear every worker's changes; otherwise (and always, as a floor) within the process.
"""

from __future__ import annotations

import asyncio
import json
import threading
import weakref
from collections import defaultdict
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from typing import Any

import redis
import redis.asyncio as aioredis
import structlog
from sqlalchemy.engine import Engine
from sqlmodel import Session

from dispatcher.db import after_commit
from dispatcher.redis_link import RedisLink

log = structlog.get_logger(__name__)

CHANNEL_PREFIX = "dispatcher:request:"


class Broker:
    """Fan-out of request events to the followers of this process, and through Redis."""

    def __init__(self, link: RedisLink | None = None) -> None:
        self.link = link
        self._lock = threading.Lock()
        self._followers: dict[str, set[tuple[asyncio.AbstractEventLoop, asyncio.Queue[str]]]]
        self._followers = defaultdict(set)
        self.instance = id(self)

    def publish(self, request_id: str, action: str) -> None:
        """Tell the request's followers, here and (through Redis) in every other process."""
        sent = False
        if self.link is not None:
            message = json.dumps({"action": action, "from": self.instance})
            sent = self.link.call("publish", CHANNEL_PREFIX + request_id, message) is not None
        # Through Redis this process hears its own message too; without it, tell ours here.
        if not sent:
            self._deliver(request_id, action)

    def _deliver(self, request_id: str, action: str) -> None:
        with self._lock:
            followers = list(self._followers.get(request_id, ()))
        for loop, queue in followers:
            with suppress(RuntimeError):  # the follower's loop has closed
                loop.call_soon_threadsafe(queue.put_nowait, action)

    @asynccontextmanager
    async def follow(self, request_id: str) -> AsyncIterator[asyncio.Queue[str]]:
        """A queue of the request's events for as long as the block runs.

        The Redis subscription is in place before the block starts, so a reader that looks at
        the request first and then waits misses nothing in between.
        """
        queue: asyncio.Queue[str] = asyncio.Queue()
        key = (asyncio.get_running_loop(), queue)
        with self._lock:
            self._followers[request_id].add(key)
        pubsub = await self._subscribe(request_id)
        relay = asyncio.create_task(self._relay(pubsub, queue)) if pubsub is not None else None
        try:
            yield queue
        finally:
            if relay is not None:
                relay.cancel()
                with suppress(asyncio.CancelledError):
                    await relay
            if pubsub is not None:
                with suppress(Exception):
                    await pubsub.aclose()
                    await pubsub.connection_pool.disconnect()
            with self._lock:
                self._followers[request_id].discard(key)
                if not self._followers[request_id]:
                    del self._followers[request_id]

    async def _subscribe(self, request_id: str) -> Any:
        if self.link is None or not self.link.usable():
            return None
        client = aioredis.Redis.from_url(
            self.link.url, socket_connect_timeout=0.25, socket_timeout=None
        )
        pubsub: Any = client.pubsub()
        try:
            await asyncio.wait_for(pubsub.subscribe(CHANNEL_PREFIX + request_id), 1.0)
        except (redis.RedisError, OSError, TimeoutError) as exc:
            self.link.failed(exc)
            with suppress(Exception):
                await pubsub.aclose()
                await client.connection_pool.disconnect()
            return None
        return pubsub

    async def _relay(self, pubsub: Any, queue: asyncio.Queue[str]) -> None:
        """Copy the request's Redis messages into the queue, while Redis answers."""
        try:
            async for message in pubsub.listen():
                if message.get("type") == "message":
                    queue.put_nowait(json.loads(message["data"])["action"])
        except (redis.RedisError, OSError) as exc:
            if self.link is not None:
                self.link.failed(exc)


_brokers: weakref.WeakKeyDictionary[Engine, Broker] = weakref.WeakKeyDictionary()


def attach(engine: Engine, broker: Broker) -> None:
    """Make `broker` the one that hears of changes committed through `engine`."""
    _brokers[engine] = broker


def _broker_of(session: Session) -> Broker | None:
    bind: Any = session.get_bind()
    return _brokers.get(bind if isinstance(bind, Engine) else bind.engine)


def changed(session: Session, request_id: str, action: str) -> None:
    """Once the session commits, publish that the request changed."""
    broker = _broker_of(session)
    if broker is not None:
        after_commit(session, lambda: broker.publish(request_id, action))


def lawyer_channel(lawyer_id: int) -> str:
    """The key a lawyer's page follows: its events say the lawyer's invitations changed.

    It shares the brokers' key space with request ids (32 hex digits), which it cannot match.
    """
    return f"lawyer-{lawyer_id}"


def lawyer_changed(session: Session, lawyer_id: int, action: str) -> None:
    """Once the session commits, tell the lawyer's pages that their invitations changed."""
    changed(session, lawyer_channel(lawyer_id), action)


def tablet_cache_key(token_hash: str) -> str:
    """Where a tablet's list is cached in Redis, by the hash of its token."""
    return f"dispatcher:tablet:{token_hash}"


def tablets_closed(session: Session, token_hashes: list[str]) -> None:
    """Once the session commits, drop the cached lists of these (spent) tablet tokens."""
    broker = _broker_of(session)
    link = broker.link if broker is not None else None
    if link is not None and token_hashes:
        keys = [tablet_cache_key(h) for h in token_hashes]
        after_commit(session, lambda: link.call("delete", *keys))
