"""Chroma persistence: chunks with vectors and offsets, and each article's canonical text.

Per bot collection NAME there are three Chroma collections in the same database, so a Chroma
server holds everything any instance needs to verify a citation:
  bot-NAME-state     no records; its metadata names the two live collections below, so that
                     `bot reindex` can build new ones beside them and switch in one write
  bot-NAME-chunks    one record per chunk (id `article_id:chunk_no`), vector + offsets
  bot-NAME-articles  one record per article: text as the document, metadata, and the mean of
                     its chunk vectors (used to cluster articles for briefings)
(after a reindex the live pair is `bot-NAME-chunks-rXXXXXXXX` / `bot-NAME-articles-rXXXXXXXX`).

Writes follow a crash-safe protocol (bot/index/writes.py: pending records, two slots per
article, `repair()`); several processes share a store through its generation (bot/index/sync.py);
connecting is bot/index/chroma.py, and the record format bot/index/records.py.
"""

from __future__ import annotations

import re
import threading
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from bot.config import Settings
from bot.index.chroma import StoreError, is_not_found, one_line, server_error
from bot.index.records import (PAGE, ArticleKey, article_key, record_id, slot_of, to_article,
                               to_chunk)
from bot.index.sync import Following, current_client, client_key
from bot.index.writes import Writes, writer_gone
from bot.schema import Article, Chunk

EF_SEARCH = 128  # Chroma's default (10) gives poor recall; measured in BENCHMARKS.md
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,60}$")


@dataclass(frozen=True)
class Stats:
    collection: str
    articles: int
    chunks: int
    embedding_model: str
    location: str
    size_bytes: int | None  # None on a Chroma server (it does not say)
    configured_model: str = ""  # what the bot is set to use; differs until `bot reindex`
    # Writes in progress, or left by a crash (`stale`, which `repair()` removes): their
    # articles are not counted above, nor their chunks.
    pending_articles: int = 0
    pending_chunks: int = 0
    stale_articles: int = 0

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


