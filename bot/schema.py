"""The records that cross module lines: article → chunk → passage → draft → answer."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True)
class Article:
    article_id: str
    title: str
    source: str
    text: str
    published: str | None = None  # ISO date (YYYY-MM-DD) when known
    ingested_at: str | None = None  # ISO timestamp, set by the store
    content_hash: str = ""
    meta: dict[str, Any] = field(default_factory=dict)  # author, canonical_url, guid, pages...

    def to_dict(self, with_text: bool = True) -> dict[str, Any]:
        out: dict[str, Any] = {
            "article_id": self.article_id,
            "title": self.title,
            "source": self.source,
            "published": self.published,
        }
        if with_text:
            out["text"] = self.text
        return out


@dataclass(frozen=True)
class Chunk:
    article_id: str
    chunk_no: int
    start: int
    end: int
    text: str

    @property
    def chunk_id(self) -> str:
        # Deterministic ids make re-ingest a diff and deletes exact.
        return f"{self.article_id}:{self.chunk_no}"


@dataclass(frozen=True)
class Passage:
    """A retrieved chunk, with the article it belongs to and how it ranked."""

    chunk: Chunk
    article: Article
    score: float
    rank: int


@dataclass(frozen=True)
class Quote:
    """Evidence an answerer claims: unverified until `citations.verify` finds it."""

    article_id: str
    text: str
    near: int | None = None  # where in the article the answerer saw it, to pick among repeats


@dataclass
class DraftStatement:
    text: str
    quotes: list[Quote]


@dataclass
class Draft:
    """What an answerer (extractive or LLM) produces before verification."""

    statements: list[DraftStatement]
    short_answer: str | None = None
    refused: bool = False
    mode: str = "extractive"
    notice: str | None = None
    # Calibrated probabilities (offline answerer; None where no calibration applies): that the
    # headline shown first is right, and that the candidate short answer is right.
    confidence: float | None = None
    short_answer_confidence: float | None = None
    short_answer_candidate: str | None = None  # the best phrase, shown or not
    not_stated: str | None = None  # the kind asked for that the cited sentences do not hold


@dataclass(frozen=True)
class Citation:
    n: int
    article_id: str
    title: str
    source: str
    start: int
    end: int
    quote: str
    page: int | None = None  # 1-based page, for articles with pages (PDF)

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        if out["page"] is None:
            del out["page"]  # the spine's JSON shape, unchanged for articles without pages
        return out


@dataclass
class Statement:
    text: str
    citations: list[int]  # numbers into the answer's citation list


@dataclass
class Answer:
    question: str
    answer: str
    short_answer: str | None
    refused: bool
    mode: str
    citations: list[Citation]
    statements: list[Statement] = field(default_factory=list)
    timings_ms: dict[str, float] = field(default_factory=dict)
    notice: str | None = None
    standalone_question: str | None = None  # the question as searched, when history changed it
    # short_answer is what is shown: None when the candidate phrase is not confident enough.
    confidence: float | None = None  # P(the headline shown first is right)
    short_answer_confidence: float | None = None  # P(short_answer_candidate is right)
    short_answer_candidate: str | None = None  # the best phrase found, shown or not
    not_stated: str | None = None  # "a distance": the sources do not say; the nearest is cited

    @property
    def lead(self) -> str | None:
        """A line shown before the statements: the sources do not give what was asked."""
        return not_stated_line(self.not_stated) if self.not_stated else None

    def to_dict(self) -> dict[str, Any]:
        return {
            "question": self.question,
            "answer": self.answer,
            "short_answer": self.short_answer,
            "refused": self.refused,
            "mode": self.mode,
            "citations": [c.to_dict() for c in self.citations],
            "statements": [asdict(s) for s in self.statements],
            "timings_ms": {k: round(v, 1) for k, v in self.timings_ms.items()},
            "notice": self.notice,
            "standalone_question": self.standalone_question,
            "confidence": _round(self.confidence),
            "short_answer_confidence": _round(self.short_answer_confidence),
            "short_answer_candidate": self.short_answer_candidate,
            "not_stated": self.not_stated,
        }


def not_stated_line(kind: str) -> str:
    """What a reader sees first when the cited sentences lack the kind of thing asked for."""
    return f"The sources do not give {kind} for this; the nearest they come is:"


def _round(x: float | None) -> float | None:
    return None if x is None else round(x, 3)


@dataclass
class AnswerDelta:
    """Answer text as a streaming model writes it: provisional, not yet verified."""

    text: str


@dataclass
class AnswerDone:
    """The end of an answer stream: the verified answer (statements may differ from deltas)."""

    answer: Answer


@dataclass
class IngestFailure:
    source: str
    reason: str

    def line(self) -> str:
        return f"{self.source}: {self.reason}"


@dataclass
class IngestReport:
    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    failed: list[IngestFailure] = field(default_factory=list)
    chunks: int = 0
    notes: list[str] = field(default_factory=list)  # e.g. "page not fetched; used the feed's text"
    skipped: dict[str, int] = field(default_factory=dict)  # unsupported files in folders, by suffix

    def merge(self, other: "IngestReport") -> None:
        self.added += other.added
        self.updated += other.updated
        self.unchanged += other.unchanged
        self.failed += other.failed
        self.chunks += other.chunks
        self.notes += other.notes
        for kind, n in other.skipped.items():
            self.skipped[kind] = self.skipped.get(kind, 0) + n

    def summary(self) -> str:
        return (
            f"{len(self.added)} added, {len(self.updated)} updated, "
            f"{len(self.unchanged)} unchanged, {len(self.failed)} failed"
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "added": self.added,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "failed": [asdict(f) for f in self.failed],
            "chunks": self.chunks,
            "notes": self.notes,
            "skipped": self.skipped,
        }


# -- briefings (bot/brief/briefing.py) ---------------------------------------------------------------


@dataclass
class Point:
    """One statement of a summary or briefing with its verified citations.

    `date` is set in a timeline, `claimant` (who said it) in claims to watch, and `group` links
    claims by different claimants on the same subject, which are shown side by side."""

    text: str
    citations: list[Citation]
    date: str | None = None
    claimant: str | None = None
    group: int | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"text": self.text, "citations": [c.to_dict() for c in self.citations]}
        for key in ("date", "claimant", "group"):
            if getattr(self, key) is not None:
                out[key] = getattr(self, key)
        return out


@dataclass
class Summary:
    article_id: str
    title: str
    statements: list[Point]
    mode: str = "extractive"
    notice: str | None = None

    @property
    def citations(self) -> list[Citation]:
        return _unique_citations(self.statements)

    def to_dict(self) -> dict[str, Any]:
        return {"article_id": self.article_id, "statements": [s.to_dict() for s in self.statements]}


@dataclass
class Section:
    heading: str
    statements: list[Point]
    kind: str = "points"  # headline | topic | timeline | claims


@dataclass
class Briefing:
    title: str
    generated_at: str  # ISO timestamp
    articles: list[Article]
    sections: list[Section]
    mode: str = "extractive"
    notice: str | None = None

    @property
    def citations(self) -> list[Citation]:
        return _unique_citations([p for s in self.sections for p in s.statements])

    def to_dict(self) -> dict[str, Any]:
        return {
            "title": self.title,
            "generated_at": self.generated_at,
            "articles": [a.to_dict(with_text=False) for a in self.articles],
            "sections": [{"heading": s.heading, "statements": [p.to_dict() for p in s.statements]}
                         for s in self.sections],
        }


def _unique_citations(points: list[Point]) -> list[Citation]:
    seen: dict[int, Citation] = {}
    for p in points:
        for c in p.citations:
            seen.setdefault(c.n, c)
    return [seen[n] for n in sorted(seen)]
