"""A notification channel for tests."""

from __future__ import annotations

from typing import Any


class RecordingChannel:
    """A notification channel that keeps what it was asked to send."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, dict[str, Any]]] = []

    def send(self, lawyer: str, message: dict[str, Any]) -> None:
        self.sent.append((lawyer, message))
