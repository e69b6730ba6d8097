"""Pydantic models of Soda Cloud's scan endpoints (``PublicApiScanStatusResponse``, scan logs).

Responses are lenient, as for incidents: a state or level Soda adds later is kept as a string.
"""

from __future__ import annotations

import logging
from datetime import datetime
from enum import Enum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class ScanState(str, Enum):
    """``ScanStateDTO``: five running states, then one of seven final states."""

    QUEUING = "queuing"
    EXECUTING = "executing"
    STARTED = "started"
    CANCELATION_REQUESTED = "cancelationRequested"
    TIME_OUT_REQUESTED = "timeOutRequested"
    CANCELED = "canceled"
    TIMED_OUT = "timedOut"
    FAILED = "failed"
    COMPLETED_WITH_ERRORS = "completedWithErrors"
    COMPLETED_WITH_FAILURES = "completedWithFailures"
    COMPLETED_WITH_WARNINGS = "completedWithWarnings"
    COMPLETED = "completed"


RUNNING_STATES = frozenset(
    {
        ScanState.QUEUING,
        ScanState.EXECUTING,
        ScanState.STARTED,
        ScanState.CANCELATION_REQUESTED,
        ScanState.TIME_OUT_REQUESTED,
    }
)
#: Running states of a scan that is already being stopped: a cancel has nothing left to do.
ENDING_STATES = frozenset({ScanState.CANCELATION_REQUESTED, ScanState.TIME_OUT_REQUESTED})
#: Final states in which the scan did not complete: a task waiting on it always fails.
INCOMPLETE_STATES = frozenset({ScanState.CANCELED, ScanState.TIMED_OUT, ScanState.FAILED})
#: Final states of a scan that completed; the counts tell how its checks ended.
COMPLETED_STATES = frozenset(
    {
        ScanState.COMPLETED_WITH_ERRORS,
        ScanState.COMPLETED_WITH_FAILURES,
        ScanState.COMPLETED_WITH_WARNINGS,
        ScanState.COMPLETED,
    }
)
FINAL_STATES = INCOMPLETE_STATES | COMPLETED_STATES


class EvaluationStatus(str, Enum):
    """``EvaluationStatusDTO``: a check's result.

    ``excluded`` (Soda v4) is neither a pass nor a failure: it never resolves an incident and
    never fails a task. A value Soda adds later is kept as a string and never read as a pass.
    """

    PASS = "pass"
    WARN = "warn"
    FAIL = "fail"
    NOT_EVALUATED = "notEvaluated"
    EXCLUDED = "excluded"


def enum_value(value: Enum | str | None) -> str | None:
    """Return the plain string of a value that is an enum member when this provider knows it."""
    return value.value if isinstance(value, Enum) else value


