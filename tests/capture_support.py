"""A running capture inbox for tests: `newsletter inbox serve`'s app under uvicorn on 127.0.0.1."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

from newsletter.capture.app import create_app
from newsletter.capture.tokens import parse_tokens
from newsletter.catalog import Catalog
from newsletter.config import find_project, load_settings
from newsletter.models import Item
from newsletter.store.files import parse_item
from tests.test_server_support import loopback_socket, serving

ANN = "ann-token-0123456789abcdef"
BOB = "bob-token-fedcba9876543210"
TOKENS = f"ann:{ANN},bob:{BOB}"


@contextlib.contextmanager
def running_capture(root: Path, tokens: str = TOKENS) -> Iterator[str]:
    """The capture app over the project at `root` on a free loopback port; yields its base URL."""
    settings = load_settings(find_project(root))
    sock, base = loopback_socket()
    app = create_app(lambda: Catalog(settings), parse_tokens(tokens), base_url=base, name=settings.name,
                     allowed_hosts=["127.0.0.1", "localhost"])
    with serving(app, sock):
        yield base


def catalog_files(root: Path) -> dict[str, Item]:
    """Every item file under catalog/, parsed straight from disk (the truth, not the cache)."""
    return {str(p): parse_item(p.read_text(encoding="utf-8"), source=str(p))
            for p in sorted((root / "catalog").rglob("*.md"))}
