"""Model faults beyond tests/answer/test_llm.py's (which covers a prose reply, 429 then success, 5xx
after retries, a timeout before the first byte, a connection dropped mid-stream, a rejected key
and an unreachable server): garbage bodies, broken SSE, truncated and ill-typed JSON, empty and
runaway replies, a stream that stalls past the timeout. Every case must end in a well-formed
answer (tests/answers.py): the model's, verified, or the extractive one with a notice naming the
fault; never an exception, never an unverified citation."""

from __future__ import annotations

import json
import threading

import pytest

from bot import Bot
from bot.answer.llm import MAX_REPLY_CHARS
from tests.answers import problems
from tests.conftest import SEEDS, run_cli
from tests.models import answer_args
from tests.openai_server import Reply

QUESTION = "What range was claimed?"
QUOTE = "hit a target 1,800 kilometers away"
GOOD = answer_args(("KCNA claimed the missiles hit a target 1,800 kilometers away.", [(1, QUOTE)]),
                   short="1,800 kilometers")
FALLBACK = "Extractive answer shown instead of the model's: "
NEVER = threading.Event()  # a gate nobody opens: the stream stalls until the client gives up


def faults() -> list:
    good = json.dumps(GOOD)
    return [
        pytest.param(Reply.raw_body("<html><body>502 Bad Gateway</body></html>"),
                     "malformed reply (ValueError)", id="html-page-instead-of-a-stream"),
        pytest.param(Reply.raw_body("null"), "malformed reply", id="json-null-body"),
        pytest.param(Reply.raw_body('data: {"choices": [{"delta": {"content": "Hi'),
                     "malformed reply", id="sse-line-cut-mid-json"),
        pytest.param(Reply.raw_body('data: {"error": {"message": "overloaded"}}\n\n'),
                     "malformed reply (APIError)", id="sse-error-event"),
        pytest.param(Reply.tool_call("answer", good[:70]), "holds no JSON answer",
                     id="tool-arguments-truncated"),
        pytest.param(Reply.tool_call("answer", good[:90], finish_reason="length"),
                     "cut off at", id="cut-at-max-tokens"),
        pytest.param(Reply.tool_call("answer", {"statements": "yes"}), "JSON is not an answer",
                     id="statements-not-a-list"),
        pytest.param(Reply.tool_call("answer", {"statements": [{"text": 5, "citations": "x"}]}),
                     "JSON is not an answer", id="fields-of-wrong-types"),
        pytest.param(Reply.tool_call("answer", '{"statements": NaN}'), "JSON is not an answer",
                     id="nan"),
        pytest.param(Reply.tool_call("answer", '{"statements": ' + "[" * 5000 + "]" * 5000 + "}",
                                     chunk_size=4096),  # in few pieces: inside the 1.5 s limit
                     "holds no JSON answer", id="json-nested-5000-deep"),
        pytest.param(Reply(content=None), "the reply was empty", id="empty-reply"),
        pytest.param(Reply.text("<think>Let me see. " + good), "holds no JSON answer",
                     id="unfinished-think-block"),
        pytest.param(Reply.tool_call("answer", answer_args(
            ("KCNA claimed a range.", [(p, QUOTE) for p in (-1, 0, 99, 10**30, 1.5, None, "x")]))),
            "none of the model's statements could be verified", id="passage-ids-out-of-range"),
        pytest.param(Reply.tool_call("answer", answer_args(("A long quote.", [(1, "x" * 100_000)])),
                                     chunk_size=4096),
                     "none of the model's statements could be verified", id="100k-char-quote"),
        pytest.param(Reply.text("y" * (MAX_REPLY_CHARS + 10), chunk_size=8192),
                     f"ran past {MAX_REPLY_CHARS:,} characters", id="runaway-reply"),
        pytest.param(Reply.error(404, "The model `gpt-x` does not exist"), "answered HTTP 404",
                     id="model-not-found"),
        pytest.param(Reply.tool_call("answer", GOOD, pause_after=3, gate=NEVER),
                     "did not answer within", id="stream-stalls-past-the-timeout"),
        pytest.param(Reply.tool_call("answer", GOOD, hang_up_after=0), "could not connect",
                     id="hang-up-after-the-headers"),
    ]


@pytest.fixture(scope="module")
def faulty(tmp_path_factory):
    """One seeded store and server for all the fault cases (each scripts its own reply)."""
    from bot.config import Settings
    from tests.openai_server import OpenAIServer

    server = OpenAIServer().start()
    settings = Settings.load(env={}, env_file=None).with_(
        store_dir=tmp_path_factory.mktemp("faults") / "store", openai_base_url=server.base_url,
        llm_retries=0, llm_timeout=1.5)
    bot = Bot(settings)
    assert bot.ingest([SEEDS]).added
    yield bot, server
    NEVER.set()
    server.stop()


@pytest.mark.parametrize("reply, reason", faults())
def test_a_faulty_model_ends_in_a_verified_or_fallback_answer(faulty, reply, reason):
    bot, server = faulty
    server.queue_chat(reply, reply)  # also for the text-mode retry after a tool failure
    try:
        answer = bot.ask(QUESTION)
    finally:
        server._chat.clear()
    assert problems(answer, bot.article) == []
    assert answer.mode == "extractive" and answer.notice.startswith(FALLBACK), answer.notice
    assert reason in answer.notice
    assert answer.short_answer_candidate == "1,800 kilometers"  # the fallback still answers


def test_a_reply_from_a_tool_of_another_name_is_still_verified(faulty):
    bot, server = faulty
    server.queue_chat(Reply.tool_call("other_tool", GOOD))
    answer = bot.ask(QUESTION)
    assert answer.mode == "llm" and problems(answer, bot.article) == []


def test_a_garbage_condense_reply_falls_back_to_the_offline_follow_up(faulty):
    bot, server = faulty
    server.queue_chat(Reply.tool_call("answer", GOOD))
    first = bot.ask(QUESTION)
    server.queue_chat(Reply.raw_body("<html>oops</html>"), Reply.tool_call("answer", GOOD))
    follow = bot.ask("How far did they fly?", history=[first])
    assert follow.standalone_question.startswith("How far did they fly?")  # offline rewrite
    assert follow.mode == "llm" and problems(follow, bot.article) == []


def test_the_cli_survives_a_run_of_faults_without_a_traceback(faulty, tmp_path):
    """Piped chat: one question per fault (a /reset between, so no follow-up condensing)."""
    bot, server = faulty
    replies = [Reply.raw_body("<html>502</html>"), Reply.raw_body('data: {"x": '),
               Reply(content=None), Reply.tool_call("answer", '{"statements": [{"te'),
               Reply.error(500), Reply.tool_call("answer", GOOD)]
    for r in replies:
        server.queue_chat(r, r) if r.status == 200 and not r.tool_calls else server.queue_chat(r)
    lines = "\n/reset\n".join([QUESTION] * len(replies)) + "\n"
    env = {"BOT_STORE_DIR": str(bot.settings.store_dir), "OPENAI_BASE_URL": server.base_url,
           "BOT_LLM_RETRIES": "0", "BOT_LLM_TIMEOUT": "5", "HF_HUB_OFFLINE": "1"}
    r = run_cli("chat", env=env, input=lines, cwd=tmp_path)
    server._chat.clear()
    assert r.returncode == 0, r.stderr
    assert "Traceback" not in r.stderr + r.stdout
    assert r.stdout.count("1,800 kilometers") >= len(replies)
    assert r.stdout.count("malformed reply") >= 4
