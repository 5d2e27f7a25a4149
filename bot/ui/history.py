"""Chat sessions, kept in SQLite in the store directory so `bot chat --continue` can resume,
and the log of every question asked (`bot log`): chat turns and one-shot `bot ask`s alike.

One row per session and one per turn: the question as typed, the standalone question that was
searched, and the whole verified answer as JSON (so a resumed session can show /sources and
/open, and follow-ups keep their context). A `bot ask` is a session of its own of kind 'ask',
which chat never lists or resumes. Configured secrets are masked before anything is written.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from bot.errors import BotError
from bot.util.redact import redact_tree
from bot.schema import Answer, Citation, Statement

DB_NAME = "chat.sqlite3"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS sessions (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    collection TEXT NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS turns (
    id INTEGER PRIMARY KEY,
    session_id INTEGER NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
    question TEXT NOT NULL,
    standalone_question TEXT,
    answer_json TEXT NOT NULL,
    created_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS turns_by_session ON turns(session_id, id);
"""
CHAT, ASK = "chat", "ask"  # kinds of session


class HistoryError(BotError):
    """The chat history database cannot be used."""


@dataclass(frozen=True)
class SessionInfo:
    name: str
    collection: str
    created_at: str
    updated_at: str
    turns: int
    first_question: str | None


def _now() -> str:
    # Microseconds so that "the most recently used session" is well defined within a second.
    return datetime.now(timezone.utc).isoformat(timespec="microseconds")


@dataclass(frozen=True)
class LogEntry:
    """One question asked, with where it was asked and its verified answer."""

    at: str
    kind: str  # CHAT or ASK
    session: str
    answer: Answer

    def to_dict(self) -> dict:
        return {"at": self.at, "kind": self.kind, "session": self.session,
                **self.answer.to_dict()}


def answer_from_dict(d: dict) -> Answer:
    """The inverse of `Answer.to_dict` (the stored JSON back into a typed answer)."""
    return Answer(
        question=d["question"], answer=d["answer"], short_answer=d.get("short_answer"),
        refused=d["refused"], mode=d["mode"],
        citations=[Citation(**c) for c in d.get("citations", [])],
        statements=[Statement(**s) for s in d.get("statements", [])],
        timings_ms=d.get("timings_ms", {}), notice=d.get("notice"),
        standalone_question=d.get("standalone_question"), confidence=d.get("confidence"),
        short_answer_confidence=d.get("short_answer_confidence"),
        short_answer_candidate=d.get("short_answer_candidate"), not_stated=d.get("not_stated"))


