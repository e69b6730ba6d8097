"""Stop a process tree started in a session of its own (``start_new_session=True``), all of it.

Airflow 2's scheduler runs its DAG file processor manager in a process group of its own, so
killing the group ``airflow standalone`` leads leaves that manager running, orphaned, after every
run. Every process it starts stays in standalone's session, though: the session is what is
stopped here, for the test suite and the end-to-end scripts alike.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time

import psutil  # a dependency of Airflow itself


def session_members(session_id: int) -> list[int]:
    """Return the processes of a session, its leader included while it is not reaped."""
    members = []
    for pid in psutil.pids():
        with contextlib.suppress(OSError):  # gone meanwhile, or not ours to ask
            if os.getsid(pid) == session_id:
                members.append(pid)
    return members


def stop_session(process: subprocess.Popen[bytes], *, grace: float = 20.0) -> None:
    """SIGTERM every process of ``process``'s session, then SIGKILL what is left after ``grace`` s."""
    for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 10.0)):
        process.poll()  # reap the leader if it has exited, so that it no longer counts
        members = session_members(process.pid)
        if not members:
            break
        for pid in members:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, sig)
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            process.poll()
            if not session_members(process.pid):
                break
            time.sleep(0.2)
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(timeout=5)
