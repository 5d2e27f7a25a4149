"""The LLM answerer: question -> retrieve -> numbered sentences -> prompt -> model, one LCEL pipe
streamed into provisional `Delta`s and one `Result` (the Draft bot/answer/flow.py verifies)."""

from __future__ import annotations

import functools
import json
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator

from pydantic import ValidationError

from bot.answer import sentence_ids
from bot.answer.llm.draft import to_draft
from bot.answer.llm.faults import CutOff, Malformed, Overtime, model_fault
from bot.answer.llm.model import answer_prompt, prompt_text, structured_model
from bot.answer.llm.reply import AnswerOut, Piece, answer_tool, display_text, parse_answer, reply_json
from bot.answer.llm.rewrite import condense
from bot.answer.sentence_ids import Numbered
from bot.config import Settings
from bot.schema import Draft, Passage

_REPARSE_EVERY = 24  # characters of new reply before the partial JSON is parsed again
MAX_REPLY_CHARS = 200_000  # a reply this long is a runaway model, not an answer (~40x a long one)


@dataclass
class Delta:
    """Provisional answer text as it arrives (not yet verified)."""

    text: str


@dataclass
class Result:
    draft: Draft
    passages: list[Passage]
    timings_ms: dict[str, float] = field(default_factory=dict)


class LLMAnswerer:
    def __init__(self, settings: Settings):
        self.settings = settings
        self.model = structured_model(settings)
        self.prompt = answer_prompt()
        # What every prompt holds besides the passages: they get the rest of the context.
        self._fixed_chars = len(prompt_text("system")) + len(prompt_text("qa")) + len(
            json.dumps(answer_tool()) if settings.llm_output != "text" else "")

    def number(self, question: str, passages: list[Passage]) -> Numbered:
        """The passages as numbered sentences, as many as fit the context beside the reply."""
        s = self.settings
        budget = sentence_ids.budget_chars(s.llm_context, s.llm_max_tokens,
                                           self._fixed_chars + len(question))
        return sentence_ids.number(passages, budget)

    def chain(self, retrieve: Callable[[str], list[Passage]], seen: dict[str, Any]):
        """question -> retrieve -> prompt -> model, streamed into Delta events and a Result.

        One straight pipe: the passages reach the last step through `seen` (which also records
        how far a call got, to say what failed) rather than beside the reply in a parallel
        step, which would cost a thread hand-off per token; and the model step yields `Piece`s,
        which LangChain's steps do not re-merge per token."""
        from langchain_core.runnables import RunnableBranch, RunnableGenerator, RunnableLambda

        def _retrieve(x: dict) -> dict:
            seen["passages"] = retrieve(x["question"])
            seen["retrieved"] = time.perf_counter()
            seen["numbered"] = self.number(x["question"], seen["passages"])
            seen["question"] = x["question"]
            return {"question": x["question"], "passages": seen["numbered"].text}

        no_passages = RunnableLambda(lambda x: Piece(text='{"statements": []}'))  # ask no model
        return (RunnableLambda(_retrieve)
                | RunnableBranch((lambda x: not seen["passages"], no_passages), self.prompt | self.model)
                | RunnableGenerator(functools.partial(_events, seen=seen)))

    def stream(self, question: str, retrieve: Callable[[str], list[Passage]]) -> Iterator[Delta | Result]:
        """Deltas, then one Result. Raises LLMAuthError, or LLMUnavailable (fall back)."""
        t0 = time.perf_counter()
        # The openai timeout bounds each read; this bounds the whole reply, however it trickles.
        seen: dict[str, Any] = {"secrets": tuple(self.settings.secrets),
                                "deadline": t0 + self.settings.llm_timeout,
                                "max_tokens": self.settings.llm_max_tokens}
        try:
            for event in self.chain(retrieve, seen).stream({"question": question}):
                if isinstance(event, Result):
                    t1 = seen.get("retrieved", t0)
                    event.timings_ms = {"retrieve": (t1 - t0) * 1000,
                                        "llm": (time.perf_counter() - t1) * 1000}
                yield event
        except Exception as e:  # only the model's faults are mapped; anything else is a bug
            if "retrieved" not in seen:
                raise  # retrieval failed: not the model's fault
            fault = model_fault(e, self.settings, seen.get("passages"), replying="replying" in seen)
            if fault is e:
                raise
            raise fault from None

    def condense(self, question: str, history: list[tuple[str, str]]) -> str:
        return condense(question, history, self.settings)


def _events(pieces: Iterator[Piece], seen: dict[str, Any]) -> Iterator[Delta | Result]:
    """Reply pieces -> Delta events for new statement text, then the Result."""
    args, text, finish = "", "", ""
    shown, parsed_at = "", 0
    for piece in pieces:
        seen["replying"] = True
        args, text, finish = args + piece.args, text + piece.text, piece.finish or finish
        if len(args) + len(text) > MAX_REPLY_CHARS:
            raise Malformed(f"the reply ran past {MAX_REPLY_CHARS:,} characters")
        if time.perf_counter() > seen.get("deadline", float("inf")):
            raise Overtime()
        # Re-parsing the whole partial JSON on every token would cost O(n^2): parse again
        # after 24 new characters, or an eighth more of the reply, whichever is more (O(n)).
        if len(args) + len(text) - parsed_at < max(_REPARSE_EVERY, parsed_at // 8):
            continue
        parsed_at = len(args) + len(text)
        now = display_text(reply_json(args, text, partial=True))
        if now.startswith(shown) and len(now) > len(shown):
            yield Delta(now[len(shown):])
            shown = now
    if not (args or text):
        raise Malformed("the reply was empty")
    out, cut_off = _answer(args, text, finish == "length", seen.get("max_tokens"))
    now = " ".join(s.text.strip() for s in out.statements if s.text.strip())
    if now.startswith(shown) and len(now) > len(shown):
        yield Delta(now[len(shown):])
    draft = to_draft(out, seen["numbered"], seen.get("secrets", ()), cut_off, seen.get("question", ""))
    yield Result(draft, seen["passages"])


def _answer(args: str, text: str, length: bool, max_tokens: int | None) -> tuple[AnswerOut, bool]:
    """The reply's answer, and whether it was cut off (at max_tokens) before it ended. A cut
    reply keeps its complete statements: all but the one being written, unless the cut came
    after the statements (in a short answer written after them)."""
    try:
        return parse_answer(args, text), False
    except ValueError as e:
        if not length:
            raise Malformed(str(e)) from None
    data = reply_json(args, text, partial=True)
    if isinstance(data, dict) and isinstance(data.get("statements"), list):
        keys = list(data)  # in the order written
        closed = "short_answer" in keys and keys.index("short_answer") > keys.index("statements")
        whole = data["statements"] if closed else data["statements"][:-1]
        try:
            out = AnswerOut.model_validate({"statements": whole})
        except ValidationError:
            out = None
        if out and out.statements:
            return out, True
    raise CutOff(f"the model's reply was cut off at {max_tokens} tokens (BOT_LLM_MAX_TOKENS) "
                  "before a whole statement was written")
