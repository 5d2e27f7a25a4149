"""Connecting to Chroma: an embedded store in a folder, or a Chroma server over HTTP (token,
tenant, database, timeout), and the one-line errors for what can go wrong on the way.

We never give Chroma an embedding function (`embedding_function=None`): vectors always come
from the bot's embedder, and Chroma's default function would try to download a model.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from bot.config import Settings
from bot.errors import BotError
from bot.index.chroma_import import import_chromadb


class StoreError(BotError):
    """The store cannot be used as asked; the message is one line a user can act on."""


def connect(settings: Settings) -> Any:
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
        return StoreError(f"the Chroma server at {url}: {one_line(text)}; "
                          "check BOT_CHROMA_TENANT and BOT_CHROMA_DATABASE")
    if "401" in text or "403" in text or "nauthori" in text:
        return StoreError(f"the Chroma server at {url} refused the credentials; "
                          "check BOT_CHROMA_TOKEN and BOT_CHROMA_AUTH_HEADER")
    return StoreError(f"the Chroma server at {url} failed ({type(e).__name__}: {one_line(text)})")


def one_line(text: str, limit: int = 160) -> str:
    line = " ".join(str(text).split())
    return line if len(line) <= limit else line[:limit - 3] + "..."


def is_not_found(e: BaseException) -> bool:
    return type(e).__name__ == "NotFoundError"
