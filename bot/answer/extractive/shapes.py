"""What words and answers look like: tokens, function words, the typed patterns (dates,
measures, speeds, numbers, names) and which kind of answer a question wants."""

from __future__ import annotations

import re

MONTH = (r"(?:January|February|March|April|May|June|July|August|September|October|November|"
         r"December|Jan\.|Feb\.|Mar\.|Apr\.|Aug\.|Sept?\.|Oct\.|Nov\.|Dec\.)")
NUMWORD = (r"(?:one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|fifteen|twenty|"
           r"thirty|forty|fifty|sixty|seventy|eighty|ninety|hundred|thousand|million|billion|"
           r"dozen|several|a few|half)")
ORDINAL = (r"(?:first|second|third|fourth|fifth|sixth|seventh|eighth|ninth|tenth|eleventh|twelfth|"
           r"thirteenth|fourteenth|fifteenth|sixteenth|seventeenth|eighteenth|nineteenth|"
           r"twentieth|twenty-first)")
_QUALIFIER = r"(?:(?:more than|less than|fewer than|about|around|nearly|almost|over|under|some|up to|approximately|at least|roughly)\s+)?"
NUMBER = rf"(?:\$|£|€)?\d[\d,]*(?:\.\d+)?|{NUMWORD}(?:(?:\s+and\s+a|\s+and|-|\s)+{NUMWORD})*"
TIME_UNIT = r"(?:seconds?|minutes?|hours?|days?|weeks?|months?|years?|decades?|centuries|century)"
LEN_UNIT = r"(?:kilometers?|kilometres?|km|miles?|meters?|metres?|feet|foot|ft|inches|yards?|nautical miles)"
_SCALE = r"(?:\s*(?:%|percent|per cent|million|billion|trillion|thousand|hundred))?"

PATTERNS = {
    "distance": re.compile(rf"\b{_QUALIFIER}(?:{NUMBER}){_SCALE}\s*{LEN_UNIT}\b", re.I),
    "duration": re.compile(rf"\b{_QUALIFIER}(?:{NUMBER}){_SCALE}\s*{TIME_UNIT}\b", re.I),
    # Clock times ("10 p.m.") are left out: a sentence about opening hours then looked as
    # dated as one giving the month a room opens, and led "when will it open?".
    "date": re.compile(rf"\b(?:{MONTH}\s+\d{{1,2}}(?:,\s*\d{{4}})?|\d{{1,2}}\s+{MONTH}(?:\s+\d{{4}})?|"
                       rf"{MONTH}\s+\d{{4}}|(?:early|mid|late)[- ]\d{{4}}s?|\d{{4}}s?|"
                       rf"(?:Monday|Tuesday|Wednesday|Thursday|Friday|Saturday|Sunday)|"
                       rf"(?:\d{{1,2}}(?:st|nd|rd|th)|{ORDINAL}) century|"
                       rf"(?:AD|A\.D\.)\s*\d{{1,4}}|\d{{1,4}}\s*(?:BC|BCE|CE|AD|B\.C\.?|A\.D\.?)|"
                       rf"(?<=\bin )\d{{3}}|(?:{NUMBER})(?:\s+(?:million|billion|thousand))?\s+years\s+ago)"
                       rf"(?!\w)"),
    "speed": re.compile(rf"\b{_QUALIFIER}(?:(?:{NUMBER}){_SCALE}\s*(?:{LEN_UNIT}|km)\s*(?:per|an|a|/)\s*"
                        rf"(?:hour|h|second|s|minute)|(?:{NUMBER})\s*(?:mph|km/h|kph|knots)|[Mm]ach\s*\d[\d.]*)\b",
                        re.I),
    "number": re.compile(rf"(?<![\w-]){_QUALIFIER}(?:{NUMBER}){_SCALE}(?:\s+[a-z]+)?\b", re.I),
    "name": re.compile(r"\b(?:[A-Z][\w'’.-]*|of|the|de|von|van|and)(?:\s+(?:[A-Z][\w'’.-]*|of|the|de|von|van|and))*"
                       r"(?<!\bof)(?<!\bthe)(?<!\band)\b"),
}

_QTYPES = [  # (question pattern, wanted answer types in order of preference)
    (r"\bhow (?:far|wide|deep|tall|high)\b|\b(?:range|distance)\b", ["distance", "number"]),
    (r"\bhow long\b|\bduration\b", ["duration", "distance", "number"]),
    (r"\bhow (?:fast|quickly)\b|\bwhat (?:speed|velocity)\b|\bat what speed\b", ["speed"]),
    (r"\bhow old\b", ["number"]),
    (r"\bhow (?:many|much)\b|\bwhat (?:number|percentage|percent|amount|proportion)\b", ["number"]),
    (r"\bwhen\b|\bwhat (?:year|date|day|month|century|decade|time)\b|\bwhich (?:year|date|day|month|century)\b|\bin what year\b", ["date"]),
    (r"\bwho(?:m|se)?\b|\bwhich (?:person|company|organi[sz]ation|group|team|agency)\b", ["name"]),
    (r"\bwhere\b|\bwhat (?:city|country|state|place|region|island|town)\b|\bwhich (?:city|country|state|place|region)\b", ["name"]),
]

# Function words whose identity around a phrase says a lot about where phrases begin and end.
FUNCTION_WORDS = set("""a an the of in on at to for with by from as into during after before since
until than and or but nor that which who whom whose what when where why how is was were are be
been being has have had do did does it its he she they their his her this these those there
also not no about over under between among including such some many more most other several
called named known led , . ; : ( ) " ' - – — 's""".split())
_TOKEN = re.compile(r"[$£€]?\w+(?:[.,'’\-–/]\w+)*%?|[^\w\s]")


def question_types(question: str) -> list[str]:
    q = question.lower()
    for pattern, types in _QTYPES:
        if re.search(pattern, q):
            return types
    return []


def phrases(sentence: str, types: list[str]) -> list[tuple[int, int, str]]:
    """Phrases in a sentence of the first wanted type that has any, as (start, end, type)."""
    for t in types:
        found = [(m.start(), m.end(), t) for m in PATTERNS[t].finditer(sentence)
                 if m.group().strip() and not (t == "name" and _NOT_NAMES.match(m.group()))]
        if found:
            return found
    return []


_NOT_NAMES = re.compile(rf"^(?:{MONTH}|Monday|Tuesday|Wednesday|Thursday|Friday|Saturday|Sunday|"
                        r"The|A|An|In|On|At|It|He|She|They|We|I|But|And|If|As|This|That)\b")


def tokens(sentence: str) -> list[tuple[int, int, str]]:
    return [(m.start(), m.end(), m.group()) for m in _TOKEN.finditer(sentence)]


def type_match(sentence: str, types: list[str], qwords: set[str]) -> float:
    """1 if the sentence holds the preferred kind of answer, 0.25 for a fallback kind, else 0."""
    for rank, t in enumerate(types):
        if any(not all_in(sentence[s:e], qwords) for s, e, _ in phrases(sentence, [t])):
            return 1.0 if rank == 0 else 0.25
    return 0.0


def all_in(phrase: str, words: set[str]) -> bool:
    toks = [w.lower() for w in re.findall(r"\w+", phrase)]
    return bool(toks) and all(t in words or t in {"the", "of", "and"} for t in toks)
