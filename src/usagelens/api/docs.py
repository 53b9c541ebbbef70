"""The API docs pages (Swagger UI at /docs, ReDoc at /redoc), kept to the server itself.

Their files come from the package (fastapi-offline's copies, served under ``DOCS_ASSETS``);
a Content-Security-Policy on the two pages keeps them from fetching anything elsewhere
(ReDoc's bundle adds an image from its vendor's CDN to every page, which an offline host
would wait on and an operator may not want to announce to).
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

DOCS_ASSETS = "/docs/assets"
"""Where Swagger UI's and ReDoc's scripts, styles and icon are served."""

DOCS_PAGES = frozenset({"/docs", "/redoc"})

POLICY = (
    "default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; worker-src 'self' blob:; connect-src 'self'; frame-ancestors 'none'"
)
"""Scripts, styles, images, workers and requests from the server alone (the pages' own
inline start-up script and the styles the bundles inject are allowed)."""


class DocsPolicyMiddleware:
    """Add ``POLICY`` as the Content-Security-Policy of the docs pages, and nothing else."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] not in DOCS_PAGES:
            await self.app(scope, receive, send)
            return

        async def with_policy(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                headers.append((b"content-security-policy", POLICY.encode()))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, with_policy)
