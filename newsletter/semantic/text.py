"""What text stands for an item in embedding space, and the hash that keys its vector.

`embedding_text` is a pure function of the item: the same item always gives the same text, so
its hash (`text_hash`) can key the embedding cache. Fields that don't change what a resource is
about (status, issue, note, added) are left out on purpose: publishing an item must not make it
look "edited" and cost a re-embed.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata

from newsletter.models import Item

# MiniLM truncates at 256 word pieces (~180 words); more characters only cost tokenizer time.
MAX_CHARS = 2000
# Bumped whenever embedding_text changes, so old cached vectors are never reused for new text.
TEXT_VERSION = "1"

_WS_RE = re.compile(r"\s+")


def _clean(value: object) -> str:
    text = "" if value is None else str(value)
    text = "".join(ch for ch in text if unicodedata.category(ch)[0] != "C" or ch in "\t\n")
    return _WS_RE.sub(" ", text).strip()


def _kind_text(item: Item) -> list[str]:
    """Kind-specific fields that say what the resource is (not how it is hosted)."""
    extra = item.extra or {}
    parts: list[str] = []
    if item.kind == "tweet":
        text = _clean(extra.get("text"))
        if text and text not in item.title and text not in item.summary:
            parts.append(text)
    elif item.kind == "podcast":
        show = _clean(extra.get("show"))
        if show:
            parts.append(f"Podcast: {show}")
    elif item.kind == "repo":
        topics = extra.get("topics") or []
        if isinstance(topics, (list, tuple)) and topics:
            parts.append("Topics: " + ", ".join(_clean(t) for t in topics if _clean(t)))
        language = _clean(extra.get("language"))
        if language:
            parts.append(f"Language: {language}")
    elif item.kind == "video":
        channel = _clean(extra.get("channel"))
        if channel:
            parts.append(f"Channel: {channel}")
    elif item.kind == "paper":
        venue = _clean(extra.get("venue"))
        if venue:
            parts.append(f"Venue: {venue}")
    return parts


def embedding_text(item: Item) -> str:
    """The text embedded for an item: title, summary, kind-specific text, then tags.

    Title first because MiniLM truncates the tail; tags last because they are the weakest signal.
    """
    parts = [_clean(item.title), _clean(item.summary), *_kind_text(item)]
    tags = [_clean(t) for t in item.tags if _clean(t)]
    if tags:
        parts.append("Tags: " + ", ".join(tags))
    text = ". ".join(p.rstrip(".") for p in parts if p)
    if not text:
        # An item with no words still needs a stable, distinct text: its URL is all we know.
        text = _clean(item.canonical_url or item.url)
    return text[:MAX_CHARS]


def text_hash(text: str) -> str:
    """A 32-hex-digit (128-bit) content hash of an embedding text, versioned with TEXT_VERSION."""
    return hashlib.sha256(f"{TEXT_VERSION}\0{text}".encode()).hexdigest()[:32]


def item_text_hash(item: Item) -> str:
    """The key of an item's vector: the hash of its embedding text (stored per row by the cache)."""
    return text_hash(embedding_text(item))
