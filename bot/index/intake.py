"""What comes in, on its way to `ingest.ingest_articles`: files and folders, web pages (through
the SSRF guard) and feed entries, loaded into articles; each bad input goes to the report, the
rest still goes in."""

from __future__ import annotations

from pathlib import Path
from typing import Callable, Iterable

from bot.config import Settings
from bot.index import ingest
from bot.index.store import Store
from bot.schema import Article, IngestReport

Ingest = Callable[[list[Article]], IngestReport]  # loaded articles -> the store (Bot.ingest_articles)


def from_paths(paths: Iterable[str | Path], settings: Settings, put: Ingest) -> IngestReport:
    """Files, folders and http(s) URLs (anything written scheme://... is taken as a URL)."""
    from bot.sources.articles import looks_like_url

    items = list(paths)
    urls = [str(p).strip() for p in items if looks_like_url(p)]
    report = IngestReport()
    articles = ingest.load_paths([p for p in items if not looks_like_url(p)], settings, report)
    if urls:
        from bot.sources.fetch import load_urls

        articles += load_urls(urls, settings, report)
    if articles:  # nothing loaded (a mistyped path): no store to open, no model to load
        report.merge(put(articles))
    return report


def from_urls(urls: Iterable[str], settings: Settings, put: Ingest) -> IngestReport:
    """Web pages (HTML, PDF, text) fetched through the SSRF guard."""
    from bot.sources.fetch import load_urls

    report = IngestReport()
    articles = load_urls([str(u).strip() for u in urls], settings, report)
    report.merge(put(articles))
    return report


def from_feeds(urls: Iterable[str], settings: Settings, store: Callable[[], Store], put: Ingest,
               conditional: bool = False) -> IngestReport:
    """The entries of RSS/Atom feeds, deduplicated against `store()`; with `conditional`, a feed
    unchanged since the last fetch (ETag/Last-Modified) is skipped."""
    from bot.sources import feeds
    from bot.sources.fetch import Fetcher

    report = IngestReport()
    state = feeds.FeedState(Path(settings.store_dir) / feeds.STATE_FILE)
    with Fetcher(settings) as fetcher:
        articles = feeds.collect([str(u).strip() for u in urls], fetcher, store(), state, report,
                                 conditional)
    report.merge(put(articles))
    return report
