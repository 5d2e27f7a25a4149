"""A warm `bot` that keeps Chroma and the model loaded, so `bot ask` need not start them.

A cold `bot ask` spends most of its time importing Chroma and loading the embedding model
(BENCHMARKS.md, "Cold start"). `bot serve` starts one process that holds both and answers on a
Unix socket in the store folder (`serve.sock`, readable by its owner only); `bot ask` asks it
when it is there, and does the work itself when it is not (or when anything about the exchange
fails), so the warm process is an optimisation and never a dependency. It exits after
`idle` seconds without a question, on `bot serve --stop`, or on SIGTERM. While it waits it
embeds the stored articles' sentences, giving way to any question (`Bot.prepare_in_background`),
so later questions need not; `status()` asks how far it got.

`bot ask` starts one itself in the background after answering a question in-process (unless
BOT_WARM is off), so the next ask is warm: `start()`. One per store: a warm process holds an
exclusive lock on `serve.lock` in the store folder for its whole life (the kernel drops it when
the process ends, however it ends), so concurrent starts leave exactly one running and a
socket file left by a killed one can be removed safely.

Only offline answers go this way (a configured model streams its answer, which the CLI shows
as it comes), and only between processes with the same settings: the request carries a digest
of the client's settings, and a server with other settings declines.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import socket
import subprocess
import sys
from dataclasses import asdict, fields
from pathlib import Path
from typing import Any

from bot.config import Settings
from bot.errors import BotError

SOCKET_NAME = "serve.sock"
LOCK_NAME = "serve.lock"
# Settings that say how the warm process lives, not how it answers: a client whose only
# difference is one of these is answered by it.
NOT_DIGESTED = frozenset({"warm", "warm_idle"})
CONNECT_TIMEOUT_S = 0.5  # a server that does not even accept in this time is not worth waiting for
ANSWER_TIMEOUT_S = 120.0
REQUEST_TIMEOUT_S = 5.0  # a client that connects and sends nothing does not hold up the next
_MAX_PATH = 100  # a Unix socket path must fit in sun_path (108 bytes on Linux)


def socket_path(settings: Settings) -> Path | None:
    """Where the warm process of this store listens; None when the path is too long for a
    Unix socket (then there is no warm process for this store)."""
    path = Path(settings.store_dir).absolute() / SOCKET_NAME
    return path if len(os.fsencode(str(path))) <= _MAX_PATH else None


def digest(settings: Settings) -> str:
    """A digest of every setting (secrets included, so a server never answers for a client
    configured otherwise; only the digest travels)."""
    values = [f"{f.name}={getattr(settings, f.name)!s}" for f in fields(settings)
              if f.name not in NOT_DIGESTED]
    values.append(f"store={Path(settings.store_dir).absolute()}")
    return hashlib.sha256("\n".join(values).encode()).hexdigest()


# -- the client (`bot ask`) ------------------------------------------------------------------

def ask(settings: Settings, request: dict[str, Any]) -> dict[str, Any] | None:
    """The warm process's reply to `request` (question, k, source, since, until): an answer
    as a dict, or {"error": ..., "exit_code": ...}; None when there is no warm process to ask
    (or it declined), so that the caller does the work itself."""
    path = socket_path(settings)
    if settings.llm_enabled or path is None or not path.exists():
        return None
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as conn:
            conn.settimeout(CONNECT_TIMEOUT_S)
            conn.connect(str(path))
            conn.settimeout(ANSWER_TIMEOUT_S)
            conn.sendall(json.dumps({**request, "digest": digest(settings)}).encode() + b"\n")
            reply = json.loads(_read_line(conn))
    except (OSError, ValueError):
        return None  # gone, stale socket file, busy, or a garbled reply: answer in-process
    return reply if isinstance(reply, dict) and ("answer" in reply or "error" in reply) else None


def start(settings: Settings, argv: list[str], env: dict[str, str] | None = None) -> bool:
    """Start `argv` (a `bot serve` command line) detached in the background, with `env` added
    to this process's environment, unless BOT_WARM is off, a model answers (the warm process
    is offline only), the store has no socket path, or a warm process of this store runs or is
    starting. True if started."""
    path = socket_path(settings)
    if not settings.warm or settings.llm_enabled or path is None or _locked(path.parent):
        return False
    try:
        # Its own session: no terminal, so Ctrl-C in this shell or closing it does not reach it;
        # nothing inherited but the environment and the folder, so the same settings load.
        subprocess.Popen(argv, env={**os.environ, **(env or {})}, stdin=subprocess.DEVNULL,
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                         start_new_session=True, close_fds=True)
    except OSError:
        return False  # an optimisation that cannot start is not an error of this ask
    return True


def status(settings: Settings) -> dict[str, Any] | None:
    """What this store's warm process did so far (questions answered, sentences prepared),
    or None when none answers."""
    reply = _control(settings, {"status": True})
    return reply if isinstance(reply, dict) and "answered" in reply else None


def stop(settings: Settings) -> bool:
    """Ask this store's warm process to exit; False when none answers."""
    reply = _control(settings, {"stop": True})
    return isinstance(reply, dict) and reply.get("stopped") is True


