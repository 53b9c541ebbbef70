"""Scheduled refresh: every worker ticks, the lease in the store lets one pull at a time."""

from __future__ import annotations

import asyncio
import logging
import random

import httpx

from usagelens.app import Maintenance, Recommendations, Refresh
from usagelens.config import Settings
from usagelens.digest import digest_message
from usagelens.wiring import holder_name, refresh_configured

log = logging.getLogger("usagelens.scheduler")


async def run_scheduled_refresh(refresh: Refresh, settings: Settings) -> None:
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
                refresh, settings, holder=holder, min_interval=every * 0.95
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


RETENTION_EVERY = 600.0
"""Seconds between retention passes (each worker; a pass with nothing to do is one query)."""


async def run_retention(maintenance: Maintenance, settings: Settings) -> None:
    """Prune observations older than ``settings.retention`` every RETENTION_EVERY seconds.

    Runs until cancelled. Each pass deletes in small transactions (see Maintenance.prune),
    so ingest is never held up for long.
    """
    retention = settings.retention
    if retention is None:
        return
    await asyncio.sleep(random.uniform(0, 5.0))
    while True:
        try:
            result = await asyncio.to_thread(maintenance.prune, retention)
            if result.observations:
                log.info(
                    "retention: pruned %d observations older than %s",
                    result.observations,
                    retention,
                )
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("retention pass failed")
        await asyncio.sleep(RETENTION_EVERY * random.uniform(0.9, 1.1))


SETTLE_EVERY = 60.0
"""Seconds between writing down the moves time made to recommendations (each worker)."""


async def run_settle(recommendations: Recommendations) -> None:
    """Write down snoozes that ended and claimed deletions that succeeded or failed, every
    SETTLE_EVERY seconds, so that metrics and alerts see them. Runs until cancelled."""
    await asyncio.sleep(random.uniform(0, 5.0))
    while True:
        try:
            moved = await asyncio.to_thread(recommendations.settle)
            if moved:
                log.info("recommendations: %d moved by time", moved)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("settling recommendations failed")
        await asyncio.sleep(SETTLE_EVERY * random.uniform(0.9, 1.1))


async def run_digest(recommendations: Recommendations, settings: Settings, currency: str) -> None:
    """Post the new delete candidates to USAGELENS_DIGEST_WEBHOOK every USAGELENS_DIGEST_EVERY.

    Candidates are claimed in the store before the post (two workers never post the same
    one) and given back if the post fails, so each is posted once.
    """
    from usagelens.api.schemas import recommendation_out

    every, webhook = settings.digest_every, settings.digest_webhook
    if every is None or webhook is None:
        return
    await asyncio.sleep(random.uniform(0, min(every, 5.0)))
    async with httpx.AsyncClient(timeout=30) as client:
        while True:
            try:
                found = await asyncio.to_thread(recommendations.new_candidates)
                claimed = await asyncio.to_thread(recommendations.mark_digested, found)
                if claimed:
                    message = digest_message(
                        [recommendation_out(i) for i in claimed],
                        currency,
                        settings.team_contacts(),
                    )
                    try:
                        answer = await client.post(webhook, json=message)
                        answer.raise_for_status()
                        log.info("digest: posted %d new candidates", len(claimed))
                    except httpx.HTTPError:
                        await asyncio.to_thread(recommendations.unmark_digested, claimed)
                        raise
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("digest failed")
            await asyncio.sleep(every)