class History:
    def __init__(self, store_dir: Path):
        self.path = Path(store_dir) / DB_NAME
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.db = sqlite3.connect(self.path, check_same_thread=False)
            self.db.execute("PRAGMA foreign_keys = ON")
            self.db.executescript(_SCHEMA)
            columns = {row[1] for row in self.db.execute("PRAGMA table_info(sessions)")}
            if "kind" not in columns:  # a database from before `bot log`: all chat sessions
                with self.db:
                    self.db.execute(f"ALTER TABLE sessions ADD COLUMN kind TEXT NOT NULL DEFAULT '{CHAT}'")
        except (OSError, sqlite3.Error) as e:
            raise HistoryError(f"{self.path}: cannot open the chat history ({e}); "
                               "check the store directory (BOT_STORE_DIR)") from None

    def close(self) -> None:
        self.db.close()

    # -- sessions -------------------------------------------------------------------------

    def _id(self, name: str) -> int | None:
        row = self.db.execute("SELECT id FROM sessions WHERE name = ?", (name,)).fetchone()
        return row[0] if row else None

    def exists(self, name: str) -> bool:
        return self._id(name) is not None

    def new_name(self) -> str:
        """A free session name: the local time, numbered when taken."""
        base = datetime.now().strftime("%Y-%m-%d-%H%M%S")
        name, n = base, 1
        while self.exists(name):
            n += 1
            name = f"{base}-{n}"
        return name

    def create(self, name: str | None, collection: str, kind: str = CHAT) -> str:
        """A new empty session; without a name it is named after the time it started."""
        name = name or self.new_name()
        now = _now()
        with self.db:
            self.db.execute("INSERT INTO sessions (name, collection, created_at, updated_at, kind) "
                            "VALUES (?, ?, ?, ?, ?)", (name, collection, now, now, kind))
        return name

    def open(self, name: str, collection: str) -> str:
        """The session called `name`, created if it does not exist yet; either way it becomes
        the most recent one (what `--continue` resumes)."""
        if not self.exists(name):
            return self.create(name, collection)
        with self.db:
            self.db.execute("UPDATE sessions SET updated_at = ? WHERE name = ?", (_now(), name))
        return name

    def last(self) -> str | None:
        row = self.db.execute("SELECT name FROM sessions WHERE kind = ? ORDER BY updated_at DESC, "
                              "id DESC LIMIT 1", (CHAT,)).fetchone()
        return row[0] if row else None

    def sessions(self) -> list[SessionInfo]:
        rows = self.db.execute("""
            SELECT s.name, s.collection, s.created_at, s.updated_at, COUNT(t.id),
                   (SELECT question FROM turns WHERE session_id = s.id ORDER BY id LIMIT 1)
            FROM sessions s LEFT JOIN turns t ON t.session_id = s.id WHERE s.kind = ?
            GROUP BY s.id ORDER BY s.updated_at DESC, s.id DESC""", (CHAT,)).fetchall()
        return [SessionInfo(*row) for row in rows]

    # -- turns ----------------------------------------------------------------------------

    def add(self, session: str, answer: Answer) -> None:
        session_id = self._id(session)
        if session_id is None:
            raise HistoryError(f"{session}: no such chat session; list them with: bot chat --list")
        now = _now()
        # Kept without secrets (a model may echo its key in a rewritten question or its words);
        # the citations stay exact, as they are checked against the stored articles.
        stored = {k: v if k == "citations" else redact_tree(v) for k, v in answer.to_dict().items()}
        with self.db:
            self.db.execute("INSERT INTO turns (session_id, question, standalone_question, "
                            "answer_json, created_at) VALUES (?, ?, ?, ?, ?)",
                            (session_id, stored["question"], stored.get("standalone_question"),
                             json.dumps(stored, ensure_ascii=False), now))
            self.db.execute("UPDATE sessions SET updated_at = ? WHERE id = ?", (now, session_id))

    def turns(self, session: str) -> list[Answer]:
        rows = self.db.execute("SELECT t.answer_json FROM turns t JOIN sessions s "
                               "ON s.id = t.session_id WHERE s.name = ? ORDER BY t.id",
                               (session,)).fetchall()
        return [answer_from_dict(json.loads(r[0])) for r in rows]

    # -- the log (`bot log`) --------------------------------------------------------------

    def add_ask(self, answer: Answer, collection: str) -> None:
        """Log a one-shot question (`bot ask`) as a session of its own."""
        base = f"ask-{datetime.now().strftime('%Y-%m-%d-%H%M%S-%f')}"
        name, n = base, 1
        while self.exists(name):
            n += 1
            name = f"{base}-{n}"
        self.add(self.create(name, collection, kind=ASK), answer)

    def log(self, limit: int | None = None) -> list[LogEntry]:
        """The questions asked, newest first (all of them when `limit` is None)."""
        rows = self.db.execute(
            "SELECT t.created_at, s.kind, s.name, t.answer_json FROM turns t JOIN sessions s "
            "ON s.id = t.session_id ORDER BY t.created_at DESC, t.id DESC LIMIT ?",
            (-1 if limit is None else limit,)).fetchall()
        return [LogEntry(at, kind, name, answer_from_dict(json.loads(a))) for at, kind, name, a in rows]
