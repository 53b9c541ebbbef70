"""A course-compatible monitoring source reached over HTTP (SPEC 1.3)."""

from __future__ import annotations

import httpx

from usagelens.domain.errors import SourceNotFound, SourceUnavailable

SUMMARY_PATH = "/monitoring/infrastructure/using/summary/{branch}"
PRICES_PATH = "/monitoring/infrastructure/using/prices"


class HttpMonitoringSource:
    """Pull usage summaries and prices from one base URL with a shared AsyncClient."""

    def __init__(self, base_url: str, client: httpx.AsyncClient) -> None:
        self.base_url = base_url.rstrip("/")
        self._client = client

    @property
    def name(self) -> str:
        """Return the base URL, which names the source in outcomes and the audit trail."""
        return self.base_url

    async def fetch_summary(self, branch: int) -> bytes:
        """Return one company branch's usage summary."""
        return await self._get(SUMMARY_PATH.format(branch=branch))

    async def fetch_prices(self) -> bytes:
        """Return the source's price list."""
        return await self._get(PRICES_PATH)

    async def _get(self, path: str) -> bytes:
        url = self.base_url + path
        try:
            response = await self._client.get(url)
        except httpx.TimeoutException as exc:
            raise SourceUnavailable(f"timed out ({exc.__class__.__name__})", url=url) from exc
        except httpx.HTTPError as exc:
            raise SourceUnavailable(
                f"unreachable ({exc.__class__.__name__}: {exc})", url=url
            ) from exc
        if response.status_code == 404:
            raise SourceNotFound("answered 404 Not Found", url=url)
        if response.status_code >= 400:
            raise SourceUnavailable(f"answered HTTP {response.status_code}", url=url)
        return response.content
