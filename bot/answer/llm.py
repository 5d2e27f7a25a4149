"""The LLM answerer: an LCEL chain over any OpenAI-compatible chat model.

    question ─▶ retrieve ─▶ the offline ranker's best sentences (`evidence`; bot/core.py asks
                the model only when the offline answerer answers: `gated`)
             ─▶ numbered sentences (bot/answer/sentence_ids.py, cut to fit the context)
             ─▶ prompt ─▶ ChatOpenAI (max_tokens on every call)
             ─▶ structured reply: statements, each citing sentence ids ("2.3")
             ─▶ Draft(statements + Quote(article_id, exact sentence span)) ─▶ core verifies

The model is asked for the `answer` tool call; a server that rejects tools or tool_choice
(HTTP 400/422) is asked again for the same JSON in the message text, and a reply that ignores
the tool and writes the JSON as text (in a fence, in prose, as a tool call written out) is
read as well, so small local servers work too (BOT_LLM_OUTPUT pins one way). While the reply
streams, the statements' text is parsed from the partial JSON and passed on as deltas:
provisional text, shown before verification. A reply cut off at max_tokens keeps its whole
statements, with a notice.

The model is never trusted: sentences are JSON-escaped data it cannot break out of, nothing it
writes is shown except statements backed by the sentences they cite (bot/answer/guard.py) whose
spans the shared verifier (bot/answer/citations.py) finds in the stored article. Faults: a rejected
key raises `LLMAuthError` (exit code 2); anything else that keeps the model from answering
(unreachable: at once, no retries; timed out or 429/5xx after the client's retries; a
malformed or cut-off reply) raises `LLMUnavailable`, on which the caller falls back to the
extractive answer.
"""

from __future__ import annotations

import functools
import importlib
import importlib.resources
import json
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator
from urllib.parse import urlsplit, urlunsplit

from pydantic import BaseModel, Field, ValidationError, field_validator, model_validator
from pydantic.json_schema import SkipJsonSchema

import bot
from bot.answer import citations
from bot.config import Settings
from bot.errors import BotError
from bot.schema import Draft, DraftStatement, Passage, Quote
from bot.answer import sentence_ids
from bot.answer.sentence_ids import Numbered, Span

OPENAI_BASE_URL = "https://api.openai.com/v1"
NO_KEY = "not-needed"  # local servers ignore the key, but the openai client insists on one
TOOL_NAME = "answer"
OUTPUT_MODES = ("auto", "tools", "text")
_REPARSE_EVERY = 24  # characters of new reply before the partial JSON is parsed again
MAX_REPLY_CHARS = 200_000  # a reply this long is a runaway model, not an answer (~40x a long one)
CONDENSE_MAX_TOKENS = 96  # one rewritten question
CUT_OFF = "The model's reply was cut off at BOT_LLM_MAX_TOKENS; statements after the cut are missing."
_HISTORY_TURNS = 6  # condense: the most recent turns that can matter to a follow-up
_HISTORY_ANSWER_CHARS = 600
# What the model sees: the offline ranker's best sentences of the retrieved chunks (BOT_TOP_K),
# not whole chunks (see BENCHMARKS.md, "Real models").
EVIDENCE_SENTENCES = 6
# The refusal gate: under this calibrated confidence of the offline answer the model is not
# asked either. 0: only the offline answerer's own refusals; bench/llm_gate.py measures higher
# thresholds on fold A, and BENCHMARKS.md ("Real models") says why none is used yet.
GATE_CONFIDENCE = 0.0
GATED_NOTICE = "Answered offline: the sources do not answer this well enough to ask the model."


class LLMError(BotError):
    """The configured model could not be used."""


class LLMAuthError(LLMError):
    """The server rejected the API key (HTTP 401/403): the user must fix it, no fallback."""

    exit_code = 2


class LLMUnavailable(LLMError):
    """The model gave no usable answer; `reason` says why in words safe to show."""

    def __init__(self, reason: str, passages: list[Passage] | None = None):
        super().__init__(reason)
        self.reason = reason
        self.passages = passages  # what was retrieved before the failure, if anything


# -- the structured reply ----------------------------------------------------------------


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

    statements: list[StatementOut] = Field(
        description="The answer as statements; empty if the sentences do not answer.")
    short_answer: str | None = Field(
        default=None, description="The shortest phrase that answers, copied from a cited sentence.")


