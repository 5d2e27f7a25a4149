"""Chroma persistence: chunks with vectors and offsets, and each article's canonical text.

Per bot collection NAME there are three Chroma collections in the same database, so a Chroma
server holds everything any instance needs to verify a citation:
  bot-NAME-state     no records; its metadata names the two live collections below, so that
                     `bot reindex` can build new ones beside them and switch in one write
  bot-NAME-chunks    one record per chunk (id `article_id:chunk_no`), vector + offsets
  bot-NAME-articles  one record per article: text as the document, metadata, and the mean of
                     its chunk vectors (used to cluster articles for briefings)
(after a reindex the live pair is `bot-NAME-chunks-rXXXXXXXX` / `bot-NAME-articles-rXXXXXXXX`).

Chroma has no transactions, so writes follow a protocol that never leaves a half-written
article visible. A new article's record is first written with state=pending, then its chunks,
then the record is flipped to state=ready. An update keeps the old version ready and served
while the new chunks are written beside the old ones, in the article's other *slot* (ids
`article_id:chunk_no` for slot 0, `article_id:chunk_no#1` for slot 1; the record's `slot`
names the live one and `dirty_slot` the one being written or cleared); one write of the record
then flips text, metadata and slot together, and the old slot's chunks are deleted after.
Readers only trust ready articles and chunks that match their text; `repair()` removes what a
crash left (pending records, dirty slots). Every write then stamps a new
`generation` on the chunks collection, so any process (CLI, Slack workers, other hosts on the
same server) can tell cheaply that its caches (BM25) are out of date.

We never give Chroma an embedding function (`embedding_function=None`): vectors always come
from the bot's embedder, and Chroma's default function would try to download a model.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import socket
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator
from urllib.parse import urlparse

import numpy as np

from bot.index.chroma_import import import_chromadb
from bot.config import Settings
from bot.errors import BotError
from bot.schema import Article, Chunk

EF_SEARCH = 128  # Chroma's default (10) gives poor recall; measured in BENCHMARKS.md
STALE_PENDING_S = 900  # a pending record older than this was left by a crash, not a live writer
_HOST = socket.gethostname()
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,60}$")
_PAGE = 2000  # records per Chroma read/write call (well under its max batch size)


class StoreError(BotError):
    """The store cannot be used as asked; the message is one line a user can act on."""


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


@dataclass(frozen=True)
class ArticleKey:
    """What a cache needs to know about a ready article to tell whether it changed."""

    article_id: str
    version: str  # changes whenever the article's chunks are rewritten
    content_hash: str
    source: str
    published_ts: int
    n_chunks: int = -1


_clients: dict[tuple, Any] = {}
_epochs: dict[tuple, int] = {}  # bumped when a location's client is reopened
_clients_lock = threading.Lock()
_written: dict[tuple, str] = {}  # (location, collection) -> generation this process last wrote


def _client_key(settings: Settings) -> tuple:
    return (settings.chroma_url, str(Path(settings.store_dir).resolve()), settings.chroma_token,
            settings.chroma_auth_header, settings.chroma_tenant, settings.chroma_database)


def open_client(settings: Settings) -> Any:
    """A Chroma client, one per process and location (Chroma dislikes two for one path)."""
    return current_client(settings)[0]


def current_client(settings: Settings) -> tuple[Any, int]:
    """This location's client and its epoch, read together (a reopen changes both)."""
    key = _client_key(settings)
    with _clients_lock:
        if key not in _clients:
            _clients[key] = _connect(settings)
            _epochs[key] = _epochs.get(key, 0) + 1
        return _clients[key], _epochs[key]


def reopen_client(settings: Settings, seen_epoch: int) -> None:
    """Close and reopen an embedded store's client. The embedded Chroma keeps its vector index
    in memory and does not see vectors another process wrote until it is reopened; every
    Store of this location rebinds on its next call."""
    key = _client_key(settings)
    with _clients_lock:
        if _epochs.get(key) != seen_epoch or key not in _clients:
            return  # another Store of this process already did it
        old = _clients.pop(key)
        try:
            old.close()
        except Exception:
            pass  # a client that fails to close is dropped all the same
        _clients[key] = _connect(settings)
        _epochs[key] += 1


