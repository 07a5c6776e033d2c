"""Shared pytest fixtures."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

try:
    from tests.httpserver import LoopbackServer
    from tests.smtpserver import Collector, running_smtp
except ImportError:  # pytest run without the project root on sys.path: tests/ itself is on it
    from httpserver import LoopbackServer  # type: ignore[no-redef]
    from smtpserver import Collector, running_smtp  # type: ignore[no-redef]


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
