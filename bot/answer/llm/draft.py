"""The model's statements as a Draft: each statement's sentence ids (or quotes) turned into exact
spans of the stored articles, narrowed to its quote, and kept only when those sentences back
it (figures and words, bot/answer/guard.py); a wrong id is mended when one other sentence the
model was given backs the statement."""

from __future__ import annotations

import re

from bot.answer import citations
from bot.answer.llm.reply import AnswerOut, StatementOut
from bot.answer.sentence_ids import Numbered, Span
from bot.schema import Draft, DraftStatement, Quote

CUT_OFF = "The model's reply was cut off at BOT_LLM_MAX_TOKENS; statements after the cut are missing."


_FIGURE = re.compile(r"\d[\d,.]*\d|\d")
_ASKS = re.compile(r"\b(what|which|who|whom|whose|when|where|why|how)\b", re.I)


def figures(text: str) -> set[str]:
    """The numbers written in digits ('1,800' and '1800' alike)."""
    return {m.group().replace(",", "").rstrip(".") for m in _FIGURE.finditer(text)}


def to_draft(out: AnswerOut, numbered: Numbered, secrets: tuple[str, ...] = (),
             cut_off: bool = False, question: str = "") -> Draft:
    """Statements with quotes pointing into the cited sentences' articles. A statement is
    dropped when its figures appear in none of its cited sentences, or when its words are not
    backed by them by the rules of bot/answer/guard.py (which also keep instruction sentences
    planted in an article from counting as evidence): the sentences must back what is claimed.
    Small models cite a wrong id now and then ("3.1" for what "1.1" says, or an id that was not
    given): a statement its cited ids do not back is kept when one other sentence the model was
    given backs it by the same rules, citing that sentence. A statement that only restates a
    `question` asking what, who, when... (small models echo it) answers nothing: dropped too."""
    from bot.answer import guard

    passages = numbered.passages
    instructions = [p.chunk.text[s:e] for p in passages for s, e in guard.instruction_spans(p.chunk.text)]
    given = [sp for sp in numbered.spans.values()
             if not guard.in_instruction(sp.article.text, sp.start, sp.end)]
    statements: list[DraftStatement] = []
    dropped = {"figures": 0, "words": 0, "question": 0}
    asked = guard.content_terms(question) if _ASKS.search(question) else set()
    for s in out.statements:
        if not s.text.strip():
            continue
        if asked and guard.content_terms(s.text) <= asked:
            dropped["question"] += 1
            continue
        cited = _cited(s, numbered)
        evidence = _relevant(s.text, [sp for sp in cited
                                      if not guard.in_instruction(sp.article.text, sp.start, sp.end)])
        if cited and not evidence:
            dropped["words"] += 1  # it cites nothing but instructions planted in an article
            continue
        problem = _problem(s.text, evidence, instructions, secrets) if evidence else None
        # A wrong id: one whose sentence does not back the statement, or one that names no
        # sentence given (a model given one sentence may still cite "2.1").
        wrong = problem or (s.sentences and not cited)
        if wrong and (other := _best_backing(s.text, given)) is not None \
                and not _problem(s.text, [other], instructions, secrets):
            evidence, problem = [other], None
        if problem:
            dropped[problem] += 1
            continue
        # No evidence at all (ids and quotes that match nothing): the verifier drops it, counted.
        quotes = [Quote(sp.article.article_id, sp.text, near=sp.start) for sp in evidence]
        statements.append(DraftStatement(s.text.strip(), quotes))
    notes = [f"{dropped['figures']} statement(s) dropped: they cite figures their sentences do not "
             "contain." if dropped["figures"] else "",
             f"{dropped['words']} statement(s) dropped: their words are not backed by the sentences "
             "they cite." if dropped["words"] else "",
             f"{dropped['question']} statement(s) dropped: they only restate the question."
             if dropped["question"] else "",
             CUT_OFF if cut_off else ""]
    return Draft(statements=statements, short_answer=out.short_answer,
                 refused=not out.statements, mode="llm", notice=" ".join(filter(None, notes)) or None)


def _problem(statement: str, evidence: list[Span], instructions: list[str],
             secrets: tuple[str, ...]) -> str | None:
    """Why `evidence` does not back `statement` ("figures" or "words"), or None if it does."""
    from bot.answer import guard

    if not figures(statement) <= set().union(*(figures(sp.text) for sp in evidence)):
        return "figures"
    around = [guard.sentences_around(sp.article.text, sp.start, sp.end) for sp in evidence]
    return "words" if guard.unbacked(statement, around, instructions, secrets) else None


def _best_backing(statement: str, spans: list[Span]) -> Span | None:
    """The one given sentence sharing the most content words with `statement` (None if none
    shares any)."""
    from bot.answer.guard import content_terms

    said = content_terms(statement)
    best = max(spans, key=lambda sp: len(said & content_terms(sp.text)), default=None)
    return best if best is not None and said & content_terms(best.text) else None


def _relevant(statement: str, spans: list[Span]) -> list[Span]:
    """The cited sentences that back the statement: small models cite a run of neighbours
    ("1.2" to "1.6") for a statement taken from one. A sentence sharing under half the content
    words of the best-matching one is not shown as a source."""
    from bot.answer.guard import content_terms

    said = content_terms(statement)
    overlap = [len(said & content_terms(sp.text)) for sp in spans]
    best = max(overlap, default=0)
    return [sp for sp, n in zip(spans, overlap) if n * 2 >= best and (n or not best)]


def _cited(s: StatementOut, numbered: Numbered) -> list[Span]:
    """The exact spans a statement cites: its sentence ids (narrowed to its optional quote
    where the quote lies inside one of them), and any {passage, quote} it gave instead."""
    spans = list({(sp.article.article_id, sp.start): sp
                  for sid in s.sentences for sp in numbered.cited(sid)}.values())
    if s.quote and len(s.quote.split()) >= 2 and spans:
        spans = [_narrowed(sp, s.quote) for sp in spans]
    for c in s.quotes:
        if 1 <= c.passage <= len(numbered.passages):
            p = numbered.passages[c.passage - 1]
            found = citations.locate(c.quote, p.article.text, p.chunk.start)
            if found:
                spans.append(Span(p, *found))
    return spans


def _narrowed(sp: Span, quote: str) -> Span:
    """The part of sentence `sp` that is `quote`, or the whole sentence if the quote is not in it."""
    found = citations.locate(quote, sp.article.text, sp.start)
    if found and sp.start <= found[0] and found[1] <= sp.end:
        return Span(sp.passage, *found)
    return sp