def close_clients() -> None:
    """Close every client this process opened, releasing their files; a Store still in use
    reopens on its next call. For hosts that open many stores (the test suite)."""
    with _clients_lock:
        for key, client in _clients.items():
            try:
                client.close()
            except Exception:
                pass
            _epochs[key] += 1
        _clients.clear()


def _connect(settings: Settings) -> Any:
    if not settings.chroma_url:
        return _connect_embedded(settings)
    return _connect_server(settings)


def _chroma_settings() -> Any:
    import_chromadb()
    from chromadb.config import Settings as ChromaSettings

    # A fresh object every time: HttpClient writes the host and port into the one it is given.
    return ChromaSettings(anonymized_telemetry=False, allow_reset=False)


def _connect_embedded(settings: Settings) -> Any:
    chromadb = import_chromadb()

    path = Path(settings.store_dir) / "chroma"
    try:
        path.mkdir(parents=True, exist_ok=True)
        return chromadb.PersistentClient(path=str(path), settings=_chroma_settings())
    except Exception as e:
        raise StoreError(f"cannot open the store at {path} ({type(e).__name__}); "
                         "check BOT_STORE_DIR and its permissions") from None


def auth_headers(settings: Settings) -> dict[str, str]:
    """The header that carries the server token, if one is set."""
    if not settings.chroma_token:
        return {}
    header = settings.chroma_auth_header.strip() or "Authorization"
    if header.lower() == "authorization":
        return {header: f"Bearer {settings.chroma_token}"}
    return {header: settings.chroma_token}


def _connect_server(settings: Settings) -> Any:
    url = settings.chroma_url.rstrip("/")
    parsed = urlparse(url)
    if parsed.scheme not in ("http", "https") or not parsed.hostname:
        raise StoreError(f"BOT_CHROMA_URL={settings.chroma_url!r} is not an http(s)://host:port URL")
    headers = auth_headers(settings)
    _heartbeat(url, headers, settings.chroma_timeout)
    chromadb = import_chromadb()

    port = parsed.port or (443 if parsed.scheme == "https" else 80)
    try:
        # A full URL as host keeps any path prefix (a reverse proxy's /chroma, say).
        client = chromadb.HttpClient(host=url, port=port, ssl=parsed.scheme == "https",
                                     headers=headers or None, settings=_chroma_settings(),
                                     tenant=settings.chroma_tenant, database=settings.chroma_database)
    except Exception as e:
        raise server_error(url, e) from None
    _set_timeout(client, settings.chroma_timeout)
    return client


def _heartbeat(url: str, headers: dict[str, str], timeout: float) -> None:
    """Fail fast, with a line that says what is wrong, before chromadb's generic errors."""
    import httpx

    try:
        resp = httpx.get(f"{url}/api/v2/heartbeat", headers=headers,
                         timeout=httpx.Timeout(timeout, connect=min(timeout, 5.0)))
    except httpx.HTTPError as e:
        raise server_error(url, e) from None
    if resp.status_code in (401, 403):
        raise StoreError(f"the Chroma server at {url} refused the credentials (HTTP {resp.status_code}); "
                         "check BOT_CHROMA_TOKEN and BOT_CHROMA_AUTH_HEADER")
    if resp.status_code != 200 or "heartbeat" not in resp.text:
        raise StoreError(f"{url} does not answer like a Chroma server (HTTP {resp.status_code} on "
                         "/api/v2/heartbeat); check BOT_CHROMA_URL")


def _set_timeout(client: Any, timeout: float) -> None:
    """chromadb's HTTP session waits forever by default; a dead host must not hang the bot."""
    import httpx

    session = getattr(getattr(client, "_server", None), "_session", None)
    if isinstance(session, httpx.Client):
        session.timeout = httpx.Timeout(timeout, connect=min(timeout, 5.0))