def answer_tool() -> dict:
    from langchain_core.utils.function_calling import convert_to_openai_tool

    tool = convert_to_openai_tool(AnswerOut)
    tool["function"]["name"] = TOOL_NAME
    return tool


# -- prompts -----------------------------------------------------------------------------


def prompt_text(name: str) -> str:
    """A prompt file: the repo's prompts/ when running from source, else the installed copy."""
    local = Path(bot.__file__).resolve().parent.parent / "prompts" / f"{name}.txt"
    if local.is_file():
        return local.read_text(encoding="utf-8")
    return importlib.resources.files("bot.prompts").joinpath(f"{name}.txt").read_text(encoding="utf-8")


def answer_prompt():
    from langchain_core.prompts import ChatPromptTemplate

    return ChatPromptTemplate.from_messages([("system", prompt_text("system")),
                                             ("human", prompt_text("qa"))])


def condense_prompt():
    from langchain_core.prompts import ChatPromptTemplate

    return ChatPromptTemplate.from_messages([("human", prompt_text("condense"))])


# -- the model ---------------------------------------------------------------------------


def shown_url(settings: Settings) -> str:
    """The server's URL as it may be shown: credentials in it, if any, removed."""
    parts = urlsplit(settings.openai_base_url or OPENAI_BASE_URL)
    host = parts.hostname or ""
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


def chat_model(settings: Settings, max_tokens: int | None = None):
    """The chat model, every call bounded by `max_tokens` (BOT_LLM_MAX_TOKENS by default).

    `max_tokens` goes in the body as such: LangChain would send `max_completion_tokens`,
    which llama.cpp's and other local servers ignore (a 0.5B model then writes until its
    context is full). A server that cannot be connected to (refused, unknown host) fails at
    once instead of being retried: only 429/5xx and timeouts are worth waiting for."""
    from langchain_openai import ChatOpenAI

    return ChatOpenAI(model=settings.chat_model,
                      base_url=settings.openai_base_url or OPENAI_BASE_URL,
                      api_key=settings.openai_api_key or NO_KEY,
                      use_responses_api=False, temperature=0,
                      extra_body={"max_tokens": max_tokens or settings.llm_max_tokens},
                      http_client=_http_client(),
                      timeout=settings.llm_timeout, max_retries=settings.llm_retries)


def _http_client():
    import httpx2
    import openai

    class FailFast(httpx2.HTTPTransport):
        def handle_request(self, request):
            try:
                return super().handle_request(request)
            except httpx2.ConnectError as e:
                # The openai client retries any transport error but passes its own errors on
                # untouched: a refused connection or a failed DNS lookup ends the call here.
                raise openai.APIConnectionError(request=request) from e

    return openai.DefaultHttpx2Client(transport=FailFast())


def structured_model(settings: Settings):
    """The model asked for the `answer` tool, or for JSON in text, per BOT_LLM_OUTPUT, its
    reply streamed as `Piece`s."""
    import openai
    from langchain_core.runnables import RunnableGenerator

    mode = settings.llm_output
    if mode not in OUTPUT_MODES:
        from bot.config import ConfigError

        raise ConfigError(f"BOT_LLM_OUTPUT={mode!r}: use one of {', '.join(OUTPUT_MODES)}")
    model = chat_model(settings)
    as_text = model | RunnableGenerator(_pieces)
    if mode == "text":
        return as_text
    with_tool = model.bind_tools([answer_tool()], tool_choice=TOOL_NAME) | RunnableGenerator(_pieces)
    if mode == "tools":
        return with_tool
    # A server without tool support answers 400 (or 422): ask it for JSON in the text instead.
    return with_tool.with_fallbacks(
        [as_text], exceptions_to_handle=(openai.BadRequestError, openai.UnprocessableEntityError))


# -- reading the reply -------------------------------------------------------------------


@dataclass(frozen=True)
class Piece:
    """One streamed bit of the reply: tool-call arguments and/or message text. Deliberately
    not addable, so LangChain does not re-merge the growing message on every token (each merge
    of a tool-call chunk re-parses all its JSON: quadratic in the reply's length)."""

    args: str = ""
    text: str = ""
    finish: str = ""  # the finish_reason, on the last piece: "length" = cut off at max_tokens


def _pieces(messages: Iterator[Any]) -> Iterator[Piece]:
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


_THINK = re.compile(r"<think>.*?</think>", re.S)


