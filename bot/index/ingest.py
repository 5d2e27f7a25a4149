"""load → chunk → embed → store, for a batch of sources.

Articles are embedded in groups, so short articles share length-sorted batches (the embedder
is the cost of ingest), and each article is then written on its own so a failure or a kill
affects only that article. Unchanged articles are found by content hash and skip embedding.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable, Iterable

import numpy as np

from bot.sources.common import LoadError
from bot.sources.articles import expand, load_file
from bot.index.chunking import chunk_article
from bot.config import Settings
from bot.index.embeddings import Embedder
from bot.errors import BotError
from bot.schema import Article, Chunk, IngestFailure, IngestReport
from bot.index.store import Store

GROUP_CHUNKS = 256  # chunks embedded together: big enough to batch well, small enough for memory
PROGRESS_SLICE = 32  # texts per embedding call, after which progress is told

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
    """Store the articles that are new or changed. `progress(done, total)` counts chunks
    embedded, so it moves within one large article too."""
    report = IngestReport()
    store.repair()  # finish off anything an interrupted ingest left pending
    todo: list[tuple[Article, str, list[Chunk]]] = []  # (article, "added" | "updated", chunks)
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
            chunks = chunk_article(article.article_id, article.text, settings.chunk_size,
                                   settings.chunk_overlap)
            todo.append((article, "added" if stored is None else "updated", chunks))
    counter = _Counter(sum(len(chunks) for _, _, chunks in todo), progress)
    for group in _groups(todo):
        try:
            vectors = _embed([c.text for _, _, chunks in group for c in chunks], embedder,
                             settings, counter)
        except BotError as e:
            report.failed += [IngestFailure(a.source, str(e)) for a, _, _ in group]
            counter.add(sum(len(chunks) for _, _, chunks in group))
            continue
        offset = 0
        for article, kind, chunks in group:
            part = vectors[offset:offset + len(chunks)]
            offset += len(chunks)
            _store_one(store, article, kind, chunks, part, report)
    return report


class _Counter:
    """Chunks done out of `total`, told to `progress` as they are embedded."""

    def __init__(self, total: int, progress: Progress | None):
        self.total, self.done, self.progress = total, 0, progress
        self.add(0)

    def add(self, n: int) -> None:
        self.done += n
        if self.progress:
            self.progress(self.done, self.total)


def _embed(texts: list[str], embedder: Embedder, settings: Settings, counter: _Counter) -> np.ndarray:
    """Embed a group's texts a slice at a time, counting progress after each. The texts are
    sorted by length here, as the local embedder sorts them inside one call, so slicing costs
    no padding; a slice is a few batches (one request to a remote embedder)."""
    order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
    step = max(PROGRESS_SLICE, settings.embed_batch)
    parts: list[np.ndarray] = []
    for b in range(0, len(order), step):
        parts.append(embedder.embed([texts[i] for i in order[b:b + step]]))
        counter.add(len(order[b:b + step]))
    if not parts:
        return np.zeros((0, 0), dtype=np.float32)
    vectors = np.empty((len(texts), parts[0].shape[1]), dtype=np.float32)
    vectors[order] = np.concatenate(parts)
    return vectors


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


def _groups(todo: list[tuple[Article, str, list[Chunk]]]) -> Iterable[list[tuple[Article, str, list[Chunk]]]]:
    """Articles in groups of about GROUP_CHUNKS chunks, embedded together."""
    group: list[tuple[Article, str, list[Chunk]]] = []
    size = 0
    for item in todo:
        group.append(item)
        size += len(item[2])
        if size >= GROUP_CHUNKS:
            yield group
            group, size = [], 0
    if group:
        yield group
