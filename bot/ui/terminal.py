"""Text from outside (articles, titles, URLs, file names, model output, error bodies) made safe
for a terminal, and the console every command prints through.

Control characters are shown as visible stand-ins of the same length (`clean`,
bot/util/controls.py says which and why), so offsets and rich's styles on them stay valid.

Stored text keeps its characters: only what is displayed goes through here. JSON output is
exact JSON, with these characters \\u-escaped (bot/ui/render.py `to_json`).
"""

from __future__ import annotations

from typing import Any, Iterable, Optional

from rich.console import Console, ConsoleOptions, RenderableType
from rich.segment import Segment

from bot.util.controls import clean, clean_line
from bot.util.redact import redact


def safe(text: str) -> str:
    """What any outside text goes through before a terminal: secrets redacted, then cleaned."""
    return clean(redact(text))


def safe_line(text: str) -> str:
    """`safe` for a one-line message: an error line, a note, a file name in either."""
    return clean_line(redact(text))


def text_arg(text: str) -> str:
    """A command-line argument meant as text (a question): bytes that were not UTF-8 (kept by
    Python as lone surrogates) become U+FFFD instead of failing later."""
    return text.encode("utf-8", "surrogateescape" if _escaped_only(text) else "replace"
                       ).decode("utf-8", "replace")


def _escaped_only(text: str) -> bool:
    return all(not 0xD800 <= ord(ch) <= 0xDFFF or 0xDC80 <= ord(ch) <= 0xDCFF for ch in text)


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
