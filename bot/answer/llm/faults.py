"""What went wrong with the model, in words safe to show: a rejected key (`LLMAuthError`, no
fallback) or any other fault that keeps it from answering (`LLMUnavailable`: fall back)."""

from __future__ import annotations

import importlib

from bot.answer.llm.model import shown_url
from bot.config import Settings
from bot.errors import BotError
from bot.schema import Passage


class LLMError(BotError):
    """The configured model could not be used."""


class LLMAuthError(LLMError):
    """The server rejected the API key (HTTP 401/403): the user must fix it, no fallback."""

    exit_code = 2


class LLMUnavailable(LLMError):
    """The model gave no usable answer; `reason` says why in words safe to show."""

    def __init__(self, reason: str, passages: list[Passage] | None = None):
        super().__init__(reason)
        self.reason = reason
        self.passages = passages  # what was retrieved before the failure, if anything


class Overtime(Exception):
    pass


class CutOff(Exception):
    pass


class Malformed(Exception):
    pass


def model_fault(e: Exception, settings: Settings, passages: list[Passage] | None,
           replying: bool = False) -> Exception:
    """The error to raise for `e`: LLMAuthError, LLMUnavailable (fall back), or `e` itself."""
    import openai

    if isinstance(e, (openai.AuthenticationError, openai.PermissionDeniedError)):
        return LLMAuthError(f"the API key was rejected by {shown_url(settings)} (HTTP {e.status_code}); "
                            "set OPENAI_API_KEY to a valid key for that server")
    reason = _reason(e, settings, replying)
    return e if reason is None else LLMUnavailable(reason, passages)


def _reason(e: Exception, settings: Settings, replying: bool = False) -> str | None:
    """Why the model failed, in words safe to show (never the server's own message, which may
    echo part of the key), or None when `e` is not a model fault."""
    import openai

    url = shown_url(settings)
    if isinstance(e, Malformed):
        return f"{url} sent a malformed reply ({e})"
    if isinstance(e, CutOff):
        return str(e)
    if isinstance(e, (openai.APITimeoutError, Overtime)):
        return f"{url} did not answer within {settings.llm_timeout:g} s"
    if isinstance(e, openai.APIConnectionError) or _is_transport_error(e):
        return f"the connection to {url} broke mid-reply" if replying else f"could not connect to {url}"
    if isinstance(e, openai.APIStatusError):
        retried = settings.llm_retries and (e.status_code in (408, 409, 429) or e.status_code >= 500)
        return f"{url} answered HTTP {e.status_code}" + (
            f" after {settings.llm_retries} retries" if retried else "")
    if isinstance(e, openai.APIError):
        return f"{url} sent a malformed reply ({type(e).__name__})"
    if isinstance(e, (ValueError, RecursionError)) or (
            isinstance(e, RuntimeError) and isinstance(e.__cause__, StopIteration)):
        # Raised while the reply was read (after retrieval): an SSE line that is not JSON
        # (json's ValueError), a body with no chunks at all (LangChain's ValueError), JSON
        # nested too deep to parse, a stream that ended before its first chunk.
        return f"{url} sent a malformed reply ({type(e).__name__})"
    return None


def _is_transport_error(e: Exception) -> bool:
    # The openai client streams over httpx (or its fork httpx2); a dropped stream surfaces as
    # that library's TransportError, not an openai error.
    for mod in ("httpx2", "httpx"):
        try:
            lib = importlib.import_module(mod)
        except ImportError:
            continue
        if isinstance(e, (lib.TransportError, lib.DecodingError)):
            return True
    return False
