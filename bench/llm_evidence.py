"""How often the sentences the model is given hold the answer (no model needed).

    python bench/llm_evidence.py --fold A --limit 200 [--cache DIR]

For squad11 questions the offline gate lets through to the model (bot/answer/llm/gate.py), with
BOT_TOP_K chunks retrieved: the share whose ranker's best 1..8 sentences hold a gold answer, and
the share whose offline-cited sentences (what the model is given) hold one, with their number.
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from eval_qa import EVAL, load_questions  # noqa: E402
from qa_metrics import contains_answer  # noqa: E402

from bot import Bot  # noqa: E402
from bot.answer.llm import evidence, gated  # noqa: E402
from bot.config import Settings  # noqa: E402

DEPTH = 8


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--fold", choices=["A", "B"], default="A")
    ap.add_argument("--limit", type=int, default=200)
    ap.add_argument("--seed", type=int, default=5)
    ap.add_argument("--k", type=int, default=10)
    ap.add_argument("--cache", help="keep the store here between runs")
    args = ap.parse_args()
    questions = [q for q in load_questions("squad11") if q["fold"] == args.fold]
    random.Random(args.seed).shuffle(questions)
    questions = questions[:args.limit]
    store = Path(args.cache or tempfile.mkdtemp(prefix="llm-evidence-")) / args.fold
    bot = Bot(Settings.load(env={}, env_file=None).with_(store_dir=store, top_k=args.k))
    bot.ingest(sorted({EVAL / "squad11" / "articles" / q["article"] for q in questions}), collection="qa")
    offline = bot._offline(["qa"])
    hits, given_hits, sizes, asked = [0] * DEPTH, 0, Counter(), 0
    for q in questions:
        passages = bot.retrieve(q["question"], args.k, collections=["qa"])
        draft, ranked = offline.analysed(q["question"], passages)
        if not passages or gated(draft):
            continue
        asked += 1
        articles = {p.article.article_id: p.article for p in passages}
        texts = [articles[a].text[s:e] for a, s, e in ranked[:DEPTH]]
        first = next((i for i, t in enumerate(texts) if contains_answer(t, q["answers"])), DEPTH)
        for i in range(first, DEPTH):
            hits[i] += 1
        given = [p.chunk.text for p in evidence(passages, ranked, draft)]
        sizes[len(given)] += 1
        given_hits += any(contains_answer(t, q["answers"]) for t in given)
    print(f"fold {args.fold}, k={args.k}: {asked} of {len(questions)} squad11 questions go to the model")
    print("ranker's best n sentences hold an answer, n = 1..8: "
          + " ".join(f"{h / asked:.3f}" for h in hits))
    print(f"the sentences the model is given hold an answer: {given_hits / asked:.3f}; "
          f"sentences given: mean {sum(n * c for n, c in sizes.items()) / asked:.2f}, {dict(sorted(sizes.items()))}")


if __name__ == "__main__":
    main()
