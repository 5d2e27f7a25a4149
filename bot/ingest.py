"""load → chunk → embed → store, for a batch of sources.

Articles are embedded in groups, so short articles share length-sorted batches (the embedder
is the cost of ingest), and each article is then written on its own so a failure or a kill
affects only that article. Unchanged articles are found by content hash and skip embedding.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable, Iterable

import numpy as np

from bot.articles import LoadError, expand, load_file
from bot.chunking import chunk_article
from bot.config import Settings
from bot.embeddings import Embedder
from bot.errors import BotError
from bot.schema import Article, IngestFailure, IngestReport
from bot.store import Store

GROUP_CHUNKS = 256  # chunks embedded together: big enough to batch well, small enough for memory

Progress = Callable[[int, int], None]  # (done, total)


def load_paths(paths: Iterable[str | Path], settings: Settings,
               report: IngestReport) -> list[Article]:
    """Articles from files and folders; bad inputs go to the report, one line each."""
    articles: list[Article] = []
    max_bytes = int(settings.max_file_mb * 1_000_000)
    for item in expand(list(paths)):
        if item.error:
            report.failed.append(IngestFailure(item.error.source, item.error.reason))
            continue
        assert item.path is not None
        if item.skipped:
            kind = item.path.suffix.lower()
            report.skipped[kind] = report.skipped.get(kind, 0) + 1
            continue
        try:
            articles.append(load_file(item.path, max_bytes))
        except LoadError as e:
            report.failed.append(IngestFailure(e.source, e.reason))
    return articles


def ingest_articles(articles: list[Article], store: Store, embedder: Embedder, settings: Settings,
                    progress: Progress | None = None) -> IngestReport:
    report = IngestReport()
    store.repair()  # finish off anything an interrupted ingest left pending
    todo: list[tuple[Article, str]] = []  # (article, "added" | "updated")
    seen: set[str] = set()  # article ids and content hashes already handled in this batch
    for article in articles:
        if article.article_id in seen or article.content_hash in seen:
            report.unchanged.append(article.source)
            continue
        seen.update((article.article_id, article.content_hash))
        stored = store.stored_hash(article.article_id)
        if stored == article.content_hash:
            report.unchanged.append(article.source)
        elif stored is None and store.find_hash(article.content_hash):
            report.unchanged.append(article.source)  # same text already stored from another source
        else:
            todo.append((article, "added" if stored is None else "updated"))
    total = len(todo)
    done = 0
    if progress:
        progress(0, total)
    for group in _groups(todo, settings):
        chunked = [(a, kind, chunk_article(a.article_id, a.text, settings.chunk_size,
                                           settings.chunk_overlap)) for a, kind in group]
        try:
            vectors = embedder.embed([c.text for _, _, chunks in chunked for c in chunks])
        except BotError as e:
            report.failed += [IngestFailure(a.source, str(e)) for a, _, _ in chunked]
            continue
        offset = 0
        for article, kind, chunks in chunked:
            part = vectors[offset:offset + len(chunks)]
            offset += len(chunks)
            _store_one(store, article, kind, chunks, part, report)
            done += 1
            if progress:
                progress(done, total)
    return report


def _store_one(store: Store, article: Article, kind: str, chunks: list, vectors: np.ndarray,
               report: IngestReport) -> None:
    if not chunks:
        report.failed.append(IngestFailure(article.source, "no text to ingest"))
        return
    try:
        store.put(article, chunks, vectors)
    except BotError as e:
        report.failed.append(IngestFailure(article.source, str(e)))
        return
    getattr(report, kind).append(article.source)
    report.chunks += len(chunks)


def _groups(todo: list[tuple[Article, str]], settings: Settings) -> Iterable[list[tuple[Article, str]]]:
    group: list[tuple[Article, str]] = []
    size = 0
    budget = GROUP_CHUNKS * settings.chunk_size
    for item in todo:
        group.append(item)
        size += len(item[0].text)
        if size >= budget:
            yield group
            group, size = [], 0
    if group:
        yield group
