"""Characters a terminal would obey, shown instead as visible stand-ins of the same length.

A terminal obeys control characters: `ESC[2J` clears the screen, OSC 52 (`ESC]52;c;...BEL`)
writes to the clipboard, a lone carriage return overwrites what a line said, and bidi
overrides make text read differently from what it is. `clean` shows every such character as a
visible stand-in of the same length (U+2400 "control pictures" for C0 and DEL, U+FFFD for C1
and bidi controls), so offsets into the text, and rich's styles on them, stay valid. Newline
and tab are kept (except by `clean_line`, for one-line messages such as error lines).
Used by the terminal output (bot/ui/terminal.py) and the log records (bot/util/redact.py).
"""

from __future__ import annotations

import re

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


def has_unsafe(text: str) -> bool:
    """A raw control character other than newline/tab (for the tests' output detector)."""
    return UNSAFE.search(text) is not None
