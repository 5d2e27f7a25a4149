"""The sections that cut across topics: the timeline (dated events, in order) and claims to
watch (attributed sentences; two claimants on the same subject side by side)."""

from __future__ import annotations

from typing import Callable

import numpy as np

from bot.brief import claims
from bot.brief.sentences import Sentence, chronological
from bot.brief.topics import DraftPoint, Topic

TIMELINE = "Timeline"
CLAIMS = "Claims to watch"
CLAIM_PAIR_MIN_SIM = 0.60  # two claimants' sentences this close are about the same subject
CLAIM_POOL = 24  # the strongest attributed sentences considered for claims to watch
NEAR_DUPLICATE = 0.5  # share of terms above which two points say the same thing


def timeline(topics: list[Topic], max_points: int) -> list[DraftPoint]:
    dated = [s for t in topics for s in t.sentences if s.date]
    chosen = _distinct(dated, max(3, max_points // 2), per_key=lambda s: s.date or "")
    return [("timeline", TIMELINE, s.text, [s.quote], {"date": s.date})
            for s in sorted(chosen, key=chronological)]


def claims_to_watch(topics: list[Topic], max_points: int,
                    embed: Callable[[list[str]], np.ndarray]) -> list[DraftPoint]:
    """Attributed sentences. Claims by different claimants on the same subject (same topic,
    close in meaning) come first, side by side; then the strongest other claims, at most two
    per claimant."""
    limit = max(3, max_points // 2)
    attributed = sorted((s for t in topics for s in t.sentences if s.claimant),
                        key=lambda s: (-s.score, s.article.article_id, s.start))[:CLAIM_POOL]
    if not attributed:
        return []
    vecs = embed([s.text for s in attributed])
    sims = vecs @ vecs.T
    pairs: list[tuple[float, int, int]] = []
    for i, a in enumerate(attributed):
        for j in range(i + 1, len(attributed)):
            b = attributed[j]
            if a.topic != b.topic or sims[i, j] < CLAIM_PAIR_MIN_SIM or _overlap(a, b) >= 0.9 \
                    or claims.same(a.claimant or "", b.claimant or ""):
                continue
            # Two sources disagreeing is worth more than one article quoting two sides.
            bonus = 0.05 if a.article.article_id != b.article.article_id else 0.0
            pairs.append((float(sims[i, j]) + bonus, i, j))
    pairs.sort(key=lambda p: (-p[0], p[1], p[2]))
    used: set[int] = set()
    groups: list[list[Sentence]] = []
    for _, i, j in pairs:
        if len(groups) >= max(1, limit // 3):
            break
        if i in used or j in used:
            continue
        used |= {i, j}
        groups.append(sorted([attributed[i], attributed[j]], key=chronological))
    singles = _distinct([s for i, s in enumerate(attributed) if i not in used],
                        max(0, limit - 2 * len(groups)),
                        per_key=lambda s: claims.key(s.claimant or ""))
    out: list[DraftPoint] = []
    for gid, group in enumerate(groups, 1):
        out += [("claims", CLAIMS, s.text, [s.quote], {"claimant": s.claimant, "group": gid})
                for s in group]
    out += [("claims", CLAIMS, s.text, [s.quote], {"claimant": s.claimant})
            for s in sorted(singles, key=lambda s: (s.topic, *chronological(s)))]
    return out


def _distinct(candidates: list[Sentence], limit: int, per_key: Callable[[Sentence], str] | None = None,
              max_per_key: int = 2) -> list[Sentence]:
    """Best first, skipping near-duplicates (and over-represented keys)."""
    chosen: list[Sentence] = []
    counts: dict[str, int] = {}
    if limit <= 0:
        return chosen
    for s in sorted(candidates, key=lambda s: (-s.score, s.article.article_id, s.start)):
        if any(_overlap(s, c) >= NEAR_DUPLICATE for c in chosen):
            continue
        if per_key:
            k = per_key(s)
            if counts.get(k, 0) >= max_per_key:
                continue
            counts[k] = counts.get(k, 0) + 1
        chosen.append(s)
        if len(chosen) >= limit:
            break
    return chosen


def _overlap(a: Sentence, b: Sentence) -> float:
    return len(a.terms & b.terms) / max(1, min(len(a.terms), len(b.terms)))
