"""Canonical URLs, identities and kind hints: the basis of exact dedupe.

Two inputs that name the same resource must produce the same canonical URL, so the same
``item_id``. The generic rules follow RFC 3986 normalization (lower-case scheme and host,
default ports dropped, percent-encoding normalized, dot segments removed) plus what curators
paste in practice: tracking parameters, fragments, ``www.``, trailing slashes. On top, a few
sites get one canonical form per resource: arXiv papers (and their DOIs), tweets, YouTube
videos, DOIs and GitHub repositories.

Everything here is pure: strings in, strings out, ``ValueError`` with one clear line on bad input.
"""

from __future__ import annotations

import dataclasses
import hashlib
import ipaddress
import re
from collections.abc import Callable
from urllib.parse import quote, unquote, urlsplit

__all__ = [
    "MAX_URL_LENGTH",
    "TRACKING_PARAMS",
    "TRACKING_PREFIXES",
    "UrlInfo",
    "arxiv_id_from_doi",
    "canonicalize",
    "check_external_url",
    "classify",
    "identity_key",
    "is_tracking_param",
    "item_id",
    "normalize_input",
    "strip_userinfo",
]

MAX_URL_LENGTH = 8192


def _words(text: str) -> list[str]:
    return text.split()


# Query parameters that only say where a click came from, never which resource it is.
TRACKING_PARAMS = frozenset(
    _words(
        """fbclid gclid dclid gbraid wbraid msclkid yclid twclid ttclid igshid igsh li_fat_id srsltid
        _ga _gl _hsenc _hsmi __hssc __hstc __hsfp hsctatracking mkt_tok ref ref_src ref_url vero_id
        vero_conv oly_anon_id oly_enc_id rb_clickid ck_subscriber_id __s _kx ml_subscriber
        ml_subscriber_hash pk_campaign pk_kwd pk_source pk_medium pk_content"""
    )
)
TRACKING_PREFIXES = ("utm_", "mc_", "hsa_", "mtm_")
# Parameters that are tracking only on some sites (elsewhere ``s``, ``t`` or ``si`` may matter).
_HOST_TRACKING: dict[str, frozenset[str]] = {
    "youtube.com": frozenset({"si", "feature", "pp"}),
    "youtu.be": frozenset({"si", "feature", "pp"}),
    "youtube-nocookie.com": frozenset({"si", "feature", "pp"}),
    "open.spotify.com": frozenset({"si", "context", "nd", "dl_branch"}),
    "x.com": frozenset({"s", "t"}),
    "twitter.com": frozenset({"s", "t"}),
    "linkedin.com": frozenset({"trk", "trkinfo", "lipi", "trackingid"}),
    "medium.com": frozenset({"source"}),
}

_UNRESERVED = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")
_SUB_DELIMS = "!$&'()*+,;="
_PATH_SAFE = frozenset(_SUB_DELIMS + ":@/") | _UNRESERVED
_QUERY_SAFE = _PATH_SAFE | frozenset("?")
_HEX = "0123456789ABCDEFabcdef"
_DEFAULT_PORTS = {"http": 80, "https": 443}
_HOST_RE = re.compile(r"[a-z0-9_-]+(?:\.[a-z0-9_-]+)*")

