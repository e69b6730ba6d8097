"""Trigger that waits out a Soda Cloud rate-limit window in the triggerer."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

from airflow.triggers.base import BaseTrigger, TriggerEvent


class SodaCloudRateLimitTrigger(BaseTrigger):
    """Fire at ``moment``, handing ``progress`` back to the deferred operator in the event.

    Progress travels in the event payload rather than in the defer call's ``kwargs`` because
    ``dag.test()`` replaces those kwargs with the event, while the event reaches the resumed task
    both there and under a real triggerer.
    """

    def __init__(self, moment: datetime, progress: dict[str, Any] | None = None) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        if moment.tzinfo is None:
            raise ValueError("moment must be timezone-aware")
        self.moment = moment
        self.progress = progress or {}

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return f"{type(self).__module__}.{type(self).__qualname__}", {
            "moment": self.moment,
            "progress": self.progress,
        }

    async def run(self) -> AsyncIterator[TriggerEvent]:
        delay = (self.moment - datetime.now(UTC)).total_seconds()
        if delay > 0:
            await asyncio.sleep(delay)
        yield TriggerEvent({"progress": self.progress})  # type: ignore[no-untyped-call]
