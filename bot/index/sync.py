"""Several processes, one store. Each process keeps one Chroma client per location (Chroma
dislikes two for one path); every write stamps a new *generation* on the chunks collection, so
any process (CLI, Slack workers, other hosts on the same server) can tell cheaply that its
caches (BM25) are out of date. An embedded Chroma keeps its vector index in memory and does not
see what another process wrote until its client is reopened: `generation()` does that, and
every call retries once on the new client if a reopen closed the one it was bound to.

`Following` holds the Store methods for this (bot/index/store.py mixes it in).
"""

from __future__ import annotations

import threading
import uuid
from pathlib import Path
from typing import Any

from bot.config import Settings
from bot.index.chroma import StoreError, connect, is_not_found

_clients: dict[tuple, Any] = {}
_epochs: dict[tuple, int] = {}  # bumped when a location's client is reopened
_clients_lock = threading.Lock()
_written: dict[tuple, str] = {}  # (location, collection) -> generation this process last wrote


def client_key(settings: Settings) -> tuple:
    return (settings.chroma_url, str(Path(settings.store_dir).resolve()), settings.chroma_token,
            settings.chroma_auth_header, settings.chroma_tenant, settings.chroma_database)


def open_client(settings: Settings) -> Any:
    """A Chroma client, one per process and location (Chroma dislikes two for one path)."""
    return current_client(settings)[0]


def current_client(settings: Settings) -> tuple[Any, int]:
    """This location's client and its epoch, read together (a reopen changes both)."""
    key = client_key(settings)
    with _clients_lock:
        if key not in _clients:
            _clients[key] = connect(settings)
            _epochs[key] = _epochs.get(key, 0) + 1
        return _clients[key], _epochs[key]


def reopen_client(settings: Settings, seen_epoch: int) -> None:
    """Close and reopen an embedded store's client. The embedded Chroma keeps its vector index
    in memory and does not see vectors another process wrote until it is reopened; every
    Store of this location rebinds on its next call."""
    key = client_key(settings)
    with _clients_lock:
        if _epochs.get(key) != seen_epoch or key not in _clients:
            return  # another Store of this process already did it
        old = _clients.pop(key)
        try:
            old.close()
        except Exception:
            pass  # a client that fails to close is dropped all the same
        _clients[key] = connect(settings)
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


class Following:
    """Mixed into `Store`: keeps it on this location's current client and live collections,
    and stamps and reads the generation."""

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

    def _follow(self) -> None:
        """Switch to the live collections if a reindex (here or elsewhere) replaced them."""
        self._current()
        if not self._pinned:
            self._bind(self._read_layout())

    def generation(self) -> str:
        """Changes on every write by any process, and on a reindex: caches (BM25) key on it."""
        self._follow()
        try:
            col = self._retry(self.client.get_collection, self._layout["chunks"],
                              embedding_function=None)
        except Exception as e:
            if not is_not_found(e) or self._pinned:
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

    def _bump(self) -> None:
        generation = uuid.uuid4().hex
        _written[(self._key, self._layout["chunks"])] = generation
        self._call(self._chunks.modify, metadata={"embedding_model": self.embedding_model,
                                                  "generation": generation})

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
