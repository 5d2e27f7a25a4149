"""Passages as numbered sentences, the way a model sees them and cites them.

    [2] {"title": "Missile test", "published": "2024-01-02"}
    [2.1] "North Korea test-fired two cruise missiles ..."
    [2.2] "The missiles flew for more than two and a half hours, KCNA said."

A model cites sentence ids ("2.2"), which even a 0.5B model copies reliably, instead of
copying quotes character for character, which small models get wrong. The bot turns each id
back into the exact span of the stored article (`Numbered.spans`), and the shared verifier
(bot/answer/citations.py) checks it as always.

Every title and sentence is a JSON string (with < and > escaped too): article text cannot close
it, end a line, or pose as another sentence id or as the prompt's own markers.

The prompt must fit a small model's context (4k tokens for many local servers): passages are
taken best first while they fit in a character budget, the last one cut to its first sentences.

`evidence` narrows whole chunks to the sentences the offline answerer's ranker scored best, each
a passage of its own, best first: more chunks' worth of recall in a shorter prompt, and fewer
distractors for a small model (which tends to restate whatever comes first).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field

from bot.index.chunking import sentences
from bot.schema import Article, Chunk, Passage

CHARS_PER_TOKEN = 3.5  # English news in BPE tokenizers runs ~4 chars/token; 3.5 leaves headroom
MAX_PASSAGES = 8  # more than a small context holds anyway
_ID = re.compile(r"(\d+)\s*[.:,-]\s*(\d+)")
_PASSAGE_ID = re.compile(r"^\s*\[?\s*(\d+)\s*\]?\s*$")


@dataclass(frozen=True)
class Span:
    passage: Passage
    start: int  # offsets into passage.article.text
    end: int

    @property
    def article(self) -> Article:
        return self.passage.article

    @property
    def text(self) -> str:
        return self.article.text[self.start:self.end]


@dataclass
class Numbered:
    """The passages sent to the model: their text and the span behind every sentence id."""

    text: str = ""
    passages: list[Passage] = field(default_factory=list)  # passage n is passages[n - 1]
    spans: dict[str, Span] = field(default_factory=dict)  # "n.m" -> exact article span

    def span(self, sentence_id: object) -> Span | None:
        """The span of an id as a model may write it: "2.3", "[2.3]", "2:3", 2.3."""
        m = _ID.search(str(sentence_id))
        return self.spans.get(f"{int(m.group(1))}.{int(m.group(2))}") if m else None

    def cited(self, cited_id: object) -> list[Span]:
        """The spans an id names: one sentence, or every sentence of a passage cited by its
        number alone ("2", "[2]"), which small models do; the caller keeps those that back
        the statement."""
        if m := _PASSAGE_ID.match(str(cited_id)):
            return [sp for k, sp in self.spans.items() if k.split(".")[0] == m.group(1)]
        span = self.span(cited_id)
        return [span] if span else []


def _quoted(text: str) -> str:
    return json.dumps(text, ensure_ascii=False).replace("<", "\\u003c").replace(">", "\\u003e")


def number(passages: list[Passage], budget_chars: int | None = None) -> Numbered:
    """Number the sentences of `passages` (best first), within `budget_chars` if given."""
    out = Numbered()
    lines: list[str] = []
    used = 0
    for p in passages[:MAX_PASSAGES]:
        n = len(out.passages) + 1
        # A title cut from the article's first sentence is left out: a model reads the answer
        # there and cites a sentence that lacks it (a title is not a citable span). The same
        # article's title is not repeated for its next passage.
        title = p.article.title
        title = None if title.rstrip(".… ") in p.article.text else title
        meta = {"title": title, "published": p.article.published}
        if out.passages and out.passages[-1].article.article_id == p.article.article_id:
            meta = {}
        meta = {k: v for k, v in meta.items() if v}
        head = f"[{n}] " + json.dumps(meta, ensure_ascii=False) if meta else ""  # no empty lines
        head = head.replace("<", "\\u003c").replace(">", "\\u003e")
        body: list[tuple[str, Span]] = []
        size = len(head) + 1
        found = sentences(p.chunk.text)
        for m, (s, e) in enumerate(found, 1):
            line = f"[{n}.{m}] {_quoted(p.chunk.text[s:e])}"
            if budget_chars is not None and used + size + len(line) + 1 > budget_chars:
                break
            body.append((line, Span(p, p.chunk.start + s, p.chunk.start + e)))
            size += len(line) + 1
        if not body:
            break  # not even one sentence of the next passage fits
        out.passages.append(p)
        lines += [head] if head else []
        for m, (line, span) in enumerate(body, 1):
            lines.append(line)
            out.spans[f"{n}.{m}"] = span
        used += size
        if len(body) < len(found):
            break  # cut short: the budget is spent
    out.text = "\n".join(lines)
    return out


def evidence(passages: list[Passage], ranked: list[tuple[str, int, int]],
             limit: int) -> list[Passage]:
    """The first `limit` of the `ranked` sentences ((article id, start, end) in the article,
    best first) as one-sentence passages of the retrieved `passages`' articles. A sentence
    that overlaps an instruction planted in its article (bot/answer/guard.py) is left out: the model
    does not need to see what can back nothing."""
    from bot.answer.guard import in_instruction

    out: list[Passage] = []
    for article_id, start, end in ranked:
        p = next((p for p in passages if p.article.article_id == article_id
                  and p.chunk.start <= start and end <= p.chunk.end), None)
        if p is None or in_instruction(p.article.text, start, end):
            continue
        chunk = Chunk(article_id, p.chunk.chunk_no, start, end, p.article.text[start:end])
        out.append(Passage(chunk, p.article, p.score, len(out)))
        if len(out) == limit:
            break
    return out


def budget_chars(context_tokens: int, reply_tokens: int, fixed_chars: int) -> int:
    """Characters of passages that fit in `context_tokens` beside the reply and the fixed
    parts of the prompt (`fixed_chars`: instructions, tool schema, question)."""
    fixed_tokens = fixed_chars / CHARS_PER_TOKEN + 64  # + the chat template's own tokens
    return max(0, int((context_tokens - reply_tokens - fixed_tokens) * CHARS_PER_TOKEN))
