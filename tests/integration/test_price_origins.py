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
from usagelens.domain.errors import LeaseLost
from usagelens.domain.model import Dimension
from usagelens.domain.prices import MANUAL_ORIGIN, OriginPrices, PriceList
from usagelens.services import UsageLens
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
def service(database_url: str) -> Iterator[UsageLens]:
    engine = create_engine_for(database_url)
    migrate(engine)
    yield UsageLens(SqlStore(engine))
    engine.dispose()


def _refresh(service: UsageLens, urls: list[str], holder: str = "test") -> list:  # type: ignore[type-arg]
    async def run() -> list:  # type: ignore[type-arg]
        async with open_sources(urls, timeout=5) as (http, tables):
            outcomes = await service.refresh_exclusive(http, [], tables=tables, holder=holder)
        assert outcomes is not None
        return outcomes

    return asyncio.run(run())


def _cpu(service: UsageLens) -> dict[str, float]:
    return {r: dims[CPU] for r, dims in service.prices().values.items() if CPU in dims}


def test_each_origin_replaces_only_its_own_list(
    service: UsageLens, sources: tuple[PriceSource, PriceSource]
) -> None:
    first, second = sources
    service.replace_prices(b"values: {R1: {CPU: 1}}\n")  # by hand
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

    lists = {entry.origin: entry for entry in service.price_lists()}
    assert set(lists) == {MANUAL_ORIGIN, first.url, second.url}
    assert lists[second.url].rank > lists[first.url].rank
    assert service.prices(first.url).values["R2"][CPU] == 21

    # Forgetting the hand-set list lets the sources' price show.
    assert service.drop_prices(MANUAL_ORIGIN)
    assert not service.drop_prices(MANUAL_ORIGIN)
    assert _cpu(service)["R1"] == 11


def test_a_refresh_whose_lease_ran_out_is_fenced(service: UsageLens) -> None:
    old = service._lease("slow refresh", 0.3, None)
    assert old is not None
    assert service._lease("another", 600, None) is None  # held
    time.sleep(0.6)  # by the database's clock, the lease has run out
    new = service._lease("another", 600, None)
    assert new is not None and new > old

    late = [OriginPrices("http://slow", 0, PriceList({"R1": {CPU: 99.0}}))]
    with pytest.raises(LeaseLost):
        service.store_price_lists(late, fence=old)
    assert "R1" not in service.prices().values
    assert not service._finish(old, [])  # its outcome is not recorded either
    assert service.refresh_status()["running"]  # the new holder still has it

    service.store_price_lists(late, fence=new)
    assert service.prices().values["R1"][CPU] == 99
    assert service._finish(new, [])
    assert not service.refresh_status()["running"]


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
    service = UsageLens(SqlStore(engine))
    assert service.prices().values["0080"][CPU] == 15
    (legacy,) = service.price_lists()
    assert (legacy.origin, legacy.rank) == ("legacy", -1)
    # A source that prices it later wins over the legacy list, and the rest stays.
    service.store_source_prices([OriginPrices("http://a", 0, PriceList({"0080": {CPU: 20.0}}))])
    assert service.prices().values["0080"][CPU] == 20
    engine.dispose()


def test_the_api_sets_reads_and_drops_lists_by_origin(app_client) -> None:  # type: ignore[no-untyped-def]
    api = app_client(api_token="t0ken")
    auth = {"X-Auth-Token": "t0ken"}
    source = "http://monitoring:21122"
    put = api.put(
        "/api/v1/prices", content=b"values: {R1: {CPU: 10}, R2: {CPU: 20}}\n",
        params={"origin": source, "rank": 3}, headers=auth,
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
    bad_rank = api.put("/api/v1/prices", json={"values": {}}, params={"rank": -1}, headers=auth)
    assert bad_rank.status_code == 422
