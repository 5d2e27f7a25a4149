"""RSS and Atom feeds (feedparser) → articles, with the dedup rules that make re-runs a diff.

For each entry (at most MAX_ENTRIES per feed, newest first as the feed lists them):
1. Its GUID (`<guid>`/`<id>`, else its link) is looked up in the store (an article keeps every
   GUID it was seen under). A known entry whose date/stamp has not changed, and whose stored
   version came from its page, is skipped without fetching anything.
2. Otherwise its article page is fetched (`fetch.load_url`: guard, limits, extraction); when the
   page cannot be fetched or has no article, the entry's own content is used instead and the
   report says so.
3. The article keeps the id of the article stored for the same GUID, so an updated entry (even
   under a new link) replaces its old version; otherwise its id comes from the canonical URL.
   Ingest then skips it if the stored content hash is the same, or if the same text is already
   stored under another id.

Feed validators (ETag / Last-Modified) are remembered per feed in `feeds.json` in the store
directory, so `watch` polls with conditional GETs and a 304 costs nothing.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json
import os
import re
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from bot.sources.common import LoadError, make_article, normalise
from bot.sources.articles import canonical_url
from bot.sources.fetch import FEED_ACCEPT, FEED_EXPECTED, FEED_TYPES, Fetcher, load_url, redact, sniff_type
from bot.schema import Article, IngestFailure, IngestReport

MAX_ENTRIES = 100  # per feed and run: a hostile or runaway feed cannot queue unbounded work
STATE_FILE = "feeds.json"


@dataclass(frozen=True)
class Entry:
    guid: str
    link: str | None
    title: str
    published: str | None  # YYYY-MM-DD
    stamp: str  # changes when the entry changes: its updated date, else a hash of its content
    author: str | None
    content_html: str  # the entry's own content (or summary), for the fallback


@dataclass
class Feed:
    url: str
    title: str = ""
    entries: list[Entry] = field(default_factory=list)
    etag: str | None = None
    last_modified: str | None = None
    not_modified: bool = False


class FeedState:
    """ETag / Last-Modified per feed URL, in a small JSON file written atomically."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self.lock = threading.Lock()

    def get(self, url: str) -> dict[str, str]:
        return self._read().get(url, {})

    def put(self, url: str, etag: str | None, last_modified: str | None) -> None:
        with self.lock:
            data = self._read()
            data[url] = {k: v for k, v in {"etag": etag, "last_modified": last_modified,
                                          "checked_at": _now()}.items() if v}
            self.path.parent.mkdir(parents=True, exist_ok=True)
            tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
            tmp.write_text(json.dumps(data, indent=1, sort_keys=True))
            os.replace(tmp, self.path)  # atomic: a reader never sees half a file

    def _read(self) -> dict[str, Any]:
        try:
            data = json.loads(self.path.read_text())
            return data if isinstance(data, dict) else {}
        except (OSError, ValueError):
            return {}  # no state yet, or unreadable: the next fetch is simply unconditional


def fetch_feed(fetcher: Fetcher, url: str, etag: str | None = None,
               last_modified: str | None = None) -> Feed:
    got = fetcher.get(url, kinds=FEED_TYPES, expected=FEED_EXPECTED, accept=FEED_ACCEPT,
                      etag=etag, last_modified=last_modified)
    if got.not_modified:
        return Feed(url, etag=got.etag or etag, last_modified=got.last_modified or last_modified,
                    not_modified=True)
    title, entries = parse_feed(got.content, got.final_url, source=url)
    return Feed(url, title, entries, got.etag, got.last_modified)


def parse_feed(data: bytes, base_url: str, source: str | None = None) -> tuple[str, list[Entry]]:
    """Title and entries of an RSS/Atom document; LoadError when it is not a feed."""
    import feedparser

    source = source or base_url
    if sniff_type(data) == "text/html":
        raise LoadError(source, "is a web page, not a feed; give the feed's URL (RSS or Atom), "
                                "or ingest the page without --feed")
    # Bytes only: given a string, feedparser would treat it as a URL and fetch it itself.
    try:
        parsed = feedparser.parse(data, response_headers={"content-location": base_url})
    except Exception as e:  # e.g. ValueError on a NUL in the declared encoding (found by fuzzing)
        raise LoadError(source, f"is not a valid RSS or Atom feed ({type(e).__name__}); "
                                "check the URL") from None
    if not parsed.entries and (parsed.bozo or not parsed.get("version")):
        why = type(parsed.get("bozo_exception")).__name__ if parsed.bozo else "no RSS or Atom"
        raise LoadError(source, f"is not a valid RSS or Atom feed ({why}); check the URL")
    title = str(parsed.feed.get("title") or "")
    return title, [_entry(e) for e in parsed.entries[:MAX_ENTRIES]]


def _entry(e: Any) -> Entry:
    content = ""
    if e.get("content"):
        content = max((c.get("value") or "" for c in e.content), key=len)
    content = content or e.get("summary") or ""
    link = e.get("link") or None
    if link and not re.match(r"https?://", link):
        link = None
    guid = str(e.get("id") or link or "")
    # `"updated" in e` first: feedparser's e.get("updated") silently falls back to published
    updated = e.get("updated") if "updated" in e else None
    updated_parsed = e.get("updated_parsed") if "updated_parsed" in e else None
    date = _date(e.get("published_parsed") or updated_parsed)
    raw_stamp = updated or e.get("published") or ""
    stamp = raw_stamp or hashlib.sha256(f"{e.get('title')}\n{content}".encode()).hexdigest()[:16]
    if not guid:  # no id and no link: its content is all that identifies it
        guid = "sha256:" + hashlib.sha256(f"{e.get('title')}\n{content}".encode()).hexdigest()[:32]
    return Entry(guid=guid, link=link, title=str(e.get("title") or "").strip(), published=date,
                 stamp=str(stamp), author=e.get("author"), content_html=content)


