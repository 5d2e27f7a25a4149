"""The one parser for the days that filter articles (`--since`/`--until` of every command, and
the `since=`/`until=` keywords of the Python API), and for the interval of `bot watch --every`.

A day is an ISO date (2022-01-27) or a day relative to today as news readers say it: `today`,
`yesterday`, `7d`, `2w`, `3 days ago`, `last week`, `last month`. It is a small explicit grammar
rather than a general natural-language parser (dateparser is installed, as a trafilatura
dependency): it imports in no time, and it never guesses — "5" or "01/02/2022" is refused, not
read as some day, because a filter on a wrong day silently hides articles.
"""

from __future__ import annotations

import datetime as dt
import re

from bot.errors import BotError

FORMS = "YYYY-MM-DD, today, yesterday, 7d, 2w, 3 days ago or last week"
_AGO = re.compile(r"(\d{1,5})\s*(d|w|days?|weeks?|months?)(?:\s+ago)?")
_LAST = {"week": ("w", 1), "month": ("month", 1), "year": ("month", 12)}


class DateError(BotError):
    """A filter date that is not a day; the message names the flag or keyword."""


def parse_day(value: str | None, name: str, today: dt.date | None = None) -> str | None:
    """`value` as an ISO day, or None when it is None/blank. `name` is how the user gave it
    (`--since` on the command line, `since` in Python), so the error can point at it."""
    if value is None or not str(value).strip():
        return None
    day = _day(str(value).strip().lower(), today or dt.date.today())
    if day is None:
        raise DateError(f"{given(name, value)} is not a date; use {FORMS}")
    return day.isoformat()


def given(name: str, value: object) -> str:
    """An input as the user wrote it: `--since '7d'` for a flag, `since='7d'` for a keyword."""
    return f"{name} {value!r}" if name.startswith("-") else f"{name}={value!r}"


def flag_names(*names: str, flags: bool) -> tuple[str, ...]:
    """Keyword names (`since`), or their command-line flags (`--since`) when `flags`."""
    return tuple(f"--{n.replace('_', '-')}" for n in names) if flags else names


def parse_range(since: str | None, until: str | None, names: tuple[str, str] = ("since", "until"),
                today: dt.date | None = None) -> tuple[str | None, str | None]:
    """Both ends parsed (inclusive days), refused when `since` is after `until`."""
    first, last = parse_day(since, names[0], today), parse_day(until, names[1], today)
    if first and last and first > last:
        raise DateError(f"{names[0]} {first} is after {names[1]} {last}; swap them")
    return first, last


def _day(text: str, today: dt.date) -> dt.date | None:
    if text == "today":
        return today
    if text == "yesterday":
        return today - dt.timedelta(days=1)
    if text.startswith("last "):
        unit = _LAST.get(text[5:].strip())
        return _back(today, *unit[::-1]) if unit else None
    m = _AGO.fullmatch(text)
    if m:
        return _back(today, int(m.group(1)), m.group(2))
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        return None


def _back(today: dt.date, n: int, unit: str) -> dt.date | None:
    try:
        if unit.startswith("month"):
            months = today.year * 12 + today.month - 1 - n
            year, month = divmod(months, 12)
            for day in (today.day, 30, 29, 28):  # the same day of the month, or its last day
                try:
                    return dt.date(year, month + 1, day)
                except ValueError:
                    continue
        days = n * 7 if unit.startswith("w") else n
        return today - dt.timedelta(days=days)
    except (ValueError, OverflowError):
        return None


def parse_interval(text: str) -> float:
    """'15m', '30s', '1h', '90' (seconds) → seconds."""
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*(s|sec|m|min|h|hr)?\s*", text.lower())
    if not m:
        raise ValueError(f"'{text}' is not an interval; use e.g. 30s, 15m or 1h")
    unit = (m.group(2) or "s")[0]
    seconds = float(m.group(1)) * {"s": 1, "m": 60, "h": 3600}[unit]
    if seconds <= 0:
        raise ValueError(f"'{text}': the interval must be more than 0")
    return seconds
