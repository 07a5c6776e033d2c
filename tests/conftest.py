"""Shared pytest fixtures."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

try:
    from tests.httpserver import LoopbackServer
    from tests.smtpserver import Collector, free_port
except ImportError:  # pytest run without the project root on sys.path: tests/ itself is on it
    from httpserver import LoopbackServer  # type: ignore[no-redef]
    from smtpserver import Collector, free_port  # type: ignore[no-redef]


@pytest.fixture
def http_server() -> Iterator[LoopbackServer]:
    """A started loopback HTTP server on 127.0.0.1 with an empty route table; stopped afterwards."""
    with LoopbackServer() as server:
        yield server


@pytest.fixture
def smtp() -> Iterator[tuple[Collector, str]]:
    """An aiosmtpd server on 127.0.0.1 with a fresh Collector: (handler, "host:port"); stopped afterwards."""
    from aiosmtpd.controller import Controller

    handler = Collector()
    controller = Controller(handler, hostname="127.0.0.1", port=free_port())
    controller.start()
    try:
        yield handler, f"127.0.0.1:{controller.port}"
    finally:
        controller.stop()
