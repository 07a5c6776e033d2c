"""One lock serializes writers across processes (two curators' scripts, a cron pull, an editor).

An advisory `flock` on a file in the derived folder: the kernel releases it when the holder dies,
so a killed process never leaves the catalog locked.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import time
from collections.abc import Iterator
from pathlib import Path

from ..errors import CatalogError


@contextlib.contextmanager
def write_lock(derived_dir: Path, *, timeout: float = 120.0) -> Iterator[None]:
    """Hold the project's writer lock for the duration of the block.

    Waits up to `timeout` seconds for another writer, then raises CatalogError.
    """
    derived_dir.mkdir(parents=True, exist_ok=True)
    fd = os.open(derived_dir / "write.lock", os.O_RDWR | os.O_CREAT, 0o644)
    try:
        deadline = time.monotonic() + timeout
        delay = 0.005
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise CatalogError(
                        f"another newsletter process has held the catalog lock for {timeout:.0f} s; "
                        "wait for it to finish (or stop it) and retry"
                    ) from None
                time.sleep(delay)
                delay = min(delay * 2, 0.1)
        try:
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)