def entry_article(entry: Entry, feed_url: str) -> Article:
    """The entry's own content as an article (when its page cannot be had)."""
    source = canonical_url(entry.link) if entry.link else feed_url
    text = _html_text(entry.content_html)
    if not text:
        raise LoadError(entry.link or entry.guid, "the feed entry has no text of its own")
    meta = {"author": entry.author} if entry.author else {}
    return make_article(text, title=entry.title or text.split("\n", 1)[0], source=source,
                        key=source if entry.link else entry.guid, published=entry.published,
                        meta=meta)


def _html_text(html: str) -> str:
    import trafilatura

    if "<" not in html:
        return normalise(html)
    wrapped = f"<html><body><article>{html}</article></body></html>"
    try:
        doc = trafilatura.bare_extraction(wrapped, include_comments=False, include_tables=False)
        text = (doc.text if doc else "") or trafilatura.html2txt(wrapped)
    except Exception:  # broken markup in an entry: no fallback text, not a crash
        return ""
    return normalise("\n\n".join((text or "").splitlines()))


def collect(urls: list[str], fetcher: Fetcher, store: Any, state: FeedState,
            report: IngestReport, conditional: bool = False) -> list[Article]:
    """Articles to ingest from feeds; failures, skips and notes go to `report`."""
    articles: list[Article] = []
    for url in urls:
        saved = state.get(url) if conditional else {}
        try:
            feed = fetch_feed(fetcher, url, saved.get("etag"), saved.get("last_modified"))
        except LoadError as e:
            report.failed.append(IngestFailure(redact(url.strip()), e.reason))
            continue
        state.put(url, feed.etag, feed.last_modified)
        if feed.not_modified:
            report.notes.append(f"{url}: feed not modified since the last poll")
            continue
        for entry in feed.entries:
            article = _entry_to_article(entry, url, fetcher, store, report)
            if article is not None:
                articles.append(article)
    return articles


def _entry_to_article(entry: Entry, feed_url: str, fetcher: Fetcher, store: Any,
                      report: IngestReport) -> Article | None:
    known_id = store.find_guid(entry.guid)
    known = store.article(known_id) if known_id else None
    if known and known.meta.get("via") == "page" and \
            (known.meta.get("feed_stamps") or {}).get(entry.guid) == entry.stamp:
        report.unchanged.append(known.source)
        return None
    via, why = "page", "the entry has no link"
    article = None
    if entry.link:
        try:
            article = load_url(fetcher, entry.link)
        except LoadError as e:
            why = e.reason
    if article is None:
        try:
            article = entry_article(entry, feed_url)
        except LoadError as e:
            report.failed.append(IngestFailure(redact(entry.link or entry.guid),
                                               f"{why}; {e.reason}"))
            return None
        via = "feed"
        report.notes.append(f"{redact(entry.link or entry.guid)}: {why}; used the feed's own text")
    if known is not None:
        article = dataclasses.replace(article, article_id=known.article_id)  # replaces it
        stored: Article | None = known
    else:  # the same page known by its URL, or the same text known under another URL
        twin = store.find_hash(article.content_hash)
        stored = store.article(article.article_id) or (store.article(twin) if twin else None)
    feed_meta = _feed_meta(stored.meta if stored else {}, entry, feed_url, via)
    if stored is not None and stored.content_hash == article.content_hash:
        # Same text: nothing to re-embed, but remember the GUID and its stamp so the next
        # run skips this entry without fetching its page.
        store.set_meta(stored.article_id, {**stored.meta, **feed_meta})
        report.unchanged.append(stored.source)
        return None
    meta = {**article.meta, **feed_meta}
    if entry.author and "author" not in meta:
        meta["author"] = entry.author
    return dataclasses.replace(article, meta=meta, title=article.title or entry.title,
                               published=article.published or entry.published)


def _feed_meta(old: dict[str, Any], entry: Entry, feed_url: str, via: str) -> dict[str, Any]:
    """Feed fields of an article: every GUID it is known under (one story can be in several
    feeds) with the stamp last seen for each, the last feed, and where its text came from."""
    guids = list(dict.fromkeys([*(old.get("guids") or []), entry.guid]))
    stamps = {**(old.get("feed_stamps") or {}), entry.guid: entry.stamp}
    return {"guids": guids, "feed_stamps": stamps, "feed": feed_url, "via": via}


def watch(poll: Callable[[], IngestReport], every: float,
          on_poll: Callable[[int, IngestReport], None], max_polls: int | None = None,
          stop: threading.Event | None = None) -> int:
    """Call `poll` every `every` seconds until `max_polls` or `stop` is set; returns the
    number of polls. A poll that runs longer than `every` is followed at once by the next,
    never overlapped by it."""
    stop = stop or threading.Event()
    polls = 0
    while not stop.is_set():
        started = time.monotonic()
        report = poll()
        polls += 1
        on_poll(polls, report)
        if max_polls is not None and polls >= max_polls:
            break
        stop.wait(max(0.0, every - (time.monotonic() - started)))
    return polls


def _date(parsed: Any) -> str | None:
    try:
        return dt.date(*parsed[:3]).isoformat() if parsed else None
    except (TypeError, ValueError):
        return None


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
