"""An aiosmtpd server on 127.0.0.1 for the mail tests: a collecting, misbehaving-on-request handler."""

from __future__ import annotations

import collections
import contextlib
import socket
from collections.abc import Iterator
from typing import Any


class Collector:
    """An SMTP handler that keeps every accepted message and can misbehave on request.

    down_after: after this many accepted messages, answer MAIL with 421 (or drop the connection
    when drop=True) until `down_after` is reset. rcpt_codes: address -> list of codes to answer in
    turn (the last one repeats). drop_after_data: addresses whose DATA is stored, then the
    connection is closed without a reply (the "in doubt" window).
    """

    def __init__(self) -> None:
        self.messages: list[tuple[str, list[str], bytes]] = []
        self.down_after: int | None = None
        self.drop = False
        self.rcpt_codes: dict[str, list[int]] = {}
        self.drop_after_data: set[str] = set()
        self.connections = 0

    async def handle_EHLO(
        self, server: Any, session: Any, envelope: Any, hostname: str, responses: list[str]
    ) -> list[str]:
        self.connections += 1
        session.host_name = hostname
        return responses

    async def handle_MAIL(self, server: Any, session: Any, envelope: Any, address: str, options: list[str]) -> str:
        if self.down_after is not None and len(self.messages) >= self.down_after:
            if self.drop:
                server.transport.close()
            return "421 4.3.2 Service shutting down"
        envelope.mail_from = address
        envelope.mail_options.extend(options)
        return "250 OK"

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str, options: list[str]) -> str:
        codes = self.rcpt_codes.get(address)
        if codes:
            code = codes.pop(0) if len(codes) > 1 else codes[0]
            if code == 450:
                return "450 4.2.1 Mailbox busy, try again later"
            if code == 550:
                return "550 5.1.1 No such user here"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append((envelope.mail_from, list(envelope.rcpt_tos), envelope.original_content))
        if set(envelope.rcpt_tos) & self.drop_after_data:
            self.drop_after_data -= set(envelope.rcpt_tos)
            server.transport.close()
        return "250 2.0.0 Accepted"

    def recipients(self) -> collections.Counter[str]:
        return collections.Counter(rcpt for _from, rcpts, _data in self.messages for rcpt in rcpts)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def running_smtp(handler: Collector) -> Iterator[tuple[Collector, str]]:
    """An aiosmtpd server on a free loopback port with `handler`: (handler, "host:port"); stopped after."""
    from aiosmtpd.controller import Controller

    controller = Controller(handler, hostname="127.0.0.1", port=free_port())
    controller.start()
    try:
        yield handler, f"127.0.0.1:{controller.port}"
    finally:
        controller.stop()
