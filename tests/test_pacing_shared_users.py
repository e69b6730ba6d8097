"""Several users of one machine sharing the ``local`` store through a group (issue #21, item 2).

A root CLI run and the ``airflow`` user's worker are two users: with a private store each paces
alone. ``[soda_cloud] rate_limit_dir_group`` makes them share one schedule. The processes of the
other user are forked from this one and drop to that user (setuid) before they send anything, as
a command run by that user would; the user and group are made for the test and removed after.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import secrets
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_soda.endpoints import RateLimit
from airflow_provider_soda.testing import SodaCloudEmulator

LIMIT = RateLimit(10, 2.0)
EACH = 8  # per user: 16 updates need two windows, so sharing or not shows in the 429s

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0 or shutil.which("useradd") is None,
    reason="making a second user needs root and useradd (CI runs as root on Debian)",
)


@pytest.fixture
def other_user() -> Iterator[tuple[str, int, int]]:
    """A throwaway user and group of the same name: (name, uid, gid)."""
    name = f"soda{secrets.token_hex(3)}"
    subprocess.run(["groupadd", name], check=True)
    try:
        subprocess.run(["useradd", "-M", "-N", "-g", name, "-s", "/usr/sbin/nologin", name], check=True)
        import pwd

        user = pwd.getpwnam(name)
        yield name, user.pw_uid, user.pw_gid
    finally:
        subprocess.run(["userdel", name], check=False, capture_output=True)
        subprocess.run(["groupdel", name], check=False, capture_output=True)


@pytest.fixture
def open_parent() -> Iterator[Path]:
    """A parent directory both users can traverse (pytest's own tmp_path is root's alone)."""
    parent = Path(tempfile.mkdtemp(prefix="soda-shared-"))
    parent.chmod(0o755)
    yield parent
    shutil.rmtree(parent, ignore_errors=True)


def _send(env: dict[str, str], ids: list[str], user: tuple[int, int] | None, go: Any, results: Any) -> None:
    if user is not None:  # drop to the other user before anything touches the store or the network
        uid, gid = user
        os.setgroups([gid])
        os.setgid(gid)
        os.setuid(uid)
    os.environ.update(env)
    from airflow_provider_soda.hooks.soda_cloud import SodaCloudHook

    go.wait()
    for incident_id in ids:
        try:
            SodaCloudHook().update_incident(incident_id, status="investigating")
            results.put((incident_id, "", os.geteuid()))
        except Exception as err:
            results.put((incident_id, f"{type(err).__name__}: {err}", os.geteuid()))


def warm_up(em: SodaCloudEmulator) -> None:
    """One update in this process first, so that everything it imports is loaded before the fork.

    The other user cannot read root's Python installation, as a worker of that user has its own.
    """
    import grp  # noqa: F401 - what a group-shared store reads
    import pwd  # noqa: F401

    from airflow_provider_soda.hooks.soda_cloud import SodaCloudHook

    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("AIRFLOW_CONN_SODA_CLOUD_DEFAULT", em.airflow_connection())
        patch.setenv("AIRFLOW__SODA_CLOUD__RATE_LIMIT_STORE", "memory")
        SodaCloudHook().update_incident("warm-up", status="fixing")


def storm(env: dict[str, str], other: tuple[int, int]) -> dict[str, str]:
    """EACH updates from root and EACH from the other user, one process per user, released together.

    Returns each incident's error ("" when it landed); fails unless each user sent its own half.
    """
    ctx = multiprocessing.get_context("fork")
    go, results = ctx.Event(), ctx.Queue()
    mine = [f"shared-{n:02d}" for n in range(EACH)]
    theirs = [f"shared-{n:02d}" for n in range(EACH, 2 * EACH)]
    processes = [
        ctx.Process(target=_send, args=(env, mine, None, go, results)),
        ctx.Process(target=_send, args=(env, theirs, other, go, results)),
    ]
    for process in processes:
        process.start()
    go.set()
    received = [results.get(timeout=60) for _ in range(2 * EACH)]
    for process in processes:
        process.join(timeout=30)
    senders = {incident_id: euid for incident_id, _, euid in received}
    assert senders == {**dict.fromkeys(mine, os.geteuid()), **dict.fromkeys(theirs, other[0])}
    return {incident_id: error for incident_id, error, _ in received}


@pytest.fixture
def emulator() -> Iterator[SodaCloudEmulator]:
    with SodaCloudEmulator(rate_limits={"update_incident": LIMIT}) as em:
        for n in range(2 * EACH):
            em.add_incident({"id": f"shared-{n:02d}"})
        em.add_incident({"id": "warm-up"})
        warm_up(em)
        time.sleep(LIMIT.period)  # the warm-up's request leaves the emulator's window first
        em.reset_log()
        yield em


def connection(em: SodaCloudEmulator) -> str:
    return em.airflow_connection(
        rate_limits={"update_incident": {"requests": LIMIT.requests, "period": LIMIT.period}}
    )


def test_two_users_in_one_group_share_one_schedule(
    emulator: SodaCloudEmulator, other_user: tuple[str, int, int], open_parent: Path
) -> None:
    name, uid, gid = other_user
    os.chown(open_parent, -1, gid)  # whichever user comes first creates the shared directory
    open_parent.chmod(0o775)
    shared = open_parent / "pacing"
    env = {
        "AIRFLOW_CONN_SODA_CLOUD_DEFAULT": connection(emulator),
        "AIRFLOW__SODA_CLOUD__RATE_LIMIT_STORE": "local",
        "AIRFLOW__SODA_CLOUD__RATE_LIMIT_DIR": str(shared),
        "AIRFLOW__SODA_CLOUD__RATE_LIMIT_DIR_GROUP": name,
    }
    outcomes = storm(env, (uid, gid))

    assert all(error == "" for error in outcomes.values()), outcomes
    statuses = [r.status for r in emulator.requests_to("update_incident")]
    assert statuses.count(429) == 0, (
        f"{statuses.count(429)} requests were answered 429: the users paced apart"
    )
    assert statuses.count(200) == 2 * EACH
    info = shared.stat()
    assert (info.st_gid, oct(info.st_mode & 0o7777)) == (gid, oct(0o2770))
    for path in shared.iterdir():  # every file of the group, none open to other users
        assert path.stat().st_gid == gid
        assert path.stat().st_mode & 0o007 == 0


def test_without_a_group_each_user_paces_alone(
    emulator: SodaCloudEmulator, other_user: tuple[str, int, int], open_parent: Path
) -> None:
    """What the README says of a private store: the other user cannot use root's directory."""
    _, uid, gid = other_user
    env = {
        "AIRFLOW_CONN_SODA_CLOUD_DEFAULT": connection(emulator),
        "AIRFLOW__SODA_CLOUD__RATE_LIMIT_STORE": "local",
        "AIRFLOW__SODA_CLOUD__RATE_LIMIT_DIR": str(open_parent / "pacing"),
    }
    outcomes = storm(env, (uid, gid))
    assert all(error == "" for error in outcomes.values()), outcomes  # no update lost either way
    assert (open_parent / "pacing").stat().st_mode & 0o777 == 0o700
    # Two schedules (one paces itself in memory) for one API key: Soda answers some requests 429.
    assert [r.status for r in emulator.requests_to("update_incident")].count(429) > 0