def reply_json(args: str, text: str, partial: bool = False) -> Any:
    """The answer object in a (possibly partial) reply: the tool call's arguments, else the
    JSON in the message text (a ```json fence or prose around it allowed). None if none."""
    from langchain_core.utils.json import parse_partial_json

    raw = args
    if not raw:
        # Reasoning models served locally may think aloud first; an unfinished thought is no answer.
        text = _THINK.sub("", text)
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


_FIGURE = re.compile(r"\d[\d,.]*\d|\d")


def figures(text: str) -> set[str]:
    """The numbers written in digits ('1,800' and '1800' alike)."""
    return {m.group().replace(",", "").rstrip(".") for m in _FIGURE.finditer(text)}


def to_draft(out: AnswerOut, numbered: Numbered, secrets: tuple[str, ...] = (),
             cut_off: bool = False) -> Draft:
    """Statements with quotes pointing into the cited sentences' articles. A statement is
    dropped when its figures appear in none of its cited sentences, or when its words are not
    backed by them by the rules of bot/answer/guard.py (which also keep instruction sentences
    planted in an article from counting as evidence): the sentences must back what is claimed.
    Small models cite a wrong id now and then ("3.1" for what "1.1" says): a statement its cited
    sentences do not back is kept when one other sentence the model was given backs it by the
    same rules, citing that sentence."""
    from bot.answer import guard

    passages = numbered.passages
    instructions = [p.chunk.text[s:e] for p in passages for s, e in guard.instruction_spans(p.chunk.text)]
    given = [sp for sp in numbered.spans.values()
             if not guard.in_instruction(sp.article.text, sp.start, sp.end)]
    statements: list[DraftStatement] = []
    dropped = {"figures": 0, "words": 0}
    for s in out.statements:
        if not s.text.strip():
            continue
        cited = _cited(s, numbered)
        evidence = _relevant(s.text, [sp for sp in cited
                                      if not guard.in_instruction(sp.article.text, sp.start, sp.end)])
        if cited and not evidence:
            dropped["words"] += 1  # it cites nothing but instructions planted in an article
            continue
        problem = _problem(s.text, evidence, instructions, secrets) if evidence else None
        if problem and (other := _best_backing(s.text, given)) is not None \
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


# -- what the model is asked about --------------------------------------------------------


def gated(offline: Draft) -> bool:
    """Whether the model is not asked: the offline answerer refuses, says the sources do not
    give the kind of thing asked for, or is unsure of its best sentence. A small model answers
    whatever it is asked, so this decision is not left to it."""
    unsure = offline.confidence is not None and offline.confidence < GATE_CONFIDENCE
    return offline.refused or bool(offline.not_stated) or unsure


def evidence(passages: list[Passage], ranked: list[tuple[str, int, int]]) -> list[Passage]:
    """The sentences the model is given: the offline ranker's best (`ranked`: article id,
    start, end; best first), each a passage of its own; the passages as they are when the
    ranker had nothing to say."""
    return sentence_ids.evidence(passages, ranked, EVIDENCE_SENTENCES) if ranked else passages


# -- the chain ---------------------------------------------------------------------------


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
            fault = _fault(e, self.settings, seen.get("passages"), replying="replying" in seen)
            if fault is e:
                raise
            raise fault from None

    def condense(self, question: str, history: list[tuple[str, str]]) -> str:
        return condense(question, history, self.settings)


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
        fault = _fault(e, settings, None)
        if isinstance(fault, LLMUnavailable):
            return question
        if fault is e:
            raise
        raise fault from None
    return _one_line(text) or question


_LABEL = re.compile(r"^(?:standalone question|question|rewritten(?: question)?)\s*:\s*", re.I)


def _one_line(text: str) -> str:
    """The question in a condense reply: small models add a label, quotes or a code fence."""
    text = _THINK.sub("", text)
    for line in text.strip().splitlines():
        line = _LABEL.sub("", line.strip().strip("`").strip()).strip().strip('"').strip()
        if line and not line.lower().startswith(("```", "json", "here")):
            return line
    return ""


def _fault(e: Exception, settings: Settings, passages: list[Passage] | None,
           replying: bool = False) -> Exception:
    """The error to raise for `e`: LLMAuthError, LLMUnavailable (fall back), or `e` itself."""
    import openai

    if isinstance(e, (openai.AuthenticationError, openai.PermissionDeniedError)):
        return LLMAuthError(f"the API key was rejected by {shown_url(settings)} (HTTP {e.status_code}); "
                            "set OPENAI_API_KEY to a valid key for that server")
    reason = _reason(e, settings, replying)
    return e if reason is None else LLMUnavailable(reason, passages)


