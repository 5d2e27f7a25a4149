"""Scripted model behaviours for the test OpenAI server (tests/openai_server.py): handlers that
read the passages the bot sent and answer the way some model would."""

from __future__ import annotations

import json
import re

from tests.openai_server import Reply


def passages_in(body: dict) -> list[dict]:
    """The passages the bot sent, read back from its prompt (one JSON object per line)."""
    content = body["messages"][-1]["content"]
    return [json.loads(line) for line in content.splitlines() if line.startswith('{"id"')]


def first_sentence(text: str) -> str:
    line = next((ln for ln in text.splitlines() if ln.strip()), "")
    m = re.match(r"(.+?[.!?])(\s|$)", line)
    return (m.group(1) if m else line).strip()


def answer_args(*statements: tuple[str, list[tuple[int, str]]], short: str | None = None) -> dict:
    return {"statements": [{"text": t, "citations": [{"passage": p, "quote": q} for p, q in cites]}
                           for t, cites in statements], "short_answer": short}


def quoting_model(body: dict) -> Reply:
    """A well-behaved model: one statement, the first sentence of the best passage, quoted."""
    passages = passages_in(body)
    if not passages:
        return Reply.tool_call("answer", answer_args())
    p = passages[0]
    sentence = first_sentence(p["text"])
    return Reply.tool_call("answer", answer_args((sentence, [(p["id"], sentence)])))