def server_error(url: str, e: BaseException) -> StoreError:
    """One line for a failed call to a Chroma server, by what went wrong."""
    import httpx

    start = "is it running? start one with: chroma run --path DIR --host 127.0.0.1 --port N"
    if isinstance(e, httpx.ConnectError):
        return StoreError(f"cannot reach the Chroma server at {url} (connection failed); {start}")
    if isinstance(e, httpx.TimeoutException):
        return StoreError(f"the Chroma server at {url} did not answer in time ({type(e).__name__}); "
                          "check that it is up, or raise BOT_CHROMA_TIMEOUT")
    if isinstance(e, httpx.HTTPError):
        return StoreError(f"lost the connection to the Chroma server at {url} ({type(e).__name__}); {start}")
    text = str(e)
    if "Could not connect" in text:  # chromadb's own wording for a failed first request
        return StoreError(f"cannot reach the Chroma server at {url}; {start}")
    if "tenant" in text.lower() or "database" in text.lower():
        return StoreError(f"the Chroma server at {url}: {_one_line(text)}; "
                          "check BOT_CHROMA_TENANT and BOT_CHROMA_DATABASE")
    if "401" in text or "403" in text or "nauthori" in text:
        return StoreError(f"the Chroma server at {url} refused the credentials; "
                          "check BOT_CHROMA_TOKEN and BOT_CHROMA_AUTH_HEADER")
    return StoreError(f"the Chroma server at {url} failed ({type(e).__name__}: {_one_line(text)})")


def _one_line(text: str, limit: int = 160) -> str:
    line = " ".join(str(text).split())
    return line if len(line) <= limit else line[:limit - 3] + "..."


def _is_not_found(e: BaseException) -> bool:
    return type(e).__name__ == "NotFoundError"