# arXiv identifiers: new style (0704.0001, 2106.09685v2) and old style (hep-th/9901001, math.GT/0309136).
_ARXIV_NEW = r"\d{4}\.\d{4,5}"
_ARXIV_OLD = r"[a-zA-Z-]+(?:\.[a-zA-Z]{2})?/\d{7}"
_ARXIV_ID_RE = re.compile(rf"(?P<id>{_ARXIV_NEW}|{_ARXIV_OLD})(?:v(?P<v>\d+))?")
_ARXIV_HOSTS = frozenset(
    {"arxiv.org", "export.arxiv.org", "lanl.arxiv.org", "ar5iv.org", "ar5iv.labs.arxiv.org"}
)
_ARXIV_PATH_RE = re.compile(rf"/(?:abs|pdf|html|ps|format)/{_ARXIV_ID_RE.pattern}(?:\.pdf)?")
# Archives that used old-style ids; bare "word/1234567" input is only arXiv for these.
_OLD_ARCHIVES = frozenset(
    _words(
        """acc-phys adap-org alg-geom ao-sci astro-ph atom-ph bayes-an chao-dyn chem-ph cmp-lg comp-gas
        cond-mat cs dg-ga funct-an gr-qc hep-ex hep-lat hep-ph hep-th math math-ph mtrl-th nlin nucl-ex
        nucl-th patt-sol physics plasm-ph q-alg q-bio quant-ph solv-int supr-con"""
    )
)
_DOI_RE = re.compile(r"10\.\d{4,9}(?:\.\d+)*/\S+")
_ARXIV_DOI_RE = re.compile(rf"10\.48550/arxiv\.{_ARXIV_ID_RE.pattern}", re.IGNORECASE)
# Characters of a DOI written literally in a doi.org path; everything else is percent-encoded.
_DOI_SAFE = "/!$&'()*+,;=:@"
_PUBLISHER_DOI_RE = re.compile(r"/doi/(?:abs/|full/|pdf/|epdf/|book/)?(10\.\d{4,9}(?:\.\d+)*/[^?#]+)")

_TWITTER_HOSTS = frozenset(
    {
        "x.com",
        "twitter.com",
        "mobile.twitter.com",
        "m.twitter.com",
        "mobile.x.com",
        "fxtwitter.com",
        "vxtwitter.com",
        "fixupx.com",
        "fixvx.com",
    }
)
# Single-segment x.com paths that are site pages, not profiles.
_TWITTER_PAGES = frozenset(
    _words("home explore search notifications messages settings login signup tos privacy")
)
_TWEET_PATH_RE = re.compile(
    r"/(?:(?P<handle>[A-Za-z0-9_]{1,15})/status(?:es)?|i/web/status|i/status)/(?P<id>\d{1,25})(?:/.*)?"
)
_YOUTUBE_HOSTS = frozenset({"youtube.com", "m.youtube.com", "music.youtube.com", "youtube-nocookie.com"})
_YOUTUBE_ID_RE = re.compile(r"[A-Za-z0-9_-]{11}")
_YOUTUBE_PATH_RE = re.compile(r"/(?:shorts|embed|v|e|live)/(?P<id>[A-Za-z0-9_-]{11})(?:/.*)?")
_GITHUB_OWNER_RE = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})")
_GITHUB_REPO_RE = re.compile(r"[A-Za-z0-9._-]{1,100}")
# First path segments of github.com that are site pages, not users or organizations.
_GITHUB_RESERVED = frozenset(
    _words(
        """about apps collections contact customer-stories enterprise events explore features issues
        login marketplace new notifications orgs organizations pricing pulls readme search security
        settings site sponsors team topics trending"""
    )
)


@dataclasses.dataclass(frozen=True)
class UrlInfo:
    """What a URL is: its canonical form, a kind hint and the ids found in it.

    ``kind`` is None for ordinary pages and links. ``github_repo`` is set only for a repository
    root (kind "repo"), not for deeper pages such as issues or files.
    """

    url: str
    kind: str | None
    arxiv_id: str | None = None
    doi: str | None = None
    tweet_id: str | None = None
    handle: str | None = None
    youtube_id: str | None = None
    github_repo: str | None = None


@dataclasses.dataclass
class _Parts:
    """A URL split into normalized pieces; site handlers may rewrite them."""

    scheme: str
    host: str
    port: int | None
    path: str
    query: list[tuple[str, str | None]]
    fragment: str

    def param(self, name: str) -> str | None:
        for key, value in self.query:
            if key == name:
                return value
        return None

    def build(self) -> str:
        netloc = self.host if self.port is None else f"{self.host}:{self.port}"
        url = f"{self.scheme}://{netloc}{self.path}"
        if self.query:
            url += "?" + "&".join(k if v is None else f"{k}={v}" for k, v in self.query)
        if self.fragment:
            url += "#" + self.fragment
        return url


