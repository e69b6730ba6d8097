"""The pacing schedule's rules, on the pure functions at chosen instants (no clock, no store)."""

from __future__ import annotations

import pytest

from airflow_provider_soda.pacing import schedule

N, P = 3, 10.0
LAT = schedule._LATENCY_GUESS


pytestmark = pytest.mark.airflow_agnostic  # run once, by make test (not make test-compat)


def apply(state: schedule.State, now: float, op: str, *args: object) -> object:
    return schedule.apply(state, op, list(args), N, P, now)


def test_requests_queue_in_arrival_order_one_window_per_batch() -> None:
    state = schedule.new_state()
    booked = [apply(state, 0.0, "reserve", f"r{i}", 5.0) for i in range(7)]
    delays = [round(d, 6) for d, _ in booked]  # type: ignore[misc]
    assert delays == [0, 0, 0, P + LAT, P + LAT, P + LAT, 2 * (P + LAT)]
    assert [position for _, position in booked] == list(range(7))  # type: ignore[misc]


def test_a_request_is_sent_only_while_fewer_than_the_limit_are_in_flight_or_recent() -> None:
    state = schedule.new_state()
    for i in range(4):
        apply(state, 0.0, "reserve", f"r{i}", 30.0)
    assert [apply(state, 0.0, "claim", f"r{i}", 1.0, 30.0) for i in range(3)] == [0, 0, 0]
    assert apply(state, 0.0, "claim", "r3", 1.0, 30.0) > 0  # three in flight: the fourth waits
    for i in range(3):
        apply(state, 0.2, "release", f"r{i}", True)  # responses arrive at 0.2 s
    # the window frees a period after the first response, not after the first request
    assert apply(state, 10.1, "claim", "r3", 1.0, 30.0) == pytest.approx(0.1)
    assert apply(state, 10.2, "claim", "r3", 1.0, 30.0) == 0


def test_a_later_request_cannot_jump_the_queue() -> None:
    state = schedule.new_state()
    for i in range(3):
        apply(state, 0.0, "reserve", f"r{i}", 30.0)
        apply(state, 0.0, "claim", f"r{i}", 1.0, 30.0)
        apply(state, 0.0 if i == 0 else 5.0, "release", f"r{i}", True)
    apply(state, 0.0, "reserve", "early", 30.0)
    apply(state, 0.0, "reserve", "late", 30.0)
    # at 10 s one slot frees: it belongs to "early", which has not claimed yet
    assert apply(state, 10.0, "claim", "late", 1.0, 30.0) > 0
    assert apply(state, 10.0, "claim", "early", 1.0, 30.0) == 0


def test_a_request_in_flight_past_its_timeout_counts_as_done_then() -> None:
    state = schedule.new_state()
    for i in range(N):  # their processes die with the requests in flight; the timeout is 2 s
        apply(state, 0.0, "reserve", f"killed{i}", 5.0)
        apply(state, 0.0, "claim", f"killed{i}", 2.0, 5.0)
    apply(state, 0.0, "reserve", "next", 30.0)
    assert apply(state, 11.9, "claim", "next", 2.0, 30.0) > 0  # done at 2 s, so in the window until 12 s
    assert apply(state, 12.0, "claim", "next", 2.0, 30.0) == 0  # and not a moment longer


def test_an_abandoned_reservation_expires_after_its_hold() -> None:
    state = schedule.new_state()
    apply(state, 0.0, "reserve", "gone", 2.0)
    apply(state, 0.0, "reserve", "waiting", 30.0)
    assert (
        apply(state, 1.0, "claim", "waiting", 1.0, 30.0) == 0
    )  # "gone" only counts when the limit is reached
    assert apply(state, 3.0, "claim", "gone", 1.0, 2.0) == -1  # expired: its owner must queue again


def test_429_with_none_of_ours_in_the_window_pauses_one_window_then_full_speed() -> None:
    state = schedule.new_state()
    apply(state, 0.0, "reserve", "a", 30.0)
    apply(state, 0.0, "claim", "a", 1.0, 30.0)
    pause = apply(state, 0.1, "reject", "a", None, 0.5)  # another client filled the window
    assert pause == pytest.approx(P + 0.5)
    delay, _ = apply(state, 0.1, "reserve", "b", 30.0)  # type: ignore[misc]
    assert delay == pytest.approx(P + 0.5)
    assert state["cap"] == N  # no share learned from a window we had no part in: full speed after it