class ScanCheck(BaseModel):
    """``PublicApiCheckSlimDTO``: one check of a scan and how it evaluated."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True, frozen=True, defer_build=True)

    id: str
    evaluation_status: EvaluationStatus | str | None = Field(
        default=None, alias="evaluationStatus", union_mode="left_to_right"
    )

    @property
    def status_value(self) -> str | None:
        return enum_value(self.evaluation_status)


class PostProcessingStage(BaseModel):
    """A stage Soda v4 runs after the checks (``diagnosticWarehouse``): ``ongoing``, ``completed``, ``failed``."""

    model_config = ConfigDict(extra="ignore", frozen=True, defer_build=True)

    name: str | None = None
    state: str | None = None


class ScanDefinitionRef(BaseModel):
    """``PublicApiScanDefinitionSlim``."""

    model_config = ConfigDict(extra="ignore", frozen=True, defer_build=True)

    id: str | None = None
    name: str | None = None


class Scan(BaseModel):
    """A scan's status (``GET /api/v1/scans/{scanId}``); unknown fields are ignored.

    ``next_poll_at`` is not in the body: it is the ``X-Soda-Next-Poll-Time`` header of the same
    answer, when Soda Cloud sent one.
    """

    model_config = ConfigDict(extra="ignore", populate_by_name=True, frozen=True, defer_build=True)

    id: str
    state: ScanState | str = Field(union_mode="left_to_right")
    cloud_url: str | None = Field(default=None, alias="cloudUrl")
    created: str | None = None
    submitted: str | None = None
    started: str | None = None
    ended: str | None = None
    scan_time: str | None = Field(default=None, alias="scanTime")
    agent_id: str | None = Field(default=None, alias="agentId")  # deprecated in Soda v4: runner_id
    runner_id: str | None = Field(default=None, alias="runnerId")
    contract_dataset_cloud_url: str | None = Field(default=None, alias="contractDatasetCloudUrl")
    post_processing_stages: list[PostProcessingStage] = Field(
        default_factory=list, alias="postProcessingStages"
    )
    scan_definition: ScanDefinitionRef | None = Field(default=None, alias="scanDefinition")
    # Optional in the contract: never decide an outcome from them alone (see tally()).
    errors: int | None = None
    failures: int | None = None
    warnings: int | None = None
    checks: list[ScanCheck] = Field(default_factory=list)
    #: How many checks the scan had when ``checks`` was cut to keep a trigger event small (None: all there).
    checks_total: int | None = Field(default=None, alias="checksTotal")
    next_poll_at: datetime | None = Field(default=None, exclude=True)

    @property
    def state_value(self) -> str:
        return str(enum_value(self.state))

    @property
    def is_final(self) -> bool:
        """Whether the scan has ended (a state this provider does not know counts as still running)."""
        return self.state in FINAL_STATES

    @property
    def completed(self) -> bool:
        """Whether the scan ran to the end, whatever its checks found."""
        return self.state in COMPLETED_STATES

    @property
    def duration(self) -> float | None:
        """Seconds from the scan's start (or submission) to its end, when Soda gave both."""
        begin, end = _instant(self.started or self.submitted), _instant(self.ended)
        return (end - begin).total_seconds() if begin and end else None

    @property
    def definition_name(self) -> str | None:
        return self.scan_definition.name if self.scan_definition else None

    def tally(self) -> dict[str, int]:
        """How the scan's checks ended: ``{"failures": n, "warnings": n, "errors": n}``.

        Soda's counts are optional, so each count is the largest of what Soda sent, what the
        scan's ``checks[].evaluationStatus`` say, and what the state implies (a
        ``completedWithFailures`` scan has at least one failure): an absent count never turns a
        failing scan into a passing one.
        """
        statuses = [c.status_value for c in self.checks]
        state = self.state_value
        implied = {
            "failures": int(state == ScanState.COMPLETED_WITH_FAILURES.value),
            "warnings": int(state == ScanState.COMPLETED_WITH_WARNINGS.value),
            "errors": int(state == ScanState.COMPLETED_WITH_ERRORS.value),
        }
        counted = {
            "failures": statuses.count(EvaluationStatus.FAIL.value),
            "warnings": statuses.count(EvaluationStatus.WARN.value),
            # notEvaluated is not counted as an error: Soda also reports skipped checks so
            "errors": 0,
        }
        sent = {"failures": self.failures, "warnings": self.warnings, "errors": self.errors}
        return {name: max(sent[name] or 0, counted[name], implied[name]) for name in sent}

    def counts(self) -> str:
        """``"2 failures, 1 warning, 0 errors"``: how the scan's checks ended, for logs and errors."""

        def plural(n: int, word: str) -> str:
            return f"{n} {word}{'' if n == 1 else 's'}"

        tally = self.tally()
        return ", ".join(
            (
                plural(tally["failures"], "failure"),
                plural(tally["warnings"], "warning"),
                plural(tally["errors"], "error"),
            )
        )

    def by_importance(self) -> list[ScanCheck]:
        """Return the checks in the order a bounded report keeps them, failures first.

        Then warnings, anything else Soda reported, passes, and last the checks Soda did not
        evaluate (``notEvaluated``, ``excluded``), which no reader acts on.
        """
        return sorted(self.checks, key=lambda c: _IMPORTANCE.get(c.status_value or "", 2))

    def bounded(self, limit: int) -> Scan:
        """Return this scan with at most ``limit`` checks (failures and warnings first), its tally kept.

        For trigger events and XCom, which must stay small whatever the scan's size; ``checks_total``
        says how many there were, so that a reader knows to read the scan again for the rest.
        """
        if len(self.checks) <= limit:
            return self
        tally = self.tally()
        return self.model_copy(
            update={**tally, "checks": self.by_importance()[:limit], "checks_total": len(self.checks)}
        )

    def to_xcom(self, *, max_checks: int | None = None) -> dict[str, Any]:
        """Return the scan's outcome as pushed to XCom: id, state, counts, link and checks (snake_case).

        :param max_checks: keep at most this many checks, failures and warnings first
            (:meth:`by_importance`); ``checks_total`` always says how many the scan had.
        """
        checks = self.checks
        if max_checks is not None and len(checks) > max_checks:
            checks = self.by_importance()[:max_checks]
        return {
            "scan_id": self.id,
            "state": self.state_value,
            "scan_definition": self.definition_name,
            **self.tally(),
            "cloud_url": self.cloud_url,
            "started": self.started,
            "ended": self.ended,
            "checks_total": self.checks_total if self.checks_total is not None else len(self.checks),
            "checks": [{"id": c.id, "evaluation_status": c.status_value} for c in checks],
        }


#: The order of :meth:`Scan.by_importance` (a result Soda adds later ranks 2, before passes).
_IMPORTANCE = {
    EvaluationStatus.FAIL.value: 0,
    EvaluationStatus.WARN.value: 1,
    EvaluationStatus.PASS.value: 3,
    EvaluationStatus.NOT_EVALUATED.value: 4,
    EvaluationStatus.EXCLUDED.value: 5,
}


def _instant(text: str | None) -> datetime | None:
    if not text:
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else None


class ScanLogLevel(str, Enum):
    """``LogLevelDTO``."""

    DEBUG = "debug"
    INFO = "info"
    WARNING = "warning"
    ERROR = "error"


_PYTHON_LEVELS = {
    ScanLogLevel.DEBUG: logging.DEBUG,
    ScanLogLevel.INFO: logging.INFO,
    ScanLogLevel.WARNING: logging.WARNING,
    ScanLogLevel.ERROR: logging.ERROR,
}


class ScanLog(BaseModel):
    """``LogsContentDTO``: one line of a scan's log."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True, frozen=True, defer_build=True)

    index: int | None = None
    level: ScanLogLevel | str | None = Field(default=None, union_mode="left_to_right")
    message: str = ""
    timestamp: str | None = None

    @property
    def python_level(self) -> int:
        """The line's level as Python's logging knows it (INFO for a level Soda adds later)."""
        return (
            _PYTHON_LEVELS.get(self.level, logging.INFO)
            if isinstance(self.level, ScanLogLevel)
            else logging.INFO
        )


class ScanLogPage(BaseModel):
    """One page of ``GET /api/v1/scans/{scanId}/logs`` (``PublicApiScanLogsResponse``)."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True, defer_build=True)

    content: list[ScanLog] = Field(default_factory=list)
    last: bool | None = None
    total_elements: int | None = Field(default=None, alias="totalElements")
