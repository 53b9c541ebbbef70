"""Scheduled refresh: every worker ticks, the lease in the store lets one pull at a time."""

from __future__ import annotations

import asyncio
import logging
import random

from usagelens.config import Settings
from usagelens.services import UsageLens
from usagelens.wiring import holder_name, refresh_configured

log = logging.getLogger("usagelens.scheduler")


async def run_scheduled_refresh(service: UsageLens, settings: Settings) -> None:
    """Refresh from the configured sources about every ``settings.refresh_every`` seconds.

    Runs until cancelled. Each worker checks a few times per period; the store's refresh
    lease makes sure that only one of them (on any host) pulls, and only when the last
    refresh started long enough ago.
    """
    every = settings.refresh_every
    if every is None:
        return
    holder = holder_name("scheduler")
    await asyncio.sleep(random.uniform(0, min(every, 2.0)))  # spread the workers out
    while True:
        try:
            outcomes = await refresh_configured(
                service, settings, holder=holder, min_interval=every * 0.95
            )
            if outcomes is not None:
                failed = [o for o in outcomes if not o.ok]
                log.info("scheduled refresh: %d pulls, %d failed", len(outcomes), len(failed))
                for outcome in failed:
                    log.warning("pull failed: %s", outcome.detail)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("scheduled refresh failed")
        await asyncio.sleep(max(0.5, every / 4))
