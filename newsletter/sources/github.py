"""GitHub repositories from the REST API (``GET /repos/{owner}/{repo}``).

Pure: `repo_api_url` builds the request URL, `parse_repo` turns the JSON body into `Metadata`.

Decisions:
- title is the ``full_name`` ("owner/name"): it is how people cite a repo and never changes with
  the description; the description is the summary.
- ``published`` is the repository's creation date (``created_at``): the closest thing a repo has
  to a publication date, and unlike ``pushed_at`` it does not move on every commit.
- authors is the owner's login; image is the owner's avatar.
- ``extra``: ``stars`` (int), ``language``, ``homepage``, ``license`` (SPDX id; GitHub's
  "NOASSERTION" for unrecognised licences is dropped), ``topics``. Empty values are left out.
- suggested tags are the topics, normalized.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import quote

from newsletter.errors import SourceError
from newsletter.models import Metadata, parse_date
from newsletter.sources.text import clean_text, load_json, source_tags, source_url
from newsletter.text import LICENSE_MAX, MAX_TAGS, SHORT_MAX, SUMMARY_MAX, TAG_MAX, TITLE_MAX, clean_external

_OWNER_REPO = re.compile(r"^([A-Za-z0-9](?:[A-Za-z0-9-]{0,38}))/([A-Za-z0-9._-]{1,100})$")


def repo_api_url(api_base: str, owner_repo: str) -> str:
    """The API URL for "owner/repo" (a trailing ".git" or slash is tolerated).

    Raises SourceError when ``owner_repo`` is not of the form owner/repo.
    """
    cleaned = owner_repo.strip().strip("/")
    cleaned = cleaned[:-4] if cleaned.endswith(".git") else cleaned
    match = _OWNER_REPO.match(cleaned)
    if not match or match.group(2) in (".", ".."):
        raise SourceError(f"{owner_repo!r} is not a GitHub repository name: expected owner/repo")
    owner, repo = match.groups()
    return f"{api_base.rstrip('/')}/repos/{quote(owner)}/{quote(repo)}"


def parse_repo(data: bytes) -> Metadata:
    """Metadata of a repository (kind "repo") from the API's JSON.

    Raises SourceError with GitHub's own message for error bodies (404, rate limit) and for garbage.
    """
    doc = load_json(data, what="GitHub API returned something that is not JSON (check NEWSLETTER_GITHUB_API)")
    if not isinstance(doc, dict):
        raise SourceError("GitHub API returned unexpected JSON: expected a repository object")
    full_name = clean_external(_str(doc.get("full_name")), limit=TITLE_MAX)
    if not full_name:
        message = clean_text(_str(doc.get("message")), 300)
        if message:
            raise SourceError(f"GitHub API error: {message}{_hint(message)}")
        raise SourceError("GitHub API response has no full_name: not a repository object")

    owner = _dict(doc.get("owner"))
    licence = _dict(doc.get("license"))
    # Topics are kept (cleaned, each at most TAG_MAX, at most MAX_TAGS of them) and become tags.
    raw_topics = _list(doc.get("topics"))
    topics = [clean_external(t, limit=TAG_MAX + 1) for t in raw_topics[:200] if isinstance(t, str)]
    topics = list(dict.fromkeys(t for t in topics if t and len(t) <= TAG_MAX))[:MAX_TAGS]

    extra: dict[str, Any] = {}
    stars = doc.get("stargazers_count")
    if isinstance(stars, int) and not isinstance(stars, bool):
        extra["stars"] = stars
    language = clean_text(_str(doc.get("language")), SHORT_MAX)
    if language:
        extra["language"] = language
    homepage = source_url(_str(doc.get("homepage")))
    if homepage:
        extra["homepage"] = homepage
    # An SPDX id is a short token; anything longer than LICENSE_MAX is not one, so it is left out whole.
    spdx = clean_external(_str(licence.get("spdx_id")), limit=LICENSE_MAX + 1)
    if spdx and len(spdx) <= LICENSE_MAX and spdx.upper() != "NOASSERTION":
        extra["license"] = spdx
    if topics:
        extra["topics"] = topics

    login = clean_text(_str(owner.get("login")), SHORT_MAX)
    avatar = source_url(_str(owner.get("avatar_url")))
    return Metadata(
        kind="repo",
        title=clean_text(full_name, TITLE_MAX),
        summary=clean_text(_str(doc.get("description")), SUMMARY_MAX),
        authors=[login] if login else [],
        published=parse_date(_str(doc.get("created_at"))),
        site="GitHub",
        image=avatar if avatar.startswith("https://") else "",
        canonical_url=f"https://github.com/{full_name.lower()}" if _OWNER_REPO.match(full_name) else "",
        extra=extra,
        suggested_tags=source_tags(topics),
    )


def _hint(message: str) -> str:
    lowered = message.lower()
    if "rate limit" in lowered:
        return " (wait for the limit to reset, then retry)"
    if "not found" in lowered:
        return " (check the owner/repo name; private repositories are not visible)"
    return ""



def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _str(value: Any) -> str:
    return "" if value is None or isinstance(value, (dict, list)) else str(value)
