"""What a well-formed answer is, checked strictly (shared by the reliability tests and benches).

An answer is well-formed when it is either
- a refusal: `refused`, the refusal text, no statements, no citations; or
- an answer: at least one statement, every statement cites at least one citation, citations are
  numbered 1..n and each is used, the answer text is the statements' text, and every citation is
  an exact span of the stored article it names (`citations.check` against a fresh read of the
  store, so title and source are the stored ones too).
"""

from __future__ import annotations

from typing import Callable

from bot.answer.citations import REFUSAL, check
from bot.schema import Answer, Article, Citation


def problems(answer: Answer, lookup: Callable[[str], Article | None]) -> list[str]:
    """Everything wrong with `answer`; [] when it is well-formed."""
    out: list[str] = []
    if answer.refused:
        if answer.answer != REFUSAL or answer.statements or answer.citations:
            out.append("a refusal carries statements or citations")
        return out
    if not answer.statements:
        out.append("an answer without statements")
    numbers = [c.n for c in answer.citations]
    if numbers != list(range(1, len(numbers) + 1)):
        out.append(f"citations are numbered {numbers}")
    used = {n for s in answer.statements for n in s.citations}
    if used != set(numbers):
        out.append(f"statements cite {sorted(used)}, citations are {numbers}")
    for s in answer.statements:
        if not s.citations:
            out.append(f"uncited statement: {s.text[:80]!r}")
    if answer.answer != " ".join(s.text for s in answer.statements):
        out.append("the answer text is not its statements")
    for c in answer.citations:
        out += citation_problems(c, lookup)
    if answer.short_answer and not any(answer.short_answer in c.quote for c in answer.citations):
        out.append(f"short answer {answer.short_answer!r} is in no quote")
    return out


def citation_problems(c: Citation, lookup: Callable[[str], Article | None]) -> list[str]:
    article = lookup(c.article_id)
    if article is None:
        return [f"citation [{c.n}] names article {c.article_id}, which is not stored"]
    if not check(c, article):
        return [f"citation [{c.n}] is not the exact span {c.start}-{c.end} of {c.article_id}"]
    if (c.title, c.source) != (article.title, article.source):
        return [f"citation [{c.n}] shows title/source other than the stored ones"]
    return []


def from_dict(d: dict) -> Answer:
    """An Answer back from `Answer.to_dict()` (JSON from another process or the CLI)."""
    from bot.schema import Statement

    return Answer(question=d["question"], answer=d["answer"], short_answer=d["short_answer"],
                  refused=d["refused"], mode=d["mode"],
                  citations=[Citation(**c) for c in d["citations"]],
                  statements=[Statement(**s) for s in d["statements"]],
                  timings_ms=d.get("timings_ms") or {}, notice=d.get("notice"),
                  standalone_question=d.get("standalone_question"))