def test_429_with_ours_in_the_window_learns_the_share_and_recovers_after_one_calm_window() -> None:
    state = schedule.new_state()
    for i in range(2):
        apply(state, 0.0, "reserve", f"r{i}", 30.0)
        apply(state, 0.0, "claim", f"r{i}", 1.0, 30.0)
        apply(state, 1.0, "release", f"r{i}", True)
    apply(state, 2.0, "reserve", "c", 30.0)
    apply(state, 2.0, "claim", "c", 1.0, 30.0)
    pause = apply(state, 2.1, "reject", "c", None, 0.0)  # the server took 2 of ours, then said no
    assert pause == pytest.approx(1.0 + P - 2.1)  # until our oldest leaves the window
    assert state["cap"] == 2
    apply(state, 12.0, "reserve", "d", 30.0)
    assert state["cap"] == 2  # still within a window of the 429
    apply(state, 12.2, "reserve", "e", 30.0)
    assert state["cap"] == N  # a whole window without a 429: the full limit again


def test_retry_after_sets_the_pause() -> None:
    state = schedule.new_state()
    apply(state, 0.0, "reserve", "a", 30.0)
    apply(state, 0.0, "claim", "a", 1.0, 30.0)
    assert apply(state, 0.0, "reject", "a", 86400.0, 0.0) == pytest.approx(86400.0)
    delay, _ = apply(state, 1.0, "reserve", "b", 30.0)  # type: ignore[misc]
    assert delay == pytest.approx(86399.0)


def test_only_the_newest_completions_are_kept() -> None:
    """At any request rate the state holds at most `requests` completions (the rule never needs more)."""
    state = schedule.new_state()
    for i in range(10):
        schedule.apply(state, "reserve", [f"r{i}", 30.0], 1000, P, float(i))
        schedule.apply(state, "claim", [f"r{i}", 1.0, 30.0], 1000, P, float(i))
        schedule.apply(state, "release", [f"r{i}", True], 1000, P, float(i))
    schedule.apply(state, "reserve", ["x", 30.0], N, P, 9.5)  # the limit is now 3
    assert sorted(e[2] for e in state["e"] if e[1] == schedule.DONE) == [7.0, 8.0, 9.0]


def test_a_learned_share_of_one_holds_until_a_calm_period_has_passed() -> None:
    """One of ours was in the window when the server said 429: it accepts one of ours per window."""
    state = schedule.new_state()
    apply(state, 0.0, "reserve", "r0", 5.0)
    apply(state, 0.0, "claim", "r0", 1.0, 5.0)
    apply(state, 0.05, "release", "r0", True)
    apply(state, 0.1, "reserve", "r1", 5.0)
    apply(state, 0.1, "claim", "r1", 1.0, 5.0)
    pause = apply(state, 0.2, "reject", "r1", None, 0.0)  # 429: r0 is the only one of ours in the window
    assert pause == pytest.approx(0.05 + P - 0.2)  # until r0 leaves the window
    assert state["cap"] == 1

    first, _ = apply(state, 10.1, "reserve", "r2", 5.0)  # type: ignore[misc]
    second, _ = apply(state, 10.1, "reserve", "r3", 5.0)  # type: ignore[misc]
    assert first == 0
    assert second == pytest.approx(LAT + P)  # one per window while the share is one
    assert state["cap"] == 1
    apply(state, 0.2 + P, "cancel", "r3")  # a calm period after the 429: the full limit again
    assert state["cap"] == N


def test_a_claim_that_must_wait_keeps_its_reservation_until_then_and_a_hold_after() -> None:
    state = schedule.new_state()
    for i in range(3):
        apply(state, 0.0, "reserve", f"r{i}", 5.0)
        apply(state, 0.0, "claim", f"r{i}", 30.0, 5.0)  # in flight, no answer yet
    apply(state, 0.0, "reserve", "r3", 1.0)  # booked for when the window is expected to free

    wait = apply(state, 10.0, "claim", "r3", 1.0, 1.0)  # the three are still in flight
    assert wait == pytest.approx(P)

    # Still waiting at 20.5 (the three never answered): the reservation must still be known, for
    # the claim's wait plus its hold; a forgotten one would answer -1 and requeue at the back.
    assert apply(state, 20.5, "claim", "r3", 1.0, 1.0) != -1


def test_an_unknown_operation_is_refused_by_name() -> None:
    state = schedule.new_state()
    apply(state, 0.0, "reserve", "r0", 5.0)
    with pytest.raises(ValueError, match="unknown pacing operation 'book'"):
        apply(state, 0.0, "book", "r0")
