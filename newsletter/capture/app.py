"""The capture inbox: a Starlette app that adds what the bookmarklet sends through the one ingest pipeline.

Rules:
* A GET never changes anything; every change is a POST carrying an editor's token in its body.
* The token is the CSRF secret: it is never a cookie, so a page elsewhere has no ambient credential
  to borrow, and it cannot guess the token. A POST whose Origin is another site is refused as well,
  and the Host must be this server's (a DNS-rebinding page names its own host).
* Catalog work (fetching, then saving under the writer lock) runs on one worker thread: the
  catalog's SQLite connection belongs to the thread that opened it, and writes are serialized anyway.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any, TypeVar

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from ..errors import NewsletterError
from ..models import Item
from ..text import TITLE_MAX, URL_MAX, clean_external
from . import pages
from .pages import esc, page
from .tokens import SELECTION_MAX, Editor, bookmarklet, find_editor

if TYPE_CHECKING:
    from ..catalog import Catalog

log = logging.getLogger("newsletter.capture")
MAX_FORM_BYTES = 64 * 1024  # a URL, a title and a capped selection, percent-encoded, fit many times over
WEEK = dt.timedelta(days=7)
TRIAGE = {"shortlisted": "shortlisted", "skipped": "skipped"}
_T = TypeVar("_T")


class Forbidden(Exception):
    """A request without a valid token (or from another site): answered 403, nothing done."""


class TooLarge(Exception):
    """A form bigger than any the capture page sends: answered 413, nothing done."""


def create_app(open_catalog: Callable[[], Catalog], editors: list[Editor], *, base_url: str, name: str,
               allowed_hosts: list[str] | None = None) -> Starlette:
    """The capture app over the catalog `open_catalog` returns (opened once, on the worker thread).

    `base_url` is what the bookmarklet navigates to; `allowed_hosts` the Host values accepted
    (None: any, for a server bound to every interface).
    """
    worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="capture-catalog")
    held: list[Catalog] = []

    def catalog() -> Catalog:
        if not held:
            held.append(open_catalog())
        return held[0]

    async def on_worker(work: Callable[[], _T]) -> _T:
        return await asyncio.get_running_loop().run_in_executor(worker, work)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        yield
        if held:
            await on_worker(held[0].close)
        worker.shutdown(wait=True)

    def too_large() -> Response:
        return page("Too large", "<p>The form was larger than a capture needs.</p>", name=name, status=413)

    def denied() -> Response:
        return page("Not allowed", "<p>The token is missing or not valid. Open the inbox from your own "
                    "bookmarklet, or sign in at <a href=\"/\">the start page</a>.</p>", name=name, status=403)

    async def read_form(request: Request) -> dict[str, str]:
        body = await request.body()
        if len(body) > MAX_FORM_BYTES:
            raise TooLarge
        form = await request.form()
        return {k: v for k, v in form.items() if isinstance(v, str)}

    def same_origin(request: Request) -> bool:
        origin = request.headers.get("origin")
        if origin is None:
            return True  # not a browser form (curl, a script): no ambient credential to abuse
        return origin == f"{request.url.scheme}://{request.url.netloc}"

    async def editor_of(request: Request, *, post: bool) -> tuple[Editor, dict[str, str]]:
        """The editor a request is from and its fields (the query for GET, the form for POST)."""
        if post:
            fields = await read_form(request)
            if not same_origin(request):
                raise Forbidden
        else:
            fields = dict(request.query_params)
        editor = find_editor(editors, fields.get("token"))
        if editor is None:
            raise Forbidden
        return editor, fields

    async def signed_in(request: Request, title: str, login_body: str) -> Editor | Response:
        """The editor of a page that GET (with the token) or the sign-in form's POST opens; else the answer.

        A visitor without a token sees the sign-in form; a wrong token or a refused POST is denied.
        """
        try:
            editor, _ = await editor_of(request, post=request.method == "POST")
        except TooLarge:
            return too_large()
        except Forbidden:
            if request.method == "POST" or request.query_params.get("token"):
                return denied()
            return page(title, login_body, name=name)
        return editor

    async def index(request: Request) -> Response:
        editor = await signed_in(request, "Capture inbox", "<p>Sign in with your token to get your bookmarklet.</p>"
                                 + pages.login_form("/"))
        if isinstance(editor, Response):
            return editor
        return page("Capture inbox", pages.index_body(bookmarklet(base_url, editor.token), editor.token,
                                                      editor.name), name=name)

    async def add_form(request: Request) -> Response:
        try:
            editor, fields = await editor_of(request, post=False)
        except Forbidden:
            return denied()
        url = clean_external(fields.get("url", ""), limit=URL_MAX)
        title = clean_external(fields.get("title", ""), limit=TITLE_MAX)
        selection = clean_external(fields.get("selection", ""), limit=SELECTION_MAX, multiline=True)
        return page("Add to the inbox", pages.add_form(url, title, selection, editor.token), name=name)

    async def add(request: Request) -> Response:
        try:
            editor, fields = await editor_of(request, post=True)
        except TooLarge:
            return too_large()
        except Forbidden:
            return denied()
        url = fields.get("url", "").strip()
        if not url:
            return page("Nothing to add", "<p>The form had no URL.</p>", name=name, status=400)
        title = clean_external(fields.get("title", ""), limit=TITLE_MAX)
        note = clean_external(fields.get("selection", ""), limit=SELECTION_MAX, multiline=True)

        def work() -> Any:
            from ..ingest.route import AddOptions

            options = AddOptions(note=note, fallback_title=title, added_by=editor.name)
            return catalog().add([url], options)[0]

        try:
            result = await on_worker(work)
        except NewsletterError as exc:  # the project itself (a lock held too long, a damaged file)
            log.error("capture of a link by %s failed: %s", editor.name, exc)
            return page("Not added", f"<p>{esc(exc)}</p>", name=name, status=500)
        token = editor.token
        if result.status == "failed" or result.item is None:
            return page("Not added", f"<p>{esc(result.error or 'failed')}</p>", name=name, status=422)
        item_link = f"<a href=\"{esc(pages.with_token('/item/' + result.item.id, token))}\">{esc(result.item.id)}</a>"
        back = f"<p><a href=\"{esc(pages.with_token('/inbox', token))}\">This week's inbox</a></p>"
        if result.status == "exists":
            return page("Already in the catalog", f"<p>exists: {item_link} "
                        f"{pages.link(result.item.url, result.item.display_title())}</p>{back}", name=name)
        log.info("%s added %s", editor.name, result.item.id)
        unfetched = (f"<p>The page could not be fetched ({esc(result.unfetched)}); the title your browser "
                     "sent was kept.</p>") if result.unfetched else ""
        return page("Added", f"<p>added: {item_link} {pages.link(result.item.url, result.item.display_title())}"
                    f"</p>{unfetched}{back}", name=name)

    def week(notice: str = "") -> Callable[[str], str]:
        def render(token: str) -> str:
            current = catalog()
            current.snapshot(refresh=True)  # what the files say now (the CLI, git pull, the other editor)
            inbox = current.list(status="inbox")
            since = (dt.datetime.now(dt.UTC) - WEEK).strftime("%Y-%m-%dT%H:%M:%S")
            recent = [i for i in inbox if i.added >= since]
            return pages.inbox_list(recent, token, older=len(inbox) - len(recent), notice=notice)
        return render

    async def inbox(request: Request) -> Response:
        editor = await signed_in(request, "This week's inbox", pages.login_form("/inbox"))
        if isinstance(editor, Response):
            return editor
        body = await on_worker(lambda: week()(editor.token))
        return page("This week's inbox", body, name=name)

    async def set_status(request: Request) -> Response:
        try:
            editor, fields = await editor_of(request, post=True)
        except TooLarge:
            return too_large()
        except Forbidden:
            return denied()
        status = TRIAGE.get(fields.get("status", ""))
        ref = fields.get("id", "")
        if status is None or not ref:
            return page("Nothing changed", "<p>Expected an item id and shortlisted or skipped.</p>", name=name,
                        status=400)

        def work() -> tuple[int, str]:
            try:
                item = catalog().set_status(ref, status)  # the library change `shortlist` / `skip` make
            except NewsletterError as exc:
                return 404, week(str(exc))(editor.token)
            log.info("%s marked %s %s", editor.name, item.id, status)
            return 200, week(f"{item.display_title()}: {status}")(editor.token)

        code, body = await on_worker(work)
        return page("This week's inbox", body, name=name, status=code)

    async def show_item(request: Request) -> Response:
        try:
            editor, _ = await editor_of(request, post=False)
        except Forbidden:
            return denied()

        def work() -> Item | None:
            current = catalog()
            current.snapshot(refresh=True)
            try:
                return current.get(request.path_params["item_id"])
            except NewsletterError:
                return None

        item = await on_worker(work)
        if item is None:
            return page("No such item", "<p>No item with that id.</p>", name=name, status=404)
        rows = "".join(f"<dt>{esc(k)}</dt><dd>{esc(v)}</dd>" for k, v in (
            ("status", item.status), ("issue", item.issue or ""), ("added", item.added),
            ("added by", item.extra.get("added_by", "")), ("note", item.note)) if v)
        return page(item.display_title(), f"<p>{pages.item_summary(item, editor.token)}</p><dl>{rows}</dl>",
                    name=name)

    async def healthz(request: Request) -> Response:
        return PlainTextResponse("ok")

    routes = [
        Route("/", index, methods=["GET", "POST"]),
        Route("/add", add_form, methods=["GET"]),
        Route("/add", add, methods=["POST"]),
        Route("/inbox", inbox, methods=["GET", "POST"]),
        Route("/status", set_status, methods=["POST"]),
        Route("/item/{item_id}", show_item, methods=["GET"]),
        Route("/healthz", healthz, methods=["GET"]),
    ]
    middleware = [Middleware(TrustedHostMiddleware, allowed_hosts=allowed_hosts)] if allowed_hosts else []
    return Starlette(routes=routes, middleware=middleware, lifespan=lifespan)
