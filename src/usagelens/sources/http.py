"""A course-compatible monitoring source reached over HTTP (SPEC 1.3).

Every pull is bounded: it ends within its deadline (retries and backoff included), and
the answer is read as it streams in and cut off past ``max_bytes``, so a source that
trickles, hangs or sends gigabytes costs at most that time and that memory.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import httpx

from usagelens.domain.errors import SourceError, SourceNotFound, SourceUnavailable

SUMMARY_PATH = "/monitoring/infrastructure/using/summary/{branch}"
PRICES_PATH = "/monitoring/infrastructure/using/prices"
DEFAULT_DEADLINE = 10.0
"""Seconds a pull may take in all (USAGELENS_SOURCE_TIMEOUT's default)."""
DEFAULT_MAX_BYTES = 32 * 1024 * 1024
"""Largest answer read from a source (USAGELENS_SOURCE_MAX_BYTES's default)."""


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
    """Pull usage summaries and prices from one base URL with a shared AsyncClient.

    A pull that is not over within ``deadline`` seconds, tries and backoff included,
    fails as unavailable. An answer larger than ``max_bytes`` (declared or streamed) and
    an answer that cannot be decoded fail at once, without a retry: asking again would
    bring the same.
    """

    def __init__(
        self,
        base_url: str,
        client: httpx.AsyncClient,
        *,
        retry: RetryPolicy = NO_RETRY,
        deadline: float = DEFAULT_DEADLINE,
        max_bytes: int = DEFAULT_MAX_BYTES,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        rng: random.Random | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._client = client
        self._retry = retry
        self._deadline = deadline
        self._max_bytes = max_bytes
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
        attempt = 0
        failed: SourceUnavailable | None = None
        try:
            async with asyncio.timeout(self._deadline):
                while True:
                    attempt += 1
                    try:
                        return await self._get_once(url)
                    except SourceUnavailable as exc:
                        if attempt >= self._retry.attempts:
                            if attempt > 1:
                                raise SourceUnavailable(
                                    f"{exc} (after {attempt} tries)", url=url
                                ) from exc
                            raise
                        failed = exc
                    await self._sleep(self._retry.delay(attempt, self._rng))
        except TimeoutError:
            before = f" (try {attempt}; the one before: {failed})" if failed else ""
            raise SourceUnavailable(
                f"no complete answer within {self._deadline:g} s{before}", url=url
            ) from None

    async def _get_once(self, url: str) -> bytes:
        try:
            async with self._client.stream("GET", url) as response:
                _check_status(response, url)
                return await self._read(response, url)
        except httpx.TimeoutException as exc:
            raise SourceUnavailable(f"timed out ({exc.__class__.__name__})", url=url) from exc
        except httpx.DecodingError as exc:
            raise SourceError(f"answer cannot be decoded ({exc})", url=url) from exc
        except httpx.HTTPError as exc:
            raise SourceUnavailable(
                f"unreachable ({exc.__class__.__name__}: {exc})", url=url
            ) from exc

    async def _read(self, response: httpx.Response, url: str) -> bytes:
        """Read the body as it streams in, refusing it once it passes the size limit."""
        limit = self._max_bytes
        declared = response.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > limit:
            raise SourceError(
                f"answer of {int(declared)} bytes (Content-Length) exceeds the limit of "
                f"{limit} bytes (USAGELENS_SOURCE_MAX_BYTES); not read",
                url=url,
            )
        chunks: list[bytes] = []
        size = 0
        async for chunk in response.aiter_bytes():
            size += len(chunk)
            if size > limit:
                raise SourceError(
                    f"answer exceeds the limit of {limit} bytes (USAGELENS_SOURCE_MAX_BYTES); "
                    "cut off",
                    url=url,
                )
            chunks.append(chunk)
        return b"".join(chunks)


def _check_status(response: httpx.Response, url: str) -> None:
    """Refuse an answer that is not a success, without reading its body."""
    if response.status_code == 404:
        raise SourceNotFound("answered 404 Not Found", url=url)
    if response.status_code >= 500:
        raise SourceUnavailable(f"answered HTTP {response.status_code}", url=url)
    if response.status_code >= 400:
        # A 4xx will not get better by asking again.
        raise SourceNotFound(f"answered HTTP {response.status_code}", url=url)
