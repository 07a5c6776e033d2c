"""A real, misbehaving HTTP/1.1 server on loopback, for tests and benchmarks.

    with LoopbackServer() as server:
        server.add("/ok", body=b"<html>hi</html>")
        server.add_sequence("/flaky", [Reply(status=429, headers={"Retry-After": "1"}), Reply(body=b"ok")])
        server.add("/boom", behaviour="reset")
        fetch(server.url("/ok"))
        assert server.hits["/ok"] == 1

Behaviours (``behaviour=``): ``"reset"`` (RST instead of an answer), ``"endless"`` (a body that never
ends), ``"slow_drip"`` (the body one byte per ``drip_interval`` seconds), ``"hang"`` (accept, never
answer), ``"redirect_loop"`` (302 to itself); ``redirect_to="/path"`` answers with a redirect.
``add_prefix(prefix, func)`` routes every path under ``prefix`` to ``func(path, headers) -> (status,
headers, body)``. ``latency`` delays every answer (benches). The server records hits, hit times,
request headers and the peak number of requests in flight, per path and overall, and counts the TCP
connections it accepted (``connections_opened``: a keep-alive client reuses one).

Run as ``python -m tests.httpserver --host 127.0.0.2 --latency 0.05`` it serves a generated 2 KB page
at every path, prints its port and runs until its stdin closes (benches use it out of process).
"""

from __future__ import annotations

import argparse
import socket
import struct
import sys
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self
from urllib.parse import urlsplit

PrefixHandler = Callable[[str, dict[str, str]], tuple[int, Mapping[str, str], bytes | str]]
BEHAVIOURS = (None, "reset", "endless", "slow_drip", "hang", "redirect_loop")


@dataclass
class Reply:
    """One canned answer."""

    body: bytes | str = b""
    status: int = 200
    headers: Mapping[str, str] = field(default_factory=dict)
    content_type: str | None = "text/html; charset=utf-8"
    delay: float = 0.0
    behaviour: str | None = None
    redirect_to: str | None = None
    drip_interval: float = 1.0

    def __post_init__(self) -> None:
        if self.behaviour not in BEHAVIOURS:
            raise ValueError(f"unknown behaviour {self.behaviour!r}; use one of {BEHAVIOURS}")
        if isinstance(self.body, str):
            self.body = self.body.encode("utf-8")
        if self.redirect_to is not None and self.status == 200:
            self.status = 302


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive
    # Headers and body go out in separate writes; with Nagle on, the body waits for the client's
    # delayed ACK and every answer costs ~40 ms extra.
    disable_nagle_algorithm = True
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        pass  # quiet

    def setup(self) -> None:
        super().setup()
        self.server.owner._track(self.connection, add=True)

    def finish(self) -> None:
        try:
            super().finish()
        except OSError:
            pass  # the socket was reset or closed under us on purpose
        self.server.owner._track(self.connection, add=False)

    def do_GET(self) -> None:
        self.server.owner._serve(self, head=False)

    def do_HEAD(self) -> None:
        self.server.owner._serve(self, head=True)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 512  # many clients connect at once in benches
    owner: LoopbackServer

    def handle_error(self, request: Any, client_address: Any) -> None:
        exc = sys.exc_info()[1]
        if isinstance(exc, (ConnectionError, TimeoutError, ValueError, OSError)):
            return  # clients going away mid-answer is what half the behaviours provoke
        super().handle_error(request, client_address)


