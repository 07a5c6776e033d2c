"""The Starlette application: public signup / confirm / unsubscribe pages and a bearer-token API.

Rules every public endpoint follows:
* A GET never changes anything (mail scanners and link previews fetch every link); only a POST does.
* No cookie, session or CSRF token is ever a credential: the signed token in the path is.
* The answer never reveals whether an address is on the list (same page for known, unknown,
  suppressed, honeypot-caught); confirmation mail is sent after the answer, in the background.
* Addresses appear only in the authenticated API; logs name subscribers by pseudonymous id.
"""

from __future__ import annotations

import hmac
import html
import logging
import re
import smtplib
import threading
import time
from collections import deque
from email.message import EmailMessage
from email.utils import formataddr, make_msgid
from typing import Any

from starlette.applications import Starlette
from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from ..signing import Keyring
from .db import STATUSES, SUPPRESSED, Database
from .settings import ServerSettings

log = logging.getLogger("newsletter.server")

HONEYPOT = "website"  # hidden from people by CSS; bots that fill every field fill it in
EMAIL_RE = re.compile(r"[^@\s<>\"]{1,64}@[A-Za-z0-9.-]{1,253}\.[A-Za-z]{2,63}")
MAX_FORM_BYTES = 4096
CONFIRMATIONS_PER_HOUR = 2

STYLE = """
:root{color-scheme:light dark;--fg:#1f2328;--muted:#5b616b;--bg:#fff;--accent:#4051b5;--border:#d7dae0}
@media (prefers-color-scheme:dark){:root{--fg:#e2e4e9;--muted:#9aa1ab;--bg:#1e2129;--accent:#7f8ee0;
--border:#3a3f4b}}
body{margin:0;background:var(--bg);color:var(--fg);font:16px/1.55 -apple-system,BlinkMacSystemFont,
"Segoe UI",Roboto,Helvetica,Arial,sans-serif}
header{background:var(--accent);color:#fff;padding:.8rem 1.2rem;font-weight:600}
main{max-width:32rem;margin:2.5rem auto;padding:0 1.2rem}
h1{font-size:1.5rem;font-weight:400;margin:0 0 1rem}
p{color:var(--muted)}
label{display:block;margin:.8rem 0 .25rem;font-size:.9rem}
input[type=email],input[type=text]{width:100%;box-sizing:border-box;padding:.55rem .7rem;font:inherit;
color:inherit;background:transparent;border:1px solid var(--border);border-radius:.4rem}
button{margin-top:1.1rem;padding:.6rem 1.2rem;font:inherit;font-weight:600;color:#fff;
background:var(--accent);border:0;border-radius:.4rem;cursor:pointer}
.nl-hp{position:absolute;left:-10000px;width:1px;height:1px;overflow:hidden}
"""


def page(title: str, body: str, *, list_name: str, status: int = 200) -> HTMLResponse:
    """A small self-contained page (inline CSS, no JavaScript, no external requests)."""
    text = (
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">"
        "<meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">"
        "<meta name=\"referrer\" content=\"no-referrer\">"
        f"<title>{html.escape(title)} · {html.escape(list_name)}</title><style>{STYLE}</style></head>"
        f"<body><header>{html.escape(list_name)}</header><main><h1>{html.escape(title)}</h1>{body}</main>"
        "</body></html>"
    )
    headers = {"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer",
               "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'"}
    return HTMLResponse(text, status_code=status, headers=headers)


class RateLimiter:
    """At most `limit` hits per key in any `window` seconds (a sliding log; memory bounded per key)."""

    def __init__(self, limit: int, window: float) -> None:
        self.limit = limit
        self.window = window
        self._hits: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def allow(self, key: str) -> bool:
        stamp = time.monotonic()
        with self._lock:
            if len(self._hits) > 100_000:  # a flood of distinct addresses: forget the idle ones
                self._hits = {k: v for k, v in self._hits.items() if v and v[-1] > stamp - self.window}
            hits = self._hits.setdefault(key, deque())
            while hits and hits[0] <= stamp - self.window:
                hits.popleft()
            if len(hits) >= self.limit:
                return False
            hits.append(stamp)
            return True


def send_confirmation(settings: ServerSettings, keyring: Keyring, subscriber_id: str, email: str) -> None:
    """Mail the confirmation link; a failure is logged by subscriber id (never the address)."""
    if not settings.smtp:
        log.warning("no --smtp configured: confirmation for subscriber %s not sent", subscriber_id)
        return
    from ..mail.deliver import parse_hostport

    link = f"{settings.public_url}/confirm/{keyring.sign('confirm', subscriber_id)}"
    message = EmailMessage()
    sender = settings.sender or "newsletter@localhost"
    message["From"] = formataddr((settings.list_name, sender))
    message["To"] = email
    message["Subject"] = f"Confirm your subscription to {settings.list_name}"
    message["Message-ID"] = make_msgid(domain=sender.rpartition("@")[2] or "localhost")
    message["Auto-Submitted"] = "auto-generated"
    message.set_content(
        f"Someone (hopefully you) asked to receive {settings.list_name} at this address.\n\n"
        f"To confirm, open this link and press the button:\n\n{link}\n\n"
        "If it was not you, ignore this message: nothing will be sent without confirmation.\n"
    )
    host, port = parse_hostport(settings.smtp)
    try:
        with smtplib.SMTP(host, port, timeout=30) as smtp:
            smtp.send_message(message)
        log.info("confirmation sent to subscriber %s", subscriber_id)
    except (OSError, smtplib.SMTPException) as exc:
        log.error("confirmation for subscriber %s failed: %s", subscriber_id, type(exc).__name__)


