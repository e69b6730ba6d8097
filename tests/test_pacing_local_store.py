"""The ``local`` store against other local users, crashes and stopped processes (issue #21, items 1, 5, 6)."""

from __future__ import annotations

import json
import logging
import os
import signal
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from airflow_provider_soda.endpoints import RateLimit
from airflow_provider_soda.pacing import FallbackStore, Pacer
from airflow_provider_soda.pacing import stores as stores_module
from airflow_provider_soda.pacing.stores import LocalStore, StoreInsecure

LIMIT = RateLimit(10, 60)
KEY = "k"
NOBODY = 65534


def reserve(store: LocalStore) -> list[float]:
    return store.apply(KEY, LIMIT, "reserve", ["t", 5])  # type: ignore[no-any-return]


def mode(path: Path) -> int:
    return stat.S_IMODE(os.lstat(path).st_mode)


needs_root = pytest.mark.skipif(
    os.geteuid() != 0, reason="making a directory of another user needs root (CI runs as root)"
)


# -- 1. directories and files another user could steer ---------------------------------------------


@needs_root
def test_a_parent_another_user_created_first_is_refused_with_an_error(
    tmp_path: Path,
) -> None:
    """Before: only the leaf was checked, so a parent pre-created by another user was used (or,
    with the leaf theirs, the store fell back for good with a mere warning)."""
    root = tmp_path / "airflow-provider-soda-0"
    root.mkdir(mode=0o777)
    os.chown(root, NOBODY, NOBODY)
    store = LocalStore(root / "pacing", private_from=root)
    with pytest.raises(
        StoreInsecure, match=rf"{root} belongs to another user \(uid {NOBODY}\).*rate_limit_dir"
    ):
        reserve(store)
    # A handler on the logger itself, not caplog: depending on what configured logging before
    # (Airflow's structlog setup, another test file in the same worker), records may not reach
    # the root logger, and the test must pass when its file runs alone too.
    records: list[logging.LogRecord] = []
    handler = logging.Handler(logging.WARNING)
    handler.emit = records.append  # type: ignore[method-assign]
    logger = logging.getLogger("airflow_provider_soda.pacing")
    logger.addHandler(handler)
    try:
        with Pacer(FallbackStore(store), KEY, LIMIT, timeout=5).slot(max_wait=5):
            pass
    finally:
        logger.removeHandler(handler)
    errors = [r for r in records if r.levelno == logging.ERROR]
    assert len(errors) == 1
    assert str(root) in errors[0].getMessage()


@needs_root
def test_a_store_directory_of_another_user_is_refused(tmp_path: Path) -> None:
    directory = tmp_path / "pacing"
    directory.mkdir(mode=0o700)
    os.chown(directory, NOBODY, NOBODY)
    with pytest.raises(StoreInsecure, match="belongs to another user"):
        reserve(LocalStore(directory))


def test_directories_are_created_private_whatever_the_umask(tmp_path: Path) -> None:
    """Before: mkdir(parents=True) made the default parent 0777 under umask 000."""
    root = tmp_path / "airflow-provider-soda-0"
    old = os.umask(0)
    try:
        reserve(LocalStore(root / "pacing", private_from=root))
    finally:
        os.umask(old)
    assert mode(root) == mode(root / "pacing") == 0o700
    assert all(mode(p) == 0o600 for p in (root / "pacing").iterdir())


def test_an_open_parent_of_this_user_is_made_private(tmp_path: Path) -> None:
    root = tmp_path / "airflow-provider-soda-0"
    root.mkdir()
    root.chmod(0o777)
    reserve(LocalStore(root / "pacing", private_from=root))
    assert mode(root) == 0o700


