"""`newsletter init`: scaffold a new project from the templates shipped inside the package."""

from __future__ import annotations

import re
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path

from .config import PROJECT_FILE
from .errors import ProjectError

# Files of the scaffold whose text is formatted with the project's name.
_FORMATTED = {"newsletter.toml", "mkdocs.yml", "index.md"}
# Dot-files can't be shipped reliably as package data, so they travel without the dot.
_RENAMED = {"gitignore": ".gitignore"}


def init_project(root: Path, *, name: str | None = None) -> Path:
    """Create an empty newsletter project in `root` (which must not already hold one)."""
    root = root.resolve()
    if (root / PROJECT_FILE).exists():
        raise ProjectError(f"{root} already holds a newsletter project ({PROJECT_FILE} exists)")
    if root.exists() and any(p for p in root.iterdir() if p.name not in (".git",)):
        raise ProjectError(f"{root} is not empty; choose a new or empty folder")
    display = name or root.name.replace("-", " ").replace("_", " ").strip().title() or "My Newsletter"
    safe_name = re.sub(r'["\\\n\r]', "", display)
    _copy_tree(resources.files("newsletter") / "scaffold", root, safe_name)
    (root / "catalog").mkdir(exist_ok=True)
    (root / "catalog" / ".gitkeep").touch()
    return root


def _copy_tree(source: Traversable, target: Path, name: str) -> None:
    target.mkdir(parents=True, exist_ok=True)
    for entry in source.iterdir():
        if entry.name == "__pycache__":
            continue
        destination = target / _RENAMED.get(entry.name, entry.name)
        if entry.is_dir():
            _copy_tree(entry, destination, name)
        elif entry.name in _FORMATTED:
            destination.write_text(entry.read_text(encoding="utf-8").replace("{name}", name), encoding="utf-8")
        else:
            destination.write_bytes(entry.read_bytes())
