"""Condensing a follow-up: the model rewrites it to stand alone (prompts/condense.txt), given the
conversation so far; any fault but a rejected key, or a rewrite that drops the follow-up's own
words, leaves the question as asked (the offline method then decides)."""

from __future__ import annotations

import re

from bot.answer.llm.faults import LLMUnavailable, model_fault
from bot.answer.llm.model import chat_model, condense_prompt
from bot.answer.llm.reply import THINK
from bot.config import Settings

CONDENSE_MAX_TOKENS = 96  # one rewritten question
_HISTORY_TURNS = 6  # condense: the most recent turns that can matter to a follow-up
_HISTORY_ANSWER_CHARS = 600


def format_history(history: list[tuple[str, str]]) -> str:
    turns = []
    for q, a in history[-_HISTORY_TURNS:]:
        a = a if len(a) <= _HISTORY_ANSWER_CHARS else a[:_HISTORY_ANSWER_CHARS] + " ..."
        turns.append(f"User: {q}\nAssistant: {a}")
    return "\n\n".join(turns)


def condense(question: str, history: list[tuple[str, str]], settings: Settings | None = None) -> str:
    """The chat's follow-up rewriter (prompts/condense.txt): `question` rewritten to stand alone,
    using `history` ((question, answer text) pairs, oldest first). Without history, or if the
    model fails, the question as asked (a follow-up then searches as written); a rejected key
    raises LLMAuthError."""
    from langchain_core.output_parsers import StrOutputParser

    if not history:
        return question
    settings = settings or Settings.load()
    chain = condense_prompt() | chat_model(settings, CONDENSE_MAX_TOKENS) | StrOutputParser()
    try:
        text = chain.invoke({"question": question, "history": format_history(history)})
    except Exception as e:
        fault = model_fault(e, settings, None)
        if isinstance(fault, LLMUnavailable):
            return question
        if fault is e:
            raise
        raise fault from None
    rewritten = _one_line(text)
    return rewritten if rewritten and _keeps_words(question, rewritten) else question


def _keeps_words(question: str, rewritten: str) -> bool:
    """Whether the rewrite keeps the follow-up's own content words, as the prompt asks: the
    0.5B model rewrote "How long did they fly?" as "How long did North Korea test-fire?"
    (BENCHMARKS.md, "Real models", fourth pass). A rewrite that drops one is not used."""
    from bot.answer.guard import content_terms

    return content_terms(question) <= content_terms(rewritten)


_LABEL = re.compile(r"^(?:standalone question|question|rewritten(?: question)?)\s*:\s*", re.I)


def _one_line(text: str) -> str:
    """The question in a condense reply: small models add a label, quotes or a code fence."""
    text = THINK.sub("", text)
    for line in text.strip().splitlines():
        line = _LABEL.sub("", line.strip().strip("`").strip()).strip().strip('"').strip()
        if line and not line.lower().startswith(("```", "json", "here")):
            return line
    return ""
