"""Every secret value the tests set (tokens, keys), for the session-wide leak check in
tests/conftest.py: none may appear in any test's captured output or log records."""

from __future__ import annotations

MARK = "SEKRIT"
SECRETS = {"OPENAI_API_KEY": f"sk-test-{MARK}-openai-5f0c2d9e",
           "SLACK_BOT_TOKEN": f"xoxb-111-{MARK}-bot-token",
           "SLACK_APP_TOKEN": f"xapp-1-{MARK}-app-token",
           "SLACK_SIGNING_SECRET": f"{MARK}signing0secret77",
           "BOT_CHROMA_TOKEN": f"chroma-{MARK}-token-3a"}


def all_values() -> list[str]:
    from tests import fakeslack, injection

    return [*SECRETS.values(), *fakeslack.SECRETS, *injection.SECRETS.values(),
            "sk-test-SECRET-123"]  # tests/answer/test_llm.py's rejected key
