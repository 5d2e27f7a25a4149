"""Secrets out of everything the bot shows, logs or keeps: one function, `redact`.

It removes every configured secret (the values of the secret settings and any password in a
configured URL; bot/config.py registers them when settings are made) and anything shaped like
one: bearer tokens, `Authorization:` / `X-Chroma-Token:` header values, API keys of known
shapes (sk-..., xoxb-..., xapp-...), and the credentials in a URL (http://user:PASSWORD@host,
also when the password holds an `@`). Error lines, log records (`install_logging`), streamed
drafts, stored chat history and rendered output all pass through it.
"""

from __future__ import annotations

import logging
import re
import threading
from typing import Any, Iterable

HIDDEN = "(hidden)"
MIN_SECRET = 4  # shorter values would blank ordinary words; no real key is this short

_known: frozenset[str] = frozenset()  # replaced, never changed: readers need no lock
_lock = threading.Lock()
_installed = False

# userinfo runs to the last "@" before the path, so a password holding "@" is hidden whole.
_URL_CREDENTIALS = re.compile(
    r"(?i)\b([a-z][a-z0-9+.-]*://)([^\s/?#@:]*)(:[^\s/?#]*)?@(?=[^\s/?#@]*(?:[/?#\s'\"]|$))")
# A token: a run of token characters holding at least one that is not a letter, so prose
# ("bearer bonds", "authorization was granted") is left alone.
_TOKEN = r"(?=[A-Za-z]*[0-9._~+/=-])[A-Za-z0-9._~+/=-]{6,}"
_BEARER = re.compile(rf"\b(Bearer|bearer|BEARER|Basic)(\s+){_TOKEN}")
_HEADER_NAME = (r"(?i:\b(authorization|proxy-authorization|x-chroma-token|x-api-key|api[-_]key|"
                r"(?:access|bot|app)[-_]token|signing[-_]secret))")
# `Authorization: VALUE`, `"x-chroma-token": "VALUE"`, `X-Chroma-Token=VALUE`: any value.
_HEADER = re.compile(_HEADER_NAME + r"(['\"]?\s*[:=]\s*['\"]?\s*)(?!\(hidden\))"
                     r"(?:(Bearer|bearer|Basic|Token)\s+)?[^\s'\",;}\])]+")
# `Authorization was tok-123`, `X-Chroma-Token is tok-123`: only a token-shaped value.
_HEADER_SAID = re.compile(_HEADER_NAME + r"(\s+(?:was|is)\s+['\"]?)(?:(Bearer|bearer|Basic|Token)\s+)?"
                          + _TOKEN)
_TOKEN_SHAPES = re.compile(
    r"\b(?:sk-[A-Za-z0-9_-]{12,}|xox[abposr]-[A-Za-z0-9-]{6,}|xapp-[A-Za-z0-9-]{6,}|"
    r"gh[pousr]_[A-Za-z0-9]{20,})")


def remember(secrets: Iterable[str]) -> None:
    """Add configured secret values (and install the log filter once)."""
    global _known
    fresh = {s for s in secrets if s and len(s) >= MIN_SECRET}
    if fresh - _known:
        with _lock:
            _known = _known | fresh
    install_logging()


def _url_credentials(m: re.Match) -> str:
    scheme, user, password = m.groups()
    # A user name alone can be the token itself (https://TOKEN@host): hide it too.
    return f"{scheme}{user}:{HIDDEN}@" if password is not None and user else f"{scheme}{HIDDEN}@"


def _header(m: re.Match) -> str:
    scheme = f"{m.group(3)} " if m.group(3) else ""
    return f"{m.group(1)}{m.group(2)}{scheme}{HIDDEN}"


def redact(text: str, secrets: Iterable[str] = ()) -> str:
    """`text` without any configured secret (or `secrets`) and without anything shaped like
    a credential."""
    if not text:
        return text
    for secret in sorted({*_known, *(s for s in secrets if len(s) >= MIN_SECRET)}, key=len,
                         reverse=True):
        if secret in text:
            text = text.replace(secret, HIDDEN)
    if "://" in text and "@" in text:
        text = _URL_CREDENTIALS.sub(_url_credentials, text)
    text = _HEADER.sub(_header, text)
    text = _HEADER_SAID.sub(_header, text)
    text = _BEARER.sub(lambda m: f"{m.group(1)}{m.group(2)}{HIDDEN}", text)
    return _TOKEN_SHAPES.sub(HIDDEN, text)


def redact_partial(text: str) -> str:
    """`redact` for text still being written (a streamed draft): also holds back an ending
    that could be the start of a configured secret, until the rest shows what it is."""
    text = redact(text)
    for secret in _known:
        for n in range(min(len(secret) - 1, len(text)), 2, -1):
            if text.endswith(secret[:n]):
                return text[:-n]
    return text


def redact_tree(value: Any) -> Any:
    """Every string in a JSON-like value redacted (dict keys too)."""
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {redact_tree(k): redact_tree(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [redact_tree(v) for v in value]
    return value


class RedactingRecords:
    """A log record factory: every record, from the bot or any library, is redacted (and its
    control characters neutralised) when it is made, so every handler (a console, a file,
    pytest's capture) gets it clean."""

    def __init__(self, inner: Any):
        self.inner = inner

    def __call__(self, *args: Any, **kwargs: Any) -> logging.LogRecord:
        from bot.util.controls import clean

        record = self.inner(*args, **kwargs)

        def safe(value: Any) -> Any:
            return clean(redact(value)) if isinstance(value, str) else value

        try:
            # Arguments are cleaned in place where that suffices, since some formatters read
            # them (uvicorn's access log unpacks a tuple); else the message is formatted now.
            record.msg = safe(record.msg)
            if isinstance(record.args, tuple):
                record.args = tuple(safe(a) for a in record.args)
            message = record.getMessage()
            if safe(message) != message:
                record.msg, record.args = safe(message), None
        except Exception:  # a record whose arguments do not format: leave it to the handler
            return record
        if record.exc_info and not record.exc_text:  # tracebacks too: format now, redacted
            record.exc_text = clean(redact(logging.Formatter().formatException(record.exc_info)))
        return record


def install_logging() -> None:
    global _installed
    with _lock:
        if not _installed:
            logging.setLogRecordFactory(RedactingRecords(logging.getLogRecordFactory()))
            _installed = True
