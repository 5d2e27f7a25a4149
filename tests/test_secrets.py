"""Secrets: API keys and tokens never appear in output, errors, logs, `bot config` or JSON.

Every command here runs with all five secrets set (OPENAI_API_KEY, SLACK_BOT_TOKEN,
SLACK_APP_TOKEN, SLACK_SIGNING_SECRET, BOT_CHROMA_TOKEN), through its failure paths too: a
server that echoes the key in its 401 and 500 bodies (as OpenAI's does), servers that are
down, bad configuration. All captured output and log records are searched for each secret and
for the marker every one of them carries (so a partly masked key counts as a leak).
tests/conftest.py also searches every test's captured output and logs for known test secrets.
"""

from __future__ import annotations

import json
import logging
import traceback

import pytest

from bot import Bot
from bot.config import Settings
from tests import fakeslack as fs
from tests.conftest import SEEDS, free_port, run_cli
from tests.known_secrets import MARK, SECRETS
from tests.openai_server import Reply

KEY = SECRETS["OPENAI_API_KEY"]
ECHO_401 = f"Incorrect API key provided: {KEY}. You can find your API key at https://x"


def assert_clean(*texts: str) -> None:
    everything = "\n".join(texts)
    for name, value in SECRETS.items():
        assert value not in everything, f"{name} leaked"
    assert MARK not in everything, "part of a secret leaked"


@pytest.fixture
def env(tmp_path, openai_server):
    return {**SECRETS, "BOT_STORE_DIR": str(tmp_path / "store"), "HF_HUB_OFFLINE": "1",
            "OPENAI_BASE_URL": openai_server.base_url, "BOT_LLM_RETRIES": "0",
            "BOT_LLM_TIMEOUT": "10"}


def test_cli_commands_and_their_failures_never_show_a_secret(env, openai_server, tmp_path):
    outputs = []

    def cli(*args, expect: int | None = 0, **extra) -> str:
        r = run_cli(*args, env={**env, **extra}, cwd=tmp_path)
        if expect is not None:
            assert r.returncode == expect, (args, r.stdout, r.stderr)
        assert "Traceback" not in r.stderr, r.stderr
        outputs.append(r.stdout + r.stderr)
        return r.stdout + r.stderr

    shown = json.loads(cli("config", "--json"))
    assert all(shown[name] == "(set, hidden)" for name in SECRETS)
    cli("config")
    assert json.loads(cli("ingest", str(SEEDS), "--json"))["added"]
    # Answers through a model that fails with the key in its error body, then one that works,
    # then one that rejects the key (exit code 2), all in one piped chat.
    openai_server.queue_chat(Reply.error(500, f"internal error for key {KEY}"))
    openai_server.queue_chat(Reply.text(json.dumps({"statements": [], "short_answer": None})))
    openai_server.queue_chat(Reply.error(401, ECHO_401))
    r = run_cli("chat", env=env, cwd=tmp_path,
                input="What range was claimed?\n/reset\nHow long did the cruise missiles fly?\n/reset\n"
                      "What range was claimed?\n")
    outputs.append(r.stdout + r.stderr)
    assert "answered HTTP 500" in r.stdout and "rejected by" in r.stdout + r.stderr
    assert "Traceback" not in r.stderr
    openai_server.queue_chat(Reply.error(401, ECHO_401))
    assert "rejected" in cli("ask", "What range was claimed?", "--json", expect=2)
    cli("ask", "What range was claimed?", "--json",
        OPENAI_BASE_URL=f"http://127.0.0.1:{free_port()}/v1")
    # A key-bearing base URL is shown without its password.
    url = f"http://user:{KEY}@127.0.0.1:{free_port()}/v1"
    cli("ask", "What range was claimed?", OPENAI_BASE_URL=url)
    cli("config", OPENAI_BASE_URL=url)
    # Embeddings over HTTP with a rejected key: a failed input, not a traceback.
    openai_server.queue_embeddings(Reply.error(401, ECHO_401))
    cli("ingest", str(SEEDS), expect=1, BOT_EMBEDDINGS="openai",
        BOT_STORE_DIR=str(tmp_path / "store2"))
    # A Chroma server that is down, with a token configured.
    cli("sources", expect=1, BOT_CHROMA_URL=f"http://127.0.0.1:{free_port()}")
    # Bad configuration.
    cli("ask", "x", expect=1, BOT_TOP_K="many")
    cli("ask", "x", expect=1, BOT_EMBEDDINGS="quantum")
    # Slack: a token Slack rejects, and an API that is down.
    fake = fs.FakeSlack()
    try:
        cli("slack", expect=1, SLACK_API_URL=fake.api_url)
    finally:
        fake.close()
    cli("slack", expect=1, SLACK_API_URL=f"http://127.0.0.1:{free_port()}/api/")
    assert_clean(*outputs)


def test_errors_logs_and_reprs_never_carry_a_secret(settings, openai_server, caplog):
    caplog.set_level(logging.DEBUG)  # every library's debug logging too (openai, httpx, ...)
    conf = settings.with_(openai_base_url=openai_server.base_url, llm_retries=1,
                          openai_api_key=KEY, slack_bot_token=SECRETS["SLACK_BOT_TOKEN"],
                          slack_app_token=SECRETS["SLACK_APP_TOKEN"],
                          slack_signing_secret=SECRETS["SLACK_SIGNING_SECRET"],
                          chroma_token=SECRETS["BOT_CHROMA_TOKEN"])
    bot = Bot(conf)
    bot.ingest([SEEDS])
    texts = [repr(conf), str(conf.masked()), repr(bot.settings)]
    openai_server.queue_chat(*[Reply.error(503, f"overloaded {KEY}", retry_after_ms=1)] * 2)
    texts.append(json.dumps(bot.ask("What range was claimed?").to_dict()))
    errors = []
    openai_server.queue_chat(Reply.error(401, ECHO_401))
    with pytest.raises(Exception) as auth:
        bot.ask("What range was claimed?")
    errors.append(auth.value)
    with pytest.raises(Exception) as chroma:
        Bot(conf.with_(chroma_url=f"http://127.0.0.1:{free_port()}")).store()
    errors.append(chroma.value)
    openai_server.queue_embeddings(Reply.error(401, ECHO_401))
    report = Bot(conf.with_(embeddings="openai", store_dir=conf.store_dir.parent / "s2")).ingest([SEEDS])
    texts += [f.line() for f in report.failed]
    from bot.ui.slack.app import web_client

    fake = fs.FakeSlack()
    try:
        with pytest.raises(Exception) as slack:
            web_client(conf.with_(slack_api_url=fake.api_url))  # the fake rejects this token
        errors.append(slack.value)
    finally:
        fake.close()
    for e in errors:
        texts += [str(e), repr(e), "".join(traceback.format_exception(e))]
    texts.append(caplog.text)
    assert len(caplog.records) > 10  # the debug logs were really captured
    assert_clean(*texts)


def test_settings_repr_hides_secrets_and_config_hides_url_passwords():
    s = Settings.load(env={**SECRETS, "BOT_CHROMA_URL": f"http://bot:{KEY}@chroma.test:8000"},
                      env_file=None)
    assert_clean(repr(s), json.dumps(s.masked()))
    assert s.masked()["BOT_CHROMA_URL"] == "http://bot:(hidden)@chroma.test:8000"
    assert sorted(s.secrets) == sorted(SECRETS.values())