def is_tracking_param(name: str, host: str = "") -> bool:
    """True when query parameter ``name`` is click tracking (on ``host``, a normalized host name)."""
    key = name.lower()
    if key in TRACKING_PARAMS or key.startswith(TRACKING_PREFIXES):
        return True
    for suffix, names in _HOST_TRACKING.items():
        if (host == suffix or host.endswith("." + suffix)) and key in names:
            return True
    return False


def canonicalize(url: str) -> str:
    """The canonical form of an http(s) URL; raises ValueError for anything else."""
    return _analyze(url).url


def classify(url: str) -> UrlInfo:
    """Canonicalize ``url`` and tell what it points at (paper, tweet, video, repo or a plain link)."""
    return _analyze(url)


def identity_key(canonical_url: str) -> str:
    """The canonical URL without its scheme, so http:// and https:// forms share one identity."""
    scheme, sep, rest = canonical_url.partition("://")
    if not sep or scheme.lower() not in _DEFAULT_PORTS or not rest:
        raise ValueError(f"not a canonical http(s) URL: {_preview(canonical_url)}")
    return rest


def item_id(canonical_url: str) -> str:
    """The stable 12-hex-digit catalog id derived from a canonical URL."""
    return hashlib.sha256(identity_key(canonical_url).encode()).hexdigest()[:12]


def arxiv_id_from_doi(doi: str) -> str | None:
    """The arXiv id of an arXiv DOI ("10.48550/arXiv.2106.09685" -> "2106.09685"), else None.

    Accepts ``doi:`` prefixes and doi.org URLs; the version suffix, if any, is dropped.
    """
    text = unquote(doi.strip())
    text = re.sub(r"^(?:https?://(?:dx\.|www\.)?doi\.org/|doi:\s*)", "", text, flags=re.IGNORECASE)
    match = _ARXIV_DOI_RE.fullmatch(text)
    return _normalize_arxiv_id(match.group("id")) if match else None


def strip_userinfo(url: str) -> str:
    """``url`` without a ``user:password@`` part; anything else is left exactly as it was.

    Credentials in a link are a secret of whoever wrote it; what we store is published on the site, in
    the feeds and in email, so every URL that comes in loses them (a URL that cannot be parsed is
    returned unchanged, for the checks downstream to refuse).
    """
    scheme, sep, rest = url.partition("://")
    if not sep:
        return url
    end = len(rest)
    for stop in "/?#":
        found = rest.find(stop)
        if found != -1:
            end = min(end, found)
    authority = rest[:end]
    if "@" not in authority:
        return url
    return f"{scheme}{sep}{authority.rpartition('@')[2]}{rest[end:]}"


def check_external_url(url: str) -> None:
    """Raise ValueError (one clear line) unless ``url`` is an http(s) URL we can store and fetch."""
    _split(url)


def normalize_input(text: str) -> str:
    """Turn what a curator types into a URL: arXiv ids, DOIs and scheme-less hosts.

    Strips whitespace and surrounding ``<>``; "arXiv:2106.09685", "2106.09685v3" and
    "hep-th/9901001" become arXiv URLs, "10.1145/..." and "doi:10..." doi.org URLs, and
    "example.com/x" becomes "https://example.com/x". Anything else is returned unchanged
    (stripped), for `canonicalize` to accept or reject.
    """
    value = text.strip()
    if value.startswith("<") and value.endswith(">"):
        value = value[1:-1].strip()
    prefix = re.match(r"(arxiv|doi):\s*", value, flags=re.IGNORECASE)
    body = value[prefix.end() :] if prefix else value
    if not body or any(ch.isspace() for ch in body):
        return value
    scheme = prefix.group(1).lower() if prefix else ""
    arxiv = _ARXIV_ID_RE.fullmatch(body)
    if arxiv and scheme != "doi" and (scheme == "arxiv" or _is_bare_arxiv_id(arxiv.group("id"))):
        version = f"v{arxiv.group('v')}" if arxiv.group("v") else ""
        return f"https://arxiv.org/abs/{arxiv.group('id')}{version}"
    if _DOI_RE.fullmatch(body) and scheme != "arxiv":
        # Pasted DOIs are often already percent-encoded; decode first so both spellings agree.
        return "https://doi.org/" + quote(unquote(body), safe=_DOI_SAFE)
    if scheme:
        return value
    if value.startswith("//"):
        return "https:" + value
    host = re.split(r"[/?#]", value, maxsplit=1)[0]
    if re.fullmatch(r"(?:[A-Za-z0-9-]+\.)+[A-Za-z]{2,24}(?::\d{1,5})?", host):
        return "https://" + value
    return value


