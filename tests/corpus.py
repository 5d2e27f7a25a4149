"""Small news-like corpora for reliability tests and benches.

Two kinds: synthetic news stories made from templates (deterministic, no data needed: what the
tests use, so they never skip), and articles made from SQuAD v1.1 paragraphs in an eval folder
(`squad_docs`, read in place, never copied into the repo: what the benches use, real prose).

Each article is a title line and one or more paragraphs. Version "b" of a corpus changes every
other article (a new paragraph at the top, so every chunk moves) and adds a few articles, so
alternating versions exercises both the add and the replace paths.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import random

from tests.conftest import EVAL


@dataclass(frozen=True)
class Doc:
    name: str  # file name
    title: str
    text: str  # the whole file


def eval_dir(given: str | Path | None = None) -> Path | None:
    """The eval folder: `given`, else the one beside the repo (tests/conftest.py's EVAL)."""
    path = Path(given) if given else EVAL
    return path if (path / "squad11" / "articles").is_dir() else None


def squad_docs(eval_path: Path, n: int, version: str = "a", paragraphs: int = 1,
               max_chars: int = 1400) -> list[Doc]:
    """`n` articles from SQuAD paragraphs (version "b": every other one changed, n // 8 more)."""
    squad = eval_path / "squad11"
    out: list[Doc] = []
    total = n + (n // 8 if version == "b" else 0)
    for path in sorted((squad / "articles").glob("*.txt")):
        parts = [p.strip() for p in path.read_text(encoding="utf-8").split("\n\n") if p.strip()]
        title, paras = parts[0], [p for p in parts[1:] if 200 <= len(p) <= max_chars]
        for i in range(0, len(paras) - paragraphs + 1, paragraphs):
            if len(out) == total:
                return out
            k = len(out)
            body = "\n\n".join(paras[i:i + paragraphs])
            head = f"{title}, part {i // paragraphs + 1}"
            if version == "b" and k % 2 == 0:
                body = (f"Updated: this report on {title} was revised, and the paragraphs "
                        f"below now follow a new summary numbered {k}.\n\n{body}")
            out.append(Doc(f"{k:03d}_{path.stem[:40]}_{i}.txt", head, f"{head}\n\n{body}\n"))
    return out


_CITIES = ["Harbor City", "Millbrook", "Eastport", "Lakeview", "Northgate", "Redfield",
           "Stonebridge", "Westhaven", "Brightwater", "Oakdale", "Riverton", "Ashford"]
_PEOPLE = ["Ana Ruiz", "Tom Becker", "Priya Nair", "Jonas Lind", "Mei Chen", "Omar Haddad",
           "Sara Okafor", "Luis Ortega", "Hanna Weiss", "Kofi Mensah"]
_ROLES = ["the mayor", "a council member", "the transport director", "the school board chair",
          "the fire chief", "a city spokesperson"]
_TOPICS = [("ferry", "add {n} evening ferry departures", "The new departures start in {month}."),
           ("library", "open the central library on Sundays", "The library will hire {n} staff."),
           ("bridge", "repair the old river bridge for {n} million dollars",
            "Work on the bridge begins in {month}."),
           ("school", "build a school for {n} hundred pupils", "The school opens in {month}."),
           ("park", "plant {n} hundred trees in the harbour park", "Planting starts in {month}."),
           ("bus", "run {n} new night bus lines", "The buses run from {month}."),
           ("water", "replace {n} kilometers of water pipes", "Crews start in {month}."),
           ("market", "move the farmers market to the old station", "It reopens in {month}.")]
_MONTHS = ["March", "April", "May", "June", "July", "September", "October"]
_DAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday"]


def story(k: int, version: str = "a") -> Doc:
    """Synthetic story number `k` (deterministic)."""
    rng = random.Random(k)
    city, person, role = rng.choice(_CITIES), rng.choice(_PEOPLE), rng.choice(_ROLES)
    topic, action, follow = _TOPICS[k % len(_TOPICS)]
    n, month, day = rng.randint(2, 40), rng.choice(_MONTHS), rng.choice(_DAYS)
    title = f"{city} council plans to {action.format(n=n)} (report {k})"
    paras = [f"The {city} council voted on {day} to {action.format(n=n)}, {role} {person} said. "
             f"{follow.format(n=n, month=month)} The vote was {rng.randint(5, 9)} to "
             f"{rng.randint(0, 4)}.",
             f"Residents had asked for the {topic} plan for {rng.randint(2, 12)} years, "
             f"according to {person}. Opponents said the cost of {rng.randint(1, 90)} million "
             f"dollars was too high, and {rng.choice(_PEOPLE)} called the plan \"a gamble\".",
             f"The council will review the {topic} project again in {rng.choice(_MONTHS)}, "
             f"when the first figures are due. Report number {k} was filed by the city desk."]
    if version == "b" and k % 2 == 0:
        paras.insert(0, f"Updated: the {topic} plan in {city} was revised on {day}, and the "
                        f"summary below now carries revision number {k}.")
    body = "\n\n".join(paras)
    return Doc(f"{k:03d}_{city.replace(' ', '_').lower()}_{topic}.txt", title, f"{title}\n\n{body}\n")


def docs(n: int, version: str = "a") -> list[Doc]:
    """`n` synthetic news stories (version "b": every other one changed, and n // 8 more)."""
    total = n + (n // 8 if version == "b" else 0)
    return [story(k, version) for k in range(total)]


def write(folder: Path, items: list[Doc]) -> Path:
    """The corpus as .txt files in `folder` (emptied first)."""
    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.glob("*.txt"):
        old.unlink()
    for d in items:
        (folder / d.name).write_text(d.text, encoding="utf-8")
    return folder


def squad_questions(eval_path: Path, items: list[Doc], n: int) -> list[str]:
    """Up to `n` SQuAD questions whose answer is inside one of these articles' text."""
    texts = [d.text for d in items]
    found: list[str] = []
    with (eval_path / "squad11" / "questions.jsonl").open(encoding="utf-8") as f:
        for line in f:
            q = json.loads(line)
            if any(a in t for a in q["answers"] for t in texts):
                found.append(q["question"])
                if len(found) == n:
                    break
    return found


def story_questions(items: list[Doc]) -> list[str]:
    """One question per synthetic story, answerable from it."""
    out = []
    for d in items:
        city = d.title.split(" council", 1)[0]
        out.append(f"What did the {city} council vote to do in report {d.title.rsplit(' ', 1)[-1][:-1]}?")
    return out
