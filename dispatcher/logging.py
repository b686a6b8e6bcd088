"""structlog set-up: JSON in production, readable in a terminal; request ids via contextvars.

Records from the standard library (uvicorn, the scheduler) go through the same renderer, so
every line of a production log is one JSON object. uvicorn's access log stays off: it would
write raw paths, and a tablet path carries a credential.
"""

from __future__ import annotations

import logging
import sys
from typing import TextIO

import structlog


class _CurrentStderr(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever `sys.stderr` is when a line is written (a CLI runner's, a test's
    capture), not to the stream there was when logging was configured, which may be closed."""

    @property
    def stream(self) -> TextIO:
        return sys.stderr

    @stream.setter
    def stream(self, value: TextIO) -> None:
        pass


def configure(fmt: str = "console", level: str = "INFO") -> None:
    renderer: structlog.types.Processor = (
        structlog.processors.JSONRenderer()
        if fmt == "json"
        else structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty())
    )
    shared: list[structlog.types.Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    structlog.configure(
        processors=[
            *shared,
            structlog.processors.StackInfoRenderer(),
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    handler = _CurrentStderr()
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=shared,
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                structlog.processors.format_exc_info,
                renderer,
            ],
        )
    )
    root = logging.getLogger()
    root.handlers = [handler]
    root.setLevel(level.upper())
    for name in ("uvicorn", "uvicorn.error"):
        logging.getLogger(name).handlers = []
        logging.getLogger(name).propagate = True
    # uvicorn's access line carries the raw path and query, and a tablet path is a credential:
    # the application logs each request once, with its route template (api.main). uvicorn
    # decides to write access lines by whether its logger has a handler anywhere up the tree,
    # so the logger must neither propagate to ours nor have one, whatever started the server.
    access = logging.getLogger("uvicorn.access")
    access.handlers = []
    access.propagate = False
    access.disabled = True
    # The scheduler reports every run at INFO, and the HTTP client logs whole URLs (a callback
    # URL may carry a court's secret; apprise's, urllib3, a notification gateway's URL with a
    # lawyer's phone): only their warnings are wanted here.
    for name in ("apscheduler", "httpx", "httpcore", "urllib3"):
        logging.getLogger(name).setLevel(logging.WARNING)
    # A periodic job still running when its next turn comes is skipped (by design: the next
    # run picks up what is left); the scheduler would warn of it every second under load.
    scheduler_log = logging.getLogger("apscheduler.scheduler")
    if _not_a_skipped_turn not in scheduler_log.filters:
        scheduler_log.addFilter(_not_a_skipped_turn)


def _not_a_skipped_turn(record: logging.LogRecord) -> bool:
    return "maximum number of running instances" not in record.getMessage()