# --- the pipeline -----------------------------------------------------------------------------


def _analyze(url: str) -> UrlInfo:
    parts = _split(url)
    handler = _HANDLERS.get(parts.host)
    if handler is not None:
        info = handler(parts)
        if info is not None:
            return info
    doi = None
    match = _PUBLISHER_DOI_RE.search(parts.path)
    if match:
        doi = unquote(match.group(1)).lower()
    return UrlInfo(url=parts.build(), kind="paper" if doi else None, doi=doi)


def _split(url: str) -> _Parts:
    """Parse and normalize the generic parts of ``url`` (RFC 3986 plus tracking removal)."""
    if not isinstance(url, str):
        raise ValueError(f"not a URL: expected text, got {type(url).__name__}")
    raw = url.strip()
    if not raw:
        raise ValueError("not a URL: the input is empty")
    if len(raw) > MAX_URL_LENGTH:
        raise ValueError(f"not a URL: {len(raw)} characters is longer than the {MAX_URL_LENGTH} allowed")
    if any(ch.isspace() or ord(ch) < 32 or ord(ch) == 127 for ch in raw):
        raise ValueError(f"not a URL: {_preview(raw)} contains spaces or control characters")
    if any("\ud800" <= ch <= "\udfff" or ch == "\ufffd" for ch in raw):
        # A lone surrogate is not a character (JSON "\ud800" escapes, undecodable argv bytes), and U+FFFD is
        # what a decoder left where it met one: either way the link is not the one its author meant.
        raise ValueError(f"not a URL: {_preview(raw)} contains an invalid character (a lone surrogate "
                         "or a decoding error)")
    try:
        split = urlsplit(raw)
    except ValueError as exc:
        raise ValueError(f"not a URL: {_preview(raw)} cannot be parsed ({exc})") from None
    scheme = split.scheme.lower()
    if scheme not in _DEFAULT_PORTS:
        what = f"{scheme}: links are not supported" if scheme else "it has no http:// or https:// scheme"
        raise ValueError(f"not an http(s) URL: {_preview(raw)} ({what})")
    host, port = _host_port(split.netloc, raw)
    if port == _DEFAULT_PORTS[scheme]:
        port = None
    path = split.path
    fragment = split.fragment
    # Old Twitter-style "#!/user/status/1" routes live in the fragment; everything else there
    # is a position on the page, not a different resource.
    if host in _TWITTER_HOSTS and path in ("", "/") and fragment.startswith("!/"):
        path, fragment = fragment[1:], ""
    fragment = _normalize_component(fragment, _QUERY_SAFE) if fragment.startswith("!") else ""
    query = []
    for piece in split.query.split("&"):
        if not piece:
            continue
        key, sep, value = piece.partition("=")
        key = _normalize_component(key, _QUERY_SAFE)
        if not key or is_tracking_param(unquote(key), host):
            continue
        query.append((key, _normalize_component(value, _QUERY_SAFE) if sep else None))
    # Sort by name only: a stable sort keeps the order of repeated names, which can matter.
    query.sort(key=lambda kv: kv[0])
    return _Parts(scheme, host, port, _normalize_path(path), query, fragment)


