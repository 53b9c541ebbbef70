"""Shared fixtures: sample data, databases (SQLite files and PostgreSQL), real servers."""

from __future__ import annotations

import itertools
import os
import re
import secrets
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import pytest

if TYPE_CHECKING:
    from sqlalchemy import Engine, MetaData

    from usagelens.app import Handlers

DATA = Path(__file__).parent / "data"
IN_CI = os.environ.get("CI", "").lower() == "true"
PG_ADMIN_URL = os.environ.get("USAGELENS_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")
DEPTH = float(os.environ.get("USAGELENS_TEST_DEPTH", "0.5"))
"""How hard the generated and timed tests push: 0.5 for ``make test`` (lean), 1 for
``make test-deep``. ``depth(n)`` scales a count of generated cases or seconds."""


def depth(full: float) -> int:
    """``full`` (what ``make test-deep`` runs) scaled by ``USAGELENS_TEST_DEPTH``, at least 1."""
    return max(1, round(full * DEPTH))


def _one_ssl_context() -> None:
    """Build httpx's default SSL context once for the whole test process.

    httpx builds a new one (loading the CA bundle: ~25 ms of CPU here) for every
    ``httpx.get``/``post`` and every ``Client``, even for plain ``http://`` URLs. The tests
    make thousands of such calls to loopback servers, and the readiness polls one every
    0.1 s: py-spy found 40 s of the suite's CPU in ``Server.wait_ready`` alone. The context
    for the default arguments is immutable in use, so sharing it changes nothing else.
    """
    import functools

    import httpx._transports.default as transports

    build = transports.create_ssl_context
    shared = functools.lru_cache(maxsize=None)(build)

    def create_ssl_context(verify: Any = True, cert: Any = None, trust_env: bool = True) -> Any:
        if verify is True and cert is None:
            return shared(verify=verify, cert=cert, trust_env=trust_env)
        return build(verify=verify, cert=cert, trust_env=trust_env)

    transports.create_ssl_context = create_ssl_context  # type: ignore[assignment]


_one_ssl_context()


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Start each xdist worker on its share of the ``heavy`` tests (ten seconds or more).

    Work stealing hands each worker one contiguous block of the collection and steals
    from a block's end, so the suite ends when its last-started test ends: a heavy test
    left for the end kept one core busy alone. Here block ``i`` (the sizes xdist will cut)
    opens with every ``workers``-th heavy test; the light tests keep their order (pytest's
    own, which keeps tests sharing a module fixture together).
    """
    workers = int(getattr(config, "workerinput", {}).get("workercount", 1))
    heavy: list[pytest.Item] = []
    rest: list[pytest.Item] = []
    for item in items:
        (heavy if item.get_closest_marker("heavy") else rest).append(item)
    light = iter(rest)
    ordered: list[pytest.Item] = []
    remaining = len(items)
    for block in range(workers):
        size = remaining // (workers - block)
        remaining -= size
        share = heavy[block::workers]
        ordered += share + list(itertools.islice(light, max(0, size - len(share))))
    ordered += list(light)
    items[:] = ordered


def missing_server(reason: str) -> None:
    """Skip with a visible reason on a user's machine; fail under CI=true."""
    if IN_CI:
        pytest.fail(f"{reason} (CI=true: a missing server is a failure)")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def sample_summary() -> bytes:
    return (DATA / "summary_1.txt").read_bytes()


@pytest.fixture(scope="session")
def sample_prices() -> bytes:
    return (DATA / "prices_1.yaml").read_bytes()


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'usagelens.db'}"


def _pg_connect(dbname: str | None = None):  # type: ignore[no-untyped-def]
    import psycopg

    url = PG_ADMIN_URL if dbname is None else _pg_url(dbname)
    return psycopg.connect(url, autocommit=True, connect_timeout=3)


def _pg_url(dbname: str) -> str:
    return PG_ADMIN_URL.rsplit("/", 1)[0] + "/" + dbname


