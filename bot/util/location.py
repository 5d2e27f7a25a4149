"""Which store the bot uses when BOT_STORE_DIR is not set: found the way git finds a repository.

From the current folder up to the root, the nearest `.bot/` folder is the store (a project's own
store, made with `mkdir .bot`); without one, a per-user data folder, so that `cd`-ing elsewhere
still finds the same articles. BOT_STORE_DIR (or --store-dir) overrides both.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

STORE_DIR_NAME = ".bot"


@dataclass(frozen=True)
class StoreLocation:
    path: Path
    reason: str  # why this one, for `bot config`


def find_store(cwd: Path | None = None) -> StoreLocation:
    """The nearest `.bot/` at or above `cwd`, else the per-user data folder."""
    here = Path(cwd or Path.cwd()).absolute()
    for folder in (here, *here.parents):
        candidate = folder / STORE_DIR_NAME
        if candidate.is_dir():
            where = "the current folder" if folder == here else f"{folder}, above the current folder"
            return StoreLocation(candidate, f"the nearest {STORE_DIR_NAME}/ folder, in {where}")
    return StoreLocation(user_data_dir(), f"no {STORE_DIR_NAME}/ folder in the current folder or "
                                          "above it: the per-user store")


def user_data_dir() -> Path:
    """The per-user data folder for `bot`: platformdirs' answer when it is installed, else the
    XDG one ($XDG_DATA_HOME/bot, or ~/.local/share/bot)."""
    try:
        import platformdirs
    except ImportError:
        base = os.environ.get("XDG_DATA_HOME", "").strip()
        return Path(base or Path.home() / ".local" / "share") / "bot"
    return Path(platformdirs.user_data_dir("bot", appauthor=False))


def explain(flag: bool, env_file: str | Path | None = ".env") -> str:
    """Why the store in use is the one it is: the flag, the environment, `.env`, or
    `find_store`'s reason."""
    if flag:
        return "set by --store-dir"
    if "BOT_STORE_DIR" in os.environ:
        return "set by the BOT_STORE_DIR environment variable"
    if env_file and Path(env_file).is_file():
        from dotenv import dotenv_values

        if dotenv_values(env_file).get("BOT_STORE_DIR") is not None:
            return f"set by BOT_STORE_DIR in {env_file}"
    return find_store().reason
