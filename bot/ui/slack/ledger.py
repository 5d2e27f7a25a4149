"""What the Slack bot said and what people thought of it: SQLite in the store directory.

Each answer posted is recorded with where it lives (channel, thread, message ts), so that a
reply in that thread is recognised as a follow-up (even after a restart), `/sources` can show
the last answer's sources, and a 👍/👎 click can be stored with the question, answer and
citations it judges. `bot feedback --json` exports the clicks.
"""

from __future__ import annotations

import json
import sqlite3
import time
from contextlib import closing
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterator

from bot.errors import BotError
from bot.schema import Answer

FILE_NAME = "slack.sqlite3"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS answers (
    id TEXT PRIMARY KEY,
    channel TEXT NOT NULL,
    thread_ts TEXT NOT NULL,   -- the thread the answer is in (its own ts when top-level)
    ts TEXT NOT NULL,          -- the answer message itself
    user TEXT NOT NULL,
    question TEXT NOT NULL,
    answer_json TEXT NOT NULL,
    created REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS answers_thread ON answers (channel, thread_ts);
CREATE INDEX IF NOT EXISTS answers_channel ON answers (channel, created);
CREATE TABLE IF NOT EXISTS feedback (
    answer_id TEXT NOT NULL REFERENCES answers (id),
    user TEXT NOT NULL,
    vote TEXT NOT NULL CHECK (vote IN ('up', 'down')),
    created REAL NOT NULL,
    PRIMARY KEY (answer_id, user)   -- one vote per person per answer; a new click replaces it
);
"""


class LedgerError(BotError):
    """The Slack ledger database cannot be opened or read."""


@dataclass(frozen=True)
class Recorded:
    answer_id: str
    channel: str
    thread_ts: str
    ts: str
    user: str
    question: str
    answer: dict[str, Any]  # Answer.to_dict()
    created: float


class Ledger:
    def __init__(self, store_dir: Path):
        self.path = Path(store_dir) / FILE_NAME
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self._db() as db:
                db.executescript(_SCHEMA)
        except sqlite3.Error as e:
            raise LedgerError(f"cannot open {self.path} ({e}); check BOT_STORE_DIR") from None

    def _db(self) -> Any:
        # A connection per call: cheap for SQLite, and safe from any worker thread or process.
        db = sqlite3.connect(self.path, timeout=30)
        db.execute("PRAGMA journal_mode=WAL")
        return _Tx(db)

    # -- answers --------------------------------------------------------------------------

    def record(self, answer_id: str, channel: str, thread_ts: str, ts: str, user: str,
               question: str, answer: Answer) -> None:
        with self._db() as db:
            db.execute("INSERT INTO answers VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                       (answer_id, channel, thread_ts, ts, user, question,
                        json.dumps(answer.to_dict(), ensure_ascii=False), time.time()))

    def forget(self, answer_id: str) -> None:
        with self._db() as db:
            db.execute("DELETE FROM answers WHERE id = ?", (answer_id,))

    def answer(self, answer_id: str) -> Recorded | None:
        return next(self._select("WHERE id = ?", (answer_id,)), None)

    def in_thread(self, channel: str, thread_ts: str) -> list[Recorded]:
        """The bot's answers in one thread, oldest first."""
        return list(self._select("WHERE channel = ? AND thread_ts = ? ORDER BY created",
                                 (channel, thread_ts)))

    def top_level(self, channel: str, since: float) -> list[Recorded]:
        """Answers posted outside threads (DMs) after `since`, oldest first."""
        return list(self._select("WHERE channel = ? AND thread_ts = ts AND created >= ? "
                                 "ORDER BY created", (channel, since)))

    def last(self, channel: str) -> Recorded | None:
        return next(self._select("WHERE channel = ? ORDER BY created DESC LIMIT 1", (channel,)),
                    None)

    def _select(self, where: str, args: tuple) -> Iterator[Recorded]:
        with self._db() as db:
            rows = db.execute(f"SELECT id, channel, thread_ts, ts, user, question, answer_json, "
                              f"created FROM answers {where}", args).fetchall()
        for r in rows:
            yield Recorded(r[0], r[1], r[2], r[3], r[4], r[5], json.loads(r[6]), r[7])

    # -- feedback -------------------------------------------------------------------------

    def vote(self, answer_id: str, user: str, vote: str) -> bool:
        """Store a click; False when the answer is not on record."""
        with self._db() as db:
            if db.execute("SELECT 1 FROM answers WHERE id = ?", (answer_id,)).fetchone() is None:
                return False
            db.execute("INSERT OR REPLACE INTO feedback VALUES (?, ?, ?, ?)",
                       (answer_id, user, vote, time.time()))
        return True

    def feedback(self) -> list[dict[str, Any]]:
        """Every click with the question, answer and citations it judged, oldest first."""
        with self._db() as db:
            rows = db.execute(
                "SELECT f.answer_id, f.user, f.vote, f.created, a.channel, a.ts, a.question, "
                "a.answer_json FROM feedback f JOIN answers a ON a.id = f.answer_id "
                "ORDER BY f.created").fetchall()
        out = []
        for answer_id, user, vote, created, channel, ts, question, answer_json in rows:
            answer = json.loads(answer_json)
            out.append({"answer_id": answer_id, "vote": vote, "user": user,
                        "at": datetime.fromtimestamp(created, timezone.utc).isoformat(timespec="seconds"),
                        "channel": channel, "message_ts": ts, "question": question,
                        "answer": answer.get("answer"), "short_answer": answer.get("short_answer"),
                        "refused": answer.get("refused"), "citations": answer.get("citations", [])})
        return out


class _Tx:
    """`with` = one transaction, committed on success, and the connection always closed."""

    def __init__(self, db: sqlite3.Connection):
        self.db = db

    def __enter__(self) -> sqlite3.Connection:
        return self.db

    def __exit__(self, exc_type: Any, *rest: Any) -> None:
        with closing(self.db):
            if exc_type is None:
                self.db.commit()
