"""A deferred task keeps its booked rate-limit slot whatever the triggerer's clock says (issue #21, item 7)."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from airflow_provider_soda.testing import DEMO_INCIDENT_ID, SodaCloudEmulator
from airflow_provider_soda.triggers import rate_limit as rate_limit_module
from airflow_provider_soda.triggers.rate_limit import SodaCloudRateLimitTrigger


class _AnHourAhead(datetime):
    """The triggerer's clock, an hour ahead of the worker's."""

    @classmethod
    def now(cls, tz: Any = None) -> Any:  # type: ignore[override]
        return datetime.now(tz) + timedelta(hours=1)


async def _fired_after(trigger: SodaCloudRateLimitTrigger) -> tuple[float, dict[str, Any]]:
    started = time.monotonic()
    async for event in trigger.run():
        return time.monotonic() - started, dict(event.payload)
    raise AssertionError("no event")


def test_a_deferral_waits_its_delay_on_a_triggerer_whose_clock_runs_ahead(
    soda_cloud_emulator: SodaCloudEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Before: the trigger fired at a moment computed on the worker's clock, so a triggerer ahead
    fired at once and the task, finding its slot not yet due, queued again at the back."""
    from airflow.providers.common.compat.sdk import TaskDeferred

    from airflow_provider_soda.hooks.soda_cloud import SodaCloudHook
    from airflow_provider_soda.operators.incidents import UpdateIncidentOperator

    hook = SodaCloudHook()
    ahead = [hook.reserve_slot() for _ in range(14)]  # 14 requests queued ahead of the task
    operator = UpdateIncidentOperator(
        task_id="t", incident_id=DEMO_INCIDENT_ID, status="fixing", deferrable=True
    )
    with pytest.raises(TaskDeferred) as deferred:
        operator.execute({"ti": None})  # type: ignore[arg-type]
    trigger = deferred.value.trigger
    assert isinstance(trigger, SodaCloudRateLimitTrigger)
    _, kwargs = trigger.serialize()
    assert "moment" not in kwargs
    assert kwargs["delay"] > 30  # its slot is in the next window
    assert kwargs["progress"]["position"] == 14  # the position the booking truly had

    monkeypatch.setattr(rate_limit_module, "datetime", _AnHourAhead)
    short = SodaCloudRateLimitTrigger(delay=0.4, progress=kwargs["progress"])
    waited, event = asyncio.run(_fired_after(short))
    assert waited >= 0.4  # measured on the triggerer's own clock: not fired early
    assert event["progress"]["token"] == kwargs["progress"]["token"]  # the same booked slot
    for ticket in ahead:
        hook.cancel_slot(ticket)


def test_tasks_deferred_by_an_older_version_still_resume() -> None:
    moment = datetime.now(UTC) + timedelta(seconds=0.2)
    trigger = SodaCloudRateLimitTrigger(moment=moment, progress={"token": "t"})
    assert SodaCloudRateLimitTrigger(**trigger.serialize()[1]).serialize() == trigger.serialize()
    _, event = asyncio.run(_fired_after(trigger))
    assert event == {"progress": {"token": "t"}}
    with pytest.raises(ValueError, match="either delay"):
        SodaCloudRateLimitTrigger()
