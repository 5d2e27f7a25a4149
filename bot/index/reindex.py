"""`bot reindex`: re-chunk and re-embed every article into fresh collections, then switch.

The articles' canonical texts are in the store, so nothing has to be read from disk again:
  1. build new chunk and article collections beside the live ones (readers keep answering
     from the old ones meanwhile), with the configured embedder and chunk settings;
  2. catch up with anything ingested or forgotten while that ran;
  3. switch every process over with one write to the state collection;
  4. catch up once more (a writer may have finished on the old collections just before the
     switch), then delete the old collections.
A crash before step 3 leaves the live store untouched (the next reindex deletes the partial
build); after it, the new collections are complete. Reindex is maintenance: run one at a time,
ideally while nothing else ingests (anything written in the last moments before the old
collections are deleted would have to be ingested again).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable

from bot.index.chunking import chunk_article
from bot.config import Settings
from bot.index.embeddings import Embedder
from bot.schema import Article
from bot.index.store import Store

Progress = Callable[[int, int], None]
GROUP_CHARS = 200_000  # articles embedded together (length-sorted batches across articles)


@dataclass
class ReindexReport:
    articles: int
    chunks: int
    embedding_model: str
    previous_model: str
    seconds: float

    def summary(self) -> str:
        change = (f"{self.previous_model} -> {self.embedding_model}"
                  if self.previous_model != self.embedding_model else self.embedding_model)
        return (f"reindexed {self.articles} articles into {self.chunks} chunks ({change}) "
                f"in {self.seconds:.1f} s")

    def to_dict(self) -> dict:
        return dict(self.__dict__)


def reindex(settings: Settings, embedder: Embedder, name: str | None = None,
            progress: Progress | None = None) -> ReindexReport:
    t0 = time.perf_counter()
    live = Store(settings, embedder.name, name, check_model=False)
    previous_model = live.built_with()
    live.repair()
    live.drop_unused()  # a crashed reindex's partial build
    target = Store(settings, embedder.name, live.name, check_model=False, layout=live.new_layout())
    done: dict[str, str] = {}  # article id -> content hash written to the new collections
    todo = list(live.article_keys())
    if progress:
        progress(0, len(todo))
    chunks = _copy(live, target, settings, embedder, done, progress, len(todo))
    chunks += _catch_up(live, target, settings, embedder, done)
    old = live.switch_to(target.layout)
    old_store = Store(settings, embedder.name, live.name, check_model=False, layout=old)
    chunks += _catch_up(old_store, target, settings, embedder, done)
    live.drop_unused()
    return ReindexReport(len(done), target.count_chunks(), embedder.name, previous_model,
                         time.perf_counter() - t0)


def _copy(source: Store, target: Store, settings: Settings, embedder: Embedder,
          done: dict[str, str], progress: Progress | None, total: int,
          only: set[str] | None = None) -> int:
    """Chunk, embed and write every ready article of `source` (or those in `only`)."""
    written = 0
    group: list[Article] = []
    size = 0
    for article in source.iter_articles(None if only is None else sorted(only)):
        group.append(article)
        size += len(article.text)
        if size >= GROUP_CHARS:
            written += _write(group, target, settings, embedder, done)
            group, size = [], 0
            if progress:
                progress(len(done), total)
    written += _write(group, target, settings, embedder, done)
    if progress:
        progress(len(done), total)
    return written


def _write(articles: list[Article], target: Store, settings: Settings, embedder: Embedder,
           done: dict[str, str]) -> int:
    chunked = [(a, chunk_article(a.article_id, a.text, settings.chunk_size, settings.chunk_overlap))
               for a in articles]
    chunked = [(a, c) for a, c in chunked if c]
    vectors = embedder.embed([c.text for _, chunks in chunked for c in chunks])
    offset = 0
    for article, chunks in chunked:
        target.put(article, chunks, vectors[offset:offset + len(chunks)], keep_ingested_at=True)
        offset += len(chunks)
        done[article.article_id] = article.content_hash
    return offset


def _catch_up(source: Store, target: Store, settings: Settings, embedder: Embedder,
              done: dict[str, str]) -> int:
    """Make `target` hold exactly the ready articles of `source`, by content."""
    live = {a: k.content_hash for a, k in source.article_keys().items()}
    gone = [a for a in done if a not in live]
    target.delete_articles(gone)
    for a in gone:
        del done[a]
    changed = {a for a, h in live.items() if done.get(a) != h}
    if not changed:
        return 0
    return _copy(source, target, settings, embedder, done, None, 0, only=changed)
