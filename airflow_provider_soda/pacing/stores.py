"""Where pacing schedules live: in this process, in files on this machine, or in Redis.

Every store offers one call, :meth:`PacingStore.apply`, that runs a :mod:`schedule` operation
atomically for every process that shares the store, at the store's own clock.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import logging
import os
import random
import secrets
import stat
import threading
import time
from pathlib import Path
from typing import Any, Protocol

from airflow_provider_soda.endpoints import RateLimit
from airflow_provider_soda.pacing import schedule

log = logging.getLogger(__name__)


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
    kernel drops its lock; the new state is synced before it replaces the old one. The files hold a
    hash of the key (never the credential).

    Another local user must not be able to disable or steer the schedule, so every directory the
    store uses (``directory``, and from ``private_from`` down to it, e.g. the per-user parent of
    the default directory) is created one level at a time with mode 0700 whatever the umask, and
    checked: a real directory (not a symlink), owned by this user, private (made so when it is
    not). A directory that fails raises :class:`StoreInsecure`, which the caller reports as an
    ERROR naming the path and the fix. Files are opened relative to the checked directory without
    following links; temporary files are created exclusively under random names.

    A schedule that cannot be read (a zero-length file after a crash, say) is replaced by a fresh
    one with one WARNING; temporary files left by a process killed while writing are removed; a
    lock held longer than :data:`LOCK_TIMEOUT` (its holder stopped, a hung NFS mount) makes the
    call fail, so that the caller paces itself meanwhile instead of waiting without bound.
    """

    name = "local"

    def __init__(
        self,
        directory: str | os.PathLike[str],
        *,
        private_from: str | os.PathLike[str] | None = None,
        group: str | None = None,
    ) -> None:
        self.directory = Path(directory)
        self.private_from = Path(private_from) if private_from is not None else self.directory
        if self.private_from != self.directory and self.private_from not in self.directory.parents:
            raise ValueError(f"{self.private_from} is not {self.directory} or one of its parents")
        #: The Unix group whose members share this store (``[soda_cloud] rate_limit_dir_group``).
        self.group = group or None
        self._access: _Access | None = None
        self._dir_fd: int | None = None
        self._cleaned: set[str] = set()
        self._warned_corrupt: set[str] = set()
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        shared = f", group={self.group!r}" if self.group else ""
        return f"LocalStore({str(self.directory)!r}{shared})"

    def __del__(self) -> None:
        if getattr(self, "_dir_fd", None) is not None:
            with contextlib.suppress(OSError):
                os.close(self._dir_fd)  # type: ignore[arg-type]

    def _directory_fd(self) -> tuple[int, _Access]:
        """Create and check the store's directories once; return a descriptor of the checked one."""
        with self._lock:
            if self._dir_fd is None:
                access = _Access.for_group(self.group, self.directory) if self.group else _Access.private()
                if access.gid is None:
                    self._dir_fd = _open_private_directory(self.directory, self.private_from)
                else:
                    self._dir_fd = _open_shared_directory(self.directory, access)
                self._access = access
            assert self._access is not None
            return self._dir_fd, self._access

    def apply(self, key: str, limit: RateLimit, op: str, args: list[Any]) -> Any:
        dir_fd, access = self._directory_fd()
        name = f"{key}.json"
        try:
            lock_fd = _open_lock_file(dir_fd, f"{key}.lock", access)
        except OSError as err:
            if err.errno == errno.ELOOP:
                raise StoreInsecure(
                    f"{self.directory / (key + '.lock')} is a symbolic link; remove it (the store never "
                    "creates links)"
                ) from err
            raise StoreUnavailable(f"cannot open a lock file in {self.directory}: {err.strerror}") from err
        try:
            access.share(lock_fd)
            access.check_file(lock_fd, self.directory / f"{key}.lock")
            _lock_within(lock_fd, LOCK_TIMEOUT, self.directory / f"{key}.lock")
            if key not in self._cleaned:  # writes happen under the lock: any temporary file is a leftover
                _remove_leftovers(dir_fd, name)
                self._cleaned.add(key)
            state = self._load(dir_fd, name, access)
            result = schedule.apply(state, op, args, limit.requests, limit.period, time.time())
            self._save(dir_fd, name, state, access)
            return result
        finally:
            os.close(lock_fd)  # closing releases the flock

    def _load(self, dir_fd: int, name: str, access: _Access) -> schedule.State:
        path = self.directory / name
        try:
            fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=dir_fd)
        except FileNotFoundError:
            return schedule.new_state()
        except OSError as err:
            if err.errno != errno.ELOOP:
                raise StoreUnavailable(f"cannot read {path}: {err.strerror}") from err
            return self._replace_corrupt(path, "a symbolic link")
        try:
            if not access.trusts(os.fstat(fd)):
                return self._replace_corrupt(path, f"not a file of {access.who}")
            with os.fdopen(fd, "rb", closefd=False) as handle:
                text = handle.read(_MAX_SCHEDULE_BYTES + 1)
        except OSError as err:
            raise StoreUnavailable(f"cannot read {path}: {err.strerror}") from err
        finally:
            os.close(fd)
        try:
            if len(text) > _MAX_SCHEDULE_BYTES:
                raise ValueError("larger than any schedule")
            state = json.loads(text)
            schedule.validate(state)
        except ValueError as err:
            return self._replace_corrupt(path, str(err) or "empty")
        return state  # type: ignore[no-any-return]

    def _replace_corrupt(self, path: Path, why: str) -> schedule.State:
        """Start a fresh schedule in place of one that cannot be read, saying so once per file."""
        if path.name not in self._warned_corrupt:
            self._warned_corrupt.add(path.name)
            log.warning(
                "Soda Cloud rate-limit schedule %s could not be read (%s), perhaps after a crash; it is "
                "replaced by a fresh schedule. Requests queued in it are paced anew.",
                path,
                why,
            )
        return schedule.new_state()

    def _save(self, dir_fd: int, name: str, state: schedule.State, access: _Access) -> None:
        path = self.directory / name
        data = json.dumps(state, separators=(",", ":")).encode()
        for _ in range(3):
            tmp = _temporary_name(name)
            try:
                fd = os.open(tmp, _NEW_FILE_FLAGS | os.O_EXCL | os.O_WRONLY, access.file_mode, dir_fd=dir_fd)
            except FileExistsError:
                continue  # taken (by anything, a planted link included): another random name
            except OSError as err:
                raise StoreUnavailable(f"cannot write {path}: {err.strerror}") from err
            break
        else:
            raise StoreInsecure(
                f"cannot create a temporary file in {self.directory}: every name tried exists"
            )
        try:
            try:
                access.share(fd)
                os.write(fd, data)
                os.fsync(fd)  # the new state is on disk before it replaces the old one
            finally:
                os.close(fd)
            # Not synced: the directory entry. After a power loss the old state or the new one is
            # there, either is a valid schedule, and its window has long passed anyway.
            os.replace(tmp, name, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
        except OSError as err:
            with contextlib.suppress(OSError):
                os.unlink(tmp, dir_fd=dir_fd)
            raise StoreUnavailable(f"cannot write {path}: {err.strerror}") from err


class StoreMisconfigured(StoreUnavailable):
    """A store setting cannot work (an unreadable URL option, a Cluster URL with a database): an ERROR to fix."""


class StoreInsecure(StoreMisconfigured):
    """A store's directory or file could be read or changed by another user, so it is not used."""


#: How long a process waits for a schedule's file lock before it paces itself instead.
LOCK_TIMEOUT = 30.0
_NEW_FILE_FLAGS = os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC
_MAX_SCHEDULE_BYTES = 4 * 1024 * 1024
_TMP_SUFFIX = ".tmp"


def _temporary_name(name: str) -> str:
    return f"{name}.{os.getpid()}.{secrets.token_hex(8)}{_TMP_SUFFIX}"


def _open_lock_file(dir_fd: int, name: str, access: _Access) -> int:
    """Open a schedule's lock file, creating it complete (group and mode) if it does not exist yet.

    Created in place, the file would have the umask's mode until :meth:`_Access.share` fixes it,
    and another user of a shared directory opening it in that instant got EACCES and paced on its
    own (seen in a storm of two users). So a new lock file is made under a temporary name, given
    its group and mode, then linked into place: under its name it is always complete.
    """
    existing = os.O_RDWR | os.O_NOFOLLOW | os.O_CLOEXEC
    try:
        return os.open(name, existing, dir_fd=dir_fd)
    except FileNotFoundError:
        pass
    tmp = _temporary_name(name)
    fd = os.open(tmp, _NEW_FILE_FLAGS | os.O_EXCL | os.O_RDWR, access.file_mode, dir_fd=dir_fd)
    try:
        access.share(fd)
        try:
            os.link(tmp, name, src_dir_fd=dir_fd, dst_dir_fd=dir_fd, follow_symlinks=False)
        except FileExistsError:  # another process linked its own first: use that one
            os.close(fd)
            fd = -1
            return os.open(name, existing, dir_fd=dir_fd)
        return fd
    except BaseException:
        if fd >= 0:
            os.close(fd)
        raise
    finally:
        with contextlib.suppress(OSError):
            os.unlink(tmp, dir_fd=dir_fd)


def _remove_leftovers(dir_fd: int, name: str) -> None:
    for entry in os.listdir(dir_fd):
        if entry.startswith(f"{name}.") and entry.endswith(_TMP_SUFFIX):
            with contextlib.suppress(OSError):
                os.unlink(entry, dir_fd=dir_fd)


def _lock_within(fd: int, timeout: float, path: Path) -> None:
    """Take the exclusive lock, or raise :class:`StoreUnavailable` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    pause = 0.0005
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            if time.monotonic() >= deadline:
                raise StoreUnavailable(
                    f"{path} has been locked for more than {timeout:g} s: the process holding it may be "
                    "stopped (SIGSTOP, a hung network file system)"
                ) from None
            time.sleep(pause * (0.5 + random.random()))
            pause = min(pause * 2, 0.02)


class _Access:
    """Who may share a local store: this user alone (mode 0700/0600), or the members of one group.

    A group-shared store (``[soda_cloud] rate_limit_dir_group``) lets processes of several users
    on one machine (a root CLI run and the ``airflow`` user's workers, say) share one schedule: its
    directory is ``2770`` (setgid, so files keep the group) and its files ``0660``, of that group,
    and nothing is open to other users. Files of any member are trusted; files of anyone else,
    or open to others, are not.
    """

    def __init__(self, gid: int | None, members: frozenset[int], who: str) -> None:
        self.gid, self.members, self.who = gid, members, who
        self.file_mode = 0o600 if gid is None else 0o660

    @classmethod
    def private(cls) -> _Access:
        return cls(None, frozenset({os.getuid()}), f"this user (uid {os.getuid()})")

    @classmethod
    def for_group(cls, name: str, directory: Path) -> _Access:
        import grp
        import pwd

        try:
            group = grp.getgrnam(name)
        except KeyError:
            raise StoreInsecure(
                f"[soda_cloud] rate_limit_dir_group names {name!r}, which is no group of this machine; create "
                "the group and add the users that run Airflow to it, or unset rate_limit_dir_group"
            ) from None
        named = set()
        for member in group.gr_mem:
            with contextlib.suppress(KeyError):
                named.add(pwd.getpwnam(member).pw_uid)
        primary = {user.pw_uid for user in pwd.getpwall() if user.pw_gid == group.gr_gid}
        if os.getuid() != 0 and group.gr_gid not in os.getgroups() and os.getgid() != group.gr_gid:
            raise StoreInsecure(
                f"this user (uid {os.getuid()}) is not in group {name!r} ([soda_cloud] rate_limit_dir_group), "
                f"so it cannot share {directory}; add it to the group"
            )
        return cls(group.gr_gid, frozenset({0, os.getuid(), *named, *primary}), f"group {name!r}")

    def trusts(self, info: os.stat_result) -> bool:
        """Whether a file is one this store may read: a regular file of a trusted owner, closed to others."""
        if not stat.S_ISREG(info.st_mode) or info.st_uid not in self.members:
            return False
        return self.gid is None or (info.st_gid == self.gid and not stat.S_IMODE(info.st_mode) & 0o007)

    def check_file(self, fd: int, path: Path) -> None:
        if not self.trusts(os.fstat(fd)):
            raise StoreInsecure(
                f"{path} is not a regular file of {self.who} closed to other users; remove it"
            )

    def share(self, fd: int) -> None:
        """Give a file this store created its group and mode, whatever the umask (files of others: as they are)."""
        if self.gid is None:
            return
        info = os.fstat(fd)
        if info.st_uid != os.getuid():
            return
        with contextlib.suppress(OSError):
            if info.st_gid != self.gid:
                os.fchown(fd, -1, self.gid)
            if stat.S_IMODE(info.st_mode) != self.file_mode:
                os.fchmod(fd, self.file_mode)


def _open_shared_directory(directory: Path, access: _Access) -> int:
    """Create ``directory`` (its parent must exist) for a group, or check it; return a descriptor."""
    assert access.gid is not None
    if not os.path.lexists(directory):
        try:
            os.mkdir(directory, 0o700)  # opened to the group only once it has the group
            os.chown(directory, -1, access.gid)
            os.chmod(directory, 0o2770)
        except FileExistsError:
            pass  # made meanwhile by another member: checked below
        except OSError as err:
            raise StoreUnavailable(
                f"cannot create directory {directory} for {access.who}: {err.strerror}"
            ) from err
    fix = f"make it a directory of {access.who}, mode 2770 (chgrp, chmod), or unset rate_limit_dir_group"
    # Another member may have just made it and not yet given it the group (mkdir, chown, chmod):
    # a directory of a member that is not shared yet is looked at again for a moment.
    deadline = time.monotonic() + 2.0
    while True:
        try:
            info = directory.lstat()
        except OSError as err:
            raise StoreUnavailable(f"cannot inspect {directory}: {err.strerror}") from err
        if stat.S_ISLNK(info.st_mode) or not stat.S_ISDIR(info.st_mode):
            raise StoreInsecure(f"{directory} is not a directory (a symbolic link, say); {fix}")
        if info.st_uid not in access.members:
            raise StoreInsecure(
                f"{directory} belongs to uid {info.st_uid}, who is not in {access.who}; {fix}"
            )
        shared = info.st_gid == access.gid and not stat.S_IMODE(info.st_mode) & 0o007
        if shared or info.st_uid == os.getuid() or time.monotonic() >= deadline:
            break
        time.sleep(0.05)
    if not shared:
        if info.st_uid != os.getuid():
            raise StoreInsecure(f"{directory} is not closed to users outside {access.who}; {fix}")
        try:
            os.chown(directory, -1, access.gid)
            os.chmod(directory, 0o2770)
        except OSError as err:
            raise StoreInsecure(
                f"{directory} cannot be given to {access.who}: {err.strerror}; {fix}"
            ) from err
    try:
        return os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError as err:
        raise StoreInsecure(f"cannot open {directory} as a directory: {err.strerror}") from err


def _open_private_directory(directory: Path, private_from: Path) -> int:
    """Create what is missing of ``directory`` and check it; return a descriptor of ``directory``.

    Levels are walked from the top: a missing one is made with mode 0700, and each level made
    here or at or below ``private_from`` must pass :func:`_check_private_directory` before
    anything is made inside it (so that nothing is ever made through a planted link).
    """
    own = {private_from, directory, *(p for p in directory.parents if private_from in p.parents)}
    for level in [*reversed(directory.parents), directory]:
        made = False
        if not os.path.lexists(level):
            try:
                os.mkdir(level, 0o700)
                made = True
            except FileExistsError:
                pass  # made meanwhile by another process: checked below like any other level
            except OSError as err:
                raise _directory_error(f"cannot create directory {level}", err) from err
        if made or level in own:
            _check_private_directory(level)
    try:
        fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError as err:
        raise StoreInsecure(f"cannot open {directory} as a directory: {err.strerror}") from err
    return fd


def _check_private_directory(path: Path) -> None:
    fix = f"remove it, or set [soda_cloud] rate_limit_dir to a directory of this user (uid {os.getuid()})"
    try:
        info = path.lstat()
    except OSError as err:
        raise _directory_error(f"cannot inspect {path}", err) from err
    if stat.S_ISLNK(info.st_mode):
        raise StoreInsecure(f"{path} is a symbolic link, which another user may have planted; {fix}")
    if not stat.S_ISDIR(info.st_mode):
        raise StoreUnavailable(f"{path} is not a directory")
    if info.st_uid != os.getuid():
        raise StoreInsecure(f"{path} belongs to another user (uid {info.st_uid}); {fix}")
    if stat.S_IMODE(info.st_mode) & 0o077:
        try:
            path.chmod(0o700)
        except OSError as err:
            raise StoreInsecure(
                f"{path} is open to other users and cannot be made private: {err.strerror}"
            ) from err


def _directory_error(what: str, err: OSError) -> StoreUnavailable:
    """Return the error for a directory the store cannot make or see: an ERROR when permission is missing.

    A ``rate_limit_dir`` whose levels another user made first (root, running the CLI before the
    worker did) stays unusable until someone changes it; only other causes (a full disk) may pass.
    """
    if err.errno in (errno.EACCES, errno.EPERM):
        return StoreMisconfigured(
            f"{what}: {err.strerror}. A directory above it belongs to another user (made by root first?): "
            f"give it to this user (uid {os.getuid()}), or set [soda_cloud] rate_limit_dir to a directory "
            "of this user"
        )
    return StoreUnavailable(f"{what}: {err.strerror}")
