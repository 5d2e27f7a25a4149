"""Who claimed what: attribution in news sentences, for a briefing's "claims to watch".

News attributes what it cannot vouch for: "X said ...", "..., X reported Friday", "according to
X", '"...," said X'. We find the claimant by those patterns and keep only one we can name: a
pronoun ("he said") or a passive ("was reported") names nobody, so it is not a claim to watch.
"""

from __future__ import annotations

import re

_VERBS = (r"said|says|say|claimed|claims|claim|reported|reports|told|tells|announced|announces|"
          r"stated|states|alleged|alleges|insisted|insists|denied|denies|warned|warns|confirmed|"
          r"confirms|argued|argues|maintained|maintains|estimated|estimates|accused|accuses|"
          r"believes|believed|predicted|predicts|acknowledged|acknowledges|admitted|admits")
_VERB = re.compile(rf"\b(?:{_VERBS})\b", re.I)
_ACCORDING = re.compile(r"\baccording to\s+(?P<who>[^,.;:!?()\"“”]+)", re.I)
# Where a claimant phrase starts: a clause boundary.
# A single quote mark is a boundary when it quotes, not in "Korea's" or "korea 's".
_BOUNDARY = re.compile(r"[,;:()\"“”]|(?<!\w)['‘’](?!s\b)|(?<=\w)['‘’](?!\w)|\s[-–—]\s|"
                       r"\b(?:that|and|but|while|as|because|when|after|before|if|which|who)\b", re.I)
# Words between a claimant and its verb ("KCNA also said") that are not part of the name.
_FILLER = {"also", "has", "have", "had", "meanwhile", "reportedly", "previously", "later", "earlier",
           "then", "now", "further", "again", "publicly", "repeatedly", "officially", "first",
           "once", "quickly", "separately", "however", "since", "yet", "still", "recently"}
_NOBODY = {"he", "she", "they", "it", "i", "we", "you", "who", "which", "that", "this", "these",
           "those", "there", "one", "someone", "anyone", "nobody", "everyone", "him", "her", "them",
           "his", "its", "their", "what", "was", "were", "is", "are", "be", "been", "being", "not",
           "never", "to", "would", "will", "could", "should", "might", "may", "can", "did", "do",
           "does", "be", "the", "a", "an", "of", "in", "on", "at", "for", "with", "by", "from",
           "and", "or", "but", "so", "if", "as", "than", "then", "when", "where", "why", "how",
           "has", "have", "had", "also", "just", "only"}
_LEADING = re.compile(r"^(?:the|a|an|official|state-run|state|its|their)\s+", re.I)
_MAX_WORDS = 7
_MAX_AFTER = 5  # '..., said John Smith, the coach': a short name, then punctuation
_AFTER_VERBS = {"said", "says", "added", "told"}
_PARTICLES = {"of", "the", "and", "de", "van", "von", "al", "bin"}


def claimant(sentence: str) -> str | None:
    """Who the sentence attributes its claim to, as written ("the South Korean military")."""
    m = _ACCORDING.search(sentence)
    if m:
        who = _clean(m["who"].split())
        if who:
            return who
    for v in _VERB.finditer(sentence):
        before = sentence[:v.start()].rstrip()
        if before.endswith(("\"", "”", "'", "’")):  # '"...," said X': never the quote itself
            who = _after(sentence, v)
        else:
            who = (_after(sentence, v) if before.endswith(",") else None) or _before(before)
        if who:
            return who
    return None


def key(name: str) -> str:
    """A claimant's name for comparing: "The official KCNA" and "KCNA" are one claimant."""
    name = name.lower().strip()
    while True:
        stripped = _LEADING.sub("", name)
        if stripped == name:
            return name
        name = stripped


def _before(text: str) -> str | None:
    """The phrase right before a reporting verb, back to the last clause boundary; a segment of
    fillers only ("KCNA, meanwhile, reported") is skipped to the one before it."""
    segments = _BOUNDARY.split(text)
    for segment in reversed(segments[-3:]):
        words = segment.split()
        while words and words[-1].lower() in _FILLER:
            words.pop()
        if not words:
            continue
        return _clean(words)
    return None


def _after(sentence: str, verb: re.Match[str]) -> str | None:
    """'"...," said John Smith': the claimant follows a verb that opens the clause."""
    if verb.group().lower() not in _AFTER_VERBS:
        return None
    rest = re.split(r"[,.;:!?()\"“”]", sentence[verb.end():], maxsplit=1)[0].split()
    if not rest or len(rest) > _MAX_AFTER:
        return None
    # A name ("said John Smith") or a role ("said the spokesman"), not a clause ("said it would").
    if rest[0].lower() in {"the", "a", "an"} or all(w[0].isupper() or w in _PARTICLES for w in rest):
        return _clean(rest)
    return None


def _clean(words: list[str]) -> str | None:
    if not words or len(words) > _MAX_WORDS:
        return None
    if words[-1].lower() in _NOBODY or all(w.lower() in _NOBODY for w in words):
        return None
    if any(ch.isdigit() for w in words for ch in w):
        return None  # "2,000 people" is a number, not a source
    name = " ".join(words).strip(" -–—")
    return name or None


def same(a: str, b: str) -> bool:
    """Two names for one claimant: equal, one inside the other ("the news agency", "the Korean
    Central News Agency"), or an acronym of the other ("KCNA")."""
    ka, kb = key(a), key(b)
    if ka == kb:
        return True
    wa, wb = ka.split(), kb.split()
    if set(wa) <= set(wb) or set(wb) <= set(wa):
        return True
    return _acronym(ka, wb) or _acronym(kb, wa)


def _acronym(short: str, words: list[str]) -> bool:
    letters = "".join(w[0] for w in words if w not in {"of", "the", "and", "for"})
    return " " not in short and len(short) >= 2 and short == letters
