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
    endpoints = {str(k): str(v) for k, v in _table(raw, "endpoints", path).items()}
    unknown = set(endpoints) - set(ENDPOINTS)
    if unknown:
        raise ProjectError(f"{path}: unknown endpoint(s) {', '.join(sorted(unknown))}")
    try:
        fetch_options = FetchOptions(
            concurrency=int(fetch.get("concurrency", FetchOptions.concurrency)),
            per_host=int(fetch.get("per_host", FetchOptions.per_host)),
            timeout=float(fetch.get("timeout", FetchOptions.timeout)),
            retries=int(fetch.get("retries", FetchOptions.retries)),
            max_bytes=int(fetch.get("max_bytes", FetchOptions.max_bytes)),
        )
        threshold = semantic.get("dupe_threshold")
        return Settings(
            root=root,
            name=str(meta.get("name", "My Newsletter")),
            description=str(meta.get("description", "")),
            site_url=str(meta.get("site_url", "")),
            language=str(meta.get("language", "en")),
            sender_name=str(sender.get("name", meta.get("name", ""))),
            sender_email=str(sender.get("email", "")),
            subscribe_url=str(meta.get("subscribe_url", "")),
            endpoints=endpoints,
            fetch=fetch_options,
            model=str(semantic.get("model", "default")),
            embed_backend=str(semantic.get("backend", "auto")),
            dupe_threshold=float(threshold) if threshold is not None else None,
            raw=raw,
        )
    except (TypeError, ValueError) as exc:
        raise ProjectError(f"{path}: invalid value: {exc}") from None


def _table(raw: dict[str, Any], name: str, path: Path) -> dict[str, Any]:
    value = raw.get(name, {})
    if not isinstance(value, dict):
        raise ProjectError(f"{path}: [{name}] must be a table")
    return value


def secret(name: str) -> str | None:
    """A secret from the environment (NEWSLETTER_SECRET, NEWSLETTER_SMTP_PASSWORD ...); never stored."""
    value = os.environ.get(name)
    return value if value else None
