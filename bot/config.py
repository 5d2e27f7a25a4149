"""One settings object, one place.

Precedence, lowest first: field defaults < `.env` file < environment variables < explicit
overrides (command-line flags). Every setting is declared once below with its environment
variable, so `bot config`, `.env.example` and the loader cannot drift apart.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any, Mapping

from dotenv import dotenv_values

from bot.errors import BotError
from bot.util.redact import redact, remember


class ConfigError(BotError):
    """A setting has a value the bot cannot use."""


def _setting(env: str, default: Any, help: str, secret: bool = False) -> Any:
    return field(default=default, metadata={"env": env, "help": help, "secret": secret})


@dataclass(frozen=True)
class Settings:
    store_dir: Path = _setting(
        "BOT_STORE_DIR", Path(".bot"),
        "Where the embedded store lives; unset = the nearest .bot/ folder at or above the "
        "current one, else the per-user data folder (bot config says which)."
    )
    chroma_url: str = _setting("BOT_CHROMA_URL", "", "A Chroma server URL; empty = embedded store.")
    chroma_token: str = _setting(
        "BOT_CHROMA_TOKEN", "", "Token sent to the Chroma server (Authorization: Bearer).", True
    )
    collection: str = _setting("BOT_COLLECTION", "default", "Collection to ingest into and ask.")
    embeddings: str = _setting("BOT_EMBEDDINGS", "local", "Embeddings: local (offline) or openai.")
    embedding_model: str = _setting(
        "BOT_EMBEDDING_MODEL", "", "Embedding model name (default depends on BOT_EMBEDDINGS)."
    )
    openai_api_key: str = _setting("OPENAI_API_KEY", "", "API key for OpenAI(-compatible).", True)
    openai_base_url: str = _setting(
        "OPENAI_BASE_URL", "", "Base URL of an OpenAI-compatible server (Ollama, vLLM, ...)."
    )
    chat_model: str = _setting("BOT_CHAT_MODEL", "gpt-4o-mini", "Chat model for LLM answers.")
    llm_timeout: float = _setting("BOT_LLM_TIMEOUT", 60.0, "Seconds before an LLM call gives up.")
    llm_retries: int = _setting("BOT_LLM_RETRIES", 2, "Retries on 429/5xx before falling back.")
    llm_max_tokens: int = _setting(
        "BOT_LLM_MAX_TOKENS", 400, "Most tokens a model may write per answer (briefings: 3x)."
    )
    llm_context: int = _setting(
        "BOT_LLM_CONTEXT", 4096, "The model's context in tokens; passages are cut to fit it."
    )
    llm_sentences: int = _setting(
        "BOT_LLM_SENTENCES", 1, "Fewest sentences the model is given: those the offline answer "
        "cites, then the ranker's next best (1: only the cited ones, best for 1-8B models)."
    )
    llm_output: str = _setting(
        "BOT_LLM_OUTPUT", "auto", "How the model returns answers: auto, tools or text (JSON in text)."
    )
    chunk_size: int = _setting("BOT_CHUNK_SIZE", 800, "Target chunk size in characters.")
    chunk_overlap: int = _setting("BOT_CHUNK_OVERLAP", 150, "Overlap between chunks (chars).")
    top_k: int = _setting("BOT_TOP_K", 10, "Passages retrieved per question.")
    log_questions: bool = _setting(
        "BOT_LOG", True, "Keep each `bot ask` with its answer for `bot log` (chat keeps its own)."
    )
    warm: bool = _setting(
        "BOT_WARM", True, "`bot ask` starts a background process that keeps the store and the "
        "model loaded, so the next asks are fast (offline answers); off = never."
    )
    warm_idle: float = _setting(
        "BOT_WARM_IDLE", 600.0,
        "Seconds a warm process (bot serve) waits for a question before it exits."
    )
    max_file_mb: float = _setting("BOT_MAX_FILE_MB", 20.0, "Largest file ingest accepts (MB).")
    embed_batch: int = _setting("BOT_EMBED_BATCH", 8, "Texts per embedding batch.")
    slack_bot_token: str = _setting("SLACK_BOT_TOKEN", "", "Slack bot token (xoxb-...) for the Web API.", True)
    slack_app_token: str = _setting(
        "SLACK_APP_TOKEN", "", "Slack app-level token (xapp-...); set = Socket Mode.", True
    )
    slack_signing_secret: str = _setting(
        "SLACK_SIGNING_SECRET", "", "Slack signing secret; checks requests in HTTP mode.", True
    )
    slack_api_url: str = _setting(
        "SLACK_API_URL", "https://slack.com/api/", "Slack Web API base URL (a stand-in for tests)."
    )
    slack_channels: str = _setting(
        "BOT_SLACK_CHANNELS", "",
        "Channel scoping: C123=policy,energy;C456=sports or a .json/.toml file; others: default.",
    )
    slack_rate_limit: int = _setting(
        "BOT_SLACK_RATE_LIMIT", 10, "Questions one Slack user may ask per minute (0 = no limit)."
    )
    slack_workers: int = _setting("BOT_SLACK_WORKERS", 4, "Slack questions answered at once.")
    allow_private_urls: bool = _setting(
        "BOT_ALLOW_PRIVATE_URLS", False,
        "Fetch URLs on loopback/private/link-local addresses (cloud metadata stays refused)."
    )
    fetch_timeout: float = _setting(
        "BOT_FETCH_TIMEOUT", 30.0, "Seconds a URL fetch may take (connect, each read, and in all)."
    )
    chroma_auth_header: str = _setting(
        "BOT_CHROMA_AUTH_HEADER", "Authorization",
        "Header carrying BOT_CHROMA_TOKEN (Authorization sends 'Bearer TOKEN'; others the token as is)."
    )
    chroma_tenant: str = _setting("BOT_CHROMA_TENANT", "default_tenant", "Chroma server tenant.")
    chroma_database: str = _setting("BOT_CHROMA_DATABASE", "default_database", "Chroma server database.")
    chroma_timeout: float = _setting(
        "BOT_CHROMA_TIMEOUT", 30.0, "Seconds before a Chroma server request gives up."
    )

    @classmethod
    def load(
        cls,
        overrides: Mapping[str, Any] | None = None,
        env: Mapping[str, str] | None = None,
        env_file: str | Path | None = ".env",
    ) -> "Settings":
        """Build settings from `.env`, then the environment, then `overrides` (field names)."""
        values: dict[str, str] = {}
        if env_file and Path(env_file).is_file():
            values.update({k: v for k, v in dotenv_values(env_file).items() if v is not None})
        values.update(os.environ if env is None else env)
        kwargs: dict[str, Any] = {}
        for f in fields(cls):
            if f.metadata["env"] in values:
                kwargs[f.name] = _coerce(f.name, f.default, values[f.metadata["env"]])
        for name, value in (overrides or {}).items():
            if value is not None:
                kwargs[name] = _coerce(name, getattr(cls, name), value)
        if "store_dir" not in kwargs:  # not set anywhere: found as git finds a repository
            from bot.util.location import find_store

            kwargs["store_dir"] = find_store().path
        return cls(**kwargs)

    def __post_init__(self) -> None:
        """Every way of making settings (load, with_, the Python API) is checked here, and
        their secrets are registered with bot/util/redact.py before anything can print them."""
        remember(self.secrets)
        for f in fields(self):
            if f.name in RANGES:
                check(f.name, getattr(self, f.name), f.metadata["env"])
        if self.chunk_overlap >= self.chunk_size:
            raise ConfigError(f"BOT_CHUNK_OVERLAP={self.chunk_overlap} must be smaller than "
                              f"BOT_CHUNK_SIZE={self.chunk_size}; lower the overlap")

    def __repr__(self) -> str:
        """Secrets masked and passwords in URLs hidden: a Settings printed in a log, an error
        or a failing test's assertion message must not carry a key."""
        shown = []
        for f in fields(self):
            value = getattr(self, f.name)
            if f.metadata["secret"]:
                value = mask(str(value))
            elif isinstance(value, str):
                value = redact(value)
            shown.append(f"{f.name}={value!r}")
        return f"Settings({', '.join(shown)})"

    def with_(self, **changes: Any) -> "Settings":
        return replace(self, **changes)

    @property
    def llm_enabled(self) -> bool:
        """An LLM is configured: a key (OpenAI) or a base URL (any compatible server)."""
        return bool(self.openai_api_key or self.openai_base_url)

    @property
    def secrets(self) -> list[str]:
        """Values that must never be printed, logged or returned: the secret settings and
        any password written into a URL setting."""
        from urllib.parse import urlsplit

        found = [getattr(self, f.name) for f in fields(self) if f.metadata["secret"]
                 and getattr(self, f.name)]
        for url in (self.chroma_url, self.openai_base_url, self.slack_api_url):
            if "@" in url:
                # the whole userinfo: a password may itself hold ':' or '@'
                userinfo = urlsplit(url).netloc.rpartition("@")[0]
                found += [part for part in (userinfo.partition(":")[2],) if part]
        return list(dict.fromkeys(found))

    def masked(self, typed: bool = False) -> dict[str, Any]:
        """Effective settings keyed by environment variable, secrets masked; all strings, or
        with `typed` booleans and numbers as themselves (for `bot config --json`)."""
        out: dict[str, Any] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if f.metadata["secret"]:
                value = mask(str(value))
            keep = typed and isinstance(value, (bool, int, float))
            out[f.metadata["env"]] = value if keep else redact(str(value))
        return out


