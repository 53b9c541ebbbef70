"""Fixtures for the course examples: load them from their files, start the catalogue for real."""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest

from tests.conftest import Server, free_port, missing_server

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
CATALOG = EXAMPLES / "course_catalog"


def load_example(path: Path, name: str) -> ModuleType:
    """Import an example from its file under a name of its own (the examples are no package)."""
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses and pydantic look their module up here
    spec.loader.exec_module(module)
    return module


def catalog(db: Path, log: Path, workers: int) -> Server:
    """Start ``uvicorn app:app`` from the example's folder, as its README says."""
    env = {"COURSE_DB": str(db), "PYTHONUNBUFFERED": "1"}
    args = ["app:app", "--workers", str(workers)]
    server = Server(args, env, free_port(), log, module="uvicorn", cwd=CATALOG)
    server.wait_ready("/courses")
    return server


@pytest.fixture
def catalog_server(tmp_path: Path) -> Iterator:  # type: ignore[type-arg]
    """Start the catalogue on a fresh database: ``catalog_server(workers=2)``; stopped after."""
    if importlib.util.find_spec("uvicorn") is None:
        missing_server("uvicorn is not installed")
    servers: list[Server] = []

    def start(workers: int = 1) -> Server:
        server = catalog(tmp_path / "courses.db", tmp_path / f"uvicorn-{len(servers)}.log", workers)
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()
