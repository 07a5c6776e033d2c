"""`newsletter init`: scaffold a new project from the templates shipped inside the package."""

from __future__ import annotations

import dataclasses
import re
import shlex
import subprocess
import sys
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path

from .config import PROJECT_FILE
from .errors import ProjectError
from .text import TITLE_MAX, clean_external

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
    # Controls (a \x01 is invalid TOML) and line breaks out, then the quote and backslash of TOML/YAML strings.
    safe_name = re.sub(r'["\\]', "", clean_external(display, limit=TITLE_MAX)) or "My Newsletter"
    _copy_tree(resources.files("newsletter") / "scaffold", root, safe_name)
    (root / "catalog").mkdir(exist_ok=True)
    (root / "catalog" / ".gitkeep").touch()
    write_gitattributes(root)
    return root


# --- git as the collaboration layer: the merge driver for item files ---------------------------

MERGE_DRIVER = "newsletter-item"
GITATTRIBUTES_LINE = f"catalog/**/*.md merge={MERGE_DRIVER}"
DRIVER_MODULE = "newsletter.store.gitmerge"


@dataclasses.dataclass(frozen=True)
class GitSetup:
    attributes: Path  # the .gitattributes file
    attributes_changed: bool  # False: it already had the line
    configured: bool  # False: not a git repository (or no git), only .gitattributes was written
    driver: str  # the command written to merge.newsletter-item.driver


def merge_driver_command(python: str | None = None) -> str:
    """The driver line for git config: this interpreter, so the driver imports this installation."""
    return f"{shlex.quote(python or sys.executable)} -m {DRIVER_MODULE} %O %A %B %P"


def write_gitattributes(root: Path) -> bool:
    """Add the item-file merge rule to `root`/.gitattributes, keeping every other line; False if present."""
    path = root / ".gitattributes"
    text = path.read_text(encoding="utf-8") if path.exists() else ""
    if GITATTRIBUTES_LINE in (line.strip() for line in text.splitlines()):
        return False
    if text and not text.endswith("\n"):
        text += "\n"
    if not text:
        text = "# newsletter: item files merge field by field (see `newsletter git-setup`)\n"
    path.write_text(text + GITATTRIBUTES_LINE + "\n", encoding="utf-8")
    return True


def is_git_repository(root: Path) -> bool:
    try:
        done = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "--git-dir"], capture_output=True, check=False
        )
    except OSError:  # no git on PATH
        return False
    return done.returncode == 0


def git_setup(root: Path, *, python: str | None = None) -> GitSetup:
    """Install the merge driver for item files: .gitattributes (committed, shared) and the
    repository's local git config (per clone: every editor runs this once in their clone)."""
    root = root.resolve()
    changed = write_gitattributes(root)
    driver = merge_driver_command(python)
    configured = is_git_repository(root)
    if configured:
        for key, value in (
            (f"merge.{MERGE_DRIVER}.name", "newsletter item files: tags united, notes merged, status by precedence"),
            (f"merge.{MERGE_DRIVER}.driver", driver),
        ):
            done = subprocess.run(
                ["git", "-C", str(root), "config", "--local", key, value], capture_output=True, check=False
            )
            if done.returncode != 0:
                problem = done.stderr.decode("utf-8", "replace").strip()
                raise ProjectError(f"git config {key} failed: {problem}")
    return GitSetup(root / ".gitattributes", changed, configured, driver)


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
