"""A body size limit enforced before a handler reads more than it should."""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from usagelens.api.errors import problem
from usagelens.domain.errors import PayloadTooLarge


class BodyLimitMiddleware:
    """Answer 413 to a body over ``max_bytes``, declared or streamed."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None:
            try:
                length = int(declared)
            except ValueError:
                await problem(400, "Content-Length is not a number")(scope, receive, send)
                return
            if length > self.max_bytes:
                too_large = PayloadTooLarge(self.max_bytes)
                response = problem(413, str(too_large), slug="payload-too-large")
                await response(scope, receive, send)
                return
        received = 0

        async def limited() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise PayloadTooLarge(self.max_bytes)
            return message

        await self.app(scope, limited, send)
