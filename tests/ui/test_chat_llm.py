"""`bot chat` in LLM mode, in a pseudo-terminal, against the scriptable OpenAI-compatible server
of tests/openai_server.py (real HTTP): the follow-up is condensed by the model, the answer
streams, and Ctrl-C abandons a stream that is still arriving.

It needs the LLM answer path (issue 3: `Bot.ask_stream`, bot/answer/llm/, tests/openai_server.py)
and skips until that is merged."""

from __future__ import annotations

import os
import sys
import threading
from pathlib import Path

import pexpect
import pytest

from bot.core import Bot
from conftest import BOT_ENV_PREFIXES, ROOT, SEEDS

pytestmark = pytest.mark.skipif(
    not (hasattr(Bot, "ask_stream") and (Path(__file__).parents[1] / "openai_server.py").exists()),
    reason="needs the LLM answer path (Bot.ask_stream and tests/openai_server.py, issue 3)")

RANGE_QUOTE = "hit a target 1,800 kilometers away"
FLY_QUOTE = "flew for more than two and a half hours"
CONDENSED = "How long did the cruise missiles fly?"


def passage_with(body: dict, text: str) -> int:
    """The id of the passage holding `text`, read back from the bot's prompt."""
    from tests.models import sentence_with

    return int(sentence_with(body, text).split(".")[0])


def answer(statement: str, passage: int, quote: str, short: str | None = None, **kw):
    from tests.openai_server import Reply

    return Reply.tool_call("answer", {"statements": [{"text": statement, "citations": [
        {"passage": passage, "quote": quote}]}], "short_answer": short}, **kw)


def test_llm_chat_condenses_streams_and_cancels(settings):
    from tests.openai_server import OpenAIServer, Reply

    gate = threading.Event()  # holds the third reply mid-stream until the test opens it
    replies: list[str] = []

    def model(body: dict):
        prompt = body["messages"][-1]["content"]
        if "Standalone question:" in prompt:  # prompts/condense.txt
            replies.append("condense")
            return Reply.text(CONDENSED)
        replies.append("answer")
        if len([r for r in replies if r == "answer"]) == 3:
            # (condensed to CONDENSED again: the model is given the sentence on the flight)
            return answer("The missiles were tracked by radar over the sea for a long time.",
                          passage_with(body, FLY_QUOTE), FLY_QUOTE, chunk_size=6,
                          pause_after=12, gate=gate)
        if CONDENSED in prompt:
            return answer("The **cruise missiles** flew for more than two and a half hours.",
                          passage_with(body, FLY_QUOTE), FLY_QUOTE,
                          "more than two and a half hours", chunk_size=6)
        return answer("KCNA claimed the missiles hit a target 1,800 kilometers away.",
                      passage_with(body, RANGE_QUOTE), RANGE_QUOTE, "1,800 kilometers",
                      chunk_size=6)

    with OpenAIServer() as server:
        server.chat_handler = model
        assert Bot(settings).ingest([SEEDS]).added
        env = {k: v for k, v in os.environ.items() if not k.startswith(BOT_ENV_PREFIXES)}
        env.update(PYTHONPATH=str(ROOT), PROMPT_TOOLKIT_NO_CPR="1", NO_COLOR="1", TERM="xterm",
                   BOT_STORE_DIR=str(settings.store_dir), OPENAI_BASE_URL=server.base_url,
                   BOT_LLM_RETRIES="0", BOT_LLM_TIMEOUT="30")
        child = pexpect.spawn(sys.executable, ["-m", "bot", "chat"], env=env, encoding="utf-8",
                              dimensions=(40, 120), timeout=120, use_poll=True)
        try:
            child.expect_exact("bot>")
            child.sendline("What range was claimed?")
            child.expect_exact("1,800 kilometers")
            child.expect_exact("bot>")

            child.sendline("How long did they fly?")
            child.expect_exact(f"(searched: {CONDENSED})")
            child.expect_exact("more than two and a half hours")
            child.expect_exact("bot>")
            assert replies == ["answer", "condense", "answer"]

            child.sendline("And then?")
            child.expect_exact("The missiles were")  # streamed text, the reply still held
            child.sendintr()
            child.expect_exact("cancelled")
            child.expect_exact("bot>")
            gate.set()

            child.sendline("/history")  # the abandoned answer left no turn
            child.expect_exact("2. How long did they fly?")
            child.expect_exact("bot>")
            assert "3. And then?" not in child.before

            child.sendline("/quit")
            child.expect(pexpect.EOF)
        finally:
            gate.set()
            child.close()
        assert child.exitstatus == 0