def mask(secret: str) -> str:
    """Show that a secret is set without showing any of it."""
    return "(set, hidden)" if secret else "(not set)"


def env_name(name: str) -> str:
    """The environment variable of setting `name` (a field name)."""
    return _ENV[name]


def describe() -> list[tuple[str, str, str]]:
    """(env var, default, help) for every setting: the source of `.env.example`."""
    return [(f.metadata["env"], str(f.default), f.metadata["help"]) for f in fields(Settings)]


# The valid range of every numeric setting: (lowest, highest, what the number is). A value
# outside it would hang (a chunk size of 0), crash (a batch of 0) or make no sense (a negative
# file limit, a timeout of 0), so it is refused when settings are made, in one line.
RANGES: dict[str, tuple[float, float, str]] = {
    "chunk_size": (50, 100_000, "characters per chunk"),
    "chunk_overlap": (0, 50_000, "characters of overlap"),
    "top_k": (1, 1000, "passages per question"),
    "max_file_mb": (1e-6, 100_000, "megabytes"),
    "embed_batch": (1, 4096, "texts per batch"),
    "llm_timeout": (0.1, 86_400, "seconds"),
    "llm_retries": (0, 20, "retries"),
    "llm_sentences": (1, 8, "sentences"),
    "fetch_timeout": (0.1, 86_400, "seconds"),
    "chroma_timeout": (0.1, 86_400, "seconds"),
    "warm_idle": (1, 604_800, "seconds"),
    "slack_rate_limit": (0, 100_000, "questions per minute"),
    "slack_workers": (1, 256, "workers"),
}


