"""Reading the model's reply, however it is written: the `answer` tool call or the same JSON in
the message text (in a ```json fence, in prose, as a tool call written out, after a <think>
block), whole or partial while it streams, with tolerant statements (ids under other keys, as
numbers or "[2.3]"; {passage, quote} citations)."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any, Iterator

from pydantic import BaseModel, Field, ValidationError, field_validator, model_validator
from pydantic.json_schema import SkipJsonSchema

TOOL_NAME = "answer"


class CitationOut(BaseModel):
    """A citation as {passage id, exact quote}: not asked for, but read when a model writes it."""

    passage: int
    quote: str

    @field_validator("passage", mode="before")
    @classmethod
    def _number(cls, v: Any) -> Any:
        # Small models write "1", "[1]" or "passage 1" for 1.
        if isinstance(v, str) and (m := re.search(r"\d+", v)):
            return int(m.group())
        return v


_ID_KEYS = ("sentences", "sentence_ids", "ids", "cite", "cites", "sources", "citations")


class StatementOut(BaseModel):
    """One statement of the answer and the ids of the sentences that say it."""

    text: str = Field(description="One sentence of the answer, attributing claims as the article does.")
    sentences: list[str] = Field(description="The ids of the sentences that say it, as written in "
                                             "square brackets before each sentence.")
    quote: str | None = Field(default=None, description="Optional: the exact words of those "
                                                        "sentences that answer the question.")
    quotes: SkipJsonSchema[list[CitationOut]] = Field(default_factory=list)

    @model_validator(mode="before")
    @classmethod
    def _tolerant(cls, v: Any) -> Any:
        """Ids under another key ("cite", "citations"...), as numbers or "[2.3]", one string
        or a list; {passage, quote} citations as `quotes`. One malformed citation costs that
        citation, not the whole answer."""
        if not isinstance(v, dict):
            return v
        raw = next((v[k] for k in _ID_KEYS if k in v), [])
        items = raw if isinstance(raw, list) else [raw]
        ids, quotes = [], []
        for item in items:
            if isinstance(item, (str, int, float)) and not isinstance(item, bool):
                ids.append(str(item))
            elif isinstance(item, dict) and "quote" in item:
                try:
                    quotes.append(CitationOut.model_validate(item))
                except ValidationError:
                    continue
            elif isinstance(item, dict):
                ids += [str(x) for x in item.values() if isinstance(x, (str, int, float))]
        quote = v.get("quote")
        return {**v, "sentences": ids, "quotes": quotes,
                "quote": quote if isinstance(quote, str) else None}


class AnswerOut(BaseModel):
    """Answer the question from the numbered sentences; every statement cites sentence ids."""

    # The short answer comes first in the tool's schema, and is required there (`answer_tool`):
    # servers that turn a schema into a grammar (llama.cpp) put required keys first and let
    # optional ones be skipped. Made to write it first, the 1.5B model measured answers through
    # the model 0.88 of answerable questions (0.67 with it optional, when it wrote statements
    # first and refused more), and still refuses 0.60 of unanswerable ones (BENCHMARKS.md, "Real
    # models", fourth pass). A reply without it is read all the same.
    short_answer: str | None = Field(
        default=None, description="The few words that answer, copied from the sentence that answers.")
    statements: list[StatementOut] = Field(
        description="The answer as statements; empty if the sentences do not answer.")


def answer_tool() -> dict:
    from langchain_core.utils.function_calling import convert_to_openai_tool

    tool = convert_to_openai_tool(AnswerOut)
    tool["function"]["name"] = TOOL_NAME
    tool["function"]["parameters"]["required"] = ["short_answer", "statements"]  # see AnswerOut
    return tool


@dataclass(frozen=True)
class Piece:
    """One streamed bit of the reply: tool-call arguments and/or message text. Deliberately
    not addable, so LangChain does not re-merge the growing message on every token (each merge
    of a tool-call chunk re-parses all its JSON: quadratic in the reply's length)."""

    args: str = ""
    text: str = ""
    finish: str = ""  # the finish_reason, on the last piece: "length" = cut off at max_tokens


def pieces(messages: Iterator[Any]) -> Iterator[Piece]:
    first: Any = None  # the first tool call's index: only that call is read
    empty = True
    for m in messages:
        args = []
        for c in getattr(m, "tool_call_chunks", None) or []:
            first = c.get("index") if first is None else first
            if c.get("index") in (None, first):
                args.append(c.get("args") or "")
        text = m.content if isinstance(m.content, str) else ""
        finish = (getattr(m, "response_metadata", None) or {}).get("finish_reason") or ""
        if args or text or finish:
            empty = empty and not (args or text)
            yield Piece("".join(args), text, str(finish))
    if empty:
        # An empty reply still yields one (empty) piece: LangChain's fallback step fails with
        # a bare StopIteration on a step that yields nothing; `_events` names it instead.
        yield Piece()


THINK = re.compile(r"<think>.*?</think>", re.S)


def reply_json(args: str, text: str, partial: bool = False) -> Any:
    """The answer object in a (possibly partial) reply: the tool call's arguments, else the
    JSON in the message text (a ```json fence or prose around it allowed). None if none."""
    from langchain_core.utils.json import parse_partial_json

    raw = args
    if not raw:
        # Reasoning models served locally may think aloud first; an unfinished thought is no answer.
        text = THINK.sub("", text)
        if "<think>" in text:
            return None
        start = text.find("{")
        if start < 0:
            return None
        raw = text[start:] if partial else text[start:text.rfind("}") + 1]
    try:
        data = parse_partial_json(raw) if partial else json.loads(raw)
    except (ValueError, RecursionError):  # RecursionError: JSON nested thousands deep
        return None
    return _unwrapped(data)


def _unwrapped(data: Any) -> Any:
    """The answer inside a tool call written as text: a server that does not parse the
    model's calls passes them on as {"name": "answer", "arguments": {...}} (Qwen's and
    Hermes' <tool_call> form), the arguments sometimes a JSON string."""
    if not isinstance(data, dict) or "statements" in data:
        return data
    inner = data.get("arguments", data.get("parameters"))
    if isinstance(inner, str):
        try:
            inner = json.loads(inner)
        except (ValueError, RecursionError):
            return data
    return inner if isinstance(inner, dict) else data


def display_text(obj: Any) -> str:
    """The statements' text so far, as the reader sees it while the reply streams."""
    if not isinstance(obj, dict) or not isinstance(obj.get("statements"), list):
        return ""
    texts = [s.get("text") for s in obj["statements"] if isinstance(s, dict)]
    return " ".join(t.strip() for t in texts if isinstance(t, str) and t.strip())


def parse_answer(args: str, text: str) -> AnswerOut:
    data = reply_json(args, text)
    if not isinstance(data, dict):
        raise ValueError("the reply holds no JSON answer")
    try:
        return AnswerOut.model_validate(data)
    except ValidationError:
        raise ValueError("the reply's JSON is not an answer") from None
