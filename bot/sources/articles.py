"""Load sources into `Article`s: read, decode, extract, normalise. No store, no embedding.

Every failure is a `LoadError` naming the input and saying what to do, so a batch can report
one line per bad input and go on.
"""

from __future__ import annotations

import codecs
import errno
import os
import re
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator
from urllib.parse import urldefrag, urlparse

from bot.schema import Article
from bot.sources.common import LoadError, first_line, make_article, normalise

TEXT_SUFFIXES = {".txt", ".md", ".markdown", ".text"}
HTML_SUFFIXES = {".html", ".htm"}
PDF_SUFFIXES = {".pdf"}
SUFFIXES = TEXT_SUFFIXES | HTML_SUFFIXES | PDF_SUFFIXES


@dataclass(frozen=True)
class Input:
    """One thing to ingest: a file found on disk, or an error found while looking."""

    path: Path | None
    error: LoadError | None = None
    skipped: bool = False  # a file in a folder that is not of a supported type


def expand(paths: list[str | Path]) -> Iterator[Input]:
    """Files to ingest from files and folders (recursive), in a stable order."""
    for raw in paths:
        if not str(raw).strip():  # Path("") is ".", the whole current folder: never meant
            yield Input(None, LoadError(repr(str(raw)), "an empty path; give a file or folder"))
            continue
        path = Path(raw)
        missing = _missing(path)
        if missing:
            yield Input(None, LoadError(str(raw), missing))
        elif path.is_dir():
            yield from _walk(path)
        elif path.suffix.lower() not in SUFFIXES:
            yield Input(None, LoadError(str(raw), _unsupported(path)))
        else:
            yield Input(path)


def _missing(path: Path) -> str | None:
    """Why `path` cannot be found, or None when it can: a symlink loop and a broken symlink
    are told apart from a path that does not exist."""
    try:
        os.stat(path)
        return None
    except OSError as e:
        if e.errno == errno.ELOOP:
            return "a symlink loop (the link points back to itself); fix or remove the link"
        if path.is_symlink():
            return f"a broken symlink (to {os.readlink(path)}, which does not exist); fix the link"
        if isinstance(e, PermissionError):
            return "permission denied; check the permissions of the folders above it"
        return "no such file or folder; check the path"