class Store:
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
        self._key = _client_key(settings)
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
            if not _is_not_found(e):
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

    def _current(self) -> None:
        """Rebind if this location's client was reopened (by this Store or another)."""
        if _epochs.get(self._key) == self._epoch:
            return
        # One thread rebinds while the others wait; client and epoch are read together, so a
        # later reopen is always noticed. (A thread that reads the collections mid-rebind gets
        # the old ones, and `_retry` moves its call to the new client.)
        with self._rebinding:
            client, epoch = current_client(self.settings)
            if epoch != self._epoch:
                self.client, self._epoch = client, epoch
                self._bind(self._layout, force=True)

    @property
    def _chunks(self) -> Any:
        self._current()
        return self._cols["chunks"]

    @property
    def _articles(self) -> Any:
        self._current()
        return self._cols["articles"]

    def _follow(self) -> None:
        """Switch to the live collections if a reindex (here or elsewhere) replaced them."""
        self._current()
        if not self._pinned:
            self._bind(self._read_layout())

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
        return StoreError(f"the store at {self.location} failed ({type(e).__name__}: {_one_line(str(e), 120)})")

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

    def generation(self) -> str:
        """Changes on every write by any process, and on a reindex: caches (BM25) key on it."""
        self._follow()
        try:
            col = self._retry(self.client.get_collection, self._layout["chunks"],
                              embedding_function=None)
        except Exception as e:
            if not _is_not_found(e) or self._pinned:
                raise self._error(e) from None
            self._follow()  # replaced between the two reads: one more look settles it
            col = self._call(self.client.get_collection, self._layout["chunks"], embedding_function=None)
        generation = f"{col.name}:{col.id}:{(col.metadata or {}).get('generation', '')}"
        if (not self.settings.chroma_url and self._seen is not None and generation != self._seen
                and generation.rsplit(":", 1)[1] != _written.get((self._key, col.name))):
            # Another process wrote to this embedded store: reopen to see its vectors.
            reopen_client(self.settings, self._epoch)
            self._current()
        self._seen = generation
        return generation

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

    def catalog(self) -> list[tuple[Article, int]]:
        """Every ready article (without its text) with its number of chunks, in one read."""
        got = self._call(self._articles.get, where={"state": "ready"}, include=["metadatas"])
        return [(_article(i, "", m), int(m.get("n_chunks", 0))) for i, m in zip(got["ids"], got["metadatas"])]

    def iter_articles(self, ids: list[str] | None = None, page: int = 200) -> Iterator[Article]:
        """Every ready article (or those of `ids`) with its text, a page at a time (memory
        stays flat)."""
        ids = sorted(self.article_keys() if ids is None else ids)
        for b in range(0, len(ids), page):
            got = self._call(self._articles.get, ids=ids[b:b + page], include=["documents", "metadatas"])
            for i, d, m in zip(got["ids"], got["documents"], got["metadatas"]):
                if m.get("state") == "ready":
                    yield _article(i, d or "", m)

    def article_keys(self) -> dict[str, ArticleKey]:
        """Every ready article's id and version, from metadata only (cheap on a big store)."""
        out: dict[str, ArticleKey] = {}
        offset = 0
        while True:
            got = self._call(self._articles.get, where={"state": "ready"}, include=["metadatas"],
                             limit=_PAGE * 5, offset=offset)
            for i, m in zip(got["ids"], got["metadatas"]):
                out[i] = _article_key(i, m)
            if len(got["ids"]) < _PAGE * 5:
                return out
            offset += _PAGE * 5

    def ready_ids(self) -> set[str]:
        """Ids of every ready article (ids only: fast even with 10k articles)."""
        out: set[str] = set()
        offset = 0
        while True:
            got = self._call(self._articles.get, where={"state": "ready"}, include=[],
                             limit=_PAGE * 25, offset=offset)
            out.update(got["ids"])
            if len(got["ids"]) < _PAGE * 25:
                return out
            offset += _PAGE * 25

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
        for b in range(0, len(ids), _PAGE):
            got = self._call(self._articles.get, ids=ids[b:b + _PAGE], include=["metadatas"])
            for i, m in zip(got["ids"], got["metadatas"]):
                if m and m.get("state") == "ready":
                    keys[i] = _article_key(i, m)
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
        hits = [(_chunk(i, d, m), _slot(m), 1.0 - dist) for i, d, m, dist in
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
                yield _chunk(i, d, m), m
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
                if _slot(m) == live.get(m["article_id"], _slot(m)):
                    yield _chunk(i, d, m)

    def chunks_by_ids(self, chunk_ids: list[str]) -> dict[str, Chunk]:
        """Live chunks by their `article_id:chunk_no` ids."""
        if not chunk_ids:
            return {}
        live = self._live_slots([i.rsplit(":", 1)[0] for i in chunk_ids])
        wanted = {}  # record id -> chunk id
        for chunk_id in chunk_ids:
            wanted[record_id(chunk_id, live.get(chunk_id.rsplit(":", 1)[0], 0))] = chunk_id
        got = self._call(self._chunks.get, ids=list(wanted), include=["documents", "metadatas"])
        return {wanted[i]: _chunk(i, d, m) for i, d, m in zip(got["ids"], got["documents"], got["metadatas"])}

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
            pending_chunks += sum(1 for c in got["metadatas"] if _slot(c) == m["dirty_slot"])
        pending["ids"] += dirty["ids"]
        pending["metadatas"] += dirty["metadatas"]
        return Stats(self.name, len(self.ready_ids()), self.count_chunks() - pending_chunks,
                     self.built_with(), self.location, size, self.embedding_model,
                     pending_articles=len(pending["ids"]), pending_chunks=pending_chunks,
                     stale_articles=sum(1 for m in pending["metadatas"] if _writer_gone(m)))

    # -- writes ---------------------------------------------------------------------------

    def put(self, article: Article, chunks: list[Chunk], vectors: np.ndarray,
            keep_ingested_at: bool = False) -> Article:
        """Store an article and its chunks, replacing any earlier version completely."""
        self._follow()
        if not self.settings.chroma_url:
            self.generation()  # an embedded store reopens first if another process wrote
        try:
            return self._put(article, chunks, vectors, keep_ingested_at)
        except StoreError:
            if self._pinned or self._layout == self._read_layout():
                raise
            self._follow()  # a reindex replaced the collections mid-write: write it there
            return self._put(article, chunks, vectors, keep_ingested_at)

    def _put(self, article: Article, chunks: list[Chunk], vectors: np.ndarray,
             keep_ingested_at: bool) -> Article:
        if not (keep_ingested_at and article.ingested_at):
            now = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
            article = Article(**{**article.__dict__, "ingested_at": now})
        doc_vector = vectors.mean(axis=0)
        doc_vector = (doc_vector / max(float(np.linalg.norm(doc_vector)), 1e-12)).tolist()
        meta = _article_meta(article, len(chunks))
        aid = article.article_id
        got = self._call(self._articles.get, ids=[aid], include=["metadatas"])
        old = got["metadatas"][0] if got["ids"] else None
        if old is None or old.get("state") != "ready":  # new: invisible until whole
            self._call(self._articles.upsert, ids=[aid], documents=[article.text],
                       embeddings=[doc_vector], metadatas=[{**meta, **_pending(), "slot": 0,
                                                            "dirty_slot": -1}])
            self._delete_chunks(aid)
            self._write_chunks(article, chunks, vectors, 0)
            # pending_since back to 0: Chroma merges metadata on update, and a record marked
            # pending later without a time of its own must count as stale.
            self._call(self._articles.update, ids=[aid],
                       metadatas=[{**meta, "state": "ready", "pending_since": 0}])
        else:  # an update: the old version stays ready, and served, until the flip
            live = _slot(old)
            new = 1 - live
            self._call(self._articles.update, ids=[aid], metadatas=[{**_writer(), "dirty_slot": new}])
            self._delete_slot(aid, new)  # what an earlier crash may have left there
            self._write_chunks(article, chunks, vectors, new)
            self._call(self._articles.upsert, ids=[aid], documents=[article.text],
                       embeddings=[doc_vector], metadatas=[{**meta, **_writer(), "state": "ready",
                                                            "slot": new, "dirty_slot": live}])
            self._delete_slot(aid, live)
            self._call(self._articles.update, ids=[aid], metadatas=[{"dirty_slot": -1,
                                                                     "pending_since": 0}])
        self._bump()
        return article

    def _write_chunks(self, article: Article, chunks: list[Chunk], vectors: np.ndarray,
                      slot: int) -> None:
        for b in range(0, len(chunks), _PAGE):
            part = chunks[b:b + _PAGE]
            # upsert, not add: Chroma silently keeps the old record on a duplicate add, and a
            # concurrent writer of the same article may have just written these ids.
            self._call(self._chunks.upsert, ids=[record_id(c.chunk_id, slot) for c in part],
                       documents=[c.text for c in part],
                       embeddings=vectors[b:b + _PAGE].tolist(),
                       metadatas=[{**_chunk_meta(c, article), "slot": slot} for c in part])

    def _delete_slot(self, article_id: str, slot: int) -> None:
        got = self._call(self._chunks.get, where={"article_id": article_id}, include=["metadatas"])
        ids = [i for i, m in zip(got["ids"], got["metadatas"]) if _slot(m) == slot]
        if ids:
            self._call(self._chunks.delete, ids=ids)

    def _live_slots(self, article_ids: list[str]) -> dict[str, int]:
        """Article id -> the slot its live chunks are in (ready articles only)."""
        got = self._call(self._articles.get, ids=sorted(set(article_ids)), include=["metadatas"])
        return {i: _slot(m) for i, m in zip(got["ids"], got["metadatas"])
                if m and m.get("state") == "ready"}

    def set_meta(self, article_id: str, meta: dict[str, Any]) -> None:
        """Replace an article's extra metadata (e.g. feed GUID and stamp) without touching its
        text or chunks."""
        self._call(self._articles.update, ids=[article_id],
                   metadatas=[{"meta": json.dumps(meta, ensure_ascii=False), **_guids(meta)}])
        self._bump()

    def forget(self, article_id: str) -> bool:
        self._follow()
        got = self._call(self._articles.get, ids=[article_id], include=[])
        if not got["ids"]:
            return False
        # Pending first: if we die between the two deletes, repair() finishes the job.
        self._call(self._articles.update, ids=[article_id], metadatas=[_pending()])
        self._delete_chunks(article_id)
        self._call(self._articles.delete, ids=[article_id])
        self._bump()
        return True

    def repair(self) -> list[str]:
        """Remove what an interrupted write left behind: articles whose writer is gone. A
        writer on this host is checked by its pid, at once; one on another host (a shared
        Chroma server) counts as gone when its record is older than any live write takes."""
        self._follow()
        got = self._call(self._articles.get, where={"state": "pending"}, include=["metadatas"])
        stale = [i for i, m in zip(got["ids"], got["metadatas"]) if _writer_gone(m)]
        for article_id in stale:
            self._delete_chunks(article_id)
            self._call(self._articles.delete, ids=[article_id])
        # Updates cut short: the article is ready (old or new version); its other slot goes.
        dirty = self._call(self._articles.get, where={"dirty_slot": {"$gte": 0}},
                           include=["metadatas"])
        for article_id, m in zip(dirty["ids"], dirty["metadatas"]):
            if _writer_gone(m) and m.get("state") == "ready":
                self._delete_slot(article_id, int(m["dirty_slot"]))
                self._call(self._articles.update, ids=[article_id],
                           metadatas=[{"dirty_slot": -1, "pending_since": 0}])
                stale.append(article_id)
        if stale:
            self._bump()
        return stale

    def delete_articles(self, article_ids: list[str]) -> None:
        """Remove articles outright (a reindex drops what was forgotten while it ran)."""
        for article_id in article_ids:
            self._delete_chunks(article_id)
        if article_ids:
            self._call(self._articles.delete, ids=article_ids)
            self._bump()

    def _delete_chunks(self, article_id: str) -> None:
        self._call(self._chunks.delete, where={"article_id": article_id})

    def _bump(self) -> None:
        generation = uuid.uuid4().hex
        _written[(self._key, self._layout["chunks"])] = generation
        self._call(self._chunks.modify, metadata={"embedding_model": self.embedding_model,
                                                  "generation": generation})

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

    def _call(self, fn: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return self._retry(fn, *args, **kwargs)
        except StoreError:
            raise
        except Exception as e:
            raise self._error(e) from None

    def _retry(self, fn: Any, *args: Any, **kwargs: Any) -> Any:
        """Call a Chroma method; if it fails because another thread reopened this location's
        client (closing the one `fn` is bound to) meanwhile, call it again on the new client."""
        for _ in range(4):
            try:
                return fn(*args, **kwargs)
            except Exception:
                try:
                    fresh = self._rebound(fn)
                except Exception:
                    fresh = fn  # yet another reopen closed the client we rebound to: again
                if fresh is None:
                    raise
                fn = fresh
        return fn(*args, **kwargs)

    def _rebound(self, fn: Any) -> Any:
        """`fn` on this location's current client when it is bound to a client (or a
        collection of one) that a reopen replaced; None when it is not, so the failure stands."""
        owner, name = getattr(fn, "__self__", None), getattr(fn, "__name__", None)
        if owner is None or name is None or self.settings.chroma_url:
            return None
        client, _ = current_client(self.settings)
        api = getattr(client, "_server", None)
        if hasattr(owner, "get_collection"):  # a client
            return getattr(client, name) if owner is not client else None
        if api is None or getattr(owner, "_client", api) is api:
            return None  # a collection of the current client: a real failure
        return getattr(client.get_collection(owner.name, embedding_function=None), name)


def _is_ours(full_name: str, name: str) -> bool:
    """`bot-NAME-chunks` or `bot-NAME-chunks-rXXXXXXXX` (same for articles), not another
    collection's (`bot-NAME-chunks-x-...` belongs to a collection named NAME-chunks-x)."""
    return re.fullmatch(rf"bot-{re.escape(name)}-(chunks|articles)(-r[0-9a-f]{{8}})?", full_name) is not None


def _article_key(article_id: str, meta: dict) -> ArticleKey:
    version = f"{meta.get('content_hash', '')}:{meta.get('ingested_at', '')}:{meta.get('n_chunks', '')}"
    return ArticleKey(article_id, version, str(meta.get("content_hash", "")),
                      str(meta.get("source", "")), int(meta.get("published_ts", -1)),
                      int(meta.get("n_chunks", -1)))


def _writer() -> dict[str, Any]:
    """Who is writing an article and since when (`repair()` tells a crash from a live writer)."""
    return {"pending_since": time.time(), "pending_host": _HOST, "pending_pid": os.getpid()}


def _pending() -> dict[str, Any]:
    return {"state": "pending", **_writer()}


def _slot(meta: dict | None) -> int:
    return int((meta or {}).get("slot") or 0)  # stores written before slots: all slot 0


def record_id(chunk_id: str, slot: int) -> str:
    """The Chroma id of a chunk in a slot (slot 0 keeps the plain `article_id:chunk_no`)."""
    return chunk_id if slot == 0 else f"{chunk_id}#{slot}"


def _writer_gone(meta: dict[str, Any]) -> bool:
    if time.time() - float(meta.get("pending_since") or 0) > STALE_PENDING_S:
        return True
    if meta.get("pending_host") != _HOST:
        return False
    pid = int(meta.get("pending_pid") or 0)
    if pid == os.getpid():
        return False  # this process is mid-write (another thread)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except (PermissionError, OverflowError, ValueError):
        return False
    return False


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
