"""What every loader shares: the one error a source can end in, the one constructor of an
`Article` (ids and hashes made the same way for files, pages, feeds and PDFs), and the text
normalising and title rules they all apply."""

from __future__ import annotations

import hashlib
import re

from bot.errors import BotError
from bot.schema import Article
from bot.util.redact import redact


class LoadError(BotError):
    """A source that cannot become an article; `str()` is the one line a user sees."""

    def __init__(self, source: str, reason: str):
        super().__init__(f"{source}: {reason}")
        self.source = source
        self.reason = redact(reason)  # it may quote what a server said back


def make_article(text: str, title: str, source: str, key: str | None = None,
                 published: str | None = None, meta: dict | None = None) -> Article:
    """The one constructor: ids and hashes are computed the same way for every loader."""
    content_hash = hashlib.sha256(text.encode()).hexdigest()
    identity = key or source or content_hash
    article_id = hashlib.sha256(identity.encode()).hexdigest()[:16]
    return Article(article_id=article_id, title=title.strip()[:300], source=source, text=text,
                   published=published, content_hash=content_hash, meta=meta or {})


def normalise(text: str) -> str:
    """Canonical text: Unix newlines, no trailing spaces, at most one blank line in a row."""
    text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\u00a0", " ")
    lines = [line.rstrip() for line in text.split("\n")]
    text = re.sub(r"\n{3,}", "\n\n", "\n".join(lines))
    return text.strip()


TITLE_CHARS = 80  # a title made from body text: about a headline's length


def first_line(text: str) -> str:
    """A title for an article that has none: its first line when that is headline-sized (a
    headline, or a short first sentence), else the start of it cut at a word, with an
    ellipsis. The full first line stays in the text."""
    line = " ".join(text.split("\n", 1)[0].split())
    if len(line) <= TITLE_CHARS:
        return line
    cut = line.rfind(" ", 0, TITLE_CHARS)
    return line[:cut if cut > TITLE_CHARS // 2 else TITLE_CHARS].rstrip(" ,;:-") + "\u2026"
