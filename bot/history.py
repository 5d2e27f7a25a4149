"""Chat sessions, kept in SQLite in the store directory so `bot chat --continue` can resume.

One row per session and one per turn: the question as typed, the standalone question that was
searched, and the whole verified answer as JSON (so a resumed session can show /sources and
/open, and follow-ups keep their context).
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from bot.errors import BotError
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

    def create(self, name: str | None, collection: str) -> str:
        """A new empty session; without a name it is named after the time it started."""
        name = name or self.new_name()
        now = _now()
        with self.db:
            self.db.execute("INSERT INTO sessions (name, collection, created_at, updated_at) "
                            "VALUES (?, ?, ?, ?)", (name, collection, now, now))
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
        row = self.db.execute("SELECT name FROM sessions ORDER BY updated_at DESC, id DESC "
                              "LIMIT 1").fetchone()
        return row[0] if row else None

    def sessions(self) -> list[SessionInfo]:
        rows = self.db.execute("""
            SELECT s.name, s.collection, s.created_at, s.updated_at, COUNT(t.id),
                   (SELECT question FROM turns WHERE session_id = s.id ORDER BY id LIMIT 1)
            FROM sessions s LEFT JOIN turns t ON t.session_id = s.id
            GROUP BY s.id ORDER BY s.updated_at DESC, s.id DESC""").fetchall()
        return [SessionInfo(*row) for row in rows]

    # -- turns ----------------------------------------------------------------------------

    def add(self, session: str, answer: Answer) -> None:
        session_id = self._id(session)
        if session_id is None:
            raise HistoryError(f"{session}: no such chat session; list them with: bot chat --list")
        now = _now()
        with self.db:
            self.db.execute("INSERT INTO turns (session_id, question, standalone_question, "
                            "answer_json, created_at) VALUES (?, ?, ?, ?, ?)",
                            (session_id, answer.question, answer.standalone_question,
                             json.dumps(answer.to_dict(), ensure_ascii=False), now))
            self.db.execute("UPDATE sessions SET updated_at = ? WHERE id = ?", (now, session_id))

    def turns(self, session: str) -> list[Answer]:
        rows = self.db.execute("SELECT t.answer_json FROM turns t JOIN sessions s "
                               "ON s.id = t.session_id WHERE s.name = ? ORDER BY t.id",
                               (session,)).fetchall()
        return [answer_from_dict(json.loads(r[0])) for r in rows]
