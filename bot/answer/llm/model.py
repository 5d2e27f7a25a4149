"""The chat model and its prompts: ChatOpenAI on any OpenAI-compatible server, every call bounded
by max_tokens, a refused connection failing at once (no retries), and the `answer` tool asked
for, or JSON in the text, per BOT_LLM_OUTPUT."""

from __future__ import annotations

import importlib.resources
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import bot
from bot.answer.llm.reply import TOOL_NAME, answer_tool, pieces
from bot.config import Settings

OPENAI_BASE_URL = "https://api.openai.com/v1"
NO_KEY = "not-needed"  # local servers ignore the key, but the openai client insists on one
OUTPUT_MODES = ("auto", "tools", "text")


def prompt_text(name: str) -> str:
    """A prompt file: the repo's prompts/ when running from source, else the installed copy."""
    local = Path(bot.__file__).resolve().parent.parent / "prompts" / f"{name}.txt"
    if local.is_file():
        return local.read_text(encoding="utf-8")
    return importlib.resources.files("bot.prompts").joinpath(f"{name}.txt").read_text(encoding="utf-8")


def answer_prompt():
    from langchain_core.prompts import ChatPromptTemplate

    return ChatPromptTemplate.from_messages([("system", prompt_text("system")),
                                             ("human", prompt_text("qa"))])


def condense_prompt():
    from langchain_core.prompts import ChatPromptTemplate

    return ChatPromptTemplate.from_messages([("human", prompt_text("condense"))])


def shown_url(settings: Settings) -> str:
    """The server's URL as it may be shown: credentials in it, if any, removed."""
    parts = urlsplit(settings.openai_base_url or OPENAI_BASE_URL)
    host = parts.hostname or ""
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


def chat_model(settings: Settings, max_tokens: int | None = None, extra_body: dict | None = None):
    """The chat model, every call bounded by `max_tokens` (BOT_LLM_MAX_TOKENS by default).

    `max_tokens` goes in the body as such: LangChain would send `max_completion_tokens`,
    which llama.cpp's and other local servers ignore (a 0.5B model then writes until its
    context is full). A server that cannot be connected to (refused, unknown host) fails at
    once instead of being retried: only 429/5xx and timeouts are worth waiting for.
    `extra_body`: more of the request's body, sent as is (briefings' JSON mode)."""
    from langchain_openai import ChatOpenAI

    return ChatOpenAI(model=settings.chat_model,
                      base_url=settings.openai_base_url or OPENAI_BASE_URL,
                      api_key=settings.openai_api_key or NO_KEY,
                      use_responses_api=False, temperature=0,
                      extra_body={**(extra_body or {}),
                                  "max_tokens": max_tokens or settings.llm_max_tokens},
                      http_client=_http_client(),
                      timeout=settings.llm_timeout, max_retries=settings.llm_retries)


def _http_client():
    import httpx2
    import openai

    class FailFast(httpx2.HTTPTransport):
        def handle_request(self, request):
            try:
                return super().handle_request(request)
            except httpx2.ConnectError as e:
                # The openai client retries any transport error but passes its own errors on
                # untouched: a refused connection or a failed DNS lookup ends the call here.
                raise openai.APIConnectionError(request=request) from e

    return openai.DefaultHttpx2Client(transport=FailFast())


def structured_model(settings: Settings):
    """The model asked for the `answer` tool, or for JSON in text, per BOT_LLM_OUTPUT, its
    reply streamed as `Piece`s."""
    import openai
    from langchain_core.runnables import RunnableGenerator

    mode = settings.llm_output
    if mode not in OUTPUT_MODES:
        from bot.config import ConfigError

        raise ConfigError(f"BOT_LLM_OUTPUT={mode!r}: use one of {', '.join(OUTPUT_MODES)}")
    model = chat_model(settings)
    as_text = model | RunnableGenerator(pieces)
    if mode == "text":
        return as_text
    with_tool = model.bind_tools([answer_tool()], tool_choice=TOOL_NAME) | RunnableGenerator(pieces)
    if mode == "tools":
        return with_tool
    # A server without tool support answers 400 (or 422): ask it for JSON in the text instead.
    return with_tool.with_fallbacks(
        [as_text], exceptions_to_handle=(openai.BadRequestError, openai.UnprocessableEntityError))
