"""A running usagelens server as the target of ``collect --url``."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import httpx

from usagelens.domain.errors import InvalidInput, StorageError, StorageUnavailable
from usagelens.domain.model import IngestResult, Observation
from usagelens.domain.prices import OriginPrices
from usagelens.domain.summary import render_records

POSITION_PATH = "/api/v1/sources/position"
PRICE_LISTS_PATH = "/api/v1/prices/sources"


class RemoteTarget:
    """Send pulled data to a server's API (with the configured token)."""

    def __init__(self, client: httpx.Client) -> None:
        self._client = client

    def ingest_summary(self, payload: bytes, *, source: str) -> IngestResult:
        """POST a summary as text."""
        return self._ingest(payload, "text/plain; charset=utf-8", source)

    def ingest_observations(self, batch: Sequence[Observation], *, source: str) -> IngestResult:
        """POST table rows in the JSON form."""
        body = json.dumps(render_records(batch), ensure_ascii=False).encode()
        return self._ingest(body, "application/json", source)

    def store_source_prices(self, lists: Sequence[OriginPrices]) -> list[str]:
        """PUT every answering source's list in one request: stored together or not at all."""
        body = {
            "lists": [
                {
                    "origin": entry.origin,
                    "fetched_at": entry.updated_at.isoformat() if entry.updated_at else None,
                    **entry.prices.to_document(),
                }
                for entry in lists
            ]
        }
        answer = self._send("PUT", PRICE_LISTS_PATH, json=body)
        return [str(origin) for origin in answer.get("stored", [])]

    def source_position(self, source: str) -> datetime | None:
        """GET how far the server has a table source read (None: never)."""
        answer = self._send("GET", POSITION_PATH, params={"source": source})
        value = answer.get("position")
        if value is None:
            return None
        try:
            moment = datetime.fromisoformat(str(value))
        except ValueError:
            raise StorageError(
                f"server answered a position that is not a time: {value!r}"
            ) from None
        return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)

    def set_source_position(self, source: str, position: datetime) -> None:
        """PUT a table source's new position on the server (it never moves back)."""
        self._send(
            "PUT", POSITION_PATH, params={"source": source}, json={"position": position.isoformat()}
        )

    def _ingest(self, body: bytes, content_type: str, source: str) -> IngestResult:
        answer = self._send(
            "POST",
            "/api/v1/usage",
            content=body,
            params={"source": source},
            headers={"Content-Type": content_type},
        )
        return IngestResult(**{name: int(answer[name]) for name in IngestResult.__slots__})

    def _send(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        try:
            response = self._client.request(method, path, **kwargs)
        except httpx.HTTPError as exc:
            raise StorageUnavailable(f"server unreachable: {exc}") from exc
        if response.is_success:
            body: dict[str, Any] = response.json()
            return body
        try:
            detail = response.json().get("detail", response.text)
        except ValueError:
            detail = response.text
        error = InvalidInput if 400 <= response.status_code < 500 else StorageError
        raise error(f"server answered {response.status_code}: {detail}")
