"""Where pacing schedules live: in this process, in files on this machine, or in Redis.

Every store offers one call, :meth:`PacingStore.apply`, that runs a :mod:`schedule` operation
atomically for every process that shares the store, at the store's own clock.
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
import stat
import threading
import time
from pathlib import Path
from typing import Any, Protocol

from airflow_provider_soda.endpoints import RateLimit
from airflow_provider_soda.pacing import schedule


class StoreUnavailable(Exception):
    """The store cannot be used right now; the caller falls back to the per-process schedule."""


class PacingStore(Protocol):
    """Runs schedule operations atomically for all processes sharing the store."""

    name: str

    def apply(self, key: str, limit: RateLimit, op: str, args: list[Any]) -> Any:
        """Run ``op`` on the schedule ``key`` and return its result (see :mod:`schedule`)."""


class MemoryStore:
    """One schedule per key in this process: the explicit opt-out, and the fallback of the others."""

    name = "memory"

    def __init__(self) -> None:
        self._states: dict[str, schedule.State] = {}
        self._lock = threading.Lock()

    def apply(self, key: str, limit: RateLimit, op: str, args: list[Any]) -> Any:
        with self._lock:
            state = self._states.setdefault(key, schedule.new_state())
            return schedule.apply(state, op, args, limit.requests, limit.period, time.time())

    def __repr__(self) -> str:
        return "MemoryStore()"


class LocalStore:
    """Schedules in files of one directory, shared by every process of this user on this machine.

    Each schedule is a JSON file replaced atomically under an exclusive ``flock`` on a sibling
    lock file, so a process killed at any point leaves either the old or the new state, and the
    kernel drops its lock. The files hold a hash of the key (never the credential) and the
    directory is created with mode 0700 and must belong to this user.
    """

    name = "local"

    def __init__(self, directory: str | os.PathLike[str]) -> None:
        self.directory = Path(directory)
        self._checked = False

    def __repr__(self) -> str:
        return f"LocalStore({str(self.directory)!r})"

    def _ensure_directory(self) -> None:
        if self._checked:
            return
        try:
            self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
            info = self.directory.lstat()
        except OSError as err:
            raise StoreUnavailable(f"cannot create directory {self.directory}: {err.strerror}") from err
        if not stat.S_ISDIR(info.st_mode):
            raise StoreUnavailable(f"{self.directory} is not a directory")
        if info.st_uid != os.getuid():
            raise StoreUnavailable(
                f"{self.directory} belongs to another user (uid {info.st_uid}); set [soda_cloud] "
                "rate_limit_dir to a directory of your own"
            )
        if stat.S_IMODE(info.st_mode) & 0o077:
            try:
                self.directory.chmod(0o700)
            except OSError as err:
                raise StoreUnavailable(f"cannot make {self.directory} private: {err.strerror}") from err
        self._checked = True

    def apply(self, key: str, limit: RateLimit, op: str, args: list[Any]) -> Any:
        self._ensure_directory()
        path = self.directory / f"{key}.json"
        try:
            lock_fd = os.open(self.directory / f"{key}.lock", os.O_RDWR | os.O_CREAT, 0o600)
        except OSError as err:
            raise StoreUnavailable(f"cannot open a lock file in {self.directory}: {err.strerror}") from err
        try:
            fcntl.flock(lock_fd, fcntl.LOCK_EX)
            state = self._load(path)
            result = schedule.apply(state, op, args, limit.requests, limit.period, time.time())
            self._save(path, state)
            return result
        finally:
            os.close(lock_fd)  # closing releases the flock

    @staticmethod
    def _load(path: Path) -> schedule.State:
        try:
            text = path.read_text()
        except FileNotFoundError:
            return schedule.new_state()
        except OSError as err:
            raise StoreUnavailable(f"cannot read {path}: {err.strerror}") from err
        try:
            state = json.loads(text)
            if not isinstance(state, dict) or state.get("v") != 1 or not isinstance(state.get("e"), list):
                raise ValueError("not a pacing schedule")
        except ValueError as err:
            raise StoreUnavailable(f"{path} is corrupt ({err}); delete it to start a fresh schedule") from err
        return state

    @staticmethod
    def _save(path: Path, state: schedule.State) -> None:
        tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w") as handle:
                json.dump(state, handle, separators=(",", ":"))
            os.replace(tmp, path)
        except OSError as err:
            if err.errno != errno.ENOENT:
                tmp.unlink(missing_ok=True)
            raise StoreUnavailable(f"cannot write {path}: {err.strerror}") from err