def _events(pieces: Iterator[Piece], seen: dict[str, Any]) -> Iterator[Delta | Result]:
    """Reply pieces -> Delta events for new statement text, then the Result."""
    args, text, finish = "", "", ""
    shown, parsed_at = "", 0
    for piece in pieces:
        seen["replying"] = True
        args, text, finish = args + piece.args, text + piece.text, piece.finish or finish
        if len(args) + len(text) > MAX_REPLY_CHARS:
            raise _Malformed(f"the reply ran past {MAX_REPLY_CHARS:,} characters")
        if time.perf_counter() > seen.get("deadline", float("inf")):
            raise _Overtime()
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
        raise _Malformed("the reply was empty")
    out, cut_off = _answer(args, text, finish == "length", seen.get("max_tokens"))
    now = " ".join(s.text.strip() for s in out.statements if s.text.strip())
    if now.startswith(shown) and len(now) > len(shown):
        yield Delta(now[len(shown):])
    draft = to_draft(out, seen["numbered"], seen.get("secrets", ()), cut_off)
    yield Result(draft, seen["passages"])


def _answer(args: str, text: str, length: bool, max_tokens: int | None) -> tuple[AnswerOut, bool]:
    """The reply's answer, and whether it was cut off (at max_tokens) before it ended. A cut
    reply keeps its complete statements: all but the one being written, unless the cut came
    after the statements (in the short answer)."""
    try:
        return parse_answer(args, text), False
    except ValueError as e:
        if not length:
            raise _Malformed(str(e)) from None
    data = reply_json(args, text, partial=True)
    if isinstance(data, dict) and isinstance(data.get("statements"), list):
        whole = data["statements"] if "short_answer" in data else data["statements"][:-1]
        try:
            out = AnswerOut.model_validate({"statements": whole})
        except ValidationError:
            out = None
        if out and out.statements:
            return out, True
    raise _CutOff(f"the model's reply was cut off at {max_tokens} tokens (BOT_LLM_MAX_TOKENS) "
                  "before a whole statement was written")


class _Overtime(Exception):
    pass


class _CutOff(Exception):
    pass


class _Malformed(Exception):
    pass


def _reason(e: Exception, settings: Settings, replying: bool = False) -> str | None:
    """Why the model failed, in words safe to show (never the server's own message, which may
    echo part of the key), or None when `e` is not a model fault."""
    import openai

    url = shown_url(settings)
    if isinstance(e, _Malformed):
        return f"{url} sent a malformed reply ({e})"
    if isinstance(e, _CutOff):
        return str(e)
    if isinstance(e, (openai.APITimeoutError, _Overtime)):
        return f"{url} did not answer within {settings.llm_timeout:g} s"
    if isinstance(e, openai.APIConnectionError) or _is_transport_error(e):
        return f"the connection to {url} broke mid-reply" if replying else f"could not connect to {url}"
    if isinstance(e, openai.APIStatusError):
        retried = settings.llm_retries and (e.status_code in (408, 409, 429) or e.status_code >= 500)
        return f"{url} answered HTTP {e.status_code}" + (
            f" after {settings.llm_retries} retries" if retried else "")
    if isinstance(e, openai.APIError):
        return f"{url} sent a malformed reply ({type(e).__name__})"
    if isinstance(e, (ValueError, RecursionError)) or (
            isinstance(e, RuntimeError) and isinstance(e.__cause__, StopIteration)):
        # Raised while the reply was read (after retrieval): an SSE line that is not JSON
        # (json's ValueError), a body with no chunks at all (LangChain's ValueError), JSON
        # nested too deep to parse, a stream that ended before its first chunk.
        return f"{url} sent a malformed reply ({type(e).__name__})"
    return None


def _is_transport_error(e: Exception) -> bool:
    # The openai client streams over httpx (or its fork httpx2); a dropped stream surfaces as
    # that library's TransportError, not an openai error.
    for mod in ("httpx2", "httpx"):
        try:
            lib = importlib.import_module(mod)
        except ImportError:
            continue
        if isinstance(e, (lib.TransportError, lib.DecodingError)):
            return True
    return False
