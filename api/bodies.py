"""A JSON body must be UTF-8 text (RFC 8259), checked as it arrives.

FastAPI answers 400 "There was an error parsing the body" to bytes that are not UTF-8, a status
the contract does not have; bad input is a 422 naming where it is. The check decodes each chunk
incrementally as the application reads it (nothing is buffered) and answers 422 at the first
byte that is not UTF-8. Bodies of other media types (the pages' forms) are left alone.
"""

from __future__ import annotations

import codecs

from fastapi.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

NOT_UTF8 = {
    "detail": [
        {"type": "json_invalid", "loc": ["body"], "msg": "the body is not UTF-8 text (RFC 8259)"}
    ]
}


def _is_json(scope: Scope) -> bool:
    """A body FastAPI reads as JSON: no content type, or a JSON one."""
    headers = dict(scope.get("headers") or [])
    content_type = headers.get(b"content-type", b"").split(b";")[0].strip().lower()
    json_type = content_type == b"application/json" or content_type.endswith(b"+json")
    return not content_type or json_type


class Utf8JsonBody:
    """Refuse a JSON request body that is not UTF-8 with 422."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not _is_json(scope):
            await self.app(scope, receive, send)
            return
        decoder = codecs.getincrementaldecoder("utf-8")()
        refused = False

        async def checked_receive() -> Message:
            nonlocal refused
            message = await receive()
            if message["type"] == "http.request" and not refused:
                try:
                    decoder.decode(message.get("body", b""), final=not message.get("more_body"))
                except UnicodeDecodeError:
                    refused = True
                    await JSONResponse(NOT_UTF8, 422)(scope, receive, send)
            return {"type": "http.disconnect"} if refused else message

        async def guarded_send(message: Message) -> None:
            if not refused:
                await send(message)

        await self.app(scope, checked_receive, guarded_send)
