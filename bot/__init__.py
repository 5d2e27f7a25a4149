"""bot: questions and briefings over news articles, every claim cited to an exact source span.

`from bot import Bot` is lazy so that `bot --help` and `bot config` start fast.
"""

from typing import TYPE_CHECKING

__version__ = "0.1.0"
__all__ = ["Bot", "Settings"]

if TYPE_CHECKING:
    from bot.config import Settings
    from bot.core import Bot


def __getattr__(name: str):
    if name == "Bot":
        from bot.core import Bot

        return Bot
    if name == "Settings":
        from bot.config import Settings

        return Settings
    raise AttributeError(name)
