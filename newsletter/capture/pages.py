"""The capture inbox's HTML: every value from outside escaped, no script, strict headers.

Titles, selections, notes and URLs come from web pages and are untrusted; each goes through
`html.escape` (quotes too) and only http(s) URLs become links.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from urllib.parse import quote

from starlette.responses import HTMLResponse

from ..models import Item
from ..server.app import STYLE

# No script at all, nothing from elsewhere, never framed (clickjacking a shortlist button), forms
# only to us. Pages carry the editor's token, so none is cached; the referrer is only sent to us
# (so the browser's Origin on our own POSTs is real) and never to the sites the inbox links to.
CSP = ("default-src 'none'; style-src 'unsafe-inline'; img-src 'self'; form-action 'self'; "
       "frame-ancestors 'none'; base-uri 'none'")
HEADERS = {"Content-Security-Policy": CSP, "X-Frame-Options": "DENY", "Cache-Control": "no-store",
           "Pragma": "no-cache", "X-Content-Type-Options": "nosniff", "Referrer-Policy": "same-origin",
           "Cross-Origin-Opener-Policy": "same-origin", "Cross-Origin-Resource-Policy": "same-origin"}
EXTRA_STYLE = """
main{max-width:44rem}
textarea{width:100%;box-sizing:border-box;min-height:8rem;padding:.55rem .7rem;font:inherit;color:inherit;
background:transparent;border:1px solid var(--border);border-radius:.4rem}
input[type=url],input[type=password]{width:100%;box-sizing:border-box;padding:.55rem .7rem;font:inherit;
color:inherit;background:transparent;border:1px solid var(--border);border-radius:.4rem}
main a{color:var(--accent)}
ul.items{list-style:none;padding:0}
ul.items li{border-top:1px solid var(--border);padding:.7rem 0}
.meta{font-size:.85rem;color:var(--muted)}
.note{margin:.3rem 0;white-space:pre-wrap}
form.inline{display:inline}
form.inline button{margin:.4rem .4rem 0 0;padding:.35rem .9rem;font-size:.9rem}
button.secondary{background:transparent;color:var(--accent);border:1px solid var(--accent)}
a.bookmarklet{display:inline-block;padding:.5rem 1rem;border:2px dashed var(--accent);border-radius:.4rem;
font-weight:600;text-decoration:none;color:var(--accent)}
"""


def esc(value: object) -> str:
    """Text for an HTML element or a quoted attribute."""
    return html.escape(str(value), quote=True)


def page(title: str, body: str, *, name: str, status: int = 200) -> HTMLResponse:
    """A self-contained page (inline CSS, no JavaScript) with the capture inbox's security headers."""
    text = (
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">"
        "<meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">"
        f"<title>{esc(title)} · {esc(name)} inbox</title><style>{STYLE}{EXTRA_STYLE}</style></head>"
        f"<body><header>{esc(name)} · inbox</header><main><h1>{esc(title)}</h1>{body}</main></body></html>"
    )
    return HTMLResponse(text, status_code=status, headers=HEADERS)


def token_field(token: str) -> str:
    return f"<input type=\"hidden\" name=\"token\" value=\"{esc(token)}\">"


def link(url: str, text: str) -> str:
    """`text` linking to `url` when it is an http(s) URL (never javascript: or data:), else plain text."""
    if url.lower().startswith(("http://", "https://")):
        return f"<a href=\"{esc(url)}\" rel=\"noopener noreferrer\">{esc(text)}</a>"
    return esc(text)


def with_token(path: str, token: str) -> str:
    return f"{path}?token={quote(token, safe='')}"


def add_form(url: str, title: str, selection: str, token: str) -> str:
    """The capture form, prefilled from what the bookmarklet sent."""
    return (
        "<form method=\"post\" action=\"/add\">" + token_field(token) +
        "<label for=\"url\">URL</label>"
        f"<input id=\"url\" name=\"url\" type=\"url\" required value=\"{esc(url)}\">"
        "<label for=\"title\">Title (used when the page cannot be fetched)</label>"
        f"<input id=\"title\" name=\"title\" type=\"text\" value=\"{esc(title)}\">"
        "<label for=\"selection\">Note (the text you selected)</label>"
        f"<textarea id=\"selection\" name=\"selection\">{esc(selection)}</textarea>"
        "<button type=\"submit\">Add to the inbox</button></form>"
    )


def login_form(action: str) -> str:
    return (
        f"<form method=\"post\" action=\"{esc(action)}\"><label for=\"token\">Your inbox token</label>"
        "<input id=\"token\" name=\"token\" type=\"password\" required autocomplete=\"current-password\">"
        "<button type=\"submit\">Open</button></form>"
    )


def item_summary(item: Item, token: str) -> str:
    """One line of an item: its title linked to its page, then site, who added it and when."""
    by = item.extra.get("added_by")
    meta = " · ".join(esc(v) for v in (item.site, f"added by {by}" if by else "", item.added[:10]) if v)
    return (f"{link(item.url, item.display_title())} <span class=\"meta\">{meta} · "
            f"<a href=\"{esc(with_token('/item/' + item.id, token))}\">{esc(item.id)}</a></span>")


def inbox_list(items: Sequence[Item], token: str, *, older: int, notice: str = "") -> str:
    """The week's inbox with a shortlist and a skip button per item (each a POST carrying the token)."""
    parts = [f"<p role=\"status\">{esc(notice)}</p>" if notice else ""]
    parts.append(f"<p>{len(items)} item(s) added in the last 7 days wait in the inbox."
                 + (f" {older} older inbox item(s): <code>newsletter list --status inbox</code>." if older else "")
                 + "</p><ul class=\"items\">")
    for item in items:
        note = item.note if len(item.note) <= 300 else item.note[:299] + "…"
        buttons = "".join(
            f"<form class=\"inline\" method=\"post\" action=\"/status\">{token_field(token)}"
            f"<input type=\"hidden\" name=\"id\" value=\"{esc(item.id)}\">"
            f"<button type=\"submit\" name=\"status\" value=\"{status}\"{css}>{label}</button></form>"
            for status, label, css in (("shortlisted", "Shortlist", ""), ("skipped", "Skip", " class=\"secondary\""))
        )
        parts.append(f"<li id=\"item-{esc(item.id)}\">{item_summary(item, token)}"
                     + (f"<p class=\"note\">{esc(note)}</p>" if note else "") + f"<div>{buttons}</div></li>")
    parts.append("</ul>")
    return "".join(parts)


def index_body(bookmarklet: str, token: str, editor: str) -> str:
    """The bookmarklet to drag to the bookmarks bar, with this editor's token baked in."""
    return (
        f"<p>Signed in as <strong>{esc(editor)}</strong>. Drag this link to your bookmarks bar:</p>"
        f"<p><a class=\"bookmarklet\" href=\"{esc(bookmarklet)}\">+ inbox</a></p>"
        "<p>On any page, click it: this form opens with the page's address, title and the text you "
        "selected; press the button to add it. The bookmark holds your token: keep it to yourself.</p>"
        f"<p><a href=\"{esc(with_token('/inbox', token))}\">This week's inbox</a></p>"
    )