def test_a_shared_directory_open_to_others_is_refused(
    other_user: tuple[str, int, int], open_parent: Path, caplog: pytest.LogCaptureFixture
) -> None:
    from airflow_provider_soda.pacing.stores import LocalStore, StoreInsecure

    name, _, gid = other_user
    shared = open_parent / "pacing"
    shared.mkdir()
    os.chown(shared, 65534, gid)  # nobody's, open to everyone
    shared.chmod(0o777)
    with pytest.raises(StoreInsecure, match=rf"{shared} belongs to uid 65534, who is not in group '{name}'"):
        LocalStore(shared, group=name).apply("k", LIMIT, "reserve", ["t", 5])
    with contextlib.suppress(OSError):
        shared.rmdir()


def test_an_unknown_group_is_named_in_the_error(open_parent: Path) -> None:
    from airflow_provider_soda.pacing.stores import LocalStore, StoreInsecure

    with pytest.raises(StoreInsecure, match="rate_limit_dir_group names 'no-such-group-here'"):
        LocalStore(open_parent / "pacing", group="no-such-group-here").apply("k", LIMIT, "reserve", ["t", 5])


def test_a_rate_limit_dir_made_by_root_first_is_an_error_for_the_worker(
    other_user: tuple[str, int, int], open_parent: Path
) -> None:
    """docs/running-at-scale.md: a rate_limit_dir root created first is refused with an ERROR, not a WARNING."""
    from airflow_provider_soda.pacing.stores import LocalStore

    configured = open_parent / "airflow" / "pacing"  # root's CLI ran first and made both levels, 0700
    LocalStore(configured).apply("k", LIMIT, "reserve", ["t", 5])
    _, uid, gid = other_user
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the worker, as the other user
        os.close(read)
        os.setgroups([gid])
        os.setgid(gid)
        os.setuid(uid)
        try:
            LocalStore(configured).apply("k", LIMIT, "reserve", ["t", 5])
            outcome = "used"
        except Exception as err:
            outcome = f"{type(err).__name__}: {err}"
        os.write(write, outcome.encode())
        os._exit(0)
    os.close(write)
    os.waitpid(pid, 0)
    with os.fdopen(read) as pipe:
        outcome = pipe.read()
    # StoreMisconfigured is what FallbackStore logs as an ERROR (a StoreUnavailable is a WARNING)
    assert outcome.startswith(("StoreMisconfigured", "StoreInsecure")), outcome
    assert str(configured) in outcome
    assert "rate_limit_dir" in outcome