class Store(Writes, Following):
    """One bot collection (articles + chunks) in a Chroma database."""

    def __init__(self, settings: Settings, embedding_model: str, name: str | None = None,
                 check_model: bool = True, layout: dict[str, str] | None = None):
        """`layout` pins the store to given chunk/article collections (a reindex builds into
        new ones that way); normally they are looked up in the state collection."""
        self.settings = settings
        self.name = name or settings.collection
        if not _NAME.match(self.name):
            raise StoreError(f"collection name {self.name!r}: use 1-61 letters, digits, '-' or '_'")
        self.embedding_model = embedding_model
        self._key = client_key(settings)
        self.client, self._epoch = current_client(settings)
        self._rebinding = threading.RLock()
        self._pinned = layout is not None
        self._check = check_model
        self._layout: dict[str, str] = {}
        self._cols: dict[str, Any] = {}
        self._seen: str | None = None  # the generation this process last saw
        if layout is not None:
            self._bind(layout)
        else:
            self._bind(self._read_layout())
        if not settings.chroma_url:
            self._seen = self.generation()

    # -- setup ----------------------------------------------------------------------------

    @property
    def layout(self) -> dict[str, str]:
        """The chunk and article collections this store reads and writes."""
        return dict(self._layout)

    @property
    def location(self) -> str:
        return self.settings.chroma_url or str(Path(self.settings.store_dir).resolve() / "chroma")

    def default_layout(self) -> dict[str, str]:
        return {"chunks": f"bot-{self.name}-chunks", "articles": f"bot-{self.name}-articles"}

    def _state(self) -> Any:
        try:
            return self._retry(self.client.get_collection, f"bot-{self.name}-state",
                               embedding_function=None)
        except Exception as e:
            if not is_not_found(e):
                raise self._error(e) from None
        try:
            return self.client.get_or_create_collection(
                f"bot-{self.name}-state", embedding_function=None, metadata=self.default_layout())
        except Exception as e:
            raise self._error(e) from None

    def _read_layout(self) -> dict[str, str]:
        meta = self._state().metadata or {}
        layout = self.default_layout()
        return {kind: str(meta.get(kind) or layout[kind]) for kind in layout}

    def _bind(self, layout: dict[str, str], force: bool = False) -> None:
        if layout == self._layout and not force:
            return
        # Only the first collections are created on demand (a reindex creates its own): a
        # reader that looked just before a switch must not bring a deleted one back.
        create = self._pinned or layout == self.default_layout()
        try:
            self._cols = {kind: self._collection(layout[kind], create) for kind in ("chunks", "articles")}
        except StoreError:
            fresh = self._read_layout()
            if create or fresh == layout:
                raise
            layout = fresh  # switched meanwhile: the live collections exist
            self._cols = {kind: self._collection(layout[kind], False) for kind in ("chunks", "articles")}
        self._layout = dict(layout)
        if self._check:  # also when a reindex elsewhere switched to another model
            self._check_model()

    @property
    def _chunks(self) -> Any:
        self._current()
        return self._cols["chunks"]

    @property
    def _articles(self) -> Any:
        self._current()
        return self._cols["articles"]

    def _collection(self, full_name: str, create: bool = True) -> Any:
        try:
            if not create:
                return self.client.get_collection(full_name, embedding_function=None)
            return self.client.get_or_create_collection(
                full_name,
                embedding_function=None,
                configuration={"hnsw": {"space": "cosine", "ef_search": EF_SEARCH,
                                        "ef_construction": EF_SEARCH}},
                metadata={"embedding_model": self.embedding_model, "generation": "new"},
            )
        except StoreError:
            raise
        except Exception as e:
            raise self._error(e) from None

    def _error(self, e: BaseException) -> StoreError:
        if self.settings.chroma_url:
            return server_error(self.settings.chroma_url.rstrip("/"), e)
        return StoreError(f"the store at {self.location} failed ({type(e).__name__}: {one_line(str(e), 120)})")

    def built_with(self) -> str:
        """The embedding model the live chunks were made with."""
        self._current()
        meta = self._call(self.client.get_collection, self._layout["chunks"],
                          embedding_function=None).metadata or {}
        return str(meta.get("embedding_model") or self.embedding_model)

    def _check_model(self) -> None:
        built_with = (self._cols["chunks"].metadata or {}).get("embedding_model")
        if built_with and built_with != self.embedding_model and self.count_chunks() > 0:
            raise StoreError(
                f"collection '{self.name}' was built with embeddings '{built_with}' but the bot is "
                f"configured for '{self.embedding_model}'; set BOT_EMBEDDINGS/BOT_EMBEDDING_MODEL "
                f"back, or run `bot reindex` to rebuild it with the new model (articles are kept)")

    # -- reads ----------------------------------------------------------------------------

    def article(self, article_id: str) -> Article | None:
        got = self._call(self._articles.get, ids=[article_id], include=["documents", "metadatas"])
        if not got["ids"] or got["metadatas"][0].get("state") != "ready":
            return None
        return to_article(got["ids"][0], got["documents"][0], got["metadatas"][0])

    def articles(self, with_text: bool = False) -> list[Article]:
        include = ["documents", "metadatas"] if with_text else ["metadatas"]
        got = self._call(self._articles.get, where={"state": "ready"}, include=include)
        docs = got.get("documents") or [""] * len(got["ids"])
        found = [to_article(i, d or "", m) for i, d, m in zip(got["ids"], docs, got["metadatas"])]
        return sorted(found, key=lambda a: (a.published or "", a.title))

    def catalog(self) -> list[tuple[Article, int]]:
        """Every ready article (without its text) with its number of chunks, in one read."""
        got = self._call(self._articles.get, where={"state": "ready"}, include=["metadatas"])
        return [(to_article(i, "", m), int(m.get("n_chunks", 0))) for i, m in zip(got["ids"], got["metadatas"])]

    def iter_articles(self, ids: list[str] | None = None, page: int = 200) -> Iterator[Article]:
        """Every ready article (or those of `ids`) with its text, a page at a time (memory
        stays flat)."""
        ids = sorted(self.article_keys() if ids is None else ids)
        for b in range(0, len(ids), page):
            got = self._call(self._articles.get, ids=ids[b:b + page], include=["documents", "metadatas"])
            for i, d, m in zip(got["ids"], got["documents"], got["metadatas"]):
                if m.get("state") == "ready":
                    yield to_article(i, d or "", m)

    def article_keys(self) -> dict[str, ArticleKey]:
        """Every ready article's id and version, from metadata only (cheap on a big store)."""
        out: dict[str, ArticleKey] = {}
        offset = 0
        while True:
            got = self._call(self._articles.get, where={"state": "ready"}, include=["metadatas"],
                             limit=PAGE * 5, offset=offset)
            for i, m in zip(got["ids"], got["metadatas"]):
                out[i] = article_key(i, m)
            if len(got["ids"]) < PAGE * 5:
                return out
            offset += PAGE * 5

    def ready_ids(self) -> set[str]:
        """Ids of every ready article (ids only: fast even with 10k articles)."""
        out: set[str] = set()
        offset = 0
        while True:
            got = self._call(self._articles.get, where={"state": "ready"}, include=[],
                             limit=PAGE * 25, offset=offset)
            out.update(got["ids"])
            if len(got["ids"]) < PAGE * 25:
                return out
            offset += PAGE * 25

    def article_changes(self, held: dict[str, str]) -> tuple[set[str], dict[str, ArticleKey]]:
        """Against `held` (article id -> content hash, what a cache holds): the held ids no
        longer ready, and the keys of ready articles that are new or whose text changed.

        Built from ids-only reads (reading the metadata of 10k articles takes seconds): the
        ready ids give what came and went, and "ready with a content hash not among the held
        ones" gives what changed in place."""
        ready = self.ready_ids()
        gone = set(held) - ready
        suspects = ready - set(held)
        hashes = sorted(set(held.values()))
        changed: set[str] | None = None
        for b in range(0, len(hashes), 5000):  # NOT IN (a ∪ b) == NOT IN a ∩ NOT IN b
            got = self._call(self._articles.get, include=[], where={"$and": [
                {"state": "ready"}, {"content_hash": {"$nin": hashes[b:b + 5000]}}]})
            changed = set(got["ids"]) if changed is None else changed & set(got["ids"])
        suspects |= (changed or set()) & set(held)
        keys: dict[str, ArticleKey] = {}
        ids = sorted(suspects)
        for b in range(0, len(ids), PAGE):
            got = self._call(self._articles.get, ids=ids[b:b + PAGE], include=["metadatas"])
            for i, m in zip(got["ids"], got["metadatas"]):
                if m and m.get("state") == "ready":
                    keys[i] = article_key(i, m)
        return gone, keys

    def article_vectors(self, ids: list[str]) -> dict[str, np.ndarray]:
        got = self._call(self._articles.get, ids=ids, include=["embeddings"])
        return {i: np.asarray(v, dtype=np.float32) for i, v in zip(got["ids"], got["embeddings"])}

    def find_hash(self, content_hash: str) -> str | None:
        """The id of a ready article with this exact content, if any (dedup across sources)."""
        got = self._call(self._articles.get, where={"$and": [{"content_hash": content_hash},
                                                              {"state": "ready"}]}, include=[])
        return got["ids"][0] if got["ids"] else None

    def find_guid(self, guid: str) -> str | None:
        """The id of a ready article known under this feed-entry GUID, if any."""
        if not guid:
            return None
        got = self._call(self._articles.get, where={"$and": [{"guids": {"$contains": guid}},
                                                              {"state": "ready"}]}, include=[])
        return got["ids"][0] if got["ids"] else None

    def stored_hash(self, article_id: str) -> str | None:
        got = self._call(self._articles.get, ids=[article_id], include=["metadatas"])
        if got["ids"] and got["metadatas"][0].get("state") == "ready":
            return got["metadatas"][0].get("content_hash")
        return None

    def count_chunks(self) -> int:
        return self._call(self._chunks.count)

    def query(self, vector: np.ndarray, k: int, where: dict | None = None) -> list[tuple[Chunk, float]]:
        """Nearest chunks by cosine similarity (1 - distance)."""
        if k <= 0:
            return []
        # No count() first: Chroma returns what there is when asked for more, and counting
        # costs ~20 ms per question at 100k chunks.
        got = self._call(self._chunks.query, query_embeddings=[vector.tolist()], n_results=k,
                         where=where, include=["documents", "metadatas", "distances"])
        # A chunk deleted by another process (an update, `bot forget`) can still be in this
        # process's copy of the vector index: Chroma returns its id with no record. Skip it.
        hits = [(to_chunk(i, d, m), slot_of(m), 1.0 - dist) for i, d, m, dist in
                zip(got["ids"][0], got["documents"][0], got["metadatas"][0], got["distances"][0])
                if m is not None and d is not None]
        if any(slot for _, slot, _ in hits):
            # Chunks of an article in slot 1: one may be of an update in progress (or cut
            # short), beside the live one with the same id; keep the live slot's only.
            live = self._live_slots([c.article_id for c, _, _ in hits])
            hits = [h for h in hits if h[1] == live.get(h[0].article_id, h[1])]
        return [(chunk, score) for chunk, _, score in hits]

    def iter_chunks(self, page: int = 5000) -> Iterator[tuple[Chunk, dict]]:
        """Every chunk with its metadata, paged."""
        offset = 0
        while True:
            got = self._call(self._chunks.get, include=["documents", "metadatas"],
                             limit=page, offset=offset)
            for i, d, m in zip(got["ids"], got["documents"], got["metadatas"]):
                yield to_chunk(i, d, m), m
            if len(got["ids"]) < page:
                return
            offset += page

    def chunks_for_articles(self, article_ids: list[str], page: int = 200) -> Iterator[Chunk]:
        """The chunks of these articles, a page of articles per call."""
        for b in range(0, len(article_ids), page):
            part = article_ids[b:b + page]
            live = self._live_slots(part)  # an update in progress has chunks in both slots
            where = {"article_id": part[0]} if len(part) == 1 else {"article_id": {"$in": part}}
            got = self._call(self._chunks.get, where=where, include=["documents", "metadatas"])
            for i, d, m in zip(got["ids"], got["documents"], got["metadatas"]):
                if slot_of(m) == live.get(m["article_id"], slot_of(m)):
                    yield to_chunk(i, d, m)

    def chunks_by_ids(self, chunk_ids: list[str]) -> dict[str, Chunk]:
        """Live chunks by their `article_id:chunk_no` ids."""
        if not chunk_ids:
            return {}
        live = self._live_slots([i.rsplit(":", 1)[0] for i in chunk_ids])
        wanted = {}  # record id -> chunk id
        for chunk_id in chunk_ids:
            wanted[record_id(chunk_id, live.get(chunk_id.rsplit(":", 1)[0], 0))] = chunk_id
        got = self._call(self._chunks.get, ids=list(wanted), include=["documents", "metadatas"])
        return {wanted[i]: to_chunk(i, d, m) for i, d, m in zip(got["ids"], got["documents"], got["metadatas"])}

    def chunks_of(self, article_id: str) -> list[Chunk]:
        return sorted(self.chunks_for_articles([article_id]), key=lambda c: c.chunk_no)

    def stats(self) -> Stats:
        size = None
        if not self.settings.chroma_url:
            root = Path(self.settings.store_dir) / "chroma"
            size = sum(p.stat().st_size for p in root.rglob("*") if p.is_file())
        pending = self._call(self._articles.get, where={"state": "pending"}, include=["metadatas"])
        pending_chunks = sum(len(self._call(self._chunks.get, where={"article_id": i}, include=[])["ids"])
                             for i in pending["ids"])
        dirty = self._call(self._articles.get, where={"dirty_slot": {"$gte": 0}}, include=["metadatas"])
        for i, m in zip(dirty["ids"], dirty["metadatas"]):  # updates: the chunks of the other slot
            got = self._call(self._chunks.get, where={"article_id": i}, include=["metadatas"])
            pending_chunks += sum(1 for c in got["metadatas"] if slot_of(c) == m["dirty_slot"])
        pending["ids"] += dirty["ids"]
        pending["metadatas"] += dirty["metadatas"]
        return Stats(self.name, len(self.ready_ids()), self.count_chunks() - pending_chunks,
                     self.built_with(), self.location, size, self.embedding_model,
                     pending_articles=len(pending["ids"]), pending_chunks=pending_chunks,
                     stale_articles=sum(1 for m in pending["metadatas"] if writer_gone(m)))

    def _live_slots(self, article_ids: list[str]) -> dict[str, int]:
        """Article id -> the slot its live chunks are in (ready articles only)."""
        got = self._call(self._articles.get, ids=sorted(set(article_ids)), include=["metadatas"])
        return {i: slot_of(m) for i, m in zip(got["ids"], got["metadatas"])
                if m and m.get("state") == "ready"}

    # -- reindex support ------------------------------------------------------------------

    def new_layout(self) -> dict[str, str]:
        tag = uuid.uuid4().hex[:8]
        return {"chunks": f"bot-{self.name}-chunks-r{tag}", "articles": f"bot-{self.name}-articles-r{tag}"}

    def switch_to(self, layout: dict[str, str]) -> dict[str, str]:
        """Make `layout` the live collections for every process (one metadata write); return
        the layout it replaced."""
        old = self._read_layout()
        self._call(self._state().modify, metadata=dict(layout))
        self._follow()
        return old

    def drop_unused(self) -> list[str]:
        """Delete this collection's chunk/article collections that are not live (left by a
        finished or crashed reindex)."""
        self._current()
        live = set(self._read_layout().values())
        prefixes = (f"bot-{self.name}-chunks", f"bot-{self.name}-articles")
        dropped = []
        for col in self._call(self.client.list_collections):
            name = col if isinstance(col, str) else col.name
            if name.startswith(prefixes) and name not in live and _is_ours(name, self.name):
                self._call(self.client.delete_collection, name)
                dropped.append(name)
        return dropped


def _is_ours(full_name: str, name: str) -> bool:
    """`bot-NAME-chunks` or `bot-NAME-chunks-rXXXXXXXX` (same for articles), not another
    collection's (`bot-NAME-chunks-x-...` belongs to a collection named NAME-chunks-x)."""
    return re.fullmatch(rf"bot-{re.escape(name)}-(chunks|articles)(-r[0-9a-f]{{8}})?", full_name) is not None
