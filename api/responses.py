"""The error answers an operation documents in the OpenAPI document, from one helper.

Every route lists the error statuses it can return with `responses=errors(...)`, e.g.
`@router.get("/things/{code}", responses=errors(401, 403, 404, 429))`. Each status gets its
description and the body the service sends: `{"detail": "why"}`, or for 422 the list of fields
at fault (the shape `api.main.validation_errors` builds, the same for FastAPI's own validation
and the domain's `Invalid`). `tests/api/test_schemathesis.py` refuses an operation that leaves
out a status its dependencies can produce (a bearer token: 401 and 429; a role: 403; a body:
413 and 422; parameters: 422) and runs schemathesis against a real server.
"""

from __future__ import annotations

from typing import Final

from pydantic import BaseModel, Field


class ErrorOut(BaseModel):
    """An error: what went wrong, in words."""

    detail: str


ExcerptValue = str | int | float | bool | None


class FieldError(BaseModel):
    """One field at fault: where (`loc`), why (`msg`, `type`) and a short excerpt of the input."""

    type: str
    loc: list[str | int] = Field(description="Where: `body`, `query`, `path`, then the field")
    msg: str
    input: ExcerptValue = Field(
        default=None, description="A short excerpt of what was sent (a container by its size)"
    )
    ctx: dict[str, ExcerptValue] | None = Field(
        default=None, description="The constraint that failed (e.g. `{'le': 1000}`)"
    )


class ValidationErrorOut(BaseModel):
    """Invalid input: every field at fault (at most 20, then a `too_many_errors` item)."""

    detail: list[FieldError]


# The statuses an operation may document, and what each means to a client.
DESCRIPTIONS: Final[dict[int, str]] = {
    401: "No bearer token, or one that is unknown, revoked or expired",
    403: "The caller's role (or token) may not do this",
    404: "Not found (or not the caller's to see)",
    409: "The state does not allow it (e.g. the request is already final)",
    410: "Gone: the link was used, has expired or its choice is closed",
    413: "The request body is larger than the service accepts",
    415: "The body's media type is not one the operation takes",
    422: "Invalid input: the fields at fault, each with the reason",
    429: "Too many requests: `Retry-After` says in how many seconds to try again",
}

# What most routes need: a bearer token (401, 429) of an allowed role (403).
AUTH: Final = (401, 403, 429)
# A route that reads a JSON body: too large (413) or invalid (422).
BODY: Final = (413, 422)


def errors(*statuses: int, answers_json: bool = True) -> dict[int | str, dict[str, object]]:
    """The `responses=` of a route decorator documenting these error statuses.

    `errors(*AUTH, 404)`, `errors(*AUTH, *BODY, 409)`: a status outside `DESCRIPTIONS` is a
    programming error (raised at import, so a route cannot document a status nobody defined).
    A route whose success is not JSON (CSV, an event stream) passes `answers_json=False`: FastAPI
    would document its errors under the route's media type, and they are JSON.
    """
    unknown = sorted(set(statuses) - DESCRIPTIONS.keys())
    if unknown:
        raise ValueError(f"undocumented error statuses {unknown}; add them to DESCRIPTIONS")
    documented: dict[int | str, dict[str, object]] = {}
    for status in sorted(set(statuses)):
        model = ValidationErrorOut if status == 422 else ErrorOut
        if answers_json:
            documented[status] = {"model": model, "description": DESCRIPTIONS[status]}
        else:
            # By reference: the models are in the document's components, since the JSON routes
            # document them (tests/api/test_schemathesis.py checks every reference resolves).
            schema = {"$ref": f"#/components/schemas/{model.__name__}"}
            documented[status] = {
                "description": DESCRIPTIONS[status],
                "content": {"application/json": {"schema": schema}},
            }
    return documented
