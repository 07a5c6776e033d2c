"""One lock serializes writers across processes (two curators' scripts, a cron pull, an editor).

An advisory `flock` on a file in the derived folder: the kernel releases it when the holder dies,
so a killed process never leaves the catalog locked.

The lock is reentrant within a process: a block that already holds it (a callback run while
saving, a second `Catalog` on the same project) passes straight through instead of waiting for
itself until the timeout. flock alone would not do that: two open files of one process exclude
each other like two processes do.
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path

from ..errors import CatalogError

LOCK_FILE = "write.lock"
DEFAULT_TIMEOUT = 120.0


@dataclasses.dataclass
class _Held:
    """The process's hold on one lock file: its descriptor and how many blocks are inside."""

    fd: int
    depth: int = 0


_guards_mutex = threading.Lock()
_guards: dict[str, threading.RLock] = {}  # per lock file: threads of one process take turns, the owner re-enters
_held: dict[str, _Held] = {}


def _guard_for(key: str) -> threading.RLock:
    with _guards_mutex:
        return _guards.setdefault(key, threading.RLock())


@contextlib.contextmanager
def write_lock(derived_dir: Path, *, timeout: float = DEFAULT_TIMEOUT, name: str = LOCK_FILE) -> Iterator[None]:
    """Hold the project's writer lock (or the lock file `name`) for the block; reentrant in one process.

    Waits up to `timeout` seconds for another writer, then raises CatalogError.
    """
    path = _lock_path(derived_dir, name)
    key = os.path.realpath(path)
    deadline = time.monotonic() + timeout
    guard = _guard_for(key)
    if not guard.acquire(timeout=timeout):
        raise _timeout_error(timeout)
    try:
        held = _held.get(key)
        if held is None:
            held = _Held(_acquire(path, deadline, timeout))
            _held[key] = held
        held.depth += 1
        try:
            yield
        finally:
            held.depth -= 1
            if held.depth == 0:
                del _held[key]
                fcntl.flock(held.fd, fcntl.LOCK_UN)
                os.close(held.fd)
    finally:
        guard.release()


def holds_lock(derived_dir: Path, name: str = LOCK_FILE) -> bool:
    """Whether this process is inside a `write_lock` block for the project (for assertions)."""
    return os.path.realpath(derived_dir / name) in _held


def _lock_path(derived_dir: Path, name: str) -> Path:
    try:
        derived_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise CatalogError(f"cannot create the derived folder {derived_dir}: {exc.strerror or exc}") from None
    return derived_dir / name


def _acquire(path: Path, deadline: float, timeout: float) -> int:
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o644)
    except IsADirectoryError:
        raise CatalogError(f"the lock file {path} is a directory; remove it (rmdir) and retry") from None
    except OSError as exc:
        raise CatalogError(f"cannot open the lock file {path}: {exc.strerror or exc}; remove it and retry") from None
    delay = 0.005
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return fd
        except BlockingIOError:
            if time.monotonic() >= deadline:
                os.close(fd)
                raise _timeout_error(timeout) from None
            time.sleep(delay)
            delay = min(delay * 2, 0.1)


def _timeout_error(timeout: float) -> CatalogError:
    return CatalogError(
        f"another newsletter process has held the catalog lock for {timeout:.0f} s; "
        "wait for it to finish (or stop it) and retry"
    )
