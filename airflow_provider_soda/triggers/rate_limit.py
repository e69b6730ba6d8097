"""Trigger that waits out a Soda Cloud rate-limit window in the triggerer."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

from airflow.triggers.base import BaseTrigger, TriggerEvent


class SodaCloudRateLimitTrigger(BaseTrigger):
    """Fire ``delay`` seconds after it starts, handing ``progress`` back to the deferred operator.

    The wait is a duration measured on the triggerer's own clock, not a moment computed on the
    worker's: with a moment, a triggerer whose clock runs ahead fired early, and the task, finding
    its booked slot not yet due, lost its place in the queue. Starting in the triggerer comes after
    the deferral, so the task resumes a little after its slot, within the slot's hold.

    ``moment`` (a timezone-aware datetime) is what tasks deferred before 0.5.0 carry; it is still
    honoured for them.

    Progress travels in the event payload rather than in the defer call's ``kwargs`` because
    ``dag.test()`` replaces those kwargs with the event, while the event reaches the resumed task
    both there and under a real triggerer.

    :param delay: seconds to wait, on the triggerer's clock.
    :param moment: when to fire (timezone-aware); only for tasks deferred before 0.5.0.
    :param progress: what the deferred operator hands back to itself.
    """

    def __init__(
        self,
        moment: datetime | None = None,
        progress: dict[str, Any] | None = None,
        *,
        delay: float | None = None,
    ) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        if (moment is None) == (delay is None):
            raise ValueError("give either delay (seconds) or moment (a timezone-aware datetime)")
        if moment is not None and moment.tzinfo is None:
            raise ValueError("moment must be timezone-aware")
        self.moment = moment
        self.delay = None if delay is None else max(0.0, float(delay))
        self.progress = progress or {}

    def serialize(self) -> tuple[str, dict[str, Any]]:
        kwargs: dict[str, Any] = {"progress": self.progress}
        if self.delay is not None:
            kwargs["delay"] = self.delay
        else:
            kwargs["moment"] = self.moment
        return f"{type(self).__module__}.{type(self).__qualname__}", kwargs

    async def run(self) -> AsyncIterator[TriggerEvent]:
        if self.delay is not None:
            wait = self.delay
        else:
            assert self.moment is not None
            wait = (self.moment - datetime.now(UTC)).total_seconds()
        if wait > 0:
            await asyncio.sleep(wait)
        yield TriggerEvent({"progress": self.progress})  # type: ignore[no-untyped-call]
