"""A running subscriber service for tests: uvicorn in a thread on 127.0.0.1, aiosmtpd for its mail."""

from __future__ import annotations

import contextlib
import email
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from email.message import Message
from pathlib import Path
from typing import Any

import uvicorn
from aiosmtpd.controller import Controller

from newsletter.server.app import create_app
from newsletter.server.settings import ServerSettings
from newsletter.signing import Keyring

SECRET = "test-secret-0123456789abcdef"
LIST_TOKEN = "test-list-token-0123456789"


class Inbox:
    """An aiosmtpd handler that keeps every message it accepts."""

    def __init__(self) -> None:
        self.messages: list[Message] = []

    async def handle_DATA(self, server: object, session: object, envelope: object) -> str:
        self.messages.append(email.message_from_bytes(envelope.content))  # type: ignore[attr-defined]
        return "250 OK"

    def wait_for(self, count: int, timeout: float = 10.0) -> list[Message]:
        deadline = time.monotonic() + timeout
        while len(self.messages) < count and time.monotonic() < deadline:
            time.sleep(0.02)
        return self.messages


@dataclass
class Service:
    url: str
    inbox: Inbox
    keyring: Keyring
    db_path: Path
    app: object = field(repr=False, default=None)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def loopback_socket() -> tuple[socket.socket, str]:
    """A socket bound to a free loopback port, and its base URL (known before the app is made)."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    return sock, f"http://127.0.0.1:{sock.getsockname()[1]}"


@contextlib.contextmanager
def serving(app: Any, sock: socket.socket) -> Iterator[None]:
    """Run an ASGI app under uvicorn on `sock` in a thread, until the block ends."""
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.01)
    try:
        yield
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()


def run_service(tmp: Path, *, rate_limit: int = 100, keyring: Keyring | None = None) -> Iterator[Service]:
    """Start aiosmtpd and the app under uvicorn; yield; stop both."""
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=free_port())
    controller.start()
    sock, base = loopback_socket()
    keyring = keyring or Keyring(SECRET)
    settings = ServerSettings(host="127.0.0.1", port=sock.getsockname()[1], db=tmp / "subscribers.sqlite3",
                              smtp=f"127.0.0.1:{controller.port}", sender="list@example.org",
                              list_name="Test <Weekly>", rate_limit=rate_limit)
    app = create_app(settings, keyring, LIST_TOKEN)
    try:
        with serving(app, sock):
            yield Service(base, inbox, keyring, settings.db, app)
    finally:
        controller.stop()
