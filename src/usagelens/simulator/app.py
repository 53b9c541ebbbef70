"""The simulator's HTTP face: the two endpoints of a course-compatible source (SPEC 1.3)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime

from fastapi import FastAPI, HTTPException
from fastapi.responses import PlainTextResponse
from starlette.concurrency import run_in_threadpool

from usagelens.domain.summary import render_summary
from usagelens.simulator.data import company, price_list_yaml


def create_simulator_app(
    branches: int = 10,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    delay: float = 0.0,
) -> FastAPI:
    """Build a source serving company branches 1..``branches``; others answer 404.

    ``delay`` makes every answer take that many seconds more (a slow source).
    """
    app = FastAPI(title="usagelens monitoring simulator", docs_url=None, redoc_url=None)

    @app.get("/monitoring/infrastructure/using/summary/{company_branch}")
    async def summary(company_branch: int) -> PlainTextResponse:
        await asyncio.sleep(delay)
        if not 1 <= company_branch <= branches:
            raise HTTPException(404, f"no company branch {company_branch} (1 to {branches})")
        text = await run_in_threadpool(
            lambda: render_summary(company(company_branch).observations(clock()))
        )
        return PlainTextResponse(text)

    @app.get("/monitoring/infrastructure/using/prices")
    async def prices() -> PlainTextResponse:
        await asyncio.sleep(delay)
        text = await run_in_threadpool(
            lambda: price_list_yaml([company(b) for b in range(1, branches + 1)])
        )
        return PlainTextResponse(text, media_type="application/yaml")

    return app
