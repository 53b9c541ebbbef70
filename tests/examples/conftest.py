"""Fixtures for the course examples: load them from their files, start the catalogue for real."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import httpx
import pytest

from tests.conftest import free_port, missing_server

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


class CatalogServer:
    """``uvicorn app:app`` started from the example's folder, as its README says."""

    def __init__(self, db: Path, log: Path, workers: int) -> None:
        port = free_port()
        self.url = f"http://127.0.0.1:{port}"
        self.log = log
        self._log_file = log.open("wb")
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "uvicorn",
                "app:app",
                "--port",
                str(port),
                "--workers",
                str(workers),
            ],
            cwd=CATALOG,
            env={**os.environ, "COURSE_DB": str(db), "PYTHONUNBUFFERED": "1"},
            stdout=self._log_file,
            stderr=subprocess.STDOUT,
        )

    def wait_ready(self, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited: {self.log.read_text()}")
            try:
                if httpx.get(self.url + "/courses", timeout=5).status_code == 200:
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


@pytest.fixture
def catalog_server(tmp_path: Path) -> Iterator:  # type: ignore[type-arg]
    """Start the catalogue on a fresh database: ``catalog_server(workers=2)``; stopped after."""
    if importlib.util.find_spec("uvicorn") is None:
        missing_server("uvicorn is not installed")
    servers: list[CatalogServer] = []

    def start(workers: int = 1) -> CatalogServer:
        server = CatalogServer(
            tmp_path / "courses.db", tmp_path / f"uvicorn-{len(servers)}.log", workers
        )
        servers.append(server)
        server.wait_ready()
        return server

    yield start
    for server in servers:
        server.stop()
