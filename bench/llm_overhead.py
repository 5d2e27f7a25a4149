"""The LLM path's own cost: chain + streaming parse + verification, beyond the model's time.

The model is the scriptable test server (tests/openai_server.py) on 127.0.0.1, which answers
instantly with a fixed tool-call reply streamed in 4-character deltas (about one token each),
so what remains is the bot's own work. Baseline, in the same run: the raw `openai` client
sending the very request the bot sent (same messages, tools, stream=True) and reading the whole
stream; beside it, `ChatOpenAI.stream` alone on the same messages, to show how much of the
overhead is LangChain's own. Retrieval is timed separately (the same with or without a model).

    /work/main/.venv/bin/python bench/llm_overhead.py [--runs 30]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bot import Bot  # noqa: E402
from bot.config import Settings  # noqa: E402
from tests.models import sentence_with  # noqa: E402
from tests.openai_server import OpenAIServer, Reply  # noqa: E402

QUESTION = "What range was claimed, and how long did the missiles fly?"
STATEMENTS = [
    ("North Korea's state news agency KCNA claimed the two cruise missiles hit a target "
     "1,800 kilometers away.", "hit a target 1,800 kilometers away"),
    ("According to the news agency, the missiles flew for more than two and a half hours before "
     "hitting a target island in the Sea of Japan.",
     "The two cruise missiles flew for more than two and a half hours before hitting a target "
     "island in the Sea of Japan"),
    ("KCNA also said Pyongyang launched two tactical guided missiles on Thursday.",
     "KCNA also said Pyongyang launched two tactical guided missiles on Thursday"),
]


def reply_for(body: dict) -> Reply:
    statements = [{"text": text, "sentences": [sentence_with(body, quote)]}
                  for text, quote in STATEMENTS]
    args = {"statements": statements, "short_answer": "1,800 kilometers"}
    return Reply.tool_call("answer", args, chunk_size=4)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=30)
    runs = parser.parse_args().runs

    import openai

    with OpenAIServer() as server, tempfile.TemporaryDirectory() as store:
        settings = Settings.load(env={}, env_file=None).with_(
            store_dir=Path(store), openai_base_url=server.base_url, llm_retries=0)
        bot = Bot(settings)
        bot.ingest([ROOT / "seeds"])
        server.chat_handler = reply_for
        first = bot.ask(QUESTION)
        assert first.mode == "llm" and len(first.statements) == len(STATEMENTS), first.notice
        fixed = reply_for(server.chat_requests[-1])
        server.chat_handler = lambda body: fixed  # the same reply for both paths, no work per call
        request = dict(server.chat_requests[-1])
        client = openai.OpenAI(base_url=server.base_url, api_key="not-needed", max_retries=0)

        from bot.answer.llm import TOOL_NAME, answer_tool, chat_model

        lc_model = chat_model(settings).bind_tools([answer_tool()], tool_choice=TOOL_NAME)
        lc_messages = [(m["role"], m["content"]) for m in request["messages"]]

        def langchain_call() -> float:
            t = time.perf_counter()
            for _ in lc_model.stream(lc_messages):
                pass
            return (time.perf_counter() - t) * 1000

        from bot.answer import citations
        from bot.answer.llm import Result

        passages = bot.retrieve(QUESTION)
        by_id = {p.article.article_id: p.article for p in passages}

        def chain_call() -> float:
            """The bot's chain and verification on passages retrieved once, before the clock."""
            t = time.perf_counter()
            result = [e for e in bot.llm.stream(QUESTION, lambda q: passages) if isinstance(e, Result)]
            answer = citations.verify(QUESTION, result[0].draft, by_id.get)
            assert len(answer.citations) == len(STATEMENTS)
            return (time.perf_counter() - t) * 1000

        def raw_call() -> float:
            t = time.perf_counter()
            for _ in client.chat.completions.create(**request):
                pass
            return (time.perf_counter() - t) * 1000

        raw, lc, chain, llm, verify, retrieve = [], [], [], [], [], []
        for _ in range(3):  # warm every path
            raw_call()
            langchain_call()
            chain_call()
            bot.ask(QUESTION)
        for _ in range(runs):  # interleaved, so machine load hits all alike
            raw.append(raw_call())
            lc.append(langchain_call())
            chain.append(chain_call())
            answer = bot.ask(QUESTION)
            assert answer.mode == "llm" and len(answer.citations) == len(STATEMENTS)
            llm.append(answer.timings_ms["llm"])
            verify.append(answer.timings_ms["verify"])
            retrieve.append(answer.timings_ms["retrieve"])

    med = statistics.median
    bot_ms = med([a + b for a, b in zip(llm, verify)])
    chunks = len(fixed.tool_calls[0][1]) // fixed.chunk_size
    print(f"runs: {runs}, reply: {len(STATEMENTS)} statements, "
          f"{len(fixed.tool_calls[0][1])} chars in ~{chunks} SSE deltas")
    print()
    print("| path (median of %d) | ms | vs. raw client |" % runs)
    print("|---|---|---|")
    print(f"| raw `openai` client, same request, stream read to the end (baseline) | {med(raw):.1f} | 1.00x |")
    print(f"| `ChatOpenAI.stream` alone, same messages and tool (LangChain's per-token cost) | "
          f"{med(lc):.1f} | {med(lc) / med(raw):.2f}x |")
    print(f"| bot: chain + verification on given passages (the bot's own LLM path) | "
          f"{med(chain):.1f} | {med(chain) / med(raw):.2f}x |")
    print(f"| overhead beyond the model's own time (chain row - baseline) | "
          f"{med(chain) - med(raw):.1f} | |")
    print(f"| `Bot.ask` end to end: `llm` + `verify` (after its own retrieval) | {bot_ms:.1f} | "
          f"{bot_ms / med(raw):.2f}x |")
    print(f"| `Bot.ask` end to end: `verify` alone | {med(verify):.2f} | |")
    print(f"| `Bot.ask` end to end: `retrieve` (same with or without a model) | "
          f"{med(retrieve):.1f} | |")


if __name__ == "__main__":
    main()