@contextmanager
def _new_postgres_database() -> Iterator[str]:
    """Create an empty PostgreSQL database; drop it (whoever is connected) at the end."""
    import psycopg

    try:
        admin = _pg_connect()
    except psycopg.OperationalError as exc:
        missing_server(f"PostgreSQL not reachable at {PG_ADMIN_URL}: {exc}")
    name = f"usagelens_test_{secrets.token_hex(6)}"
    with admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield _pg_url(name)
    finally:
        with _pg_connect() as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A fresh PostgreSQL database for one test, dropped afterwards."""
    with _new_postgres_database() as url:
        yield url


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest) -> str:
    """Each test using this runs on a real SQLite file and on a real PostgreSQL database."""
    if request.param == "sqlite":
        return str(request.getfixturevalue("sqlite_url"))
    return str(request.getfixturevalue("postgres_url"))


@dataclass
class _NewStore:
    """A migrated module database: its engine, its tables, and the rows a new store holds."""

    engine: Engine
    tables: MetaData
    rows: dict[str, list[dict[str, Any]]]


_NEW_STORES: dict[str, _NewStore] = {}
"""The module databases in use, by URL (see ``empty_store``)."""


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]
)
def module_database_url(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """One migrated database per module and backend (a real SQLite file, then a real
    PostgreSQL database dropped at the module's end), for suites too slow to build one
    per test. Tests share what they store unless they call ``empty_store``."""
    from sqlalchemy import MetaData, select

    from usagelens.storage import create_engine_for, migrate

    with ExitStack() as stack:
        if request.param == "sqlite":
            url = f"sqlite:///{tmp_path_factory.mktemp('module-db') / 'usagelens.db'}"
        else:
            url = stack.enter_context(_new_postgres_database())
        engine = create_engine_for(url)
        stack.callback(engine.dispose)
        migrate(engine)
        tables = MetaData()
        tables.reflect(engine)
        with engine.connect() as conn:
            rows = {
                table.name: [dict(row._mapping) for row in conn.execute(select(table))]
                for table in tables.sorted_tables
            }
        _NEW_STORES[url] = _NewStore(engine, tables, rows)
        try:
            yield url
        finally:
            del _NEW_STORES[url]


def empty_store(url: str) -> None:
    """Make a ``module_database_url`` store new again: every table as ``migrate`` left it."""
    new = _NEW_STORES[url]
    with new.engine.begin() as conn:
        for table in reversed(new.tables.sorted_tables):
            conn.execute(table.delete())
            if new.rows[table.name]:
                conn.execute(table.insert(), new.rows[table.name])


def store_content(store: str | Handlers) -> dict[str, object]:
    """Return the store's whole content: its ``export`` without the time it was taken.

    ``store`` is a database URL or the handlers of any store (the in-memory one too).
    """
    from usagelens.app import Handlers, build
    from usagelens.storage import SqlStore, create_engine_for

    if isinstance(store, Handlers):
        return _content(store)
    if store in _NEW_STORES:
        return _content(build(SqlStore(_NEW_STORES[store].engine)))
    engine = create_engine_for(store)
    try:
        return _content(build(SqlStore(engine)))
    finally:
        engine.dispose()


def _content(handlers: Handlers) -> dict[str, object]:
    document = handlers.maintenance.export()
    del document["exported_at"]
    return document


def run_cli(
    *args: str, env: dict[str, str | None] | None = None, input: str | None = None
) -> subprocess.CompletedProcess[str]:
    """Run ``usagelens ARGS`` in this process, as a script would run it: stdin is no
    terminal, the environment is this process's plus ``env`` (a None value unsets that
    variable), and the answer is the exit code and the two streams, as ``subprocess.run``
    gives them.

    It is the same ``main`` that ``python -m usagelens`` runs (its error handling
    included), without a new interpreter importing the app for each command (~1 s of
    CPU). Tests of what only a process shows (a terminal, signals, the entry point) start
    one instead.
    """
    from click.testing import CliRunner

    from usagelens.cli import main

    code = 0
    with CliRunner().isolation(input=input, env=env) as (out, err, _):
        try:
            main(list(args))
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 0 if exc.code is None else 1
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
        stdout, stderr = out.getvalue().decode(), err.getvalue().decode()
    return subprocess.CompletedProcess(["usagelens", *args], code, stdout, stderr)


SIMULATOR_READY = "/openapi.json"
"""The path to poll for a simulator's start: its API document answers at once, where its
data paths wait out ``--delay`` first (4 s per poll for the slowest simulators here)."""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Server:
    """A usagelens process (``serve`` or ``simulate``), or another ``python -m`` server
    such as uvicorn, on a loopback port."""

    def __init__(
        self,
        args: list[str],
        env: dict[str, str],
        port: int,
        log: Path,
        *,
        module: str = "usagelens",
        cwd: Path | None = None,
    ) -> None:
        self.url = f"http://127.0.0.1:{port}"
        self.log = log
        self._log_file = log.open("wb")
        self.process = subprocess.Popen(
            [sys.executable, "-m", module, *args, "--port", str(port)],
            env={**os.environ, **env},
            cwd=cwd,
            stdout=self._log_file,
            stderr=subprocess.STDOUT,
        )

    def wait_ready(self, path: str, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited: {self.log.read_text()}")
            try:
                if httpx.get(self.url + path, timeout=5).status_code < 500:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"server did not start in {timeout}s: {self.log.read_text()}")

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self._log_file.close()


_LOG_TROUBLE = re.compile(r'ERROR|WARNING|Traceback|unhandled error|internal error|" 5\d\d ')


def log_excerpt(log: Path, tail: int = 40) -> str:
    """Return a server log's troubled lines (errors, warnings, 5xx answers), then its end."""
    lines = log.read_text(errors="replace").splitlines()
    trouble = [line for line in lines if _LOG_TROUBLE.search(line)][:200]
    return "\n".join([*trouble, f"--- last {tail} of {len(lines)} lines ---", *lines[-tail:]])


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[Any]:
    """Show the logs of the servers a failed test started (``start_server``) in its report."""
    report = yield
    if report.failed:
        for server in getattr(item, "usagelens_servers", ()):
            report.sections.append((f"server log {server.log}", log_excerpt(server.log)))
    return report


