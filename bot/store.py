"""Chroma persistence: chunks with vectors and offsets, and each article's canonical text.

Per bot collection NAME there are two Chroma collections in the same database, so a Chroma
server holds everything any instance needs to verify a citation:
  bot-NAME-chunks    one record per chunk (id `article_id:chunk_no`), vector + offsets
  bot-NAME-articles  one record per article: text as the document, metadata, and the mean of
                     its chunk vectors (used to cluster articles for briefings)

Chroma has no transactions, so writes follow a protocol that never leaves a half-written
article visible: the article record is first written with state=pending, then old chunks are
deleted and new ones added, then the record is flipped to state=ready. Readers only trust
ready articles; `repair()` removes whatever a crash left pending.

We never give Chroma an embedding function (`embedding_function=None`): vectors always come
from the bot's embedder, and Chroma's default function would try to download a model.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import threading
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator
from urllib.parse import urlparse

import numpy as np

from bot.config import Settings
from bot.errors import BotError
from bot.schema import Article, Chunk

EF_SEARCH = 128  # Chroma's default (10) gives poor recall; measured in BENCHMARKS.md
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,60}$")


class StoreError(BotError):
    """The store cannot be used as asked; the message is one line a user can act on."""


@dataclass(frozen=True)
class Stats:
    collection: str
    articles: int
    chunks: int
    embedding_model: str
    location: str
    size_bytes: int | None


_clients: dict[tuple, Any] = {}
_clients_lock = threading.Lock()


def open_client(settings: Settings) -> Any:
    """A Chroma client, one per process and location (Chroma dislikes two for one path)."""
    key = (settings.chroma_url, str(Path(settings.store_dir).resolve()), settings.chroma_token)
    with _clients_lock:
        if key not in _clients:
            _clients[key] = _connect(settings)
        return _clients[key]


def _connect(settings: Settings) -> Any:
    import chromadb
    from chromadb.config import Settings as ChromaSettings

    chroma_settings = ChromaSettings(anonymized_telemetry=False, allow_reset=False)
    if not settings.chroma_url:
        path = Path(settings.store_dir) / "chroma"
        try:
            path.mkdir(parents=True, exist_ok=True)
            return chromadb.PersistentClient(path=str(path), settings=chroma_settings)
        except Exception as e:
            raise StoreError(f"cannot open the store at {path} ({type(e).__name__}); "
                             "check BOT_STORE_DIR and its permissions") from None
    url = urlparse(settings.chroma_url)
    if url.scheme not in ("http", "https") or not url.hostname:
        raise StoreError(f"BOT_CHROMA_URL={settings.chroma_url!r} is not an http(s) URL")
    headers = {"Authorization": f"Bearer {settings.chroma_token}"} if settings.chroma_token else None
    try:
        return chromadb.HttpClient(host=url.hostname, port=url.port or (443 if url.scheme == "https" else 80),
                                   ssl=url.scheme == "https", headers=headers, settings=chroma_settings)
    except Exception:
        raise StoreError(f"cannot reach the Chroma server at {settings.chroma_url}; "
                         "is it running? (chroma run --path DIR --port N)") from None


class Store:
    """One bot collection (articles + chunks) in a Chroma database."""

    def __init__(self, settings: Settings, embedding_model: str, name: str | None = None):
        self.settings = settings
        self.name = name or settings.collection
        if not _NAME.match(self.name):
            raise StoreError(f"collection name {self.name!r}: use 1-61 letters, digits, '-' or '_'")
        self.embedding_model = embedding_model
        self.client = open_client(settings)
        self._chunks = self._collection("chunks")
        self._articles = self._collection("articles")
        self._check_model()

    # -- setup ----------------------------------------------------------------------------

    def _collection(self, kind: str) -> Any:
        try:
            return self.client.get_or_create_collection(
                f"bot-{self.name}-{kind}",
                embedding_function=None,
                configuration={"hnsw": {"space": "cosine", "ef_search": EF_SEARCH,
                                        "ef_construction": EF_SEARCH}},
                metadata={"embedding_model": self.embedding_model, "generation": "new"},
            )
        except StoreError:
            raise
        except Exception as e:
            raise self._unreachable(e) from None

    def _unreachable(self, e: Exception) -> StoreError:
        where = self.settings.chroma_url or str(Path(self.settings.store_dir) / "chroma")
        if self.settings.chroma_url:
            return StoreError(f"cannot reach the Chroma server at {where} ({type(e).__name__}); "
                              "is it running? (chroma run --path DIR --port N)")
        return StoreError(f"the store at {where} failed ({type(e).__name__}: {str(e)[:120]})")

    def _check_model(self) -> None:
        built_with = (self._chunks.metadata or {}).get("embedding_model")
        if built_with and built_with != self.embedding_model and self.count_chunks() > 0:
            raise StoreError(
                f"collection '{self.name}' was built with embeddings '{built_with}' but the bot is "
                f"configured for '{self.embedding_model}'; set BOT_EMBEDDINGS/BOT_EMBEDDING_MODEL "
                f"back, or run `bot reindex` to rebuild it with the new model")

    # -- reads ----------------------------------------------------------------------------

    def generation(self) -> str:
        """Changes on every write by any process: caches (BM25) key on it."""
        try:
            col = self.client.get_collection(f"bot-{self.name}-chunks", embedding_function=None)
        except Exception as e:
            raise self._unreachable(e) from None
        return str((col.metadata or {}).get("generation", ""))

    def article(self, article_id: str) -> Article | None:
        got = self._call(self._articles.get, ids=[article_id], include=["documents", "metadatas"])
        if not got["ids"] or got["metadatas"][0].get("state") != "ready":
            return None
        return _article(got["ids"][0], got["documents"][0], got["metadatas"][0])

    def articles(self, with_text: bool = False) -> list[Article]:
        include = ["documents", "metadatas"] if with_text else ["metadatas"]
        got = self._call(self._articles.get, where={"state": "ready"}, include=include)
        docs = got.get("documents") or [""] * len(got["ids"])
        found = [_article(i, d or "", m) for i, d, m in zip(got["ids"], docs, got["metadatas"])]
        return sorted(found, key=lambda a: (a.published or "", a.title))

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
        n = min(k, self.count_chunks())
        if n == 0:
            return []
        got = self._call(self._chunks.query, query_embeddings=[vector.tolist()], n_results=n,
                         where=where, include=["documents", "metadatas", "distances"])
        # A chunk deleted by another process (an update, `bot forget`) can still be in this
        # process's copy of the vector index: Chroma returns its id with no record. Skip it.
        return [(_chunk(i, d, m), 1.0 - dist) for i, d, m, dist in
                zip(got["ids"][0], got["documents"][0], got["metadatas"][0], got["distances"][0])
                if m is not None and d is not None]

    def iter_chunks(self, page: int = 5000) -> Iterator[tuple[Chunk, dict]]:
        """Every chunk with its metadata, paged (for the BM25 index)."""
        offset = 0
        while True:
            got = self._call(self._chunks.get, include=["documents", "metadatas"],
                             limit=page, offset=offset)
            for i, d, m in zip(got["ids"], got["documents"], got["metadatas"]):
                yield _chunk(i, d, m), m
            if len(got["ids"]) < page:
                return
            offset += page

    def chunks_of(self, article_id: str) -> list[Chunk]:
        got = self._call(self._chunks.get, where={"article_id": article_id},
                         include=["documents", "metadatas"])
        found = [_chunk(i, d, m) for i, d, m in zip(got["ids"], got["documents"], got["metadatas"])]
        return sorted(found, key=lambda c: c.chunk_no)

    def stats(self) -> Stats:
        arts = self._call(self._articles.get, where={"state": "ready"}, include=[])
        size = None
        if not self.settings.chroma_url:
            root = Path(self.settings.store_dir)
            size = sum(p.stat().st_size for p in root.rglob("*") if p.is_file())
        return Stats(self.name, len(arts["ids"]), self.count_chunks(), self.embedding_model,
                     self.settings.chroma_url or str(Path(self.settings.store_dir).resolve()), size)

    # -- writes ---------------------------------------------------------------------------

    def put(self, article: Article, chunks: list[Chunk], vectors: np.ndarray) -> Article:
        """Store an article and its chunks, replacing any earlier version completely."""
        now = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
        article = Article(**{**article.__dict__, "ingested_at": now})
        doc_vector = vectors.mean(axis=0)
        doc_vector = doc_vector / max(float(np.linalg.norm(doc_vector)), 1e-12)
        meta = _article_meta(article, len(chunks))
        self._call(self._articles.upsert, ids=[article.article_id], documents=[article.text],
                   embeddings=[doc_vector.tolist()], metadatas=[{**meta, "state": "pending"}])
        self._delete_chunks(article.article_id)
        batch = max(1, min(self.client.get_max_batch_size(), 2000))
        for b in range(0, len(chunks), batch):
            part = chunks[b:b + batch]
            self._call(self._chunks.add, ids=[c.chunk_id for c in part],
                       documents=[c.text for c in part],
                       embeddings=vectors[b:b + batch].tolist(),
                       metadatas=[_chunk_meta(c, article) for c in part])
        self._call(self._articles.update, ids=[article.article_id], metadatas=[{**meta, "state": "ready"}])
        self._bump()
        return article

    def set_meta(self, article_id: str, meta: dict[str, Any]) -> None:
        """Replace an article's extra metadata (e.g. feed GUID and stamp) without touching its
        text or chunks."""
        self._call(self._articles.update, ids=[article_id],
                   metadatas=[{"meta": json.dumps(meta, ensure_ascii=False), **_guids(meta)}])
        self._bump()

    def forget(self, article_id: str) -> bool:
        got = self._call(self._articles.get, ids=[article_id], include=[])
        if not got["ids"]:
            return False
        # Pending first: if we die between the two deletes, repair() finishes the job.
        self._call(self._articles.update, ids=[article_id], metadatas=[{"state": "pending"}])
        self._delete_chunks(article_id)
        self._call(self._articles.delete, ids=[article_id])
        self._bump()
        return True

    def repair(self) -> list[str]:
        """Remove what an interrupted write left behind: pending articles, orphan chunks."""
        pending = self._call(self._articles.get, where={"state": "pending"}, include=[])["ids"]
        for article_id in pending:
            self._delete_chunks(article_id)
            self._call(self._articles.delete, ids=[article_id])
        if pending:
            self._bump()
        return pending

    def _delete_chunks(self, article_id: str) -> None:
        self._call(self._chunks.delete, where={"article_id": article_id})

    def _bump(self) -> None:
        self._call(self._chunks.modify, metadata={"embedding_model": self.embedding_model,
                                                  "generation": uuid.uuid4().hex})

    def _call(self, fn: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except StoreError:
            raise
        except Exception as e:
            raise self._unreachable(e) from None


def _article_meta(article: Article, n_chunks: int) -> dict[str, Any]:
    return {
        "title": article.title,
        "source": article.source,
        "published": article.published or "",
        "published_ts": _day_number(article.published),
        "ingested_at": article.ingested_at or "",
        "content_hash": article.content_hash,
        "n_chunks": n_chunks,
        "meta": json.dumps(article.meta, ensure_ascii=False),
        **_guids(article.meta),
    }


def _guids(meta: dict[str, Any]) -> dict[str, Any]:
    """Feed-entry GUIDs as a list field of their own, so feeds can look them up ($contains);
    left out when empty (Chroma refuses empty lists)."""
    guids = [str(g) for g in meta.get("guids") or [] if g]
    return {"guids": guids} if guids else {}


def _chunk_meta(chunk: Chunk, article: Article) -> dict[str, Any]:
    return {
        "article_id": chunk.article_id,
        "chunk_no": chunk.chunk_no,
        "start": chunk.start,
        "end": chunk.end,
        "source": article.source,
        "published_ts": _day_number(article.published),
    }


def _day_number(iso: str | None) -> int:
    """Days since 1970 (Chroma filters need numbers); -1 when the date is unknown."""
    if not iso:
        return -1
    try:
        return (dt.date.fromisoformat(iso[:10]) - dt.date(1970, 1, 1)).days
    except ValueError:
        return -1


def day_number(iso: str) -> int:
    return _day_number(iso)


def _article(article_id: str, text: str, meta: dict) -> Article:
    return Article(article_id=article_id, title=meta.get("title", ""), source=meta.get("source", ""),
                   text=text, published=meta.get("published") or None,
                   ingested_at=meta.get("ingested_at") or None,
                   content_hash=meta.get("content_hash", ""),
                   meta=json.loads(meta.get("meta") or "{}"))


def _chunk(chunk_id: str, text: str, meta: dict) -> Chunk:
    return Chunk(meta["article_id"], int(meta["chunk_no"]), int(meta["start"]), int(meta["end"]), text)
