"""A course-compatible monitoring source reached over HTTP (SPEC 1.3)."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import httpx

from usagelens.domain.errors import SourceNotFound, SourceUnavailable

SUMMARY_PATH = "/monitoring/infrastructure/using/summary/{branch}"
PRICES_PATH = "/monitoring/infrastructure/using/prices"


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Retries on connection errors, timeouts and 5xx (never on 4xx), backing off."""

    attempts: int = 1
    """Tries in all; 1 means no retry."""
    base_delay: float = 0.25
    max_delay: float = 5.0

    def delay(self, attempt: int, rng: random.Random) -> float:
        """Full-jitter exponential backoff before try ``attempt + 1`` (attempt ≥ 1)."""
        return rng.uniform(0, min(self.max_delay, self.base_delay * 2 ** (attempt - 1)))


NO_RETRY = RetryPolicy()


class HttpMonitoringSource:
    """Pull usage summaries and prices from one base URL with a shared AsyncClient."""

    def __init__(
        self,
        base_url: str,
        client: httpx.AsyncClient,
        *,
        retry: RetryPolicy = NO_RETRY,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        rng: random.Random | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._client = client
        self._retry = retry
        self._sleep = sleep
        self._rng = rng or random.Random()

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
        attempt = 1
        while True:
            try:
                return await self._get_once(url)
            except SourceUnavailable as exc:
                if attempt >= self._retry.attempts:
                    if attempt > 1:
                        raise SourceUnavailable(f"{exc} (after {attempt} tries)", url=url) from exc
                    raise
            await self._sleep(self._retry.delay(attempt, self._rng))
            attempt += 1

    async def _get_once(self, url: str) -> bytes:
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
        if response.status_code >= 500:
            raise SourceUnavailable(f"answered HTTP {response.status_code}", url=url)
        if response.status_code >= 400:
            # A 4xx will not get better by asking again.
            raise SourceNotFound(f"answered HTTP {response.status_code}", url=url)
        return response.content
