"""Editor tokens for the capture inbox (`NEWSLETTER_INBOX_TOKEN`) and the bookmarklet that carries one.

`NEWSLETTER_INBOX_TOKEN` holds one token, or several separated by commas, each optionally `name:token`;
the name becomes the `added_by` of what that editor captures.
"""

from __future__ import annotations

import dataclasses
import hmac
import re
from urllib.parse import quote

TOKEN_ENV = "NEWSLETTER_INBOX_TOKEN"
MIN_TOKEN_LENGTH = 16  # a token is a password typed into nothing: long and random (openssl rand -hex 16)
SELECTION_MAX = 4000  # characters of selected text the bookmarklet sends (URLs past ~8 KB are refused)
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,39}")
# URL-safe characters only: a browser percent-decodes a javascript: URL before running it, so the
# token baked into the bookmarklet must need no escaping in a URL or in a JavaScript string.
_TOKEN = re.compile(r"[A-Za-z0-9._~-]+")


@dataclasses.dataclass(frozen=True)
class Editor:
    """One editor: the name their captures are added by, and their secret token."""

    name: str
    token: str = dataclasses.field(repr=False)


def parse_tokens(value: str) -> list[Editor]:
    """The editors in a `NEWSLETTER_INBOX_TOKEN` value; ValueError (one clear line) when it is unusable."""
    parts = [p.strip() for p in value.split(",") if p.strip()]
    if not parts:
        raise ValueError(f"{TOKEN_ENV} holds no token")
    editors: list[Editor] = []
    for number, part in enumerate(parts, 1):
        name, sep, token = part.partition(":")
        if not sep:
            name, token = ("editor" if len(parts) == 1 else f"editor{number}"), part
        elif not _NAME.fullmatch(name):
            raise ValueError(f"{TOKEN_ENV}: token {number}: the name before ':' must be letters, digits, "
                             "'.', '_' or '-' (at most 40)")
        if len(token) < MIN_TOKEN_LENGTH or not _TOKEN.fullmatch(token):
            raise ValueError(f"{TOKEN_ENV}: token {number} must be {MIN_TOKEN_LENGTH}+ letters, digits, '.', '_', "
                             "'~' or '-' (e.g. `openssl rand -hex 16`)")
        editors.append(Editor(name, token))
    if len({e.token for e in editors}) != len(editors):
        raise ValueError(f"{TOKEN_ENV}: two editors share one token; give each their own")
    if len({e.name for e in editors}) != len(editors):
        raise ValueError(f"{TOKEN_ENV}: two tokens carry one name; name each editor once")
    return editors


def find_editor(editors: list[Editor], given: str | None) -> Editor | None:
    """The editor whose token is `given`, compared in constant time against every token (no early exit)."""
    if not given:
        return None
    raw = given.encode("utf-8", "surrogatepass")
    found = None
    for editor in editors:
        if hmac.compare_digest(raw, editor.token.encode()):
            found = editor
    return found


def bookmarklet(base_url: str, token: str) -> str:
    """A `javascript:` URL that navigates the tab to the capture form with the page's URL, title and selection.

    It navigates (`location.href = …`) rather than calling fetch(), which pages' content-security
    policies block; the form on our own origin does the POST. Tokens are URL-safe characters only
    (`parse_tokens`), so nothing in one can end the JavaScript string.
    """
    target = f"{base_url.rstrip('/')}/add?token={quote(token, safe='')}"
    script = (
        "(function(){var e=encodeURIComponent,s=String(window.getSelection?getSelection():'')"
        f".slice(0,{SELECTION_MAX});location.href='{target}&url='+e(location.href)+'&title='+e(document.title)"
        "+'&selection='+e(s);})()"
    )
    return "javascript:" + script
