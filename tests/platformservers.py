"""Loopback servers that answer like listmonk, Buttondown and Ghost's Admin API (shapes from their docs).

Each keeps what it was sent (`posts`, `requests`), checks credentials the way the real service does
and answers errors in the service's own format: listmonk ``{"message"}``, Buttondown ``{"detail"}``
(a string, or a list of field problems for 422), Ghost ``{"errors": [{"message", "context", "type"}]}``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self
from urllib.parse import parse_qs, urlsplit

Answer = tuple[int, Any]


class FakeAPI:
    """A threaded JSON API on 127.0.0.1; subclasses implement `handle(method, path, query, headers, body)`."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, str, dict[str, str], Any]] = []
        self.fail_next: list[Answer] = []  # canned answers served before the normal ones
        self.lock = threading.Lock()
        owner = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def _any(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                headers = {k.lower(): v for k, v in self.headers.items()}
                try:
                    body = json.loads(raw) if raw else None
                except ValueError:
                    body = raw
                split = urlsplit(self.path)
                with owner.lock:
                    owner.requests.append((self.command, self.path, headers, body))
                    canned = owner.fail_next.pop(0) if owner.fail_next else None
                status, doc = canned or owner.handle(self.command, split.path, parse_qs(split.query), headers, body)
                data = json.dumps(doc).encode() if doc is not None else b""
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _any

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05},
                                       daemon=True)

    def handle(self, method: str, path: str, query: dict[str, list[str]], headers: dict[str, str],
               body: Any) -> Answer:
        raise NotImplementedError

    def __enter__(self) -> Self:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


class Listmonk(FakeAPI):
    """`/api/campaigns` with HTTP basic auth (API user + token)."""

    def __init__(self, user: str = "newsletter-bot", token: str = "lm-token") -> None:
        super().__init__()
        self.credentials = base64.b64encode(f"{user}:{token}".encode()).decode()
        self.campaigns: dict[int, dict[str, Any]] = {}
        self.lists = {1, 2}

    def handle(self, method: str, path: str, query: dict[str, list[str]], headers: dict[str, str],
               body: Any) -> Answer:
        if headers.get("authorization") != f"Basic {self.credentials}":
            return 401, {"message": "Invalid API credentials"}
        parts = path.strip("/").split("/")
        if parts[:2] != ["api", "campaigns"]:
            return 404, {"message": "Unknown endpoint"}
        if method == "POST" and len(parts) == 2:
            problem = self._invalid(body)
            if problem:
                return 400, {"message": problem}
            ident = len(self.campaigns) + 1
            self.campaigns[ident] = {**body, "id": ident, "status": "draft", "uuid": f"uuid-{ident}"}
            return 200, {"data": self.campaigns[ident]}
        ident = int(parts[2]) if len(parts) > 2 and parts[2].isdigit() else -1
        if ident not in self.campaigns:
            return 404, {"message": "Campaign not found."}
        if method == "PUT" and len(parts) == 3:
            problem = self._invalid(body)
            if problem:
                return 400, {"message": problem}
            self.campaigns[ident].update(body)
            return 200, {"data": self.campaigns[ident]}
        if method == "PUT" and parts[3:] == ["status"]:
            status = body.get("status")
            if status == "scheduled" and not self.campaigns[ident].get("send_at"):
                return 400, {"message": "Campaign needs a `send_at` date to be scheduled."}
            self.campaigns[ident]["status"] = status
            return 200, {"data": self.campaigns[ident]}
        return 405, {"message": "Method not allowed"}

    def _invalid(self, body: Any) -> str:
        if not isinstance(body, dict) or not body.get("subject") or not body.get("name"):
            return "invalid length for `name` / `subject`"
        if not body.get("lists") or not set(body["lists"]) <= self.lists:
            return "Invalid list IDs"
        if body.get("content_type") not in ("richtext", "html", "markdown", "plain"):
            return "invalid content_type"
        return ""


