"""Scripted model behaviours for the test OpenAI server (tests/openai_server.py): handlers that
read the passages the bot sent and answer the way some model would."""

from __future__ import annotations

import json
import re

from tests.openai_server import Reply


_LINE = re.compile(r"^\[(\d+)(?:\.(\d+))?\] (.*)$")


def passages_in(body: dict) -> list[dict]:
    """The passages the bot sent, read back from its prompt: {"id", "meta", "sentences" (id ->
    text), "text" (the sentences joined)} from the `[n] {...}` and `[n.m] "..."` lines."""
    content = body["messages"][-1]["content"]
    found: dict[int, dict] = {}
    for line in content.splitlines():
        m = _LINE.match(line)
        if not m:
            continue
        p = found.setdefault(int(m.group(1)), {"id": int(m.group(1)), "meta": {}, "sentences": {}})
        if m.group(2):
            p["sentences"][f"{m.group(1)}.{m.group(2)}"] = json.loads(m.group(3))
        else:
            p["meta"] = json.loads(m.group(3))
    for p in found.values():
        p["text"] = " ".join(p["sentences"].values())
    return list(found.values())


def sentence_with(body: dict, text: str) -> str:
    """The id ("n.m") of the first sentence sent that holds `text`."""
    for p in passages_in(body):
        for sid, sentence in p["sentences"].items():
            if text in sentence:
                return sid
    raise AssertionError(f"no sentence with {text!r} was sent")


def cited(*statements: tuple[str, list[str]], short: str | None = None) -> dict:
    """An `answer` tool call's arguments citing sentence ids: (text, ["1.2", ...]) each."""
    return {"statements": [{"text": t, "sentences": ids} for t, ids in statements],
            "short_answer": short}


def first_sentence(text: str) -> str:
    line = next((ln for ln in text.splitlines() if ln.strip()), "")
    m = re.match(r"(.+?[.!?])(\s|$)", line)
    return (m.group(1) if m else line).strip()


def answer_args(*statements: tuple[str, list[tuple[int, str]]], short: str | None = None) -> dict:
    return {"statements": [{"text": t, "citations": [{"passage": p, "quote": q} for p, q in cites]}
                           for t, cites in statements], "short_answer": short}


def quoting_model(body: dict) -> Reply:
    """A well-behaved model: one statement, the first sentence of the best passage, cited."""
    passages = passages_in(body)
    if not passages:
        return Reply.tool_call("answer", cited())
    sid, sentence = next(iter(passages[0]["sentences"].items()))
    return Reply.tool_call("answer", cited((sentence, [sid])))