class LoopbackServer:
    """A threaded HTTP/1.1 server on ``host`` (127.0.0.1 by default) and a free port."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0, *, latency: float = 0.0) -> None:
        self.host = host
        self.latency = latency
        self.hits: Counter[str] = Counter()
        self.hit_times: defaultdict[str, list[float]] = defaultdict(list)  # time.monotonic() per hit
        self.requests: list[tuple[str, dict[str, str]]] = []  # (path with query, lower-case headers)
        self.in_flight: Counter[str] = Counter()
        self.max_in_flight: Counter[str] = Counter()
        self.max_in_flight_total = 0
        self.bytes_sent: Counter[str] = Counter()
        self._in_flight_total = 0
        self._routes: dict[str, list[Reply]] = {}
        self._prefixes: list[tuple[str, PrefixHandler]] = []
        self._head_routes: dict[str, Reply] = {}
        self.methods: list[tuple[str, str]] = []  # (method, path) of every request, in arrival order
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._connections: set[socket.socket] = set()
        self.connections_opened = 0  # every TCP connection accepted since start
        self._httpd = _Server((host, port), _Handler)
        self._httpd.owner = self
        self.port: int = self._httpd.server_address[1]
        self._thread: threading.Thread | None = None

    # ----------------------------------------------------------------- lifecycle

    def start(self) -> Self:
        """Serve in a daemon thread; returns self."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05},
                                            name=f"loopback-{self.host}:{self.port}", daemon=True)
            self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and release every connection (hanging and dripping ones too)."""
        self._stopping.set()
        if self._thread is not None:
            self._httpd.shutdown()
            self._thread.join(timeout=5)
            self._thread = None
        with self._lock:
            connections = list(self._connections)
        for conn in connections:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        self._httpd.server_close()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def url(self, path: str = "/") -> str:
        """Absolute URL of ``path`` on this server."""
        return f"http://{self.host}:{self.port}{path if path.startswith('/') else '/' + path}"

    # ----------------------------------------------------------------- routes

    def add(self, path: str, body: bytes | str = b"", status: int = 200,
            headers: Mapping[str, str] | None = None, content_type: str | None = "text/html; charset=utf-8",
            delay: float = 0.0, *, behaviour: str | None = None, redirect_to: str | None = None,
            drip_interval: float = 1.0) -> None:
        """Answer every GET of ``path`` (query ignored) the same way."""
        self.add_sequence(path, [Reply(body, status, dict(headers or {}), content_type, delay, behaviour,
                                       redirect_to, drip_interval)])

    def add_sequence(self, path: str, replies: Iterable[Reply | Mapping[str, Any]]) -> None:
        """Answer successive hits of ``path`` with successive replies; the last one then repeats."""
        seq = [r if isinstance(r, Reply) else Reply(**r) for r in replies]
        if not seq:
            raise ValueError("add_sequence needs at least one reply")
        with self._lock:
            self._routes[path] = seq

    def add_head(self, path: str, status: int = 405, headers: Mapping[str, str] | None = None) -> None:
        """Answer HEAD requests of ``path`` with ``status`` (a server that refuses or botches HEAD)."""
        with self._lock:
            self._head_routes[path] = Reply(b"", status, dict(headers or {}), "text/plain")

    def add_prefix(self, prefix: str, func: PrefixHandler) -> None:
        """Route every path starting with ``prefix`` to ``func(path, headers) -> (status, headers, body)``."""
        with self._lock:
            self._prefixes.append((prefix, func))
            self._prefixes.sort(key=lambda p: -len(p[0]))  # longest prefix wins

    def request_headers(self, path: str) -> list[dict[str, str]]:
        """Headers (lower-case keys) of every request to ``path``, in arrival order."""
        with self._lock:
            return [h for p, h in self.requests if urlsplit(p).path == path]

    # ----------------------------------------------------------------- internals

    def _track(self, conn: socket.socket, *, add: bool) -> None:
        with self._lock:
            if add:
                self._connections.add(conn)
                self.connections_opened += 1
            else:
                self._connections.discard(conn)

    def _next_reply(self, path: str, headers: dict[str, str], full_path: str) -> Reply:
        with self._lock:
            seq = self._routes.get(path)
            if seq is not None:
                return seq.pop(0) if len(seq) > 1 else seq[0]
            prefixes = list(self._prefixes)
        for prefix, func in prefixes:
            if path.startswith(prefix):
                status, extra, body = func(full_path, headers)
                extra = dict(extra)
                ctype = extra.pop("Content-Type", None) or extra.pop("content-type", None)
                return Reply(body=body, status=status, headers=extra,
                             content_type=ctype or "text/html; charset=utf-8")
        return Reply(body=b"not found", status=404, content_type="text/plain")

    def _serve(self, handler: _Handler, *, head: bool) -> None:
        full_path = handler.path
        path = urlsplit(full_path).path
        headers = {k.lower(): v for k, v in handler.headers.items()}
        with self._lock:
            self.hits[path] += 1
            self.hit_times[path].append(time.monotonic())
            self.requests.append((full_path, headers))
            self.methods.append(("HEAD" if head else "GET", path))
            self.in_flight[path] += 1
            self._in_flight_total += 1
            self.max_in_flight[path] = max(self.max_in_flight[path], self.in_flight[path])
            self.max_in_flight_total = max(self.max_in_flight_total, self._in_flight_total)
        try:
            with self._lock:
                head_reply = self._head_routes.get(path) if head else None
            reply = head_reply or self._next_reply(path, headers, full_path)
            wait = self.latency + reply.delay
            if wait > 0 and self._stopping.wait(wait):
                handler.close_connection = True
                return
            self._answer(handler, reply, path, head=head)
        finally:
            with self._lock:
                self.in_flight[path] -= 1
                self._in_flight_total -= 1

    def _answer(self, handler: _Handler, reply: Reply, path: str, *, head: bool) -> None:
        kind = reply.behaviour
        if kind == "hang":
            self._stopping.wait()
            handler.close_connection = True
            return
        if kind == "reset":
            # SO_LINGER with a zero timeout makes close() send RST instead of FIN.
            handler.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            handler.connection.close()
            handler.close_connection = True
            return
        status, body = reply.status, bytes(reply.body)  # type: ignore[arg-type]
        headers = dict(reply.headers)
        if kind == "redirect_loop":
            status, headers["Location"] = (reply.status if reply.status != 200 else 302), handler.path
        elif reply.redirect_to is not None:
            headers["Location"] = reply.redirect_to
        handler.send_response(status)
        if reply.content_type and not any(k.lower() == "content-type" for k in headers):
            handler.send_header("Content-Type", reply.content_type)
        for name, value in headers.items():
            handler.send_header(name, value)
        if kind == "endless":
            handler.send_header("Connection", "close")
            handler.end_headers()
            handler.close_connection = True
            self._stream_forever(handler, path, body or b"x" * 65536)
            return
        handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        if head:
            return
        if kind == "slow_drip":
            handler.wfile.flush()
            for i in range(len(body)):
                if self._stopping.wait(reply.drip_interval if i else 0):
                    break
                handler.wfile.write(body[i:i + 1])
                handler.wfile.flush()
                self._count(path, 1)
            handler.close_connection = True
            return
        handler.wfile.write(body)
        self._count(path, len(body))

    def _stream_forever(self, handler: _Handler, path: str, chunk: bytes) -> None:
        try:
            while not self._stopping.is_set():
                handler.wfile.write(chunk)
                self._count(path, len(chunk))
        except OSError:
            pass  # the client hung up, which is the point

    def _count(self, path: str, n: int) -> None:
        with self._lock:
            self.bytes_sent[path] += n


def page(path: str, size: int = 2048) -> bytes:
    """A small HTML page whose title names ``path``, padded to about ``size`` bytes."""
    head = f"<!doctype html><html><head><meta charset='utf-8'><title>Page {path}</title></head><body><p>"
    tail = "</p></body></html>"
    filler = "lorem ipsum dolor sit amet " * (size // 27 + 1)
    return (head + filler[: max(0, size - len(head) - len(tail))] + tail).encode()


def main(argv: list[str] | None = None) -> None:
    """Serve generated pages at every path until stdin closes (used by benches, out of process)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--latency", type=float, default=0.0, help="seconds before every answer")
    parser.add_argument("--size", type=int, default=2048, help="page size in bytes")
    args = parser.parse_args(argv)
    server = LoopbackServer(args.host, args.port, latency=args.latency)
    server.add_prefix("/", lambda path, headers: (200, {}, page(path, args.size)))
    with server:
        print(server.port, flush=True)
        sys.stdin.read()  # the parent closes our stdin (or dies) to stop us


if __name__ == "__main__":
    main()
