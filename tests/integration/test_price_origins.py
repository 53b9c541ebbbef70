"""Prices kept per origin, and the refresh lease fenced by the database's clock.

Real SQLite and PostgreSQL stores, real HTTP price sources on loopback: a source that is
down for one refresh keeps the list it sent last, a list set by hand survives every
refresh, a later source wins over an earlier one, and a refresh whose lease ran out can
no longer write its lists.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from sqlalchemy import text

from tests.conftest import free_port
from usagelens.app import Handlers, build
from usagelens.domain.errors import LeaseLost
from usagelens.domain.model import Dimension
from usagelens.domain.prices import MANUAL_ORIGIN, OriginPrices, PriceList
from usagelens.storage import SqlStore, create_engine_for, migrate
from usagelens.wiring import open_sources

CPU = Dimension.CPU


class PriceSource:
    """A monitoring source on loopback that answers a price list we can change, or stops."""

    def __init__(self) -> None:
        self.document = "values: {}\n"
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                if self.path != "/monitoring/infrastructure/using/prices":
                    self.send_error(404)
                    return
                body = owner.document.encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/yaml")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self._server: ThreadingHTTPServer | None = ThreadingHTTPServer(
            ("127.0.0.1", self.port), Handler
        )
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None


@pytest.fixture
def sources() -> Iterator[tuple[PriceSource, PriceSource]]:
    first, second = PriceSource(), PriceSource()
    yield first, second
    first.stop()
    second.stop()


@pytest.fixture
def service(database_url: str) -> Iterator[Handlers]:
    engine = create_engine_for(database_url)
    migrate(engine)
    yield build(SqlStore(engine))
    engine.dispose()


def _refresh(service: Handlers, urls: list[str], holder: str = "test") -> list:  # type: ignore[type-arg]
    async def run() -> list:  # type: ignore[type-arg]
        async with open_sources(urls, timeout=5) as opened:
            outcomes = await service.refresh.run_exclusive(
                opened.http, [], tables=opened.tables, holder=holder
            )
        assert outcomes is not None
        return outcomes

    return asyncio.run(run())


def _cpu(service: Handlers) -> dict[str, float]:
    return {r: dims[CPU] for r, dims in service.prices.prices().values.items() if CPU in dims}


def test_each_origin_replaces_only_its_own_list(
    service: Handlers, sources: tuple[PriceSource, PriceSource]
) -> None:
    first, second = sources
    service = build(service.store, source_order=[first.url, second.url])
    service.prices.replace_prices(b"values: {R1: {CPU: 1}}\n")  # by hand
    first.document = "values: {R1: {CPU: 10}, R2: {CPU: 20}}\n"
    second.document = "values: {R2: {CPU: 30}, R3: {CPU: 40}}\n"

    outcomes = _refresh(service, [first.url, second.url])
    assert all(o.ok for o in outcomes), outcomes
    # The hand-set list wins; between sources, the later one configured.
    assert _cpu(service) == {"R1": 1, "R2": 30, "R3": 40}

    # The second source is down for one refresh: its list stays, the first one's moves.
    second.stop()
    first.document = "values: {R1: {CPU: 11}, R2: {CPU: 21}, R4: {CPU: 50}}\n"
    outcomes = _refresh(service, [first.url, second.url])
    assert [o.ok for o in outcomes] == [True, False]
    assert _cpu(service) == {"R1": 1, "R2": 30, "R3": 40, "R4": 50}

    order = [entry.origin for entry in service.prices.price_lists()]
    assert order == [MANUAL_ORIGIN, second.url, first.url]
    assert service.prices.prices(first.url).values["R2"][CPU] == 21

    # Reordering USAGELENS_SOURCES takes effect on the next read, with no new pull.
    reordered = build(service.store, source_order=[second.url, first.url])
    assert _cpu(reordered) == {"R1": 1, "R2": 21, "R3": 40, "R4": 50}

    # Forgetting the hand-set list lets the sources' price show.
    assert service.prices.drop_prices(MANUAL_ORIGIN)
    assert not service.prices.drop_prices(MANUAL_ORIGIN)
    assert _cpu(service)["R1"] == 11


def test_a_refresh_whose_lease_ran_out_is_fenced(service: Handlers) -> None:
    old = service.refresh.lease("slow refresh", 0.3, None)
    assert old is not None
    assert service.refresh.lease("another", 600, None) is None  # held
    time.sleep(0.6)  # by the database's clock, the lease has run out
    new = service.refresh.lease("another", 600, None)
    assert new is not None and new > old

    late = [OriginPrices("http://slow", PriceList({"R1": {CPU: 99.0}}))]
    with pytest.raises(LeaseLost):
        service.prices.store_price_lists(late, fence=old)
    assert "R1" not in service.prices.prices().values
    assert not service.refresh.finish(old, [])  # its outcome is not recorded either
    assert service.refresh.status()["running"]  # the new holder still has it

    service.prices.store_price_lists(late, fence=new)
    assert service.prices.prices().values["R1"][CPU] == 99
    assert service.refresh.finish(new, [])
    assert not service.refresh.status()["running"]


def test_an_upgrade_keeps_the_old_list_as_legacy(database_url: str) -> None:
    from alembic import command
    from alembic.config import Config

    from usagelens.storage import engine as storage_engine

    engine = create_engine_for(database_url)
    config = Config()
    config.set_main_option("script_location", str(storage_engine._MIGRATIONS))
    with engine.begin() as conn:
        config.attributes["connection"] = conn
        command.upgrade(config, "0005")
        conn.execute(
            text("INSERT INTO prices (resource, dimension, price) VALUES ('0080', 'CPU', 15)")
        )
    migrate(engine)
    service = build(SqlStore(engine))
    assert service.prices.prices().values["0080"][CPU] == 15
    (legacy,) = service.prices.price_lists()
    assert legacy.origin == "legacy"
    # A source that prices it later wins over the legacy list, and the rest stays.
    service.prices.store_price_lists([OriginPrices("http://a", PriceList({"0080": {CPU: 20.0}}))])
    assert service.prices.prices().values["0080"][CPU] == 20
    engine.dispose()


def test_the_api_sets_reads_and_drops_lists_by_origin(app_client) -> None:  # type: ignore[no-untyped-def]
    api = app_client(api_token="t0ken")
    auth = {"X-Auth-Token": "t0ken"}
    source = "http://monitoring:21122"
    put = api.put(
        "/api/v1/prices", content=b"values: {R1: {CPU: 10}, R2: {CPU: 20}}\n",
        params={"origin": source}, headers=auth,
    )  # fmt: skip
    assert put.status_code == 200, put.text
    assert put.json()["origin"] == source
    assert api.put("/api/v1/prices", json={"values": {"R1": {"CPU": 1}}}, headers=auth).is_success

    merged = api.get("/api/v1/prices").json()
    assert merged["values"] == {"R1": {"CPU": 1}, "R2": {"CPU": 20}}
    assert [(o["origin"], o["resources"]) for o in merged["origins"]] == [
        ("manual", 1),
        (source, 2),
    ]
    assert api.get("/api/v1/prices", params={"origin": source}).json()["values"]["R1"] == {
        "CPU": 10
    }
    assert api.get("/api/v1/costs/total").status_code == 200

    assert api.delete("/api/v1/prices", params={"origin": "manual"}).status_code == 401
    dropped = api.delete("/api/v1/prices", params={"origin": "manual"}, headers=auth)
    assert dropped.status_code == 200 and dropped.json()["values"]["R1"] == {"CPU": 10}
    missing = api.delete("/api/v1/prices", params={"origin": "manual"}, headers=auth)
    assert missing.status_code == 404
    assert missing.headers["content-type"].startswith("application/problem+json")
    for origin in ("x" * 501, "a\x00b", "tab\there"):  # refused whole, never cut
        for method in ("GET", "PUT", "DELETE"):
            refused = api.request(
                method, "/api/v1/prices", params={"origin": origin}, json={"values": {}},
                headers=auth,
            )  # fmt: skip
            assert refused.status_code in {400, 422}, (method, origin, refused.text)
            assert refused.headers["content-type"].startswith("application/problem+json")
    assert [o["origin"] for o in api.get("/api/v1/prices").json()["origins"]] == [source]


def test_a_partial_hand_set_list_overrides_only_what_it_prices(app_client) -> None:  # type: ignore[no-untyped-def]
    api = app_client(api_token="t", sources=["http://src"])
    auth = {"X-Auth-Token": "t"}
    full = {"values": {"m1": {"CPU": 10, "RAM": 20, "NetFlow": 30}}}
    assert api.put("/api/v1/prices", json=full, params={"origin": "http://src"}, headers=auth)
    assert api.put("/api/v1/prices", json={"values": {"m1": {"CPU": 99}}}, headers=auth)
    assert api.get("/api/v1/prices").json()["values"]["m1"] == {"CPU": 99, "RAM": 20, "NetFlow": 30}


def test_one_pulls_lists_are_stored_together_and_a_stale_one_is_left_out(app_client) -> None:  # type: ignore[no-untyped-def]
    api = app_client(api_token="t")
    auth = {"X-Auth-Token": "t"}
    body = {
        "lists": [
            {
                "origin": "http://a",
                "fetched_at": "2026-12-01T10:00:00Z",
                "values": {"R": {"CPU": 1}},
            },
            {
                "origin": "http://b",
                "fetched_at": "2026-12-01T10:00:00Z",
                "values": {"S": {"CPU": 2}},
            },
        ]
    }
    answer = api.put("/api/v1/prices/sources", json=body, headers=auth)
    assert answer.status_code == 200, answer.text
    assert answer.json() == {"stored": ["http://a", "http://b"], "stale": []}
    # One bad list refuses the whole request: the good one beside it is not stored.
    bad = {"lists": [
        {"origin": "http://a", "values": {"R": {"CPU": 5}}},
        {"origin": "http://b", "values": {"S": {"CPU": -1}}},
    ]}  # fmt: skip
    refused = api.put("/api/v1/prices/sources", json=bad, headers=auth)
    assert refused.status_code == 422, refused.text
    assert api.get("/api/v1/prices").json()["values"] == {"R": {"CPU": 1}, "S": {"CPU": 2}}
    # A list fetched before the stored one of its origin is left out (a slow, late pull).
    late = {"lists": [
        {"origin": "http://a", "fetched_at": "2026-12-01T09:00:00Z", "values": {"R": {"CPU": 7}}},
        {"origin": "http://b", "fetched_at": "2026-12-01T11:00:00", "values": {"S": {"CPU": 8}}},
    ]}  # fmt: skip
    answer = api.put("/api/v1/prices/sources", json=late, headers=auth)
    assert answer.json() == {"stored": ["http://b"], "stale": ["http://a"]}
    assert api.get("/api/v1/prices").json()["values"] == {"R": {"CPU": 1}, "S": {"CPU": 8}}
    assert api.put("/api/v1/prices/sources", json=body).status_code == 401
