"""Domain errors carry the HTTP status they map to; 422 is for payload validation only."""

from __future__ import annotations

from typing import Any


class DomainError(Exception):
    status_code = 400

    def __init__(self, detail: Any) -> None:
        super().__init__(detail)
        self.detail = detail


class NotFound(DomainError):
    status_code = 404


class Conflict(DomainError):
    status_code = 409


class Gone(DomainError):
    status_code = 410


class Forbidden(DomainError):
    status_code = 403


class Invalid(DomainError):
    """Input that is well-formed but refers to things that do not exist or cannot be."""

    status_code = 422

    def __init__(self, field: str, message: str) -> None:
        super().__init__(
            [{"loc": ["body", *field.split(".")], "msg": message, "type": "value_error"}]
        )
        self.field = field
