"""Text that is safe to write to a terminal.

Titles, URLs, notes, feed names and error messages that echo an input come from pages, feeds,
imports, hand-edited files and the other curator. Written raw, an escape sequence in one of them
can clear the screen (``ESC [2J``), retitle the window, plant a hyperlink whose text lies about its
target (OSC 8), rewrite what was printed before it (CR, backspace) or reverse the visible order of
a line (bidi overrides). Every human-mode line the CLI prints goes through `safe`, at the one place
output is written (`common.echo`), so no command can forget it.
"""

from __future__ import annotations

import re

from ..text import ESCAPE_SEQUENCES, replace_surrogates

# The stored-text pattern (whole ESC sequences, newsletter/text.py) plus their 8-bit C1 forms, which
# a terminal honours too.
_SEQUENCES = re.compile(
    ESCAPE_SEQUENCES.pattern
    + r"""
    | \x9b[0-?]*[ -/]*[@-~]?                       # 8-bit CSI
    | [\x90\x98\x9d\x9e\x9f][^\x07\x9c]*(?:\x07|\x9c)?  # 8-bit DCS, SOS, OSC, PM, APC
    """,
    re.VERBOSE,
)

# Left after the sequences: single control characters (C0 but tab and newline, DEL, C1) and the
# invisible characters that reorder text (bidi embeddings, overrides, isolates, marks).
_CONTROLS = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")
_SEPARATORS = re.compile("[\u2028\u2029\u0085]")


def safe(text: object) -> str:
    """`text` without terminal escape sequences, control characters or bidi controls.

    Tabs and newlines stay (a note is several lines); Unicode line separators become newlines;
    lone surrogates (undecodable bytes from argv or a file name) become U+FFFD.
    """
    value = str(text)
    value = _SEQUENCES.sub("", value)
    value = _SEPARATORS.sub("\n", value)
    value = _CONTROLS.sub("", value)
    return replace_surrogates(value)  # non-UTF-8 argv (surrogateescape) cannot be encoded


def one_line(text: object) -> str:
    """`safe`, with every line break and tab turned into one space: for fields shown in a column."""
    return " ".join(safe(text).replace("\t", " ").splitlines())
