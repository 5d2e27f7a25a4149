"""Briefings and summaries with an LLM: map-reduce with quotes.

map     one call per article (prompts/brief-map.txt), the article given as numbered sentences
        (bot/answer/sentence_ids.py, as for answers: small models copy an id reliably, a quote
        rarely): notes, each a point citing sentence ids, its date and claimant. Each note is
        read as an answer's statement is (ids become exact spans, a wrong id is mended, the
        guard's rules apply); a note no sentence backs is dropped before anything else sees it.
        A note that gives an exact quote instead is read too (the quote must be in the article).
reduce  one call over the surviving notes (prompts/brief-reduce.txt): the briefing's sections,
        each statement naming the notes that support it. A statement's citations are its
        notes' quotes, verified again by the shared verifier in `briefing.assemble`; a statement
        with none left (it named a dropped or unknown note) is not in the briefing.

The chain is LCEL: prompt | ChatOpenAI (JSON mode, any OpenAI-compatible server) | JSON reader,
with the answer path's bounds: max_tokens on every call (the reduce 3x BOT_LLM_MAX_TOKENS), the
article text and the notes cut to fit BOT_LLM_CONTEXT, no retries for a server that is not there.
If the model cannot be reached, refuses, or answers no JSON for every article or for the
reduce, or nothing it wrote can be verified, the caller falls back to the extractive method
and says so; nothing of the error (let alone the key) is shown.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from functools import lru_cache
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from bot.brief import briefing
from bot.brief.timeline import CLAIMS, TIMELINE
from bot.brief.topics import HEADLINE, DraftPoint
from bot.answer import citations
from bot.config import Settings
from bot.schema import Article, Briefing, Chunk, Passage, Quote, Summary
from bot.answer.sentence_ids import Numbered, budget_chars, number

MAP_MAX_CHARS = 16000  # article text numbered per map call; a quote is checked on all of it
NOTES_PER_ARTICLE = 8
REDUCE_MAX_NOTES = 120  # notes sent to the one reduce call; the first of each article go first
MAP_CONCURRENCY = 4
MAP_TOKENS_FACTOR = 2  # up to NOTES_PER_ARTICLE notes of ~50 tokens: 2x BOT_LLM_MAX_TOKENS
REDUCE_TOKENS_FACTOR = 3  # the reduce writes the whole briefing: 3x BOT_LLM_MAX_TOKENS
FALLBACK_NOTICE = "The language model could not be used, so this is the extractive version."
UNVERIFIED_NOTICE = ("None of the model's points could be verified against the sources, so this "
                     "is the extractive version.")


def fallback_notice(result: object | None) -> str:
    """Why the extractive version is shown: the model could not be used (None), or nothing it
    wrote could be verified."""
    return FALLBACK_NOTICE if result is None else UNVERIFIED_NOTICE


@dataclass
class Note:
    id: str
    article: Article
    point: str
    quote: Quote
    date: str | None
    claimant: str | None


@lru_cache(maxsize=8)
def load_prompt(name: str) -> str:
    """A prompt file: the repo's prompts/ when running from source, else the installed copy
    (the bot.prompts package)."""
    local = Path(__file__).resolve().parents[2] / "prompts" / name
    if local.is_file():
        return local.read_text(encoding="utf-8")
    from importlib.resources import files

    return files("bot.prompts").joinpath(name).read_text(encoding="utf-8")


def _chain(settings: Settings, prompt_name: str, max_tokens: int) -> Any:
    """prompt | model | JSON, through the answer path's model (bot/answer/llm.py: max_tokens on every
    call, fail fast on a refused connection). JSON mode is asked for; a server that refuses it
    (HTTP 400/422) is asked again without. The JSON is read wherever the reply puts it (code
    fence, prose around it), and a reply cut off at max_tokens keeps what it holds."""
    import openai
    from langchain_core.messages import SystemMessage
    from langchain_core.prompts import ChatPromptTemplate
    from langchain_core.runnables import RunnableLambda

    from bot.answer.llm import chat_model

    model = chat_model(settings, max_tokens)
    # JSON mode goes in the body as is: bound as `response_format`, LangChain parses the reply
    # with the openai client, which raises on a reply cut off at max_tokens instead of
    # returning the notes it holds.
    json_mode = chat_model(settings, max_tokens, {"response_format": {"type": "json_object"}})
    json_mode = json_mode.with_fallbacks(
        [model], exceptions_to_handle=(openai.BadRequestError, openai.UnprocessableEntityError))
    # A SystemMessage object is taken literally (no template braces to escape in the prompt).
    prompt = ChatPromptTemplate.from_messages([SystemMessage(content=load_prompt(prompt_name)),
                                               ("human", "{input}")])
    return prompt | json_mode | RunnableLambda(_json)


def _json(message: Any) -> Any:
    from bot.answer.llm import reply_json

    text = message.content if isinstance(message.content, str) else ""
    cut = (message.response_metadata or {}).get("finish_reason") == "length"
    data = reply_json("", text, partial=cut)
    if data is None:
        raise ValueError("the reply holds no JSON")
    if cut:
        _drop_unfinished(data)
    return data


def _drop_unfinished(data: Any) -> None:
    """A reply cut off at max_tokens: the item it was writing (the deepest object in a list at
    the reply's end: a note, a point) may be cut mid-sentence, so it goes."""
    last: list | None = None
    node = data
    while isinstance(node, (dict, list)) and node:
        if isinstance(node, list):
            last = node if isinstance(node[-1], dict) else last
            node = node[-1]
        else:
            node = node[next(reversed(node))]
    if last is not None:
        last.pop()


def _unreachable(e: Exception) -> bool:
    """The model cannot be used at all (down, refused, bad key): fall back, don't go on."""
    import openai

    return isinstance(e, (openai.APIConnectionError, openai.AuthenticationError,
                          openai.PermissionDeniedError, openai.NotFoundError,
                          openai.RateLimitError, openai.InternalServerError))


# -- map ---------------------------------------------------------------------------------------


def _budget(settings: Settings, prompt_name: str, reply_factor: int) -> int:
    """Characters of input that fit the model's context beside the prompt and the reply."""
    return budget_chars(settings.llm_context, reply_factor * settings.llm_max_tokens,
                        len(load_prompt(prompt_name)) + 200)


def _map_input(article: Article, max_notes: int, budget: int = MAP_MAX_CHARS) -> tuple[str, Numbered]:
    """The map call's input, the article's sentences numbered as for answers (its title and
    date on the first line), and the span behind every id."""
    head = f"Give at most {max_notes} notes.\n\n"
    whole = Passage(Chunk(article.article_id, 0, 0, len(article.text), article.text), article, 1.0, 0)
    numbered = number([whole], max(0, min(MAP_MAX_CHARS, budget - len(head))))
    return head + numbered.text, numbered


def _notes(article: Article, reply: Any, prefix: str, numbered: Numbered) -> list[Note]:
    """The notes of one map reply that cite the article (`_cited`); the rest dropped."""
    raw = reply.get("notes") if isinstance(reply, dict) else None
    out: list[Note] = []
    for item in raw if isinstance(raw, list) else []:
        if not isinstance(item, dict):
            continue
        point = _str(item.get("point")) or ""
        quote = _cited(article, item, point, numbered)
        if quote is None:
            continue  # no sentence of the article backs it: fabricated, garbled or misnumbered
        out.append(Note(f"{prefix}{len(out) + 1}", article, point or quote.text, quote,
                        _str(item.get("date")), _str(item.get("claimant"))))
    return out


def _cited(article: Article, item: dict, point: str, numbered: Numbered) -> Quote | None:
    """The note read as an answer's statement is (bot/answer/llm/draft.py `to_draft`): its ids
    as models write them, a wrong id mended when one other sentence backs the point, the
    guard's rules (figures, words, planted instructions back nothing); else its exact quote."""
    from bot.answer.llm import AnswerOut, StatementOut, to_draft

    try:
        statement = StatementOut.model_validate({**item, "text": point})
    except ValidationError:
        statement = None
    if statement is not None and point:
        draft = to_draft(AnswerOut(statements=[statement]), numbered)
        if draft.statements and draft.statements[0].quotes:
            return draft.statements[0].quotes[0]
    if isinstance(item.get("quote"), str) and (found := citations.locate(item["quote"], article.text)):
        return Quote(article.article_id, article.text[found[0]:found[1]], found[0])
    return None


def _str(value: Any) -> str | None:
    return value.strip() if isinstance(value, str) and value.strip() else None


def summarize(settings: Settings, article: Article, max_sentences: int) -> Summary | None:
    """One map call: the notes become the summary. None if the model cannot be used; no
    statements if none could be verified (the caller falls back to the extractive summary)."""
    if max_sentences < 1:
        raise briefing.BriefingError(f"--sentences {max_sentences}: ask for at least 1 sentence")
    text, numbered = _map_input(article, max_sentences, _budget(settings, "brief-map.txt", 1))
    try:
        reply = _chain(settings, "brief-map.txt", settings.llm_max_tokens).invoke({"input": text})
    except Exception:  # unreachable, refused, or no JSON: the caller falls back to extractive
        return None
    notes = _notes(article, reply, "n", numbered)[:max_sentences]
    kept = briefing.cite([(n.point, [n.quote], {}) for n in notes], {article.article_id: article}.get)
    return Summary(article.article_id, article.title, [p for p, _ in kept], "llm")


# -- reduce ------------------------------------------------------------------------------------


def brief(settings: Settings, inp: briefing.BriefingInput,
          progress: briefing.Progress | None = None) -> Briefing | None:
    """Map every article to notes, reduce the notes to a briefing. None if the model cannot be
    used at all (the caller falls back to the extractive briefing)."""
    if inp.max_points < 1:
        raise briefing.BriefingError(f"--max-points {inp.max_points}: ask for at least 1 point")
    chain = _chain(settings, "brief-map.txt", MAP_TOKENS_FACTOR * settings.llm_max_tokens)
    budget = _budget(settings, "brief-map.txt", MAP_TOKENS_FACTOR)
    mapped = [_map_input(a, NOTES_PER_ARTICLE, budget) for a in inp.articles]
    inputs = [{"input": text} for text, _ in mapped]
    per_article: dict[int, list[Note]] = {}
    failed = 0
    total = len(inputs)
    if progress:
        progress(0, total + 1)
    for i, reply in chain.batch_as_completed(inputs, config={"max_concurrency": MAP_CONCURRENCY},
                                             return_exceptions=True):
        if isinstance(reply, Exception):
            if _unreachable(reply):
                return None
            failed += 1
            reply = {}
        per_article[i] = _notes(inp.articles[i], reply, f"a{i + 1}n", mapped[i][1])
        if progress:
            progress(len(per_article), total + 1)
    if failed == total:
        return None  # the model answers, but nothing usable (no JSON mode, say): fall back
    notes = _cap([per_article[i] for i in range(total)], REDUCE_MAX_NOTES,
                 _budget(settings, "brief-reduce.txt", REDUCE_TOKENS_FACTOR))
    by_id = {n.id: n for n in notes}
    try:
        reply = _chain(settings, "brief-reduce.txt", REDUCE_TOKENS_FACTOR * settings.llm_max_tokens
                       ).invoke({"input": _reduce_input(notes, inp)})
    except Exception:
        return None
    if progress:
        progress(total + 1, total + 1)
    drafts = _drafts(reply, by_id)
    if failed:  # said in this briefing's notice; the caller's input stays as asked
        inp = replace(inp, notice=briefing.join_notice(inp.notice,
                                                      f"{failed} article(s) gave no usable notes."))
    lookup = {a.article_id: a for a in inp.articles}.get
    return briefing.assemble(drafts, inp, "llm", lookup)


def _cap(per_article: list[list[Note]], limit: int, budget: int | None = None) -> list[Note]:
    """Round-robin over articles (each article's notes come most important first), at most
    `limit` notes and `budget` characters of them as the reduce prompt writes them."""
    out: list[Note] = []
    used, depth = 0, 0
    while len(out) < limit and any(len(ns) > depth for ns in per_article):
        for n in [ns[depth] for ns in per_article if len(ns) > depth]:
            size = len(_note_line(n)) + 1
            if len(out) >= limit or (budget is not None and used + size > budget):
                return out
            out.append(n)
            used += size
        depth += 1
    return out


def _reduce_input(notes: list[Note], inp: briefing.BriefingInput) -> str:
    lines = [f"Give at most {inp.max_points} key points in total."]
    if inp.topic:
        lines.append(f"Topic asked for: {inp.topic}")
    lines += ["", "Notes:"]
    lines += [_note_line(n) for n in notes]
    return "\n".join(lines)


def _note_line(n: Note) -> str:
    meta = {"id": n.id, "article": n.article.title, "published": n.article.published,
            "date": n.date, "claimant": n.claimant, "point": n.point, "quote": n.quote.text}
    return json.dumps({k: v for k, v in meta.items() if v}, ensure_ascii=False)


def _backed(text: str, quotes: list[Quote]) -> bool:
    """A briefing statement's figures are in the sentences its notes quote (the answer path's
    figure rule). Its words are not held to the guard's rule: a briefing's headline sums up
    several notes in words of its own ("North Korea fired missiles this week")."""
    from bot.answer.llm import figures

    return figures(text) <= figures(" ".join(q.text for q in quotes))


def _drafts(reply: Any, by_id: dict[str, Note]) -> list[DraftPoint]:
    """The reduce reply as draft points: each statement's quotes are its notes' quotes, none
    when those do not back it (`_backed`; it is then dropped, counted in the notice)."""
    if not isinstance(reply, dict):
        return []
    out: list[DraftPoint] = []

    def cited(item: dict) -> list[Note]:
        ids = item.get("notes") if isinstance(item.get("notes"), list) else []
        return [by_id[i] for i in ids if isinstance(i, str) and i in by_id]

    def quotes(item: dict) -> list[Quote]:
        found = [n.quote for n in cited(item)]
        return found if _backed(item["text"], found) else []

    def items(value: Any) -> list[dict]:
        return [x for x in value if isinstance(x, dict) and isinstance(x.get("text"), str)] \
            if isinstance(value, list) else []

    for item in items(reply.get("headline")):
        out.append(("headline", HEADLINE, item["text"], quotes(item), {}))
    for topic in reply.get("topics") if isinstance(reply.get("topics"), list) else []:
        if not isinstance(topic, dict):
            continue
        heading = _str(topic.get("heading")) or "Key points"
        for item in items(topic.get("points")):
            out.append(("topic", heading, item["text"], quotes(item), {}))
    for item in items(reply.get("timeline")):
        out.append(("timeline", TIMELINE, item["text"], quotes(item),
                    {"date": _str(item.get("date"))}))
    for item in items(reply.get("claims")):
        group = item.get("group") if isinstance(item.get("group"), int) else None
        out.append(("claims", CLAIMS, item["text"], quotes(item),
                    {"claimant": _claimant(_str(item.get("claimant")), cited(item)), "group": group}))
    return out


def _claimant(named: str | None, notes: list[Note]) -> str | None:
    """Who a claim is shown as made by: the name the model gives when a note it cites
    attributes the claim to the same claimant (in the note or in its sentence), else the notes'
    own claimant. The model must not move a claim from one claimant to another."""
    from bot.brief.claims import claimant, same

    known = [c for n in notes for c in (n.claimant, claimant(n.quote.text)) if c]
    if named and any(same(named, c) for c in known):
        return named
    return known[0] if known else None
