"""Shared pytest fixtures."""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
from collections.abc import Iterator

import pytest

try:
    from tests.httpserver import LoopbackServer
    from tests.smtpserver import Collector, running_smtp
except ImportError:  # pytest run without the project root on sys.path: tests/ itself is on it
    from httpserver import LoopbackServer  # type: ignore[no-redef]
    from smtpserver import Collector, running_smtp  # type: ignore[no-redef]

# One machine cache (the shared ONNX export) per test session, never the user's: tests stay
# hermetic, and the export is made at most once per run instead of once per test project.
if "NEWSLETTER_CACHE_DIR" not in os.environ:
    _machine_cache = tempfile.mkdtemp(prefix="newsletter-test-cache-")
    os.environ["NEWSLETTER_CACHE_DIR"] = _machine_cache
    atexit.register(shutil.rmtree, _machine_cache, ignore_errors=True)


@pytest.fixture
def http_server() -> Iterator[LoopbackServer]:
    """A started loopback HTTP server on 127.0.0.1 with an empty route table; stopped afterwards."""
    with LoopbackServer() as server:
        yield server


@pytest.fixture
def smtp() -> Iterator[tuple[Collector, str]]:
    """An aiosmtpd server on 127.0.0.1 with a fresh Collector: (handler, "host:port"); stopped afterwards."""
    with running_smtp(Collector()) as server:
        yield server