@pytest.fixture
def start_server(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator:  # type: ignore[type-arg]
    """Start ``usagelens serve`` with extra env; stopped at the end of the test (a failed
    test's report shows what their logs say)."""
    servers: list[Server] = []
    request.node.usagelens_servers = servers

    def start(env: dict[str, str] | None = None, workers: int = 1) -> Server:
        env = {"USAGELENS_DATABASE_URL": f"sqlite:///{tmp_path / 'api.db'}", **(env or {})}
        args = ["serve", "--workers", str(workers)]
        server = Server(args, env, free_port(), tmp_path / f"serve-{len(servers)}.log")
        servers.append(server)
        server.wait_ready("/healthz")
        return server

    yield start
    for server in servers:
        server.stop()


class InProcessClient:
    """Call an ASGI app in-process through httpx.ASGITransport, from synchronous tests.

    The app runs on an event loop in a helper thread (an anyio blocking portal), with
    its lifespan entered, exactly as a server would run it; no socket is opened.
    """

    database_url: str | None = None
    """The app's database, when the test built it (``app_client``)."""

    def __init__(self, app: Any, base_url: str = "http://testserver") -> None:
        from anyio.from_thread import start_blocking_portal

        self._portal_cm = start_blocking_portal()
        self._portal = self._portal_cm.__enter__()
        self._lifespan = self._portal.wrap_async_context_manager(app.router.lifespan_context(app))
        self._lifespan.__enter__()
        transport = httpx.ASGITransport(app=app, client=("192.0.2.10", 50000))
        self._client = httpx.AsyncClient(transport=transport, base_url=base_url, timeout=60)

    def request(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        content = kwargs.get("content")
        if content is not None and not isinstance(content, bytes | str):
            chunks = list(content)  # a generator body, streamed to the app chunk by chunk

            async def stream() -> AsyncIterator[bytes]:
                for chunk in chunks:
                    yield chunk

            kwargs["content"] = stream()
        response: httpx.Response = self._portal.call(
            lambda: self._client.request(method, url, **kwargs)
        )
        return response

    def get(self, url: str, **kwargs: Any) -> httpx.Response:
        return self.request("GET", url, **kwargs)

    def post(self, url: str, **kwargs: Any) -> httpx.Response:
        return self.request("POST", url, **kwargs)

    def put(self, url: str, **kwargs: Any) -> httpx.Response:
        return self.request("PUT", url, **kwargs)

    def delete(self, url: str, **kwargs: Any) -> httpx.Response:
        return self.request("DELETE", url, **kwargs)

    def close(self) -> None:
        self._portal.call(self._client.aclose)
        self._lifespan.__exit__(None, None, None)
        self._portal_cm.__exit__(None, None, None)


@pytest.fixture
def app_client(tmp_path: Path) -> Iterator:  # type: ignore[type-arg]
    """Build the API in-process on a real SQLite file (see InProcessClient).

    ``app_client(api_token="…", …)`` takes settings as keyword arguments. The client
    address is a non-loopback one, like a remote caller's.
    """
    from usagelens.api import create_app
    from usagelens.config import load_settings
    from usagelens.storage import create_engine_for, migrate

    clients: list[InProcessClient] = []

    def build(**overrides: object) -> InProcessClient:
        settings = load_settings(
            database_url=f"sqlite:///{tmp_path / f'app-{len(clients)}.db'}", **overrides
        )
        engine = create_engine_for(settings.database_url)
        migrate(engine)
        engine.dispose()
        client = InProcessClient(create_app(settings))
        client.database_url = settings.database_url
        clients.append(client)
        return client

    yield build
    for client in clients:
        client.close()


def load_sample(
    client: InProcessClient, token: str, summary: bytes, prices: bytes
) -> InProcessClient:
    """Post the sample summary and put its price list with ``token`` (both must be taken)."""
    headers = {"X-Auth-Token": token, "Content-Type": "text/plain"}
    sent = client.post("/api/v1/usage", content=summary, headers=headers)
    assert sent.status_code == 200, sent.text
    put = client.put("/api/v1/prices", content=prices, headers={"X-Auth-Token": token})
    assert put.status_code == 200, put.text
    return client


@pytest.fixture
def simulator(tmp_path: Path) -> Iterator[Server]:
    """A real simulator process serving branches 1..3."""
    # A fixed end time, so that data fetched again later in a test is the same.
    args = ["simulate", "--branches", "3", "--end", "2026-11-27 12:00:00"]
    server = Server(args, {}, free_port(), tmp_path / "sim.log")
    try:
        server.wait_ready(SIMULATOR_READY)
        yield server
    finally:
        server.stop()


def scrape(
    url: str | httpx.Client | InProcessClient, accept: str | None = None
) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """Scrape /metrics (a URL: on a new connection); return {(sample name, labels): value}."""
    return parse_exposition(scrape_text(url, accept))


def scrape_text(url: str | httpx.Client | InProcessClient, accept: str | None = None) -> str:
    """Scrape /metrics (a URL: on a new connection); return the exposition, refusing a 4xx/5xx."""
    headers = {"Accept": accept} if accept else {}
    if isinstance(url, str):
        response = httpx.get(url + "/metrics", headers=headers, timeout=30)
    else:
        response = url.get("/metrics", headers=headers)
    response.raise_for_status()
    return response.text


def parse_exposition(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """Parse a Prometheus text exposition into {(sample name, labels): value}."""
    from prometheus_client.parser import text_string_to_metric_families

    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


SERVICE_METRICS = "usagelens_http_"
"""The name prefix of the service's own request metrics, which differ between scrapes."""


def domain_samples(samples: dict) -> dict:  # type: ignore[type-arg]
    """Keep the samples that describe the data (not the service's own request metrics)."""
    return {k: v for k, v in samples.items() if not k[0].startswith(SERVICE_METRICS)}


def _installed(command: str, what: str) -> str:
    import shutil

    path = shutil.which(command)
    if path is None:
        missing_server(f"{what} not installed (Debian package 'prometheus')")
    return str(path)


@pytest.fixture(scope="session")
def promtool() -> str:
    return _installed("promtool", "promtool")


@pytest.fixture(scope="session")
def prometheus_binary() -> str:
    return _installed("prometheus", "Prometheus server")


@pytest.fixture(scope="session")
def httpbin_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real httpbin server (PyPI package httpbin, Flask's threaded server) on loopback."""
    port = free_port()
    log = (tmp_path_factory.mktemp("httpbin") / "httpbin.log").open("wb")
    process = subprocess.Popen(
        [sys.executable, "-W", "ignore", "-m", "httpbin.core", "--port", str(port)],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(url + "/get", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline or process.poll() is not None:
                missing_server("httpbin did not start (pip package httpbin)")
            time.sleep(0.1)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=10)
        log.close()
