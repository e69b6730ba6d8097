"""The rule of verified resolution, one case per clause: which incidents a scan may resolve, and
why each of the others stays open (the sentence the task logs).

An incident is resolved only when every check linked to it on the datasets involved passes: the
scan's own checks passed in the scan and have not failed since, and every other check's latest
result is ``pass``. The end-to-end paths (reading the checks, resolving, the notes) are in
tests/test_scan_task_paths.py and tests/test_scan_defects.py; this file holds the decision.
"""

from __future__ import annotations

from typing import Any

import pytest

from airflow_provider_soda.models.checks import Check
from airflow_provider_soda.operators._scan_task import _verified_incidents


def check(
    check_id: str, latest: str | None, *incidents: str, datasets: tuple[str | None, ...] = ("ds-1",)
) -> Check:
    """A check with its latest result in Soda and its linked incidents (``id`` or ``id:status``)."""
    linked = []
    for incident in incidents:
        incident_id, _, status = incident.partition(":")
        linked.append({"id": incident_id, "status": status or "investigating"})
    return Check.model_validate(
        {
            "id": check_id,
            "evaluationStatus": latest,
            "datasets": [{"id": d} for d in datasets],
            "incidents": linked,
        }
    )


def decide(
    checks: list[Check], results: dict[str, Any], unreadable: dict[str, str] | None = None
) -> tuple[list[str], list[tuple[str, str, str]]]:
    verified, blocked = _verified_incidents(checks, results, unreadable)
    return sorted(verified), [(c.id, i.id, why) for c, i, why in blocked]


def test_a_check_that_passed_and_still_passes_resolves_its_incident() -> None:
    assert decide([check("c1", "pass", "inc-a")], {"c1": "pass"}) == (["inc-a"], [])
    verified, _ = _verified_incidents([check("c1", "pass", "inc-a")], {"c1": "pass"})
    assert verified["inc-a"].id == "inc-a"  # the incident itself, to resolve and report


def test_no_result_in_soda_yet_counts_as_still_passing() -> None:
    assert decide([check("c1", None, "inc-a")], {"c1": "pass"}) == (["inc-a"], [])


@pytest.mark.parametrize(
    ("ran", "why"),
    [
        ("fail", "is fail in this scan"),
        ("warn", "is warn in this scan"),
        (None, "is without a result in this scan"),
    ],
)
def test_a_scan_check_that_did_not_pass_keeps_its_incident_open(ran: str | None, why: str) -> None:
    assert decide([check("c1", "pass", "inc-a")], {"c1": ran}) == ([], [("c1", "inc-a", why)])


# Only "pass" resolves: a warning, an excluded check (v4) or a result Soda adds later does not.
@pytest.mark.parametrize("latest", ["fail", "warn", "excluded", "notEvaluated", "someFutureResult"])
def test_a_check_that_did_not_pass_since_the_scan_keeps_its_incident_open(latest: str) -> None:
    assert decide([check("c1", latest, "inc-a")], {"c1": "pass"}) == (
        [],
        [("c1", "inc-a", f"passed in this scan but its latest result in Soda Cloud is {latest}")],
    )


@pytest.mark.parametrize(
    ("latest", "why"),
    [
        ("fail", "(not part of this scan) has the latest result fail in Soda Cloud"),
        ("warn", "(not part of this scan) has the latest result warn in Soda Cloud"),
        ("excluded", "(not part of this scan) has the latest result excluded in Soda Cloud"),
        ("someFutureResult", "(not part of this scan) has the latest result someFutureResult in Soda Cloud"),
        (None, "(not part of this scan) has the latest result none in Soda Cloud"),
    ],
)
def test_another_linked_check_that_does_not_pass_keeps_the_incident_open(
    latest: str | None, why: str
) -> None:
    checks = [check("c1", "pass", "inc-a"), check("c2", latest, "inc-a")]
    assert decide(checks, {"c1": "pass"}) == ([], [("c2", "inc-a", why)])


def test_another_linked_check_that_passes_lets_the_incident_resolve() -> None:
    checks = [check("c1", "pass", "inc-a"), check("c2", "pass", "inc-a")]
    assert decide(checks, {"c1": "pass"}) == (["inc-a"], [])


def test_both_halves_of_the_rule_hold_on_their_own() -> None:
    """The scan's check failed since, while the other linked check passes; and the reverse."""
    failed_since = [check("c1", "fail", "inc-a"), check("c2", "pass", "inc-a")]
    other_fails = [check("c1", "pass", "inc-b"), check("c2", "fail", "inc-b")]
    assert decide(failed_since, {"c1": "pass"})[0] == []
    assert decide(other_fails, {"c1": "pass"})[0] == []


def test_a_passing_check_without_a_dataset_cannot_vouch_for_its_incident() -> None:
    assert decide([check("c1", "pass", "inc-a", datasets=(None,))], {"c1": "pass"}) == (
        [],
        [
            (
                "c1",
                "inc-a",
                "passed in this scan, but Soda names no dataset for it: its incident's other checks could not be read",
            )
        ],
    )


def test_a_passing_check_on_a_dataset_whose_checks_could_not_be_read_keeps_its_incident_open() -> None:
    unreadable = {"ds-1": "HTTP 403"}
    assert decide([check("c1", "pass", "inc-a")], {"c1": "pass"}, unreadable) == (
        [],
        [
            (
                "c1",
                "inc-a",
                "passed in this scan, but the other checks of its dataset ds-1 (HTTP 403) could not be read",
            )
        ],
    )
    two = check("c1", "pass", "inc-a", datasets=("ds-1", "ds-2"))
    assert decide([two], {"c1": "pass"}, {"ds-1": "HTTP 403", "ds-2": "HTTP 404"})[1] == [
        (
            "c1",
            "inc-a",
            "passed in this scan, but the other checks of its dataset ds-1 (HTTP 403), ds-2 (HTTP 404) could not be read",
        )
    ]
    # Another dataset's trouble is not this check's.
    assert decide([check("c1", "pass", "inc-a")], {"c1": "pass"}, {"ds-9": "HTTP 404"}) == (["inc-a"], [])


def test_a_failing_check_outside_the_scan_is_reported_only_for_the_scans_incidents() -> None:
    """inc-z has no check in this scan: the scan does not speak of it, so it is neither resolved nor listed."""
    checks = [check("c1", "pass", "inc-a"), check("c9", "fail", "inc-z")]
    assert decide(checks, {"c1": "pass"}) == (["inc-a"], [])


def test_an_incident_kept_open_by_two_checks_is_reported_once() -> None:
    checks = [check("c1", "fail", "inc-a"), check("c2", "fail", "inc-a")]
    assert decide(checks, {"c1": "fail", "c2": "fail"}) == ([], [("c1", "inc-a", "is fail in this scan")])


def test_a_resolved_incident_kept_open_is_not_reported_and_not_resolved_again() -> None:
    checks = [check("c1", "pass", "inc-a:resolved"), check("c2", "fail", "inc-a:resolved")]
    assert decide(checks, {"c1": "pass"}) == ([], [])


def test_one_check_keeps_only_its_own_incidents_open() -> None:
    checks = [
        check("c1", "pass", "inc-a", "inc-b"),
        check("c2", "fail", "inc-b"),
        check("c3", "pass", "inc-c"),
    ]
    assert decide(checks, {"c1": "pass", "c3": "pass"}) == (
        ["inc-a", "inc-c"],
        [("c2", "inc-b", "(not part of this scan) has the latest result fail in Soda Cloud")],
    )