def _control(settings: Settings, request: dict[str, Any]) -> Any:
    """The warm process's reply to a control request; None when none answers."""
    path = socket_path(settings)
    if path is None or not path.exists():
        return None
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as conn:
            conn.settimeout(CONNECT_TIMEOUT_S)
            conn.connect(str(path))
            conn.settimeout(ANSWER_TIMEOUT_S)  # it may be answering someone else first
            conn.sendall(json.dumps(request).encode() + b"\n")
            return json.loads(_read_line(conn))
    except (OSError, ValueError):
        return None


def _locked(store: Path) -> bool:
    """Whether a warm process holds this store's lock (it serves, or is loading to); a lock
    that cannot even be made (no store folder) counts as held: nothing is started for it."""
    try:
        lock = _take_lock(store)
    except OSError:
        return True
    if lock is not None:
        os.close(lock)
    return lock is None


def _take_lock(store: Path) -> int | None:
    """The store's warm-process lock, as an open descriptor; None when another process holds
    it. OSError when the lock file cannot be made."""
    try:
        import fcntl
    except ImportError:  # not a POSIX system: no warm bot there
        raise OSError("no file locks on this system") from None

    fd = os.open(store / LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        os.close(fd)
        return None
    return fd


def _read_line(conn: socket.socket) -> bytes:
    data = b""
    while not data.endswith(b"\n"):
        part = conn.recv(65536)
        if not part:
            break
        data += part
    return data


# -- the server (`bot serve`) ----------------------------------------------------------------

class ServeError(BotError):
    """The warm process cannot start."""


def serve(settings: Settings, idle: float, on_ready: Any = None) -> int:
    """Answer questions on this store's socket until `idle` seconds pass without one.
    Returns how many were answered."""
    path = socket_path(settings)
    if path is None:
        raise ServeError(f"{Path(settings.store_dir).absolute()}: the store path is too long for "
                         "a socket; use a shorter BOT_STORE_DIR")
    if settings.llm_enabled:
        raise ServeError("bot serve answers offline only; unset OPENAI_API_KEY / OPENAI_BASE_URL "
                         "for it (a model's answers stream straight to the terminal instead)")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        lock = _take_lock(path.parent)  # first: a second warm process for this store stops here
    except OSError as e:
        raise ServeError(f"{path.parent}: cannot lock the store for a warm bot "
                         f"({e.strerror or e}); check the folder's permissions") from None
    if lock is None:
        raise ServeError(f"a warm bot already serves this store ({path})")
    try:
        listener = _listen(path)
    except BaseException:
        os.close(lock)
        raise
    try:
        from bot.core import Bot, Filters  # after the lock: a second one stops before loading

        # SIGTERM (kill, a service manager) ends it like the idle timeout: the socket is removed.
        try:
            signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
        except ValueError:
            pass  # not the main thread (serve() called from a program's thread)
        bot = Bot(settings)
        try:  # open the store, load the model and the answerer now, not at the first question
            bot.ask("warm up")
        except BotError:
            pass  # e.g. an empty store: the questions will say so
        if on_ready:
            on_ready(path)
        # While it waits, it embeds the store's sentences (questions first): asks get faster.
        prepared, stop_preparing = bot.prepare_in_background()
        try:
            return _loop(listener, bot, Filters, digest(settings), idle, prepared)
        finally:
            stop_preparing()
    finally:
        listener.close()
        path.unlink(missing_ok=True)  # before the lock goes: the next one finds no socket
        os.close(lock)


def _loop(listener: socket.socket, bot: Any, filters_type: Any, mine: str, idle: float,
          prepared: Any) -> int:
    """Answer one connection at a time until `idle` seconds pass without one, or a stop;
    `{"status": true}` is answered with what was done so far (`prepared`: the idle-time work)."""
    answered = 0
    listener.settimeout(idle)
    while True:
        try:
            conn, _ = listener.accept()
        except socket.timeout:
            return answered
        with conn:
            conn.settimeout(REQUEST_TIMEOUT_S)
            try:
                request = json.loads(_read_line(conn))
                if isinstance(request, dict) and request.get("stop") is True:
                    conn.sendall(b'{"stopped": true}\n')  # the socket is its owner's only
                    return answered
                if isinstance(request, dict) and request.get("status") is True:
                    conn.sendall(json.dumps({"answered": answered, "prepared": asdict(prepared)})
                                 .encode() + b"\n")
                    continue
                reply = _answer(bot, filters_type, request, mine)
                conn.sendall(json.dumps(reply, ensure_ascii=False).encode() + b"\n")
                answered += "answer" in reply
            except (OSError, ValueError):
                continue  # the client went away or sent nonsense: it answers by itself


def _listen(path: Path) -> socket.socket:
    """Listen on `path`; the caller holds the lock, so a socket file there was left by a
    warm process that was killed and is removed."""
    path.unlink(missing_ok=True)
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    old = os.umask(0o177)  # the socket is the owner's only: it answers from their store
    try:
        listener.bind(str(path))
    finally:
        os.umask(old)
    listener.listen(8)
    return listener


def _answer(bot: Any, filters_type: Any, request: dict[str, Any], mine: str) -> dict[str, Any]:
    if not isinstance(request, dict) or request.get("digest") != mine:
        return {"declined": "other settings"}
    try:
        filters = filters_type(source=request.get("source"), since=request.get("since"),
                               until=request.get("until"))
        answer = bot.ask(str(request.get("question", "")), k=request.get("k"), filters=filters)
    except BotError as e:
        return {"error": str(e), "exit_code": e.exit_code}
    return {"answer": answer.to_dict()}
