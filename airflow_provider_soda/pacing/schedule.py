"""The pacing schedule as pure functions on a small JSON-able state: one algorithm, every store.

A *schedule* holds, for one rate-limit bucket (base URL + credential + endpoint, or a
``rate_limit_group``), every request that is queued, in flight or recently done. Stores only
make :func:`apply` atomic: a lock in one process (``memory``), a file lock on one machine
(``local``) or a Lua script in Redis (``redis``, which mirrors this module line by line and
runs the same conformance tests).

The rule that keeps the server's window from overflowing: a request may be *sent* only while
fewer than ``capacity`` requests are in flight or completed within the last ``period``. A
completed request is dated when its response arrived, which is after the server counted it,
so N+1 requests can never arrive at the server within one window (the argument is in docs/running-at-scale.md).

Entries are ``[id, kind, t, expires, seq]``:

- ``kind`` 0, *reserved*: ``t`` is when it expects to be sent; dropped at ``expires`` if its
  owner never claims it (a process that died while waiting, a task that never resumed);
- ``kind`` 1, *in flight*: ``t`` is when it was sent; at ``expires`` (the request timeout) it
  is taken as completed then, so a process killed mid-request frees its slot after one timeout;
- ``kind`` 2, *done*: ``t`` is when its response arrived; it leaves the state a period later.

Operations (``op``, its arguments) and what they return:

- ``reserve`` (id, hold): ``[delay, position]``: when the new request may go, and how many
  reserved requests are ahead of it. Requests queue in arrival order.
- ``claim`` (id, timeout, hold): 0 and the entry is in flight; or the seconds to wait before
  claiming again; or -1 when the reservation is unknown (expired): reserve again.
- ``release`` (id, counted): the response arrived; ``counted`` is False for a 429.
- ``reject`` (id, retry_after, jitter): a 429. The whole schedule pauses (``retry_after``, or
  until the window can have room: a full period when none of ours is in it, else until our
  oldest leaves it) and, when some of ours were in the window, lowers ``capacity`` to what the
  server accepted; it returns to the full limit after one period without a 429.
- ``cancel`` (id): forget a reservation (its owner gave up).
"""

from __future__ import annotations

from typing import Any

RESERVED, IN_FLIGHT, DONE = 0, 1, 2
#: Shortest wait a claim returns, so that processes never spin on a busy schedule.
MIN_WAIT = 0.005
_LATENCY_GUESS = 0.05

State = dict[str, Any]


def new_state() -> State:
    return {"v": 1, "seq": 0, "cap": 0, "calm": 0.0, "block": 0.0, "lat": _LATENCY_GUESS, "e": []}


def validate(state: Any) -> None:
    """Raise ValueError unless ``state`` has the shape :func:`new_state` gives (a store read it back)."""
    if not isinstance(state, dict) or state.get("v") != 1 or not isinstance(state.get("e"), list):
        raise ValueError("not a pacing schedule")
    numbers = (state.get(name) for name in ("seq", "cap", "calm", "block", "lat"))
    if not all(isinstance(n, (int, float)) and not isinstance(n, bool) for n in numbers):
        raise ValueError("not a pacing schedule")
    if not all(isinstance(entry, list) and len(entry) == 5 for entry in state["e"]):
        raise ValueError("not a pacing schedule")


def _gc(state: State, requests: int, period: float, now: float) -> None:
    kept = []
    for entry in state["e"]:
        kind, t, expires = entry[1], entry[2], entry[3]
        if kind == IN_FLIGHT and expires <= now:
            entry[1], entry[2], kind, t = DONE, expires, DONE, expires  # killed or hung: done at its timeout
        if (kind == DONE and t + period <= now) or (kind == RESERVED and expires <= now):
            continue
        kept.append(entry)
    done = [entry for entry in kept if entry[1] == DONE]
    if len(done) > requests:
        # Only the newest `requests` completions can decide anything (the rule counts fewer than
        # the limit), so older ones are dropped: the state stays small at any request rate.
        oldest_kept = sorted(entry[2] for entry in done)[-requests]
        kept = [e for e in kept if e[1] != DONE or e[2] >= oldest_kept]
    state["e"] = kept
    cap = state["cap"]
    if cap <= 0 or cap > requests or (cap < requests and now - state["calm"] >= period):
        state["cap"] = requests


def _occupied_until(entry: list[Any], state: State, period: float, now: float) -> float:
    """Until when an entry counts against the window (estimated for those not done yet)."""
    kind, t = entry[1], float(entry[2])
    if kind == DONE:
        return float(t + period)
    latency = float(state["lat"])
    if kind == IN_FLIGHT:
        return max(now, t + latency) + period
    return max(now, t) + latency + period


def _find(state: State, entry_id: str) -> list[Any] | None:
    for entry in state["e"]:
        if entry[0] == entry_id:
            return entry  # type: ignore[no-any-return]
    return None


def apply(state: State, op: str, args: list[Any], requests: int, period: float, now: float) -> Any:
    """Apply one operation at ``now`` (the store's clock, in seconds); mutates ``state``."""
    _gc(state, requests, period, now)
    cap = state["cap"]
    if op == "reserve":
        entry_id, hold = args
        start = max(now, state["block"])
        ends = sorted((_occupied_until(e, state, period, now) for e in state["e"]), reverse=True)
        if len(ends) >= cap:
            start = max(start, ends[cap - 1])
        position = sum(1 for e in state["e"] if e[1] == RESERVED)
        state["seq"] += 1
        state["e"].append([entry_id, RESERVED, start, start + hold, state["seq"]])
        return [start - now, position]
    entry = _find(state, args[0])
    if op == "claim":
        if entry is None:
            return -1
        _, timeout, hold = args
        if now < state["block"]:
            entry[3] = max(entry[3], state["block"] + hold)
            return state["block"] - now
        ahead = [e for e in state["e"] if e is not entry and (e[1] != RESERVED or e[4] < entry[4])]
        if len(ahead) < cap:
            entry[1], entry[2], entry[3] = IN_FLIGHT, now, now + timeout
            return 0
        ends = sorted(_occupied_until(e, state, period, now) for e in ahead)
        wait = max(MIN_WAIT, ends[len(ahead) - cap] - now)
        entry[3] = max(entry[3], now + wait + hold)
        return wait
    if entry is None:
        return 0
    if op == "release":
        counted = args[1]
        if counted:
            if entry[1] == IN_FLIGHT:
                state["lat"] = min(period, 0.8 * state["lat"] + 0.2 * max(0.0, now - entry[2]))
            entry[1], entry[2] = DONE, now
        else:
            state["e"].remove(entry)
        return 0
    if op == "reject":
        _, retry_after, jitter = args
        state["e"].remove(entry)
        ours = sorted(e[2] for e in state["e"] if e[1] == DONE)
        if retry_after is not None and retry_after >= 0:
            until = now + retry_after
        elif not ours:
            until = now + period + jitter  # someone else filled the window: it is empty a period from now
        else:
            state["cap"] = max(1, min(cap, len(ours)))  # what the server accepted of ours
            until = ours[0] + period + jitter
        state["block"] = max(state["block"], until)
        state["calm"] = now
        return state["block"] - now
    if op == "cancel":
        state["e"].remove(entry)
        return 0
    raise ValueError(f"unknown pacing operation {op!r}")