def _host_port(netloc: str, raw: str) -> tuple[str, int | None]:
    hostport = netloc.rpartition("@")[2]  # credentials never belong in a catalog
    port_text = ""
    if hostport.startswith("["):
        host, bracket, rest = hostport[1:].partition("]")
        if not bracket or (rest and not rest.startswith(":")):
            raise ValueError(f"not a URL: {_preview(raw)} has a malformed IPv6 host")
        port_text = rest[1:]
        try:
            host = f"[{ipaddress.IPv6Address(host).compressed}]"
        except ValueError:
            raise ValueError(f"not a URL: {_preview(raw)} has an invalid IPv6 address") from None
    else:
        host, _, port_text = hostport.partition(":")
        host = _normalize_host(host, raw)
    port = None
    if port_text:
        if not port_text.isdigit() or not 0 < int(port_text) < 65536:
            raise ValueError(f"not a URL: {_preview(raw)} has an invalid port {port_text[:10]!r}")
        port = int(port_text)
    return host, port


def _normalize_host(host: str, raw: str) -> str:
    host = host.rstrip(".").lower()
    if not host:
        raise ValueError(f"not a URL: {_preview(raw)} has no host name")
    if not host.isascii():
        try:
            # One spelling for internationalized names: the ASCII (punycode) form.
            host = host.encode("idna").decode("ascii")
        except UnicodeError:
            raise ValueError(f"not a URL: {_preview(raw)} has an invalid international host name") from None
    if not _HOST_RE.fullmatch(host) or any(len(label) > 63 for label in host.split(".")):
        raise ValueError(f"not a URL: {_preview(raw)} has an invalid host name")
    if host.startswith("www.") and "." in host[4:]:
        host = host[4:]
    return host


def _normalize_component(text: str, safe: frozenset[str]) -> str:
    """Uppercase percent-escapes, decode unreserved characters, encode what may not appear raw."""
    out: list[str] = []
    i = 0
    while i < len(text):
        ch = text[i]
        if ch == "%" and i + 2 < len(text) and text[i + 1] in _HEX and text[i + 2] in _HEX:
            decoded = chr(int(text[i + 1 : i + 3], 16))
            out.append(decoded if decoded in _UNRESERVED else "%" + text[i + 1 : i + 3].upper())
            i += 3
            continue
        if ch in safe:
            out.append(ch)
        else:
            out.extend(f"%{byte:02X}" for byte in ch.encode("utf-8", "surrogatepass"))
        i += 1
    return "".join(out)


def _normalize_path(path: str) -> str:
    path = _normalize_component(path, _PATH_SAFE)
    segments: list[str] = []
    for segment in path.split("/")[1:] if path.startswith("/") else path.split("/"):
        if segment == "..":
            if segments:
                segments.pop()
        elif segment != ".":
            segments.append(segment)
    path = "/" + "/".join(segments)
    # Strip trailing slashes on non-root paths ("/a/" and "/a" are one page almost everywhere).
    return path.rstrip("/") or "/"


def _preview(text: str) -> str:
    return repr(text if len(text) <= 80 else text[:77] + "...")


# --- site handlers: return the final UrlInfo, or None (after optional rewrites) for generic ----


def _normalize_arxiv_id(arxiv_id: str) -> str:
    if "/" not in arxiv_id:
        return arxiv_id
    archive, number = arxiv_id.split("/")
    name, dot, subject = archive.partition(".")
    # Subject classes are upper-case two-letter codes (math.GT, cs.AI); archives are lower-case.
    subject = subject.upper() if len(subject) == 2 else subject.lower()
    return f"{name.lower()}{dot}{subject}/{number}"


def _is_bare_arxiv_id(arxiv_id: str) -> bool:
    return "/" not in arxiv_id or arxiv_id.split("/")[0].split(".")[0].lower() in _OLD_ARCHIVES


def _arxiv_info(arxiv_id: str) -> UrlInfo:
    arxiv_id = _normalize_arxiv_id(arxiv_id)
    return UrlInfo(url=f"https://arxiv.org/abs/{arxiv_id}", kind="paper", arxiv_id=arxiv_id)


def _arxiv(parts: _Parts) -> UrlInfo | None:
    match = _ARXIV_PATH_RE.fullmatch(parts.path)
    return _arxiv_info(match.group("id")) if match else None


