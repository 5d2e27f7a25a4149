"""Dates of events in news sentences, for briefing timelines.

A sentence's date is an explicit date in it ("Jan. 27, 2022", "27 January", "2022-01-27",
"March 2021"), or a day named relative to the article's publication date ("on Tuesday",
"yesterday", "next Monday"). A date right after a reporting verb ("..., KCNA reported Friday")
is when the news was told, not when the event happened, so it is used only when nothing else is
given. Only what resolves simply is resolved: no date is better than a wrong one.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

_MONTHS = {"jan": 1, "feb": 2, "mar": 3, "apr": 4, "may": 5, "jun": 6, "jul": 7, "aug": 8,
           "sep": 9, "oct": 10, "nov": 11, "dec": 12}
_MON = (r"(?:jan(?:uary|\.)?|feb(?:ruary|\.)?|mar(?:ch|\.)?|apr(?:il|\.)?|may|june?|july?|"
        r"aug(?:ust|\.)?|sep(?:t(?:ember|\.)?|\.)?|oct(?:ober|\.)?|nov(?:ember|\.)?|dec(?:ember|\.)?)")
_WEEKDAYS = ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]
_ORD = r"(?:st|nd|rd|th)?"

_PATTERNS: list[tuple[str, re.Pattern[str]]] = [
    ("iso", re.compile(r"\b(?P<y>\d{4})-(?P<m>\d{2})-(?P<d>\d{2})\b")),
    ("mdy", re.compile(rf"\b(?P<mon>{_MON})\s+(?P<d>\d{{1,2}}){_ORD}\b(?:,?\s+(?P<y>\d{{4}})\b)?", re.I)),
    ("dmy", re.compile(rf"\b(?P<d>\d{{1,2}}){_ORD}\s+(?:of\s+)?(?P<mon>{_MON})(?:\s+(?P<y>\d{{4}}))?\b", re.I)),
    ("my", re.compile(rf"\b(?P<mon>{_MON})\s+(?:of\s+)?(?P<y>\d{{4}})\b", re.I)),
    ("weekday", re.compile(r"\b(?:(?P<rel>next|last|this)\s+)?(?P<wd>monday|tuesday|wednesday|"
                           r"thursday|friday|saturday|sunday)\b", re.I)),
    ("relday", re.compile(r"\b(?P<rd>yesterday|today|tonight|tomorrow)\b", re.I)),
]
_REPORTED = re.compile(r"\b(?:said|says|reported|reports|announced|told|added|stated|confirmed)\s*$",
                       re.I)


@dataclass(frozen=True)
class DateMention:
    start: int
    end: int
    iso: str  # YYYY-MM-DD, or YYYY-MM when only the month is known
    reporting: bool  # follows a reporting verb: when it was said, not when it happened


def mentions(sentence: str, published: str | None) -> list[DateMention]:
    """Every date in the sentence that resolves, in order; overlapping matches keep the first
    (most specific) pattern's reading."""
    pub = _parse_iso(published)
    found: list[DateMention] = []
    taken: list[tuple[int, int]] = []
    for kind, pattern in _PATTERNS:
        for m in pattern.finditer(sentence):
            if any(m.start() < e and s < m.end() for s, e in taken):
                continue
            iso = _resolve(kind, m, pub)
            if iso is None:
                continue
            taken.append((m.start(), m.end()))
            found.append(DateMention(m.start(), m.end(), iso,
                                     bool(_REPORTED.search(sentence[:m.start()]))))
    return sorted(found, key=lambda d: d.start)


def event_date(sentence: str, published: str | None) -> str | None:
    """The date the sentence's event happened, when it says so simply enough."""
    found = mentions(sentence, published)
    events = [d for d in found if not d.reporting]
    if events:
        return events[0].iso
    return found[0].iso if found else None


def _resolve(kind: str, m: re.Match[str], pub: dt.date | None) -> str | None:
    try:
        if kind == "iso":
            return dt.date(int(m["y"]), int(m["m"]), int(m["d"])).isoformat()
        if kind in ("mdy", "dmy"):
            if m["mon"] == "may" and not m["y"]:
                return None  # "you may 2 ..." is a verb; lower-case "may 2" needs a year
            year = int(m["y"]) if m["y"] else (pub.year if pub else None)
            if year is None:
                return None
            return dt.date(year, _month(m["mon"]), int(m["d"])).isoformat()
        if kind == "my":
            year = int(m["y"])
            return f"{year:04d}-{_month(m['mon']):02d}" if 1800 < year < 2200 else None
    except ValueError:  # "February 30"
        return None
    if pub is None:
        return None
    if kind == "weekday":
        return _weekday(pub, _WEEKDAYS.index(m["wd"].lower()), (m["rel"] or "").lower()).isoformat()
    shift = {"yesterday": -1, "today": 0, "tonight": 0, "tomorrow": 1}[m["rd"].lower()]
    return (pub + dt.timedelta(days=shift)).isoformat()


def _weekday(pub: dt.date, weekday: int, rel: str) -> dt.date:
    """News says "on Tuesday" for the latest Tuesday up to the day it was published, and
    "next Tuesday" for the first one after it."""
    back = (pub.weekday() - weekday) % 7
    if rel == "next":
        return pub + dt.timedelta(days=(weekday - pub.weekday()) % 7 or 7)
    if rel == "last" and back == 0:
        back = 7
    return pub - dt.timedelta(days=back)


def _month(name: str) -> int:
    return _MONTHS[name.lower().rstrip(".")[:3]]


def _parse_iso(value: str | None) -> dt.date | None:
    if not value:
        return None
    try:
        return dt.date.fromisoformat(value[:10])
    except ValueError:
        return None