def create_app(settings: ServerSettings, keyring: Keyring, list_token: str | None,
               db: Database | None = None) -> Starlette:
    """The application over `settings.db` (or `db`), signing with `keyring`.

    `list_token` is the API's bearer token; None disables the API (every call answers 401).
    """
    store = db or Database(settings.db)
    limiter = RateLimiter(settings.rate_limit, settings.rate_window)
    # Per address too: signups from many IPs must not turn the service into a mail bomb for one inbox.
    resends = RateLimiter(CONFIRMATIONS_PER_HOUR, 3600.0)
    name = settings.list_name

    def checked_inbox(background: BackgroundTask | None = None) -> HTMLResponse:
        response = page("Check your inbox", "<p>If the address can receive mail, a message with a link to "
                        "confirm your subscription is on its way. Nothing is sent until you confirm.</p>",
                        list_name=name)
        response.background = background
        return response

    async def read_form(request: Request) -> dict[str, str]:
        body = await request.body()
        if len(body) > MAX_FORM_BYTES:
            return {}
        form = await request.form()
        return {k: v for k, v in form.items() if isinstance(v, str)}

    async def subscribe_form(request: Request) -> Response:
        body = (
            "<form method=\"post\" action=\"/subscribe\">"
            "<label for=\"email\">Email address</label>"
            "<input id=\"email\" name=\"email\" type=\"email\" required autocomplete=\"email\">"
            "<label for=\"name\">Name (optional)</label>"
            "<input id=\"name\" name=\"name\" type=\"text\" autocomplete=\"name\">"
            f"<div class=\"nl-hp\" aria-hidden=\"true\"><label for=\"{HONEYPOT}\">Leave empty</label>"
            f"<input id=\"{HONEYPOT}\" name=\"{HONEYPOT}\" type=\"text\" tabindex=\"-1\" autocomplete=\"off\"></div>"
            "<button type=\"submit\">Subscribe</button></form>"
        )
        return page(f"Subscribe to {name}", body, list_name=name)

    async def subscribe(request: Request) -> Response:
        client = request.client.host if request.client else "unknown"
        if not limiter.allow(client):
            return page("Too many requests", "<p>Please try again later.</p>", list_name=name, status=429)
        form = await read_form(request)
        email = form.get("email", "").strip()
        if form.get(HONEYPOT) or not EMAIL_RE.fullmatch(email):
            # The same answer as a real signup: a bot learns nothing, a typo gets no mail.
            return checked_inbox()
        sub, needs_mail = store.add_unconfirmed(email, form.get("name", "")[:200])
        if not needs_mail or not resends.allow(sub.id):
            return checked_inbox()
        return checked_inbox(BackgroundTask(send_confirmation, settings, keyring, sub.id, sub.email))

    def action_page(title: str, text: str, button: str, path: str) -> HTMLResponse:
        body = (f"<p>{html.escape(text)}</p><form method=\"post\" action=\"{html.escape(path)}\">"
                f"<button type=\"submit\">{html.escape(button)}</button></form>")
        return page(title, body, list_name=name)

    async def confirm_page(request: Request) -> Response:
        return action_page("Confirm your subscription", f"Press the button to start receiving {name}.",
                           "Confirm subscription", request.url.path)

    async def confirm(request: Request) -> Response:
        subscriber_id = keyring.verify("confirm", request.path_params["token"])
        if subscriber_id and store.confirm(subscriber_id):
            log.info("subscriber %s confirmed", subscriber_id)
            return page("Subscribed", f"<p>Thank you: you will receive {html.escape(name)}.</p>", list_name=name)
        return page("Link not valid", "<p>This link is not valid. Copy the whole link from the mail, "
                    "or sign up again.</p>", list_name=name, status=400)

    async def unsubscribe_page(request: Request) -> Response:
        return action_page("Unsubscribe", f"Press the button to stop receiving {name}.", "Unsubscribe",
                           request.url.path)

    async def unsubscribe(request: Request) -> Response:
        # RFC 8058: body `List-Unsubscribe=One-Click` (or nothing, from a person's browser), no cookies.
        body = (await request.body())[:MAX_FORM_BYTES]
        how = "one-click" if b"List-Unsubscribe=One-Click" in body else "link"
        subscriber_id = keyring.verify("unsubscribe", request.path_params["token"])
        if subscriber_id and store.unsubscribe(subscriber_id, how):
            log.info("subscriber %s unsubscribed (%s)", subscriber_id, how)
            return page("Unsubscribed", f"<p>You will not receive {html.escape(name)} any more.</p>",
                        list_name=name)
        return page("Link not valid", "<p>This link is not valid. Copy the whole link from the mail, or "
                    "reply to any issue asking to be removed.</p>", list_name=name, status=400)

    async def healthz(request: Request) -> Response:
        store.subscribers("__none__")  # the database answers
        return PlainTextResponse("ok")

    # -- the API (bearer token) ---------------------------------------------------------------

    def authorized(request: Request) -> bool:
        header = request.headers.get("authorization", "")
        scheme, _, given = header.partition(" ")
        if not list_token or scheme.lower() != "bearer":
            return False
        return hmac.compare_digest(given.strip().encode(), list_token.encode())

    def denied() -> JSONResponse:
        return JSONResponse({"error": "missing or wrong bearer token"}, status_code=401,
                            headers={"WWW-Authenticate": "Bearer"})

    async def api_list(request: Request) -> Response:
        if not authorized(request):
            return denied()
        status = request.query_params.get("status")
        if status is not None and status not in STATUSES:
            return JSONResponse({"error": f"status must be one of {', '.join(STATUSES)}"}, status_code=400)
        rows = [s.as_dict() for s in store.subscribers(status)]
        if request.query_params.get("links") == "1":
            # The one-click links mail carries, signed here so the CLI never needs NEWSLETTER_SECRET
            # and they always match the keyring that verifies them.
            for row in rows:
                row["unsubscribe_url"] = f"{settings.public_url}/unsubscribe/{keyring.sign('unsubscribe', row['id'])}"
        return JSONResponse({"subscribers": rows})

    async def api_import(request: Request) -> Response:
        if not authorized(request):
            return denied()
        try:
            payload: Any = await request.json()
            rows = payload["rows"]
            if not isinstance(rows, list) or not all(isinstance(r, dict) and isinstance(r.get("email"), str)
                                                     for r in rows):
                raise ValueError("rows must be a list of objects with an email")
            for number, row in enumerate(rows, 1):
                if not EMAIL_RE.fullmatch(row["email"].strip()):
                    raise ValueError(f"row {number}: not an email address")
            counts = store.import_rows(rows)
        except (ValueError, KeyError, TypeError) as exc:
            return JSONResponse({"error": str(exc)}, status_code=400)
        return JSONResponse(counts)

    async def api_unsubscribe(request: Request) -> Response:
        if not authorized(request):
            return denied()
        try:
            email = str((await request.json())["email"])
        except (ValueError, KeyError, TypeError):
            return JSONResponse({"error": "expected {\"email\": ...}"}, status_code=400)
        sub = store.by_email(email)
        if sub is None:
            return JSONResponse({"error": "no such subscriber"}, status_code=404)
        store.unsubscribe(sub.id, "api")
        return JSONResponse({"id": sub.id, "status": store.get(sub.id).status})  # type: ignore[union-attr]

    async def api_status(request: Request) -> Response:
        # Bounces and complaints found by the CLI (an SMTP 5xx at send time, a DSN or ARF report).
        if not authorized(request):
            return denied()
        try:
            payload = await request.json()
            email, status = str(payload["email"]), str(payload["status"])
            detail = str(payload.get("detail", ""))[:200]
        except (ValueError, KeyError, TypeError, AttributeError):
            return JSONResponse({"error": "expected {\"email\": ..., \"status\": ...}"}, status_code=400)
        if status not in SUPPRESSED:
            return JSONResponse({"error": f"status must be one of {', '.join(sorted(SUPPRESSED))}"}, status_code=400)
        sub = store.by_email(email)
        if sub is None:
            return JSONResponse({"error": "no such subscriber"}, status_code=404)
        before = store.suppress(sub.id, status, detail)
        after = store.get(sub.id).status  # type: ignore[union-attr]
        if after != before:
            log.info("subscriber %s marked %s", sub.id, status)
        return JSONResponse({"id": sub.id, "status": after, "changed": after != before})

    async def api_events(request: Request) -> Response:
        if not authorized(request):
            return denied()
        return JSONResponse({"events": store.events_since(request.query_params.get("since", ""))})

    routes = [
        Route("/subscribe", subscribe_form, methods=["GET"]),
        Route("/subscribe", subscribe, methods=["POST"]),
        Route("/confirm/{token}", confirm_page, methods=["GET"]),
        Route("/confirm/{token}", confirm, methods=["POST"]),
        Route("/unsubscribe/{token}", unsubscribe_page, methods=["GET"]),
        Route("/unsubscribe/{token}", unsubscribe, methods=["POST"]),
        Route("/healthz", healthz, methods=["GET"]),
        Route("/api/subscribers", api_list, methods=["GET"]),
        Route("/api/subscribers", api_import, methods=["POST"]),
        Route("/api/unsubscribe", api_unsubscribe, methods=["POST"]),
        Route("/api/status", api_status, methods=["POST"]),
        Route("/api/events", api_events, methods=["GET"]),
    ]
    app = Starlette(routes=routes)
    app.state.db = store
    return app
