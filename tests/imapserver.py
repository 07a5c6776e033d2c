"""A small IMAP4rev1 server on 127.0.0.1 for tests: LOGIN, SELECT/EXAMINE, (UID) SEARCH ALL or
UNSEEN, (UID) FETCH of whole messages (BODY[] marks a message \\Seen in a read-write folder,
BODY.PEEK[] never does), (UID) STORE +FLAGS (\\Seen), LOGOUT. Every command is recorded, so a test
can check that a reader only ever looked (no STORE, COPY or EXPUNGE). Plain TCP: the client is on
loopback.
"""

from __future__ import annotations

import re
import socketserver
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field


@dataclass
class Mailbox:
    user: str
    password: str
    folders: dict[str, list[bytes]]
    commands: list[str] = field(default_factory=list)
    seen: dict[str, set[int]] = field(default_factory=dict)  # folder -> message numbers flagged \\Seen


_TOKEN = re.compile(r'"((?:[^"\\]|\\.)*)"|(\S+)')


def _args(text: str) -> list[str]:
    return [m.group(1).replace('\\"', '"').replace("\\\\", "\\") if m.group(1) is not None else m.group(2)
            for m in _TOKEN.finditer(text)]


class _Handler(socketserver.StreamRequestHandler):
    box: Mailbox

    def send(self, line: str | bytes) -> None:
        self.wfile.write(line if isinstance(line, bytes) else line.encode() + b"\r\n")

    def handle(self) -> None:
        box = self.server.box  # type: ignore[attr-defined]
        self.send("* OK IMAP4rev1 test server ready")
        logged_in = False
        selected: list[bytes] | None = None
        seen: set[int] = set()
        writable = False
        while True:
            raw = self.rfile.readline()
            if not raw:
                return
            line = raw.decode("utf-8", "replace").rstrip("\r\n")
            tag, _, rest = line.partition(" ")
            command, _, tail = rest.partition(" ")
            command = command.upper()
            box.commands.append(f"{command} {tail}".strip() if command != "LOGIN" else "LOGIN")
            uid = False
            if command == "UID":
                uid = True
                command, _, tail = tail.partition(" ")
                command = command.upper()
            if command == "CAPABILITY":
                self.send("* CAPABILITY IMAP4rev1")
                self.send(f"{tag} OK CAPABILITY completed")
            elif command == "LOGIN":
                args = _args(tail)
                if len(args) == 2 and args[0] == box.user and args[1] == box.password:
                    logged_in = True
                    self.send(f"{tag} OK LOGIN completed")
                else:
                    self.send(f"{tag} NO [AUTHENTICATIONFAILED] Invalid credentials")
            elif command in ("SELECT", "EXAMINE") and logged_in:
                name = (_args(tail) or [""])[0]
                if name not in box.folders:
                    self.send(f"{tag} NO no such mailbox")
                    continue
                selected = box.folders[name]
                seen = box.seen.setdefault(name, set())
                writable = command == "SELECT"
                self.send(f"* {len(selected)} EXISTS")
                self.send("* 0 RECENT")
                self.send("* OK [UIDVALIDITY 1] UIDs valid")
                mode = "READ-ONLY" if command == "EXAMINE" else "READ-WRITE"
                self.send(f"{tag} OK [{mode}] {command} completed")
            elif command == "SEARCH" and selected is not None:
                numbers = range(1, len(selected) + 1)
                if "UNSEEN" in tail.upper():
                    numbers = [n for n in numbers if n not in seen]  # type: ignore[assignment]
                self.send("* SEARCH " + " ".join(str(i) for i in numbers))
                self.send(f"{tag} OK SEARCH completed")
            elif command == "FETCH" and selected is not None:
                number = int(tail.split(" ", 1)[0])
                data = selected[number - 1]
                prefix = f"UID {number} " if uid else ""
                if "PEEK" not in tail.upper() and writable:
                    seen.add(number)
                self.send(f"* {number} FETCH ({prefix}BODY[] {{{len(data)}}}".encode() + b"\r\n" + data + b")\r\n")
                self.send(f"{tag} OK FETCH completed")
            elif command == "STORE" and selected is not None:
                number_text, _, change = tail.partition(" ")
                if not writable:
                    self.send(f"{tag} NO folder is read-only")
                    continue
                if change.upper().startswith("+FLAGS") and "\\SEEN" in change.upper():
                    seen.add(int(number_text))
                self.send(f"* {int(number_text)} FETCH (FLAGS (\\Seen))")
                self.send(f"{tag} OK STORE completed")
            elif command == "LOGOUT":
                self.send("* BYE logging out")
                self.send(f"{tag} OK LOGOUT completed")
                return
            else:
                self.send(f"{tag} BAD command not understood here")


@contextmanager
def imap_server(box: Mailbox) -> Iterator[str]:
    """Serve `box` on 127.0.0.1; yields `127.0.0.1:PORT`."""
    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), _Handler)
    server.daemon_threads = True
    server.box = box  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
