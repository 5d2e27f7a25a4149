"""The `Bot` facade: the one entry point the CLI, the chat, Slack and Python users share.

Interfaces render its typed results; none of them talks to Chroma or a model directly.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable

from bot.config import Settings
from bot.embeddings import Embedder, make_embedder
from bot.schema import Answer, Article, Draft, IngestReport, Passage
from bot.retrieval import Filters, Retriever
from bot.store import Stats, Store
from bot import citations, ingest

if TYPE_CHECKING:
    from bot.extractive import ExtractiveAnswerer
    from bot.reindex import ReindexReport


class Bot:
    def __init__(self, settings: Settings | None = None):
        self.settings = settings or Settings.load()
        self._embedder: Embedder | None = None
        self._stores: dict[str, Store] = {}
        self._retrievers: dict[str, Retriever] = {}
        self._answerers: dict[str, Any] = {}

    @classmethod
    def from_env(cls, **overrides) -> "Bot":
        """Settings from `.env`, the environment and keyword overrides (field names)."""
        return cls(Settings.load(overrides))

    # -- plumbing (lazy: `bot --help` and `bot config` load no model) ----------------------

    @property
    def embedder(self) -> Embedder:
        if self._embedder is None:
            self._embedder = make_embedder(self.settings)
        return self._embedder

    def preload(self) -> threading.Thread | None:
        """Load the local embedding model in the background, so that it overlaps with importing
        Chroma and opening the store (the cold start of `bot ask`). Join the thread before
        exiting; a failure here is left for the real call to report."""
        if self.settings.embeddings != "local":
            return None
        embedder = self.embedder

        def warm() -> None:
            try:
                embedder.embed_query("warm up")
            except Exception:
                pass

        thread = threading.Thread(target=warm, name="bot-preload", daemon=True)
        thread.start()
        return thread

    def store(self, collection: str | None = None) -> Store:
        name = collection or self.settings.collection
        if name not in self._stores:
            self._stores[name] = Store(self.settings, self.embedder.name, name)
        return self._stores[name]

    def _extractive(self, collection: str) -> "ExtractiveAnswerer":
        from bot.extractive import ExtractiveAnswerer

        if collection not in self._answerers:
            self._answerers[collection] = ExtractiveAnswerer(self.embedder,
                                                             self.retriever(collection).idf)
        return self._answerers[collection]

    def retriever(self, collection: str | None = None) -> Retriever:
        name = collection or self.settings.collection
        if name not in self._retrievers:
            self._retrievers[name] = Retriever(self.store(name), self.embedder)
        return self._retrievers[name]

    # -- articles -------------------------------------------------------------------------

    def ingest(self, paths: Iterable[str | Path], collection: str | None = None,
               progress: ingest.Progress | None = None) -> IngestReport:
        """Ingest files and folders; bad inputs are reported, the rest still goes in."""
        report = IngestReport()
        articles = ingest.load_paths(paths, self.settings, report)
        report.merge(self.ingest_articles(articles, collection, progress))
        return report

    def ingest_articles(self, articles: list[Article], collection: str | None = None,
                        progress: ingest.Progress | None = None) -> IngestReport:
        """Ingest already-loaded articles (files, URLs, feeds all end here)."""
        return ingest.ingest_articles(articles, self.store(collection), self.embedder,
                                      self.settings, progress)

    def article(self, article_id: str, collection: str | None = None) -> Article | None:
        return self.store(collection).article(article_id)

    def articles(self, collection: str | None = None, with_text: bool = True) -> list[Article]:
        return self.store(collection).articles(with_text=with_text)

    def forget(self, article_id: str, collection: str | None = None) -> bool:
        return self.store(collection).forget(article_id)

    # -- maintenance ----------------------------------------------------------------------

    def stats(self, collection: str | None = None) -> Stats:
        """Articles, chunks, store size and embedding model (works even when the configured
        model differs from the one the store was built with)."""
        name = collection or self.settings.collection
        store = self._stores.get(name) or Store(self.settings, self.embedder.name, name,
                                                check_model=False)
        return store.stats()

    def reindex(self, collection: str | None = None,
                progress: ingest.Progress | None = None) -> "ReindexReport":
        """Re-chunk and re-embed every article with the configured embedder and chunk
        settings (after changing BOT_EMBEDDINGS, say); articles are kept."""
        from bot.reindex import reindex

        name = collection or self.settings.collection
        report = reindex(self.settings, self.embedder, name, progress)
        for cache in (self._stores, self._retrievers, self._answerers):
            cache.pop(name, None)
        return report

    # -- questions ------------------------------------------------------------------------

    def retrieve(self, question: str, k: int | None = None, filters: Filters | None = None,
                 collections: list[str] | None = None) -> list[Passage]:
        """Passages from one or more collections, best first."""
        k = k or self.settings.top_k
        names = collections or [self.settings.collection]
        retrievers = [self.retriever(name) for name in names]  # store errors before model calls
        qv = self.embedder.embed_query(question)
        found: list[Passage] = []
        for retriever in retrievers:
            found += retriever.retrieve(question, k, filters, query_vector=qv)
        found.sort(key=lambda p: p.score, reverse=True)
        return [Passage(p.chunk, p.article, p.score, rank) for rank, p in enumerate(found[:k])]

    def ask(self, question: str, k: int | None = None, filters: Filters | None = None,
            collections: list[str] | None = None) -> Answer:
        """Answer from the articles; every citation verified against the stored text."""
        t0 = time.perf_counter()
        question = question.strip()
        passages = self.retrieve(question, k, filters, collections)
        t1 = time.perf_counter()
        names = collections or [self.settings.collection]
        if passages:
            draft = self._extractive(names[0]).answer(question, passages)
        else:
            empty = all(self.store(n).count_chunks() == 0 for n in names)
            draft = Draft(statements=[], refused=True, notice=(
                f"No articles in {', '.join(names)} yet; add some with: bot ingest PATH"
                if empty else None))
        t2 = time.perf_counter()
        by_id = {p.article.article_id: p.article for p in passages}
        answer = citations.verify(question, draft, by_id.get)
        t3 = time.perf_counter()
        answer.timings_ms = {"retrieve": (t1 - t0) * 1000, "answer": (t2 - t1) * 1000,
                             "verify": (t3 - t2) * 1000, "total": (t3 - t0) * 1000}
        return answer
