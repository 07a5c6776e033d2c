"""One ONNX export per machine and model, shared by every project on it.

Exporting the model needs torch (12 s warm, ~40 s on a cold disk), so a project's first `add` or
`search` used to pay it, once per project. The export depends only on the model's files, so it
is kept once per machine (``$NEWSLETTER_CACHE_DIR``, else ``$XDG_CACHE_HOME/newsletter``, else
``~/.cache/newsletter``), keyed by a fingerprint of the model folder, and each project takes a
copy into its derived folder, which stays self-contained and disposable (a copy, not a hard link:
whatever damages a project's file in place must not damage every project's).
`make install` fills the machine copy (`python -m newsletter.semantic.warm`).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

EXPORT_VERSION = "1"  # bump when the export's graph changes (inputs, opset, pooling outside)


def cache_dir() -> Path:
    """The machine-wide cache folder of this tool (nothing else is kept there)."""
    explicit = os.environ.get("NEWSLETTER_CACHE_DIR")
    if explicit:
        return Path(explicit)
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".cache") / "newsletter"


def fingerprint(model_dir: Path) -> str:
    """A short hash of what the export is made from: the model's config and its weight files' sizes."""
    digest = hashlib.sha256(EXPORT_VERSION.encode())
    for name in sorted(os.listdir(model_dir)):
        path = model_dir / name
        if name.endswith((".json", ".txt")) and path.is_file():
            digest.update(name.encode() + b"\0" + path.read_bytes())
        elif path.is_file():
            digest.update(f"{name}\0{path.stat().st_size}".encode())
    return digest.hexdigest()[:16]


def shared_path(name: str, model_dir: Path) -> Path:
    """Where the machine's export of this model lives."""
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in name)[:80]
    return cache_dir() / "onnx" / f"{safe}-{fingerprint(model_dir)}" / "model.onnx"


@contextlib.contextmanager
def _exclusive(path: Path) -> Iterator[None]:
    """One exporter per model per machine (a second process waits, then finds the file)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.with_name(".export.lock"), "a+b") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def copy_into(shared: Path, target: Path) -> bool:
    """Put a copy of the machine's export at `target` (atomically); False when there is none."""
    if not shared.is_file():
        return False
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    try:
        shutil.copyfile(shared, tmp)
        os.replace(tmp, target)
    except OSError:
        return False
    finally:
        tmp.unlink(missing_ok=True)
    return True


def provide(name: str, model_dir: Path, target: Path, export: Callable[[Path, Path], Path]) -> Path:
    """Make `target` hold the export of this model: from the machine copy, exporting it first if
    needed. When the machine cache cannot be written, export straight to `target`."""
    shared = shared_path(name, model_dir)
    if copy_into(shared, target):
        return target
    try:
        with _exclusive(shared):
            if not shared.is_file():
                export(model_dir, shared)
    except OSError:
        return export(model_dir, target)
    if not copy_into(shared, target):
        return export(model_dir, target)
    return target


def forget(name: str, model_dir: Path) -> None:
    """Drop the machine copy (it was found damaged)."""
    shared_path(name, model_dir).unlink(missing_ok=True)


def fill(name: str, model_dir: Path, export: Callable[[Path, Path], Path]) -> Path:
    """Make the machine copy of `name` if it is missing (under the export lock); return its path."""
    shared = shared_path(name, model_dir)
    with _exclusive(shared):
        if not shared.is_file():
            export(model_dir, shared)
    return shared
