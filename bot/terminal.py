"""Text from outside (articles, titles, URLs, file names, model output, error bodies) made safe
for a terminal, and the console every command prints through.

A terminal obeys control characters: `ESC[2J` clears the screen, OSC 52 (`ESC]52;c;...BEL`)
writes to the clipboard, a lone carriage return overwrites what a line said, and bidi
overrides make text read differently from what it is. `clean` shows every such character as a
visible stand-in of the same length (U+2400 "control pictures" for C0 and DEL, U+FFFD for C1
and bidi controls), so offsets into the text, and rich's styles on them, stay valid. Newline
and tab are kept (except by `clean_line`, for one-line messages such as error lines).

Stored text keeps its characters: only what is displayed goes through here. JSON output is
exact JSON, with these characters \\u-escaped (bot/render.py `to_json`).
"""

from __future__ import annotations

import re
from typing import Any, Iterable, Optional

from rich.console import Console, ConsoleOptions, RenderableType
from rich.segment import Segment

# C0 controls but \t and \n, DEL, the C1 controls, the bidi embeddings, overrides and isolates
# (U+202A-U+202E, U+2066-U+2069; the marks LRM/RLM/ALM only affect neutral characters), and
# lone surrogates (undecodable bytes of argv or a file name), which no terminal can be sent.
UNSAFE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\ud800-\udfff]")
UNSAFE_LINE = re.compile("[\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\ud800-\udfff]")


def _stand_in(m: re.Match) -> str:
    code = ord(m.group())
    if code < 0x20:
        return chr(0x2400 + code)  # ␀ .. ␟ (␛ for ESC, ␍ for CR, ␊ for LF)
    if code == 0x7F:
        return "\u2421"  # ␡
    return "\ufffd"  # C1 and bidi controls have no picture of their own


def clean(text: str) -> str:
    """`text` with every character a terminal would obey replaced by a visible stand-in of
    the same length; newlines and tabs kept."""
    return UNSAFE.sub(_stand_in, text)


def clean_line(text: str) -> str:
    """`clean` for one-line messages (error lines, file names): newlines and tabs too, so a
    name cannot start a line of its own that looks like the bot's."""
    return UNSAFE_LINE.sub(_stand_in, text)


def safe(text: str) -> str:
    """What any outside text goes through before a terminal: secrets redacted, then cleaned."""
    from bot.redact import redact

    return clean(redact(text))


def safe_line(text: str) -> str:
    """`safe` for a one-line message: an error line, a note, a file name in either."""
    from bot.redact import redact

    return clean_line(redact(text))


def text_arg(text: str) -> str:
    """A command-line argument meant as text (a question): bytes that were not UTF-8 (kept by
    Python as lone surrogates) become U+FFFD instead of failing later."""
    return text.encode("utf-8", "surrogateescape" if _escaped_only(text) else "replace"
                       ).decode("utf-8", "replace")


def _escaped_only(text: str) -> bool:
    return all(not 0xD800 <= ord(ch) <= 0xDFFF or 0xDC80 <= ord(ch) <= 0xDCFF for ch in text)


def has_unsafe(text: str) -> bool:
    """A raw control character other than newline/tab (for the tests' output detector)."""
    return UNSAFE.search(text) is not None


class SafeConsole(Console):
    """A rich Console that cleans and redacts every piece of text it renders, as a backstop:
    render code cleans outside text itself (so widths are right), and this catches whatever
    it missed, in rich's plain and styled output alike. rich's own escape codes (colours,
    cursor moves of a live display) are control segments and pass unchanged."""

    def render(self, renderable: RenderableType,
               options: Optional[ConsoleOptions] = None) -> Iterable[Segment]:
        for segment in super().render(renderable, options):
            if segment.control or not segment.text:
                yield segment
            else:
                yield Segment(safe(segment.text), segment.style, None)


def console(**kwargs: Any) -> SafeConsole:
    """The console every command and the chat print through."""
    return SafeConsole(**kwargs)