def test_a_symlinked_directory_is_refused(tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir(mode=0o700)
    root = tmp_path / "airflow-provider-soda-0"
    root.symlink_to(elsewhere)
    with pytest.raises(StoreInsecure, match="is a symbolic link"):
        reserve(LocalStore(root / "pacing", private_from=root))
    assert list(elsewhere.iterdir()) == []


def test_a_planted_link_is_never_followed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Before: the temporary file had a predictable name, opened O_CREAT|O_TRUNC, following links."""
    directory = tmp_path / "pacing"
    store = LocalStore(directory)
    reserve(store)
    victim = tmp_path / "victim"
    victim.write_text("the worker user's file")
    names = iter(["planted.tmp", "fresh.tmp"])
    monkeypatch.setattr(stores_module, "_temporary_name", lambda name: next(names))
    (directory / "planted.tmp").symlink_to(victim)
    (directory / f"{KEY}.json").unlink()
    (directory / f"{KEY}.json").symlink_to(victim)  # the schedule itself replaced by a link
    reserve(store)
    assert victim.read_text() == "the worker user's file"
    assert not (directory / f"{KEY}.json").is_symlink()
    assert json.loads((directory / f"{KEY}.json").read_text())["v"] == 1


# -- 5. what a crash leaves behind ----------------------------------------------------------------------


@pytest.mark.parametrize("content", ["", "{not json", '{"v": 1, "e": "x"}', "[]"])
def test_a_corrupt_schedule_is_replaced_with_one_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, content: str
) -> None:
    """Before: a zero-length file (a write never synced before a crash) failed every attempt, forever."""
    directory = tmp_path / "pacing"
    directory.mkdir(mode=0o700)
    (directory / f"{KEY}.json").write_text(content)
    store = LocalStore(directory)
    with caplog.at_level(logging.WARNING, logger="airflow_provider_soda.pacing"):
        for _ in range(3):
            reserve(store)
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert "replaced by a fresh schedule" in warnings[0].getMessage()
    assert len(json.loads((directory / f"{KEY}.json").read_text())["e"]) == 3


def test_temporary_files_of_killed_writers_are_removed(tmp_path: Path) -> None:
    directory = tmp_path / "pacing"
    directory.mkdir(mode=0o700)
    leftover = directory / f"{KEY}.json.4242.deadbeef.tmp"
    leftover.write_text("{half a sched")
    other = directory / "other.json.4242.deadbeef.tmp"  # another schedule's: cleaned under its own lock
    other.write_text("")
    reserve(LocalStore(directory))
    assert not leftover.exists()
    assert other.exists()


def test_the_new_state_is_synced_before_it_replaces_the_old(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    synced: list[int] = []
    real = os.fsync
    monkeypatch.setattr(os, "fsync", lambda fd: (synced.append(fd), real(fd))[1])
    reserve(LocalStore(tmp_path / "pacing"))
    assert len(synced) == 1  # the new file, before the rename makes it the schedule


# -- 6. a stopped lock holder --------------------------------------------------------------------------


@pytest.fixture
def stopped_lock_holder(tmp_path: Path) -> Iterator[Path]:
    directory = tmp_path / "pacing"
    reserve(LocalStore(directory))
    holder = subprocess.Popen(
        [sys.executable, "-c", (
            "import fcntl, os, signal, sys\n"
            f"fd = os.open({str(directory / (KEY + '.lock'))!r}, os.O_RDWR)\n"
            "fcntl.flock(fd, fcntl.LOCK_EX)\n"
            "print('locked', flush=True)\n"
            "os.kill(os.getpid(), signal.SIGSTOP)\n"
        )],
        stdout=subprocess.PIPE,
    )  # fmt: skip
    assert holder.stdout is not None
    assert holder.stdout.readline().strip() == b"locked"
    try:
        yield directory
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()


def test_a_stopped_lock_holder_makes_others_pace_themselves_within_a_bound(
    stopped_lock_holder: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """Before: a process stopped while holding the lock blocked every other one, without bound."""
    monkeypatch.setattr(stores_module, "LOCK_TIMEOUT", 0.5)
    started = time.monotonic()
    store = FallbackStore(LocalStore(stopped_lock_holder))
    with (
        caplog.at_level(logging.WARNING, logger="airflow_provider_soda.pacing"),
        Pacer(store, KEY, LIMIT, timeout=5).slot(max_wait=5),
    ):
        pass
    assert time.monotonic() - started < 5
    assert "locked for more than 0.5 s" in caplog.text
    assert "no update is lost" in caplog.text


def test_a_new_lock_file_appears_under_its_name_only_complete(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another user of a shared directory must never open a lock file that still has the umask's
    mode (EACCES made it pace alone, seen in a storm of two users): the file gets its group and
    mode before it is linked under its name."""
    visible_while_shared: list[bool] = []
    real_share = stores_module._Access.share

    def share(self: stores_module._Access, fd: int) -> None:
        visible_while_shared.append(any(p.name.endswith(".lock") for p in (tmp_path / "pacing").iterdir()))
        real_share(self, fd)

    monkeypatch.setattr(stores_module._Access, "share", share)
    old = os.umask(0o077)
    try:
        reserve(LocalStore(tmp_path / "pacing"))
        reserve(LocalStore(tmp_path / "pacing"))  # opens the existing file: no second creation
    finally:
        os.umask(old)

    assert visible_while_shared[0] is False  # the first share() is the new lock file's
    (lock,) = [p for p in (tmp_path / "pacing").iterdir() if p.name.endswith(".lock")]
    assert [p.name for p in (tmp_path / "pacing").iterdir() if p.name.endswith(".tmp")] == []
    assert lock.is_file()