def _not_regular(mode: int) -> str | None:
    """What a file that is not a regular file is (only regular files are read: a FIFO would
    wait forever for a writer, a device never ends)."""
    for test, what in ((stat.S_ISFIFO, "a named pipe (FIFO)"), (stat.S_ISCHR, "a character device"),
                       (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket"),
                       (stat.S_ISDIR, "a folder")):
        if test(mode):
            return f"skipped: {what}, not a regular file"
    return None if stat.S_ISREG(mode) else "skipped: not a regular file"


def _walk(folder: Path) -> Iterator[Input]:
    errors: list[OSError] = []
    found: list[Path] = []
    for root, dirs, files in os.walk(folder, onerror=errors.append):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        found += [Path(root) / f for f in files if not f.startswith(".")]
    for err in errors:
        reason = ("a symlink loop; fix or remove the link" if err.errno == errno.ELOOP
                  else "cannot read this folder; check its permissions")
        yield Input(None, LoadError(str(err.filename), reason))
    for path in sorted(found):
        yield Input(path, skipped=path.suffix.lower() not in SUFFIXES)


def _unsupported(path: Path) -> str:
    return f"unsupported file type '{path.suffix or '(none)'}'; use {', '.join(sorted(SUFFIXES))}"


def load_file(path: Path, max_bytes: int) -> Article:
    """Read one file into an Article, or raise LoadError."""
    source = str(path)
    missing = _missing(path)
    if missing:
        raise LoadError(source, missing)
    try:
        data = read_capped(path, max_bytes)
    except PermissionError:
        raise LoadError(source, "permission denied; check the file's permissions") from None
    except IsADirectoryError:
        raise LoadError(source, "is a folder, not a file") from None
    except OSError as e:
        raise LoadError(source, f"cannot read ({e.strerror or e}); check the file") from None
    key = str(path.resolve())
    suffix = path.suffix.lower()
    if suffix in PDF_SUFFIXES:
        from bot.sources.pdf import article_from_pdf

        return article_from_pdf(data, source=source, key=key)
    text = decode(data, source)
    if suffix in HTML_SUFFIXES:
        return article_from_html(text, source=source, key=key)
    return article_from_text(text, source=source, key=key, markdown=suffix != ".txt")


def read_capped(path: Path, max_bytes: int) -> bytes:
    """The bytes of a regular file, reading at most `max_bytes` + 1 whatever `stat` says (a
    symlink to /dev/zero has size 0 and never ends). Opened without blocking and checked on
    the open file, so a FIFO swapped in after a look is refused too, not waited on."""
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    with os.fdopen(fd, "rb") as f:
        kind = _not_regular(os.fstat(fd).st_mode)
        if kind:
            raise LoadError(str(path), kind)
        data = f.read(max_bytes + 1)
    if len(data) > max_bytes:
        size = os.stat(path).st_size
        shown = f"{size / 1e6:.1f} MB" if size > max_bytes else "more than that"
        raise LoadError(str(path), f"file is {shown}, over the {max_bytes / 1e6:g} MB limit; "
                                   "split it or raise BOT_MAX_FILE_MB")
    return data


_UTF16_32 = ((codecs.BOM_UTF32_LE, "utf-32"), (codecs.BOM_UTF32_BE, "utf-32"),
             (codecs.BOM_UTF16_LE, "utf-16"), (codecs.BOM_UTF16_BE, "utf-16"))


def decode(data: bytes, source: str) -> str:
    """Bytes to text: UTF-8 (with or without BOM), or UTF-16/32 when a BOM says so; binary is
    refused, not guessed."""
    for bom, codec in _UTF16_32:  # UTF-32 first: its little-endian BOM starts like UTF-16's
        if data.startswith(bom):
            try:
                return data.decode(codec)
            except UnicodeDecodeError as e:
                raise LoadError(source, f"is not valid {codec.upper()} (its byte order mark says "
                                        f"it is; bad bytes at offset {e.start}); re-save it as "
                                        "UTF-8") from None
    if b"\x00" in data[:8192]:
        raise LoadError(source, "looks like a binary file, not text; convert it to .txt, .md or .html")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise LoadError(source, f"is not valid UTF-8 (bad byte at offset {e.start}); "
                                "re-save it as UTF-8") from None
    controls = sum(1 for ch in text[:8192] if ord(ch) < 32 and ch not in "\n\r\t\f")
    if controls > 0.05 * max(1, len(text[:8192])):
        raise LoadError(source, "looks like a binary file, not text; convert it to .txt, .md or .html")
    return text


_FRONT_MATTER = re.compile(r"\A---\s*\n(.*?)\n---\s*\n", re.S)
_DATE = re.compile(r"(\d{4}-\d{2}-\d{2})")
_HEADING = re.compile(r"\s{0,3}#{1,6}(\s|$)")


def article_from_text(text: str, source: str, key: str | None = None, markdown: bool = False,
                      title: str | None = None, published: str | None = None,
                      meta: dict | None = None) -> Article:
    """A plain-text or markdown article; the title is front matter or the first line."""
    front: dict[str, str] = {}
    if markdown:
        m = _FRONT_MATTER.match(text)
        if m:
            front = _parse_front_matter(m.group(1))
            text = text[m.end():]
    body = normalise(text)
    if not body:
        raise LoadError(source, "is empty (no text to ingest)")
    if markdown and all(not line.strip() or _HEADING.match(line) for line in body.split("\n")):
        raise LoadError(source, "is empty (only a heading, no text to ingest)")
    title = title or front.get("title") or first_line(body)
    if markdown:
        title = title.lstrip("#").strip()
    published = published or _iso_date(front.get("date") or front.get("published"))
    return make_article(body, title=title, source=front.get("source") or source, key=key,
                        published=published, meta=meta)


def article_from_html(html: str, source: str, key: str | None = None,
                      url: str | None = None) -> Article:
    """Extract the article from an HTML page (trafilatura): body, title, author, date,
    canonical URL. With `url` (the page was fetched from there) the article's `source` and
    identity are its canonical URL, so fetching the same page again is a diff, not a copy."""
    import trafilatura

    # deduplicate=False: trafilatura's dedup is a process-wide cache of text it has seen, so
    # a page extracted twice in one process (a re-fetch, `bot watch`) would lose its text.
    try:
        doc = trafilatura.bare_extraction(_without_hidden(html), url=url, with_metadata=True,
                                          include_comments=False, include_tables=False,
                                          deduplicate=False)
    except Exception as e:  # trafilatura raises a zoo of parser errors on broken markup
        raise LoadError(url or source, f"cannot parse this HTML ({type(e).__name__})") from None
    body = normalise("\n\n".join((doc.text or "").splitlines())) if doc else ""
    if not body:
        raise LoadError(url or source, "no article text found in this HTML page")
    meta = {k: v for k, v in {"author": doc.author, "canonical_url": doc.url,
                              "sitename": doc.sitename}.items() if v}
    if url:
        source = key = page_identity(url, doc.url)
        meta["canonical_url"] = source
        if canonical_url(url) != source:
            meta["fetched_url"] = url
        if doc.url and canonical_url(doc.url) != source:
            meta["claimed_canonical_url"] = doc.url  # on another site: recorded, not trusted
    return make_article(body, title=doc.title or first_line(body), source=source,
                        key=key, published=_iso_date(doc.date), meta=meta)


_NEVER_SHOWN = ("//template | //*[@hidden] | //*[@aria-hidden='true'] | "
                "//*[contains(translate(@style, ' ', ''), 'display:none')] | "
                "//*[contains(translate(@style, ' ', ''), 'visibility:hidden')]")


def _without_hidden(html: str):
    """The page as a tree without what a browser never shows (`hidden`, `<template>`,
    display:none...): text planted there for AI readers (prompt injection) is not article
    text. trafilatura drops some of it on its own, not `hidden` or `<template>`."""
    from trafilatura.utils import load_html

    tree = load_html(html)
    if tree is None:
        return html  # let trafilatura report it
    for el in tree.xpath(_NEVER_SHOWN):
        parent = el.getparent()
        if parent is None:
            continue
        if el.tail:  # the text after the element is shown: keep it
            prev = el.getprevious()
            if prev is not None:
                prev.tail = (prev.tail or "") + el.tail
            else:
                parent.text = (parent.text or "") + el.tail
        parent.remove(el)
    return tree


def canonical_url(url: str) -> str:
    """A URL as an identity: host lower-cased, default port, tracking parameters and the
    fragment dropped (courlan), so one page reached by different links is one article."""
    from courlan import normalize_url

    try:
        url = normalize_url(url)
    except Exception:  # courlan refuses some odd URLs; keep ours as it came
        pass
    return urldefrag(url)[0]


def page_identity(fetched_url: str, claimed: str | None) -> str:
    """The canonical URL a page declares, when it is http(s) on the same site as the URL it
    was fetched from (so a page cannot pass itself off as, and replace, another site's
    article); else the fetched URL."""
    from courlan import is_external

    if claimed and urlparse(claimed).scheme in ("http", "https"):
        try:
            if not is_external(claimed, fetched_url, ignore_suffix=False):
                return canonical_url(claimed)
        except Exception:  # an unparsable claim is no claim
            pass
    return canonical_url(fetched_url)


def _parse_front_matter(block: str) -> dict[str, str]:
    out = {}
    for line in block.splitlines():
        if ":" in line:
            k, v = line.split(":", 1)
            out[k.strip().lower()] = v.strip().strip("\"'")
    return out


def _iso_date(value: str | None) -> str | None:
    if not value:
        return None
    m = _DATE.search(value)
    return m.group(1) if m else None


_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")


def looks_like_url(value: object) -> bool:
    """True for anything written as scheme://..., so `file://` is refused as a URL rather
    than looked for as a path."""
    return isinstance(value, str) and bool(_SCHEME.match(value.strip()))