def check(name: str, value: Any, label: str | None = None) -> Any:
    """`value` if it is in the valid range of setting `name`, else a ConfigError naming
    `label` (an environment variable, a flag such as --top-k, or an argument). The CLI's flags
    and the Python API check their numbers here too."""
    low, high, unit = RANGES[name]
    label = label or name
    joint = " " if label.startswith("-") else "="  # --top-k 0, BOT_TOP_K=0
    number = isinstance(value, (int, float)) and not isinstance(value, bool)
    if not number or not math.isfinite(value) or not low <= value <= high:
        shown = f"{value:g}" if number else repr(value)
        raise ConfigError(f"{label}{joint}{shown} is out of range: use {low:g} to {high:g} {unit}")
    if isinstance(_DEFAULTS.get(name), int) and not float(value).is_integer():
        raise ConfigError(f"{label}{joint}{value!r}: use a whole number of {unit}")
    return value


def _coerce(name: str, default: Any, raw: Any) -> Any:
    if not isinstance(raw, str):
        return raw
    raw = raw.strip()
    try:
        if isinstance(default, bool):
            if raw.lower() not in {"1", "true", "yes", "on", "0", "false", "no", "off", ""}:
                raise ConfigError(f"{_ENV.get(name, name)}={raw!r}: use true or false")
            return raw.lower() in {"1", "true", "yes", "on"}
        if isinstance(default, int):
            return int(raw)
        if isinstance(default, float):
            return float(raw)
        if isinstance(default, Path):
            return Path(raw).expanduser()
    except ValueError:
        env = _ENV.get(name, name)
        kind = "a whole number" if isinstance(default, int) else "a number"
        raise ConfigError(f"{env}={raw!r} is not {kind} (setting {name}); fix it in .env "
                          "or the environment") from None
    return raw


_ENV = {f.name: f.metadata["env"] for f in fields(Settings)}
_DEFAULTS = {f.name: f.default for f in fields(Settings)}
