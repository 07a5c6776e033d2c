"""Project discovery and settings (`newsletter.toml`).

A project is a folder holding `newsletter.toml`. Settings have defaults for everything, so a
minimal file (just a name) works; external endpoints can be overridden by environment variables
so tests and demos point at loopback servers. Secrets never live here: they come only from the
environment (see `secret()`).
"""

from __future__ import annotations

import dataclasses
import os
import tomllib
from pathlib import Path
from typing import Any

from .errors import ProjectError

PROJECT_FILE = "newsletter.toml"
DERIVED_DIR = ".newsletter"

# setting name -> (environment variable, default)
ENDPOINTS: dict[str, tuple[str, str]] = {
    "arxiv_api": ("NEWSLETTER_ARXIV_API", "https://export.arxiv.org/api/query"),
    "crossref_api": ("NEWSLETTER_CROSSREF_API", "https://api.crossref.org"),
    "twitter_oembed": ("NEWSLETTER_TWITTER_OEMBED", "https://publish.twitter.com/oembed"),
    "github_api": ("NEWSLETTER_GITHUB_API", "https://api.github.com"),
    "youtube_oembed": ("NEWSLETTER_YOUTUBE_OEMBED", "https://www.youtube.com/oembed"),
    "wayback_api": ("NEWSLETTER_WAYBACK_API", "https://web.archive.org"),
    "buttondown_api": ("NEWSLETTER_BUTTONDOWN_API", "https://api.buttondown.com"),
}


@dataclasses.dataclass(frozen=True)
class FetchOptions:
    """How politely and patiently to fetch (see `newsletter.fetch.FetchSettings`)."""

    concurrency: int = 16
    per_host: int = 8
    timeout: float = 15.0
    retries: int = 3
    max_bytes: int = 5_000_000


@dataclasses.dataclass(frozen=True)
class Settings:
    """Everything `newsletter.toml` can say, with defaults."""

    root: Path
    name: str = "My Newsletter"
    description: str = ""
    site_url: str = ""
    language: str = "en"
    sender_name: str = ""
    sender_email: str = ""
    subscribe_url: str = ""
    endpoints: dict[str, str] = dataclasses.field(default_factory=dict)
    fetch: FetchOptions = FetchOptions()
    model: str = "default"
    embed_backend: str = "auto"
    dupe_threshold: float | None = None
    raw: dict[str, Any] = dataclasses.field(default_factory=dict)

    @property
    def catalog_dir(self) -> Path:
        return self.root / "catalog"

    @property
    def content_dir(self) -> Path:
        return self.root / "content"

    @property
    def issues_dir(self) -> Path:
        return self.root / "content" / "issues"

    @property
    def templates_dir(self) -> Path:
        return self.root / "templates"

    @property
    def derived_dir(self) -> Path:
        return self.root / DERIVED_DIR

    def endpoint(self, name: str) -> str:
        """The URL of an external service, environment first, then the file, then the default."""
        env_name, default = ENDPOINTS[name]
        return (os.environ.get(env_name) or self.endpoints.get(name) or default).rstrip("/")


def find_project(start: Path | str | None = None) -> Path:
    """The nearest folder at or above `start` (default: cwd) that holds newsletter.toml."""
    here = Path(start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / PROJECT_FILE).is_file():
            return folder
    raise ProjectError(
        f"no {PROJECT_FILE} in {here} or any parent folder; "
        "run `newsletter init DIR` to create a project, or pass -C DIR"
    )


def load_settings(root: Path | str) -> Settings:
    """Read `root/newsletter.toml` into `Settings`; a malformed file raises ProjectError."""
    root = Path(root).resolve()
    path = root / PROJECT_FILE
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ProjectError(f"{path} not found; run `newsletter init {root}` first") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ProjectError(f"{path} is not valid TOML: {exc}; fix the file and retry") from None
    meta = _table(raw, "newsletter", path)
    sender = _table(raw, "sender", path)
    fetch = _table(raw, "fetch", path)
    semantic = _table(raw, "semantic", path)
    endpoints = {str(k): _text(_table(raw, "endpoints", path), "endpoints", str(k), "", path)
                 for k in _table(raw, "endpoints", path)}
    unknown = set(endpoints) - set(ENDPOINTS)
    if unknown:
        raise ProjectError(f"{path}: unknown endpoint(s) {', '.join(sorted(unknown))}")
    fetch_options = FetchOptions(
        concurrency=_whole(fetch, "fetch", "concurrency", FetchOptions.concurrency, 1, 256, path),
        per_host=_whole(fetch, "fetch", "per_host", FetchOptions.per_host, 1, 64, path),
        timeout=_real(fetch, "fetch", "timeout", FetchOptions.timeout, 0.1, 600.0, path),
        retries=_whole(fetch, "fetch", "retries", FetchOptions.retries, 0, 10, path),
        max_bytes=_whole(fetch, "fetch", "max_bytes", FetchOptions.max_bytes, 1_000, 2_000_000_000, path),
    )
    threshold = semantic.get("dupe_threshold")
    if threshold is not None:
        threshold = _real(semantic, "semantic", "dupe_threshold", 0.0, 0.0, 1.0, path)
    return Settings(
        root=root,
        name=_text(meta, "newsletter", "name", "My Newsletter", path),
        description=_text(meta, "newsletter", "description", "", path),
        site_url=_text(meta, "newsletter", "site_url", "", path),
        language=_text(meta, "newsletter", "language", "en", path),
        sender_name=_text(sender, "sender", "name", _text(meta, "newsletter", "name", "", path), path),
        sender_email=_text(sender, "sender", "email", "", path),
        subscribe_url=_text(meta, "newsletter", "subscribe_url", "", path),
        endpoints=endpoints,
        fetch=fetch_options,
        model=_text(semantic, "semantic", "model", "default", path),
        embed_backend=_text(semantic, "semantic", "backend", "auto", path),
        dupe_threshold=threshold,
        raw=raw,
    )


# Typed readers: a wrong value names its table, key, what is expected and what was found, so the
# fix is one edit. TOML is typed, so "16" (a string) is refused rather than guessed at; booleans
# are refused where numbers belong (Python counts True as 1).
def _whole(table: dict[str, Any], name: str, key: str, default: int, low: int, high: int, path: Path) -> int:
    value = table.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ProjectError(f"{path}: [{name}] {key} must be a whole number from {low} to {high} (found {value!r:.40})")
    return value


def _real(table: dict[str, Any], name: str, key: str, default: float, low: float, high: float, path: Path) -> float:
    value = table.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or not low <= value <= high:
        raise ProjectError(f"{path}: [{name}] {key} must be a number from {low:g} to {high:g} (found {value!r:.40})")
    return float(value)


def _text(table: dict[str, Any], name: str, key: str, default: str, path: Path) -> str:
    value = table.get(key, default)
    if not isinstance(value, str):
        raise ProjectError(f"{path}: [{name}] {key} must be text in quotes (found {value!r:.40})")
    return value


def _table(raw: dict[str, Any], name: str, path: Path) -> dict[str, Any]:
    value = raw.get(name, {})
    if not isinstance(value, dict):
        raise ProjectError(f"{path}: [{name}] must be a table")
    return value


def secret(name: str) -> str | None:
    """A secret from the environment (NEWSLETTER_SECRET, NEWSLETTER_SMTP_PASSWORD ...); never stored."""
    value = os.environ.get(name)
    return value if value else None
