"""PDF files → articles (pypdf), keeping page boundaries so a citation can name its page.

The article text is the pages' text joined by a blank line; `meta["pages"]` holds the offset
where each page starts (page 1 at 0), and `page_of` maps a citation's offset to its page.
Scanned PDFs (images, no text layer) are refused with a clear message: no OCR here.
"""

from __future__ import annotations

import bisect
import io
import logging
import re
from typing import Any

from bot.sources.common import LoadError, make_article, normalise, first_line
from bot.schema import Article

PAGE_SEPARATOR = "\n\n"


def article_from_pdf(data: bytes, source: str, key: str | None = None) -> Article:
    """Extract the text of every page; raises LoadError naming `source`."""
    reader = _reader(data, source)
    text, starts = join_pages(_page_texts(reader, source))
    if not text:
        raise LoadError(source, "no text in this PDF (scanned images?); OCR it or use a text version")
    info = _info(reader)
    meta: dict[str, Any] = {"pages": starts, "format": "pdf"}
    if info.get("author"):
        meta["author"] = info["author"]
    title = info.get("title") or first_line(text)
    return make_article(text, title=title, source=source, key=key,
                        published=info.get("published"), meta=meta)


def join_pages(pages: list[str]) -> tuple[str, list[int]]:
    """One text from page texts, and the offset where each page starts in it. Empty pages
    keep their place (they start where the next page starts)."""
    parts: list[str] = []
    starts: list[int] = []
    pos = 0
    for page in pages:
        body = normalise(page)
        start = pos + (len(PAGE_SEPARATOR) if parts else 0)
        starts.append(start)
        if body:
            parts.append(body)
            pos = start + len(body)
    return PAGE_SEPARATOR.join(parts), starts


def page_of(meta: dict[str, Any] | None, offset: int) -> int | None:
    """The 1-based page holding character `offset`, for articles that have pages."""
    starts = (meta or {}).get("pages")
    if not starts:
        return None
    return max(1, bisect.bisect_right(starts, offset))


def _reader(data: bytes, source: str) -> Any:
    from pypdf import PdfReader

    logging.getLogger("pypdf").setLevel(logging.ERROR)  # broken PDFs are common; we report them ourselves
    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted and not reader.decrypt(""):
            raise LoadError(source, "this PDF is encrypted; save an unlocked copy and ingest that")
        return reader
    except LoadError:
        raise
    except Exception as e:  # PyPdfError, ValueError, KeyError, ... and internal asserts
        raise LoadError(source, f"cannot read this PDF ({type(e).__name__}); check the file") from None


def _page_texts(reader: Any, source: str) -> list[str]:
    try:
        return [page.extract_text() or "" for page in reader.pages]
    except Exception as e:  # broken PDFs raise a zoo, even pypdf's own `assert` (fuzzing found it)
        raise LoadError(source, f"cannot read this PDF ({type(e).__name__}); check the file") from None


def _info(reader: Any) -> dict[str, str]:
    """Title, author and date from the document info, when present (never fatal)."""
    try:
        meta = reader.metadata or {}
        out = {"title": str(meta.get("/Title") or "").strip(),
               "author": str(meta.get("/Author") or "").strip()}
        m = re.match(r"D:(\d{4})(\d{2})(\d{2})", str(meta.get("/CreationDate") or ""))
        if m:
            out["published"] = f"{m.group(1)}-{m.group(2)}-{m.group(3)}"
        return {k: v for k, v in out.items() if v}
    except Exception:  # metadata is a nicety: a broken info dictionary must not lose the text
        return {}