def _doi(parts: _Parts) -> UrlInfo | None:
    parts.host = "doi.org"
    doi = unquote(parts.path[1:])
    if not _DOI_RE.fullmatch(doi):
        return None
    arxiv_id = arxiv_id_from_doi(doi)
    if arxiv_id:
        return _arxiv_info(arxiv_id)
    doi = doi.lower()
    return UrlInfo(url="https://doi.org/" + quote(doi, safe=_DOI_SAFE), kind="paper", doi=doi)


def _twitter(parts: _Parts) -> UrlInfo | None:
    parts.host, parts.scheme = "x.com", "https"
    match = _TWEET_PATH_RE.fullmatch(parts.path)
    if match:
        tweet_id = match.group("id")
        return UrlInfo(
            url=f"https://x.com/i/status/{tweet_id}",
            kind="tweet",
            tweet_id=tweet_id,
            handle=match.group("handle") if match.group("handle") != "i" else None,
        )
    if re.fullmatch(r"/[A-Za-z0-9_]{1,15}", parts.path) and parts.path[1:].lower() not in _TWITTER_PAGES:
        # Handles are case-insensitive: one profile, one URL.
        handle = parts.path[1:]
        parts.path = parts.path.lower()
        return UrlInfo(url=parts.build(), kind=None, handle=handle)
    return None


def _youtube_video(video_id: str) -> UrlInfo:
    return UrlInfo(url=f"https://youtube.com/watch?v={video_id}", kind="video", youtube_id=video_id)


def _youtube(parts: _Parts) -> UrlInfo | None:
    if parts.host != "music.youtube.com":
        parts.host = "youtube.com"
    parts.scheme = "https"
    video_id = parts.param("v") if parts.path == "/watch" else None
    if video_id and _YOUTUBE_ID_RE.fullmatch(video_id):
        return _youtube_video(video_id)
    match = _YOUTUBE_PATH_RE.fullmatch(parts.path)
    return _youtube_video(match.group("id")) if match else None


def _youtu_be(parts: _Parts) -> UrlInfo | None:
    if _YOUTUBE_ID_RE.fullmatch(parts.path[1:]):
        return _youtube_video(parts.path[1:])
    return None


def _github(parts: _Parts) -> UrlInfo | None:
    parts.scheme = "https"
    segments = parts.path.split("/")[1:]
    if not segments[0] or segments[0].lower() in _GITHUB_RESERVED:
        return None
    if len(segments) == 2 and segments[1].lower().endswith(".git"):
        segments[1] = segments[1][:-4]
    # Owner and repository names are case-insensitive on GitHub; file paths below are not.
    segments[:2] = [s.lower() for s in segments[:2]]
    parts.path = "/" + "/".join(segments)
    if (
        len(segments) == 2
        and _GITHUB_OWNER_RE.fullmatch(segments[0])
        and _GITHUB_REPO_RE.fullmatch(segments[1])
        and segments[1] not in (".", "..")
    ):
        repo = f"{segments[0]}/{segments[1]}"
        # A repository is its own identity: "?tab=readme-ov-file" and the like are view state.
        return UrlInfo(url=f"https://github.com/{repo}", kind="repo", github_repo=repo)
    return None


def _spotify(parts: _Parts) -> UrlInfo | None:
    # Localized links ("/intl-de/track/ID") name the same track as "/track/ID".
    parts.path = re.sub(r"^/intl-[a-z]{2}(?:-[a-z]{2})?(?=/)", "", parts.path, flags=re.IGNORECASE)
    return None


_HANDLERS: dict[str, Callable[[_Parts], UrlInfo | None]] = {
    **{host: _arxiv for host in _ARXIV_HOSTS},
    **{host: _twitter for host in _TWITTER_HOSTS},
    **{host: _youtube for host in _YOUTUBE_HOSTS},
    "youtu.be": _youtu_be,
    "doi.org": _doi,
    "dx.doi.org": _doi,
    "github.com": _github,
    "open.spotify.com": _spotify,
}