class Buttondown(FakeAPI):
    """`/v1/emails` with `Authorization: Token …`."""

    STATUSES = ("draft", "scheduled", "about_to_send")

    def __init__(self, token: str = "bd-token") -> None:
        super().__init__()
        self.token = token
        self.emails: dict[str, dict[str, Any]] = {}

    def handle(self, method: str, path: str, query: dict[str, list[str]], headers: dict[str, str],
               body: Any) -> Answer:
        if headers.get("authorization") != f"Token {self.token}":
            return 401, {"detail": "Invalid token."}
        parts = path.strip("/").split("/")
        if parts[:2] != ["v1", "emails"]:
            return 404, {"detail": "Not found."}
        if method == "POST" and len(parts) == 2:
            problems = self._invalid(body, partial=False)
            if problems:
                return 422, {"detail": problems}
            ident = f"em_{len(self.emails) + 1:04d}"
            self.emails[ident] = {**body, "id": ident, "absolute_url": f"https://buttondown.com/x/archive/{ident}"}
            return 201, self.emails[ident]
        ident = parts[2] if len(parts) > 2 else ""
        if ident not in self.emails:
            return 404, {"detail": "Not found."}
        if method == "PATCH":
            problems = self._invalid(body, partial=True)
            if problems:
                return 422, {"detail": problems}
            self.emails[ident].update(body)
            return 200, self.emails[ident]
        return 405, {"detail": "Method not allowed."}

    def _invalid(self, body: Any, *, partial: bool) -> list[dict[str, Any]]:
        problems = []
        if not isinstance(body, dict):
            return [{"loc": ["body"], "msg": "Input should be an object", "type": "model_type"}]
        if not partial and not body.get("subject"):
            problems.append({"loc": ["body", "subject"], "msg": "Field required", "type": "missing"})
        if body.get("status", "draft") not in self.STATUSES:
            problems.append({"loc": ["body", "status"], "msg": "Input should be 'draft', 'scheduled' or "
                             "'about_to_send'", "type": "enum"})
        if body.get("status") == "scheduled" and not body.get("publish_date"):
            problems.append({"loc": ["body", "publish_date"], "msg": "A scheduled email needs a publish_date",
                             "type": "value_error"})
        return problems


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class Ghost(FakeAPI):
    """The Admin API's posts, with HS256 token authentication (`Authorization: Ghost <jwt>`)."""

    def __init__(self, key_id: str = "6748592f4b9b7700010f6564",
                 secret: str = "b1b5b9c1d4e5f6a7b8c9d0e1f2a3b4c5d6e7f8a9b0c1d2e3f4a5b6c7d8e9f0a1") -> None:
        super().__init__()
        self.key = f"{key_id}:{secret}"
        self.key_id, self.secret = key_id, bytes.fromhex(secret)
        self.posts: dict[str, dict[str, Any]] = {}
        self.tokens: list[dict[str, Any]] = []

    def _auth(self, headers: dict[str, str]) -> str:
        """Why the token is refused ("" when it is fine), checked as Ghost does."""
        value = headers.get("authorization", "")
        if not value.startswith("Ghost "):
            return "Authorization header format is Authorization: Ghost [token]"
        try:
            head, payload, signature = value[6:].split(".")
            header, claims = json.loads(_unb64(head)), json.loads(_unb64(payload))
        except ValueError:
            return "Invalid token"
        expected = hmac.new(self.secret, f"{head}.{payload}".encode(), hashlib.sha256).digest()
        if header.get("alg") != "HS256" or not hmac.compare_digest(expected, _unb64(signature)):
            return "Invalid token: invalid signature"
        if header.get("kid") != self.key_id:
            return "Unknown Admin API Key"
        now = time.time()
        if claims.get("aud") != "/admin/" or claims.get("exp", 0) < now or claims["exp"] - claims.get("iat", 0) > 300:
            return "Invalid token: jwt expired or lifetime over 5 minutes"
        self.tokens.append(claims)
        return ""

    def handle(self, method: str, path: str, query: dict[str, list[str]], headers: dict[str, str],
               body: Any) -> Answer:
        problem = self._auth(headers)
        if problem:
            return 401, {"errors": [{"message": "Authorization failed", "context": problem,
                                     "type": "UnauthorizedError"}]}
        prefix = "/ghost/api/admin/posts/"
        if not path.startswith(prefix):
            return 404, {"errors": [{"message": "Resource not found", "type": "NotFoundError"}]}
        ident = path[len(prefix):].strip("/")
        if method == "POST" and not ident:
            post = (body or {}).get("posts", [{}])[0]
            invalid = self._invalid(post)
            if invalid:
                return 422, {"errors": [{"message": "Validation error, cannot save post.", "context": invalid,
                                         "type": "ValidationError"}]}
            ident = f"{len(self.posts) + 1:024x}"
            self.posts[ident] = {**post, "id": ident, "updated_at": "2026-12-03T08:00:00.000Z",
                                 "url": f"https://ghost.example/p/{ident}/", "query": query}
            return 201, {"posts": [self.posts[ident]]}
        if ident not in self.posts:
            return 404, {"errors": [{"message": "Post not found.", "type": "NotFoundError"}]}
        if method == "GET":
            return 200, {"posts": [self.posts[ident]]}
        if method == "PUT":
            post = (body or {}).get("posts", [{}])[0]
            if post.get("updated_at") != self.posts[ident]["updated_at"]:
                return 409, {"errors": [{"message": "Saving failed! Someone else is editing this post.",
                                         "type": "UpdateCollisionError"}]}
            invalid = self._invalid(post)
            if invalid:
                return 422, {"errors": [{"message": "Validation error, cannot edit post.", "context": invalid,
                                         "type": "ValidationError"}]}
            self.posts[ident].update(post, updated_at="2026-12-03T08:05:00.000Z", query=query)
            return 200, {"posts": [self.posts[ident]]}
        return 405, {"errors": [{"message": "Method not allowed", "type": "MethodNotAllowedError"}]}

    def _invalid(self, post: dict[str, Any]) -> str:
        if not post.get("title"):
            return "Value in [posts.title] cannot be blank."
        if post.get("status") not in ("draft", "published", "scheduled"):
            return "Validation (isIn) failed for status"
        if post.get("status") == "scheduled" and not post.get("published_at"):
            return "Date is required for scheduled posts"
        return ""
