"""What a finished scan means for the task that waited on it, shared by operator, sensor and trigger.

One place decides which outcomes fail a task (``fail_on``), how long to wait before the next
status poll, and how a scan's log is copied into the task log.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

from airflow_provider_soda.exceptions import SodaCloudScanFailedError, SodaCloudValidationError
from airflow_provider_soda.models import INCOMPLETE_STATES, Scan, ScanLog

#: The outcomes ``fail_on`` may name, each a count of the scan's status.
FAIL_ON_CHOICES = ("warnings", "failures", "errors")
DEFAULT_FAIL_ON = ("failures", "errors")
#: How long to wait between polls when Soda Cloud sends no ``X-Soda-Next-Poll-Time`` (Soda's client: 5 s).
DEFAULT_POLL_INTERVAL = 10.0
#: A ``X-Soda-Next-Poll-Time`` further ahead than this is not waited for longer (a clock far off).
MAX_HINTED_WAIT = 600.0
#: Lines of a scan's log copied into the task log, the last ones (the end says how it went).
DEFAULT_LOG_LINES = 1000
#: Default seconds a task waits for its scan before cancelling it.
DEFAULT_TIMEOUT = 3 * 3600.0
#: The shortest pause between two status polls, whatever Soda's hint says (a hint in the past, a
#: clock off, a failed poll): a wait never spins. A ``poll_interval`` below it is kept as asked.
MIN_POLL_DELAY = 1.0
#: Seconds Airflow's own deferral timeout runs past a wait's ``end_time``: the trigger fires its
#: own timeout event first, and Airflow's is only a safety net (the task then cancels its scan).
DEFERRAL_MARGIN_SECONDS = 300.0
#: Checks kept in XCom and in a trigger event (those that did not pass first); the counts always
#: cover every check, and ``checks_total`` says how many there were.
MAX_REPORTED_CHECKS = 100


def normalise_fail_on(value: Any) -> tuple[str, ...]:
    """Check ``fail_on``: any of ``"warnings"``, ``"failures"``, ``"errors"``; one string or a list; empty allowed."""
    if value is None:
        return ()
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, Iterable):
        raise SodaCloudValidationError(
            f"fail_on must be a list of {', '.join(FAIL_ON_CHOICES)}, got {value!r}."
        )
    result = []
    for item in items:
        name = item.strip().lower() if isinstance(item, str) else item
        if name not in FAIL_ON_CHOICES:
            raise SodaCloudValidationError(
                f"fail_on has {item!r}; allowed: {', '.join(FAIL_ON_CHOICES)} (an empty list fails the task "
                "only when the scan does not complete)."
            )
        if name not in result:
            result.append(name)
    return tuple(result)


def scan_failure(scan: Scan, fail_on: Sequence[str]) -> SodaCloudScanFailedError | None:
    """Return the error that fails the task for this final scan, or None when the task succeeds.

    ``failed``, ``timedOut`` and ``canceled`` always fail: the checks did not all run. A completed
    scan fails when it counts any outcome ``fail_on`` names.
    """
    where = scan.cloud_url or "(no link returned)"
    tally = scan.tally()
    name = f"Soda Cloud scan {scan.id}" + (f" of {scan.definition_name!r}" if scan.definition_name else "")
    if scan.state in INCOMPLETE_STATES:
        why = {
            "failed": "it did not start or did not complete",
            "timedOut": "the Soda Agent or Runner stopped it at its time limit",
            "canceled": "someone or something cancelled it",
        }[scan.state_value]
        return SodaCloudScanFailedError(
            f"{name} ended {scan.state_value}: {why}. Its checks did not all run. {where}",
            scan=scan.to_xcom(max_checks=MAX_REPORTED_CHECKS),
        )
    found = [name_ for name_ in fail_on if tally[name_]]
    if not found:
        return None
    return SodaCloudScanFailedError(
        f"{name} ended {scan.state_value} with {scan.counts()}; fail_on={list(fail_on)} fails the task on "
        f"{', '.join(found)}. {where}",
        scan=scan.to_xcom(max_checks=MAX_REPORTED_CHECKS),
    )


def poll_delay(scan: Scan | None, poll_interval: float, *, now: datetime | None = None) -> float:
    """Seconds until the next status poll: Soda's ``X-Soda-Next-Poll-Time`` when sent, else ``poll_interval``.

    ``scan`` is None after a failed poll: the next one waits ``poll_interval``. Never less than
    :data:`MIN_POLL_DELAY` (or ``poll_interval`` when that is shorter), so that a hint in the
    past cannot make a loop spin.
    """
    floor = min(MIN_POLL_DELAY, poll_interval)
    if scan is None or scan.next_poll_at is None:
        return max(poll_interval, floor)
    ahead = (scan.next_poll_at - (now or datetime.now(UTC))).total_seconds()
    return min(max(ahead, floor), MAX_HINTED_WAIT)


def copy_scan_log(
    log: logging.Logger | Any, lines: Iterable[ScanLog], *, limit: int, scan: Scan, total: int | None = None
) -> int:
    """Write the last ``limit`` lines of a scan's log to ``log`` at their own levels; return how many were cut.

    Bounded so that a scan of a thousand checks cannot flood the task log; when lines are cut,
    a note says how many and where to read them all. ``lines`` may already start near the end
    (``total`` is then the length of the whole log). When reading fails part way, the lines
    read so far are written before the error goes on.
    """
    kept: deque[ScanLog] = deque(maxlen=max(limit, 0))
    read = 0
    complete = False
    try:
        for line in lines:
            read += 1
            kept.append(line)
        complete = True
    finally:
        whole = max(total or 0, read)
        cut = whole - len(kept)
        where = scan.cloud_url or "(no link returned)"
        if not complete:
            log.warning(
                "Only %d lines of the scan's log could be read; the whole log is in Soda Cloud: %s",
                len(kept), where,
            )  # fmt: skip
        elif cut:
            log.info(
                "The scan's log has %d lines; the first %d are left out here, read them in Soda Cloud: %s",
                whole, cut, where,
            )  # fmt: skip
        for line in kept:
            log.log(line.python_level, "[soda %s] %s", line.timestamp or "-", line.message)
    return cut


#: Default seconds a contract verification may stay ``queuing`` before the Soda Runners are read.
DEFAULT_RUNNER_CHECK_AFTER = 120.0


def runners_report(hook: Any, scan_id: str, waited: float) -> str:
    """Say why a scan may still be ``queuing``: the Soda Runners, online or not, and when each was last seen.

    One read of ``GET /api/v1/runners``; an error reading them is said instead (never raised).
    """
    from airflow_provider_soda.exceptions import SodaCloudError

    head = (
        f"Soda Cloud scan {scan_id} has been queuing for {waited:.0f} s. Scans run on a Soda Runner "
        "(formerly Soda Agent)"
    )
    try:
        runners = list(hook.list_runners())
    except SodaCloudError as err:
        return f"{head}; the Runners could not be read ({err})."
    if not runners:
        return f"{head}, and this organisation has none: deploy one (Soda Cloud, Data Sources -> Runners)."
    described = "; ".join(r.describe() for r in runners)
    if not any(r.is_online for r in runners):
        return f"{head}, and none is online: {described}. Start the Runner, or check its link to Soda Cloud."
    return f"{head}. Runners: {described}. An online Runner may be busy with other scans."
